"""Where a conditional model's time step goes: one global 1° month through ``reconstruct``.

The test world of :mod:`benchmarks.gpu_throughput` (2021-03, 42 levels, 3 % of the columns
observed), ``method="diffusion"`` with the shipped ``"conditional"`` model, 8 members, 10
steps, one thread, the synchronous scheduler, on the CPU. After a warm-up call, one call is
profiled (``cProfile``) and the cumulative seconds of its parts are printed as a table: the
members (the network), the OI covariance fit and the OI of the model's inputs on its 4°
grid, and the members' way to the target (:func:`~xdepthdif.analysis.native.members_on_target`).

Run: ``.venv/bin/python benchmarks/conditional_step.py [--members 8] [--model conditional]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import warnings

import pandas as pd
import torch

import xdepthdif  # noqa: F401  (the accessor)
from xdepthdif.errors import XDepthDifWarning
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.prior.world import world_months

PARTS = {
    "the whole time step": ("reconstruct.py", "_analyse_step"),
    "members (the network)": ("core/conditional.py", "sample_conditional"),
    "OI covariance fit on the 4° grid": ("prior/pool_month.py", "fit_covariance"),
    "OI on the 4° grid": ("prior/pool_month.py", "analyse_oi"),
    "members to the target (regrid, fill, mask, mean, spread)": (
        "analysis/native.py",
        "members_on_target",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--model", default="conditional")
    args = parser.parse_args()
    warnings.simplefilter("ignore", XDepthDifWarning)
    torch.set_num_threads(1)
    truth = world_months(pd.DatetimeIndex(["2021-03-15"]), 1.0, "test")
    used, _ = observe(truth, 0.03, seed=0)
    target = target_of(truth)

    def run():
        return target.depthdif.reconstruct(
            obs=used, method="diffusion", model=args.model, members=args.members, steps=10
        ).compute(scheduler="synchronous")

    start = time.perf_counter()
    run()
    print(f"warm-up: {time.perf_counter() - start:.1f} s; {used.sizes['profile']} profiles")
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    print(f"\n| part, {args.members} members | seconds |\n|---|---:|")
    for label, (path, name) in PARTS.items():
        seconds = sum(v[3] for (f, _, n), v in stats.items() if f.endswith(path) and n == name)
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
