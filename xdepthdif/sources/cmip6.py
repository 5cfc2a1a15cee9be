"""CMIP6 ``thetao`` to the CF form xdepthdif expects: ``thetao(time, depth, lat, lon)`` in °C.

CMIP6 models name their axes differently (``lev``, ``olevel``, ``deptht``, ``z_l``; ``lat``/
``lon``, ``latitude``/``longitude``, ``nav_lat``/``nav_lon``), CESM2 stores ``lev`` in
centimetres, some models store kelvin, and native ocean grids are often curvilinear (2-D
latitude/longitude). :func:`prepare_thetao` hides this, lazily.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset(
...     {"thetao": (("time", "lev", "lat", "lon"), np.full((1, 2, 3, 4), 283.15), {"units": "K"})},
...     coords={"time": ("time", np.array(["2000-01-16"], dtype="datetime64[ns]")),
...             "lev": ("lev", [500.0, 1500.0], {"units": "centimeters", "positive": "down"}),
...             "lat": ("lat", [-10.0, 0.0, 10.0]), "lon": ("lon", [0.0, 90.0, 180.0, 270.0])})
>>> out = prepare_thetao(ds)
>>> out.thetao.dims, out.depth.values.tolist(), float(out.thetao.max())
(('time', 'depth', 'lat', 'lon'), [5.0, 15.0], 10.0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import GridError, InputError
from ..grid.regrid import regrid
from ..obs.units import celsius_offset, depth_to_metres

__all__ = ["global_grid", "prepare_thetao"]

STANDARD_NAME = "sea_water_potential_temperature"
DEPTH_NAMES = ("lev", "olevel", "deptht", "depth", "z_l", "olev", "rho")
HORIZONTAL_NAMES = (("latitude", "longitude"), ("lat", "lon"), ("nav_lat", "nav_lon"))
_BOUNDS_DIMS = {"bnds", "bounds", "nbnd", "d2", "vertices", "nvertex", "axis_nbounds", "bnds_4"}

_DEPTH_ATTRS = {
    "standard_name": "depth",
    "long_name": "depth",
    "units": "m",
    "positive": "down",
    "axis": "Z",
}
_LAT_ATTRS = {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}
_LON_ATTRS = {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}


def global_grid(resolution: float) -> xr.Dataset:
    """A global rectilinear grid of cell centres spaced ``resolution`` degrees.

    Latitudes run from ``-90 + resolution/2``, longitudes from ``resolution/2``.

    >>> g = global_grid(30.0)
    >>> g.lat.values.tolist(), g.lon.values[:2].tolist()
    ([-75.0, -45.0, -15.0, 15.0, 45.0, 75.0], [15.0, 45.0])
    """
    res = float(resolution)
    if not np.isfinite(res) or res <= 0 or res > 90:
        raise InputError(
            f"resolution must be in degrees, 0 < resolution <= 90; got {resolution!r}."
        )
    lat = np.arange(-90.0 + res / 2, 90.0, res)
    lon = np.arange(res / 2, 360.0, res)
    return xr.Dataset(coords={"lat": ("lat", lat, _LAT_ATTRS), "lon": ("lon", lon, _LON_ATTRS)})


def _find_variable(ds: xr.Dataset) -> str:
    if "thetao" in ds.data_vars:
        return "thetao"
    names = [k for k, v in ds.data_vars.items() if v.attrs.get("standard_name") == STANDARD_NAME]
    if names:
        return str(names[0])
    raise InputError(
        f"No CMIP6 potential temperature found: no variable 'thetao' and none with "
        f"standard_name '{STANDARD_NAME}' (data variables: {list(ds.data_vars)}). Rename the "
        "variable to 'thetao' or set its standard_name."
    )


def _find_depth(da: xr.DataArray) -> str:
    for name in DEPTH_NAMES:
        if name in da.dims:
            return name
    zs = [d for d in da.dims if d in da.coords and da[d].attrs.get("axis") == "Z"]
    if zs:
        return str(zs[0])
    raise GridError(
        f"No vertical coordinate found among the dims {da.dims}; expected one of "
        f"{list(DEPTH_NAMES)} or a coordinate with axis='Z'. Rename it to 'lev' and give it units."
    )


def _find_horizontal(da: xr.DataArray) -> tuple[str, str]:
    lower = {str(n).lower(): str(n) for n in da.coords}
    for lat, lon in HORIZONTAL_NAMES:
        if lat in lower and lon in lower:
            return lower[lat], lower[lon]
    raise GridError(
        f"No latitude/longitude coordinates found (coordinates: {list(da.coords)}); expected "
        f"one of the pairs {HORIZONTAL_NAMES}. Rename them, or attach them with "
        "ds.set_coords([...]) if they are data variables."
    )


def _time_dim(da: xr.DataArray) -> str:
    if "time" in da.dims:
        return "time"
    ts = [d for d in da.dims if d in da.coords and da[d].attrs.get("axis") == "T"]
    if ts:
        return str(ts[0])
    raise GridError(
        f"thetao has no time dimension (dims {da.dims}); add one with ds.expand_dims(time=[...])."
    )


def _drop_bounds(da: xr.DataArray) -> xr.DataArray:
    drop = [c for c in da.coords if set(da[c].dims) & _BOUNDS_DIMS]
    drop += [c for c in da.coords if str(c).endswith(("_bnds", "_bounds")) and c not in drop]
    return da.drop_vars(drop)


def _horizontal(da: xr.DataArray) -> xr.DataArray:
    lat, lon = _find_horizontal(da)
    if da[lat].ndim == 1 and da[lon].ndim == 1:
        da = da.rename({da[lat].dims[0]: "lat", da[lon].dims[0]: "lon"})
        da = da.rename({k: v for k, v in ((lat, "lat"), (lon, "lon")) if k in da.coords and k != v})
    elif da[lat].ndim == 2 and da[lat].dims == da[lon].dims:
        if {"lat", "lon"} & set(da.dims):
            raise GridError(
                f"The curvilinear grid uses dims {da[lat].dims} named like its coordinates; "
                "rename the dims (e.g. to 'y', 'x') first."
            )
        da = da.rename({k: v for k, v in ((lat, "lat"), (lon, "lon")) if k != v})
    else:
        raise GridError(
            f"Latitude {lat!r} {da[lat].dims} and longitude {lon!r} {da[lon].dims} are neither "
            "both 1-D nor 2-D on the same two dims."
        )
    da["lat"].attrs = {**_LAT_ATTRS}
    da["lon"].attrs = {**_LON_ATTRS}
    return da


def _target_levels(levels: Sequence[float] | str | os.PathLike) -> np.ndarray:
    """Depths (m) given as numbers, or the levels of a diffusion model's card."""
    if isinstance(levels, str | os.PathLike):
        from ..prior.model import resolve_model, verify

        return np.asarray(verify(resolve_model(levels)).levels, float)
    out = np.asarray(levels, float).ravel()
    if out.size == 0 or not np.all(np.isfinite(out)) or np.any(np.diff(out) <= 0):
        raise InputError(f"levels must be increasing finite depths in metres; got {levels!r}.")
    return out


def _to_levels(da: xr.DataArray, levels: np.ndarray) -> xr.DataArray:
    """Linear interpolation in depth (lazy); above the top level its value, below the bottom NaN."""
    top = float(da["depth"].min())
    clipped = np.maximum(levels, top)
    if da.chunks:
        da = da.chunk({"depth": -1})
    out = da.interp(depth=clipped, kwargs={"fill_value": np.nan})
    return out.assign_coords(depth=("depth", levels, dict(_DEPTH_ATTRS)))


def prepare_thetao(
    ds: xr.Dataset,
    *,
    resolution: float | None = None,
    method: str = "auto",
    max_depth: float | None = None,
    levels: Sequence[float] | str | os.PathLike | None = None,
) -> xr.Dataset:
    """Turn a CMIP6-style ``thetao`` dataset into ``thetao(time, depth, lat, lon)`` in °C.

    Parameters
    ----------
    ds : xarray.Dataset
        A CMIP6 ``thetao`` file (or several, combined), possibly dask-backed: the variable
        ``thetao`` (or one with standard_name ``sea_water_potential_temperature``) in °C or K,
        a vertical axis named ``lev``, ``olevel``, ``deptht``, ``depth`` or ``z_l`` (units m
        or cm — CESM2 uses cm — positive down or up), and 1-D or 2-D horizontal coordinates
        ``latitude``/``longitude``, ``lat``/``lon`` or ``nav_lat``/``nav_lon``.
    resolution : float, optional
        If given, regrid with :func:`xdepthdif.grid.regrid.regrid` onto the global rectilinear grid
        of this spacing (degrees; see :func:`global_grid`). This is the form
        ``xdepthdif train --data`` reads. Without it the model grid is kept: a curvilinear grid
        stays curvilinear (2-D ``lat``/``lon``), which cannot be trained on yet.
    method : str
        Regridding method passed to :func:`~xdepthdif.grid.regrid.regrid` (``"auto"`` picks
        ``gaussian`` for curvilinear sources, ``conservative``/``bilinear`` otherwise).
    max_depth : float, optional
        Keep only the levels at or above this depth (metres).
    levels : sequence of float, or a model, optional
        Interpolate linearly in depth onto these depths (metres), or onto the levels of a
        diffusion model (``"default"``, or the path of a ``.safetensors`` checkpoint), so that
        the result is on the model's levels. Target depths above the shallowest model level
        take its value (the mixed layer); those below the deepest are NaN. Applied after
        ``max_depth``.

    Returns
    -------
    xarray.Dataset
        ``thetao`` (°C, standard_name ``sea_water_potential_temperature``) on dims
        ``(time, depth, lat, lon)`` — or ``(time, depth, <y>, <x>)`` with 2-D ``lat``/``lon``
        for a curvilinear grid without ``resolution`` — with CF coordinates and no bounds
        variables. Lazy if the input was.

    Raises
    ------
    InputError
        No ``thetao``, bad ``resolution`` or ``max_depth``.
    GridError
        Vertical, horizontal or time coordinates not found.
    UnitsError
        Temperature or depth units missing or unknown.

    Examples
    --------
    >>> out = prepare_thetao(xr.open_dataset("thetao_Omon_CESM2_historical.nc", chunks={}),
    ...                      resolution=1.0, max_depth=2000)  # doctest: +SKIP
    >>> out.to_netcdf("cesm2_1deg.nc")  # doctest: +SKIP

    and then ``xdepthdif train --data cesm2_1deg.nc``. On the default model's grid and levels
    (4°, 42 depths):

    >>> out = prepare_thetao(ds, resolution=4.0, levels="default")  # doctest: +SKIP
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"prepare_thetao needs an xarray.Dataset, not {type(ds).__name__}.")
    name = _find_variable(ds)
    da = ds[name]
    # 2-D lat/lon stored as data variables (some CMIP6 files) become coordinates
    extra = [n for pair in HORIZONTAL_NAMES for n in pair if n in ds.data_vars and n != name]
    if extra:
        da = da.assign_coords({n: ds[n] for n in extra if set(ds[n].dims) <= set(da.dims)})
    da = _drop_bounds(da)

    zdim = _find_depth(da)
    if zdim not in da.coords:
        raise GridError(f"The vertical dim {zdim!r} has no coordinate values; add them in metres.")
    depth = depth_to_metres(da[zdim].values, da[zdim].attrs, name=zdim)
    da = da.drop_vars(zdim).rename({zdim: "depth"}) if zdim != "depth" else da.drop_vars(zdim)
    da = da.assign_coords(depth=("depth", depth, dict(_DEPTH_ATTRS))).sortby("depth")
    depth = da["depth"].values  # top down, as the models and the regridding expect
    if max_depth is not None:
        if not np.isfinite(max_depth) or max_depth < depth.min():
            raise InputError(
                f"max_depth={max_depth!r} keeps no level (shallowest is {depth.min():g} m)."
            )
        da = da.isel(depth=np.flatnonzero(depth <= max_depth))
    if levels is not None:
        da = _to_levels(da, _target_levels(levels))

    tdim = _time_dim(da)
    if tdim != "time":
        da = da.rename({tdim: "time"})
    da = _horizontal(da)

    offset = celsius_offset(da.attrs.get("units"), name=name)
    attrs = {k: v for k, v in da.attrs.items() if k not in ("units", "_FillValue", "missing_value")}
    da = da + offset if offset else da
    da.attrs = {**attrs, "standard_name": STANDARD_NAME, "units": "degC"}
    da.attrs.setdefault("long_name", "Sea Water Potential Temperature")

    if resolution is not None:
        da = regrid(da, global_grid(resolution), method)
    if da["lat"].ndim == 1:
        da = da.transpose("time", "depth", "lat", "lon", ...)
    else:
        ydim, xdim = da["lat"].dims
        da = da.transpose("time", "depth", ydim, xdim, ...)
    keep = {k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float)}
    out = da.rename("thetao").to_dataset()
    out.attrs = {**keep, "Conventions": "CF-1.8"}
    out["time"].attrs.setdefault("standard_name", "time")
    out["time"].attrs.setdefault("axis", "T")
    return out
