"""The diffusion prior's spread calibration: per-level factors that make its ensemble's
spread match its error on data like its training data but not in it (:func:`calibrate_spread`,
run by ``xdepthdif calibrate``).

Which data, :func:`calibration_data` decides from the model card: a model trained on the
training world (``xdepthdif train --data world``) is calibrated on months of the world's
``"validation"`` split (:data:`WORLD_CALIBRATION_MONTHS`, never the ``"test"`` split the skill
benchmark scores), observed at each share of :data:`WORLD_CALIBRATION_FRACTIONS`; any other
model on months of the synthetic ocean's training split after the synthetic prior's training
period (:data:`CALIBRATION_MONTHS`), as before the world existed (:func:`calibration_plan`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .protocol import observe, target_of

__all__ = [
    "CALIBRATION_DATA",
    "CALIBRATION_MONTHS",
    "WORLD_CALIBRATION_FRACTIONS",
    "WORLD_CALIBRATION_MONTHS",
    "calibrate_downscaled",
    "calibrate_spread",
    "calibration_data",
    "calibration_plan",
    "vertical_correlation",
]

CALIBRATION_MONTHS = ("2025-02", "2025-08")
"""Months of the synthetic ocean's training split (after the synthetic prior's training period,
2000–2019) on which a synthetic-trained model's spread is calibrated."""
CALIBRATION_FRACTIONS = (0.03,)
"""Shares of the columns observed when a synthetic-trained model's spread is calibrated."""
WORLD_CALIBRATION_MONTHS = tuple(f"{y}-{m:02d}" for y in range(2010, 2014) for m in (1, 4, 7, 10))
"""Months of the world's ``"validation"`` split on which a world-trained model's spread is
calibrated: 16, one per season for four years, all after 2001–2008, the validation years of the
skill benchmark (:attr:`xdepthdif.evaluation.protocol.SkillConfig.validation_years`), so the
benchmark's climatological ensemble and SST regression never see a calibration month. Four
months (one per season) fitted factors that left other validation months' ensembles 10–16 %
too wide (docs/model.md); sixteen, pooled over both shares, about 0–5 %."""
WORLD_CALIBRATION_FRACTIONS = (0.03, 0.075)
"""Shares of the columns observed when a world-trained model's spread is calibrated: the skill
benchmark's two headline shares, pooled (the factors fit both, not one)."""
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


def calibration_plan(
    card,
    data: str = "auto",
    months: Sequence[str] | None = None,
    fractions: Sequence[float] | None = None,
) -> dict:
    """What a card's model is calibrated on: the split ``data`` names (:func:`calibration_data`
    of the card for ``"auto"``), its ``months`` and the ``fractions`` of columns observed
    (defaults: that split's). ``xdepthdif calibrate`` stores it in the card
    (``training.spread_calibration_plan``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> card = SimpleNamespace(training={"data": "xdepthdif synthetic ocean (...)"})
    >>> calibration_plan(card)
    {'data': 'synthetic', 'months': ['2025-02', '2025-08'], 'fractions': [0.03]}
    """
    if data not in CALIBRATION_DATA:
        raise ValueError(f"data must be one of {CALIBRATION_DATA}, got {data!r}.")
    data = calibration_data(card) if data == "auto" else data
    world = data == "world"
    if months is None:
        months = WORLD_CALIBRATION_MONTHS if world else CALIBRATION_MONTHS
    if fractions is None:
        fractions = WORLD_CALIBRATION_FRACTIONS if world else CALIBRATION_FRACTIONS
    if not len(fractions) or not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must be shares of the columns in (0, 1], got {fractions!r}.")
    return {"data": data, "months": list(months), "fractions": [float(f) for f in fractions]}


def _calibration_truth(card, data: str, months, resolution):
    """The calibration truth (``time × depth × lat × lon``, °C) of :func:`calibration_plan`'s
    split and months at ``resolution`` (default: the model's native grid)."""
    plan = calibration_plan(card, data, months)
    resolution = float(card.native_resolution_deg if resolution is None else resolution)
    return _truth(plan["data"], plan["months"], resolution)


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
    fractions: Sequence[float] | None = None,
    months: Sequence[str] | None = None,
    seed: int = 0,
    data: str = "auto",
    log: Callable[[str], object] = print,
    steps: int | None = None,
) -> np.ndarray:
    """Per-level spread factors that make the ensemble's spread-skill ratio 1 on calibration
    data.

    Runs the diffusion ensemble (``steps``, ``members``; the network's own members, not
    clipped to the range of sea water) on ``months`` of the calibration data at ``resolution``
    degrees, observed at each share of ``fractions`` in turn, and returns, per level, the ratio
    of the ensemble mean's RMSE at unobserved points to ``sqrt((M + 1) / M)`` times the
    ensemble spread there (both area-weighted, as the skill benchmark weighs them, and pooled
    over months and shares), multiplied by the factor the model card already gives a run of
    ``steps`` (:func:`~xdepthdif.prior.model.spread_scale_for`), clipped to [0.2, 5]. Store
    it with ``update_card`` (``xdepthdif calibrate`` does, for one or several step counts).
    :func:`calibrate_downscaled` fits a conditional model's members downscaled onto a finer
    grid.

    Parameters
    ----------
    model : str or Path
        A checkpoint's path or shipped name.
    resolution : float, optional
        Grid spacing (degrees); default: the model's native resolution.
    members, seed
        Ensemble size, seed of the sampling.
    fractions : sequence of float, optional
        Shares of ocean columns observed, pooled; default :data:`WORLD_CALIBRATION_FRACTIONS`
        (world) or :data:`CALIBRATION_FRACTIONS` (synthetic).
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
    from ..prior.model import resolve_model, spread_scale_for, verify

    card = verify(resolve_model(model))
    plan = calibration_plan(card, data, months, fractions)
    steps = _steps(steps)
    ratio, _ = _fit(card, model, plan, resolution, members, seed, steps, log)
    old = spread_scale_for(card.normalisation, steps)
    return _scaled(card, old, ratio)


def calibrate_downscaled(
    model: str | Path,
    resolution: float,
    fraction: float,
    *,
    members: int = 8,
    months: Sequence[str] | None = None,
    seed: int = 0,
    data: str = "auto",
    log: Callable[[str], object] = print,
) -> tuple[float, np.ndarray]:
    """The spread factors of a conditional OI-residual model's members downscaled onto a grid
    of ``resolution`` degrees, finer than the model's own (:mod:`xdepthdif.analysis.downscale`),
    with profiles in ``fraction`` of the ocean columns.

    Fitted as :func:`calibrate_spread` fits the model's own, on that grid, at the default step
    count, on top of the model's own factors and relative to what the card's
    ``spread_scale_downscaled`` already gives that spacing and share. A time step looks its
    factors up by the share of its target's sea columns that hold a used profile, so the
    factors are returned with that share as the calibration runs measured it (their mean over
    the months): the profiles withheld by the benchmark's protocol leave it below
    ``fraction``. ``xdepthdif calibrate --downscaled --resolution 1`` fits each share in turn
    and stores the factors under the measured shares.

    Returns
    -------
    share : float
        Mean share of the target's sea columns holding a used profile.
    factors : numpy.ndarray
        Per model level.
    """
    from ..analysis.downscale import downscaled_spread_for
    from ..prior.model import resolve_model, verify

    card = verify(resolve_model(model))
    plan = calibration_plan(card, data, months, [fraction])
    _check_downscaled(card, resolution)
    steps = _steps(None)
    ratio, share = _fit(card, model, plan, resolution, members, seed, steps, log, downscaled=True)
    old = downscaled_spread_for(card.normalisation, resolution, share)
    return share, _scaled(card, old, ratio)


def _steps(steps: int | None) -> int:
    """``steps``, or the default step count."""
    from ..analysis.diffusion import DiffusionConfig

    return DiffusionConfig().steps if steps is None else int(steps)


def _scaled(card, old, ratio: np.ndarray) -> np.ndarray:
    """The factors the card gives (``old``, None for none) times the fitted ``ratio``."""
    old = np.ones(len(card.levels)) if old is None else np.asarray(old, float)
    return np.clip(old * np.where(np.isfinite(ratio), ratio, 1.0), 0.2, 5.0)  # 1: no data


def _fit(card, model, plan: dict, resolution, members: int, seed: int, steps: int, log,
         downscaled: bool = False) -> tuple[np.ndarray, float]:  # fmt: skip
    """Per level, the ensemble mean's RMSE over the inflated spread at unobserved points,
    pooled over the plan's months and shares; and the mean share of sea columns holding a
    used profile."""
    from ..analysis.downscale import observed_share

    data, months, fractions = plan["data"], plan["months"], plan["fractions"]
    resolution = float(card.native_resolution_deg if resolution is None else resolution)
    truth = _calibration_truth(card, data, months, resolution)
    deepest = max(card.levels) + 0.01  # a model of fewer levels is scored on its own
    truth = truth.isel(depth=np.flatnonzero(truth["depth"].values <= deepest))
    depth = truth["depth"].values
    if downscaled and (
        depth.size != len(card.levels) or not np.allclose(depth, card.levels, atol=0.01)
    ):
        raise ValueError("downscaled factors are per model level: the calibration data must "
                         "have the model's levels")  # fmt: skip
    split = "validation split of the training world" if data == "world" else "synthetic ocean"
    shares = ", ".join(f"{f:.1%}" for f in fractions)
    log(f"calibrating on {len(months)} months of the {split} at {resolution:g} deg, {shares}")
    t = truth.values
    weight = np.cos(np.deg2rad(truth["lat"].values))[None, None, :, None]
    inflate = math.sqrt((members + 1) / members)
    error2 = spread2 = 0.0
    measured = []
    for fraction in fractions:
        used, _ = observe(truth, fraction, seed=seed + 2000)
        res = target_of(truth).depthdif.reconstruct(
            obs=used, method="diffusion", model=str(model), members=members, keep_members=True,
            steps=steps, clip=False,
        ).compute()  # fmt: skip
        count = res["obs_count"].values
        measured.append(float(np.mean(observed_share(np.isfinite(t), count))))
        w = np.where(np.isfinite(t) & (count == 0), weight, 0.0)
        e2 = _level_sum(w * np.nan_to_num(res["thetao"].values - t) ** 2)
        v = _level_sum(w * np.nan_to_num(np.var(res["thetao_members"].values, axis=0, ddof=1)))
        with np.errstate(invalid="ignore", divide="ignore"):
            skill = inflate * np.sqrt(v / e2)
        log(f"{fraction:.1%} of the columns ({measured[-1]:.2%} of the sea columns hold a used "
            f"profile): spread-skill at {steps} steps before calibration, by level: "
            + " ".join(f"{r:.2f}" for r in skill))  # fmt: skip
        error2, spread2 = error2 + e2, spread2 + v
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.sqrt(error2 / spread2) / inflate
    return ratio, float(np.mean(measured))


def _check_downscaled(card, resolution: float) -> None:
    """A card and grid spacing whose members :mod:`xdepthdif.analysis.downscale` downscales."""
    from ..errors import ModelCardError

    if card.kind != "conditional" or card.conditioning.get("target") != "oi_residual":
        raise ModelCardError("only a conditional model of the OI's residual has its members "
                             "downscaled; calibrate this one without --downscaled")  # fmt: skip
    if not resolution < card.native_resolution_deg:
        raise ValueError(f"downscaled factors are fitted on a grid finer than the model's "
                         f"{card.native_resolution_deg:g}°: pass resolution= (e.g. 1)")  # fmt: skip


def _level_sum(values: np.ndarray) -> np.ndarray:
    """Sum over everything but the depth axis (axis 1)."""
    return np.moveaxis(values, 1, 0).reshape(values.shape[1], -1).sum(1)


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
    truth = _calibration_truth(card, data, months, resolution)
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
