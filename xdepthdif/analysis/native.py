"""From profiles on any target grid to a diffusion ensemble and back: one time step, numpy in
and numpy out (members optionally on the GPU, as CuPy arrays, until they are on the target
grid with their mean and spread).

The prior runs on its own depth levels and on a grid of its native spacing (:func:`native_grid`).
:func:`diffusion_step` bins the profiles there, draws the ensemble with
:func:`xdepthdif.analysis.diffusion.diffusion_analysis` (a guided prior) or
:func:`xdepthdif.analysis.conditional.conditional_analysis` (a conditional model), then
interpolates the members in depth (:func:`interpolate_levels`) and regrids them to the target
(on finer targets, a conditional model's residuals about its OI, with the target's own OI:
:mod:`xdepthdif.analysis.downscale`).
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np
from array_api_compat import array_namespace

from ..array_library import to_library, to_numpy
from ..screening import clip_members
from .canonical import canonical_order
from .conditional import conditional_analysis
from .diffusion import DiffusionConfig, _same_axis, diffusion_analysis, load_denoiser
from .downscale import about_oi, downscaled_spread_for, residuals, scaled_spread, target_oi


def _spacing(axis: np.ndarray) -> float:
    """Median cell spacing (degrees) of a latitude or longitude axis (wrapping at 360°)."""
    if axis.size < 2:
        return float("nan")
    return float(np.median(np.abs((np.diff(axis) + 180.0) % 360.0 - 180.0)))


def native_grid(lat: np.ndarray, lon: np.ndarray, resolution: float):
    """The horizontal grid the model runs on for a target with axes ``lat``, ``lon``.

    The target's own grid when its spacings in latitude and in longitude are within 25 % of
    the model's native ``resolution`` (degrees), else a grid of the native spacing covering
    the target's region (see :func:`xdepthdif.grid.rectilinear.native_axes`).
    """
    from ..grid.axes import native_axes

    ratios = np.array([_spacing(lat), _spacing(lon)]) / resolution
    if np.all(np.isnan(ratios) | ((ratios >= 0.8) & (ratios <= 1.25))):
        return np.asarray(lat, float), np.asarray(lon, float)
    return native_axes(np.asarray(lat, float), np.asarray(lon, float), resolution)


def interpolate_levels(field: Any, model_levels, levels) -> Any:
    """Interpolate ``field`` (levels on axis -3) linearly in depth to ``levels`` (m).

    Levels above the first model level take its value; levels below the last are NaN, and so
    is a level one of whose two neighbouring model levels is NaN there. ``field`` may be an
    array of any array API library (e.g. CuPy members on the GPU): the result is float64 of
    the same library, on the same device.

    Examples
    --------
    >>> column = np.array([20.0, 10.0, 4.0])[:, None, None]
    >>> interpolate_levels(column, [0.0, 100.0, 1000.0], [0.0, 50.0, 550.0, 2000.0]).ravel()
    array([20., 15.,  7., nan])
    """
    model_levels = np.asarray(model_levels, float)
    if isinstance(field, np.ndarray) or not array_api_compat.is_array_api_obj(field):
        field = np.asarray(field, float)
    xp = array_namespace(field)
    field = xp.astype(field, xp.float64, copy=False)
    shape = (*field.shape[:-3], 1, *field.shape[-2:])
    missing = xp.full(shape, xp.nan, dtype=xp.float64, device=array_api_compat.device(field))
    out = []
    for z in np.asarray(levels, float):
        k = int(np.searchsorted(model_levels, z))
        if z <= model_levels[0]:
            out.append(field[..., :1, :, :])
        elif abs(z - model_levels[min(k, model_levels.size - 1)]) <= 0.01:
            j = min(k, model_levels.size - 1)
            out.append(field[..., j : j + 1, :, :])
        elif k < model_levels.size:
            f = float((z - model_levels[k - 1]) / (model_levels[k] - model_levels[k - 1]))
            out.append((1 - f) * field[..., k - 1 : k, :, :] + f * field[..., k : k + 1, :, :])
        else:
            out.append(missing)
    return xp.concat(out, axis=-3) if out else missing[..., :0, :, :]


def grid_order(lat, lon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The order in which a grid is sampled: latitude ascending, longitude ascending from its
    widest gap (across the dateline among equal gaps, so a global grid runs from −180°), and
    the longitudes in −180..180 in that order.

    Members are drawn in this order whatever the target's, so that the answer does not depend
    on the order or longitude convention of its axes.

    Examples
    --------
    >>> oy, ox, lon = grid_order([4.0, 0.0], [350.0, 10.0, 0.0])
    >>> oy.tolist(), ox.tolist(), lon.tolist()
    ([1, 0], [0, 2, 1], [-10.0, 0.0, 10.0])
    >>> grid_order([0.0], [0.5, 120.5, 240.5])[1].tolist()  # global: from the dateline on
    [2, 0, 1]
    """
    oy, ox = canonical_order(lat, lon, from_dateline=True)
    return oy, ox, (np.mod(np.asarray(lon, float) + 180.0, 360.0) - 180.0)[ox]


def diffusion_step(
    lat: np.ndarray,
    lon: np.ndarray,
    depth: np.ndarray,
    thetao: np.ndarray,
    err: np.ndarray | None,
    levels: np.ndarray,
    grid_lat: np.ndarray,
    grid_lon: np.ndarray,
    ocean: np.ndarray | None,
    config: DiffusionConfig,
    doy: float,
    time_key: Any,
    surface: np.ndarray | None = None,
    array_library: str = "numpy",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One time step from profiles to the target grid, whatever the model's grid.

    The ensemble is drawn on the model's levels and on :func:`native_grid` of the target:
    profiles are interpolated to the model's levels and binned on that grid, the target's sea
    mask is carried over (a native cell is sea where at least half of it is sea in the target,
    at the nearest target level). The members are then interpolated linearly in depth to the
    target's levels and regridded horizontally (bilinear onto finer targets, conservative onto
    coarser ones); target sea cells the native grid counts as land take the nearest native
    value. When the target's grid and levels are the model's, this is
    :func:`diffusion_analysis` on the binned profiles. On a finer target, a conditional model
    of the OI's residual (``config.downscale``, the default) has its residuals carried instead,
    about the default OI of the target's own grid (:mod:`~xdepthdif.analysis.downscale`).

    Parameters
    ----------
    lat, lon, depth, thetao, err
        Profiles in the profile layout as arrays: ``(profile,)`` positions, ``(profile,
        level)`` depths (m), temperatures (°C) and optional error standard deviations.
    levels, grid_lat, grid_lon
        The target's depth levels (m) and cell centres (degrees).
    ocean
        Boolean ``(level, lat, lon)`` or ``(lat, lon)`` sea mask of the target, or None.
    config, doy, time_key
        As for :func:`diffusion_analysis`.
    surface
        The target's surface temperature (°C, ``(lat, lon)``) or None: regridded to the
        model's grid and, for a guided prior, added as observations of its top level
        (:func:`xdepthdif.obs.binning.with_surface_field`, error ``config.sst_error``); a
        conditional model takes it as an input channel when it was trained with one.
    array_library
        Where the members are interpolated in depth, regridded, filled near the coast and
        averaged (see :mod:`xdepthdif.array_library`): ``"cupy"`` keeps them on the GPU torch
        drew them on until the mean and spread are made (only one member's holes
        leave it, for the neighbour search); the results are numpy whichever it is.

    Returns
    -------
    mean, sd, members
        On the target grid, as for :func:`diffusion_analysis`; the same whatever the order
        of the target's axes and its longitude convention (drawn in :func:`grid_order`).
    """
    oy, ox, ordered_lon = grid_order(grid_lat, grid_lon)
    iy, ix = np.argsort(oy), np.argsort(ox)

    def order(a: Any) -> Any:
        return None if a is None else np.asarray(a)[..., oy, :][..., ox]

    grid = np.asarray(grid_lat, float)[oy], ordered_lon
    mean, sd, members = _ordered_step(
        lat, lon, depth, thetao, err, levels, *grid, order(ocean), config, doy, time_key,
        order(surface), array_library,
    )  # fmt: skip
    if np.array_equal(oy, np.arange(oy.size)) and np.array_equal(ox, np.arange(ox.size)):
        return mean, sd, members  # given in that order: no copy of a large ensemble
    return tuple(a[..., iy, :][..., ix] for a in (mean, sd, members))


def _ordered_step(
    lat,
    lon,
    depth,
    thetao,
    err,
    levels,
    grid_lat,
    grid_lon,
    ocean,
    config,
    doy,
    time_key,
    surface,
    array_library,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`diffusion_step` on a grid in :func:`grid_order`."""
    from ..grid.rectilinear import Regridder
    from ..obs.binning import SURFACE_DEPTH_M, bin_on_levels, with_surface_field

    card = load_denoiser(config.model, config.sha256, config.device).card
    model_levels = np.asarray(card.levels, float)
    levels = np.asarray(levels, float)
    grid_lat, grid_lon = np.asarray(grid_lat, float), np.asarray(grid_lon, float)
    nlat, nlon = native_grid(grid_lat, grid_lon, float(card.native_resolution_deg))
    same_levels = _same_axis(model_levels, levels, 0.01)
    same_grid = _same_axis(nlat, grid_lat, 1e-6) and _same_axis(nlon, grid_lon, 1e-6)
    nz, ny, nx = levels.size, grid_lat.size, grid_lon.size
    sea = np.ones((nz, ny, nx), bool) if ocean is None else np.asarray(ocean, bool)
    sea = np.broadcast_to(sea, (nz, ny, nx))

    binned = bin_on_levels(lat, lon, depth, thetao, err, model_levels, nlat, nlon)
    nearest = np.abs(levels[None, :] - model_levels[:, None]).argmin(axis=1)
    native_sea = sea[nearest]
    to_native = None
    if not same_grid:  # a native cell is what the part of it inside the target holds
        conservative = Regridder.conservative(grid_lat, grid_lon, nlat, nlon)

        def to_native(f: np.ndarray) -> np.ndarray:
            return conservative(f, min_weight=1e-9)  # edge cells reach beyond the target

        native_sea = np.nan_to_num(to_native(native_sea.astype(float))) >= 0.5
    field = None
    if surface is not None:
        field = np.asarray(surface, float) if to_native is None else to_native(surface)
    # bilinear onto smaller cells than the model's, conservative onto larger ones
    cell, native_cell = (_spacing(a) * _spacing(b) for a, b in ((grid_lat, grid_lon), (nlat, nlon)))
    finer = not same_grid and cell < native_cell
    r = None  # a conditional OI-residual model's residuals, carried to a finer target
    if card.kind == "conditional":  # the surface field is an input channel, if anything
        downscale = finer and config.downscale and card.conditioning.get("target") == "oi_residual"
        mean, sd, members, *oi = conditional_analysis(
            binned.mean, binned.count, binned.err_var, nlat, nlon, model_levels, doy,
            native_sea, config, time_key, array_library, field, with_oi=downscale,
        )  # fmt: skip
        r = residuals(members, *oi) if downscale else None
    else:
        if field is not None and model_levels[0] <= SURFACE_DEPTH_M:
            extra = max(config.sst_error**2 - config.obs_error**2, 0.0)
            binned = with_surface_field(binned, field, extra)
        mean, sd, members = diffusion_analysis(
            binned.mean, binned.count, binned.err_var, nlat, nlon, model_levels, doy,
            native_sea, config, time_key, array_library,
        )  # fmt: skip
    if same_levels and same_grid:
        return to_numpy(mean), to_numpy(sd), to_numpy(members)
    if not same_levels:
        members = interpolate_levels(members, model_levels, levels)
        r = None if r is None else interpolate_levels(r, model_levels, levels)
    back = None
    if not same_grid:
        back = (Regridder.bilinear if finer else Regridder.conservative)(
            nlat, nlon, grid_lat, grid_lon
        )
    if r is None:
        return members_on_target(members, sea, grid_lat, grid_lon, back)
    # the target's OI before the ensemble is on the target's grid: their peaks do not add up
    oi, oi_sd, share = target_oi(lat, lon, depth, thetao, err, levels, grid_lat, grid_lon, sea, doy)
    r = to_numpy(on_target(r, sea, grid_lat, grid_lon, back))
    factor = downscaled_spread_for(card.normalisation, math.sqrt(cell), share)
    if factor is not None:  # fitted on a grid like the target's (xdepthdif calibrate)
        factor = interpolate_levels(factor[:, None, None], model_levels, levels)[:, 0, 0]
        r = scaled_spread(r, np.nan_to_num(factor, nan=1.0))
    # the shipped climatology has a value everywhere, so the target's OI has one on all its sea
    members = about_oi(r, oi, oi_sd)
    del r
    if config.clip:
        members = clip_members(members, levels)
    return members.mean(axis=0), members.std(axis=0, ddof=1), members


def members_on_target(
    members: Any, sea: np.ndarray, lat: np.ndarray, lon: np.ndarray, regridder: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Members on the target (:func:`on_target`) with their mean and spread; all on the
    members' device, then numpy.

    Examples
    --------
    >>> members = np.stack([np.full((1, 2, 2), 1.0), np.full((1, 2, 2), 3.0)])
    >>> sea = np.array([[[True, True], [True, False]]])
    >>> mean, sd, _ = members_on_target(members, sea, np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    >>> mean[0].tolist(), float(sd[0, 0, 0])
    ([[2.0, 2.0], [2.0, nan]], 1.4142135623730951)
    """
    members = on_target(members, sea, lat, lon, regridder)
    xp = array_namespace(members)
    mean, sd = xp.mean(members, axis=0), xp.std(members, axis=0, correction=1)
    return to_numpy(mean), to_numpy(sd), to_numpy(members)


def on_target(
    members: Any, sea: np.ndarray, lat: np.ndarray, lon: np.ndarray, regridder: Any = None
) -> Any:
    """Members ``(member, level, lat, lon)`` on the target's levels, regridded by
    ``regridder`` when given (target cells it leaves NaN in ``sea`` take the nearest value:
    :func:`~xdepthdif.grid.fill.fill_from_nearest`), NaN off ``sea``; on the members' device.

    Examples
    --------
    >>> members = np.ones((2, 1, 2, 2))  # two members, one level, 2 × 2 cells
    >>> sea = np.array([[[True, True], [True, False]]])
    >>> on_target(members, sea, np.array([0.0, 1.0]), np.array([0.0, 1.0]))[1, 0].tolist()
    [[1.0, 1.0], [1.0, nan]]
    """
    from ..grid.fill import fill_from_nearest

    if regridder is not None:
        members = regridder(members)  # on the members' device, and so is the rest
        members = fill_from_nearest(members, sea, lat, lon)
    if regridder is not None and isinstance(members, np.ndarray):
        members[:, ~sea] = np.nan  # the fill's own new array: no copy of a large ensemble
        return members
    xp = array_namespace(members)
    return xp.where(to_library(xp, sea, like=members), members, xp.nan)
