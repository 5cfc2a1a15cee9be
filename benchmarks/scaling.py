"""Scale-out of an OI reconstruct on local dask workers; prints two markdown tables.

1. Throughput (time steps per second) of writing an analysis of ``--steps`` monthly time steps
   to zarr with 1 and with 2 workers (``xdepthdif.cluster``: processes, 1 thread each,
   ``OMP_NUM_THREADS=1`` in the workers), and the speedup (target: at least 1.7x on 2 cores).
2. Peak memory (RSS) of a worker process while 2 workers write analyses of 10 and of 100 time
   steps (target: flat within 10 %, since each task is one time step and its result is written
   and released).

Run: ``.venv/bin/python benchmarks/scaling.py`` (global 2°, 42 levels, 2000 profiles per step:
one time step takes about 3 s on one core, so the whole script should take about 5 minutes on 2
idle cores), or ``--quick`` for a tiny grid that only checks the script works (its numbers are
dominated by scheduling overhead and mean nothing). Each measurement uses
a fresh cluster, warmed up with 2 time steps first (imports and caches are not measured).
Profiles are synthetic (see ``benchmarks/benchmarks/common.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the asv package beside this file

from benchmarks.common import profiles, target

import xdepthdif

ONE_THREAD = dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), "1")


class PeakRSS:
    """Sample the resident memory of some processes in a thread; ``peak`` is the largest RSS
    any one of them reached (bytes)."""

    def __init__(self, pids: list[int], interval: float = 0.05) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in self.procs:
                with contextlib.suppress(psutil.Error):  # a worker died: not followed
                    self.peak = max(self.peak, proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    workers: int, steps: int, args: argparse.Namespace, work: Path, batch: bool = False
) -> tuple[float, int]:
    """Seconds to write ``steps`` time steps to zarr on ``workers`` fresh workers, and the
    peak RSS of a worker meanwhile: with one ``to_zarr`` of the whole lazy result, or with
    ``batch`` through :func:`xdepthdif.batch.store.run_batch` (one block of ``workers`` time steps
    at a time, as ``xdepthdif reconstruct`` runs)."""
    from xdepthdif.batch.store import run_batch

    client = xdepthdif.cluster(
        n_workers=workers, threads_per_worker=1, gpu=False, env=ONE_THREAD, dashboard_address=":0"
    )
    try:
        client.wait_for_workers(workers, timeout=120)
        warm = target(args.resolution, args.levels, 2)
        lazy = warm.depthdif.reconstruct(obs=profiles(warm, args.profiles, seed=1))
        lazy.to_zarr(work / "warm.zarr", mode="w", consolidated=False)
        grid = target(args.resolution, args.levels, steps)
        obs = profiles(grid, args.profiles)
        lazy = grid.depthdif.reconstruct(obs=obs)
        pids = list(client.run(os.getpid).values())
        out = work / f"run-{workers}-{steps}-{batch}.zarr"
        with PeakRSS(pids) as rss:
            start = time.perf_counter()
            if batch:
                run_batch(grid, obs, out, time_block=workers, overwrite=True)
            else:
                lazy.to_zarr(out, mode="w", consolidated=False)
            seconds = time.perf_counter() - start
        return seconds, rss.peak
    finally:
        client.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny grid: checks it runs")
    parser.add_argument("--resolution", type=float, default=2.0, help="grid spacing, degrees")
    parser.add_argument("--levels", type=int, default=42)
    parser.add_argument("--profiles", type=int, default=2000, help="profiles per time step")
    parser.add_argument("--steps", type=int, default=24, help="time steps for throughput")
    args = parser.parse_args()
    if args.quick:
        args.resolution, args.levels, args.profiles, args.steps = 10.0, 10, 100, 12
    print(f"cores: {psutil.cpu_count()} (affinity {len(os.sched_getaffinity(0))}); grid: global")
    print(f"{args.resolution:g}°, {args.levels} levels, {args.profiles} profiles per time step")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("\n| workers | time steps | seconds | time steps / s | speedup |")
        print("|---:|---:|---:|---:|---:|")
        rates = {}
        for workers in (1, 2):
            seconds, _ = measure(workers, args.steps, args, work)
            rates[workers] = args.steps / seconds
            speedup = rates[workers] / rates[1]
            print(
                f"| {workers} | {args.steps} | {seconds:.1f} | {rates[workers]:.2f} | "
                f"{speedup:.2f}x |"
            )
        print("\n| writer | time steps (2 workers) | seconds | peak worker RSS (MiB) | vs 10 |")
        print("|---|---:|---:|---:|---:|")
        for batch in (True, False):
            peaks = {}
            for steps in (10, 100):
                seconds, peaks[steps] = measure(2, steps, args, work, batch=batch)
                ratio = peaks[steps] / peaks[10]
                name = "run_batch, 2 steps per block" if batch else "one to_zarr"
                print(
                    f"| {name} | {steps} | {seconds:.1f} | {peaks[steps] / 2**20:.0f} | "
                    f"{ratio:.2f} |"
                )


if __name__ == "__main__":
    main()
