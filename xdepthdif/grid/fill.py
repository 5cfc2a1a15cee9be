"""Holes of gridded fields filled from the nearest finite cell on the sphere, on any array
library (numpy, or CuPy on its device when an ensemble's members share their holes):
:func:`fill_from_nearest`."""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace
from scipy.spatial import cKDTree

from ..array_library import is_other_library, to_library, to_numpy

__all__ = ["fill_from_nearest"]


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def fill_from_nearest(field: Any, where: Any, lat: np.ndarray, lon: np.ndarray) -> Any:
    """Fill NaN cells, where asked, with the value of the nearest finite cell on the sphere.

    Parameters
    ----------
    field : array
        Shaped ``(..., n_lat, n_lon)``: a numpy array (or anything numpy converts), or an
        array of another array API library (CuPy, ...), filled on its device.
    where : numpy.ndarray
        Boolean, broadcastable to ``field``: the cells to fill (if they are NaN).
    lat, lon : numpy.ndarray
        The one-dimensional axes of the last two dimensions, in degrees.

    Returns
    -------
    array
        A new array of the input's library (float32 for float32 input, else float64). Each
        filled cell takes the value of the great-circle nearest finite cell of the same
        leading index; leading indices with no finite cell are left as they are.

    Notes
    -----
    The neighbour searches run on the host (scipy's ``cKDTree``), one per distinct pattern of
    finite cells and cells to fill. When the slices along the first axis share their holes,
    as an ensemble's members do level by level, the first slice's holes are all that leaves
    the device, and one copy of the cells to fill (numpy) or one gather (another library, on
    its device) fills every slice; otherwise an array of another library is filled on the host
    and sent back.

    Examples
    --------
    >>> f = np.array([[1.0, np.nan, np.nan, 2.0]])
    >>> fill_from_nearest(f, np.array([True, True, False, True]), [0.0], [0, 10, 200, 350])
    array([[ 1.,  1., nan,  2.]])
    """
    other = is_other_library(field)
    xp = array_namespace(field) if other else np
    given = field
    if not other:
        field = np.asarray(field)
        field = field.astype(np.result_type(field.dtype, np.float32), copy=False)
    elif not xp.isdtype(field.dtype, "real floating"):
        field = xp.astype(field, xp.float64)
    shape = tuple(field.shape[-2:])
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    if (lat.size, lon.size) != shape:
        raise ValueError(f"axes ({lat.size}, {lon.size}) do not match the field's {shape}")
    want = np.asarray(where, dtype=bool)
    n = shape[0] * shape[1]
    first = field.shape[0] if field.ndim >= 3 else 1
    rows = xp.reshape(field, (first, -1))  # one row per slice along the first axis
    same_want = want.ndim < field.ndim or want.shape[0] == 1 or bool(np.all(want == want[:1]))
    if same_want and _same_holes(xp, rows):
        nan_row = to_numpy(xp.isnan(rows[0, ...])).reshape(-1, n)
        todo = np.broadcast_to(want, field.shape).reshape(first, -1, n)[0] & nan_row
        dst, src = _nearest_sources(~nan_row, todo, lat, lon)
        if not other:
            out = rows.copy() if np.may_share_memory(rows, given) else rows  # reshaped: a copy
            out[:, dst] = out[:, src]
            return out.reshape(field.shape)
        index = np.arange(rows.shape[1])
        index[dst] = src
        out = xp.take(rows, to_library(xp, index, like=field), axis=1)
        return xp.reshape(out, field.shape)
    if other:
        return to_library(xp, fill_from_nearest(to_numpy(field), want, lat, lon), like=field)
    flat = field.reshape(-1, n)
    todo = np.broadcast_to(want, field.shape).reshape(flat.shape) & np.isnan(flat)
    dst, src = _nearest_sources(np.isfinite(flat), todo, lat, lon)
    out = field.reshape(-1).copy()
    out[dst] = out[src]
    return out.reshape(field.shape)


def _same_holes(xp, rows, chunk: int = 8) -> bool:
    """Whether every row is NaN in the same cells as the first and none holds an infinity (so
    that a row's finite cells are those that are not NaN); ``chunk`` rows at a time, to keep
    the temporary masks small."""
    first = xp.isnan(rows[0, ...])
    for start in range(0, rows.shape[0], chunk):
        part = rows[start : min(start + chunk, rows.shape[0]), ...]
        if not bool(xp.all(xp.isnan(part) == first)) or bool(xp.any(xp.isinf(part))):
            return False
    return True


def _nearest_sources(finite: np.ndarray, todo: np.ndarray, lat, lon) -> tuple:
    """Flat indices into ``(slices, cells)`` (``finite`` and ``todo``'s shape): the cells of
    ``todo`` and, for each, the nearest finite cell of its slice (slices without a finite cell
    are left out). Slices with the same finite cells and the same cells to fill share one
    neighbour search."""
    grid = _unit_vectors(*np.meshgrid(lat, lon, indexing="ij")).reshape(-1, 3)
    n = finite.shape[-1]
    dst, src, sources = [], [], {}
    for k in range(finite.shape[0]):
        if not todo[k].any() or not finite[k].any():
            continue
        key = np.packbits(finite[k]).tobytes() + np.packbits(todo[k]).tobytes()
        if key not in sources:
            _, nearest = cKDTree(grid[finite[k]]).query(grid[todo[k]])
            sources[key] = np.flatnonzero(finite[k])[nearest]
        dst.append(k * n + np.flatnonzero(todo[k]))
        src.append(k * n + sources[key])
    if not dst:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(dst), np.concatenate(src)
