"""The innovations of one level and time step under a covariance: their blocks, likelihood,
leave-one-out residuals, the spread calibration built on them, and the blocks a likelihood
takes from many (bare numpy).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> lat, lon = np.linspace(-10, 10, 5), np.linspace(0, 20, 5)
>>> obs = np.where(rng.random((1, 5, 5)) < 0.6, rng.normal(0, 1, (1, 5, 5)), np.nan)
>>> (blk,) = innovation_blocks(obs, np.isfinite(obs).astype(int), np.zeros(obs.shape),
...                            np.zeros(obs.shape), np.zeros(obs.shape), np.zeros(1), lat, lon)
>>> p = CovParams(1.0, 0.3, 1500.0, 250.0, 0.5)
>>> block_covariance(blk, p).shape == (blk.innov.size,) * 2
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular
from scipy.spatial import cKDTree

from ..grid.geo import unit_vectors
from .covariance import CovParams, correlation, error_pattern, pair_distances

LOO_TESTS = 100
"""Observations per level and time step predicted by the leave-one-out check."""
LOO_NEIGHBOURS = 64
"""Observations each of them is predicted from (the analysis's ``max_obs``)."""
MAX_SPREAD_FACTOR = 3.0
"""Largest factor by which the leave-one-out check scales a band's variances (either way)."""
SPREAD_STATISTICS = ("sums", "mean_z2")
"""What :func:`calibrate_spread` can make equal to one."""


@dataclass(frozen=True)
class Block:
    """The observations of one level and time step: positions, innovations, counts, given
    error variances and the error pattern's normalised gradient ``g``."""

    xyz: np.ndarray
    lat: np.ndarray
    innov: np.ndarray
    count: np.ndarray
    err_var: np.ndarray
    g: np.ndarray


def innovation_blocks(
    obs_mean, obs_count, obs_err_var, background, gradient, reference, lat, lon
) -> list[Block | None]:
    """One :class:`Block` per level of a time step (None where a level has no observation)."""
    has = (obs_count > 0) & np.isfinite(obs_mean) & np.isfinite(background)
    la, lo = np.meshgrid(np.asarray(lat, float), np.asarray(lon, float), indexing="ij")
    out = []
    for k in range(obs_mean.shape[0]):
        s = has[k]
        if not s.any():
            out.append(None)
            continue
        err = obs_err_var[k][s]
        out.append(
            Block(
                xyz=unit_vectors(la[s], lo[s]),
                lat=la[s],
                innov=obs_mean[k][s] - background[k][s],
                count=obs_count[k][s].astype(float),
                err_var=np.where(np.isfinite(err), err, 0.0),
                g=gradient[k][s] / reference[k] if reference[k] > 0 else np.ones(s.sum()),
            )
        )
    return out


def data_nll(blocks: list[Block], p: CovParams) -> float:
    """Negative log-likelihood (without constants) of the blocks' innovations under ``p``."""
    total = 0.0
    for b in blocks:
        try:
            chol = cholesky(block_covariance(b, p), lower=True, check_finite=False)
        except LinAlgError:
            return np.inf
        z = solve_triangular(chol, b.innov, lower=True, check_finite=False)
        total += np.log(np.diag(chol)).sum() + 0.5 * z @ z
    return float(total)


def calibrate_spread(
    params: list[CovParams],
    level_blocks: list[list[Block]],
    band_of: np.ndarray,
    min_obs: int,
    seed: int = 0,
    statistic: str = "sums",
) -> list[CovParams]:
    """Both variances of each band's levels scaled so that the band's observations, each
    predicted from its nearest others of the same level and time step as the analysis would
    (:func:`loo_residuals`, at most :data:`LOO_TESTS` per level and step), miss by as much as
    the covariance says. The analysis itself does not change, only its error.

    "As much" is by default (``statistic="sums"``) the spread-skill ratio: the root of the
    summed predicted variances over the summed squared misses, the statistic the error
    estimate is judged by. The mean of each miss's squared z-score (``"mean_z2"``), which
    weighs every observation alike, leaves the band calibrated on average while the few
    observations with the largest predicted errors (a tropical thermocline among many quiet
    high-latitude profiles) miss by more than their error says: in degrees, where users read
    the error, the spread is then too small.
    """
    rng = np.random.default_rng(seed)
    out = list(params)
    for b in np.unique(band_of):
        levels = np.flatnonzero(band_of == b)
        pairs = [
            loo_residuals(blk, params[k], np.sort(rng.permutation(blk.innov.size)[:LOO_TESTS]))
            for k in levels
            for blk in level_blocks[k]
        ]
        miss, var = (np.concatenate([x[i] for x in pairs] or [np.empty(0)]) for i in (0, 1))
        if miss.size < min_obs:
            continue
        if statistic == "sums":
            ratio = np.sqrt(np.sum(miss**2) / np.sum(var))
        else:
            ratio = np.sqrt(np.mean(miss**2 / var))
        factor = float(np.clip(ratio, 1 / MAX_SPREAD_FACTOR, MAX_SPREAD_FACTOR))
        for k in levels:
            p = params[k]
            out[k] = replace(p, sigma_b=p.sigma_b * factor, sigma_o=p.sigma_o * factor)
    return out


def loo_residuals(
    block: Block, p: CovParams, tests: np.ndarray | None = None, neighbours: int = LOO_NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out residuals of ``block``'s innovations under ``p`` and their predicted
    variances (both empty below two observations).

    Each observation of ``tests`` (indices; all when None) is predicted, as the analysis
    would, from its ``neighbours`` nearest others of the block. When the covariance is right
    the squared residuals are, on average, their variances.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> la, lo = rng.uniform(-20, 20, 300), rng.uniform(0, 40, 300)
    >>> from xdepthdif.grid.geo import unit_vectors
    >>> p = CovParams(1.0, 0.3, 1500.0, 250.0, 0.5)
    >>> blk = Block(unit_vectors(la, lo), la, np.zeros(300), np.ones(300), np.zeros(300),
    ...             np.zeros(300))
    >>> c = block_covariance(blk, p)
    >>> blk = Block(blk.xyz, la, np.linalg.cholesky(c) @ rng.standard_normal(300),
    ...             blk.count, blk.err_var, blk.g)
    >>> miss, var = loo_residuals(blk, p)
    >>> bool(0.8 < np.sum(miss**2) / np.sum(var) < 1.2)
    True
    """
    n = block.innov.size
    if n < 2:
        return np.empty(0), np.empty(0)
    tests = np.arange(n) if tests is None else np.asarray(tests)
    m = min(neighbours, n - 1)
    _, near = cKDTree(block.xyz).query(block.xyz[tests], k=m + 1)
    near = np.asarray(near).reshape(tests.size, m + 1)
    keep = near != tests[:, None]  # leave the observation itself out
    keep[keep.sum(1) > m, -1] = False
    others = near[keep].reshape(tests.size, m)
    pat = p.sigma_b * error_pattern(block.g, 1.0, p.gradient_weight)
    r = (p.sigma_o**2 + block.err_var) / block.count
    xyz, lat = block.xyz[others], block.lat[others]
    d2, dy2 = pair_distances(xyz, lat, xyz, lat)
    mean_lat = 0.5 * (lat[:, :, None] + lat[:, None, :])
    c = pat[others][:, :, None] * pat[others][:, None, :] * correlation(d2, dy2, mean_lat, p)
    c[:, np.arange(m), np.arange(m)] += r[others]
    d2, dy2 = pair_distances(block.xyz[tests][:, None], block.lat[tests][:, None], xyz, lat)
    mean_lat = 0.5 * (block.lat[tests][:, None, None] + lat[:, None, :])
    ci = pat[tests][:, None] * pat[others] * correlation(d2, dy2, mean_lat, p)[:, 0]
    try:
        w = np.linalg.solve(c, ci[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.empty(0), np.empty(0)
    miss = block.innov[tests] - (w * block.innov[others]).sum(1)
    var = pat[tests] ** 2 - (w * ci).sum(1) + r[tests]
    return miss, var


def block_covariance(block: Block, p: CovParams) -> np.ndarray:
    """The innovations' covariance ``H B Hᵀ + R`` of ``block`` under ``p``."""
    d2, dy2 = pair_distances(block.xyz, block.lat, block.xyz, block.lat)
    mean_lat = 0.5 * (block.lat[:, None] + block.lat[None, :])
    pat = error_pattern(block.g, 1.0, p.gradient_weight)
    c = p.sigma_b**2 * pat[:, None] * pat[None, :] * correlation(d2, dy2, mean_lat, p)
    c.flat[:: c.shape[0] + 1] += (p.sigma_o**2 + block.err_var) / block.count
    return c


@dataclass(frozen=True)
class LowerPairs:
    """A block's pairs of observations on and below the diagonal (row by row), with their
    distances: all that a lower Cholesky factorisation reads of a symmetric covariance, and
    half the exponentials of the whole matrix at every evaluation of the fit's likelihood
    (:mod:`~xdepthdif.analysis.oi_fit`). Each entry is computed as the fit computed it on the
    whole matrix, so the factor, and the fit, are bitwise those of the whole matrix. The
    matrix is held in LAPACK's column-major order, so the factorisation reads it without a
    copy (``scipy.linalg.cholesky`` factors a copy of it in that order, with the same
    routine)."""

    below: np.ndarray
    i: np.ndarray
    j: np.ndarray
    d2: np.ndarray
    dy2: np.ndarray
    mean_lat: np.ndarray
    diagonal: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, b: Block) -> LowerPairs:
        n = b.innov.size
        below = np.tri(n, dtype=bool)
        i, j = np.nonzero(below)
        d2, dy2 = pair_distances(b.xyz, b.lat, b.xyz, b.lat)
        mean_lat = 0.5 * (b.lat[i] + b.lat[j])
        return cls(below, i, j, d2[below], dy2[below], mean_lat, np.diag_indices(n))

    def shape(self, b: Block, p: CovParams) -> np.ndarray:
        """The covariance's shape (error pattern times correlation) on the pairs."""
        pat = error_pattern(b.g, 1.0, p.gradient_weight)
        return pat[self.i] * pat[self.j] * correlation(self.d2, self.dy2, self.mean_lat, p)

    def matrix(self, values: np.ndarray) -> np.ndarray:
        """A square matrix holding ``values`` on and below the diagonal, zeros above
        (column-major)."""
        out = np.zeros(self.below.shape, order="F")
        out[self.below] = values
        return out


def band_blocks(steps, levels, per_band, max_block, rng, per_step=1) -> list[Block]:
    """The likelihood's blocks of ``per_band`` levels among ``levels``: each level and time step
    gives its observations whole while one factorisation of them costs no more than
    ``per_step`` blocks of ``max_block`` (the exact likelihood, which sees every scale), else
    ``per_step`` of its :func:`compact_groups`, drawn at random."""
    counts = np.array([sum(0 if s[k] is None else s[k].innov.size for s in steps) for k in levels])
    if counts.size == 0 or counts.max() == 0:
        return []
    keep = levels[counts > 0]
    chosen = keep[np.round(np.linspace(0, keep.size - 1, min(per_band, keep.size))).astype(int)]
    whole = max_block * per_step ** (1 / 3)  # Cholesky costs grow as the cube
    blocks = []
    for s in steps:
        for k in chosen:
            blk = s[k]
            if blk is None:
                continue
            if blk.innov.size <= whole:
                blocks.append(blk)
                continue
            groups = compact_groups(blk.xyz, max_block)
            for g in rng.permutation(len(groups))[:per_step]:
                pick = groups[g]
                blocks.append(Block(*(getattr(blk, f)[pick] for f in Block.__dataclass_fields__)))
    return blocks


def compact_groups(xyz: np.ndarray, max_size: int) -> list[np.ndarray]:
    """Split points into spatially compact groups of at most ``max_size`` and nearly equal sizes:
    cut along the widest coordinate, in proportion to the groups each side needs, until every
    group fits.

    A block of the likelihood is then a neighbourhood: every observation has its nearest
    others beside it, so the mesoscale shows however many observations a level holds (a
    random subset of a dense level spreads them a basin apart), while the groups still span
    the basin scale wherever observations are sparse.

    Examples
    --------
    >>> xyz = np.random.default_rng(0).normal(size=(1000, 3))
    >>> groups = compact_groups(xyz, 200)
    >>> len(groups), max(g.size for g in groups), sum(g.size for g in groups)
    (5, 200, 1000)
    """
    todo, out = [np.arange(len(xyz))], []
    while todo:
        idx = todo.pop()
        if idx.size <= max_size:
            out.append(np.sort(idx))
            continue
        pts = xyz[idx]
        axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
        order = np.argsort(pts[:, axis], kind="stable")
        parts = -(-idx.size // max_size)
        cut = round(idx.size * (parts // 2) / parts)
        todo += [idx[order[:cut]], idx[order[cut:]]]
    return sorted(out, key=lambda g: int(g[0]))
