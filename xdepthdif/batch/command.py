"""``xdepthdif reconstruct``: its arguments and the run they ask for (see :mod:`xdepthdif.cli`
and ``docs/batch.md``). Bad input is one line ``xdepthdif reconstruct: <ErrorType>: <message>``
on stderr and exit status 1."""

from __future__ import annotations

import argparse
import inspect
import sys
from contextlib import nullcontext
from typing import Any

from .manifest import BatchError

__all__ = ["add_arguments", "batch_options", "reconstruct_command"]

_SPEC_HELP = (
    "a .nc/.zarr path, a quoted glob of them, or a catalog entry CATALOG/ENTRY?key=value&... "
    "(e.g. 'sample/synthetic_ocean?months=3&resolution=4'; see docs/catalogs.md)"
)


def add_arguments(rec: argparse.ArgumentParser) -> None:
    """The options of ``xdepthdif reconstruct``."""
    rec.add_argument("--target", required=True, help=f"target grid: {_SPEC_HELP}")
    rec.add_argument(
        "--obs",
        required=True,
        help="observations: EN4 profile files, profile-layout .nc/.zarr (glob ok), or a catalog "
        "entry CATALOG/ENTRY?key=value&... (e.g. 'en4/en4_profiles?year=2020&month=1')",
    )
    rec.add_argument("--out", required=True, help="zarr store to write or resume")
    rec.add_argument("--method", choices=("oi", "diffusion"), default="oi", help="the analysis")
    rec.add_argument("--members", type=int, help="ensemble members (diffusion; default 8)")
    rec.add_argument("--steps", type=int, help="sampler steps (diffusion; default 10)")
    rec.add_argument(
        "--model",
        help="checkpoint path or the name of a shipped one (diffusion; default: 'default')",
    )
    rec.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="method option, JSON value, e.g. equatorial_stretch=3; repeat",
    )
    rec.add_argument("--time-block", type=int, default=1, help="time steps per written block")
    rec.add_argument("--overwrite", action="store_true", help="remove OUT and start over")
    rec.add_argument("--scheduler", help="dask.distributed scheduler address, e.g. tcp://h:8786")
    rec.add_argument("--quiet", action="store_true", help="print nothing")
    rec.add_argument(
        "--progress",
        action="store_true",
        help="draw a bar of each diffusion step's sampling steps on stderr (local schedulers)",
    )
    rec.set_defaults(func=reconstruct_command)


def batch_options(args: argparse.Namespace) -> dict[str, Any]:
    """The method options of a ``reconstruct`` command line: ``--option KEY=VALUE`` items and
    ``--members``, ``--steps``, ``--model``.

    Raises
    ------
    BatchError
        When an ``--option`` names an argument of the run itself (``method``, ``time_block``,
        ...), which has its own flag.
    """
    from .inputs import parse_options
    from .store import run_batch

    options = parse_options(args.option)
    own = [
        name
        for name, p in inspect.signature(run_batch).parameters.items()
        if p.kind is not p.VAR_KEYWORD
    ]
    reserved = sorted(set(options) & set(own))
    if reserved:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in reserved)
        raise BatchError(
            f"Option(s) {reserved} do not apply as --option KEY=VALUE: they are arguments of "
            f"the run itself; give them with their own flag ({flags})."
        )
    for key in ("members", "steps", "model"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options


def reconstruct_command(args: argparse.Namespace) -> int:
    """Run ``xdepthdif reconstruct``; return the exit status."""
    from ..errors import XDepthDifError
    from .inputs import input_paths, open_inputs
    from .store import connect, run_batch

    try:
        options = batch_options(args)
        with connect(args.scheduler), _progress(args.progress):
            target, obs = open_inputs(args.target, args.obs)
            run_batch(
                target,
                obs,
                args.out,
                method=args.method,
                time_block=args.time_block,
                overwrite=args.overwrite,
                quiet=args.quiet,
                inputs=input_paths(args.target, args.obs, args.model),
                **options,
            )
    except (XDepthDifError, ImportError) as err:  # ImportError: a missing extra
        print(f"xdepthdif reconstruct: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"xdepthdif reconstruct: interrupted; the blocks written so far are kept in "
            f"{args.out}. Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    return 0


def _progress(show: bool):
    """A bar of the diffusion steps on stderr while the block runs, when ``show``."""
    from ..progress import TextProgress, reporting

    if not show:
        return nullcontext()
    return reporting(TextProgress(sys.stderr, stages={"diffusion steps"}))
