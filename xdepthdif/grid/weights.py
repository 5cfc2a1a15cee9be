"""Regridding weights as sparse matrices: the numpy/scipy core of
:func:`xdepthdif.grid.regrid.regrid`.

:class:`RegridWeights` holds a ``scipy.sparse.csr_matrix`` of shape ``(n_dst, n_src)`` over the
flattened grids; ``"nearest"`` and ``"gaussian"`` weights are found within a search radius with a
:class:`scipy.spatial.cKDTree` on unit vectors (great-circle distances), and
:func:`apply_weights` applies them with NaN source points dropped and the weights renormalised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..errors import GridError, InputError
from .geo import chord_to_km, km_to_chord, unit_vectors
from .rectilinear import Regridder

_KM_PER_DEGREE = 111.195


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
