"""The xarray layer: validate → assign profiles to time steps → one lazy task per time step → CF.

Observations are small (a month of EN4 is a few MB) and are loaded and checked when
:func:`reconstruct` is called; the analysis itself is a dask graph with one task per target
time step, computed only when the user computes (``.compute()``, ``.to_netcdf()``,
``.to_zarr()``), on whatever scheduler is active.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping

import dask
import dask.array as da
import numpy as np
import xarray as xr

from . import cf
from .analysis.blas import one_blas_thread
from .analysis.diffusion import DiffusionConfig, check_levels
from .analysis.oi import OIConfig, oi_analysis
from .analysis.oi_fit import band_summary, fit_for_steps, fit_time_steps
from .array_library import check_installed
from .background import ClimatologySpec, resolve_background
from .errors import (
    EmptyObservationsError,
    EmptyTimeStepWarning,
    InputError,
    UnitsError,
)
from .grid.target import TargetGrid, discover_grid, ocean_array, surface_temperature
from .obs import tally, validate_profiles
from .obs.binning import SURFACE_DEPTH_M, bin_on_levels, locate_cells, with_surface_field
from .obs.units import celsius_offset
from .prior.checks import check_architecture, check_sampleable
from .prior.model import (
    check_torch,
    checkpoint_paths,
    resolve_model,
    verify,
)
from .prior.registry import DEFAULT_MODEL
from .screening import (
    count_rejections,
    profiles_on_land,
    warn_if_background_incomplete,
    warn_if_implausible,
)
from .timing import calendar_of, day_of_year, in_time_steps, to_days, window_bounds

METHODS = {"oi": OIConfig, "diffusion": DiffusionConfig}
_GUIDED_ONLY = ("cg_iters", "obs_error", "sst_error")  # no conditional model uses them


def reconstruct(
    target: xr.Dataset,
    obs: xr.Dataset,
    *,
    method: str = "oi",
    background: str | xr.DataArray = "climatology",
    window: str | None = None,
    keep_members: bool = False,
    array_library: str = "numpy",
    **options,
) -> xr.Dataset:
    """Analyse profiles ``obs`` onto the grid of ``target``, lazily, one time step per task.

    Parameters
    ----------
    target
        Dataset whose time, depth, latitude and longitude coordinates define the output grid
        (found with cf-xarray). A ``sea_binary_mask``/``land_binary_mask`` variable, or a surface
        temperature field, gives the land.
    obs
        Profiles in the profile layout (see :func:`xdepthdif.obs.validate_profiles`), e.g. from
        :func:`xdepthdif.obs.read_en4`.
    method
        ``"oi"``: optimal interpolation; ``"diffusion"``: an ensemble of a diffusion model
        (see :class:`xdepthdif.analysis.diffusion.DiffusionConfig`), drawn on the model's
        levels and native grid and mapped to the target's (see
        :func:`xdepthdif.analysis.native.diffusion_step`). Its model card says which kind it
        is: a guided prior (observations guide an unconditional prior) or a conditional model
        (fed the shipped climatology, the default OI of the time step and the binned
        observations; :mod:`xdepthdif.analysis.conditional`).
    background
        The first guess of ``method="oi"``: ``"climatology"`` (the shipped 1° climatology at
        each time step's day of year), ``"level_mean"`` (the mean of each level's
        observations), a DataArray (°C or K; on the target's grid or regridded to it; with the
        target's times, a ``month`` dimension, or no time), or a catalog entry
        ``CATALOG/ENTRY?key=value`` holding ``thetao``. See :mod:`xdepthdif.background`.
    window
        Which observations belong to a time step: the target's time bounds when it has them,
        else ``"month"`` (the calendar month); a duration such as ``"10D"`` centres a window on
        each time. Windows may overlap: a profile serves every time step whose window holds it.
    keep_members
        With ``method="diffusion"``, also return the ensemble members along a ``realization``
        dimension (``thetao_members``).
    array_library
        Where the heavy array work of each task runs (see :mod:`xdepthdif.array_library`):
        ``"numpy"`` (default), or ``"cupy"`` on the worker's GPU (``pip install
        'xdepthdif[gpu]'``): the OI's tile solves, and the depth interpolation and regridding
        of diffusion members, which then stay on the GPU torch drew them on. Results are
        numpy-backed either way and agree with numpy's to rounding (about 1e-13 °C).
    **options
        Parameters of the method, e.g. ``length_scale_km``, ``obs_error`` for OI
        (see :class:`xdepthdif.analysis.oi.OIConfig`); ``members``, ``steps``, ``seed``,
        ``model``, ``obs_error``, ``cg_iters``, ``device`` for diffusion.

    Returns
    -------
    xarray.Dataset
        ``thetao``, ``thetao_sd`` (°C) and ``obs_count`` on ``(time, depth, lat, lon)``,
        dask-backed with one time step per chunk, with CF attributes and the profile tally. For
        diffusion ``thetao`` is the ensemble mean and ``thetao_sd`` its spread.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {sorted(METHODS)}.")
    check_installed(array_library)
    config = _make_config(METHODS[method], options)
    if keep_members and not isinstance(config, DiffusionConfig):
        raise ValueError(
            f"keep_members=True needs an ensemble method ('diffusion'), not {method!r}."
        )
    grid = discover_grid(target)
    is_diffusion = isinstance(config, DiffusionConfig)
    if is_diffusion:
        if not (isinstance(background, str) and background == "climatology"):
            raise ValueError(
                "background is used by method='oi' only; a guided diffusion prior is its own "
                "first guess and a conditional model's is the shipped climatology it was "
                "trained on."
            )
        config, kind = _plan_diffusion(config, grid)
    else:
        try:
            config.check_levels(grid.depth.size)
        except ValueError as err:
            raise InputError(str(err)) from None
    profiles = validate_profiles(obs)
    counts = tally(profiles)

    calendar = calendar_of(grid.time)
    if grid.time_bounds is not None and window is None:
        window = "time_bnds"
        bounds = to_days(grid.time_bounds, calendar)
    else:
        window = window or "month"
        bounds = window_bounds(grid.time, calendar, window)
    inside = in_time_steps(
        profiles["time"].values, calendar_of(profiles["time"].values), bounds, calendar
    )
    step = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)  # the first, for the tally
    lat, lon = profiles["lat"].values, profiles["lon"].values
    iy, ix, on_grid = locate_cells(lat, lon, grid.lat, grid.lon)
    mask = ocean_array(target, grid)
    land = profiles_on_land(lat, lon, iy, ix, mask) & on_grid & (step >= 0)
    keep = (step >= 0) & on_grid & ~land
    count_rejections(counts, step, on_grid, land)
    used = keep[:, None] & inside  # (profile, time step)

    if not keep.any():
        rejected = ", ".join(
            f"{n} {k.removeprefix('rejected_').replace('_', ' ')}"
            for k, n in counts.items()
            if k.startswith("rejected_") and n
        )
        raise EmptyObservationsError(
            f"No profile is left to analyse: of {counts.get('profiles_read', len(step))} read, "
            f"{rejected or 'none rejected'} (the target: lat {grid.lat.min():g}.."
            f"{grid.lat.max():g}, lon {grid.lon.min():g}..{grid.lon.max():g}, "
            f"{_label(grid.time[0])} .. {_label(grid.time[-1])}). Check that observations and "
            "target cover the same region and period, and the profiles' positions, times and "
            "units."
        )
    empty = [str(t) for i, t in enumerate(grid.time) if not used[:, i].any()]
    if empty:
        warnings.warn(
            f"No observation in time step(s) {', '.join(empty)}: returned as "
            + (
                "unguided samples of the diffusion prior (of a conditional model: its samples "
                "without observations)."
                if isinstance(config, DiffusionConfig)
                else "the background (NaN with background='level_mean')."
            ),
            EmptyTimeStepWarning,
            stacklevel=3,
        )

    bg, bg_label = (None, None) if is_diffusion else resolve_background(background, grid)
    sst = _surface_array(target, grid)
    err = profiles["thetao_error"].values if "thetao_error" in profiles else None
    arrays = (lat, lon, profiles["depth"].values, profiles["thetao"].values, err)
    days = to_days(grid.time, calendar)
    doys = day_of_year(grid.time)
    if not is_diffusion:
        config = _fit_oi(config, arrays, used, grid, bg, doys)
    n_out = 3 + (config.members if keep_members else 0)
    # arrays every time step shares enter the graph once, not once per task
    shared_mask, shared_sst = (
        _shared(mask),
        _shared(sst if sst is not None and sst.ndim == 2 else None),
    )
    shared_bg = _shared(bg) if isinstance(bg, np.ndarray) and bg.ndim == 3 else None
    blocks = []
    for i in range(grid.time.size):
        sel = np.flatnonzero(used[:, i])
        subset = [None if a is None else a[sel] for a in arrays]
        bg_i = shared_bg if shared_bg is not None else _background_at(bg, i)
        sst_i = None if sst is None else (sst[i] if sst.ndim == 3 else shared_sst)
        step_info = (float(doys[i]), _time_key(days[i]), keep_members, _label(grid.time[i]))
        task = dask.delayed(_analyse_step, pure=True)(
            *subset, grid.depth, grid.lat, grid.lon, shared_mask, bg_i, config, step_info, sst_i,
            array_library,
        )  # fmt: skip
        blocks.append(da.from_delayed(task, shape=(n_out, *grid.shape[1:]), dtype=float))
    stacked = da.stack(blocks, axis=1)

    dims = (grid.time_name, grid.depth_name, grid.lat_name, grid.lon_name)
    ds = xr.Dataset(
        {
            "thetao": (dims, stacked[0]),
            "thetao_sd": (dims, stacked[1]),
            "obs_count": (dims, stacked[2].astype(np.int16)),
        },
        coords=cf.grid_coords(grid, bounds, calendar),
    )
    if keep_members:
        members = stacked[3:]
        ds["thetao_members"] = (("realization", *dims), members)
        # int32: netCDF classic and CF 1.8 have no 64-bit integers
        ds = ds.assign_coords(realization=np.arange(config.members, dtype=np.int32))
    if is_diffusion:  # the checkpoint by name and digest, never a path on this machine
        given = str(options.get("model", "default"))
        model_name = DEFAULT_MODEL if given == "default" else checkpoint_paths(given)[0].stem
        options = {**options, "model": model_name} if "model" in options else options
    attrs = {
        "xdepthdif_method": method,
        "call": {"method": method, "window": window, **options}
        | ({"keep_members": True} if keep_members else {}),
        **{f"profiles_{k}" if k.startswith("rejected_") else k: v for k, v in counts.items()},
        **{
            f"{method}_{f.name}": _attr(getattr(config, f.name))
            for f in dataclasses.fields(config)
            if f.name != "params"
            and not (is_diffusion and kind == "conditional" and f.name in _GUIDED_ONLY)
        },
        **(
            {}
            if is_diffusion
            else {
                "oi_background": bg_label,
                "oi_fitted_covariance": json.dumps(band_summary(config.params, grid.depth)),
            }
        ),
    }
    if is_diffusion:
        attrs["diffusion_model"] = model_name
        attrs["diffusion_model_kind"] = kind
    return cf.finalize(ds, grid, calendar, attrs)


def _analyse_step(
    lat,
    lon,
    depth,
    thetao,
    err,
    levels,
    grid_lat,
    grid_lon,
    mask,
    background,
    config,
    step=None,
    surface=None,
    array_library="numpy",
) -> np.ndarray:
    """One time step, numpy in and out: vertical interpolation, binning, analysis.

    ``step`` is ``(day of year, time key, keep members, time label)``; ``surface`` the
    target's surface temperature (°C) at this time, or None; ``background`` a field, None
    (level mean) or the shipped climatology's :class:`~xdepthdif.background.ClimatologySpec`;
    ``array_library`` where the analysis's kernels run.
    Output outside the range of sea water is warned about here, where it is computed. BLAS
    runs on one thread (:func:`~xdepthdif.analysis.blas.one_blas_thread`), so the bits do not
    depend on the scheduler.
    """
    with one_blas_thread():
        ocean = None if mask is None else np.asarray(mask, bool)
        if surface is not None and ocean is not None:  # a field filled over land is not data
            surface = np.where(ocean[0], np.asarray(surface, float), np.nan)
        binned = bin_on_levels(lat, lon, depth, thetao, err, levels, grid_lat, grid_lon)
        if isinstance(config, DiffusionConfig):
            from .analysis.native import diffusion_step  # torch is imported in the task only

            doy, time_key, keep, label = step
            mean, sd, members = diffusion_step(
                lat, lon, depth, thetao, err, levels, grid_lat, grid_lon, ocean, config, doy,
                time_key, surface, array_library,
            )  # fmt: skip
            warn_if_implausible(mean, levels, label)
            warn_if_implausible(np.moveaxis(members, 0, 1), levels, label, "ensemble member values")
            count = binned.count.astype(float)
            return np.concatenate([np.stack([mean, sd, count]), *([members] if keep else [])])
        if isinstance(background, ClimatologySpec):
            background = background.on_grid(step[0], levels, grid_lat, grid_lon)
        elif background is not None:  # the user's field
            label = step[3] if step else ""
            warn_if_background_incomplete(np.asarray(background, float), ocean, binned.count, label)
        guide = binned
        if surface is not None and levels[0] <= SURFACE_DEPTH_M:
            extra = max(config.sst_error**2 - config.params[0].sigma_o ** 2, 0.0)
            guide = with_surface_field(binned, surface, extra)
        mean, sd = oi_analysis(
            guide.mean,
            guide.count,
            guide.err_var,
            grid_lat,
            grid_lon,
            levels,
            ocean=ocean,
            background=background,
            config=config,
            array_library=array_library,
        )
        warn_if_implausible(mean, levels, step[3] if step else "")
        return np.stack([mean, sd, binned.count.astype(float)])


def _plan_diffusion(config: DiffusionConfig, grid: TargetGrid) -> tuple[DiffusionConfig, str]:
    """Resolve and verify the checkpoint now (no weights are parsed); tasks get path + sha256.
    Also returns the model's kind (``"guided-prior"`` or ``"conditional"``)."""
    check_torch()  # here, not in the first task on a worker
    weights = resolve_model(config.model)
    card = verify(weights)
    check_sampleable(card, str(checkpoint_paths(weights)[1]))
    check_architecture(card, str(checkpoint_paths(weights)[1]))
    check_levels(card.levels, grid.depth, f" {weights}")
    return dataclasses.replace(config, model=str(weights), sha256=card.sha256), card.kind


def _label(time) -> str:
    """A time step as people write it: ``2020-01-15T00:00:00`` (or the cftime's own text)."""
    return (
        str(np.datetime_as_string(time, unit="s")) if isinstance(time, np.datetime64) else str(time)
    )


def _time_key(days: float) -> int:
    """The time step's identity in seeds: whole seconds since 1950-01-01."""
    return round(float(days) * 86400.0)


def _make_config(cls, options: Mapping):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(options) - names
    if unknown:
        raise TypeError(
            f"Unknown option(s) {sorted(unknown)} for this method; valid options are "
            f"{sorted(names)}."
        )
    try:
        return cls(**options)
    except (ValueError, TypeError) as err:  # e.g. a string where a number belongs
        if isinstance(err, InputError):
            raise
        raise InputError(f"Invalid option for this method: {err}") from err


def _surface_array(target: xr.Dataset, grid: TargetGrid):
    """The target's surface temperature in °C as ``(time, lat, lon)`` or ``(lat, lon)``, or None."""
    sst = surface_temperature(target)
    if sst is None:
        return None
    try:
        offset = celsius_offset(sst.attrs.get("units"), name=str(sst.name))
    except UnitsError as err:
        raise UnitsError(f"The target's surface temperature: {err}") from None
    sst = sst + offset if offset else sst
    order = [d for d in (grid.time_name, grid.lat_name, grid.lon_name) if d in sst.dims]
    if set(sst.dims) != set(order) or order[-2:] != [grid.lat_name, grid.lon_name]:
        raise UnitsError(
            f"The surface temperature {sst.name!r} has dims {sst.dims}; it must lie on the "
            f"target's ({grid.lat_name}, {grid.lon_name}) grid, with or without "
            f"{grid.time_name!r}."
        )
    return sst.transpose(*order).data


def _shared(array):
    """A numpy array as one node of the graph that tasks refer to (dask arrays and None as
    they are)."""
    if isinstance(array, np.ndarray):
        return dask.delayed(array, pure=True)
    return array


def _background_at(bg, i: int):
    """Time step ``i``'s background: the climatology spec, None, or a slice of the array."""
    if bg is None or isinstance(bg, ClimatologySpec):
        return bg
    return bg[i] if bg.ndim == 4 else bg


def _fit_oi(config: OIConfig, arrays, used, grid: TargetGrid, bg, doys) -> OIConfig:
    """Fit the OI's covariance to ``config.fit_steps`` time steps or more (:func:`fit_time_steps`),
    now (eagerly), so the fitted parameters are known to every task and to the output's
    attributes. Only the observations and the first guess of the chosen time steps are read
    (a dask first guess is computed for those steps). ``used`` says which profiles serve which
    time step."""
    counts = used.sum(axis=0)
    chosen = fit_time_steps(counts, config.fit_steps)
    if chosen.size == 0:
        return config
    lat, lon, depth, thetao, err = arrays
    steps = []
    for i in chosen:
        sel = np.flatnonzero(used[:, i])
        binned = bin_on_levels(
            lat[sel], lon[sel], depth[sel], thetao[sel], None if err is None else err[sel],
            grid.depth, grid.lat, grid.lon,
        )  # fmt: skip
        b = _background_at(bg, i)
        if isinstance(b, ClimatologySpec):
            b = b.on_grid(float(doys[i]), grid.depth, grid.lat, grid.lon)
        elif b is not None:
            b = np.asarray(b)
        steps.append((binned.mean, binned.count, binned.err_var, b))
    params = fit_for_steps(steps, grid.depth, grid.lat, grid.lon, config)
    return dataclasses.replace(config, params=tuple(params))


def _attr(value):
    """A configuration value as a netCDF attribute (which has no booleans: 0 or 1)."""
    if isinstance(value, bool):
        return int(value)
    return "default" if value is None else json.dumps(value) if isinstance(value, tuple) else value
