"""CF-1.8 metadata for analyses: coordinate attributes, bounds, encodings, provenance.

Output written with plain ``to_netcdf`` passes the IOOS compliance checker (CF 1.8): float64
time with ``time_bnds``, bounds on every axis, no fill value on coordinates.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import xarray as xr

from ._version import __version__
from .grid.geo import axis_bounds
from .grid.target import TargetGrid
from .timing import REFERENCE, from_days

# Bumped whenever a change alters the numbers an unchanged call produces.
ALGORITHM_VERSION = "1"

VARIABLE_ATTRS = {
    "thetao": {
        "standard_name": "sea_water_potential_temperature",
        "long_name": "Sea water potential temperature analysis",
        "units": "degC",
        "ancillary_variables": "thetao_sd obs_count",
    },
    "thetao_sd": {
        "standard_name": "sea_water_potential_temperature standard_error",
        "long_name": "Standard error of the potential temperature analysis",
        "units": "degC",
    },
    "obs_count": {
        "long_name": "Number of profiles with a value in the cell at this level",
        "units": "1",
    },
}

_AXIS_ATTRS = {
    "time": {"standard_name": "time", "long_name": "time", "axis": "T"},
    "depth": {
        "standard_name": "depth",
        "long_name": "depth",
        "units": "m",
        "positive": "down",
        "axis": "Z",
    },
    "lat": {
        "standard_name": "latitude",
        "long_name": "latitude",
        "units": "degrees_north",
        "axis": "Y",
    },
    "lon": {
        "standard_name": "longitude",
        "long_name": "longitude",
        "units": "degrees_east",
        "axis": "X",
    },
}


def grid_coords(grid: TargetGrid, time_bounds_days: np.ndarray, calendar: str) -> dict:
    """Coordinates of the output on the target's axes, with their bounds, CF attributes and
    encodings."""
    t, z, y, x = grid.time_name, grid.depth_name, grid.lat_name, grid.lon_name
    coords = {
        t: (t, grid.time, dict(_AXIS_ATTRS["time"], bounds=f"{t}_bnds")),
        z: (z, grid.depth, dict(_AXIS_ATTRS["depth"], bounds=f"{z}_bnds")),
        y: (y, grid.lat, dict(_AXIS_ATTRS["lat"], bounds=f"{y}_bnds")),
        x: (x, grid.lon, dict(_AXIS_ATTRS["lon"], bounds=f"{x}_bnds")),
        f"{t}_bnds": ((t, "bnds"), from_days(time_bounds_days, calendar, grid.time)),
        f"{z}_bnds": ((z, "bnds"), axis_bounds(grid.depth, "depth")),
        f"{y}_bnds": ((y, "bnds"), axis_bounds(grid.lat, "lat")),
        f"{x}_bnds": ((x, "bnds"), axis_bounds(grid.lon, "lon")),
    }
    return coords


def finalize(ds: xr.Dataset, grid: TargetGrid, calendar: str, attrs: dict) -> xr.Dataset:
    """Attach variable and global attributes and the encodings CF 1.8 asks for."""
    for name, var_attrs in VARIABLE_ATTRS.items():
        if name in ds:
            ds[name].attrs.update(var_attrs)
    time_encoding = {
        "units": REFERENCE,
        "calendar": calendar,
        "dtype": "float64",
        "_FillValue": None,
    }
    for name in ds.coords:
        ds[name].encoding["_FillValue"] = None
    for name in (grid.time_name, f"{grid.time_name}_bnds"):
        ds[name].encoding.update(time_encoding)
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ds.attrs.update(
        {
            "Conventions": "CF-1.8",
            "title": "Ocean potential temperature analysis from in-situ profiles",
            "institution": "Produced with the open-source xdepthdif package",
            "source": f"xdepthdif {__version__}: {attrs.get('xdepthdif_method', '')} analysis of "
            "in-situ temperature profiles",
            "history": f"{now}: xdepthdif {__version__} reconstruct("
            + ", ".join(f"{k}={v!r}" for k, v in attrs.get("call", {}).items())
            + ")",
            "references": "https://pypi.org/project/xdepthdif/",
            "comment": "thetao is the analysis; thetao_sd its error standard deviation; NaN on "
            "land and where no observation informs a level.",
            "xdepthdif_version": __version__,
            "algorithm_version": ALGORITHM_VERSION,
        }
    )
    ds.attrs.update({k: v for k, v in attrs.items() if k != "call"})
    return ds
