"""One month of a conditional model's training pool, observed and analysed: the share of
columns drawn, the profiles binned, the OI fitted and run, the columns held out. The work that
:func:`xdepthdif.prior.conditional_data.build_pool` hands to other processes (a function of its
arguments only); :func:`fit_covariance` and :func:`analyse_oi` are also the conditional
sampler's."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

__all__ = [
    "POOL_KEYS",
    "PoolContext",
    "analyse_oi",
    "binned_profiles",
    "draw_share",
    "fit_covariance",
    "fit_one",
    "hold_out_columns",
    "observe_month",
    "satellite_sst",
]

POOL_KEYS = ("target", "first_guess", "oi_mean", "oi_sd", "obs", "count")
"""Per-sample ``(N, levels, H, W)`` arrays of a pool (``count`` int32, the others float32,
normalised, NaN off the sea; ``obs`` NaN where ``count`` is 0)."""
SST_ICE_C = -1.0
"""Surface temperature (°C) below which a pool's satellite SST is missing (sea ice)."""


def draw_share(rng: np.random.Generator, shares: tuple[float, float]) -> float:
    """A share of observed columns, log-uniform in ``shares``.

    Examples
    --------
    >>> s = draw_share(np.random.default_rng(0), (0.01, 0.2))
    >>> bool(0.01 <= s <= 0.2)
    True
    """
    lo, hi = (float(s) for s in shares)
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"shares must satisfy 0 < low <= high <= 1, got {shares!r}.")
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def hold_out_columns(
    count: np.ndarray, share: float, rng: np.random.Generator, min_keep: int = 1
) -> np.ndarray:
    """Bool ``(H, W)``: a ``share`` of the observed columns (any level observed), at random,
    held out; at least ``min_keep`` observed columns kept and, when there are two or more,
    at least one held.

    Examples
    --------
    >>> count = np.zeros((2, 3, 4), int); count[0, 0, :] = 1
    >>> held = hold_out_columns(count, 0.5, np.random.default_rng(0))
    >>> int(held.sum()), bool(held[1:].any())
    (2, False)
    """
    if not 0 <= share < 1:
        raise ValueError(f"the share held out must lie in [0, 1), got {share!r}.")
    cols = np.flatnonzero(np.asarray(count).sum(axis=0).ravel() > 0)
    k = round(share * cols.size)
    k = min(max(k, 1 if cols.size >= 2 and share > 0 else 0), max(cols.size - min_keep, 0))
    held = np.zeros(np.asarray(count).shape[1:], bool)
    held.ravel()[rng.choice(cols, size=k, replace=False)] = True
    return held


def _band(share: float, shares: tuple[float, float], bands: int) -> int:
    lo, hi = np.log(shares[0]), np.log(shares[1])
    return int(np.clip(np.floor((np.log(share) - lo) / max(hi - lo, 1e-12) * bands), 0, bands - 1))


@dataclasses.dataclass(frozen=True)
class PoolContext:
    """What every month of a pool is observed and analysed with (the arguments of
    :func:`~xdepthdif.prior.conditional_data.build_pool`)."""

    depth: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    cfg: Any
    shares: tuple[float, float]
    seed: int
    noise_sd: float
    fit: str
    fit_bands: int
    draws: int
    ambient: float | None
    sst: float | None
    sst_noise: float

    def draw(self, i: int, j: int) -> tuple[np.random.Generator, float]:
        """The generator of month ``i``'s draw ``j``, after it drew the share of columns."""
        rng = np.random.default_rng([self.seed, i] if j == 0 else [self.seed, i, j])
        return rng, draw_share(rng, self.shares)

    def observe(self, truth, i: int, j: int) -> tuple[np.random.Generator, float, Any]:
        """Month ``i``'s draw ``j`` of ``truth``: its generator (after the draws made here),
        share of columns and binned profiles."""
        rng, share = self.draw(i, j)
        seed = int(rng.integers(2**31))
        return rng, share, binned_profiles(truth, share, seed, self.noise_sd, self.depth,
                                           self.lat, self.lon)  # fmt: skip

    def band(self, share: float) -> int:
        """The band of shares whose fit a draw of ``share`` uses (``fit="band"``)."""
        return _band(share, self.shares, self.fit_bands)


def observe_month(ctx: PoolContext, i: int, truth, doy: float, fitted: dict) -> tuple:
    """Month ``i`` of a pool: its sea (truth and first guess finite) and one record per draw
    (the :data:`~xdepthdif.prior.conditional_data.POOL_KEYS` arrays, unnormalised, and the
    share and timings). A function of its arguments only, so that months can be built in other
    processes."""
    from ..background import ClimatologySpec

    depth, lat, lon, cfg = ctx.depth, ctx.lat, ctx.lon, ctx.cfg
    bg = ClimatologySpec.shipped().on_grid(doy, depth, lat, lon)
    ocean = np.isfinite(truth.values[0]) & np.isfinite(bg)
    samples = []
    for j in range(ctx.draws):
        rng, share, binned = ctx.observe(truth, i, j)
        if ctx.fit == "band":  # fitted before; the time counts where the band was fitted
            params, seconds, fitter = fitted[ctx.band(share)]
            fit_s = seconds if fitter == i * ctx.draws + j else 0.0
        else:
            t1 = time.perf_counter()
            params = fit_one(binned, bg, depth, lat, lon, cfg)
            fit_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        mean, sd = analyse_oi(binned.mean, binned.count, binned.err_var, bg, ocean, params,
                              (depth, lat, lon))  # fmt: skip
        t3 = time.perf_counter()
        obs = np.where(binned.count > 0, binned.mean, np.nan)
        arrays = (truth.values[0] - bg, np.zeros_like(bg), mean - bg, sd, obs - bg, binned.count)
        sample = dict(zip(POOL_KEYS, arrays, strict=True))
        if ctx.ambient is not None:
            held = hold_out_columns(binned.count, ctx.ambient, rng)
            kept = np.where(held[None], 0, binned.count)
            amb_mean, amb_sd = analyse_oi(np.where(kept > 0, binned.mean, np.nan), kept,
                                        binned.err_var, bg, ocean, params,
                                        (depth, lat, lon))  # fmt: skip
            sample |= {"held": held, "ambient_oi_mean": amb_mean - bg, "ambient_oi_sd": amb_sd}
        if ctx.sst is not None:  # its own generator: the other draws are those of a pool without
            sample["sst"] = satellite_sst(truth.values[0][0], bg[0], ctx.sst, ctx.sst_noise,
                                           np.random.default_rng([ctx.seed, i, j, 7]))  # fmt: skip
        sample |= {"share": share, "fit_s": fit_s, "oi_s": t3 - t2}
        samples.append(sample)
    return ocean, samples


def satellite_sst(top, bg_top, probability, noise, rng):
    """Anomaly of a satellite SST of the truth's ``top`` level about ``bg_top`` (NaN where
    missing: the whole field with ``1 - probability``, and sea ice)."""
    if rng.uniform() >= probability:
        return np.full_like(top, np.nan)
    sst = top + rng.normal(0.0, noise, top.shape)
    return np.where(sst >= SST_ICE_C, sst - bg_top, np.nan)


def binned_profiles(truth, share, seed, noise_sd, depth, lat, lon):
    """Profiles of ``truth`` binned on its grid as :func:`xdepthdif.reconstruct` bins them."""
    from ..evaluation.protocol import observe
    from ..obs.binning import bin_on_levels

    used, _ = observe(truth, share, seed=seed, noise_sd=noise_sd, withheld=0.0)
    arrays = (used[k].values for k in ("lat", "lon", "depth", "thetao", "thetao_error"))
    return bin_on_levels(*arrays, depth, lat, lon)


def fit_one(binned, bg, depth, lat, lon, cfg):
    """The OI's covariance as ``reconstruct``'s fit gives it for this one time step."""
    return fit_covariance(binned.mean, binned.count, binned.err_var, bg, depth, lat, lon, cfg)


def fit_covariance(mean, count, err_var, bg, depth, lat, lon, cfg):
    """``cfg`` with the OI covariance fitted to one time step's binned observations, as
    ``reconstruct``'s fit gives it (the pool's fit, and the conditional sampler's)."""
    import dataclasses

    from ..analysis.oi_fit import fit_for_steps

    params = fit_for_steps([(mean, count, err_var, bg)], depth, lat, lon, cfg)
    return dataclasses.replace(cfg, params=tuple(params))


def analyse_oi(mean, count, err_var, bg, ocean, cfg, axes):
    """The OI of one time step as ``reconstruct``'s task runs it (no surface field); also the
    conditional sampler's ``oi_mean`` and ``oi_sd``."""
    from ..analysis.oi import oi_analysis

    depth, lat, lon = axes
    return oi_analysis(mean, count, err_var, lat, lon, depth, ocean=ocean, background=bg,
                       config=cfg)  # fmt: skip
