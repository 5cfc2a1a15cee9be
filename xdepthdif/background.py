"""First guesses: the shipped climatology on any grid, and what ``reconstruct(background=...)``
accepts.

``background`` may be

- ``"climatology"`` (the default): the shipped 1° climatology (:mod:`xdepthdif.sources.atlas`)
  at each time step's day of year, on the target's levels and cells, computed inside each task;
- ``"level_mean"``: one number per level, the mean of the time step's observations (the crude
  first guess of earlier versions, kept for comparison);
- a DataArray (°C or K): on the target's grid or any other rectilinear grid (regridded), with a
  ``time`` dimension matching the target's times, a ``month`` dimension (1–12) or neither;
- a catalog entry ``CATALOG/ENTRY?key=value`` whose data hold ``thetao`` (e.g. EN4 analyses).

Examples
--------
>>> import numpy as np, xarray as xr
>>> clim = climatology(time=np.array(["2020-01-15", "2020-07-15"], dtype="datetime64[ns]"),
...                    depth=[10.0, 1000.0], lat=[-60.5, 0.5, 40.5], lon=[200.5])
>>> clim.dims, clim.shape
(('time', 'depth', 'lat', 'lon'), (2, 2, 3, 1))
>>> bool(clim.isel(depth=0, lat=1).min() > 25.0), bool(clim.isel(depth=0, lat=0).max() < 8.0)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np
import xarray as xr

from .analysis.first_guess import atlas_on_grid
from .errors import GridError, UnitsError
from .grid.target import TargetGrid, discover_grid, ocean_array
from .obs.units import celsius_offset, decode_time, depth_to_metres
from .sources.atlas import atlas_path, atlas_sha256, read_atlas
from .timing import calendar_of, day_of_year

NAMES = ("climatology", "level_mean")


@dataclass(frozen=True)
class ClimatologySpec:
    """What a task needs to compute the shipped climatology: the file and its hash."""

    path: str
    sha256: str

    @classmethod
    def shipped(cls) -> ClimatologySpec:
        """The climatology that ships with the package."""
        return cls(str(atlas_path()), atlas_sha256())

    def on_grid(self, doy, depth, lat, lon, ocean=None) -> np.ndarray:
        return atlas_on_grid(read_atlas(self.path), doy, depth, lat, lon, ocean)


def climatology(
    target: xr.Dataset | xr.DataArray | None = None,
    *,
    time=None,
    depth=None,
    lat=None,
    lon=None,
) -> xr.DataArray:
    """The shipped climatology of potential temperature on a grid, lazily, one chunk per time.

    Parameters
    ----------
    target
        A dataset or data array whose time, depth, latitude and longitude (found with
        cf-xarray) give the grid; or give the axes:
    time, depth, lat, lon
        Times (datetime64, cftime, datetimes, pandas timestamps or ISO 8601 strings; the day
        of year is what counts), depths (m, positive down),
        latitudes and longitudes (degrees, any convention and order).

    Returns
    -------
    xarray.DataArray
        ``thetao(time, depth, lat, lon)`` in °C. On a target with a land/sea mask (as
        ``reconstruct`` finds it), NaN on the target's land and on its sea the very first guess
        of ``background="climatology"``; otherwise NaN where the climatology's ETOPO5 sea
        fraction on the grid is below one half (land, below the sea floor).
    """
    sea = None
    if target is not None:
        if isinstance(target, xr.DataArray):
            target = target.to_dataset(name=target.name or "field")
        grid = discover_grid(target)
        time, depth, lat, lon = grid.time, grid.depth, grid.lat, grid.lon
        names = (grid.time_name, grid.depth_name, grid.lat_name, grid.lon_name)
        sea = ocean_array(target, grid)
    else:
        if any(a is None for a in (time, depth, lat, lon)):
            raise TypeError("Give a target dataset, or all of time, depth, lat and lon.")
        names = ("time", "depth", "lat", "lon")
    time = decode_time(np.atleast_1d(np.asarray(time)), {})  # datetimes, strings, cftime
    depth, lat, lon = (np.atleast_1d(np.asarray(a, float)) for a in (depth, lat, lon))
    for name, values, ok, want in (
        ("depth", depth, depth >= 0, "m below the surface (positive down)"),
        ("lat", lat, np.abs(lat) <= 90, "degrees within ±90"),
        ("lon", lon, np.abs(lon) <= 360, "degrees within ±360"),
    ):
        if (bad := ~(np.isfinite(values) & ok)).any():
            raise GridError(f"climatology: {name} must be {want}; got {values[bad][:3].tolist()}.")
    spec = ClimatologySpec.shipped()
    sea = _sea_mask(depth, lat, lon) if sea is None else sea
    doys = day_of_year(time)
    blocks = [
        da.from_delayed(
            _delayed_step(spec, float(d), depth, lat, lon, sea),
            shape=(depth.size, lat.size, lon.size),
            dtype=float,
        )
        for d in doys
    ]
    out = xr.DataArray(
        da.stack(blocks),
        dims=names,
        coords={names[0]: time, names[1]: depth, names[2]: lat, names[3]: lon},
        name="thetao",
        attrs={
            "standard_name": "sea_water_potential_temperature",
            "units": "degC",
            "source": "xdepthdif shipped climatology (make climatology)",
            "climatology_sha256": spec.sha256,
        },
    )
    return out


def _delayed_step(spec, doy, depth, lat, lon, sea):
    import dask

    def step(spec, doy, depth, lat, lon, sea):
        sea = np.asarray(sea, bool)
        return np.where(sea, spec.on_grid(doy, depth, lat, lon, sea), np.nan)

    return dask.delayed(step, pure=True)(spec, doy, depth, lat, lon, sea)


def _sea_mask(depth, lat, lon) -> np.ndarray:
    """The atlas's sea fraction on the grid (cell averages, linear in depth) ≥ 0.5."""
    from .analysis.first_guess import choose_regridder, vertical
    from .sources.atlas import open_atlas

    ds = open_atlas()
    frac = np.asarray(ds["sea_area_fraction"].values, float)
    frac = vertical(frac, ds["depth"].values, depth)
    return choose_regridder(ds["lat"].values, ds["lon"].values, lat, lon)(frac) >= 0.5


def resolve_background(background, grid: TargetGrid):
    """What the tasks get for ``background``: a :class:`ClimatologySpec`, None (level mean) or
    a ``(time, depth, lat, lon)``/``(depth, lat, lon)`` (dask) array on the grid, and a label
    for the output's attributes."""
    if isinstance(background, str):
        if background == "climatology":
            spec = ClimatologySpec.shipped()
            return spec, f"climatology (xdepthdif shipped, sha256 {spec.sha256[:12]})"
        if background == "level_mean":
            return None, "level_mean"
        from .batch.inputs import from_catalog

        data = from_catalog(background)
        if data is None or "thetao" not in data:
            raise ValueError(
                f"background={background!r} is neither {' nor '.join(map(repr, NAMES))} nor a "
                "catalog entry CATALOG/ENTRY?key=value whose data hold 'thetao'."
            )
        return _on_grid(data["thetao"], grid), f"catalog entry {background}"
    if isinstance(background, xr.DataArray):
        return _on_grid(background, grid), f"DataArray {background.name or ''}".strip()
    raise TypeError(
        f"background must be 'climatology', 'level_mean', a catalog entry or an "
        f"xarray.DataArray, not {type(background).__name__}."
    )


def _on_grid(field: xr.DataArray, grid: TargetGrid):
    offset = celsius_offset(field.attrs.get("units"), name="background")
    field = field + offset if offset else field
    field = _match_time(field, grid)
    names = {"depth": grid.depth_name, "lat": grid.lat_name, "lon": grid.lon_name}
    try:
        src = discover_grid_like(field, names)
    except UnitsError as err:
        raise UnitsError(f"Cannot find depth/lat/lon axes on the background: {err}") from err
    field = _depth_in_metres(field, src["depth_name"])
    src["depth"] = field[src["depth_name"]].values
    same = (
        src["depth"].size == grid.depth.size
        and np.allclose(src["depth"], grid.depth)
        and src["lat"].size == grid.lat.size
        and np.allclose(src["lat"], grid.lat)
        and src["lon"].size == grid.lon.size
        and np.allclose(np.mod(src["lon"], 360), np.mod(grid.lon, 360))
    )
    if not same:
        from .grid.regrid import regrid

        target = xr.Dataset(coords={grid.lat_name: grid.lat, grid.lon_name: grid.lon})
        target[grid.lat_name].attrs["units"] = "degrees_north"
        target[grid.lon_name].attrs["units"] = "degrees_east"
        field = regrid(field, target)
        field = field.interp({src["depth_name"]: grid.depth}, kwargs={"fill_value": None})
    field = (
        field.rename({src["depth_name"]: names["depth"]})
        if src["depth_name"] != names["depth"]
        else field
    )
    order = [d for d in ("time", names["depth"], names["lat"], names["lon"]) if d in field.dims]
    if order[-3:] != [names["depth"], names["lat"], names["lon"]]:
        raise UnitsError(
            f"The background has dims {field.dims}; it must have depth, latitude and longitude "
            "axes (and optionally time or month)."
        )
    return field.transpose(*order).data


def _depth_in_metres(field: xr.DataArray, name: str) -> xr.DataArray:
    """``field`` with its depth axis ``name`` in metres, positive down and increasing (from its
    ``units`` and ``positive``; metres when it has no units)."""
    axis = field[name]
    try:
        depth = depth_to_metres(axis.values, {"units": "m", **axis.attrs}, name=name)
    except UnitsError as err:
        raise UnitsError(f"In the background: {err}") from None
    attrs = {**axis.attrs, "units": "m", "positive": "down"}
    return field.assign_coords({name: (axis.dims, depth, attrs)}).sortby(name)


def discover_grid_like(field: xr.DataArray, preferred: dict) -> dict:
    """Depth, latitude and longitude axes of a field, by name and values: the target's own
    names when the field has them, else found with cf-xarray."""
    ds = field.to_dataset(name="_v") if field.name is None else field.to_dataset()
    out = {}
    for key, axis in (("depth", "Z"), ("lat", "Y"), ("lon", "X")):
        names = [preferred[key]] if preferred[key] in field.dims else []
        names = (
            names
            or ds.cf.axes.get(axis, [])
            or ds.cf.coordinates.get(
                {"depth": "vertical", "lat": "latitude", "lon": "longitude"}[key], []
            )
        )
        if not names:
            raise UnitsError(f"no {key} axis")
        out[key], out[f"{key}_name"] = np.asarray(ds[names[0]].values, float), names[0]
    return out


def _match_time(field: xr.DataArray, grid: TargetGrid) -> xr.DataArray:
    """Select, for each target time, the background's month or time (or keep a static field)."""
    times = grid.time
    if "month" in field.dims:
        months = np.array(
            [
                int(str(np.datetime_as_string(np.datetime64(t, "D")))[5:7])
                if np.issubdtype(np.asarray(times).dtype, np.datetime64)
                else int(t.month)
                for t in times
            ]
        )
        out = field.sel(month=xr.DataArray(months, dims="time"))
        return out.drop_vars("month", errors="ignore")
    tname = next((d for d in field.dims if d == "time" or d == grid.time_name), None)
    if tname is None:
        return field
    src = field[tname].values
    picked = []
    for t in times:
        hit = np.flatnonzero(src == t)
        if hit.size == 0:
            raise UnitsError(
                f"The background has no time {t}; give it the target's times "
                f"(calendar {calendar_of(times)}), a 'month' dimension, or no time at all."
            )
        picked.append(int(hit[0]))
    return field.isel({tname: picked}).rename({tname: "time"})


def on_land(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Where points lie certainly on land by the shipped climatology: in a 1° cell whose
    ETOPO5 sea fraction at the surface is zero (no sea at all at 5′ resolution).

    Examples
    --------
    >>> on_land(np.array([0.0, 20.0]), np.array([-140.0, 20.0])).tolist()  # Pacific, Sahara
    [False, True]
    """
    from .obs.binning import locate_cells
    from .sources.atlas import surface_sea_fraction

    frac, grid_lat, grid_lon = surface_sea_fraction()
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    iy, ix, inside = locate_cells(lat, lon, grid_lat, grid_lon)
    return inside & (np.nan_to_num(frac[iy, ix], nan=0.0) <= 0.0)
