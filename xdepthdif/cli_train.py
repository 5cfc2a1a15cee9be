"""``xdepthdif train``: the training data a command line names, and the training of a guided
prior or a conditional model on it (see :mod:`xdepthdif.cli`)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext

from .prior.conditional_model import WORLD_START

__all__ = ["integer", "progress_context", "real", "train_command"]


def integer(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``low``, so that a value out of range is a
    usage error (exit status 2) naming the option before anything runs.

    Examples
    --------
    >>> integer(1)("3")
    3
    >>> integer(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 1, got 0
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    return parse


def real(low: float, high: float = math.inf, *, strict: bool = True) -> Callable[[str], float]:
    """An argparse ``type``: a finite number above ``low`` (at least ``low`` unless
    ``strict``) and at most ``high``.

    Examples
    --------
    >>> real(0, 1)("0.5")
    0.5
    >>> real(0, 1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a number > 0 and <= 1, got 0.0
    """
    bounds = f"{'>' if strict else '>='} {low:g}" + (f" and <= {high:g}" if high < math.inf else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {bounds}, got {text!r}") from None
        below = value <= low if strict else value < low
        if not math.isfinite(value) or below or value > high:
            raise argparse.ArgumentTypeError(f"must be a number {bounds}, got {value!r}")
        return value

    return parse


def progress_context(show: bool, stage: str):
    """A bar of ``stage`` on stderr while the block runs, when ``show``."""
    from .progress import TextProgress, reporting

    return reporting(TextProgress(sys.stderr, stages={stage})) if show else nullcontext()


def _world_dataset(args: argparse.Namespace):
    """The training world's ``"train"`` split for ``--data world`` and its description."""
    from .background import ClimatologySpec
    from .prior.world import train_world, train_world_label, world_months
    from .timing import mid_months

    config = train_world(args.redraw_months)
    world = world_months(
        mid_months(WORLD_START, args.months), args.resolution, "train", config=config
    )
    if args.levels:
        world = world.isel(depth=slice(None, args.levels))
    end = world["time"].values[-1].astype("datetime64[M]")
    sha = ClimatologySpec.shipped().sha256
    desc = (
        f"xdepthdif training world ({train_world_label(args.redraw_months)}); {args.months} months "
        f"{WORLD_START} to {end}, {args.resolution} deg, {world.sizes['depth']} levels "
        f"({world['depth'].values[0]:g} to {world['depth'].values[-1]:g} m); anomalies about "
        f"the shipped climatology (sha256 {sha[:12]})"
    )
    return world.to_dataset(), desc


def _load_training_dataset(args: argparse.Namespace):
    """The dataset named by ``--data``, a description of it for the model card and the
    climatology its anomalies are about (see ``prepare_training_data``)."""
    import glob

    import numpy as np
    import xarray as xr

    if args.data == "world":
        return (*_world_dataset(args), "shipped")
    if args.data == "synthetic":
        from .prior.synthetic import synthetic_ocean
        from .timing import mid_months

        times = mid_months("2000-01", args.months)
        levels = None
        if args.levels:
            from .prior.synthetic import en4_like_levels

            levels = en4_like_levels()[: args.levels]
        ds = synthetic_ocean(times, resolution=args.resolution, levels=levels, split="train")
        desc = (
            f"{ds.attrs['source']}; {args.months} months from 2000-01, "
            f"{args.resolution} deg, {ds.sizes['depth']} levels"
        )
        return ds, desc, "monthly"
    paths = sorted(glob.glob(args.data)) or [args.data]
    if any(p.rstrip("/").endswith(".zarr") for p in paths):
        ds = xr.open_mfdataset(paths, engine="zarr") if len(paths) > 1 else xr.open_zarr(paths[0])
    else:
        ds = xr.open_mfdataset(paths) if len(paths) > 1 else xr.open_dataset(paths[0])
    if args.levels:
        from .grid.target import discover_grid

        grid = discover_grid(ds)  # the shallowest levels, however the file orders them
        ds = ds.isel({grid.depth_name: np.argsort(grid.depth, kind="stable")[: args.levels]})
    return ds, f"{args.data} ({len(paths)} file(s))", "monthly"


def _train_conditional(args: argparse.Namespace) -> int:
    """``xdepthdif train --kind conditional``: pool from the world, train, write the checkpoint."""
    from .core.conditional_train import conditional_unet_config, train_conditional
    from .prior.conditional_model import describe_pool, save_conditional, world_pool

    if args.data != "world":
        print(
            f"xdepthdif train: --kind conditional trains on --data world only (its pool is "
            f"observed and analysed from the world's months), not {args.data!r}.",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    pool, settings = world_pool(
        args.months, args.resolution, levels=args.levels, fit=args.fit,
        ambient=args.loss == "ambient", seed=args.seed, path=args.pool, draws=args.draws,
        sst=args.sst, workers=args.workers, redraw_months=args.redraw_months,
    )  # fmt: skip
    N, L, H, W = pool["target"].shape
    print(f"pool: {N} samples x {L} levels x {H}x{W}, in {time.perf_counter() - start:.1f} s")
    patch = tuple(min(p, n) for p, n in zip(args.patch, (H, W), strict=True))
    ucfg = conditional_unet_config(
        L, base_channels=args.base_channels, channel_mult=tuple(args.channel_mult),
        cond_dim=args.cond_dim,
    )  # fmt: skip
    target = args.target.replace("-", "_")
    with progress_context(args.progress, "training steps"):
        res = train_conditional(
            pool, ucfg, args.steps, args.batch_size, args.lr, args.loss, args.seed,
            log=print, patch=None if patch == (H, W) else patch, log_every=args.log_every,
            target=target, device=args.device,
        )  # fmt: skip
    command = "xdepthdif " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    card = save_conditional(
        args.out, res, ucfg, pool, loss=args.loss, target=target,
        data=describe_pool(pool, settings),
        command=command, seed=args.seed, batch_size=args.batch_size, lr=args.lr, patch=patch,
        pool_settings=settings, steps_per_second=round(res.steps_per_second, 3),
    )  # fmt: skip
    print(
        f"wrote {args.out}.safetensors (conditional, layout "
        f"{card.conditioning['layout_version']}, loss {args.loss}, target {target}) in "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


def train_command(args: argparse.Namespace) -> int:
    if args.kind == "conditional":
        return _train_conditional(args)
    from .core.network import UNetConfig
    from .core.train import TrainConfig, train
    from .prior.training_data import prepare_training_data

    start = time.perf_counter()
    ds, desc, climatology = _load_training_dataset(args)
    data, mask, info = prepare_training_data(ds, description=desc, climatology=climatology)
    del ds  # the normalised float32 copy is what training needs
    print(
        f"training data: {data.shape[0]} times x {data.shape[1]} levels x "
        f"{data.shape[2]}x{data.shape[3]} ({desc}), prepared in "
        f"{time.perf_counter() - start:.1f} s"
    )
    patch = tuple(min(p, n) for p, n in zip(args.patch, data.shape[2:], strict=True))
    ucfg = UNetConfig(
        levels=data.shape[1],
        base_channels=args.base_channels,
        channel_mult=tuple(args.channel_mult),
        cond_dim=args.cond_dim,
    )
    tcfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        patch=patch,
        lr=args.lr,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
        windows=args.windows,
        log_every=args.log_every,
    )
    command = "xdepthdif " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    with progress_context(args.progress, "training steps"):
        res = train(
            data,
            mask,
            info["lat"],
            info["lon"],
            info["doy"],
            ucfg,
            tcfg,
            args.out,
            resume=not args.no_resume,
            info=info,
            command=command,
        )
    print(f"training finished at step {res.step} in {time.perf_counter() - start:.1f} s")
    return 0
