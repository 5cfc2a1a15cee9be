"""Scores of one analysis against a known truth: RMSE at unobserved points and at withheld
profiles, ReconMOST's three masked MSEs, CRPS and the spread-skill ratio; the level-mean baseline.

Examples
--------
>>> import numpy as np
>>> round(float(crps_gaussian(np.array([0.0]), np.array([1.0]), np.array([0.0]))[0]), 4)
0.2337
>>> members = np.array([[-1.0], [1.0]])
>>> float(crps_ensemble(members, np.array([0.0]))[0])
0.0
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from ..obs import interpolate_to_levels
from ..obs.binning import locate_cells
from .metrics import rmse_by_band, rmse_by_level
from .protocol import SCORE_DEPTH

__all__ = ["at_profiles", "crps_ensemble", "crps_gaussian", "level_mean", "score"]


def crps_gaussian(mean: np.ndarray, sd: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """CRPS of the Gaussian ``N(mean, sd²)`` for the outcome ``truth`` (elementwise)."""
    sd = np.maximum(np.asarray(sd, float), 1e-12)
    z = (np.asarray(truth, float) - mean) / sd
    return sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))


def crps_ensemble(members: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Fair CRPS of an ensemble (members on axis 0) for the outcome ``truth``.

    ``mean|X_i - y| - sum_{i,j}|X_i - X_j| / (2 M (M - 1))``: unbiased for the CRPS of the
    distribution the members are drawn from, whatever the ensemble size ``M``.
    """
    members = np.asarray(members, float)
    m = members.shape[0]
    skill = np.mean(np.abs(members - truth), axis=0)
    ordered = np.sort(members, axis=0)
    # sum_{i<j} |x_j - x_i| from the sorted members: sum_k (2k - m + 1) x_(k)
    weights = (2 * np.arange(m) - m + 1).reshape(-1, *([1] * (members.ndim - 1)))
    pair_sum = np.sum(weights * ordered, axis=0)
    return skill - pair_sum / (m * (m - 1))


def level_mean(obs: xr.Dataset, truth: xr.DataArray) -> np.ndarray:
    """The mean of the observed cells of each level and month, everywhere (the naive baseline)."""
    from ..obs import bin_profiles

    levels = truth["depth"].values
    values = interpolate_to_levels(obs["depth"].values, obs["thetao"].values, levels)
    month = pd.DatetimeIndex(obs["time"].values).to_period("M")
    out = np.full(truth.shape[:2], np.nan)
    for i, t in enumerate(pd.DatetimeIndex(truth["time"].values).to_period("M")):
        sel = month == t
        binned = bin_profiles(
            obs["lat"].values[sel], obs["lon"].values[sel], values[sel],
            truth["lat"].values, truth["lon"].values,
        )  # fmt: skip
        with warnings.catch_warnings():  # a level no profile reaches stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out[i] = np.nanmean(np.where(binned.count > 0, binned.mean, np.nan), axis=(1, 2))
    field = np.broadcast_to(out[:, :, None, None], truth.shape)
    return np.where(np.isfinite(truth.values), field, np.nan)


def at_profiles(
    field: np.ndarray, profiles: xr.Dataset, truth: xr.DataArray
) -> tuple[np.ndarray, np.ndarray]:
    """``field`` (time, depth, lat, lon) at the cells of ``profiles`` and the profiles' own
    values on the same levels, both ``(profile, depth)``."""
    values = interpolate_to_levels(
        profiles["depth"].values, profiles["thetao"].values, truth["depth"].values
    )
    iy, ix, _ = locate_cells(
        profiles["lat"].values, profiles["lon"].values, truth["lat"].values, truth["lon"].values
    )
    it = (
        pd.DatetimeIndex(truth["time"].values)
        .to_period("M")
        .get_indexer(pd.DatetimeIndex(profiles["time"].values).to_period("M"))
    )
    return field[it, :, iy, ix], values


def score(
    mean: np.ndarray,
    truth: xr.DataArray,
    obs_count: np.ndarray,
    withheld: xr.Dataset,
    sd: np.ndarray | None = None,
    members: np.ndarray | None = None,
) -> dict[str, float | list[float]]:
    """All scores of one analysis (arrays shaped like ``truth``; ``members`` on axis 0)."""
    depth = truth["depth"].values
    t = truth.values
    ocean = np.isfinite(t)
    shallow = (depth < SCORE_DEPTH)[None, :, None, None]  # the band of rmse_by_band
    unobserved = ocean & (obs_count == 0)
    observed = ocean & (obs_count > 0)

    def msq(where: np.ndarray) -> float:
        err = (mean - t)[where & shallow]
        err = err[np.isfinite(err)]
        return float(np.mean(err**2)) if err.size else float("nan")

    err_unobs = np.moveaxis(np.where(unobserved, mean - t, np.nan), 1, -1)
    est, values = at_profiles(mean, withheld, truth)
    out: dict[str, float | list[float]] = {
        "rmse_unobserved": rmse_by_band(err_unobs, depth, ((0.0, SCORE_DEPTH),))[0],
        "rmse_unobserved_bands": rmse_by_band(err_unobs, depth),
        "rmse_unobserved_levels": rmse_by_level(np.where(unobserved, mean - t, np.nan), 1).tolist(),
        "rmse_withheld": rmse_by_band(est - values, depth, ((0.0, SCORE_DEPTH),))[0],
        "mse_guidance": msq(observed),
        "mse_reconstruction": msq(unobserved),
        "mse_total": msq(ocean),
        "crps": float("nan"),
        "spread_skill": float("nan"),
    }
    where = unobserved & shallow & np.isfinite(mean)
    rmse = out["rmse_unobserved"]
    if members is not None:
        m = members.shape[0]
        out["crps"] = float(np.mean(crps_ensemble(members[:, where], t[where])))
        spread = float(np.sqrt(np.mean(np.var(members[:, where], axis=0, ddof=1))))
        out["spread_skill"] = math.sqrt((m + 1) / m) * spread / rmse if rmse else math.nan
        var = np.var(members, axis=0, ddof=1)
        out["spread_skill_levels"] = (
            math.sqrt((m + 1) / m)
            * np.sqrt(_level_mean_of(np.where(unobserved, var, np.nan)))
            / np.asarray(out["rmse_unobserved_levels"])
        ).tolist()
    elif sd is not None:
        out["crps"] = float(np.mean(crps_gaussian(mean[where], sd[where], t[where])))
        out["spread_skill"] = float(np.sqrt(np.mean(sd[where] ** 2))) / rmse if rmse else math.nan
    return out


def _level_mean_of(values: np.ndarray) -> np.ndarray:
    """Mean over everything but the depth axis (axis 1), NaN ignored."""
    flat = np.moveaxis(values, 1, 0).reshape(values.shape[1], -1)
    n = np.isfinite(flat).sum(1)
    with np.errstate(invalid="ignore"):
        return np.nansum(flat, axis=1) / n
