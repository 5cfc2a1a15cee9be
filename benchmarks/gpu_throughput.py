"""Throughput on a CUDA GPU: member-time-steps per second on a global 1° grid with 42 levels.

One month of the test world at 1° (42 levels), 3 % of its columns observed, reconstructed
end to end through ``reconstruct`` (binning, the fit of the covariance, the OI, the diffusion
members at the model's native 4°, their depth interpolation and regridding to 1°, mean and
spread), with the threaded dask scheduler:

1. **Diffusion**: each shipped diffusion model (the guided prior ``"world"`` and the
   ``"conditional"`` model), 8 and 64 members, ``device="cuda"`` and ``array_library="cupy"``
   (members stay on the GPU until they are regridded): seconds per time step and
   member-time-steps per second (members ÷ seconds).
2. **OI**: one time step with ``array_library="cupy"`` (the GPU) and ``"numpy"`` (the host),
   and the largest difference between them.

Each row is timed after one warm-up call (CUDA context, model load, kernel selection); the
median of ``--repeats`` calls is given. Prints a markdown table.

Run on a machine with a CUDA GPU, torch for its CUDA and CuPy:
``python benchmarks/gpu_throughput.py`` (about two minutes on one H200).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

import xdepthdif  # noqa: F401  (the accessor)
from xdepthdif.errors import XDepthDifWarning
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.prior.world import world_months


def timed(call, repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls of ``call`` after one warm-up, and its last result."""
    start = time.perf_counter()
    result = call()
    print(f"  (warm-up {time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per row")
    parser.add_argument("--members", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--models", nargs="+", default=["world", "conditional"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_throughput.py needs torch with a CUDA GPU.")
    import cupy

    warnings.simplefilter("ignore", XDepthDifWarning)
    truth = world_months(pd.DatetimeIndex(["2021-03-15"]), 1.0, "test")
    used, _ = observe(truth, 0.03, seed=0)
    target = target_of(truth)
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CuPy {cupy.__version__}; "
        f"target {dict(target.sizes)}, {used.sizes['profile']} profiles\n"
    )

    def run(library: str, **options):
        return lambda: target.depthdif.reconstruct(
            obs=used, array_library=library, **options
        ).compute()

    print(
        "| run, global 1°, 42 levels, one time step | members | seconds per time step "
        "| member-time-steps / s |\n|---|---:|---:|---:|",
        flush=True,
    )
    for model in args.models:  # rows print as they are measured
        for members in args.members:
            seconds, _ = timed(
                run("cupy", method="diffusion", model=model, members=members, device="cuda"),
                args.repeats,
            )
            print(
                f"| diffusion, model {model!r}, CUDA + CuPy | {members} | {seconds:.2f} "
                f"| {members / seconds:.1f} |",
                flush=True,
            )
    results = {}
    for library, where in (("cupy", "CuPy (GPU)"), ("numpy", "numpy (host)")):
        seconds, results[library] = timed(run(library, method="oi"), args.repeats)
        print(f"| OI, {where} | – | {seconds:.2f} | – |", flush=True)
    diff = np.nanmax(np.abs(results["cupy"].thetao.values - results["numpy"].thetao.values))
    print(f"\nOI thetao, CuPy minus numpy: at most {float(diff):.1e} °C.")


if __name__ == "__main__":
    main()
