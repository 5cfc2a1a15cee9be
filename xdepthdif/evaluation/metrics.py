"""Skill scores as properly masked means (only where both fields are defined).

Examples
--------
>>> import numpy as np
>>> rmse(np.array([1.0, 2.0, np.nan]), np.array([1.0, 4.0, 3.0]))
1.4142135623730951
>>> rmse_by_band(np.array([[1.0, 2.0], [1.0, np.nan]]), np.array([50.0, 700.0]),
...              bands=((0, 100), (100, 1000)))
[1.0, 2.0]
"""

from __future__ import annotations

import numpy as np

DEPTH_BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 100.0),
    (100.0, 500.0),
    (500.0, 1000.0),
    (1000.0, 2000.0),
    (2000.0, np.inf),
)


def rmse(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root-mean-square difference over points where both are finite (and ``mask`` holds);
    NaN when there is no such point.

    Examples
    --------
    >>> est, truth = np.array([1.0, 2.0, np.nan, 5.0]), np.array([1.0, 0.0, 3.0, 1.0])
    >>> rmse(est, truth), rmse(est, truth, mask=np.array([True, True, True, False]))
    (2.581988897471611, 1.4142135623730951)
    >>> rmse(est, truth, mask=np.zeros(4, bool))
    nan
    """
    ok = np.isfinite(estimate) & np.isfinite(truth)
    if mask is not None:
        ok &= mask
    if not ok.any():
        return float("nan")
    return float(np.sqrt(np.mean((estimate[ok] - truth[ok]) ** 2)))


def rmse_by_band(
    error: np.ndarray, depth: np.ndarray, bands: tuple[tuple[float, float], ...] = DEPTH_BANDS
) -> list[float]:
    """RMSE of ``error`` (depth on the last axis) within each depth band; NaN where empty."""
    error = np.asarray(error, float)
    out = []
    for lo, hi in bands:
        sel = error[..., (depth >= lo) & (depth < hi)]
        sel = sel[np.isfinite(sel)]
        out.append(float(np.sqrt(np.mean(sel**2))) if sel.size else float("nan"))
    return out


def rmse_by_level(error: np.ndarray, level_axis: int) -> np.ndarray:
    """RMSE per level of ``error`` (NaN ignored), levels along ``level_axis``."""
    err = np.moveaxis(np.asarray(error, float), level_axis, 0).reshape(
        np.shape(error)[level_axis], -1
    )
    n = np.isfinite(err).sum(1)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.nansum(err**2, axis=1) / n)


def band_label(lo: float, hi: float) -> str:
    """``"0–100 m"`` style label of a depth band."""
    return f"{lo:g}–{hi:g} m" if np.isfinite(hi) else f">{lo:g} m"
