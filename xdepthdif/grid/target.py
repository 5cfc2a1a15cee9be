"""Discovery of the target grid: CF axes through cf-xarray, units, land mask.

Examples
--------
>>> import numpy as np, xarray as xr
>>> target = xr.Dataset(coords={
...     "time": ("time", np.array(["2020-01-15"], dtype="datetime64[ns]")),
...     "lev": ("lev", [500.0, 1500.0], {"units": "cm", "positive": "down"}),
...     "lat": ("lat", [0.0, 1.0], {"units": "degrees_north"}),
...     "lon": ("lon", [359.5, 0.5], {"units": "degrees_east"})})
>>> grid = discover_grid(target)
>>> grid.depth_name, grid.depth.tolist()
('lev', [5.0, 15.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import xarray as xr

from ..errors import GridError, UnitsError
from ..obs.units import depth_to_metres

SURFACE_NAMES = ("sea_surface_temperature", "sea_surface_foundation_temperature")


@dataclass(frozen=True)
class TargetGrid:
    """The axes of a target grid, as bare arrays, with the names they carry in the target."""

    time_name: str
    depth_name: str
    lat_name: str
    lon_name: str
    time: np.ndarray
    depth: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    time_bounds: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.time.size, self.depth.size, self.lat.size, self.lon.size)


def _find(ds: xr.Dataset, key: str) -> str | None:
    names = ds.cf.coordinates.get(key, []) or ds.cf.axes.get(
        {"latitude": "Y", "longitude": "X", "vertical": "Z", "time": "T"}[key], []
    )
    names = [n for n in names if n in ds.coords]
    return names[0] if len(names) >= 1 else None


def discover_grid(target: xr.Dataset) -> TargetGrid:
    """Find time, depth, latitude and longitude of ``target`` and check their units.

    Raises
    ------
    GridError
        When an axis is missing, not one-dimensional, or not a dimension coordinate.
    UnitsError
        When depth has missing or unknown units, or lat/lon are not in degrees.
    """
    if not isinstance(target, xr.Dataset):
        raise GridError(
            f"The target must be an xarray.Dataset, got {type(target).__name__}. "
            "Wrap a DataArray with `da.to_dataset()`."
        )
    guessed = target.copy(deep=False).cf.guess_coord_axis()
    names = {}
    for key in ("time", "vertical", "latitude", "longitude"):
        name = _find(target, key) or _find(guessed, key)
        if name is None:
            raise GridError(
                f"No {key} coordinate found in the target (coordinates: {list(target.coords)}). "
                f"Add one with CF attributes, e.g. standard_name='{_STANDARD[key]}'"
                + (" and units" if key != "time" else "")
                + ", or rename it to "
                f"'{_PLAIN[key]}'."
            )
        var = target[name]
        if var.ndim != 1 or var.dims[0] != name:
            hint = (
                " Curvilinear grids must be regridded to a rectilinear target first."
                if key in ("latitude", "longitude") and var.ndim == 2
                else ""
            )
            raise GridError(
                f"The {key} coordinate '{name}' has dims {var.dims}; xdepthdif needs "
                f"a 1-D dimension coordinate named like its dimension.{hint}"
            )
        names[key] = name

    depth = _depth_in_metres(target[names["vertical"]])
    lat = np.asarray(target[names["latitude"]].values, float)
    lon = np.asarray(target[names["longitude"]].values, float)
    for key, values, lim in (("latitude", lat, 90.0), ("longitude", lon, 360.0)):
        units = target[names[key]].attrs.get("units", "degrees")
        if "rad" in str(units).lower():
            raise UnitsError(f"The {key} of the target is in '{units}'; convert it to degrees.")
        if not np.isfinite(values).all() or (np.abs(values) > lim).any():
            raise GridError(
                f"The {key} of the target has values outside ±{lim:g} or non-finite "
                "values; fix the coordinate."
            )
    for key, values in (("vertical", depth), ("latitude", lat)):
        unique, counts = np.unique(values, return_counts=True)
        repeated = unique[counts > 1]
        if repeated.size:
            raise GridError(
                f"The {key} coordinate {names[key]!r} of the target has the value "
                f"{float(repeated[0]):g} twice; drop the duplicate."
            )
    time_var = target[names["time"]]
    _check_times(time_var)
    bounds_name = time_var.attrs.get("bounds")
    bounds = target[bounds_name].values if bounds_name in target.variables else None
    return TargetGrid(
        names["time"],
        names["vertical"],
        names["latitude"],
        names["longitude"],
        time_var.values,
        depth,
        lat,
        lon,
        bounds,
    )


_STANDARD = {"time": "time", "vertical": "depth", "latitude": "latitude", "longitude": "longitude"}
_PLAIN = {"time": "time", "vertical": "depth", "latitude": "lat", "longitude": "lon"}


def _check_times(var: xr.DataArray) -> None:
    """Refuse a target without time steps, or with missing times (NaT)."""
    if var.size == 0:
        raise GridError(f"The target's time {var.name!r} is empty: give it at least one time step.")
    values = var.values
    missing = (
        np.isnat(values)
        if np.issubdtype(values.dtype, np.datetime64)
        else np.array([v is None or v != v for v in np.ravel(values)])  # cftime or float NaN
    )
    if missing.any():
        raise GridError(
            f"The target's time {var.name!r} has {int(missing.sum())} missing value(s) (NaT); "
            "every time step needs a date: drop those steps or fill them."
        )
    if values.dtype.kind in "iuf":
        units = var.attrs.get("units", var.encoding.get("units"))
        raise GridError(
            f"The target's time {var.name!r} holds numbers ({values.dtype}, units {units!r}), "
            "not dates; decode them: xr.decode_cf(target), or open the file without "
            "decode_times=False."
        )
    if values.dtype == object or values.dtype.kind in "US":
        _check_time_objects(str(var.name), np.ravel(values))


def _check_time_objects(name: str, values: np.ndarray) -> None:
    """Refuse times given as text, or carrying time zones, which calendars cannot compare."""
    text = [v for v in values if isinstance(v, str | bytes)]
    if text:
        raise GridError(
            f"The target's time {name!r} holds text ({str(text[0])!r}), not dates; decode it, e.g. "
            f"target[{name!r}] = pd.to_datetime(target[{name!r}].values, utc=True)"
            ".tz_convert(None), or give the file CF time units."
        )
    zones = sorted({str(v.utcoffset()) for v in values if getattr(v, "tzinfo", None) is not None})
    if zones:
        naive = sum(getattr(v, "tzinfo", None) is None for v in values)
        mixed = f"{len(zones)} UTC offsets ({', '.join(zones)})" if len(zones) > 1 else zones[0]
        raise GridError(
            f"The target's time {name!r} carries time zones: {mixed}"
            + (f", and {naive} value(s) have none" if naive else "")
            + "; xdepthdif compares times in UTC without a zone. Convert them, e.g. "
            f"pd.to_datetime(target[{name!r}].values, utc=True).tz_convert(None)."
        )


def _depth_in_metres(var: xr.DataArray) -> np.ndarray:
    try:
        depth = depth_to_metres(var.values, var.attrs, name=str(var.name))
    except UnitsError as err:
        raise UnitsError(f"In the target: {err}") from None
    above = np.asarray(depth) < 0
    if above.any():
        raise GridError(
            f"The target's depth {var.name!r} has {int(above.sum())} level(s) above the surface "
            f"(down to {float(np.min(depth)):g} m with positive={var.attrs.get('positive')!r}). "
            "Depths are positive downwards: set depth.attrs['positive'] = 'up' if they are "
            "heights, or drop the levels above the surface."
        )
    return depth


def surface_temperature(target: xr.Dataset) -> xr.DataArray | None:
    """The target's surface temperature variable, if it has one (by CF standard name)."""
    for name in SURFACE_NAMES:
        found = target.cf.standard_names.get(name, [])
        if found:
            return target[found[0]]
    return None


def ocean_mask(target: xr.Dataset, grid: TargetGrid) -> xr.DataArray | None:
    """Where the target is ocean, as a (possibly lazy) boolean DataArray, or None if unknown.

    Taken from a variable with standard name ``sea_binary_mask`` (1 = sea) or
    ``land_binary_mask`` (1 = land); otherwise from where the surface temperature field is
    NaN at every time. It may have a depth dimension (bathymetry) or not.
    """
    std = target.cf.standard_names
    if std.get("sea_binary_mask"):
        mask = target[std["sea_binary_mask"][0]] > 0.5
    elif std.get("land_binary_mask"):
        mask = target[std["land_binary_mask"][0]] < 0.5
    else:
        sst = surface_temperature(target)
        if sst is None:
            return None
        mask = sst.notnull()
        if grid.time_name in mask.dims:
            mask = mask.any(grid.time_name)
    extra = set(mask.dims) - {grid.depth_name, grid.lat_name, grid.lon_name}
    if extra:
        raise GridError(
            f"The land/sea mask has dims {mask.dims}; expected a subset of "
            f"({grid.depth_name}, {grid.lat_name}, {grid.lon_name})."
        )
    return mask.transpose(
        *[d for d in (grid.depth_name, grid.lat_name, grid.lon_name) if d in mask.dims]
    )


def ocean_array(target: xr.Dataset, grid: TargetGrid):
    """:func:`ocean_mask` as a ``(depth, lat, lon)`` array (dask when the mask is), or None."""
    mask = ocean_mask(target, grid)
    if mask is None:
        return None
    if grid.depth_name not in mask.dims:
        mask = mask.expand_dims({grid.depth_name: grid.depth.size})
    return mask.transpose(grid.depth_name, grid.lat_name, grid.lon_name).data
