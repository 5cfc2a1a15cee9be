"""Satellite SST for the benchmark's truths: what an OSTIA L4 product would give of a truth's
top level (:func:`with_sst`), written in OSTIA's own format (:func:`write_l4_like`) and read back
through :func:`xdepthdif.sources.ostia.ostia_sst`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["with_sst", "write_l4_like"]


def with_sst(target: xr.Dataset, truth: xr.DataArray, noise: float, seed: int) -> xr.Dataset:
    """``target`` with the SST an OSTIA L4 product would give of ``truth`` (°C).

    The truth's top level plus white noise (``noise`` °C per target cell) goes through the
    OSTIA path: written as an L4 file (:func:`write_l4_like`: packed int16 kelvin on a 4×
    finer grid, land in the ``mask`` bits, ice fraction over water colder than −1 °C), read
    back and put on the target by :func:`xdepthdif.sources.ostia.ostia_sst` (unpacking, land and
    sea-ice masking, conservative regridding).
    """
    from ..sources.ostia import ostia_sst

    rng = np.random.default_rng([seed, 7])
    top = truth.isel(depth=0, drop=True)
    sst = top + rng.normal(0.0, noise, top.shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_l4_like(sst, Path(tmp) / "l4.nc")
        with xr.open_dataset(path) as l4:
            on_target = ostia_sst(l4, target).load()
    return target.assign(sst=on_target)


def write_l4_like(sst: xr.DataArray, path: Path, refine: int = 4) -> Path:
    """Write SST (°C, ``time × lat × lon``) as a GHRSST L4 (OSTIA) file on a grid ``refine``
    times finer: ``analysed_sst`` int16 kelvin (scale 0.01, offset 273.15), ``sea_ice_fraction``
    int8 (scale 0.01; rising from 0 at −1 °C to 1 at −1.8 °C), ``mask`` bits (1 water, 2 land)."""
    fine = sst
    for dim in ("lat", "lon"):
        step = float(np.diff(sst[dim].values[:2])[0])
        offsets = (np.arange(refine) - (refine - 1) / 2) * step / refine
        centres = (sst[dim].values[:, None] + offsets[None, :]).ravel()
        fine = fine.isel({dim: np.repeat(np.arange(sst.sizes[dim]), refine)})
        fine = fine.assign_coords({dim: centres})
    ice = ((-1.0 - fine) / 0.8).clip(0.0, 1.0).fillna(0.0)
    land = fine.isnull()
    flags = {
        "flag_masks": np.array([1, 2, 4, 8, 16], np.int8),
        "flag_meanings": "water land optional_lake_surface sea_ice optional_river_surface",
    }
    ds = xr.Dataset(
        {
            "analysed_sst": (fine + 273.15).assign_attrs(
                units="kelvin", standard_name="sea_surface_foundation_temperature"
            ),
            "sea_ice_fraction": ice.assign_attrs(units="1"),
            "mask": xr.where(land, 2, 1 + 8 * (ice > 0)).astype(np.int8).assign_attrs(flags),
        }
    )
    ds["lat"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
    ds["lon"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    packed = {"dtype": "int16", "scale_factor": 0.01, "_FillValue": np.int16(-32768)}
    encoding = {
        "analysed_sst": packed | {"add_offset": 273.15},
        "sea_ice_fraction": {"dtype": "int8", "scale_factor": 0.01, "_FillValue": np.int8(-128)},
        "mask": {"_FillValue": np.int8(-128)},
    }
    ds.to_netcdf(path, encoding=encoding, engine="netcdf4")
    return path
