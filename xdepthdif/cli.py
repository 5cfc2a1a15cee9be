"""The ``xdepthdif`` command: ``demo``, ``reconstruct``, ``train``, ``calibrate``, ``bench``."""

from __future__ import annotations

import argparse
import sys
import time

from ._version import __version__
from .batch.command import add_arguments as add_reconstruct_arguments
from .cli_train import integer, real, train_command
from .prior.conditional_model import WORLD_START


def _demo(args: argparse.Namespace) -> int:
    from .evaluation.demo import run_demo

    start = time.perf_counter()
    run_demo(
        args.out, months=args.months, fraction=args.fraction, seed=args.seed, verbose=not args.quiet
    )
    if not args.quiet:
        print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return 0


def _bench_skill(args: argparse.Namespace) -> int:
    import dataclasses

    from .evaluation.protocol import SkillConfig, quick_config
    from .evaluation.report import write_report
    from .evaluation.skill import run_skill

    if args.report_only:
        write_report(args.out)
        return 0
    given = {
        "grids": args.grids,
        "test_months": args.months,
        "fractions": args.fractions,
        "steps": args.steps,
    }
    changes = {k: tuple(v) for k, v in given.items() if v is not None}
    changes |= {k: getattr(args, k) for k in ("members", "model", "seed") if getattr(args, k)}
    if args.no_real:
        changes["real_case"] = False
    cfg = dataclasses.replace(quick_config() if args.quick else SkillConfig(), **changes)
    start = time.perf_counter()
    log = (lambda _msg: None) if args.quiet else print
    run_skill(args.out, cfg, log=log, rerun=args.rerun)
    if not args.quiet:
        print(f"wrote {args.out}/skill.md in {time.perf_counter() - start:.0f} s")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from .analysis.diffusion import DiffusionConfig
    from .evaluation.calibration import calibrate_spread, calibration_plan, vertical_correlation
    from .prior.model import resolve_model, spread_scale_for, update_card, verify

    path = resolve_model(args.model)
    plan = calibration_plan(verify(path), args.data, args.months, args.fractions)
    default = DiffusionConfig().steps
    if args.downscaled:
        return _calibrate_downscaled(args, path, plan)
    by_steps = {}
    for steps in args.steps or [default]:
        by_steps[str(steps)] = tuple(float(f) for f in calibrate_spread(
            args.model, resolution=args.resolution, members=args.members,
            months=plan["months"], fractions=plan["fractions"], data=plan["data"], steps=steps,
        ))  # fmt: skip
        print(f"spread scale at {steps} steps, by level: "
              + " ".join(f"{f:.2f}" for f in by_steps[str(steps)]))  # fmt: skip
    card = verify(path)
    norm = {k: v for k, v in card.normalisation.items() if k != "spread_scale_by_steps"}
    norm["spread_scale"] = spread_scale_for({"spread_scale_by_steps": by_steps}, default)
    if args.steps:
        norm["spread_scale_by_steps"] = by_steps
    if args.column_preconditioner and card.kind == "guided-prior":
        corr = vertical_correlation(args.model, resolution=args.resolution, data=args.data)
        if corr is not None:
            norm["vertical_correlation"] = corr.tolist()
            print(f"vertical correlation of {len(corr)} levels stored")
    training = dict(card.training) | {
        "spread_calibration": f"xdepthdif {' '.join(args.argv or sys.argv[1:])}",
        "spread_calibration_plan": plan,
    }
    update_card(path, normalisation=norm, training=training)
    print(f"wrote {path.with_suffix('.json')}")
    return 0


def _calibrate_downscaled(args: argparse.Namespace, path, plan: dict) -> int:
    """``xdepthdif calibrate --downscaled``: the factors of members downscaled onto the
    ``--resolution`` grid, stored by grid spacing beside the card's others."""
    from .evaluation.calibration import calibrate_downscaled
    from .prior.model import update_card, verify

    if args.steps:
        print("xdepthdif calibrate: --downscaled fits at the default step count; drop --steps",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.resolution is None:
        print("xdepthdif calibrate: --downscaled needs the finer grid's --resolution (e.g. 1)",
              file=sys.stderr)  # fmt: skip
        return 2
    by_share = {}
    for fraction in plan["fractions"]:
        share, factors = calibrate_downscaled(
            args.model, args.resolution, fraction, members=args.members, months=plan["months"],
            data=plan["data"],
        )  # fmt: skip
        by_share[f"{share:.4g}"] = tuple(float(f) for f in factors)
        print(f"downscaled spread scale at {args.resolution:g} deg, {fraction:.1%} of the "
              f"columns ({share:.2%} of the sea columns hold a used profile), by level: "
              + " ".join(f"{f:.2f}" for f in factors))  # fmt: skip
    card = verify(path)
    table = dict(card.normalisation.get("spread_scale_downscaled", {}))
    table[f"{args.resolution:.12g}"] = by_share
    training = dict(card.training) | {
        "downscaled_spread_calibration": f"xdepthdif {' '.join(args.argv or sys.argv[1:])}",
        "downscaled_spread_calibration_plan": plan | {"resolution": args.resolution},
    }
    norm = dict(card.normalisation) | {"spread_scale_downscaled": table}
    update_card(path, normalisation=norm, training=training)
    print(f"wrote {path.with_suffix('.json')}")
    return 0


DESCRIPTION = """\
Dense 3-D ocean temperature analyses from sparse in-situ profiles.

commands:
  xdepthdif demo           a real 3-D field sampled into EN4 files, analysed and scored
  xdepthdif reconstruct    profiles onto a target grid, into a restartable zarr store
  xdepthdif train          train a diffusion model (guided prior or conditional)
  xdepthdif calibrate      calibrate a prior's ensemble spread
  xdepthdif bench skill    the skill benchmark

Run `xdepthdif COMMAND --help` for a command's options."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; each option's default after its help, when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or "%(default)" in text:
            return text
        if isinstance(default, list | tuple):
            default = " ".join(map(str, default))
        return f"{text} (default: {default})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xdepthdif", description=DESCRIPTION, formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"xdepthdif {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(parent, name: str, text: str) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=text, description=text, formatter_class=_Formatter)

    demo = command(sub, "demo", "sample a real 3-D field into EN4 files, analyse, score")
    demo.add_argument("--out", default="demo_output", help="output folder")
    demo.add_argument("--months", type=integer(1), default=6, help="months to analyse")
    demo.add_argument(
        "--fraction",
        type=real(0, 1),
        default=0.5,
        help="share of ocean columns observed each month",
    )
    demo.add_argument("--seed", type=integer(0), default=0, help="seed of the sampling")
    demo.add_argument("--quiet", action="store_true", help="print nothing")
    demo.set_defaults(func=_demo)

    tr = command(
        sub,
        "train",
        "train a diffusion model: the guided prior on gridded thetao, or the conditional model "
        "on the training world",
    )
    tr.add_argument(
        "--kind",
        choices=("guided-prior", "conditional"),
        default="guided-prior",
        help="'guided-prior' (unconditional, guided by the observations when sampled) or "
        "'conditional' (fed the climatology, the OI and the binned observations; --data world)",
    )
    tr.add_argument(
        "--data",
        default="synthetic",
        help="'synthetic' (anomalies about its own monthly climatology), 'world' (the training "
        f"world's train split from {WORLD_START}, anomalies about the shipped climatology) or "
        "a .nc/.zarr path (glob ok; its own monthly climatology)",
    )
    tr.add_argument("--out", required=True, help="checkpoint stem: writes OUT.safetensors/.json")
    tr.add_argument("--steps", type=integer(1), default=2000, help="optimiser steps")
    tr.add_argument("--batch-size", type=integer(1), default=8, help="patches per step")
    tr.add_argument(
        "--patch", type=integer(1), nargs=2, default=(32, 64), metavar=("H", "W"), help="patch size"
    )
    tr.add_argument("--lr", type=real(0), default=2e-4, help="learning rate (Adam)")
    tr.add_argument(
        "--seed", type=integer(0), default=0, help="seed of the weights and the batches"
    )
    tr.add_argument(
        "--resolution", type=real(0, 30), default=2.0, help="synthetic or world grid, degrees"
    )
    tr.add_argument("--months", type=integer(1), default=24, help="synthetic or world months")
    tr.add_argument(
        "--levels", type=integer(0), default=0, help="keep only the first N levels (0: all)"
    )
    tr.add_argument("--base-channels", type=integer(1), default=32, help="U-Net width")
    tr.add_argument(
        "--channel-mult",
        type=integer(1),
        nargs="+",
        default=(1, 2, 2),
        help="width per U-Net stage",
    )
    tr.add_argument(
        "--cond-dim", type=integer(1), default=64, help="size of the noise/time embedding"
    )
    tr.add_argument(
        "--windows", type=integer(1), default=1, help="spatial windows per step (guided)"
    )
    tr.add_argument(
        "--checkpoint-every",
        type=integer(1),
        default=500,
        help="steps between checkpoints (guided)",
    )
    tr.add_argument("--log-every", type=integer(1), default=50, help="steps between log lines")
    tr.add_argument(
        "--no-resume", action="store_true", help="start afresh even if OUT exists (guided)"
    )
    tr.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N")
    tr.add_argument(
        "--loss",
        choices=("edm", "ambient"),
        default="edm",
        help="conditional: 'edm' (against the full fields) or 'ambient' (against the "
        "observations only, a quarter of the observed columns held out)",
    )
    tr.add_argument(
        "--target",
        choices=("field", "oi-residual"),
        default="field",
        help="conditional: what the network models, the field itself or the OI's error in "
        "units of its standard deviation (the ensemble mean starts at the OI)",
    )
    tr.add_argument(
        "--draws",
        type=integer(1),
        default=1,
        help="conditional: observed samples per month in the pool (each its own share and "
        "profiles)",
    )
    tr.add_argument(
        "--sst",
        type=real(0, 1, strict=False),
        metavar="PROBABILITY",
        help="conditional: give this share of the pool's samples a satellite SST (the model "
        "then takes one when a run has it)",
    )
    tr.add_argument(
        "--redraw-months",
        type=integer(0),
        default=0,
        metavar="N",
        help="--data world: draw the world's waves afresh every N months (0: one draw for all "
        "months), so the model learns their statistics rather than one set of patterns",
    )
    tr.add_argument(
        "--fit",
        choices=("band", "month"),
        default="band",
        help="conditional: fit the pool's OI covariance once per band of observed shares "
        "(reused by the band's months) or for every month",
    )
    tr.add_argument(
        "--pool",
        help="conditional: .npz file of the training pool, read when it exists (with the same "
        "settings), else written after it is built",
    )
    tr.add_argument(
        "--workers",
        type=integer(1),
        default=1,
        help="conditional: processes that build the pool, one month each at a time (the pool "
        "is the same for any number)",
    )
    tr.add_argument(
        "--progress", action="store_true", help="draw a bar of the training steps on stderr"
    )
    tr.set_defaults(func=train_command)

    cal = command(
        sub,
        "calibrate",
        "scale the ensemble spread per level to match its skill (world-trained models: on the "
        "world's validation split; others: on the synthetic ocean's training split)",
    )
    cal.add_argument("--model", required=True, help="checkpoint to calibrate (its card is updated)")
    cal.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        help="shares of columns observed, pooled (default: 0.03 0.075 on the world, 0.03 on the "
        "synthetic ocean)",
    )
    cal.add_argument(
        "--months",
        nargs="+",
        metavar="YYYY-MM",
        help="calibration months (default: 16 of the world's validation split, 2010-01 to "
        "2013-10 quarterly; 2025-02 2025-08 of the synthetic ocean)",
    )
    cal.add_argument(
        "--resolution", type=float, help="grid, degrees (default: the model's native grid)"
    )
    cal.add_argument("--members", type=int, default=8, help="ensemble size")
    cal.add_argument(
        "--downscaled",
        action="store_true",
        help="fit the factors of a conditional model's members downscaled onto the finer "
        "--resolution grid, one set per share of --fractions (at the default step count), "
        "stored beside the model's own",
    )
    cal.add_argument(
        "--steps",
        type=int,
        nargs="+",
        help="sampler step counts to fit the spread at, one factor per level each (a run "
        "takes the nearest); default: the default step count only",
    )
    cal.add_argument(
        "--data",
        choices=("auto", "world", "synthetic"),
        default="auto",
        help="calibration data: 'world' (validation split of the training world), 'synthetic' "
        "(training split of the synthetic ocean) or 'auto' (world when the model card says "
        "it was trained on the world)",
    )
    cal.add_argument(
        "--column-preconditioner",
        action="store_true",
        help="guided priors: also store the calibration data's vertical correlation, which "
        "preconditions the guidance column by column (see docs/benchmarks.md: no robust gain "
        "for the shipped world prior, so off by default)",
    )
    cal.set_defaults(func=_calibrate)

    bench = command(sub, "bench", "benchmarks").add_subparsers(
        dest="bench", required=True, metavar="BENCHMARK"
    )
    sk = command(
        bench, "skill", "climatology, OI, its ceiling and diffusion against the test world"
    )
    sk.add_argument("--out", default="skill_output", help="folder for skill.md, figures, json")
    sk.add_argument(
        "--quick", action="store_true", help="one 5° grid, two months, one share (about a minute)"
    )
    sk.add_argument("--grids", type=float, nargs="+", help="global grid spacings, degrees")
    sk.add_argument("--months", nargs="+", help="test months YYYY-MM (test world)")
    sk.add_argument("--fractions", type=float, nargs="+", help="shares of columns observed")
    sk.add_argument("--steps", type=int, nargs="+", help="sampler steps of the diffusion rows")
    sk.add_argument("--members", type=int, help="ensemble size of the diffusion rows")
    sk.add_argument(
        "--model",
        help="checkpoint (path or shipped name) of the diffusion rows (default: 'default')",
    )
    sk.add_argument("--seed", type=int, help="seed of the sampling and the ensembles")
    sk.add_argument("--no-real", action="store_true", help="skip the real South Atlantic cube")
    sk.add_argument("--quiet", action="store_true", help="print nothing")
    sk.add_argument(
        "--rerun",
        nargs="+",
        metavar="METHOD",
        help="in cases already run, redo only the rows whose method starts with these "
        "(e.g. OI), keeping the others",
    )
    sk.add_argument(
        "--report-only", action="store_true", help="rewrite skill.md and figures from cases/"
    )
    sk.set_defaults(func=_bench_skill)

    rec = command(
        sub, "reconstruct", "analyse profiles onto a target grid into a restartable zarr store"
    )
    add_reconstruct_arguments(rec)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xdepthdif`` command."""
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
