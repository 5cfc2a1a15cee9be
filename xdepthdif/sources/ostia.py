"""OSTIA L4 sea surface temperature as surface information for :func:`reconstruct`.

OSTIA L4 files hold ``analysed_sst`` (packed, kelvin; xarray decodes it), ``sea_ice_fraction``
and a ``mask`` bit field (1 water, 2 land, 4 lake, 8 ice, ...). :func:`ostia_sst` turns them
into SST in °C on a target's grid, NaN over land, lakes and sea ice, with the standard name
``sea_surface_temperature`` that :func:`xdepthdif.reconstruct` looks for.

Examples
--------
>>> ostia = xr.open_mfdataset("OSTIA-UKMO-L4-GLOB-v2.0_2020*.nc")  # doctest: +SKIP
>>> target["sst"] = ostia_sst(ostia, target)  # doctest: +SKIP
>>> target.depthdif.reconstruct(obs=profiles, method="oi")  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import GridError, InputError
from ..grid.regrid import regrid
from ..grid.target import discover_grid
from ..obs.units import celsius_offset

__all__ = ["SST_NAMES", "ostia_sst"]

SST_NAMES = ("analysed_sst", "sst", "surface_temperature")
_SST_STANDARD = ("sea_surface_foundation_temperature", "sea_surface_temperature")
LAND_FLAGS = ("land", "optional_lake_surface", "lake")
DEFAULT_LAND_BITS = 2 | 4  # GHRSST L4 mask: bit 1 land, bit 2 lake


def _find_sst(ds: xr.Dataset) -> str:
    for name in SST_NAMES:
        if name in ds.data_vars:
            return name
    for k, v in ds.data_vars.items():
        if v.attrs.get("standard_name") in _SST_STANDARD:
            return str(k)
    raise InputError(
        f"No SST variable found (data variables: {list(ds.data_vars)}); expected one of "
        f"{list(SST_NAMES)} or standard_name in {list(_SST_STANDARD)}. Rename it to "
        "'analysed_sst'."
    )


def _land_bits(mask: xr.DataArray) -> int:
    masks = np.atleast_1d(mask.attrs.get("flag_masks", []))
    meanings = str(mask.attrs.get("flag_meanings", "")).split()
    if len(masks) and len(masks) == len(meanings):
        bits = [int(m) for m, s in zip(masks, meanings, strict=True) if s in LAND_FLAGS]
        if bits:
            return int(np.bitwise_or.reduce(bits))
    return DEFAULT_LAND_BITS


def _masked_sst(ds: xr.Dataset, max_ice: float) -> xr.DataArray:
    name = _find_sst(ds)
    sst = ds[name]
    offset = celsius_offset(sst.attrs.get("units"), name=name)
    sst = sst + offset if offset else sst
    keep = xr.ones_like(sst, dtype=bool)
    if "mask" in ds.data_vars:
        bits = ds["mask"].fillna(0).astype(np.int64)
        keep = keep & ((bits & _land_bits(ds["mask"])) == 0)
    if "sea_ice_fraction" in ds.data_vars:
        ice = ds["sea_ice_fraction"].fillna(0.0)
        keep = keep & (ice <= max_ice)
    return sst.where(keep)


def _month_key(times: xr.DataArray) -> np.ndarray:
    return np.asarray(times.dt.year * 12 + times.dt.month - 1)


def _match_months(sst: xr.DataArray, tdim: str, target_time: xr.DataArray) -> xr.DataArray:
    src = _month_key(sst[tdim])
    dst = _month_key(target_time)
    pieces = []
    for t, key in enumerate(dst):
        idx = np.flatnonzero(src == key)
        if not idx.size:
            have = sorted({f"{k // 12:04d}-{k % 12 + 1:02d}" for k in src.tolist()})
            raise InputError(
                f"OSTIA has no data in {key // 12:04d}-{key % 12 + 1:02d}, the month of the "
                f"target's time step {t}; it covers {have}. Open the OSTIA files of that month "
                "too, or drop the time step from the target."
            )
        pieces.append(sst.isel({tdim: idx}).mean(tdim, skipna=True, keep_attrs=True))
    return xr.concat(pieces, dim="time")


def ostia_sst(
    ds: xr.Dataset,
    target: xr.Dataset,
    *,
    max_ice: float = 0.15,
    method: str = "auto",
) -> xr.DataArray:
    """OSTIA L4 SST in °C on the grid and time steps of ``target``, for ``reconstruct``.

    Parameters
    ----------
    ds : xarray.Dataset
        OSTIA L4 data (one or several days or months, possibly dask-backed): ``analysed_sst``
        (or ``sst``/``surface_temperature``, or a variable with an SST standard name) in K or
        °C, optionally ``sea_ice_fraction`` and the ``mask`` bit field, with a time dimension.
    target : xarray.Dataset
        The reconstruction target (time, depth, 1-D latitude and longitude; see
        :func:`xdepthdif.grid.target.discover_grid`).
    max_ice : float
        Cells whose sea-ice fraction exceeds this are set to NaN (missing fraction counts as 0).
    method : str
        Regridding method for :func:`xdepthdif.grid.regrid.regrid`; ``"auto"`` remaps
        conservatively when the target is coarser than OSTIA, bilinearly otherwise.

    Returns
    -------
    xarray.DataArray
        ``(time, lat, lon)`` in the target's names and coordinates, °C, standard_name
        ``sea_surface_temperature``; NaN over land and lakes (``mask`` bits or NaN in the SST)
        and sea ice. Each target time step gets the mean of the OSTIA fields **in the same
        calendar month** (year and month), so daily files average into a monthly target and
        a monthly file matches a mid-month time. Lazy if ``ds`` was.

    Raises
    ------
    InputError
        No SST variable, no time dimension, or a target month without OSTIA data.
    GridError
        The target's coordinates are missing or not rectilinear.
    UnitsError
        SST units neither kelvin nor °C.
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"ostia_sst needs an xarray.Dataset, not {type(ds).__name__}.")
    if not 0.0 <= max_ice <= 1.0:
        raise InputError(f"max_ice is a fraction in [0, 1]; got {max_ice!r}.")
    grid = discover_grid(target)
    sst = _masked_sst(ds, max_ice)
    tdims = [d for d in sst.dims if d in sst.coords and np.asarray(sst[d]).dtype.kind in "MO"]
    if not tdims:
        raise InputError(
            f"The OSTIA SST has no time dimension (dims {sst.dims}); add it with "
            "ds.expand_dims(time=[...])."
        )
    sst = _match_months(sst, tdims[0], target[grid.time_name])
    sst = sst.drop_vars([c for c in sst.coords if c not in sst.dims and sst[c].ndim == 0])
    out = regrid(sst, target, method)
    if not isinstance(out, xr.DataArray):  # pragma: no cover - regrid of a DataArray
        raise GridError("Regridding the OSTIA SST did not return a DataArray.")
    out = out.rename({"lat": grid.lat_name, "lon": grid.lon_name, "time": grid.time_name})
    out = out.transpose(grid.time_name, grid.lat_name, grid.lon_name)
    out = out.assign_coords({n: target[n] for n in (grid.time_name, grid.lat_name, grid.lon_name)})
    out.attrs = {
        "standard_name": "sea_surface_temperature",
        "long_name": "OSTIA sea surface temperature, monthly mean on the target grid",
        "units": "degC",
        "regrid_method": out.attrs.get("regrid_method", method),
        "max_ice_fraction": float(max_ice),
    }
    return out.rename("sst")
