"""The xESMF engine of :func:`xdepthdif.grid.regrid.regrid`: when it is used, and the grids and
call it needs. xESMF needs ESMPy, which is not on PyPI, so all of this is optional."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InputError
from .axes import cell_edges, is_global_lon
from .coords import _bounds_names, _dst_coords, _Grid
from .weights import RegridWeights

_XESMF_METHODS = {"bilinear": "bilinear", "conservative": "conservative", "nearest": "nearest_s2d"}


_XESMF_HINT = (
    "xESMF needs ESMPy, which is not on PyPI: install both with conda, "
    "`conda install -c conda-forge esmpy xesmf` (or `conda install -c conda-forge esmpy` "
    "then `pip install xesmf`), or use engine='xdepthdif'."
)


def _xesmf_available() -> bool:
    try:
        import xesmf  # noqa: F401
    except Exception:  # ImportError, or ESMPy failing at import time
        return False
    return True


def _use_xesmf(engine: str, method: str, weights: RegridWeights | None) -> bool:
    if engine not in ("auto", "xdepthdif", "xesmf"):
        raise InputError(f"Unknown engine {engine!r}; use 'auto', 'xdepthdif' or 'xesmf'.")
    if engine == "xdepthdif":
        return False
    if engine == "xesmf":
        if not _xesmf_available():
            raise ImportError(
                f"engine='xesmf' was requested but xesmf cannot be imported. {_XESMF_HINT}"
            )
        if weights is not None or method not in _XESMF_METHODS:
            raise InputError(
                f"engine='xesmf' cannot apply method {method!r}"
                + (" with xdepthdif weights" if weights is not None else "")
                + "; use engine='xdepthdif'."
            )
        return True
    return weights is None and method in _XESMF_METHODS and _xesmf_available()


def _lon_edges_unwrapped(lon: np.ndarray) -> np.ndarray:
    lon = np.asarray(lon, float)
    return cell_edges(lon[0] + np.mod(lon - lon[0], 360.0))


def _xesmf_grids(src: _Grid, dst: _Grid, method: str) -> tuple[xr.Dataset, xr.Dataset, bool]:
    """Grid-only Datasets for xESMF (with 1-D cell edges for conservative) and periodicity."""
    out = xr.Dataset(coords=_dst_coords(dst))
    if src.curvilinear:
        lon = np.mod(src.lon[np.isfinite(src.lon)], 360.0)
        periodic = bool(lon.size and np.ptp(lon) > 355.0)
        grid = xr.Dataset(coords={"lat": (src.dims, src.lat), "lon": (src.dims, src.lon)})
        return grid, out, periodic
    grid = xr.Dataset(coords={"lat": ("lat", src.lat), "lon": ("lon", src.lon)})
    if method == "conservative":
        grid = grid.assign_coords(
            lat_b=("lat_b", cell_edges(src.lat, -90.0, 90.0)),
            lon_b=("lon_b", _lon_edges_unwrapped(src.lon)),
        )
        out = out.assign_coords(
            lat_b=("lat_b", cell_edges(dst.lat, -90.0, 90.0)),
            lon_b=("lon_b", _lon_edges_unwrapped(dst.lon)),
        )
    return grid, out, is_global_lon(src.lon)


def _regrid_xesmf(
    obj: xr.Dataset | xr.DataArray, src: _Grid, dst: _Grid, method: str
) -> xr.Dataset | xr.DataArray:  # pragma: no cover - needs ESMPy, absent from PyPI
    import xesmf

    ydim, xdim = src.dims
    spatial = [c for c in obj.coords if set(obj[c].dims) & {ydim, xdim}]
    data = obj.drop_vars(spatial)
    if isinstance(data, xr.Dataset):
        skip = _bounds_names(obj) | {
            n for n, v in data.data_vars.items() if not np.issubdtype(v.dtype, np.number)
        }
        data = data.drop_vars([n for n in skip if n in data.data_vars])
    if not src.curvilinear:
        data = data.rename({ydim: "lat", xdim: "lon"})
    grid_in, grid_out, periodic = _xesmf_grids(src, dst, method)
    regridder = xesmf.Regridder(
        grid_in, grid_out, _XESMF_METHODS[method], periodic=periodic, unmapped_to_nan=True
    )
    na_thres = 0.5 if method == "conservative" else 1.0
    out = regridder(data, skipna=True, na_thres=na_thres, keep_attrs=True)
    out = out.drop_vars([c for c in ("lat_b", "lon_b") if c in out.coords])
    return out.assign_coords(_dst_coords(dst))
