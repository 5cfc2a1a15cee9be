"""Optimal interpolation of super-observations, one time step, bare numpy.

For each depth level the analysis is ``x_a = x_b + B_go (B_oo + R)⁻¹ (y − x_b)`` and its error
variance ``B_gg − B_go (B_oo + R)⁻¹ B_og``, with the two-scale, spatially varying background
covariance of :mod:`xdepthdif.analysis.covariance` and ``R`` the error of the super-observations
(``σ_o²/n`` plus the error the data carry). Its parameters come per depth band from
:func:`xdepthdif.analysis.oi_fit.fit_oi_params` (maximum likelihood on the innovations) unless
given.

The solve is local: each tile of ``tile × tile`` cells uses the ``max_obs`` observations
nearest to its centre (a k-d tree on the unit sphere: no longitude convention or dateline
matters), on the grid in a canonical order (latitudes ascending, longitudes ascending from the
largest gap), so the answer does not depend on the order of the grid's axes. Neighbour searches
and distances are computed once for the levels that observe nearly the same cells,
correlations once per depth band, and tiles are solved in groups sized by the observations
they use. With ``max_obs`` at least the number of observations, this is the exact dense OI.

Examples
--------
>>> import numpy as np
>>> lat, lon = np.array([0.0, 1.0, 2.0]), np.array([10.0, 11.0, 12.0, 13.0])
>>> obs = np.full((1, 3, 4), np.nan); obs[0, 1, 1] = 20.0; obs[0, 0, 3] = 18.0
>>> count = np.isfinite(obs).astype(int)
>>> params = [CovParams(sigma_b=1.0, sigma_o=0.2, large_km=1500.0, meso_km=200.0,
...                     meso_share=0.5)]
>>> mean, sd = oi_analysis(obs, count, np.full(obs.shape, np.nan), lat, lon,
...                        depth=np.array([5.0]), background=np.full(obs.shape, 19.0),
...                        params=params)
>>> bool(abs(mean[0, 1, 1] - 20.0) < 0.2), bool(sd[0, 1, 1] < sd[0, 2, 0] <= 1.0)
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
from scipy.spatial import cKDTree

from ..array_library import namespace, to_library, to_numpy
from ..grid.geo import km_to_chord, unit_vectors
from .canonical import canonical_axes
from .covariance import (
    CovParams,
    correlation,
    error_pattern,
    gradient_magnitude,
    gradient_reference,
    pair_distances,
)
from .first_guess import level_mean_background
from .innovations import SPREAD_STATISTICS, innovation_blocks
from .oi_fit import fit_with_config
from .oi_kernel import gather, grid_tiles, solve_tile_group

GROUP = 256
"""Tiles solved together in one batched call."""
REUSE = 0.8
"""Share of a neighbour cache's observed cells a level must observe to reuse it."""

_FIXED = {
    "length_scale_km": "large_km",
    "meso_scale_km": "meso_km",
    "meso_share": "meso_share",
    "obs_error": "sigma_o",
    "background_error": "sigma_b",
    "gradient_weight": "gradient_weight",
}


@dataclass(frozen=True)
class OIConfig:
    """Parameters of the optimal interpolation.

    The covariance parameters (the first six) are fitted per depth band to the innovations
    (:func:`xdepthdif.analysis.oi_fit.fit_oi_params`) unless given: one value, or one per
    level.

    Parameters
    ----------
    length_scale_km
        Basin-scale Gaussian length scale ``L`` (km).
    meso_scale_km
        Mesoscale length scale ``ℓ`` (km); never more than ``L/2``.
    meso_share
        Share ``μ`` of the background error variance at the mesoscale (0–1).
    obs_error
        Error standard deviation (°C) of one profile value, instrument and representativeness
        together; added in quadrature to ``thetao_error`` when the data carry it. A cell holding
        ``n`` profiles gets the error variance of their mean.
    background_error
        Background error standard deviation (°C), the mean over the ocean of a level.
    gradient_weight
        ``β``: how much larger the background error is where the first guess has strong
        vertical or horizontal gradients (0: uniform).
    equatorial_stretch
        Zonal stretch of both scales at the equator (1: isotropic; Argo climatologies use
        2–4), decaying with an e-folding latitude of ``stretch_width_deg``.
    stretch_width_deg
        See ``equatorial_stretch``.
    max_obs
        Observations used per tile.
    tile
        Tile side, in grid cells.
    search_radius
        Radius, in basin length scales, within which observations are searched (None: any).
    sst_error
        Error standard deviation (°C) of the target's surface temperature field, if any: one
        observation in each top-level cell without a profile (a top level within 20 m).
    fit_steps
        Time steps (evenly spread) whose innovations the fit uses; more while they hold fewer
        than 400 profiles in all.
    spread_statistic
        What the fit's spread calibration makes one: ``"sums"`` (the spread-skill ratio) or
        ``"mean_z2"`` (:func:`~xdepthdif.analysis.innovations.calibrate_spread`).
    white_margin
        Standard errors by which a band's correlation must improve the prediction of left-out
        observations to be kept (:func:`~xdepthdif.analysis.oi_fit.predicts_left_out`).
    params
        Each level's covariance as :func:`xdepthdif.reconstruct`'s fit resolved it (not an option).
    """

    length_scale_km: float | tuple[float, ...] | None = None
    meso_scale_km: float | tuple[float, ...] | None = None
    meso_share: float | tuple[float, ...] | None = None
    obs_error: float | tuple[float, ...] | None = None
    background_error: float | tuple[float, ...] | None = None
    gradient_weight: float | tuple[float, ...] | None = None
    equatorial_stretch: float = 1.0
    stretch_width_deg: float = 8.0
    max_obs: int = 64
    tile: int = 6
    search_radius: float | None = 3.0
    sst_error: float = 0.5
    fit_steps: int = 4
    spread_statistic: str = "sums"
    white_margin: float = 1.0
    params: tuple[CovParams, ...] | None = None

    def __post_init__(self) -> None:
        zero_ok = ("meso_share", "gradient_weight", "white_margin")
        for name in (*_FIXED, "equatorial_stretch", "stretch_width_deg", "sst_error", zero_ok[2]):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, float)
            low_ok = arr >= 0 if name in zero_ok else arr > 0
            if not (np.isfinite(arr).all() and low_ok.all()):
                raise ValueError(
                    f"OI option {name}={value!r} must be finite and "
                    + ("non-negative" if name in zero_ok else "positive")
                    + ("" if name not in _FIXED else "; leave it out to fit it from the data.")
                )
        if self.meso_share is not None and (np.asarray(self.meso_share, float) > 1).any():
            raise ValueError(f"meso_share must lie in 0..1, got {self.meso_share!r}.")
        if self.equatorial_stretch < 1:
            raise ValueError("equatorial_stretch must be at least 1 (1: isotropic).")
        if self.spread_statistic not in SPREAD_STATISTICS:
            raise ValueError(f"spread_statistic must be one of {SPREAD_STATISTICS}.")
        for name in ("max_obs", "tile", "fit_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"OI option {name}={value!r} must be a whole number, at least 1.")
        if self.search_radius is not None and not (
            math.isfinite(self.search_radius) and self.search_radius > 0
        ):
            raise ValueError(
                f"search_radius must be positive (in length scales) or None, got "
                f"{self.search_radius!r}."
            )

    def check_levels(self, n: int) -> None:
        """Refuse a per-level option with other than one value or one per level (``n``)."""
        for name in _FIXED:  # np.size(None) is 1
            if (size := np.size(getattr(self, name))) not in (1, n):
                raise ValueError(f"OI option {name} has {size} values for {n} levels: give one "
                                 "value, or one per level of the target.")  # fmt: skip

    def fixed(self) -> dict:
        """The covariance parameters given by the user, by :class:`CovParams` field name."""
        return {_FIXED[k]: getattr(self, k) for k in _FIXED if getattr(self, k) is not None}


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
    *,
    params: Sequence[CovParams] | None = None,
    gradient: np.ndarray | None = None,
    array_library: str = "numpy",
) -> tuple[np.ndarray, np.ndarray]:
    """Analysis and its error standard deviation on a ``(level, lat, lon)`` grid.

    Parameters
    ----------
    obs_mean, obs_count, obs_err_var
        Super-observations (see :func:`xdepthdif.obs.bin_profiles`): mean, number and mean
        squared error given with the data (NaN when none) of the values in each cell.
    lat, lon, depth
        The grid's 1-D axes (degrees, metres), in any order and longitude convention.
    ocean
        Sea mask, ``(level, lat, lon)`` or ``(lat, lon)``; land is NaN in the result.
    background
        First guess (°C) on the grid; None for the mean of the observations of each level
        (the crude first guess, kept for comparison).
    config
        :class:`OIConfig`; its ``params``, or else ``params``, else a fit to the innovations of
        this time step (:func:`xdepthdif.analysis.oi_fit.fit_oi_params`) give the covariance.
    params
        One :class:`~xdepthdif.analysis.covariance.CovParams` per level.
    gradient
        The background's gradient magnitude (:func:`~xdepthdif.analysis.covariance.
        gradient_magnitude`) when already computed.
    array_library
        Where the tiles' covariances are evaluated and solved
        (:func:`~xdepthdif.analysis.oi_kernel.solve_tile_group`): ``"numpy"``, ``"cupy"`` (the
        current CUDA device) or ``"array_api_strict"`` (see :mod:`xdepthdif.array_library`).
        Inputs and results are numpy whichever it is.
    """
    xp = namespace(array_library)
    nz, ny, nx = obs_mean.shape
    order_y, order_x, inv_y, inv_x, lat_c, lon_c = canonical_axes(lat, lon)

    def canon(a):
        return None if a is None else np.asarray(a)[..., order_y, :][..., order_x]

    obs_mean, obs_count, obs_err_var = canon(obs_mean), canon(obs_count), canon(obs_err_var)
    ocean = np.ones((nz, ny, nx), bool) if ocean is None else canon(ocean)
    ocean = np.broadcast_to(ocean, (nz, ny, nx))
    has = (obs_count > 0) & np.isfinite(obs_mean)
    if background is None:
        background = level_mean_background(obs_mean, has)
    bg = canon(background).astype(float)
    grad = canon(gradient) if gradient is not None else gradient_magnitude(bg, depth, lat_c, lon_c)
    reference = gradient_reference(grad, np.isfinite(bg))
    cfg = config or OIConfig()
    params = params or cfg.params
    if params is None:  # the gradient's pattern as the analysis has it, fitted to this step
        blocks = innovation_blocks(obs_mean, obs_count, obs_err_var, bg, grad, reference,
                                   lat_c, lon_c)  # fmt: skip
        params = fit_with_config([blocks], depth, cfg)
    if len(params) != nz:
        raise ValueError(f"Got covariance parameters for {len(params)} levels, not {nz}.")

    grid_lat = np.broadcast_to(lat_c[:, None], (ny, nx)).ravel()
    grid_xyz = unit_vectors(*np.meshgrid(lat_c, lon_c, indexing="ij")).reshape(-1, 3)
    present = (has & np.isfinite(bg)).reshape(nz, -1)
    radius = [_radius(cfg.search_radius, p) for p in params]
    stretched = any(p.stretch != 1.0 for p in params)
    tiles = grid_tiles(ny, nx, cfg.tile)
    cache = None
    mean = np.full((nz, ny, nx), np.nan)
    sd = np.full((nz, ny, nx), np.nan)
    for k in range(nz):
        if not np.isfinite(bg[k]).any():
            continue
        p = params[k]
        pattern = error_pattern(grad[k], reference[k], p.gradient_weight).ravel()
        level_cells = np.flatnonzero(present[k])
        if cache is None or not cache.serves(level_cells):
            cache = _Neighbours(
                grid_xyz, grid_lat, level_cells, tiles, cfg.max_obs, max(radius), stretched, xp
            )
        cells = cache.cells
        here = present[k][cells]
        err = np.where(np.isfinite(obs_err_var[k]), obs_err_var[k], 0.0).ravel()[cells]
        n = np.where(here, obs_count[k].ravel()[cells], 1)
        r = np.where(here, (p.sigma_o**2 + err) / n, 1.0)
        innov = np.where(here, obs_mean[k].ravel()[cells] - bg[k].ravel()[cells], 0.0)
        on = [to_library(xp, a) for a in (innov, r, pattern)]
        incr, var = cache.solve(here, *on, p, radius[k])
        mean[k] = bg[k] + to_numpy(incr).reshape(ny, nx)
        sd[k] = np.sqrt(np.maximum(to_numpy(var), 0.0)).reshape(ny, nx)
    mean = np.maximum(mean, freezing_point(depth)[:, None, None])
    mean[~ocean] = np.nan
    sd[~ocean] = np.nan
    return mean[:, inv_y][:, :, inv_x], sd[:, inv_y][:, :, inv_x]


def freezing_point(depth: np.ndarray) -> np.ndarray:
    """Freezing point (°C, potential temperature) of sea water of salinity 35 at each depth,
    the floor of every analysis (salter water freezes colder, so this floor never cuts a
    physically possible value by more than a few hundredths)."""
    import gsw

    p = gsw.p_from_z(-np.asarray(depth, float), 0.0)
    sa = np.full(p.shape, 35.16504)
    return gsw.pt0_from_t(sa, gsw.t_freezing(sa, p, 0.0), p)


def _radius(search_radius: float | None, p: CovParams) -> float:
    """The search radius of a level as a chord (inf: no limit)."""
    return np.inf if search_radius is None else km_to_chord(search_radius * p.large_km)


@dataclass
class _Group:
    """Tiles solved together: ``rows`` of the tile table, each tile's ``tiles`` (grid cells,
    −1 for padding) and the positions ``gi`` in the observed cells of its nearest observations,
    ``gu`` whether each is one, ``gd`` its distance beyond the tile's reach (all numpy on the
    host); ``cells``/``obs`` the same indices (padding at 0) and ``geometry`` the float32 inputs
    of :func:`correlation`, in the kernels' array library."""

    rows: np.ndarray
    tiles: np.ndarray
    gi: np.ndarray
    gu: np.ndarray
    gd: np.ndarray
    cells: Any
    obs: Any
    geometry: tuple


class _Neighbours:
    """Each tile's nearest observed cells, their distances and (per covariance shape) their
    correlations, computed once for the levels that observe (nearly) the same cells.

    A level observing a subset of ``cells`` that holds at least :data:`REUSE` of them (most
    levels of profile data: deeper levels lose the columns that end on the shelf) uses those it
    observes, within its own search radius, among each tile's ``max_obs`` nearest (searched
    within the largest radius ``upper``). Tiles are solved in groups of :data:`GROUP`, padded
    to the largest number of observations a tile of the group uses. The search is numpy on the
    host; the indices and distances each group needs are copied once to namespace ``xp``, where
    :meth:`solve` runs.
    """

    def __init__(self, grid_xyz, grid_lat, cells, tiles, max_obs, upper, stretched, xp=None):
        self.xp = namespace("numpy") if xp is None else xp
        self.cells = cells
        self.tiles, self.n_grid, self.groups = tiles, grid_xyz.shape[0], []
        self._corr: dict = {}
        n = cells.size
        if n == 0:
            return
        self._cells = to_library(self.xp, cells)
        valid = tiles >= 0
        obs_xyz, obs_lat = grid_xyz[cells], grid_lat[cells]
        safe = np.where(valid, tiles, 0)
        tile_xyz = grid_xyz[safe]
        centre = (tile_xyz * valid[..., None]).sum(1)
        centre /= np.linalg.norm(centre, axis=1, keepdims=True)
        reach = np.where(valid, np.linalg.norm(tile_xyz - centre[:, None], axis=-1), 0).max(1)
        k = min(max_obs, n)
        dist, idx = cKDTree(obs_xyz).query(centre, k=k, distance_upper_bound=upper + reach.max())
        idx, dist = np.asarray(idx).reshape(len(tiles), k), np.asarray(dist).reshape(len(tiles), k)
        used = (idx < n) & (dist <= upper + reach[:, None])
        counts = used.sum(1)
        by_count = np.argsort(counts, kind="stable")
        for start in range(0, len(tiles), GROUP):
            rows = by_count[start : start + GROUP]
            m = int(counts[rows].max())
            if m == 0:
                continue
            # used entries first, so the first m columns hold every used observation
            first = np.argsort(~used[rows], axis=1, kind="stable")[:, :m]
            gu = np.take_along_axis(used[rows], first, 1)
            gi = np.where(gu, np.take_along_axis(idx[rows], first, 1), 0)
            gd = np.take_along_axis(dist[rows], first, 1) - reach[rows, None]
            oxyz, olat = obs_xyz[gi], obs_lat[gi]
            txyz, tlat = tile_xyz[rows], grid_lat[safe[rows]]
            geometry = (
                _geometry(oxyz, olat, oxyz, olat, stretched),
                _geometry(txyz, tlat, oxyz, olat, stretched),
            )
            on = self._on_device
            self.groups.append(
                _Group(rows, tiles[rows], gi, gu, gd, on(safe[rows]), on(gi), on(geometry))
            )

    def _on_device(self, a):
        """Host arrays (nested in tuples, None kept) in the kernels' namespace."""
        if isinstance(a, tuple):
            return tuple(self._on_device(b) for b in a)
        return None if a is None else to_library(self.xp, a)

    def serves(self, level_cells: np.ndarray) -> bool:
        """Whether a level observing ``level_cells`` can use these neighbours."""
        if level_cells.size < REUSE * self.cells.size:
            return False
        return bool(np.isin(level_cells, self.cells, assume_unique=True).all())

    def _correlations(self, p: CovParams) -> list:
        """Each group's (obs–obs, grid–obs) correlations for the shape of ``p``, cached."""
        key = (p.large_km, p.meso_km, p.meso_share, p.stretch, p.stretch_width_deg)
        if key not in self._corr:
            self._corr = {
                key: [
                    (correlation(*g.geometry[0], p), correlation(*g.geometry[1], p))
                    for g in self.groups
                ]
            }
        return self._corr[key]

    def solve(self, here, innov, r, pattern, p: CovParams, radius: float):
        """Increment and error variance on the flat grid for one level: ``here`` (numpy) marks
        the observed cells this level observes, ``innov`` and ``r`` their innovations and error
        variances (any value elsewhere), ``pattern`` the error pattern on the grid; these three
        and the results are arrays of the namespace given at construction."""
        xp = self.xp
        var_g = (p.sigma_b * pattern) ** 2
        zeros = xp.zeros(self.n_grid, dtype=xp.float64, device=array_api_compat.device(pattern))
        if not here.any():
            return zeros, var_g
        obs_pattern = xp.take(pattern, self._cells)
        # results are gathered at the end from [defaults, tile values...] by position
        incr_parts, var_parts, offset = [zeros], [var_g], self.n_grid
        where = np.arange(self.n_grid)
        for g, (corr_oo, corr_go) in zip(self.groups, self._correlations(p), strict=True):
            use = g.gu & here[g.gi] & (g.gd <= radius)
            if not use.any():
                continue
            t_incr, t_var = solve_tile_group(
                corr_oo,
                corr_go,
                gather(obs_pattern, g.obs),
                gather(pattern, g.cells),
                gather(r, g.obs),
                gather(innov, g.obs),
                to_library(xp, use, like=pattern),
                gather(var_g, g.cells),
                p.sigma_b,
            )
            incr_parts.append(xp.reshape(t_incr, (-1,)))
            var_parts.append(xp.reshape(t_var, (-1,)))
            ok = g.tiles >= 0
            where[g.tiles[ok]] = offset + np.flatnonzero(ok)
            offset += g.tiles.size
        where = to_library(xp, where, like=pattern)
        return xp.take(xp.concat(incr_parts), where), xp.take(xp.concat(var_parts), where)


def _geometry(xyz_a, lat_a, xyz_b, lat_b, stretched: bool):
    """What :func:`correlation` needs, in float32: squared distances and, when any level is
    stretched, their meridional part and the pairs' mean latitude."""
    d2, dy2 = pair_distances(xyz_a, lat_a, xyz_b, lat_b)
    if not stretched:
        return d2.astype(np.float32), None, None
    mean_lat = 0.5 * (lat_a[..., :, None] + lat_b[..., None, :])
    return d2.astype(np.float32), dy2.astype(np.float32), mean_lat.astype(np.float32)
