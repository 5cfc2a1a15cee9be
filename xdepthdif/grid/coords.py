"""The horizontal grid of a field to regrid: its latitude/longitude coordinates (found through
cf-xarray, ``standard_name`` or common names), rectilinear or curvilinear, and the CF
coordinates of a rectilinear destination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import xarray as xr

from ..errors import GridError

_LAT_NAMES = ("nav_lat", "lat", "latitude", "nav_lat_grid_T", "y_lat")


_LON_NAMES = ("nav_lon", "lon", "longitude", "nav_lon_grid_T", "x_lon")


@dataclass(frozen=True)
class _Grid:
    lat_name: str
    lon_name: str
    dims: tuple[str, str]
    lat: np.ndarray
    lon: np.ndarray

    @property
    def curvilinear(self) -> bool:
        return self.lat.ndim == 2

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat.size, self.lon.size) if not self.curvilinear else self.lat.shape


def _find_coord(obj: xr.Dataset | xr.DataArray, key: str, names: tuple[str, ...]) -> str:
    found: list[str] = []
    try:
        found = list(obj.cf.coordinates.get(key, []))
        if not found:
            found = list(obj.cf.standard_names.get(key, []))
    except (AttributeError, KeyError, ValueError):  # pragma: no cover - cf-xarray quirks
        found = []
    found = [n for n in found if n in obj.coords]
    if not found:
        lower = {str(n).lower(): str(n) for n in obj.coords}
        found = [lower[n] for n in names if n in lower]
    if not found:
        raise GridError(
            f"No {key} coordinate found (coordinates: {list(obj.coords)}). Give it "
            f"standard_name='{key}' and units, or name it one of {list(names)}."
        )
    return found[0]


def _grid_of(obj: xr.Dataset | xr.DataArray, what: str) -> _Grid:
    lat_name = _find_coord(obj, "latitude", _LAT_NAMES)
    lon_name = _find_coord(obj, "longitude", _LON_NAMES)
    lat, lon = obj[lat_name], obj[lon_name]
    for var in (lat, lon):
        if "rad" in str(var.attrs.get("units", "degrees")).lower():
            raise GridError(f"The {what}'s '{var.name}' is in radians; convert it to degrees.")
    if lat.ndim == 1 and lon.ndim == 1 and lat.dims != lon.dims:
        return _Grid(lat_name, lon_name, (lat.dims[0], lon.dims[0]), lat.values, lon.values)
    if lat.ndim == 2 and lat.dims == lon.dims:
        return _Grid(lat_name, lon_name, tuple(lat.dims), lat.values, lon.values)
    raise GridError(
        f"The {what}'s latitude '{lat_name}' {lat.dims} and longitude '{lon_name}' {lon.dims} "
        "are neither 1-D on two different dimensions nor 2-D on the same two dimensions."
    )


def _target_grid(target: xr.Dataset | xr.DataArray) -> _Grid:
    grid = _grid_of(target, "target")
    if grid.curvilinear:
        raise GridError(
            "The target's latitude/longitude are 2-D; regrid needs a rectilinear target "
            "with 1-D latitude and longitude."
        )
    if not (np.isfinite(grid.lat).all() and np.isfinite(grid.lon).all()):
        raise GridError("The target's latitude/longitude have non-finite values.")
    return grid


def _src_points(grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    if grid.curvilinear:
        return grid.lat, grid.lon
    return np.meshgrid(grid.lat, grid.lon, indexing="ij")


def _spacing_ratio(src: _Grid, dst: _Grid) -> float:
    def step(axis: np.ndarray) -> float:
        d = np.abs(np.diff(np.asarray(axis, float)))
        d = np.minimum(d, 360.0 - d)
        return float(np.median(d)) if d.size else np.nan

    ratios = [step(dst.lat) / step(src.lat), step(dst.lon) / step(src.lon)]
    ratios = [r for r in ratios if np.isfinite(r) and r > 0]
    return float(np.sqrt(np.prod(ratios))) if ratios else 1.0


def _dst_coords(dst: _Grid) -> dict[str, Any]:
    return {
        "lat": (
            "lat",
            np.asarray(dst.lat, float),
            {
                "standard_name": "latitude",
                "long_name": "latitude",
                "units": "degrees_north",
                "axis": "Y",
            },
        ),
        "lon": (
            "lon",
            np.asarray(dst.lon, float),
            {
                "standard_name": "longitude",
                "long_name": "longitude",
                "units": "degrees_east",
                "axis": "X",
            },
        ),
    }


def _bounds_names(obj: xr.Dataset) -> set[str]:
    return {str(v.attrs["bounds"]) for v in obj.variables.values() if "bounds" in v.attrs}
