"""CF-1.8 metadata for analyses: coordinate attributes, bounds, encodings, provenance.

Output written with plain ``to_netcdf`` passes the IOOS compliance checker (CF 1.8): float64
time with ``time_bnds``, bounds on every axis, no fill value on coordinates. The fields are
computed in float64 and written as float32 (``obs_count`` as int16): a temperature analysis is
not known to better than a thousandth of a degree, and float32 keeps six digits. Compression
is the writer's choice: :func:`compressed` gives the encoding for ``to_netcdf`` and ``to_zarr``.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"thetao": (("time", "lat"), np.zeros((2, 3)), {}, {"dtype": "float32"})})
>>> compressed(ds, "netcdf")["thetao"]
{'dtype': 'float32', 'zlib': True, 'complevel': 4, 'shuffle': True}
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
ALGORITHM_VERSION = "6"  # 3: OI tiles by Cholesky; 4: members clipped; 5: MMPS update reused;
# 6: OI spread calibrated on the spread-skill ratio, correlated bands kept by a paired test

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
    "thetao_members": {
        "standard_name": "sea_water_potential_temperature",
        "long_name": "Sea water potential temperature, one ensemble member per realization",
        "units": "degC",
    },
    "realization": {"standard_name": "realization", "long_name": "ensemble member", "units": "1"},
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


_COMMENTS = {
    "oi": "thetao is the analysis, thetao_sd its error standard deviation; NaN on land, and "
    "where the first guess has no value.",
    "diffusion": "thetao is the ensemble mean, thetao_sd the ensemble's calibrated spread "
    "(thetao_members, when kept, are the members); NaN on land.",
}


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
    for name in ("thetao", "thetao_sd", "thetao_members"):
        if name in ds:
            ds[name].encoding.update(dtype="float32", _FillValue=np.float32(np.nan))
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
            "comment": _COMMENTS.get(attrs.get("xdepthdif_method"), _COMMENTS["oi"]),
            "xdepthdif_version": __version__,
            "algorithm_version": ALGORITHM_VERSION,
        }
    )
    ds.attrs.update({k: v for k, v in attrs.items() if k != "call"})
    return ds


def compressed(ds: xr.Dataset, backend: str = "netcdf", level: int = 4) -> dict[str, dict]:
    """Per-variable ``encoding`` that compresses every data variable (keeping its dtype).

    ``backend`` is ``"netcdf"`` (zlib with shuffle, for ``to_netcdf`` with netCDF4 or
    h5netcdf) or ``"zarr"`` (Blosc zstd with byte shuffle, for ``to_zarr``); pass the result as
    ``encoding=``, e.g. ``analysis.to_netcdf(path, encoding=xdepthdif.cf.compressed(analysis))``.
    """
    if backend == "netcdf":
        codec = {"zlib": True, "complevel": level, "shuffle": True}
    elif backend == "zarr":
        import zarr

        if int(zarr.__version__.split(".")[0]) >= 3:
            from zarr.codecs import BloscCodec

            codec = {"compressors": (BloscCodec(cname="zstd", clevel=level, shuffle="shuffle"),)}
        else:  # pragma: no cover - zarr 2
            from numcodecs import Blosc

            codec = {"compressor": Blosc(cname="zstd", clevel=level, shuffle=Blosc.SHUFFLE)}
    else:
        raise ValueError(f"backend must be 'netcdf' or 'zarr', not {backend!r}.")
    keep = ("dtype", "_FillValue", "units", "calendar")
    return {
        name: {k: v for k, v in var.encoding.items() if k in keep} | codec
        for name, var in ds.data_vars.items()
    }
