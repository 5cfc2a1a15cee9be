"""Vertical interpolation of profiles to model levels, on bare numpy arrays (no xarray).

A model level ``z`` gets a value only where an observation lies close to it: linear
interpolation between the observations just above and just below when the nearer of the two is
within ``tol(z) = max(0.1 * z, 10 m)``; the nearest observation when ``z`` lies above the
shallowest or below the deepest one by at most :data:`ONE_SIDED_M` (10 m, at any depth: copying a
value from 1945 m to a 2156 m level would pass the vertical gradient off as an observation);
NaN otherwise. There is no extrapolation.

Examples
--------
>>> import numpy as np
>>> depth = np.array([[0.0, 20.0, 100.0]])
>>> theta = np.array([[20.0, 18.0, 10.0]])
>>> interpolate_to_levels(depth, theta, np.array([10.0, 60.0, 105.0, 150.0])).tolist()
[[19.0, nan, 10.0, nan]]
"""

from __future__ import annotations

import numpy as np

from xdepthdif.errors import InputError

_CHUNK = 16384
ONE_SIDED_M = 10.0
"""How far (m) above the shallowest or below the deepest observation a level may take its value."""


def level_tolerance(levels: np.ndarray) -> np.ndarray:
    """Search distance ``max(0.1 * z, 10 m)`` of each level (metres).

    >>> level_tolerance(np.array([5.0, 100.0, 1000.0])).tolist()
    [10.0, 10.0, 100.0]
    """
    return np.maximum(0.1 * np.abs(np.asarray(levels, dtype=np.float64)), 10.0)


def interpolate_to_levels(depth: np.ndarray, values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Interpolate profiles to fixed levels, without extrapolation.

    Parameters
    ----------
    depth, values : np.ndarray
        Shape ``(P, L)`` (or ``(L,)`` for one profile): depths (m, positive down) and values of
        each profile's observations, in any order, NaN where there is none.
    levels : np.ndarray
        Shape ``(Z,)``: target depths (m, positive down), finite.

    Returns
    -------
    np.ndarray
        Shape ``(P, Z)`` (or ``(Z,)``), float64, NaN where no observation is close enough.

    Examples
    --------
    Unsorted input with a NaN gap; 50 m is bracketed by 40 m and 70 m, and 40 m lies within
    10 m of it:

    >>> interpolate_to_levels(np.array([70.0, np.nan, 40.0]), np.array([4.0, 9.0, 10.0]),
    ...                       np.array([50.0])).tolist()
    [8.0]
    """
    depth = np.asarray(depth, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    if depth.shape != values.shape or depth.ndim not in (1, 2):
        raise InputError(
            f"depth {depth.shape} and values {values.shape} must share one shape (P, L) or (L,)."
        )
    if levels.ndim != 1 or not np.all(np.isfinite(levels)):
        raise InputError(f"levels must be a finite 1-D array; got shape {levels.shape}.")
    single = depth.ndim == 1
    depth2, values2 = np.atleast_2d(depth), np.atleast_2d(values)
    out = np.full((depth2.shape[0], levels.size), np.nan)
    for start in range(0, depth2.shape[0], _CHUNK):
        stop = start + _CHUNK
        out[start:stop] = _interp_block(depth2[start:stop], values2[start:stop], levels)
    return out[0] if single else out


def _interp_block(depth: np.ndarray, values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    n_prof, n_obs = depth.shape
    valid = np.isfinite(depth) & np.isfinite(values)
    key = np.where(valid, depth, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    d = np.take_along_axis(key, order, axis=1)
    v = np.take_along_axis(np.where(valid, values, np.nan), order, axis=1)
    n_valid = valid.sum(axis=1)[:, None]
    z = np.broadcast_to(levels, (n_prof, levels.size))
    # k = number of valid observations with depth <= z (binary search along each row)
    lo = np.zeros(z.shape, dtype=np.int64)
    hi = np.broadcast_to(n_valid, z.shape).astype(np.int64)
    while np.any(lo < hi):
        active = lo < hi
        mid = (lo + hi) // 2
        d_mid = np.take_along_axis(d, np.minimum(mid, max(n_obs - 1, 0)), axis=1)
        right = d_mid <= z
        lo = np.where(active & right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)
    if n_obs == 0:
        return np.full(z.shape, np.nan)
    above, below = lo - 1, lo
    has_above, has_below = above >= 0, below < n_valid
    ia, ib = np.clip(above, 0, n_obs - 1), np.clip(below, 0, n_obs - 1)
    da, db = np.take_along_axis(d, ia, axis=1), np.take_along_axis(d, ib, axis=1)
    va, vb = np.take_along_axis(v, ia, axis=1), np.take_along_axis(v, ib, axis=1)
    dist_a = np.where(has_above, z - da, np.inf)
    dist_b = np.where(has_below, db - z, np.inf)
    both = has_above & has_below
    tol = np.where(both, level_tolerance(levels)[None, :], ONE_SIDED_M)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(both, (z - da) / (db - da), 0.0)
        inner = va + weight * (vb - va)
    out = np.where(both, inner, np.where(has_above, va, vb))
    return np.where(np.minimum(dist_a, dist_b) <= tol, out, np.nan)
