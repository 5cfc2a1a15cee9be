"""Sparse regridding weights as gathers and sums, for any array API library.

The array API standard has no sparse matrices. :func:`ell_from_csr` writes a CSR matrix of
weights in ELLPACK form (per destination cell, a fixed number of source cells and weights) with
numpy on the host; :func:`apply_ell` applies it to a stack of fields of any compliant library
(numpy, CuPy, torch, ...) on their device, adding the products in the order of the matrix's rows
as a CSR product does.

Examples
--------
>>> import numpy as np
>>> import scipy.sparse as sp
>>> w = sp.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
>>> index, weight = ell_from_csr(w)
>>> index.tolist(), weight.tolist()
([[0, 1], [2, 0]], [[0.5, 0.5], [1.0, 0.0]])
>>> apply_ell(index, weight, np.array([[2.0, 4.0, 7.0]])).tolist()
[[3.0, 7.0]]
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np
import scipy.sparse as sp
from array_api_compat import array_namespace

__all__ = ["apply_ell", "ell_from_csr"]


def ell_from_csr(weights: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """A CSR matrix ``(n_dst, n_src)`` in ELLPACK form.

    Returns
    -------
    index, weight : numpy.ndarray
        ``(n_dst, k)``: each row's columns and values in the CSR's order, padded to the longest
        row (``k``, at least 1) with column 0 and weight 0.
    """
    w = sp.csr_matrix(weights)
    counts = np.diff(w.indptr)
    k = max(int(counts.max(initial=0)), 1)
    rows = np.repeat(np.arange(w.shape[0]), counts)
    slot = np.arange(w.nnz) - np.repeat(w.indptr[:-1], counts)
    index = np.zeros((w.shape[0], k), np.int64)
    weight = np.zeros((w.shape[0], k))
    index[rows, slot] = w.indices
    weight[rows, slot] = w.data
    return index, weight


def apply_ell(index: Any, weight: Any, flat: Any) -> Any:
    """Sparse weights in ELLPACK form applied to a stack of flat fields.

    Written against the array API: arrays of any compliant library (numpy, CuPy, ...) give an
    array of the same library, on the same device. The standard has no sparse matrices; the
    gathers and sums here make each destination value the sum, in the order of the weights'
    rows, that a CSR matrix-vector product makes.

    Parameters
    ----------
    index, weight
        ``(n_dst, k)`` from :func:`ell_from_csr`, in the library of ``flat``.
    flat
        ``(n_fields, n_src)``, finite.

    Returns
    -------
    array
        ``(n_fields, n_dst)``: ``out[f, d] = Σ_j weight[d, j] · flat[f, index[d, j]]``.
    """
    xp = array_namespace(index, weight, flat)
    out = xp.zeros(
        (flat.shape[0], index.shape[0]),
        dtype=xp.result_type(weight.dtype, flat.dtype),
        device=array_api_compat.device(flat),
    )
    for j in range(index.shape[1]):
        out = out + weight[:, j] * xp.take(flat, index[:, j], axis=1)
    return out
