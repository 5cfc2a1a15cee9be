"""Which shipped model ``model="default"`` names: the shipped models on the validation world.

Run: ``.venv/bin/python benchmarks/model_choice.py`` (about 20 minutes on one core;
``--grids``, ``--models``, ``--months`` and ``--fractions`` narrow or widen it). Months
2002-01, 2003-04, 2005-07 and 2006-09 of the ``"validation"`` world (never the test world the
skill benchmark reports) on a global 4° grid (the models' own) and a global 1° grid (the main
use case), 42 levels, observed Argo-like at 3 % and 7.5 % of the columns as the skill benchmark
observes them (no profile withheld). Each shipped model draws 8 members of 10 steps through
``reconstruct(obs=..., method="diffusion", model=NAME)``; the default OI is scored beside them.
Scores at the sea points of columns without a profile, 0–2000 m, area-weighted: RMSE of the
ensemble mean, fair CRPS (Gaussian for the OI) and spread-skill ``sqrt((M+1)/M)·spread / RMSE``.
The default model is the one with the lowest CRPS summed over the four cases: the score that
judges the mean and the spread together.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

import xdepthdif  # noqa: F401  (registers the accessor)
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.evaluation.scores import crps_ensemble, crps_gaussian
from xdepthdif.prior.registry import shipped_models
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times

MONTHS = ("2002-01", "2003-04", "2005-07", "2006-09")
FRACTIONS = (0.03, 0.075)
GRIDS = (4.0, 1.0)
MEMBERS, STEPS, SCORE_DEPTH = 8, 10, 2000.0


def scored_points(truth: np.ndarray, depth, lat, lon, obs) -> tuple[np.ndarray, np.ndarray]:
    """Sea points above ``SCORE_DEPTH`` of columns without a profile, and their area weights."""
    count = np.zeros(truth.shape[-2:], int)
    iy = np.abs(lat[None] - obs["lat"].values[:, None]).argmin(1)
    ix = np.abs(((lon[None] - obs["lon"].values[:, None]) + 180) % 360 - 180).argmin(1)
    np.add.at(count, (iy, ix), 1)
    where = np.isfinite(truth) & (np.asarray(depth) < SCORE_DEPTH)[:, None, None] & (count == 0)
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[None, :, None], truth.shape)
    return where, w[where]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=None, help="shipped names (default: all)")
    ap.add_argument("--months", nargs="+", default=MONTHS, help="validation months YYYY-MM")
    ap.add_argument("--grids", nargs="+", type=float, default=GRIDS)
    ap.add_argument("--fractions", nargs="+", type=float, default=FRACTIONS)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    models = args.models or shipped_models()
    sums: dict[tuple, np.ndarray] = {}  # (grid, fraction, name) -> se, crps, var, weight
    for grid in args.grids:
        world = world_months(month_times(args.months), grid, "validation")
        depth, lat, lon = (world[k].values for k in ("depth", "lat", "lon"))
        for fraction in args.fractions:
            used, _ = observe(world, fraction, seed=0, withheld=0.0)
            month_of = used["time"].values.astype("datetime64[M]")
            for i, t in enumerate(world["time"].values):
                obs = used.isel(profile=np.flatnonzero(month_of == np.datetime64(t, "M")))
                truth = world.values[i]
                where, w = scored_points(truth, depth, lat, lon, obs)
                target = target_of(world.isel(time=[i]))
                oi = target.depthdif.reconstruct(obs=obs)
                mean, sd = (oi[v].values[0][where] for v in ("thetao", "thetao_sd"))
                acc = sums.setdefault((grid, fraction, "OI"), np.zeros(4))
                acc += [(w * (mean - truth[where]) ** 2).sum(),
                        (w * crps_gaussian(mean, sd, truth[where])).sum(),
                        (w * sd**2).sum(), w.sum()]  # fmt: skip
                for name in models:
                    t0 = time.perf_counter()
                    ens = target.depthdif.reconstruct(
                        obs=obs, method="diffusion", model=name, members=MEMBERS, steps=STEPS,
                        seed=0, keep_members=True,
                    )  # fmt: skip
                    members = ens["thetao_members"].values[:, 0][:, where]
                    centre = members.mean(0)
                    acc = sums.setdefault((grid, fraction, name), np.zeros(4))
                    acc += [(w * (centre - truth[where]) ** 2).sum(),
                            (w * crps_ensemble(members, truth[where])).sum(),
                            (w * members.var(0, ddof=1)).sum() * (MEMBERS + 1) / MEMBERS,
                            w.sum()]  # fmt: skip
                    print(f"  {grid:g}° {fraction:.1%} {str(t)[:7]} {name}: "
                          f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    print()
    print("| grid | columns | estimate | RMSE | fair CRPS | spread-skill |")
    print("|---|---:|---|---:|---:|---:|")
    total: dict[str, float] = {}
    for (grid, fraction, name), (se, crps, var, weight) in sums.items():
        rmse = math.sqrt(se / weight)
        total[name] = total.get(name, 0.0) + crps / weight
        print(f"| {grid:g}° | {fraction:.1%} | {name} | {rmse:.3f} | {crps / weight:.3f} | "
              f"{math.sqrt(var / weight) / rmse:.2f} |")  # fmt: skip
    best = min((n for n in total if n != "OI"), key=total.get)
    print()
    print(
        "CRPS summed over the cases: "
        + ", ".join(f"{n} {v:.3f}" for n, v in sorted(total.items(), key=lambda kv: kv[1]))
    )
    print(f"lowest among the diffusion models: {best}")


if __name__ == "__main__":
    main()
