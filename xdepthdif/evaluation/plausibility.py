"""The default OI on a global grid of the real-planet truth, checked for plausible values: every
analysed value between the freezing point and 40 °C, and ``thetao_sd`` never above the
background error it started from (part of ``make oi-evidence``)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from ..analysis.oi import freezing_point
from ..obs import SamplingPlan, sample_profiles
from .protocol import SCORE_DEPTH, target_of

__all__ = ["plausibility"]


def plausibility(
    resolution: float = 1.0, fraction: float = 0.06, seed: int = 0
) -> dict[str, float]:
    """The default OI on a global grid of the real-planet truth (one month), checked.

    ``fraction`` 0.06 is about EN4's 2,500 profiles a month on the ~40,000 ocean columns of a
    1° grid. Returns the extremes of ``thetao`` and of its margin over the freezing point, the
    largest ratio of ``thetao_sd`` to the background error it started from (``σ_b p``), and
    the seconds the fit and the analysis took.
    """
    from ..analysis.oi import oi_analysis
    from ..analysis.oi_fit import params_from_summary
    from ..background import ClimatologySpec
    from ..timing import day_of_year
    from .truth import displaced_atlas_truth

    times = pd.date_range("2003-07-15", periods=1, freq="MS")
    truth = displaced_atlas_truth(times, resolution, seed=seed + 11)
    plan = SamplingPlan(fraction=fraction, max_depth=SCORE_DEPTH, cluster=True, seed=seed)
    used = sample_profiles(truth, plan)
    target = target_of(truth)
    start = time.perf_counter()
    lazy = target.depthdif.reconstruct(obs=used)
    fit_s = time.perf_counter() - start
    result = lazy.compute(scheduler="synchronous")
    step_s = time.perf_counter() - start - fit_s
    depth, lat, lon = (truth[k].values for k in ("depth", "lat", "lon"))
    mean, sd = result["thetao"].values[0], result["thetao_sd"].values[0]
    # the background error the analysis started from: the same OI without any observation
    spec = ClimatologySpec.shipped()
    first = spec.on_grid(float(day_of_year(times.values)[0]), depth, lat, lon)
    params = params_from_summary(json.loads(result.attrs["oi_fitted_covariance"]), depth)
    none = np.zeros(first.shape)
    _, prior = oi_analysis(
        none * np.nan, none, none * np.nan, lat, lon, depth, np.isfinite(truth.values[0]),
        background=first, params=params,
    )  # fmt: skip
    ok = np.isfinite(mean)
    return {
        "profiles": int(used.sizes["profile"]),
        "min_c": float(mean[ok].min()),
        "max_c": float(mean[ok].max()),
        "min_above_freezing_c": float((mean - freezing_point(depth)[:, None, None])[ok].min()),
        "max_sd_over_prior": float(np.nanmax(sd / prior)),
        "median_surface_sd_c": float(np.nanmedian(sd[0])),
        "median_surface_prior_sd_c": float(np.nanmedian(prior[0])),
        "surface_anomaly_rms_c": float(np.sqrt(np.nanmean((truth.values[0, 0] - first[0]) ** 2))),
        "fit_seconds": fit_s,
        "analysis_seconds": step_s,
    }
