"""The array API kernels of the optimal interpolation: a group of tiles' covariances and their
batched solve (:func:`solve_tile_group`), for :class:`xdepthdif.analysis.oi._Neighbours`.

Written against the Python array API standard through ``array-api-compat``: arrays of any
compliant library (numpy, CuPy, ...) give arrays of the same library, on the same device. numpy
keeps the operations it always used where the standard has no equivalent with the same
rounding (``einsum``, assignment to a diagonal), so its results are bit for bit what they were.

Examples
--------
>>> import numpy as np
>>> one = np.ones((1, 1, 1))
>>> incr, var = solve_tile_group(one, one, np.ones((1, 1)), np.ones((1, 1)),
...                              r=np.ones((1, 1)), innov=np.full((1, 1), 2.0),
...                              use=np.ones((1, 1), bool), var_g=np.ones((1, 1)), sigma_b=1.0)
>>> incr.tolist(), var.tolist()  # equal background and observation errors: half way
([[1.0]], [[0.5]])
"""

from __future__ import annotations

import array_api_compat
import numpy as np
from array_api_compat import array_namespace

__all__ = ["gather", "solve_tile_group"]


def gather(x, index):
    """``x[index]`` for a 1-D ``x`` and an index array of any shape (the standard's ``take``
    wants a 1-D index)."""
    xp = array_namespace(x, index)
    return xp.reshape(xp.take(x, xp.reshape(index, (-1,))), index.shape)


def solve_tile_group(
    corr_oo, corr_go, obs_pattern, grid_pattern, r, innov, use, var_g, sigma_b: float
):
    """Increments and error variances of the cells of a group of tiles: the batched OI solve.

    Written against the array API: arrays of any compliant library (numpy, CuPy, ...) give
    arrays of the same library, on the same device; numpy gives the bits it always gave.

    Parameters
    ----------
    corr_oo, corr_go
        Correlations between each tile's observations ``(tile, m, m)`` and from its cells to
        them ``(tile, cell, m)`` (float32 or float64).
    obs_pattern, r, innov
        Error pattern, error variance and innovation at each tile's observations
        ``(tile, m)``.
    grid_pattern, var_g
        Error pattern and background error variance at each tile's cells ``(tile, cell)``.
    use
        Boolean ``(tile, m)``: which observations a tile uses (the others are padding).
    sigma_b
        Background error standard deviation.

    Returns
    -------
    increment, variance
        ``(tile, cell)`` float64: ``B_go (B_oo + R)⁻¹ d`` and ``B_gg − B_go (B_oo + R)⁻¹ B_og``.
    """
    xp = array_namespace(corr_oo, corr_go, obs_pattern, use)
    po = sigma_b * obs_pattern * xp.astype(use, xp.float64)
    pg = sigma_b * grid_pattern
    c_oo = _add_to_diagonal(po[:, :, None] * po[:, None, :] * corr_oo, xp.where(use, r, 1.0))
    c_go = pg[:, :, None] * po[:, None, :] * corr_go
    d = xp.where(use, innov, 0.0)
    rhs = xp.concat([d[:, :, None], xp.permute_dims(c_go, (0, 2, 1))], axis=2)
    # batched solve: linalg is an extension of the standard, present in numpy, CuPy, torch
    sol = xp.linalg.solve(c_oo, rhs)
    return _batched_matvec(c_go, sol[:, :, 0]), var_g - _batched_diag_product(c_go, sol[:, :, 1:])


def _add_to_diagonal(a, v):
    """``a[t, i, i] + v[t, i]`` on the diagonals of a stack of square matrices (a new array;
    numpy adds in place, as it always did). The standard has no assignment through integer
    indices, so other libraries select the diagonal with ``where``: the same sums."""
    xp = array_namespace(a, v)
    if array_api_compat.is_numpy_namespace(xp):
        m = a.shape[-1]
        a[:, np.arange(m), np.arange(m)] += v
        return a
    eye = xp.eye(a.shape[-1], dtype=xp.bool, device=array_api_compat.device(a))
    return xp.where(eye, a + v[:, :, None], a)


def _batched_matvec(a, v):
    """``Σ_k a[t, m, k] v[t, k]``: ``einsum`` for numpy (its bits, as they always were),
    ``matmul`` for other libraries (``einsum`` is not in the standard)."""
    xp = array_namespace(a, v)
    if array_api_compat.is_numpy_namespace(xp):
        return np.einsum("tmk,tk->tm", a, v)
    return xp.matmul(a, v[:, :, None])[:, :, 0]


def _batched_diag_product(a, b):
    """``Σ_k a[t, m, k] b[t, k, m]``, the diagonals of ``a @ b``: ``einsum`` for numpy, a sum
    of products for other libraries (``einsum`` is not in the standard)."""
    xp = array_namespace(a, b)
    if array_api_compat.is_numpy_namespace(xp):
        return np.einsum("tmk,tkm->tm", a, b)
    return xp.sum(a * xp.permute_dims(b, (0, 2, 1)), axis=-1)
