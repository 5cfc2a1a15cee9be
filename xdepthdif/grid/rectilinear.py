"""Regridding between rectilinear latitude/longitude grids on the sphere, with numpy and scipy.

Weights are kept as one sparse matrix over the flattened ``(lat, lon)`` cells, so a field with
any number of leading dimensions is regridded by two sparse products: one for the values and one
for the validity indicator. Missing source cells (NaN, e.g. land) are dropped and the remaining
weights renormalised; they are never read as zeros.

Longitudes are in degrees east, in any order: they are laid out eastward from the widest gap
between them (:func:`xdepthdif.grid.axes.lon_layout`), so ``[350, 355, 0, 5]``, ``[0, 350,
355, 5]`` and ``[170, 175, 180, -175]`` are regions 15° wide. Differences of longitude are
always taken modulo 360, so the 0..360 and -180..180 conventions give the same weights.
Latitudes may increase or decrease.

Fields of array API libraries other than numpy (CuPy on a GPU, torch, ...) are regridded on
their device by :func:`xdepthdif.grid.ell.apply_ell`, the weights written as gathers and sums
(the standard has no sparse matrices); the weights are built with numpy on the host either way.

Examples
--------
>>> import numpy as np
>>> from xdepthdif.grid.axes import native_axes
>>> src_lat, src_lon = np.arange(-88.0, 89.0, 4.0), np.arange(2.0, 360.0, 4.0)
>>> dst_lat, dst_lon = native_axes(src_lat, src_lon, 6.0)
>>> dst_lat.size, dst_lon.size, float(dst_lon[0])
(30, 60, 3.0)
>>> field = np.ones((2, src_lat.size, src_lon.size))
>>> field[:, :5] = np.nan  # land in the south
>>> regrid = Regridder.conservative(src_lat, src_lon, dst_lat, dst_lon)
>>> out = regrid(field)
>>> out.shape
(2, 30, 60)
>>> bool(np.isnan(out[:, :3]).all()), float(np.nanmax(np.abs(out - 1.0)))
(True, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from array_api_compat import array_namespace

from ..array_library import is_other_library, to_library
from ..errors import GridError
from .axes import _lat_order, cell_edges, is_global_lon, lon_layout
from .ell import apply_ell, ell_from_csr

__all__ = ["Regridder"]

_TOL = 1e-9  # degrees: how close a point must be to an edge of a source axis to count as on it


def _linear_1d_clamped(src: np.ndarray, dst: np.ndarray) -> sp.csr_matrix:
    """Linear interpolation weights along latitude, clamped to the end rows within one source
    spacing beyond them (the edge cells, and a global grid's polar caps); none further out."""
    order = _lat_order(src)
    s = np.asarray(src, dtype=float)[order]
    d = np.asarray(dst, dtype=float)
    rows = np.arange(d.size)
    if s.size == 1:
        return sp.csr_matrix((np.ones(d.size), (rows, np.zeros(d.size, int))), (d.size, 1))
    near = (d >= s[0] - (s[1] - s[0]) - _TOL) & (d <= s[-1] + (s[-1] - s[-2]) + _TOL)
    dc = np.clip(d, s[0], s[-1])
    i = np.clip(np.searchsorted(s, dc, side="right") - 1, 0, s.size - 2)
    t = np.clip((dc - s[i]) / (s[i + 1] - s[i]), 0.0, 1.0)
    rows, i, t = rows[near], i[near], t[near]
    w = sp.coo_matrix(
        (np.r_[1.0 - t, t], (np.r_[rows, rows], np.r_[order[i], order[i + 1]])),
        shape=(d.size, s.size),
    ).tocsr()
    w.eliminate_zeros()
    return w


def _linear_lon(src: np.ndarray, dst: np.ndarray) -> sp.csr_matrix:
    """Linear interpolation weights along longitude: periodic for a global source, none
    outside a regional one."""
    src = np.asarray(src, dtype=float)
    order, u = lon_layout(src)
    off = u - u[0]  # offsets from the first source centre, in [0, 360), increasing
    n = src.size
    d = np.mod(np.asarray(dst, dtype=float) - u[0], 360.0)
    d = np.where(d > 360.0 - _TOL, 0.0, d)
    rows = np.arange(d.size)
    if is_global_lon(src):
        j = np.searchsorted(off, d, side="right") - 1
        jn = (j + 1) % n
        right = np.where(jn == 0, 360.0, off[jn])
        t = np.clip((d - off[j]) / (right - off[j]), 0.0, 1.0)
        inside = np.ones(d.size, bool)
    elif n == 1:
        j = jn = np.zeros(d.size, int)
        t = np.zeros(d.size)
        inside = d <= _TOL
    else:
        inside = d <= off[-1] + _TOL
        dc = np.minimum(d, off[-1])
        j = np.clip(np.searchsorted(off, dc, side="right") - 1, 0, n - 2)
        jn = j + 1
        t = np.clip((dc - off[j]) / (off[jn] - off[j]), 0.0, 1.0)
    r, j, jn, t = rows[inside], order[j[inside]], order[jn[inside]], t[inside]
    w = sp.coo_matrix((np.r_[1.0 - t, t], (np.r_[r, r], np.r_[j, jn])), shape=(d.size, n)).tocsr()
    w.eliminate_zeros()
    return w


def _overlaps(
    src_lo: np.ndarray, src_hi: np.ndarray, dst_lo: np.ndarray, dst_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping lengths of intervals: sources sorted and disjoint, destinations any.

    Returns the destination index, the source index and the overlap length of every pair that
    overlaps.
    """
    start = np.searchsorted(src_hi, dst_lo, side="right")  # first source with hi > dst_lo
    stop = np.searchsorted(src_lo, dst_hi, side="left")  # sources with lo < dst_hi
    counts = np.maximum(stop - start, 0)
    rows = np.repeat(np.arange(dst_lo.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.repeat(start, counts) + np.arange(rows.size) - first
    length = np.minimum(src_hi[cols], dst_hi[rows]) - np.maximum(src_lo[cols], dst_lo[rows])
    keep = length > 0
    return rows[keep], cols[keep], length[keep]


def _lat_intervals(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, sin of the southern and northern edge."""
    lat = np.asarray(lat, dtype=float)
    if lat.size == 1:
        raise GridError(
            "Conservative remapping needs at least two latitudes to find cell edges; use "
            "method='bilinear' (or 'nearest') for a single row or column."
        )
    edges = np.sin(np.deg2rad(cell_edges(lat, -90.0, 90.0)))
    return np.minimum(edges[:-1], edges[1:]), np.maximum(edges[:-1], edges[1:])


def _lon_edges(lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order of :func:`~xdepthdif.grid.axes.lon_layout` and the unwrapped, increasing cell
    edges of the longitudes in that order, spanning at most 360°."""
    order, u = lon_layout(lon)
    if is_global_lon(lon):
        step = 360.0 / u.size
        return order, u[0] - 0.5 * step + step * np.arange(u.size + 1)
    if u.size == 1:
        raise GridError(
            "Conservative remapping needs at least two longitudes to find cell edges; use "
            "method='bilinear' (or 'nearest') for a single row or column."
        )
    edges = cell_edges(u)
    edges[-1] = min(edges[-1], edges[0] + 360.0)
    return order, edges


def _conservative_lat(src: np.ndarray, dst: np.ndarray) -> sp.csr_matrix:
    order = _lat_order(src)
    _lat_order(dst)
    s_lo, s_hi = _lat_intervals(np.asarray(src, dtype=float)[order])
    d_lo, d_hi = _lat_intervals(np.asarray(dst, dtype=float))
    r, c, length = _overlaps(s_lo, s_hi, d_lo, d_hi)
    width = d_hi - d_lo
    w = np.divide(length, width[r], out=np.zeros_like(length), where=width[r] > 0)
    return sp.coo_matrix((w, (r, order[c])), shape=(d_lo.size, s_lo.size)).tocsr()


def _conservative_lon(src: np.ndarray, dst: np.ndarray) -> sp.csr_matrix:
    s_order, s_edges = _lon_edges(src)
    d_order, d_edges = _lon_edges(dst)
    n = s_edges.size - 1
    width = np.diff(d_edges)
    d_lo = s_edges[0] + np.mod(d_edges[:-1] - s_edges[0], 360.0)
    d_lo = np.where(d_lo > s_edges[0] + 360.0 - _TOL, d_lo - 360.0, d_lo)
    # the source once, then again one turn east, for destination cells reaching past the end
    lo = np.r_[s_edges[:-1], s_edges[:-1] + 360.0]
    hi = np.r_[s_edges[1:], s_edges[1:] + 360.0]
    r, c, length = _overlaps(lo, hi, d_lo, d_lo + width)
    w = sp.coo_matrix(
        (length / width[r], (d_order[r], s_order[c % n])), shape=(width.size, n)
    ).tocsr()
    w.sum_duplicates()
    return w


@dataclass(frozen=True, eq=False)
class Regridder:
    """Sparse regridding weights between two rectilinear latitude/longitude grids.

    Build one with :meth:`bilinear` or :meth:`conservative`, then call it on fields.

    Attributes
    ----------
    weights : scipy.sparse.csr_matrix
        Shaped ``(n_dst, n_src)`` over flattened ``(lat, lon)`` cells (C order).
    src_shape, dst_shape : tuple of int
        ``(n_lat, n_lon)`` of the source and destination grids.
    method : str
        ``"bilinear"`` or ``"conservative"``.
    min_weight : float
        Default for the smallest valid weight fraction a destination cell needs.
    """

    weights: sp.csr_matrix
    src_shape: tuple[int, int]
    dst_shape: tuple[int, int]
    method: str
    min_weight: float

    @classmethod
    def bilinear(
        cls,
        src_lat: np.ndarray,
        src_lon: np.ndarray,
        dst_lat: np.ndarray,
        dst_lon: np.ndarray,
    ) -> Regridder:
        """Bilinear interpolation in (lat, lon) degrees between the four surrounding centres.

        Periodic in longitude when the source is global (:func:`is_global_lon`). Destination
        points beyond the first or last source latitude, by at most one source spacing (the
        edge cells, a global grid's polar caps), take the nearest source row; points further
        out, and points outside a regional source's longitude range, get no weights (NaN out).

        Parameters
        ----------
        src_lat, src_lon, dst_lat, dst_lon : numpy.ndarray
            One-dimensional cell-centre axes, in degrees.

        Returns
        -------
        Regridder
        """
        w_lat = _linear_1d_clamped(src_lat, dst_lat)
        w_lon = _linear_lon(src_lon, dst_lon)
        return cls._from_axes(w_lat, w_lon, "bilinear", 1e-9)

    @classmethod
    def conservative(
        cls,
        src_lat: np.ndarray,
        src_lon: np.ndarray,
        dst_lat: np.ndarray,
        dst_lon: np.ndarray,
    ) -> Regridder:
        """First-order conservative (area-weighted) remapping.

        The weight of source cell ``s`` in destination cell ``d`` is
        ``area(s ∩ d) / area(d)``, with areas on the sphere proportional to
        ``Δlon (rad) × Δsin(lat)``, edges from :func:`cell_edges` (latitude clipped to ±90) and
        longitude overlaps taken modulo 360.

        Parameters
        ----------
        src_lat, src_lon, dst_lat, dst_lon : numpy.ndarray
            One-dimensional cell-centre axes, in degrees, at least two cells each.

        Returns
        -------
        Regridder
        """
        w_lat = _conservative_lat(src_lat, dst_lat)
        w_lon = _conservative_lon(src_lon, dst_lon)
        return cls._from_axes(w_lat, w_lon, "conservative", 0.5)

    @classmethod
    def _from_axes(
        cls, w_lat: sp.csr_matrix, w_lon: sp.csr_matrix, method: str, min_weight: float
    ) -> Regridder:
        weights = sp.csr_matrix(sp.kron(w_lat, w_lon, format="csr"))
        weights.eliminate_zeros()
        return cls(
            weights=weights,
            src_shape=(w_lat.shape[1], w_lon.shape[1]),
            dst_shape=(w_lat.shape[0], w_lon.shape[0]),
            method=method,
            min_weight=float(min_weight),
        )

    def __call__(self, field: Any, min_weight: float | None = None) -> Any:
        """Regrid ``field``, dropping NaN source cells and renormalising the rest.

        Parameters
        ----------
        field : array
            Shaped ``(..., n_lat_src, n_lon_src)``: a numpy array (or anything numpy converts),
            or an array of another array API library (CuPy, torch, ...), regridded on its
            device by :func:`~xdepthdif.grid.ell.apply_ell`.
        min_weight : float, optional
            A destination cell whose valid weight fraction (the sum of the weights of its
            finite source cells) is below this is NaN. Defaults to :attr:`min_weight`.

        Returns
        -------
        array
            Shaped ``(..., n_lat_dst, n_lon_dst)``, of the input's library; float32 for
            float32 input, else float64.
        """
        threshold = self.min_weight if min_weight is None else float(min_weight)
        if is_other_library(field):
            self._check_shape(field.shape)
            return self._regrid_array_api(field, threshold)
        field = np.asarray(field)
        self._check_shape(field.shape)
        flat = field.reshape(-1, self.src_shape[0] * self.src_shape[1])
        n_dst = self.dst_shape[0] * self.dst_shape[1]
        out = np.empty((flat.shape[0], n_dst), np.result_type(field.dtype, np.float32))
        step = max(1, CHUNK_VALUES // n_dst)  # fields at a time: each column is regridded alone
        for start in range(0, flat.shape[0], step):
            part = flat[start : start + step].T
            valid = np.isfinite(part)
            values = self.weights @ np.where(valid, part, 0.0)
            frac = self.weights @ valid.astype(float)
            ok = (frac > 0) & (frac >= threshold - 1e-12)
            done = np.full(values.shape, np.nan)
            np.divide(values, frac, out=done, where=ok)
            out[start : start + step] = done.T
        return out.reshape(*field.shape[:-2], *self.dst_shape)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 2 or tuple(shape[-2:]) != self.src_shape:
            raise ValueError(
                f"field's last two dimensions {tuple(shape[-2:])} are not the source grid "
                f"{self.src_shape}"
            )

    def ell(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights in ELLPACK form, for :func:`~xdepthdif.grid.ell.apply_ell`
        (see :func:`~xdepthdif.grid.ell.ell_from_csr`)."""
        return ell_from_csr(self.weights)

    def _regrid_array_api(self, field: Any, threshold: float) -> Any:
        """:meth:`__call__` for arrays of an array API library other than numpy, on their
        device: the weights go there, the field stays."""
        xp = array_namespace(field)
        if not xp.isdtype(field.dtype, "real floating"):  # integers and booleans: float64
            field = xp.astype(field, xp.float64)
        dtype = field.dtype
        lead = tuple(field.shape[:-2])
        flat = xp.reshape(field, (-1, self.src_shape[0] * self.src_shape[1]))
        index, weight = (to_library(xp, a, like=field) for a in self.ell())
        valid = xp.isfinite(flat)
        values = apply_ell(index, weight, xp.where(valid, flat, 0.0))
        frac = apply_ell(index, weight, xp.astype(valid, xp.float64))
        ok = (frac > 0) & (frac >= threshold - 1e-12)
        out = xp.where(ok, values / xp.where(ok, frac, 1.0), xp.nan)
        return xp.astype(xp.reshape(out, (*lead, *self.dst_shape)), dtype, copy=False)


CHUNK_VALUES = 2**22
"""Destination values regridded at once on numpy (32 MB of float64 per intermediate): a large
ensemble is regridded a few fields at a time instead of through intermediates of gigabytes,
with the same numbers (every field is its own column of the sparse product)."""
