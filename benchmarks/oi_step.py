"""Time one OI time step on global grids; prints a markdown table.

Run: ``.venv/bin/python benchmarks/oi_step.py`` (add ``--quick`` for the 2° grid only).
Super-observations are random values in a random share of cells at every level, so the timing
reflects the number of observations, not their values.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from xdepthdif.analysis.oi import oi_analysis


def run(resolution: float, levels: int, share: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    lat = np.arange(-89.5 + resolution / 2, 90, resolution)
    lon = np.arange(resolution / 2, 360, resolution)
    shape = (levels, lat.size, lon.size)
    obs = np.where(rng.random(shape) < share, rng.normal(10, 3, shape), np.nan)
    count = np.isfinite(obs).astype(int)
    start = time.perf_counter()
    oi_analysis(obs, count, np.full(shape, np.nan), lat, lon, np.linspace(5, 5000, levels))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cases = [(2.0, 42, 0.05)] if args.quick else [(2.0, 42, 0.05), (1.0, 42, 0.01), (1.0, 42, 0.05)]
    print(f"cores: {os.cpu_count()}")
    print("| grid | levels | cells observed | seconds per time step |")
    print("|---|---:|---:|---:|")
    for res, nz, share in cases:
        print(f"| global {res:g}° | {nz} | {share:.0%} | {run(res, nz, share):.1f} |")


if __name__ == "__main__":
    main()
