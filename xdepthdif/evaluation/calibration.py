"""The diffusion prior's spread calibration: per-level factors that make its ensemble's
spread match its error on training data (:func:`calibrate_spread`, run by
``xdepthdif calibrate``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .metrics import rmse_by_level
from .protocol import observe, target_of
from .scores import _level_mean_of

__all__ = ["CALIBRATION_MONTHS", "calibrate_spread"]

CALIBRATION_MONTHS = ("2025-02", "2025-08")
"""Months of the synthetic ocean's training split (after the default model's training period,
2000–2019) on which the spread is calibrated."""


def calibrate_spread(
    model: str | Path,
    *,
    resolution: float = 4.0,
    members: int = 8,
    fraction: float = 0.03,
    months: Sequence[str] = CALIBRATION_MONTHS,
    seed: int = 0,
    log: Callable[[str], object] = print,
) -> np.ndarray:
    """Per-level spread factors that make the ensemble's spread-skill ratio 1 on training data.

    Runs the diffusion ensemble (default steps, ``members``) on ``months`` of the synthetic
    ocean's *training* split at ``resolution`` degrees, observed at ``fraction``, and returns,
    per level, the ratio of the ensemble mean's RMSE at unobserved points to
    ``sqrt((M + 1) / M)`` times the ensemble spread there, multiplied by any factor the model
    card already holds, clipped to [0.2, 5]. Store it with ``update_card`` (``xdepthdif
    calibrate`` does).
    """
    from ..prior.model import resolve_model, verify
    from .truth import synthetic_truth

    card = verify(resolve_model(model))
    truth = synthetic_truth(months, resolution, "train")
    used, _ = observe(truth, fraction, seed=seed + 2000)
    res = target_of(truth).depthdif.reconstruct(
        obs=used, method="diffusion", model=str(model), members=members, keep_members=True
    )
    res = res.compute()
    t = truth.values
    unobserved = np.isfinite(t) & (res["obs_count"].values == 0)
    m = members
    rmse = rmse_by_level(np.where(unobserved, res["thetao"].values - t, np.nan), 1)
    var = np.var(res["thetao_members"].values, axis=0, ddof=1)
    spread = np.sqrt(_level_mean_of(np.where(unobserved, var, np.nan)))
    old = np.asarray(card.normalisation.get("spread_scale", np.ones(len(card.levels))))
    factor = np.clip(old * rmse / (math.sqrt((m + 1) / m) * spread), 0.2, 5.0)
    log(
        "spread-skill before calibration, by level: "
        + " ".join(f"{v:.2f}" for v in math.sqrt((m + 1) / m) * spread / rmse)
    )
    return factor
