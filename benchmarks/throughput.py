"""Throughput before and now, side by side in one run, one thread each; prints markdown tables.

1. **OI**: one time step on a global 1° grid with 42 levels, 3 % of the columns observed (a
   month of the test world): the earlier OI of ``oi_step.py`` (read from the git history)
   beside today's analysis and today's covariance fit.
2. **Diffusion**: one time step of the synthetic guided prior on the global 4° grid (8 members, 10
   Heun steps, 19 network evaluations), the earlier sampler (circular pad,
   ``torch.func.vjp``) beside today's (periodic pad, ``torch.autograd.grad``) and today's
   with ``precision="bfloat16"``, from ``sampler_speed.py``, each on glibc's default heap
   and with the heap kept mapped (what ``reconstruct`` does now); the largest difference of the
   sampled members from the earlier sampler's, same noise; FLOPs of a forward counted by
   ``torch.utils.flop_counter`` and per member-time-step estimated from it, beside a ReconMOST
   sample (about 1 PFLOP: a 160 M-parameter
   UNet, 1000 DDPM steps at 1°).
3. **Workers**: time steps per second of a diffusion reconstruct (4° global, 8 members,
   10 steps) written by one and by two local dask workers of one thread each (library threads
   pinned to 1), and by one worker whose torch uses every core (what
   ``xdepthdif.cluster(n_workers=1)`` gives it).

Run: ``.venv/bin/python benchmarks/throughput.py`` (about 10 minutes on 2 idle cores; needs a
clone with its history for the earlier OI); ``--only oi`` (or ``diffusion``, ``workers``, or
several) runs only those tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

import xdepthdif
from xdepthdif.analysis.oi import OIConfig, oi_analysis
from xdepthdif.analysis.oi_fit import fit_for_steps
from xdepthdif.core.sampler import sample_heun
from xdepthdif.core.schedule import denoise_last_sigmas
from xdepthdif.errors import XDepthDifWarning
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.prior.world import world_months

HERE = Path(__file__).resolve().parent
RECONMOST_FLOP = 1e15
"""One ReconMOST sample (DESIGN §7): about a petaFLOP."""


def sibling(name: str):
    """The benchmark script ``name``.py beside this one, as a module."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def oi_table() -> list[str]:
    oi_step = sibling("oi_step")
    old_oi = oi_step.load_baseline(oi_step.BASELINE)
    obs, count, err, lat, lon, depth, ocean, bg = oi_step.case(1.0, 0.03)
    t_old, _ = oi_step.timed(lambda: old_oi(obs, count, err, lat, lon, depth, ocean, bg))
    t_fit, params = oi_step.timed(
        lambda: fit_for_steps([(obs, count, err, bg)], depth, lat, lon, OIConfig())
    )
    t_new, _ = oi_step.timed(
        lambda: oi_analysis(obs, count, err, lat, lon, depth, ocean, bg, params=params)
    )
    return [
        "| OI step, global 1°, 42 levels, 3 % | earlier (s) | now: analysis (s) | now: fit (s) "
        "| speed-up of the analysis |",
        "|---|---:|---:|---:|---:|",
        f"| one thread | {t_old:.1f} | {t_new:.1f} | {t_fit:.1f} | {t_old / t_new:.2f}× |",
    ]


def diffusion_table(repeats: int) -> list[str]:
    from torch.utils.flop_counter import FlopCounterMode

    speed = sibling("sampler_speed")
    torch.set_num_threads(1)
    lines = speed.speed_lines(speed.speed_table(repeats, 10, False, step_rounds=repeats))

    denoiser, guide, x, extra = speed.problem()
    net = speed.sampling_denoiser(denoiser, "float32", False)
    sigmas = denoise_last_sigmas(10, sigma_max=speed.SIGMA_MAX, dtype=torch.float64)
    with speed.earlier(True, True, True):
        old, _ = sample_heun(net, x, sigmas, extra, guide)
    new, _ = sample_heun(net, x, sigmas, extra, guide)
    diff = float((new - old).abs().max())
    one = {k: (v[:1] if k == "doy" else v) for k, v in extra.items()}
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x[:1], torch.full((1,), 2.0), **one)
    forward = counter.get_total_flops()
    # a guided evaluation: the forward and cg_iters = 2 vector-Jacobian products with
    # respect to the input only, each about one forward (the flop counter cannot follow the
    # autograd hooks of the guidance, so this part is an estimate)
    per_step = 19 * 3 * forward
    lines += [
        "",
        f"Members of today's sampler minus the earlier one's, same noise: at most {diff:.1e} "
        "(normalised units).",
        "",
        "| cost | FLOP |",
        "|---|---:|",
        f"| one forward, one member (counted) | {forward:.3g} |",
        f"| one member-time-step: 19 guided evaluations of about 3 forwards | {per_step:.3g} |",
        f"| one ReconMOST sample | {RECONMOST_FLOP:.0e} ({RECONMOST_FLOP / per_step:.0f}×) |",
    ]
    return lines


def timed_workers(target, used, options: dict, workers: int, threads: int, tmp: Path) -> float:
    """Seconds to write a diffusion reconstruct of ``target`` to zarr with ``workers`` local
    worker processes of ``threads`` library threads each, after a warm-up of one time step
    per worker (torch imported, model loaded)."""
    env = dict.fromkeys(ONE_THREAD, str(threads))
    client = xdepthdif.cluster(
        n_workers=workers, threads_per_worker=1, gpu=False, dashboard_address=":0", env=env
    )
    try:
        client.wait_for_workers(workers, timeout=120)
        name = f"{workers}x{threads}"
        warm = target.isel(time=slice(0, workers))
        warm.depthdif.reconstruct(obs=used, **options).to_zarr(
            tmp / f"warm{name}.zarr", consolidated=False
        )
        lazy = target.depthdif.reconstruct(obs=used, **options)
        start = time.perf_counter()
        lazy.to_zarr(tmp / f"run{name}.zarr", consolidated=False)
        return time.perf_counter() - start
    finally:
        client.shutdown()


def worker_table(steps: int = 4) -> list[str]:
    times = pd.DatetimeIndex([f"2003-{m:02d}-15" for m in range(1, steps + 1)])
    truth = world_months(times, 4.0, "validation")
    used, _ = observe(truth, 0.03, seed=0)
    target = target_of(truth)
    options = {"method": "diffusion", "members": 8, "steps": 10}
    cores = os.cpu_count() or 1
    # (workers, library threads per worker): one and two workers of one thread each, and the
    # one worker that xdepthdif.cluster(n_workers=1) starts, its torch on every core
    runs = [(1, 1), (2, 1), (1, cores)] if cores > 1 else [(1, 1)]
    seconds, differences = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers, threads in runs:
            seconds[workers, threads] = timed_workers(
                target, used, options, workers, threads, Path(tmp)
            )
            differences[workers, threads] = largest_difference(
                Path(tmp) / "run1x1.zarr", Path(tmp) / f"run{workers}x{threads}.zarr"
            )
    base = seconds[1, 1]
    return [
        f"| diffusion reconstruct, {steps} time steps | seconds | time steps / s | speed-up "
        "| thetao, thetao_sd: largest difference from 1 worker, 1 thread (°C) |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {w} worker(s), {t} thread(s) each | {s:.1f} | {steps / s:.3f} | {base / s:.2f}× "
            f"| {differences[w, t]:.1e} |"
            for (w, t), s in seconds.items()
        ),
    ]


def largest_difference(a: Path, b: Path) -> float:
    """The largest absolute difference of ``thetao`` and ``thetao_sd`` between two stores
    (NaN where both are NaN counts as equal; NaN in one only as infinite)."""
    first, second = (xr.open_zarr(p, consolidated=False) for p in (a, b))
    worst = 0.0
    for name in ("thetao", "thetao_sd"):
        x, y = first[name].values, second[name].values
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return float("inf")
        worst = max(worst, float(np.nanmax(np.abs(x - y), initial=0.0)))
    return worst


ONE_THREAD = dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), "1")


TABLES = {
    "oi": oi_table,
    "diffusion": lambda: diffusion_table(repeats=3),
    "workers": worker_table,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=list(TABLES), default=list(TABLES), help="tables to run"
    )
    args = parser.parse_args()
    if any(os.environ.get(k) != v for k, v in ONE_THREAD.items()):  # BLAS reads them at import
        os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | ONE_THREAD)
    warnings.simplefilter("ignore", XDepthDifWarning)  # the shipped prior off its planet
    print(f"cores: {os.cpu_count()}, torch {torch.__version__}, numpy {np.__version__}\n")
    for name in args.only:
        print("\n".join(TABLES[name]()) + "\n", flush=True)


if __name__ == "__main__":
    main()
