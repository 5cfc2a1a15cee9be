"""Command line: ``xdepthdif demo``."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    start = time.perf_counter()
    run_demo(
        args.out, months=args.months, fraction=args.fraction, seed=args.seed, verbose=not args.quiet
    )
    if not args.quiet:
        print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xdepthdif", description=__doc__)
    parser.add_argument("--version", action="version", version=f"xdepthdif {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="sample a real 3-D field into EN4 files, analyse, score")
    demo.add_argument("--out", default="demo_output", help="output folder (default: %(default)s)")
    demo.add_argument("--months", type=int, default=6, help="months to analyse")
    demo.add_argument(
        "--fraction", type=float, default=0.5, help="share of ocean columns observed each month"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="print nothing")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xdepthdif`` command."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
