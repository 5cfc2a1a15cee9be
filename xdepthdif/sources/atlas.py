"""The shipped climatology: where it lies, how it is read, what it was built from.

``xdepthdif/data/climatology.nc`` holds a monthly-resolved potential-temperature climatology on
a 1° global grid and 42 levels from 5 to 5350 m, built by ``make climatology``
(:mod:`xdepthdif.sources.atlas_build`) from the NOAA PMEL Ferret sample data that Debian ships
as ``ferret-datasets`` (public domain). Its variables: ``thetao_mean`` (annual mean),
``thetao_harmonics`` (annual and semi-annual harmonics of the seasonal cycle),
``thetao_freezing`` (the freezing point in potential temperature), ``sea_area_fraction`` (of
each cell and level, from ETOPO5) and ``deptho`` (mean sea-floor depth). The file is read once
per process.

Examples
--------
>>> atlas = read_atlas()
>>> atlas.mean.shape, float(atlas.depth[0]), float(atlas.depth[-1])
((42, 180, 360), 5.0, 5350.0)
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import xarray as xr

from ..analysis.first_guess import Atlas

ATLAS_FILE = "climatology.nc"


def atlas_path() -> Path:
    """Path of the shipped climatology file."""
    return Path(str(files("xdepthdif").joinpath("data", ATLAS_FILE)))


def atlas_sha256(path: str | Path | None = None) -> str:
    """sha256 of the climatology file (recorded in the outputs that used it)."""
    return _sha256(str(path or atlas_path()))


@lru_cache(maxsize=4)
def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def open_atlas(path: str | Path | None = None) -> xr.Dataset:
    """The climatology file as an :class:`xarray.Dataset` (lazy, unpacked to float32)."""
    return xr.open_dataset(path or atlas_path(), engine="netcdf4", chunks={})


_READ_LOCK = threading.Lock()


def read_atlas(path: str | Path | None = None) -> Atlas:
    """The climatology as numpy arrays, read once per process and file.

    Thread-safe: HDF5 is not, and the threads of a dask worker may all ask at once.
    """
    with _READ_LOCK:
        return _read(str(path or atlas_path()))


@lru_cache(maxsize=2)
def _read(path: str) -> Atlas:
    with xr.open_dataset(path, engine="netcdf4") as ds:

        def get(name):
            return np.asarray(ds[name].values, dtype=float)

        return Atlas(
            depth=get("depth"),
            lat=get("lat"),
            lon=get("lon"),
            mean=get("thetao_mean"),
            harmonics=np.nan_to_num(get("thetao_harmonics")),
            freezing=np.nan_to_num(get("thetao_freezing"), nan=-2.0),
        )


def surface_sea_fraction(path: str | Path | None = None) -> tuple[np.ndarray, ...]:
    """The climatology's sea fraction at its top level, with its latitudes and longitudes.

    Returns ``(fraction (lat, lon), lat, lon)``; read once per process, under the read lock.
    """
    with _READ_LOCK:
        return _surface(str(path or atlas_path()))


@lru_cache(maxsize=2)
def _surface(path: str) -> tuple[np.ndarray, ...]:
    with xr.open_dataset(path, engine="netcdf4") as ds:
        frac = np.asarray(ds["sea_area_fraction"].isel(depth=0).values, dtype=float)
        return frac, np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
