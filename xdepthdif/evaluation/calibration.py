"""The diffusion prior's spread calibration: per-level factors that make its ensemble's
spread match its error on data like its training data but not in it (:func:`calibrate_spread`,
run by ``xdepthdif calibrate``).

Which data, :func:`calibration_data` decides from the model card: a model trained on the
training world (``xdepthdif train --data world``) is calibrated on months of the world's
``"validation"`` split (:data:`WORLD_CALIBRATION_MONTHS`, never the ``"test"`` split the skill
benchmark scores); any other model on months of the synthetic ocean's training split after the
synthetic prior's training period (:data:`CALIBRATION_MONTHS`), as before the world existed."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .metrics import rmse_by_level
from .protocol import observe, target_of
from .scores import _level_mean_of

__all__ = [
    "CALIBRATION_DATA",
    "CALIBRATION_MONTHS",
    "WORLD_CALIBRATION_MONTHS",
    "calibrate_spread",
    "calibration_data",
    "vertical_correlation",
]

CALIBRATION_MONTHS = ("2025-02", "2025-08")
"""Months of the synthetic ocean's training split (after the synthetic prior's training period,
2000–2019) on which a synthetic-trained model's spread is calibrated."""
WORLD_CALIBRATION_MONTHS = ("2010-01", "2011-04", "2012-07", "2013-10")
"""Months of the world's ``"validation"`` split on which a world-trained model's spread is
calibrated: one per season, a year apart, and after 2001–2008, the validation years of the skill
benchmark (:attr:`xdepthdif.evaluation.protocol.SkillConfig.validation_years`), so the
benchmark's climatological ensemble and SST regression never see a calibration month."""
CALIBRATION_DATA = ("auto", "world", "synthetic")
"""Values of ``calibrate_spread(data=...)`` and ``xdepthdif calibrate --data``."""
WORLD_PREFIX = "xdepthdif training world"
"""How the card's ``training.data`` of a model trained on the world begins."""


def calibration_data(card) -> str:
    """``"world"`` for a model card whose ``training.data`` is the training world, else
    ``"synthetic"`` (the synthetic ocean, or data of the user's: calibrated as before).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> calibration_data(SimpleNamespace(training={"data": "xdepthdif synthetic ocean (...)"}))
    'synthetic'
    """
    data = str(card.training.get("data", ""))
    return "world" if data.startswith(WORLD_PREFIX) else "synthetic"


def _calibration_truth(card, data: str, months, resolution):
    """The calibration data a card's model is checked against: the split ``data`` names
    (:func:`calibration_data` of the card for ``"auto"``), its ``months`` (default: that
    split's) at ``resolution`` (default: the model's native grid).

    Returns
    -------
    data, months, resolution, truth
        The choices made, and the truth (``time × depth × lat × lon``, °C).
    """
    if data not in CALIBRATION_DATA:
        raise ValueError(f"data must be one of {CALIBRATION_DATA}, got {data!r}.")
    data = calibration_data(card) if data == "auto" else data
    if months is None:
        months = WORLD_CALIBRATION_MONTHS if data == "world" else CALIBRATION_MONTHS
    resolution = float(card.native_resolution_deg if resolution is None else resolution)
    return data, months, resolution, _truth(data, months, resolution)


def _truth(data: str, months: Sequence[str], resolution: float):
    """The calibration truth: world validation split or synthetic training split."""
    if data == "world":
        from ..prior.world import world_months
        from ..timing import month_times

        return world_months(month_times(months), resolution, "validation")
    from .truth import synthetic_truth

    return synthetic_truth(months, resolution, "train")


def calibrate_spread(
    model: str | Path,
    *,
    resolution: float | None = None,
    members: int = 8,
    fraction: float = 0.03,
    months: Sequence[str] | None = None,
    seed: int = 0,
    data: str = "auto",
    log: Callable[[str], object] = print,
    steps: int | None = None,
) -> np.ndarray:
    """Per-level spread factors that make the ensemble's spread-skill ratio 1 on calibration
    data.

    Runs the diffusion ensemble (``steps``, ``members``; the network's own members, not
    clipped to the range of sea water) on ``months`` of the calibration
    data at ``resolution`` degrees, observed at ``fraction``, and returns, per level, the ratio
    of the ensemble mean's RMSE at unobserved points to ``sqrt((M + 1) / M)`` times the
    ensemble spread there, multiplied by the factor the model card already gives a run of
    ``steps`` (:func:`~xdepthdif.prior.model.spread_scale_for`), clipped to [0.2, 5]. Store
    it with ``update_card`` (``xdepthdif calibrate`` does, for one or several step counts).

    Parameters
    ----------
    model : str or Path
        A checkpoint's path or shipped name.
    resolution : float, optional
        Grid spacing (degrees); default: the model's native resolution.
    members, fraction, seed
        Ensemble size, share of ocean columns observed, seed of the sampling.
    months : sequence of str, optional
        ``"YYYY-MM"``; default :data:`WORLD_CALIBRATION_MONTHS` (world) or
        :data:`CALIBRATION_MONTHS` (synthetic).
    data : {"auto", "world", "synthetic"}
        ``"world"``: the training world's ``"validation"`` split (never ``"test"``);
        ``"synthetic"``: the synthetic ocean's ``"train"`` split; ``"auto"``:
        :func:`calibration_data` of the model card.
    log : callable
    steps : int, optional
        Sampler steps (default: :class:`~xdepthdif.analysis.diffusion.DiffusionConfig`'s).
    """
    from ..analysis.diffusion import DiffusionConfig
    from ..prior.model import resolve_model, spread_scale_for, verify

    card = verify(resolve_model(model))
    data, months, resolution, truth = _calibration_truth(card, data, months, resolution)
    deepest = max(card.levels) + 0.01  # a model of fewer levels is scored on its own
    truth = truth.isel(depth=np.flatnonzero(truth["depth"].values <= deepest))
    split = "validation split of the training world" if data == "world" else "synthetic ocean"
    log(f"calibrating on {len(months)} months of the {split} at {resolution:g} deg")
    used, _ = observe(truth, fraction, seed=seed + 2000)
    steps = DiffusionConfig().steps if steps is None else int(steps)
    res = target_of(truth).depthdif.reconstruct(
        obs=used, method="diffusion", model=str(model), members=members, keep_members=True,
        steps=steps, clip=False,
    )  # fmt: skip
    res = res.compute()
    t = truth.values
    unobserved = np.isfinite(t) & (res["obs_count"].values == 0)
    m = members
    rmse = rmse_by_level(np.where(unobserved, res["thetao"].values - t, np.nan), 1)
    var = np.var(res["thetao_members"].values, axis=0, ddof=1)
    spread = np.sqrt(_level_mean_of(np.where(unobserved, var, np.nan)))
    old = spread_scale_for(card.normalisation, steps)
    old = np.ones(len(card.levels)) if old is None else np.asarray(old, float)
    factor = np.clip(old * rmse / (math.sqrt((m + 1) / m) * spread), 0.2, 5.0)
    log(
        f"spread-skill at {steps} steps before calibration, by level: "
        + " ".join(f"{v:.2f}" for v in math.sqrt((m + 1) / m) * spread / rmse)
    )
    return factor


def vertical_correlation(
    model: str | Path,
    *,
    resolution: float | None = None,
    months: Sequence[str] | None = None,
    data: str = "auto",
) -> np.ndarray | None:
    """The correlation between levels of the calibration data's anomalies: what preconditions
    a model's guidance column by column (:func:`xdepthdif.core.guidance.column_preconditioner`).

    Anomalies of the calibration truth (the months and split of :func:`calibrate_spread`)
    about the shipped climatology (a correlation: the same in the model's units, whatever its
    per-level ``mean`` and ``std``); covariances between two levels over the sea points and
    months where both exist, turned into a correlation and projected onto the nearest positive
    semi-definite matrix with a unit diagonal (negative eigenvalues set to 0). Data, not the
    model: the preconditioner only needs a good guess of the prior's vertical structure.

    Returns
    -------
    numpy.ndarray or None
        ``(levels, levels)``; None for a model whose normalisation is not about the shipped
        climatology or whose levels the calibration data do not have.
    """
    from ..background import climatology
    from ..prior.model import resolve_model, verify

    card = verify(resolve_model(model))
    if card.normalisation.get("climatology") != "shipped":
        return None
    _, _, _, truth = _calibration_truth(card, data, months, resolution)
    levels = np.asarray(card.levels, float)
    depth = truth["depth"].values
    match = np.abs(depth[None, :] - levels[:, None]) < 0.01
    if not match.any(axis=1).all():
        return None
    truth = truth.isel(depth=match.argmax(axis=1))
    anomaly = (truth - climatology(truth)).transpose("depth", "time", "lat", "lon").values
    z = anomaly.reshape(levels.size, -1)  # a correlation: the card's mean and std cancel
    ok = np.isfinite(z)
    z = np.where(ok, z - np.nanmean(z, axis=1, keepdims=True), 0.0)
    pairs = ok.astype(float) @ ok.T.astype(float)
    cov = (z @ z.T) / np.maximum(pairs, 1.0)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    lam, vec = np.linalg.eigh((corr + corr.T) / 2)
    psd = (vec * np.clip(lam, 0.0, None)) @ vec.T
    d = np.sqrt(np.diag(psd))
    return psd / np.outer(d, d)
