"""Scores kept as sums, month by month and level by level, so that any set of months (the
bootstrap's resamplings) is scored without analysing anything again.

:func:`month_sums` tallies one month of one analysis against the truth; :func:`summarise` turns
the tallies of chosen months (weighted: a bootstrap resampling counts a month as often as it was
drawn) into the benchmark's scores; :func:`bootstrap_weights` draws the resamplings.

Examples
--------
>>> import numpy as np
>>> truth = np.zeros((2, 1, 3))  # depth, lat, lon
>>> lat, empty = np.array([0.0]), np.zeros((0, 2))
>>> one = month_sums(truth + 1.0, truth, np.zeros(truth.shape), lat, empty, empty)
>>> two = month_sums(truth + 2.0, truth, np.zeros(truth.shape), lat, empty, empty)
>>> tallies = {k: np.stack([one[k], two[k]]) for k in one}
>>> depth = np.array([5.0, 50.0])
>>> round(float(summarise(tallies, depth)["rmse_unobserved"][0]), 4)  # sqrt((1 + 4) / 2)
1.5811
>>> float(summarise(tallies, depth, np.array([[2.0, 0.0]]))["rmse_unobserved"][0])
1.0
"""

from __future__ import annotations

import numpy as np

from .metrics import DEPTH_BANDS
from .protocol import SCORE_DEPTH

__all__ = ["STATS", "bootstrap_weights", "month_sums", "summarise"]

STATS = (
    "unobs_w",  # area (cos latitude) of unobserved ocean cells
    "unobs_se",  # area-weighted squared error there
    "unobs_var",  # area-weighted predictive variance there (0 without an error estimate)
    "unobs_var_m",  # area-weighted ensemble variance / M (the M→∞ correction; 0 otherwise)
    "unobs_crps",  # area-weighted CRPS there
    "obs_n",  # cells holding a used profile
    "obs_se",  # squared error there
    "recon_n",  # unobserved cells (unweighted, as ReconMOST's masked means)
    "recon_se",
    "wh_n",  # values of withheld profiles
    "wh_se",
    "wh_var",  # predictive variance of the withheld values (analysis + observation error)
)
"""What :func:`month_sums` tallies, per level."""


def month_sums(
    mean: np.ndarray,
    truth: np.ndarray,
    count: np.ndarray,
    lat: np.ndarray,
    withheld_est: np.ndarray,
    withheld_val: np.ndarray,
    *,
    var: np.ndarray | None = None,
    var_m: np.ndarray | None = None,
    crps: np.ndarray | None = None,
    withheld_var: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-level tallies (:data:`STATS`) of one month of one analysis.

    Parameters
    ----------
    mean, truth, count
        The analysis, the truth and the number of used profiles per cell, ``(depth, lat,
        lon)``; NaN in ``truth`` is land.
    lat
        Latitudes (degrees) of the grid's rows: a cell's area is proportional to their cosine.
    withheld_est, withheld_val
        The analysis at the withheld profiles' cells and their own values, ``(profile,
        depth)``.
    var, var_m, crps
        The analysis' predictive variance (an ensemble's ``(M + 1) / M`` times its unbiased
        variance), its ensemble variance divided by ``M`` and its CRPS against ``truth``, per
        cell; None where the method has none.
    withheld_var
        Predictive variance of each withheld value (the analysis' variance plus the
        observation error), ``(profile, depth)``.
    """
    ocean = np.isfinite(truth)
    err = mean - truth
    unobs = ocean & (count == 0) & np.isfinite(err)
    obs = ocean & (count > 0) & np.isfinite(err)
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[None, :, None], truth.shape)

    def total(values, where):
        return np.where(where, values, 0.0).sum(axis=(1, 2))

    zero = np.zeros(truth.shape[0])
    wh_ok = np.isfinite(withheld_est - withheld_val)
    wh_err = np.where(wh_ok, withheld_est - withheld_val, 0.0)
    return {
        "unobs_w": total(w, unobs),
        "unobs_se": total(w * err**2, unobs),
        "unobs_var": zero if var is None else total(w * var, unobs),
        "unobs_var_m": zero if var_m is None else total(w * var_m, unobs),
        "unobs_crps": zero if crps is None else total(w * crps, unobs),
        "obs_n": obs.sum(axis=(1, 2)).astype(float),
        "obs_se": total(err**2, obs),
        "recon_n": unobs.sum(axis=(1, 2)).astype(float),
        "recon_se": total(err**2, unobs),
        "wh_n": wh_ok.sum(axis=0).astype(float),
        "wh_se": (wh_err**2).sum(axis=0),
        "wh_var": zero
        if withheld_var is None
        else np.where(wh_ok & np.isfinite(withheld_var), withheld_var, 0.0).sum(axis=0),
    }


def _band(depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (depth >= lo) & (depth < hi)


def summarise(
    tallies: dict[str, np.ndarray], depth: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The benchmark's scores from month-by-level ``tallies``, once per row of ``weights``.

    Parameters
    ----------
    tallies
        :data:`STATS` each shaped ``(month, depth)``.
    depth
        The levels (m).
    weights
        ``(resampling, month)``: how often each month counts (default: each once).

    Returns
    -------
    dict
        Arrays shaped ``(resampling,)``: ``rmse_unobserved`` (area-weighted, 0–2000 m) and
        ``rmse_unobserved_inf`` (an ensemble's mean with M→∞ members), ``rmse_withheld``,
        ``mse_guidance``, ``mse_reconstruction``, ``mse_total`` (ReconMOST's masked means,
        0–2000 m), ``crps``, ``spread_skill`` (at unobserved points) and
        ``spread_skill_withheld``, NaN where undefined; ``rmse_unobserved_band{i}`` and
        ``rmse_withheld_band{i}`` for each of
        :data:`~xdepthdif.evaluation.metrics.DEPTH_BANDS`; and ``rmse_unobserved_levels`` and
        ``spread_skill_levels``, ``(resampling, depth)``.
    """
    n_months = next(iter(tallies.values())).shape[0]
    weights = np.ones((1, n_months)) if weights is None else np.atleast_2d(weights)
    s = {k: weights @ np.asarray(v, float) for k, v in tallies.items()}  # (resampling, depth)

    def over(name, sel):
        return s[name][:, sel].sum(axis=1)

    def ratio(num, den):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    top = _band(depth, 0.0, SCORE_DEPTH)
    out = {}
    w = over("unobs_w", top)
    out["rmse_unobserved"] = np.sqrt(ratio(over("unobs_se", top), w))
    corrected = np.maximum(over("unobs_se", top) - over("unobs_var_m", top), 0.0)
    out["rmse_unobserved_inf"] = np.sqrt(ratio(corrected, w))
    out["rmse_withheld"] = np.sqrt(ratio(over("wh_se", top), over("wh_n", top)))
    n_obs, n_rec = over("obs_n", top), over("recon_n", top)
    out["mse_guidance"] = ratio(over("obs_se", top), n_obs)
    out["mse_reconstruction"] = ratio(over("recon_se", top), n_rec)
    out["mse_total"] = ratio(over("obs_se", top) + over("recon_se", top), n_obs + n_rec)
    has_spread = over("unobs_var", top) > 0
    out["crps"] = np.where(has_spread, ratio(over("unobs_crps", top), w), np.nan)
    spread = np.sqrt(ratio(over("unobs_var", top), w))
    out["spread_skill"] = np.where(has_spread, spread / out["rmse_unobserved"], np.nan)
    wh_spread = np.sqrt(ratio(over("wh_var", top), over("wh_n", top)))
    out["spread_skill_withheld"] = np.where(
        over("wh_var", top) > 0, wh_spread / out["rmse_withheld"], np.nan
    )
    for i, (lo, hi) in enumerate(DEPTH_BANDS):
        sel = _band(depth, lo, hi)
        out[f"rmse_unobserved_band{i}"] = np.sqrt(
            ratio(over("unobs_se", sel), over("unobs_w", sel))
        )
        out[f"rmse_withheld_band{i}"] = np.sqrt(ratio(over("wh_se", sel), over("wh_n", sel)))
    out["rmse_unobserved_levels"] = np.sqrt(ratio(s["unobs_se"], s["unobs_w"]))
    level_spread = np.sqrt(ratio(s["unobs_var"], s["unobs_w"]))
    out["spread_skill_levels"] = np.where(
        s["unobs_var"] > 0, level_spread / out["rmse_unobserved_levels"], np.nan
    )
    return out


def bootstrap_weights(n_months: int, resamplings: int, seed: int = 0) -> np.ndarray:
    """``(resamplings, n_months)``: how often each month is drawn in each resampling of the
    months with replacement.

    >>> w = bootstrap_weights(12, 5, seed=1)
    >>> w.shape, bool((w.sum(axis=1) == 12).all())
    ((5, 12), True)
    """
    rng = np.random.default_rng([seed, 11])
    draws = rng.integers(0, n_months, size=(resamplings, n_months))
    weights = np.zeros((resamplings, n_months))
    np.add.at(weights, (np.arange(resamplings)[:, None], draws), 1.0)
    return weights
