"""How much a month's OI gains from the month before: a persistence first guess on the
validation world.

Twelve consecutive months of the ``"validation"`` world (from 2002-01) at 4°, 3 % of the
columns observed in each (independent draws), analysed month by month as
``reconstruct(method="oi")`` analyses one time step (its covariance fitted to the month's own
observations, :func:`xdepthdif.prior.pool_month.fit_covariance` and
:func:`~xdepthdif.prior.pool_month.analyse_oi`), with the first guess either the shipped
climatology (``α = 0``, the default) or the climatology plus ``α`` times the previous month's
analysed anomaly (a persistence first guess, as sequential analyses use). RMSE (°C) at
unobserved sea points over 0–2000 m, area-weighted, over months 4–12 (the first three let the
persistence start). A check of the information one time step leaves on the table, not a
method of the package.

Run: ``.venv/bin/python benchmarks/persistence_check.py [--share 0.03] [--months 12]``.
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
import pandas as pd

from xdepthdif.analysis.oi import OIConfig
from xdepthdif.background import ClimatologySpec
from xdepthdif.prior.pool_month import analyse_oi, binned_profiles, fit_covariance
from xdepthdif.prior.world import world_months
from xdepthdif.timing import day_of_year

ALPHAS = (0.0, 0.5, 0.7, 0.85)
SPIN_UP = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.03)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    times = pd.date_range("2002-01-15", periods=args.months, freq="MS") + pd.Timedelta(days=14)
    truth = world_months(times, 4.0, "validation")
    depth, lat, lon = (truth[k].values.astype(float) for k in ("depth", "lat", "lon"))
    previous = dict.fromkeys(ALPHAS)
    sums = {a: [0.0, 0.0] for a in ALPHAS}
    for i, t in enumerate(truth["time"].values):
        T = truth.values[i]
        clim = ClimatologySpec.shipped().on_grid(
            float(day_of_year(np.array([t]))[0]), depth, lat, lon
        )
        sea = np.isfinite(T) & np.isfinite(clim)
        b = binned_profiles(truth.isel(time=[i]), args.share, 1000 + i, 0.0, depth, lat, lon)
        where = sea & (b.count == 0) & (depth <= 2000)[:, None, None]
        w = np.broadcast_to(np.cos(np.deg2rad(lat))[None, :, None], T.shape)[where]
        for a in ALPHAS:
            prev = previous[a]
            bg = clim if prev is None else np.where(np.isfinite(prev), clim + a * prev, clim)
            cfg = fit_covariance(b.mean, b.count, b.err_var, bg, depth, lat, lon, OIConfig())
            mean, _ = analyse_oi(b.mean, b.count, b.err_var, bg, sea, cfg, (depth, lat, lon))
            previous[a] = mean - clim
            if i >= SPIN_UP:
                sums[a][0] += float((w * (mean[where] - T[where]) ** 2).sum())
                sums[a][1] += float(w.sum())
    base = math.sqrt(sums[0.0][0] / sums[0.0][1])
    print(f"| first guess, {args.share:.0%} of the columns, 4° | RMSE (°C) | against the default |")
    print("|---|---:|---:|")
    for a, (se, total) in sums.items():
        rmse = math.sqrt(se / total)
        name = (
            "climatology (the default)" if a == 0 else f"climatology + {a} × last month's anomaly"
        )
        print(f"| {name} | {rmse:.4f} | {rmse / base:.3f} |")


if __name__ == "__main__":
    main()
