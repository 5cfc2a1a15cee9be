"""A guided diffusion time step under three glibc allocator settings, with and without the heap
kept mapped by :func:`xdepthdif.analysis.heap.heap_kept`: seconds and page faults.

The settings are those a time step meets: a plain process (glibc's adaptive thresholds), a
worker of a dask cluster started by dask itself (its nannies export
``MALLOC_TRIM_THRESHOLD_=65536``) and a worker of :func:`xdepthdif.cluster`
(:data:`xdepthdif.batch.cluster.WORKER_MALLOC`). Each case runs in its own process (the
variables are read when a process starts): one warm-up time step, then timed ones, and the
process's peak resident memory before and after them. The time
step is ``sampler_speed.py``'s: the synthetic guided prior, the global 4° grid, 8 members, 10
steps (19 guided evaluations), one thread. The cases run in turn, ``--rounds`` times, and the table
gives medians, so that a load on the machine weighs on all alike.

Run: ``.venv/bin/python benchmarks/heap.py [--rounds 2] [--steps 2]`` (about 12 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from xdepthdif.batch.cluster import WORKER_MALLOC

SETTINGS = {
    "plain process": {},
    "dask's nanny (MALLOC_TRIM_THRESHOLD_=65536)": {"MALLOC_TRIM_THRESHOLD_": "65536"},
    "xdepthdif.cluster worker (WORKER_MALLOC)": WORKER_MALLOC,
}


def child(kept: bool, steps: int) -> None:
    """Time ``steps`` time steps after a warm-up; print the seconds and page faults of each
    and the process's peak resident memory (MB) before the first and after the last, as JSON."""
    import resource
    import time
    from contextlib import nullcontext

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sampler_speed as speed

    from xdepthdif.analysis.heap import heap_kept
    from xdepthdif.core.sampler import sample_heun
    from xdepthdif.core.schedule import denoise_last_sigmas

    torch.set_num_threads(1)
    denoiser, guide, x, extra = speed.problem()
    sigmas = denoise_last_sigmas(10, sigma_max=speed.SIGMA_MAX, dtype=torch.float64)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = []
    for _ in range(steps + 1):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        with heap_kept() if kept else nullcontext():
            sample_heun(denoiser, x, sigmas, extra, guide)
        seconds = time.perf_counter() - start
        out.append((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"steps": out[1:], "peak_mb": (peak_before, peak)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="times every case runs, in turn")
    ap.add_argument("--steps", type=int, default=2, help="timed time steps per process")
    ap.add_argument("--child", choices=["default", "kept"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child == "kept", args.steps)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    base["OMP_NUM_THREADS"] = "1"
    cases = [(name, heap) for name in SETTINGS for heap in ("default", "kept")]
    results: dict[tuple[str, str], list] = {case: [] for case in cases}
    peaks: dict[tuple[str, str], list] = {case: [] for case in cases}
    for _ in range(args.rounds):
        for name, heap in cases:
            cmd = [sys.executable, __file__, "--child", heap, "--steps", str(args.steps)]
            done = subprocess.run(
                cmd, env={**base, **SETTINGS[name]}, capture_output=True, text=True, check=True
            )
            out = json.loads(done.stdout.splitlines()[-1])
            results[name, heap] += out["steps"]
            peaks[name, heap].append(out["peak_mb"])
            print(f"  {name}, heap {heap}: {out}", flush=True)
    print(
        "\n| allocator setting | heap | s per time step | page faults per time step "
        "| peak resident memory: before sampling → after (MB) |"
    )
    print("|---|---|---:|---:|---:|")
    for (name, heap), runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        faults = statistics.median(r[1] for r in runs)
        before, after = (statistics.median(p[i] for p in peaks[name, heap]) for i in (0, 1))
        label = "kept (`heap_kept`)" if heap == "kept" else "glibc's"
        print(f"| {name} | {label} | {seconds:.2f} | {faults:,.0f} | {before:.0f} → {after:.0f} |")


if __name__ == "__main__":
    main()
