"""Covariance parameters of the OI, fitted per depth band from the observations alone.

Maximum likelihood on the innovations ``d = y − H x_b``: under the OI's own assumptions
``d ~ N(0, H B Hᵀ + R)``, so the parameters that make the observed innovations most probable are
those of the background and observation errors (the classical innovation method of
Hollingsworth and Lönnberg, made exact for the chosen covariance family; Desroziers and Ivanov
2001). Maximum likelihood rather than cross-validation on withheld profiles: it uses every
profile, costs one Cholesky factorisation per evaluation instead of one analysis per fold, and
its variances are those that make the error estimate consistent, which is what the spread-skill
ratio asks for. Weak priors on the scales and shares keep a band with few profiles near
textbook values (a few hundred km for the mesoscale, ~1500 km for the basin scale) instead of
letting the optimiser run off to a degenerate corner.

Levels share the shape of the covariance of their band (:data:`DEPTH_BANDS`: the scales, the
mesoscale share and the gradient weight); a band without enough observations copies the nearest
band that has them. A band whose innovations show no correlation between cells takes a white
model instead (:func:`_prefer_white`). The two variances are then refitted level by level (the
shape held, a weak prior towards the band's values), because within a band the signal can
change several-fold (thermocline heave at 750 m and at 1750 m). Last, a leave-one-out check
(:mod:`~xdepthdif.analysis.innovations`) scales both variances of each band so that each
observation, predicted from its nearest others of the same level and time step, misses by as
much as the covariance says (in the spread-skill ratio's sense: summed squared misses against
summed predicted variances): the analysis does not change, its error estimate does. Maximum
likelihood finds the shape; cross-validation calibrates the spread, which is what it measures
directly and what a misspecified shape (a Gaussian family, one shape per band) gets wrong
first.

Time steps (and levels) are independent blocks of the likelihood. A level with more than
``max_block`` observations in a time step (a few more when they fit the same cost) is cut into
spatially compact groups of at most that many
(:func:`~xdepthdif.analysis.innovations.compact_groups`), of which a few, drawn with a fixed
seed, enter the likelihood (a composite likelihood that ignores the correlation between
groups). A group is a neighbourhood, so the mesoscale shows however dense the profiles are; a
random subset of a dense level spreads its observations a basin apart and hides it (on the
validation world at 1°, 20 % of columns, compact groups cut the RMSE of the analysis from 0.258
to 0.225 °C). A fit costs seconds whatever the data volume.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> lat, lon = np.linspace(-30, 30, 25), np.linspace(0, 60, 25)
>>> truth = np.sin(np.deg2rad(lat))[:, None] * np.cos(np.deg2rad(3 * lon))[None, :]
>>> noise = 0.1 * rng.standard_normal((1, 25, 25))
>>> obs = np.where(rng.random((1, 25, 25)) < 0.3, truth + noise, np.nan)
>>> count = np.isfinite(obs).astype(int)
>>> blocks = innovation_blocks(obs, count, np.full(obs.shape, np.nan), np.zeros((1, 25, 25)),
...                            np.zeros((1, 25, 25)), np.ones(1), lat, lon)
>>> (p,) = fit_oi_params([blocks], np.array([10.0]))
>>> bool(p.sigma_o < 0.3), bool(p.large_km > p.meso_km)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy.linalg.lapack import dpotrf, dtrtrs
from scipy.optimize import minimize

from .covariance import CovParams
from .innovations import (
    Block,
    LowerPairs,
    band_blocks,
    calibrate_spread,
    data_nll,
    innovation_blocks,
    loo_residuals,
)

DEPTH_BANDS = ((0.0, 100.0), (100.0, 300.0), (300.0, 700.0), (700.0, 2000.0), (2000.0, np.inf))
"""Depth bands (m) that share the covariance parameters."""

PRIOR = {
    "large_km": (1500.0, 0.7),
    "meso_km": (250.0, 0.7),
    "meso_share": (0.5, 1.5),
    "gradient_weight": (1.0, 1.5),
}
"""Weak priors: centre and width (in log or logit units) of each shape parameter."""

MAX_GRADIENT_WEIGHT = 9.0
"""Largest fitted ``gradient_weight``: the background error where the first guess is flat stays
at least a third (``1/sqrt(1 + β)``) of its level mean, so a bias the gradients do not explain
(a climatology too warm at depth everywhere) is still corrected between profiles."""
NUGGET = 0.05
"""Smallest fitted ``sigma_o`` as a share of ``sigma_b``: a Gaussian covariance with almost no
observation error is ill-conditioned, and an analysis drawn exactly through every profile
oscillates wildly between them. No profile represents its cell's average better than this."""
SIGMA_O_MIN = 0.005
"""Smallest fitted ``sigma_o`` (°C)."""

BLOCKS_PER_STEP = 2
"""Compact groups (:func:`~xdepthdif.analysis.innovations.compact_groups`) the likelihood draws
per level and time step whose observations do not fit in one block."""
REFIT_BLOCK = 120
"""Observations per block when a level's variances are refitted (two parameters need fewer)."""
REFIT_WIDTH = 0.7
"""Width (log units) of the weak prior that holds a level's refitted variances near its band's:
a level with a handful of profiles a month cannot tell the signal from the noise on its own
(left free, one level of a sparse band put all of it in ``sigma_o``), one with many is free."""

WHITE_KM = 1.0
"""Scale (km) of the white model of :func:`_prefer_white`: far below any grid's cell spacing."""
WHITE_MIN_OBS = 100
"""Observations a band needs before the white model is considered: a few dozen profiles that
show no correlation are no evidence that there is none, and the prior's shape stands."""
GAIN_STANDARD_ERRORS = 1.0
"""The default ``white_margin`` of :class:`~xdepthdif.analysis.oi.OIConfig`: how many standard
errors the correlated covariance's gain in predicting left-out observations must exceed for it
to be kept (:func:`predicts_left_out`). Chosen on validation data: on the synthetic ocean's
training-split months of 2035 at 7.5 % of columns the bare comparison kept three correlated
bands and left the analysis 0.6 % worse than the first guess, and any margin from half a
standard error up made them white; on the validation world (4°, 1 % of columns) two standard
errors whitened a band whose correlation the withheld profiles needed (their RMSE 0.264 →
0.280 °C), one did not."""
WHITE_SHAPE = frozenset({"large_km", "meso_km", "meso_share"})
"""The shape parameters the white model replaces (only considered when none is fixed)."""
FIELDS = ("sigma_b", "sigma_o", "large_km", "meso_km", "meso_share", "gradient_weight")


def fit_oi_params(
    steps: Sequence[Sequence[Block | None]],
    depth: np.ndarray,
    *,
    fixed: dict | None = None,
    stretch: float = 1.0,
    min_obs: int = 8,
    max_block: int = 200,
    levels_per_band: int = 2,
    blocks_per_step: int | None = None,
    seed: int = 0,
    spread: str = "sums",
    margin: float = GAIN_STANDARD_ERRORS,
) -> list[CovParams]:
    """One :class:`CovParams` per level, fitted per depth band by maximum likelihood.

    Parameters
    ----------
    steps
        For each time step, the :func:`innovation_blocks` of its levels.
    depth
        Level depths (m).
    fixed
        Parameters not to fit: a value, or one value per level, by :class:`CovParams` field name.
    stretch
        Equatorial zonal stretch of the scales (1: isotropic).
    min_obs
        Observations a band needs to be fitted.
    max_block, levels_per_band, blocks_per_step
        Size limits of the likelihood: observations per block, levels per band, and blocks per
        level and time step (default :data:`BLOCKS_PER_STEP`).
    seed
        Seed of the subsets drawn when a block is larger than ``max_block``.
    spread
        The statistic of the spread calibration (:func:`calibrate_spread`'s ``statistic``).
    margin
        :func:`predicts_left_out`'s margin, in standard errors.
    """
    depth = np.asarray(depth, float)
    fixed = dict(fixed or {})
    rng = np.random.default_rng(seed)
    per_step = BLOCKS_PER_STEP if blocks_per_step is None else blocks_per_step
    band_of = np.array([_band(z) for z in depth])
    fitted: dict[int, CovParams] = {}
    for b in range(len(DEPTH_BANDS)):
        levels = np.flatnonzero(band_of == b)
        blocks = band_blocks(steps, levels, levels_per_band, max_block, rng, per_step)
        if sum(x.innov.size for x in blocks) < min_obs and len(fixed) < len(FIELDS):
            continue
        fix_b = {k: _band_value(v, levels) for k, v in fixed.items()}
        fitted[b] = _fit_band(blocks, fix_b, stretch)
        if not WHITE_SHAPE & set(fix_b) and sum(x.innov.size for x in blocks) >= WHITE_MIN_OBS:
            fitted[b] = _prefer_white(fitted[b], blocks, fix_b, margin)
    if not fitted:
        default = CovParams(1.0, 0.25, PRIOR["large_km"][0], PRIOR["meso_km"][0], 0.5, 0.0, stretch)
        fitted[0] = default
    calibrate = not {"sigma_b", "sigma_o"} & set(fixed)
    out, level_blocks = [], []
    for k, b in enumerate(band_of):
        nearest = min(fitted, key=lambda f: (abs(f - b), f))
        p = fitted[nearest]
        over = {n: float(np.broadcast_to(v, depth.shape)[k]) for n, v in fixed.items()}
        p = replace(p, **over) if over else p
        one = band_blocks(steps, np.array([k]), 1, min(max_block, REFIT_BLOCK), rng, per_step)
        if not {"sigma_b", "sigma_o"} <= set(fixed):
            p = _refit_variances(p, one, min_obs, held=set(fixed))
        out.append(p)
        if calibrate:
            level_blocks.append(band_blocks(steps, np.array([k]), 1, np.iinfo(int).max, rng))
    if not calibrate:
        return out
    return calibrate_spread(out, level_blocks, band_of, min_obs, seed, statistic=spread)


def _prefer_white(p: CovParams, blocks: list[Block], fixed: dict, margin: float) -> CovParams:
    """The band's fit, or the same variances without any correlation between cells when the
    innovations do not show one (the variances, and so their split into signal and noise, stay
    the fit's: a white model alone cannot tell them apart).

    The white model wins unless the fitted shape both

    - raises the log-likelihood by more than ``k/2 ln n`` for its ``k`` extra parameters and
      ``n`` observations (Schwarz's criterion; on the synthetic ocean's validation years it
      kept the first guess more often than Akaike's, and never did worse), and
    - predicts the band's observations, each left out in turn and predicted from its
      :data:`~xdepthdif.analysis.innovations.LOO_NEIGHBOURS` nearest others as the analysis
      would, with a smaller squared error than the white model's prediction (the first
      guess, an innovation of zero), by more than chance gives (:func:`predicts_left_out`):
      cross-validation of the one thing the analysis does with the correlation, filling
      cells between observations.

    An analysis under the white model changes only observed cells, so where anomalies
    decorrelate within a cell the OI leaves the first guess as it is.
    """
    white = replace(p, large_km=WHITE_KM, meso_km=WHITE_KM, meso_share=1.0)
    gain = data_nll(blocks, white) - data_nll(blocks, p)
    extra = len(set(FIELDS) - {"sigma_b", "sigma_o"} - set(fixed))
    n = sum(b.innov.size for b in blocks)
    if gain <= 0.5 * extra * np.log(max(n, 2)):
        return white
    return p if predicts_left_out(p, blocks, margin) else white


def predicts_left_out(
    p: CovParams, blocks: list[Block], margin: float = GAIN_STANDARD_ERRORS
) -> bool:
    """Whether ``p`` predicts each observation of ``blocks``, left out in turn, from its
    nearest others better than the first guess does (an innovation of zero): the mean gain in
    squared error exceeds ``margin`` of its standard errors (a paired comparison, observation
    by observation: a smaller gain is what white anomalies give by chance; 0: any gain)."""
    gain = [b.innov**2 - loo_residuals(b, p)[0] ** 2 for b in blocks if b.innov.size > 1]
    gain = np.concatenate(gain or [np.empty(0)])
    if gain.size < 2:
        return False
    return bool(gain.mean() > margin * gain.std(ddof=1) / np.sqrt(gain.size))


def _refit_variances(p: CovParams, blocks: list[Block], min_obs: int, held: set) -> CovParams:
    """``p`` with ``sigma_b`` and ``sigma_o`` (those not in ``held``) refitted to one level's
    blocks, the shape of the covariance held; ``p`` itself when the level has fewer than
    ``min_obs`` observations in all."""
    if sum(b.innov.size for b in blocks) < min_obs:
        return p
    keep = held | set(FIELDS) - {"sigma_b", "sigma_o"}
    shape = {f: getattr(p, f) for f in FIELDS if f in keep}
    anchor = {f: (getattr(p, f), REFIT_WIDTH) for f in ("sigma_b", "sigma_o")}
    return _fit_band(blocks, shape, p.stretch, start=p, prior=anchor)


def _band(z: float) -> int:
    return next(i for i, (lo, hi) in enumerate(DEPTH_BANDS) if lo <= z < hi)


def _band_value(value, levels):
    v = np.asarray(value, float)
    return float(v) if v.ndim == 0 else float(np.mean(v[levels]))


def _fit_band(
    blocks: list[Block],
    fixed: dict,
    stretch: float,
    start: CovParams | None = None,
    prior: dict | None = None,
) -> CovParams:
    """Maximum likelihood of the parameters not in ``fixed`` (from ``start`` when given), with
    weak priors: :data:`PRIOR`, or ``prior`` (centre and width by name) when given."""
    prior = PRIOR if prior is None else prior
    if all(f in fixed for f in FIELDS):
        return CovParams(**fixed, stretch=stretch)
    lower = [LowerPairs.of(b) for b in blocks]
    ms = np.mean(np.concatenate([b.innov for b in blocks]) ** 2)
    free = [f for f in FIELDS if f not in fixed]
    first = {
        "sigma_b": np.sqrt(0.8 * ms),
        "sigma_o": np.sqrt(0.2 * ms) + 1e-3,
        **{k: v[0] for k, v in PRIOR.items()},
    } | ({} if start is None else {f: getattr(start, f) for f in FIELDS})

    def unpack(theta) -> CovParams:
        v = dict(fixed)
        for name, t in zip(free, theta, strict=True):
            v[name] = _from_free(name, t)
        v["meso_km"] = min(v["meso_km"], 0.5 * v["large_km"])
        if "gradient_weight" not in fixed:
            v["gradient_weight"] = min(v["gradient_weight"], MAX_GRADIENT_WEIGHT)
        if "sigma_o" not in fixed:
            v["sigma_o"] = max(v["sigma_o"], NUGGET * v["sigma_b"], SIGMA_O_MIN)
        return CovParams(**v, stretch=stretch)

    held = None  # with only the variances free, each block's correlation is computed once
    if set(free) <= {"sigma_b", "sigma_o"}:
        p0 = unpack([_to_free(n, first[n]) for n in free])
        held = [t.shape(b, p0) for b, t in zip(blocks, lower, strict=True)]

    def nll(theta) -> float:
        p = unpack(theta)
        total = 0.0
        for i, (b, t) in enumerate(zip(blocks, lower, strict=True)):
            c = t.matrix(p.sigma_b**2 * (held[i] if held is not None else t.shape(b, p)))
            c[t.diagonal] += (p.sigma_o**2 + b.err_var) / b.count
            chol, info = dpotrf(c, lower=1, clean=0, overwrite_a=1)
            if info:  # not positive definite at these parameters (no argument is ever illegal)
                return 1e12
            z, _ = dtrtrs(chol, b.innov, lower=1)
            total += np.log(np.diag(chol)).sum() + 0.5 * z @ z
        for name, t in zip(free, theta, strict=True):
            if name in prior:
                total += 0.5 * ((t - _to_free(name, prior[name][0])) / prior[name][1]) ** 2
        return total

    theta0 = np.array([_to_free(n, first[n]) for n in free])
    res = minimize(
        nll,
        theta0,
        method="Nelder-Mead",
        options={
            "maxiter": 300,
            "xatol": 1e-3 if held is None else 1e-2,
            "fatol": 1e-3 if held is None else 1e-2,
            "initial_simplex": np.vstack([theta0, theta0 + 0.5 * np.eye(theta0.size)]),
        },
    )
    return unpack(res.x)


def _to_free(name: str, value: float) -> float:
    if name == "meso_share":
        v = min(max(value, 1e-4), 1 - 1e-4)
        return float(np.log(v / (1 - v)))
    return float(np.log(max(value, 1e-6)))


def _from_free(name: str, t: float) -> float:
    if name == "meso_share":
        return float(1.0 / (1.0 + np.exp(-t)))
    return float(np.exp(t))


FIT_PROFILES = 400
"""Profiles the OI's fit gathers: evenly spread time steps are added beyond ``fit_steps`` until
they hold this many (a regional grid with a few profiles a month needs many months)."""


def fit_time_steps(counts: np.ndarray, steps: int, profiles: int = FIT_PROFILES) -> np.ndarray:
    """Indices of the time steps the OI's fit uses: ``steps`` evenly spread among those with
    profiles (``counts``), more while they hold fewer than ``profiles`` profiles.

    Examples
    --------
    >>> fit_time_steps(np.array([0, 500, 500, 500, 500, 500, 500]), 4).tolist()
    [1, 3, 4, 6]
    >>> fit_time_steps(np.full(24, 30), 4).size  # 14 months of 30 profiles hold 420
    14
    """
    busy = np.flatnonzero(np.asarray(counts) > 0)
    chosen = busy
    for n in range(min(steps, busy.size), busy.size + 1):
        chosen = np.unique(busy[np.round(np.linspace(0, busy.size - 1, n)).astype(int)])
        if counts[chosen].sum() >= profiles:
            break
    return chosen


def fit_for_steps(steps, depth, lat, lon, config) -> list[CovParams]:
    """Fit an :class:`~xdepthdif.analysis.oi.OIConfig`'s free parameters to several time steps.

    ``steps`` holds, per time step, ``(obs_mean, obs_count, obs_err_var, background)`` on the
    ``(level, lat, lon)`` grid (``background`` None for the level mean). The error pattern is
    normalised over the cells where the background is finite, as in
    :func:`xdepthdif.analysis.oi.oi_analysis`.
    """
    from .canonical import canonical_axes
    from .covariance import gradient_magnitude, gradient_reference
    from .first_guess import level_mean_background

    oy, ox, _, _, lat_c, lon_c = canonical_axes(lat, lon)
    blocks = []
    for mean, count, err, bg in steps:
        mean, count, err = (np.asarray(a)[:, oy][:, :, ox] for a in (mean, count, err))
        has = (count > 0) & np.isfinite(mean)
        bg = level_mean_background(mean, has) if bg is None else np.asarray(bg)[:, oy][:, :, ox]
        grad = gradient_magnitude(bg, depth, lat_c, lon_c)
        ref = gradient_reference(grad, np.isfinite(bg))
        blocks.append(innovation_blocks(mean, count, err, bg, grad, ref, lat_c, lon_c))
    return fit_with_config(blocks, depth, config)


def fit_with_config(steps, depth, config) -> list[CovParams]:
    """:func:`fit_oi_params` of ``steps`` (each a time step's :func:`innovation_blocks`) under
    an :class:`~xdepthdif.analysis.oi.OIConfig`: its fixed parameters and fit options."""
    return fit_oi_params(
        steps,
        depth,
        fixed=config.fixed(),
        stretch=config.equatorial_stretch,
        spread=config.spread_statistic,
        margin=config.white_margin,
    )


def band_summary(params: Sequence[CovParams], depth) -> list[dict]:
    """The fitted parameters of each depth band that holds levels, for the output attributes:
    the band's shape, and the variances of each of its levels (``sigma_b``/``sigma_o`` lists,
    one value per level of ``depth_m``)."""
    out = []
    for lo, hi in DEPTH_BANDS:
        levels = [k for k, z in enumerate(depth) if lo <= z < hi]
        if levels:
            entry = {"band_m": [lo, None if np.isinf(hi) else hi], **params[levels[0]].as_dict()}
            entry["depth_m"] = [round(float(depth[k]), 2) for k in levels]
            for name in ("sigma_b", "sigma_o"):
                entry[name] = [params[k].as_dict()[name] for k in levels]
            out.append(entry)
    return out


def params_from_summary(summary: Sequence[dict], depth) -> list[CovParams]:
    """The per-level :class:`CovParams` back from a :func:`band_summary` (e.g. the JSON of an
    analysis's ``oi_fitted_covariance`` attribute), for the levels ``depth`` it was made on."""
    depth = np.asarray(depth, float)
    out: list[CovParams | None] = [None] * depth.size
    for band in summary:
        shape = {k: band[k] for k in ("large_km", "meso_km", "meso_share", "gradient_weight")}
        extra = {k: band[k] for k in ("stretch", "stretch_width_deg")}
        for z, sb, so in zip(band["depth_m"], band["sigma_b"], band["sigma_o"], strict=True):
            k = int(np.argmin(np.abs(depth - z)))
            out[k] = CovParams(sigma_b=sb, sigma_o=so, **shape, **extra)
    if any(p is None for p in out):
        raise ValueError("The summary does not cover every level of depth.")
    return out
