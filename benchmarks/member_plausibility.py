"""Ensemble members outside sea water on a global 1° month: the shipped diffusion models.

Run: ``.venv/bin/python benchmarks/member_plausibility.py [MODEL ...]`` (default: ``world``
and ``conditional``). One month of the test world (July 2045) on the global 1° grid with 42
levels, Argo-like profiles in 6 % of the columns, 8 members through ``reconstruct``; counts
the member values below the freezing floor of ``reconstruct``'s own check
(:func:`xdepthdif.screening.freezing_floor`, salinity 40), below the freezing point at salinity
35 (:func:`xdepthdif.analysis.oi.freezing_point`) and above 40 °C in the output, and the values
that ``reconstruct`` clipped to that range where it drew them
(:func:`xdepthdif.screening.clip_members`; counted from its warnings).
"""

import sys
import time
import warnings

import numpy as np
import pandas as pd

from xdepthdif.analysis.oi import freezing_point
from xdepthdif.errors import ImplausibleOutputWarning
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.prior.world import world_months
from xdepthdif.screening import WARMEST, freezing_floor


def main(models: list[str]) -> None:
    truth = world_months([pd.Timestamp("2045-07-15")], 1.0, "test")
    used, _ = observe(truth, 0.06, seed=0)
    target = target_of(truth)
    depth = truth["depth"].values
    floor = freezing_floor(depth)[None, None, :, None, None]
    salt35 = freezing_point(depth)[None, None, :, None, None]
    print(
        f"{used.sizes['profile']} profiles; member values below the floor (salinity 40) / "
        f"below the freezing point at salinity 35 / above {WARMEST:g} °C"
    )
    for model in models:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ImplausibleOutputWarning)
            res = target.depthdif.reconstruct(
                obs=used, method="diffusion", model=model, members=8, keep_members=True
            ).compute()
        clipped = [w.message for w in caught if getattr(w.message, "clipped", False)]
        m = res["thetao_members"].transpose("realization", "time", "depth", "lat", "lon").values
        ok = np.isfinite(m)
        counts = [int((ok & (m < floor)).sum()), int((ok & (m < salt35)).sum())]
        counts.append(int((ok & (m > WARMEST)).sum()))
        under = np.where(ok, salt35 - m, 0.0).max()
        print(
            f"{model}: {ok.sum()} values; {counts[0]} / {counts[1]} / {counts[2]} "
            f"(from {np.nanmin(m):.2f} to {np.nanmax(m):.2f} °C; at most {under:.1e} °C below "
            "the freezing point at salinity 35); "
            f"{sum(w.below for w in clipped)} floored and "
            f"{sum(w.above for w in clipped)} capped where drawn; "
            f"{time.perf_counter() - start:.0f} s"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["world", "conditional"])
