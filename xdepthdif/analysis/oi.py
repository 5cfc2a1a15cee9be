"""Optimal interpolation of super-observations, one time step, bare numpy.

For each depth level the analysis is ``x_a = x_b + B_go (B_oo + R)⁻¹ (y − x_b)`` with a
Gaussian background covariance ``B(d) = σ_b² exp(−d² / 2L²)`` on great-circle distance ``d``,
and the analysis error variance is ``σ_b² − B_go (B_oo + R)⁻¹ B_og``.

The solve is local: the grid is cut into tiles of ``tile × tile`` cells, and each tile uses the
``max_obs`` observations nearest to its centre within ``search_radius`` length scales (found with
a k-d tree on the unit sphere, so longitude conventions and the dateline do not matter). The cost
therefore grows with the number of observations near each tile, not with the grid squared; with
``max_obs`` at least the number of observations and no radius, the result is the exact dense OI.

The default length scale rises from 300 km at the surface to 400 km below 2000 m, the range of
scales used by the Met Office EN objective analyses (Ingleby and Huddleston 2007, J. Mar. Sys.).

Examples
--------
>>> import numpy as np
>>> lat, lon = np.array([0.0, 1.0, 2.0]), np.array([10.0, 11.0, 12.0, 13.0])
>>> obs = np.full((1, 3, 4), np.nan); obs[0, 1, 1] = 20.0; obs[0, 0, 3] = 18.0
>>> count = np.isfinite(obs).astype(int)
>>> mean, sd = oi_analysis(obs, count, np.full(obs.shape, np.nan), lat, lon, depth=np.array([5.0]))
>>> bool(abs(mean[0, 1, 1] - 20.0) < 0.2), bool(sd[0, 1, 1] < sd[0, 2, 0])
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..grid.geo import chord_to_km, km_to_chord, unit_vectors


def default_length_scale_km(depth: np.ndarray) -> np.ndarray:
    """Horizontal length scale (km) by depth (m): 300 km at the surface, 400 km below 2000 m."""
    return 300.0 + 100.0 * np.clip(np.asarray(depth, float) / 2000.0, 0.0, 1.0)


@dataclass(frozen=True)
class OIConfig:
    """Parameters of the optimal interpolation.

    Parameters
    ----------
    length_scale_km
        Gaussian length scale: one value, one per level, or None for
        :func:`default_length_scale_km`.
    obs_error
        Error standard deviation (°C) of one profile value, instrument and representativeness
        together; added in quadrature to ``thetao_error`` when the data carry it. A cell holding
        ``n`` profiles gets the error variance of their mean.
    background_error
        Background error standard deviation (°C): one value, one per level, or None to estimate
        it per level from the innovations (their variance minus the mean observation error).
    max_obs
        Observations used per tile.
    tile
        Tile side, in grid cells.
    search_radius
        Radius, in length scales, within which observations are searched; None for no limit.
    sst_error
        Error standard deviation (°C) of the target's surface temperature field, when it has
        one, as an observation of the top level (used when that level lies within
        20 m of the surface): each top-level cell without a profile gets one observation of it.
        Values below ``obs_error`` count as ``obs_error``.
    """

    length_scale_km: float | tuple[float, ...] | None = None
    obs_error: float = 0.25
    background_error: float | tuple[float, ...] | None = None
    max_obs: int = 48
    tile: int = 4
    search_radius: float | None = 4.0
    sst_error: float = 0.5

    def __post_init__(self) -> None:
        if self.obs_error <= 0:
            raise ValueError(f"obs_error must be positive (°C), got {self.obs_error}.")
        if self.max_obs < 1 or self.tile < 1:
            raise ValueError("max_obs and tile must be at least 1.")

    def length_scales(self, depth: np.ndarray) -> np.ndarray:
        """Length scale (km) for each level."""
        if self.length_scale_km is None:
            return default_length_scale_km(depth)
        return np.broadcast_to(np.asarray(self.length_scale_km, float), np.shape(depth)).copy()


def estimate_background_variance(innov: np.ndarray, r: np.ndarray, min_obs: int = 5) -> float:
    """σ_b² from innovations: their mean square minus the mean observation error variance,
    floored at a tenth of the mean square. NaN when fewer than ``min_obs`` observations."""
    if innov.size < min_obs:
        return np.nan
    ms = float(np.mean(innov**2))
    return max(ms - float(np.mean(r)), 0.1 * ms, 1e-6)


def oi_analysis(
    obs_mean: np.ndarray,
    obs_count: np.ndarray,
    obs_err_var: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    depth: np.ndarray,
    ocean: np.ndarray | None = None,
    background: np.ndarray | None = None,
    config: OIConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Analysis and its error standard deviation on a ``(level, lat, lon)`` grid.

    ``obs_mean``, ``obs_count`` and ``obs_err_var`` are super-observations (see
    :func:`xdepthdif.obs.bin_profiles`). ``background`` is a field on the grid (°C) or None for
    the mean of the observations of each level. Levels with no observation and no background are
    NaN; land (``~ocean``) is NaN.
    """
    cfg = config or OIConfig()
    nz, ny, nx = obs_mean.shape
    ocean = np.ones((nz, ny, nx), bool) if ocean is None else np.broadcast_to(ocean, obs_mean.shape)
    grid_xyz = unit_vectors(*np.meshgrid(lat, lon, indexing="ij"))
    scales = cfg.length_scales(depth)
    fixed_sd = cfg.background_error
    fixed_var = None if fixed_sd is None else np.broadcast_to(np.square(fixed_sd), (nz,))

    has = (obs_count > 0) & np.isfinite(obs_mean)
    bg = np.full((nz, ny, nx), np.nan)
    innovs, rs, var_b = [], [], np.full(nz, np.nan)
    for k in range(nz):
        if background is not None:
            bg[k] = background[k]
        elif has[k].any():
            bg[k] = obs_mean[k][has[k]].mean()
        sel = has[k] & np.isfinite(bg[k])
        err = np.where(np.isfinite(obs_err_var[k]), obs_err_var[k], 0.0)
        r = (cfg.obs_error**2 + err[sel]) / obs_count[k][sel]
        innovs.append(obs_mean[k][sel] - bg[k][sel])
        rs.append(r)
        var_b[k] = (
            fixed_var[k] if fixed_var is not None else estimate_background_variance(innovs[k], r)
        )
    var_b = _fill_from_nearest(var_b)

    mean = np.full((nz, ny, nx), np.nan)
    sd = np.full((nz, ny, nx), np.nan)
    for k in range(nz):
        if not np.isfinite(bg[k]).any():
            continue
        sel = has[k] & np.isfinite(bg[k])
        incr, var = _solve_level(
            grid_xyz, grid_xyz[sel], innovs[k], rs[k], var_b[k], scales[k], cfg
        )
        mean[k] = bg[k] + incr
        sd[k] = np.sqrt(np.maximum(var, 0.0))
    land = ~ocean
    mean[land] = np.nan
    sd[land] = np.nan
    return mean, sd


def _fill_from_nearest(values: np.ndarray) -> np.ndarray:
    """Fill NaN entries from the nearest finite level (1.0 °C² when none is finite)."""
    ok = np.flatnonzero(np.isfinite(values))
    if ok.size == 0:
        return np.ones_like(values)
    idx = np.arange(values.size)
    nearest = ok[np.abs(idx[:, None] - ok[None, :]).argmin(axis=1)]
    return values[nearest]


def _tiles(ny: int, nx: int, t: int) -> np.ndarray:
    """Flat grid indices of each tile, ``(n_tiles, t*t)``, padded with −1."""
    ty, tx = -(-ny // t), -(-nx // t)
    y = np.arange(ty * t).reshape(ty, 1, t, 1)
    x = np.arange(tx * t).reshape(1, tx, 1, t)
    flat = np.where((y < ny) & (x < nx), y * nx + x, -1)
    return flat.reshape(ty * tx, t * t)


def _solve_level(grid_xyz, obs_xyz, innov, r, var_b, scale_km, cfg: OIConfig):
    ny, nx = grid_xyz.shape[:2]
    n = obs_xyz.shape[0]
    if n == 0:
        return np.zeros((ny, nx)), np.full((ny, nx), var_b)
    pts = grid_xyz.reshape(-1, 3)
    tiles = _tiles(ny, nx, cfg.tile)
    valid = tiles >= 0
    tile_pts = pts[np.where(valid, tiles, 0)]  # (T, m, 3)
    centre = (tile_pts * valid[..., None]).sum(1)
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    reach = np.where(valid, np.linalg.norm(tile_pts - centre[:, None], axis=-1), 0).max(1)
    k = min(cfg.max_obs, n)
    upper = np.inf if cfg.search_radius is None else km_to_chord(cfg.search_radius * scale_km)
    dist, idx = cKDTree(obs_xyz).query(centre, k=k, distance_upper_bound=upper + reach.max())
    idx = np.asarray(idx).reshape(len(tiles), k)
    dist = np.asarray(dist).reshape(len(tiles), k)
    used = (idx < n) & (dist <= upper + reach[:, None])
    idx = np.where(used, idx, 0)

    def cov(a, b):
        chord2 = np.maximum(2.0 - 2.0 * np.matmul(a, np.swapaxes(b, 1, 2)), 0.0)
        d = chord_to_km(np.sqrt(chord2))
        return var_b * np.exp(-0.5 * (d / scale_km) ** 2)

    oxyz = obs_xyz[idx]  # (T, k, 3)
    pair = used[:, :, None] & used[:, None, :]
    a = np.where(pair, cov(oxyz, oxyz), 0.0)
    a[:, np.arange(k), np.arange(k)] += np.where(used, r[idx], 1.0)  # padding: unit diagonal
    c_go = np.where(used[:, None, :], cov(tile_pts, oxyz), 0.0)  # (T, m, k)
    d = np.where(used, innov[idx], 0.0)
    rhs = np.concatenate([d[:, :, None], np.swapaxes(c_go, 1, 2)], axis=2)
    sol = np.linalg.solve(a, rhs)
    incr = np.einsum("tmk,tk->tm", c_go, sol[:, :, 0])
    var = var_b - np.einsum("tmk,tkm->tm", c_go, sol[:, :, 1:])
    out_incr = np.zeros(ny * nx)
    out_var = np.zeros(ny * nx)
    out_incr[tiles[valid]] = incr[valid]
    out_var[tiles[valid]] = var[valid]
    return out_incr.reshape(ny, nx), out_var.reshape(ny, nx)
