"""Where the conditional model's spread falls short on a 1° target: columns whose 4° cell holds a
profile, against the others.

Run: ``.venv/bin/python benchmarks/downscale_spread.py`` (about 5 minutes on one core;
``--months``, ``--fraction``). Months of the ``"validation"`` world at 1° (never the test
world), observed Argo-like as the skill benchmark observes them (no profile withheld), 8
members of 10 steps of the shipped conditional model through ``reconstruct`` (members
downscaled about the 1° OI, :mod:`xdepthdif.analysis.downscale`). Scores at the sea points of
1° columns without a profile, 0–2000 m, area-weighted, split by whether the model's 4° cell
around the column holds a profile: share of the weight, RMSE of the ensemble mean and
spread-skill ``sqrt((M+1)/M)·spread / RMSE``.
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np

import xdepthdif  # noqa: F401  (registers the accessor)
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.grid.axes import native_axes
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times

MEMBERS = 8


def nearest(values: np.ndarray, axis: np.ndarray, periodic: bool = False) -> np.ndarray:
    """Index of the nearest point of ``axis`` to each of ``values`` (longitudes: periodic)."""
    d = values[:, None] - axis[None]
    return np.abs((d + 180) % 360 - 180 if periodic else d).argmin(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--months", nargs="+", default=["2002-01", "2005-07"])
    ap.add_argument("--fraction", type=float, default=0.075)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    truth = world_months(month_times(args.months), 1.0, "validation")
    used, _ = observe(truth, args.fraction, seed=0, withheld=0.0)
    res = target_of(truth).depthdif.reconstruct(
        obs=used, method="diffusion", model="conditional", members=MEMBERS, keep_members=True,
        steps=10,
    ).compute()  # fmt: skip
    lat, lon, depth = (truth[k].values for k in ("lat", "lon", "depth"))
    lat4, lon4 = native_axes(lat, lon, 4.0)
    cell_lat, cell_lon = nearest(lat, lat4), nearest(lon, lon4, periodic=True)
    weight = np.broadcast_to(np.cos(np.deg2rad(lat))[None, :, None], truth.shape[1:])
    month_of = used["time"].values.astype("datetime64[M]")
    sums = {True: np.zeros(3), False: np.zeros(3)}  # error², variance, weight
    for k, t in enumerate(truth["time"].values):
        obs = used.isel(profile=np.flatnonzero(month_of == np.datetime64(t, "M")))
        seen = np.zeros((lat4.size, lon4.size), bool)
        seen[nearest(obs["lat"].values, lat4), nearest(obs["lon"].values, lon4, True)] = True
        seen = seen[cell_lat][:, cell_lon][None]
        truth_k = truth.values[k]
        free = (
            np.isfinite(truth_k)
            & (res["obs_count"].values[k] == 0)
            & (depth <= 2000)[:, None, None]
        )
        err2 = (res["thetao"].values[k] - truth_k) ** 2
        var = res["thetao_members"].values[:, k].var(0, ddof=1)
        for flag in (True, False):
            m = free & (seen == flag)
            sums[flag] += [(weight * err2)[m].sum(), (weight * var)[m].sum(), weight[m].sum()]
    total = sum(v[2] for v in sums.values())
    print(f"| 1° columns without a profile ({args.fraction:.1%}) | share | RMSE | spread-skill |")
    print("|---|---:|---:|---:|")
    rows = [("4° cell holds a profile", sums[True]), ("4° cell holds none", sums[False]),
            ("all", sums[True] + sums[False])]  # fmt: skip
    for name, (e2, v, w) in rows:
        skill = math.sqrt((MEMBERS + 1) / MEMBERS * v / e2)
        print(f"| {name} | {w / total:.2f} | {math.sqrt(e2 / w):.3f} | {skill:.2f} |")


if __name__ == "__main__":
    main()
