"""Regridding of rectilinear and curvilinear ocean fields onto a rectilinear lat/lon grid.

:func:`regrid` takes a DataArray or Dataset whose horizontal grid is either rectilinear (1-D
latitude and longitude) or curvilinear (2-D latitude and longitude on two dimensions, like
NEMO's ``nav_lat``/``nav_lon`` on ``(y, x)``), and a target whose 1-D latitude and longitude
define the destination. Leading dimensions (time, depth, ...) are kept, and stay lazy when they
are dask-backed.

Methods
-------
``"bilinear"``, ``"conservative"``
    Rectilinear sources, through :class:`xdepthdif.grid.rectilinear.Regridder` (curvilinear
    sources: bilinear only with xESMF, conservative not at all).
``"nearest"``
    The nearest *valid* source point within ``radius_km`` of each destination cell centre.
``"gaussian"``
    The Gaussian-weighted mean of the valid source points within ``radius_km`` of each
    destination cell centre, weight ``exp(-d² / (2 σ²))`` with ``σ = radius_km / 2``.
``"auto"``
    ``"bilinear"`` for a rectilinear source, ``"conservative"`` if the destination cells are
    more than 1.5 times larger (geometric mean of the latitude and longitude spacing ratios);
    ``"gaussian"`` for a curvilinear source.

``radius_km`` defaults to 1.5 times the destination cell size: the larger of the median
latitude and longitude spacings, in degrees, times 111.195 km. Distances are great-circle
distances, found with a :class:`scipy.spatial.cKDTree` on unit vectors (so periodic longitude
needs no special case). NaN source points (land) are dropped and the remaining weights
renormalised; a destination cell with no valid source point is NaN, never 0.

When ``import xesmf`` works, ``engine="auto"`` (the default, see :data:`ENGINE`) hands
``"bilinear"``, ``"conservative"`` and ``"nearest"`` to xESMF (``"bilinear"``,
``"conservative"``, ``"nearest_s2d"``); otherwise, and always for ``"gaussian"`` or reused
``weights``, the numpy/scipy implementation here is used.

Examples
--------
>>> import numpy as np, xarray as xr
>>> y, x = np.meshgrid(np.arange(-60.0, 61.0, 3.0), np.arange(0.0, 360.0, 3.0), indexing="ij")
>>> src = xr.DataArray(
...     np.where(np.abs(y) < 50, 10.0 + 0.1 * y, np.nan), dims=("y", "x"), name="thetao",
...     coords={"nav_lat": (("y", "x"), y), "nav_lon": (("y", "x"), x)},
...     attrs={"units": "degC"})
>>> target = xr.Dataset(coords={"lat": np.arange(-59.0, 60.0, 6.0),
...                             "lon": np.arange(3.0, 360.0, 6.0)})
>>> out = regrid(src, target, "nearest", engine="xdepthdif")
>>> out.dims, out.attrs["regrid_method"], out.attrs["units"]
(('lat', 'lon'), 'nearest', 'degC')
>>> bool(out.sel(lat=-59.0).isnull().all()), float(out.sel(lat=1.0, lon=183.0))
(True, 10.0)
>>> w = make_weights(src, target, "gaussian")
>>> w.weights.shape, bool(regrid(src, target, weights=w).notnull().any())
((1200, 4920), True)
"""

from __future__ import annotations

import functools

import numpy as np
import xarray as xr

from ..errors import GridError, InputError
from .coords import (
    _bounds_names,
    _dst_coords,
    _Grid,
    _grid_of,
    _spacing_ratio,
    _src_points,
    _target_grid,
)
from .rectilinear import Regridder
from .weights import (
    RegridWeights,
    apply_weights,
    default_radius_km,
    gaussian_weights,
    grid_hash,
    nearest_weights,
)
from .xesmf_engine import _regrid_xesmf, _use_xesmf

__all__ = [
    "ENGINE",
    "METHODS",
    "RegridWeights",
    "apply_weights",
    "default_radius_km",
    "gaussian_weights",
    "make_weights",
    "nearest_weights",
    "regrid",
]

#: Default engine of :func:`regrid`: ``"auto"`` (xESMF if it imports), ``"xdepthdif"`` or
#: ``"xesmf"``. Change it module-wide with ``xdepthdif.grid.regrid.ENGINE = "xdepthdif"``.
ENGINE = "auto"

METHODS = ("bilinear", "conservative", "nearest", "gaussian")


def _resolve_method(method: str, src: _Grid, dst: _Grid) -> str:
    if method == "auto":
        if src.curvilinear:
            return "gaussian"
        if min(np.shape(dst.lat)[0], np.shape(dst.lon)[-1]) < 2:  # a row or column: no edges
            return "bilinear"
        return "conservative" if _spacing_ratio(src, dst) > 1.5 else "bilinear"
    if method not in METHODS:
        raise InputError(f"Unknown regridding method {method!r}; use 'auto' or one of {METHODS}.")
    return method


def _check_fits(method: str, src: _Grid, xesmf: bool) -> None:
    """Refuse methods that the chosen engine cannot apply to this source grid."""
    if not src.curvilinear:
        return
    if method == "conservative":
        raise InputError(
            "Conservative remapping of a curvilinear source needs cell corners, which "
            "xdepthdif does not pass on; use 'gaussian' (or 'nearest') for this source."
        )
    if method == "bilinear" and not xesmf:
        raise InputError(
            "Method 'bilinear' needs a rectilinear source (1-D lat/lon) without xESMF; for "
            "this curvilinear source use 'nearest' or 'gaussian', or install xESMF."
        )


def _weights_for(src: _Grid, dst: _Grid, method: str, radius_km: float | None) -> RegridWeights:
    hashes = {"src_hash": grid_hash(src.lat, src.lon), "dst_hash": grid_hash(dst.lat, dst.lon)}
    if method in ("bilinear", "conservative"):
        build = getattr(Regridder, method)
        core = build(src.lat, src.lon, dst.lat, dst.lon)
        return RegridWeights(
            core.weights, core.src_shape, core.dst_shape, method, core.min_weight, **hashes
        )
    radius = float(radius_km) if radius_km is not None else default_radius_km(dst.lat, dst.lon)
    if not radius > 0:
        raise InputError(f"radius_km must be positive, not {radius_km!r}.")
    slat, slon = _src_points(src)
    build = gaussian_weights if method == "gaussian" else nearest_weights
    mat = build(slat, slon, dst.lat, dst.lon, radius)
    return RegridWeights(mat, src.shape, dst.shape, method, 1e-12, radius_km=radius, **hashes)


def make_weights(
    obj: xr.Dataset | xr.DataArray,
    target: xr.Dataset | xr.DataArray,
    method: str = "auto",
    *,
    radius_km: float | None = None,
) -> RegridWeights:
    """Build reusable regridding weights from the grid of ``obj`` to that of ``target``.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        Anything on the source grid (only its latitude/longitude coordinates are read).
    target : xarray.Dataset or xarray.DataArray
        Anything with the destination's 1-D latitude/longitude.
    method : str
        ``"auto"`` or one of :data:`METHODS` (see the module docstring).
    radius_km : float, optional
        Search radius of ``"nearest"`` and ``"gaussian"`` (default :func:`default_radius_km`).

    Returns
    -------
    RegridWeights
    """
    src, dst = _grid_of(obj, "source"), _target_grid(target)
    method = _resolve_method(method, src, dst)
    _check_fits(method, src, xesmf=False)
    return _weights_for(src, dst, method, radius_km)


# --------------------------------------------------------------------------------------------
# xarray wrapper
# --------------------------------------------------------------------------------------------


def _regrid_array(da: xr.DataArray, src: _Grid, w: RegridWeights) -> xr.DataArray:
    ydim, xdim = src.dims
    spatial = [c for c in da.coords if set(da[c].dims) & {ydim, xdim}]
    da = da.drop_vars(spatial).rename({ydim: "__src_y", xdim: "__src_x"})
    if da.chunks is not None:
        da = da.chunk({"__src_y": -1, "__src_x": -1})
    out_dtype = np.result_type(da.dtype, np.float32)
    out = xr.apply_ufunc(
        functools.partial(apply_weights, w),
        da,
        input_core_dims=[["__src_y", "__src_x"]],
        output_core_dims=[["lat", "lon"]],
        dask="parallelized",
        output_dtypes=[out_dtype],
        dask_gufunc_kwargs={"output_sizes": {"lat": w.dst_shape[0], "lon": w.dst_shape[1]}},
        keep_attrs=True,
    )
    return out


def _finish(out: xr.DataArray, src_attrs: dict, dst: _Grid, method: str) -> xr.DataArray:
    out = out.assign_coords(_dst_coords(dst))
    out.attrs = {**src_attrs, "regrid_method": method}
    return out


def _check_weights(w: RegridWeights, src: _Grid, dst: _Grid, method: str) -> None:
    if not isinstance(w, RegridWeights):
        raise InputError(f"weights must be a RegridWeights from make_weights, not {type(w)}.")
    if method not in ("auto", w.method):
        raise InputError(f"The weights were built for method {w.method!r}, not {method!r}.")
    if tuple(w.src_shape) != src.shape or w.src_hash != grid_hash(src.lat, src.lon):
        raise GridError(
            f"These weights were built for another source grid (shape {tuple(w.src_shape)}, "
            f"hash {w.src_hash}); this source has shape {src.shape}. Build new ones with "
            "make_weights(obj, target, method)."
        )
    if tuple(w.dst_shape) != dst.shape or w.dst_hash != grid_hash(dst.lat, dst.lon):
        raise GridError(
            f"These weights were built for another target grid (shape {tuple(w.dst_shape)}, "
            f"hash {w.dst_hash}); this target has shape {dst.shape}. Build new ones with "
            "make_weights(obj, target, method)."
        )


def regrid(
    obj: xr.Dataset | xr.DataArray,
    target: xr.Dataset | xr.DataArray,
    method: str = "auto",
    *,
    weights: RegridWeights | None = None,
    radius_km: float | None = None,
    engine: str | None = None,
) -> xr.Dataset | xr.DataArray:
    """Regrid a rectilinear or curvilinear field onto the rectilinear grid of ``target``.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The field(s), on 1-D or 2-D latitude/longitude coordinates (found through cf-xarray,
        ``standard_name`` or the names ``nav_lat``/``nav_lon``, ``lat``/``lon``,
        ``latitude``/``longitude``); other dimensions are kept and may be dask-backed. In a
        Dataset, every numeric data variable on both horizontal dimensions is regridded
        (coordinate bounds are dropped); variables without them are kept as they are.
    target : xarray.Dataset or xarray.DataArray
        Holds the destination's 1-D latitude and longitude.
    method : str
        ``"auto"``, ``"bilinear"``, ``"conservative"``, ``"nearest"`` or ``"gaussian"``.
    weights : RegridWeights, optional
        Weights from :func:`make_weights` to reuse; refused with :class:`GridError` if they
        were built for other grids.
    radius_km : float, optional
        Search radius of ``"nearest"`` and ``"gaussian"`` (default :func:`default_radius_km`).
    engine : str, optional
        ``"auto"``, ``"xdepthdif"`` or ``"xesmf"``; defaults to the module's :data:`ENGINE`.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        On dimensions ``(..., lat, lon)`` with CF attributes on ``lat``/``lon``, the input's
        attributes and ``regrid_method``; lazy if the input was.

    Raises
    ------
    GridError
        Coordinates missing or malformed, or weights built for other grids.
    InputError
        Unknown method or engine, or a method that does not fit the source grid.
    ImportError
        ``engine="xesmf"`` when xESMF cannot be imported.
    """
    if not isinstance(obj, xr.DataArray | xr.Dataset):
        raise InputError(f"regrid needs an xarray DataArray or Dataset, not {type(obj).__name__}.")
    src, dst = _grid_of(obj, "source"), _target_grid(target)
    if weights is not None:
        _check_weights(weights, src, dst, method)
        method = weights.method
    else:
        method = _resolve_method(method, src, dst)
    use_xesmf = _use_xesmf(ENGINE if engine is None else engine, method, weights)
    _check_fits(method, src, use_xesmf)
    if use_xesmf:
        out = _regrid_xesmf(obj, src, dst, method)  # pragma: no cover
        out.attrs = {**obj.attrs, "regrid_method": method}  # pragma: no cover
        return out  # pragma: no cover
    w = weights if weights is not None else _weights_for(src, dst, method, radius_km)
    ydim, xdim = src.dims
    if isinstance(obj, xr.DataArray):
        return _finish(_regrid_array(obj, src, w), obj.attrs, dst, method)
    skip = _bounds_names(obj)
    data = {}
    for name, da in obj.data_vars.items():
        on_grid = ydim in da.dims and xdim in da.dims
        if on_grid and name not in skip and np.issubdtype(da.dtype, np.number):
            data[name] = _finish(_regrid_array(da, src, w), da.attrs, dst, method)
        elif not (set(da.dims) & {ydim, xdim}):
            data[name] = da
    keep = [c for c in obj.coords if not (set(obj[c].dims) & {ydim, xdim})]
    out = xr.Dataset(data, coords={c: obj.coords[c] for c in keep}, attrs=obj.attrs)
    out = out.assign_coords(_dst_coords(dst))
    out.attrs["regrid_method"] = method
    return out
