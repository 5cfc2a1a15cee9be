"""The array API kernels of the optimal interpolation: a group of tiles' covariances and their
batched solve (:func:`solve_tile_group`), for :class:`xdepthdif.analysis.oi._Neighbours`.

Written against the Python array API standard through ``array-api-compat``: arrays of any
compliant library (numpy, CuPy, ...) give arrays of the same library, on the same device. numpy
solves each tile by a Cholesky factorisation and one triangular solve (LAPACK's ``potrf`` and
``trtrs`` through :mod:`scipy.linalg.lapack`, a core dependency, whatever else is installed):
half the flops of the LU solve that other libraries use (the standard has no triangular solve),
with results that differ from it by rounding (about 1e-13 relative).

Examples
--------
>>> import numpy as np
>>> one = np.ones((1, 1, 1))
>>> incr, var = solve_tile_group(one, one, np.ones((1, 1)), np.ones((1, 1)),
...                              r=np.full((1, 1), 3.0), innov=np.full((1, 1), 2.0),
...                              use=np.ones((1, 1), bool), var_g=np.ones((1, 1)), sigma_b=1.0)
>>> incr.tolist(), var.tolist()  # observation error variance 3 × the background's: a quarter
([[0.5]], [[0.75]])
"""

from __future__ import annotations

import array_api_compat
import numpy as np
from array_api_compat import array_namespace
from scipy.linalg import lapack

__all__ = ["gather", "grid_tiles", "solve_tile_group"]


def gather(x, index):
    """``x[index]`` for a 1-D ``x`` and an index array of any shape (the standard's ``take``
    wants a 1-D index)."""
    xp = array_namespace(x, index)
    return xp.reshape(xp.take(x, xp.reshape(index, (-1,))), index.shape)


def grid_tiles(ny: int, nx: int, t: int) -> np.ndarray:
    """Flat grid indices of each ``t`` × ``t`` tile of an ``ny`` × ``nx`` grid,
    ``(n_tiles, t*t)``, padded with −1.

    >>> grid_tiles(2, 3, 2).tolist()
    [[0, 1, 3, 4], [2, -1, 5, -1]]
    """
    ty, tx = -(-ny // t), -(-nx // t)
    y = np.arange(ty * t).reshape(ty, 1, t, 1)
    x = np.arange(tx * t).reshape(1, tx, 1, t)
    flat = np.where((y < ny) & (x < nx), y * nx + x, -1)
    return flat.reshape(ty * tx, t * t)


def solve_tile_group(
    corr_oo, corr_go, obs_pattern, grid_pattern, r, innov, use, var_g, sigma_b: float
):
    """Increments and error variances of the cells of a group of tiles: the batched OI solve.

    Written against the array API: arrays of any compliant library (numpy, CuPy, ...) give
    arrays of the same library, on the same device. numpy factors ``B_oo + R = L Lᵀ`` and
    solves ``W = L⁻¹ [d, B_og]`` once (:func:`_solve_cholesky`); other libraries solve with
    ``linalg.solve`` (:func:`_solve_general`). The two agree to rounding.

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
    if array_api_compat.is_numpy_namespace(xp):
        return _solve_cholesky(c_oo, c_go, d, var_g)
    return _solve_general(c_oo, c_go, d, var_g)


def _solve_cholesky(c_oo, c_go, d, var_g):
    """numpy: ``W = L⁻¹ [d, B_og]`` with ``L Lᵀ = c_oo``, one tile at a time through LAPACK;
    the increment is ``W_gᵀ W_d`` and the variance ``var_g − Σ_k W_g²``.

    ``c_oo`` (``(tile, m, m)``, symmetric positive definite: padding rows have no covariance
    and 1 on the diagonal) is overwritten by its factor. Each tile's ``[d, B_og]`` is stored
    as the rows of ``w`` (``(tile, 1 + cell, m)``), so that its transpose, the ``m × (1 + cell)``
    right-hand side, is in LAPACK's (Fortran) order and solved in place.

    Examples
    --------
    >>> c_oo = np.array([[[4.0, 2.0], [2.0, 2.0]]])  # one tile, two observations, one cell
    >>> incr, var = _solve_cholesky(c_oo, np.array([[[1.0, 0.0]]]), np.array([[2.0, 3.0]]),
    ...                             var_g=np.array([[1.0]]))
    >>> incr.tolist(), var.tolist()  # B_go (B_oo + R)⁻¹ d = [1, 0] [-0.5, 2]ᵀ
    ([[-0.5]], [[0.5]])
    """
    c_oo = np.ascontiguousarray(c_oo, dtype=np.float64)
    w = np.concatenate([d[:, None, :], c_go], axis=1, dtype=np.float64)
    m = c_oo.shape[-1]
    diagonal = c_oo[:, np.arange(m), np.arange(m)].copy()
    for t in range(c_oo.shape[0]):
        # c_oo[t] is symmetric: its transpose is the same matrix, in Fortran order
        chol, info = lapack.dpotrf(c_oo[t].T, lower=1, clean=0, overwrite_a=1)
        for jitter in JITTERS if info else ():
            chol, info = lapack.dpotrf(_restored(c_oo[t], diagonal[t], jitter).T, lower=1)
            if info == 0:
                break
        if info == 0:
            _, info = lapack.dtrtrs(chol, w[t].T, lower=1, overwrite_b=1)
        if info != 0:
            raise np.linalg.LinAlgError(
                f"tile {t}: B_oo + R is not positive definite; give the observations a larger "
                "obs_error or the covariance shorter length scales."
            )
    w_d, w_g = w[:, 0], w[:, 1:]
    return np.einsum("tck,tk->tc", w_g, w_d), var_g - np.einsum("tck,tck->tc", w_g, w_g)


JITTERS = (1e-7, 1e-6, 1e-5, 1e-4)
"""Shares of its mean diagonal added to a tile's ``B_oo + R`` whose factorisation fails, in turn
(correlations come in float32: with long scales, dense observations and a small observation
error, their rounding can leave the matrix a hair short of positive definite). The smallest
observation error the fit allows is 5 % of the background error, a share of 2.5e-3."""


def _restored(factored: np.ndarray, diagonal: np.ndarray, jitter: float) -> np.ndarray:
    """The matrix of a failed in-place factorisation (LAPACK wrote the upper triangle of this C
    view and the diagonal; the strict lower triangle is the original), with ``jitter`` of its
    mean diagonal added to the diagonal."""
    a = np.tril(factored, -1)
    a = a + a.T
    a[np.diag_indices_from(a)] = diagonal + jitter * diagonal.mean()
    return a


def _solve_general(c_oo, c_go, d, var_g):
    """Other libraries: one batched ``linalg.solve`` (an extension of the standard, present in
    CuPy and torch) for ``[d, B_og]``; the standard has no triangular solve."""
    xp = array_namespace(c_oo, c_go, d)
    rhs = xp.concat([d[:, :, None], xp.permute_dims(c_go, (0, 2, 1))], axis=2)
    sol = xp.linalg.solve(c_oo, rhs)
    increment = xp.matmul(c_go, sol[:, :, :1])[:, :, 0]
    return increment, var_g - xp.sum(c_go * xp.permute_dims(sol[:, :, 1:], (0, 2, 1)), axis=-1)


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
