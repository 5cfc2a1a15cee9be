"""The models' native grid: what a finer one would gain on a global 1° target, and what it costs.

Run: ``.venv/bin/python benchmarks/native_resolution.py`` (about 15 minutes on one core;
``--skip-diffusion`` leaves out the conditional model's rows). Months 2002-01, 2003-04, 2005-07
and 2006-09 of the ``"validation"`` world (never the test world the skill benchmark scores) on
the main use case, a global 1° grid with the 42 EN4-like levels, observed Argo-like at 3 % and
7.5 % of its columns as the skill benchmark observes them (no profile withheld). Scores: RMSE
(°C) over 0–2000 m at the 1° sea points of columns without a profile, area-weighted.

1. **floor at R°**: the world's own R° cell averages brought to 1° the way ``reconstruct``
   brings a model's members there (bilinear, the coast filled from the nearest cell): what a
   perfect model on an R° grid would still miss.
2. **OI at R°**: ``reconstruct(obs=..., method="oi")`` on the R° grid from the same profiles,
   brought to 1° the same way; R = 1 is the default analysis of the 1° target itself.
3. **conditional model**: ``reconstruct(obs=..., method="diffusion", model="conditional")`` on
   the 1° target (the model draws on its native 4° grid), 8 members, 10 steps, its members
   regridded (``downscale=False``) or carried as residuals about the 1° OI (the default,
   :mod:`xdepthdif.analysis.downscale`).
4. **cost**: one network evaluation of the conditional model's UNet on a global R° grid, one
   thread, and the cells a training pool holds per month at R°.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import torch
from model_choice import scored_points

import xdepthdif  # noqa: F401  (registers the accessor)
from xdepthdif.analysis.diffusion import load_denoiser
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.grid.fill import fill_from_nearest
from xdepthdif.grid.rectilinear import Regridder
from xdepthdif.prior.model import resolve_model, verify
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times

MONTHS = ("2002-01", "2003-04", "2005-07", "2006-09")
FRACTIONS = (0.03, 0.075)
GRIDS = (1.0, 2.0, 4.0)


def to_target(field: np.ndarray, src, dst) -> np.ndarray:
    """``(..., lat, lon)`` on grid ``src`` brought to grid ``dst`` (``(lat, lon)`` pairs) as
    ``reconstruct`` brings members: bilinear, NaN sea cells filled from the nearest."""
    if len(src[0]) == len(dst[0]):
        return field
    out = Regridder.bilinear(*src, *dst)(field)
    return fill_from_nearest(out, np.ones(out.shape[-2:], bool), *dst)


class Scorer:
    """Area-weighted squared errors at the unobserved 1° sea points above 2000 m
    (:func:`model_choice.scored_points`)."""

    def __init__(self, truth: np.ndarray, depth, lat, lon, obs) -> None:
        self.truth = truth
        self.where, self.w = scored_points(truth, depth, lat, lon, obs)

    def sums(self, estimate: np.ndarray) -> tuple[float, float]:
        err = estimate[self.where] - self.truth[self.where]
        err = np.where(np.isfinite(err), err, 0.0)  # none expected; counted by the caller
        return float((self.w * err**2).sum()), float(self.w.sum())


def unet_seconds(denoiser, resolution: float, repeats: int = 3) -> float:
    """Seconds per network evaluation (median of ``repeats``) on a global ``resolution`` grid."""
    ny, nx = round(180 / resolution), round(360 / resolution)
    levels = len(denoiser.card.levels)
    extra = torch.zeros(1, denoiser.net.config.extra_in_channels, ny, nx)
    lat = torch.linspace(-90 + resolution / 2, 90 - resolution / 2, ny)
    lon = torch.arange(nx) * resolution + resolution / 2
    x = torch.randn(1, levels, ny, nx)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            denoiser(x, torch.tensor([1.0]), lat, lon, 15.0, extra=extra, periodic=True)
            times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-diffusion", action="store_true")
    ap.add_argument("--model", default="conditional")
    ap.add_argument("--months", nargs="+", default=MONTHS, help="validation months YYYY-MM")
    ap.add_argument("--cost-only", action="store_true", help="only the cost table")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    times = month_times(args.months)
    worlds = {r: world_months(times, r, "validation") for r in GRIDS}
    if args.cost_only:
        cost_table(worlds, args.model)
        return
    fine = worlds[1.0]
    depth = fine["depth"].values
    grids = {r: (w["lat"].values, w["lon"].values) for r, w in worlds.items()}
    rows: dict[str, list[float]] = {}

    def add(name: str, k: int, sums: tuple[float, float]) -> None:
        acc = rows.setdefault(name, [0.0] * (2 * len(FRACTIONS)))
        acc[2 * k] += sums[0]
        acc[2 * k + 1] += sums[1]

    for k, fraction in enumerate(FRACTIONS):
        used, _ = observe(fine, fraction, seed=0, withheld=0.0)
        month_of = used["time"].values.astype("datetime64[M]")
        for i, t in enumerate(fine["time"].values):
            obs = used.isel(profile=np.flatnonzero(month_of == np.datetime64(t, "M")))
            scorer = Scorer(fine.values[i], depth, *grids[1.0], obs)
            for r, world in worlds.items():
                add(f"floor at {r:g}°", k, scorer.sums(to_target(world.values[i], grids[r],
                                                                 grids[1.0])))  # fmt: skip
                target = target_of(world.isel(time=[i]))
                t0 = time.perf_counter()
                oi = target.depthdif.reconstruct(obs=obs, method="oi")["thetao"].values[0]
                seconds = time.perf_counter() - t0
                add(f"OI at {r:g}°", k, scorer.sums(to_target(oi, grids[r], grids[1.0])))
                print(f"  {fraction:.1%} {str(t)[:7]} OI at {r:g}°: {seconds:.1f} s", flush=True)
            for downscale in () if args.skip_diffusion else (False, True):
                target = target_of(fine.isel(time=[i]))
                t0 = time.perf_counter()
                ens = target.depthdif.reconstruct(
                    obs=obs, method="diffusion", model=args.model, members=8, steps=10, seed=0,
                    downscale=downscale,
                )["thetao"].values[0]  # fmt: skip
                seconds = time.perf_counter() - t0
                how = "residuals about the 1° OI" if downscale else "regridded"
                add(f"{args.model} (native 4°), {how}, 8-member mean", k, scorer.sums(ens))
                print(f"  {fraction:.1%} {str(t)[:7]} {args.model}, {how}: {seconds:.1f} s",
                      flush=True)  # fmt: skip

    print()
    print("| estimate | " + " | ".join(f"{f:.1%} of 1° columns" for f in FRACTIONS) + " |")
    print("|---|" + "---:|" * len(FRACTIONS))
    for name, acc in rows.items():
        cells = [math.sqrt(acc[2 * k] / acc[2 * k + 1]) for k in range(len(FRACTIONS))]
        print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")

    cost_table(worlds, args.model)


def cost_table(worlds, model: str) -> None:
    """Seconds per network evaluation of ``model`` on a global grid of each spacing."""
    path = resolve_model(model)
    denoiser = load_denoiser(str(path), verify(path).sha256, "cpu")
    print()
    print(
        "| native grid | cells | ocean cells per month in a pool (42 levels) | s per network "
        "evaluation, global, one thread | s per member-time-step (19 NFE) |"
    )
    print("|---|---:|---:|---:|---:|")
    for r in sorted(worlds, reverse=True):
        ny, nx = round(180 / r), round(360 / r)
        sea = int(np.isfinite(worlds[r].values[0]).sum())
        s = unet_seconds(denoiser, r)
        print(f"| {r:g}° | {ny * nx} | {sea} | {s:.3f} | {19 * s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
