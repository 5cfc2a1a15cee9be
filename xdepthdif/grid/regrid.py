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
import hashlib
from dataclasses import dataclass, field
from typing import Any

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.spatial import cKDTree

from ..errors import GridError, InputError
from .geo import chord_to_km, km_to_chord, unit_vectors
from .rectilinear import Regridder, cell_edges, is_global_lon

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
_XESMF_METHODS = {"bilinear": "bilinear", "conservative": "conservative", "nearest": "nearest_s2d"}
_KM_PER_DEGREE = 111.195
_LAT_NAMES = ("nav_lat", "lat", "latitude", "nav_lat_grid_T", "y_lat")
_LON_NAMES = ("nav_lon", "lon", "longitude", "nav_lon_grid_T", "x_lon")
_XESMF_HINT = (
    "xESMF needs ESMPy, which is not on PyPI: install both with conda, "
    "`conda install -c conda-forge esmpy xesmf` (or `conda install -c conda-forge esmpy` "
    "then `pip install xesmf`), or use engine='xdepthdif'."
)


# --------------------------------------------------------------------------------------------
# numpy / scipy core
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RegridWeights:
    """Reusable regridding weights between two grids.

    Attributes
    ----------
    weights : scipy.sparse.csr_matrix
        Shaped ``(n_dst, n_src)`` over the flattened source ``(y, x)`` and destination
        ``(lat, lon)`` cells (C order). For ``"nearest"`` the weights only rank the candidate
        source points of a destination cell (larger is nearer).
    src_shape, dst_shape : tuple of int
        Shapes of the source ``(y, x)`` and destination ``(lat, lon)`` grids.
    method : str
        One of :data:`METHODS`.
    min_weight : float
        A destination cell whose valid weight (sum of the weights of its finite source points)
        is below this is NaN (for the weighted-mean methods).
    src_hash, dst_hash : str
        Hashes of the source and destination coordinates (see :func:`grid_hash`).
    radius_km : float or None
        Search radius of ``"nearest"`` and ``"gaussian"``.
    """

    weights: sp.csr_matrix
    src_shape: tuple[int, int]
    dst_shape: tuple[int, int]
    method: str
    min_weight: float
    src_hash: str
    dst_hash: str
    radius_km: float | None = None
    _order: dict = field(default_factory=dict, repr=False)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Regrid a numpy array shaped ``(..., *src_shape)``; see :func:`apply_weights`."""
        return apply_weights(self, values)


def grid_hash(lat: np.ndarray, lon: np.ndarray) -> str:
    """A short sha256 hash of latitude/longitude arrays (their shapes and float64 values)."""
    h = hashlib.sha256()
    for a in (lat, lon):
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def default_radius_km(dst_lat: np.ndarray, dst_lon: np.ndarray) -> float:
    """1.5 × the destination cell size: the larger median lat/lon spacing, in km.

    Examples
    --------
    >>> round(default_radius_km(np.arange(-89.0, 90, 2), np.arange(1.0, 360, 2)), 1)
    333.6
    """
    steps = []
    for axis in (np.asarray(dst_lat, float), np.asarray(dst_lon, float)):
        if axis.size > 1:
            d = np.abs(np.diff(axis))
            d = np.minimum(d, 360.0 - d)
            steps.append(float(np.median(d)))
    if not steps or max(steps) <= 0:
        raise GridError("Cannot infer a destination cell size; pass radius_km explicitly.")
    return 1.5 * max(steps) * _KM_PER_DEGREE


def _candidates(
    src_lat: np.ndarray, src_lon: np.ndarray, dst_lat: np.ndarray, dst_lon: np.ndarray, radius_km
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Destination rows, source columns and great-circle distances (km) of every pair closer
    than ``radius_km``; source points with non-finite coordinates are ignored."""
    src_lat = np.asarray(src_lat, float).ravel()
    src_lon = np.asarray(src_lon, float).ravel()
    ok = np.isfinite(src_lat) & np.isfinite(src_lon)
    idx = np.flatnonzero(ok)
    src_xyz = unit_vectors(src_lat[ok], src_lon[ok])
    dlat, dlon = np.meshgrid(np.asarray(dst_lat, float), np.asarray(dst_lon, float), indexing="ij")
    dst_xyz = unit_vectors(dlat.ravel(), dlon.ravel())
    if idx.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    hits = cKDTree(src_xyz).query_ball_point(dst_xyz, r=km_to_chord(radius_km))
    counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    rows = np.repeat(np.arange(len(hits)), counts)
    cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits]) if rows.size else rows
    chord = np.linalg.norm(dst_xyz[rows] - src_xyz[cols], axis=-1)
    return rows, idx[cols], chord_to_km(chord)


def gaussian_weights(
    src_lat: np.ndarray,
    src_lon: np.ndarray,
    dst_lat: np.ndarray,
    dst_lon: np.ndarray,
    radius_km: float,
) -> sp.csr_matrix:
    """Gaussian weights of the source points within ``radius_km`` of each destination centre.

    Parameters
    ----------
    src_lat, src_lon : numpy.ndarray
        Source point coordinates in degrees, any shape (flattened in C order).
    dst_lat, dst_lon : numpy.ndarray
        One-dimensional destination axes in degrees.
    radius_km : float
        Search radius; the Gaussian's standard deviation is ``radius_km / 2``.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_dst, n_src)``, each non-empty row summing to 1.
    """
    rows, cols, dist = _candidates(src_lat, src_lon, dst_lat, dst_lon, radius_km)
    sigma = 0.5 * radius_km
    w = np.exp(-0.5 * (dist / sigma) ** 2)
    shape = (np.size(dst_lat) * np.size(dst_lon), np.size(src_lat))
    mat = sp.csr_matrix((w, (rows, cols)), shape=shape)
    norm = np.asarray(mat.sum(axis=1)).ravel()
    scale = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
    return sp.csr_matrix(sp.diags(scale) @ mat)


def nearest_weights(
    src_lat: np.ndarray,
    src_lon: np.ndarray,
    dst_lat: np.ndarray,
    dst_lon: np.ndarray,
    radius_km: float,
) -> sp.csr_matrix:
    """Candidate source points within ``radius_km`` of each destination centre, ranked.

    Parameters
    ----------
    src_lat, src_lon, dst_lat, dst_lon, radius_km
        As for :func:`gaussian_weights`.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_dst, n_src)`` holding ``1 / (1 + d_km)``: the valid candidate with the largest
        entry is the nearest one.
    """
    rows, cols, dist = _candidates(src_lat, src_lon, dst_lat, dst_lon, radius_km)
    shape = (np.size(dst_lat) * np.size(dst_lon), np.size(src_lat))
    return sp.csr_matrix((1.0 / (1.0 + dist), (rows, cols)), shape=shape)


def _apply_nearest(w: RegridWeights, flat: np.ndarray) -> np.ndarray:
    """``flat`` is ``(n_lead, n_src)``; returns ``(n_lead, n_dst)``."""
    mat = w.weights
    n_dst = mat.shape[0]
    out = np.full((flat.shape[0], n_dst), np.nan)
    if mat.nnz == 0:
        return out
    if "order" not in w._order:
        counts = np.diff(mat.indptr)
        rows = np.repeat(np.arange(n_dst), counts)
        w._order["order"] = np.lexsort((-mat.data, rows))  # by row, nearest first
    cols = mat.indices[w._order["order"]]
    vals = flat[:, cols]
    pos = np.where(np.isfinite(vals), np.arange(cols.size), cols.size)
    nonempty = np.diff(mat.indptr) > 0
    starts, ends = mat.indptr[:-1][nonempty], mat.indptr[1:][nonempty]
    first = np.minimum.reduceat(pos, starts, axis=1)
    picked = np.take_along_axis(vals, np.minimum(first, cols.size - 1), axis=1)
    out[:, nonempty] = np.where(first < ends, picked, np.nan)
    return out


def apply_weights(w: RegridWeights, values: np.ndarray) -> np.ndarray:
    """Regrid ``values`` shaped ``(..., *w.src_shape)`` with weights ``w``.

    NaN source values are dropped: weighted means are renormalised over the valid points
    (NaN where the valid weight is below ``w.min_weight``), ``"nearest"`` takes the nearest
    valid candidate (NaN where there is none).

    Returns
    -------
    numpy.ndarray
        Shaped ``(..., *w.dst_shape)``; float32 for float32 input, else float64.
    """
    values = np.asarray(values)
    if values.ndim < 2 or values.shape[-2:] != tuple(w.src_shape):
        raise InputError(
            f"The field's last two dimensions {values.shape[-2:]} are not the source grid "
            f"{tuple(w.src_shape)} of these weights."
        )
    if w.method != "nearest":
        core = Regridder(w.weights, w.src_shape, w.dst_shape, w.method, w.min_weight)
        return core(values)
    lead = values.shape[:-2]
    flat = values.reshape(-1, w.src_shape[0] * w.src_shape[1])
    out = _apply_nearest(w, flat.astype(float, copy=False))
    dtype = np.result_type(values.dtype, np.float32)
    return out.reshape(*lead, *w.dst_shape).astype(dtype, copy=False)


# --------------------------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------------------------


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


def _resolve_method(method: str, src: _Grid, dst: _Grid) -> str:
    if method == "auto":
        if src.curvilinear:
            return "gaussian"
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
