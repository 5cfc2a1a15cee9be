"""Which array library the heavy kernels run on: numpy (the default), or CuPy on a GPU.

The OI's batched tile solves (:func:`xdepthdif.analysis.oi_kernel.solve_tile_group`) and the
application of regridding weights (:func:`xdepthdif.grid.ell.apply_ell`) are written
against the Python array API standard through ``array-api-compat``: they take arrays of any
compliant library and return arrays of the same library. Index work (k-d trees, the choice of
neighbours, the construction of weights) stays numpy on the host; indices and weights are copied
to the device of the data when they are applied.

``array_library`` names the library a time step's arrays are moved to before the kernels (and
moved back from, to numpy, for xarray):

- ``"numpy"``: the default, and the path every result of the test suite comes from;
- ``"cupy"``: CuPy on the current CUDA device (``pip install 'xdepthdif[gpu]'``);
- ``"array_api_strict"``: the standard's reference library on the CPU, which refuses anything
  outside the standard; the test suite runs the kernels on it to keep them portable.

Examples
--------
>>> xp = namespace("array_api_strict")
>>> x = to_library(xp, np.arange(3.0))
>>> type(x).__module__.split(".")[0], to_numpy(xp.exp(x) - 1.0).round(3).tolist()
('array_api_strict', [0.0, 1.718, 6.389])
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "GPU_EXTRA",
    "LIBRARIES",
    "check_installed",
    "check_library",
    "is_other_library",
    "namespace",
    "to_library",
    "to_numpy",
]

LIBRARIES = ("numpy", "cupy", "array_api_strict")
"""The values ``array_library`` takes."""
GPU_EXTRA = "pip install 'xdepthdif[gpu]'"
"""How to install CuPy (and dask-cuda) for ``array_library="cupy"``."""


def check_library(name: str) -> str:
    """``name`` when it is one of :data:`LIBRARIES`, else a ValueError listing them."""
    if name not in LIBRARIES:
        raise ValueError(f"array_library must be one of {list(LIBRARIES)}, got {name!r}.")
    return name


def check_installed(name: str) -> str:
    """``name`` when :func:`check_library` accepts it and the library is installed here, without
    importing it (a client without a GPU can plan work for GPU workers); else an ImportError
    saying how to install it."""
    import importlib.util

    check_library(name)
    if name != "numpy" and importlib.util.find_spec(name) is None:
        how = GPU_EXTRA if name == "cupy" else "pip install array-api-strict"
        raise ImportError(f"array_library={name!r} needs {name}, not installed here: {how}")
    return name


def namespace(name: str = "numpy") -> ModuleType:
    """The array API namespace of library ``name`` (imported now, CuPy only when asked for).

    Raises
    ------
    ImportError
        ``"cupy"`` without CuPy installed (the message says how to install it) or
        ``"array_api_strict"`` without it.
    RuntimeError
        ``"cupy"`` on a machine where CUDA sees no device.
    """
    check_library(name)
    if name == "numpy":
        import array_api_compat.numpy as xp

        return xp
    if name == "cupy":
        return _cupy_namespace()
    import array_api_strict

    return array_api_strict


def _cupy_namespace() -> ModuleType:
    try:
        import cupy
    except ImportError as err:
        raise ImportError(
            f"array_library='cupy' needs CuPy and a CUDA device; install them with: {GPU_EXTRA}"
        ) from err
    try:
        devices = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        devices = 0
    if devices == 0:
        raise RuntimeError("array_library='cupy' needs a CUDA device; CUDA sees none here.")
    import array_api_compat.cupy as xp

    return xp


def to_library(xp: ModuleType, a: Any, like: Any = None) -> Any:
    """Host array ``a`` as an array of namespace ``xp``, on the device of ``like`` when given
    (else the library's default device); numpy arrays pass through uncopied for numpy."""
    if array_api_compat.is_numpy_namespace(xp):
        return np.asarray(a)
    device = None if like is None else array_api_compat.device(like)
    return xp.asarray(np.asarray(a), device=device)


def is_other_library(x: Any) -> bool:
    """Whether ``x`` is an array of an array API library other than numpy (and dask, whose
    arrays numpy computes as it always did).

    Examples
    --------
    >>> is_other_library(np.zeros(2)), is_other_library([0.0])
    (False, False)
    """
    return (
        array_api_compat.is_array_api_obj(x)
        and not array_api_compat.is_numpy_array(x)
        and not array_api_compat.is_dask_array(x)
    )


def to_numpy(x: Any) -> np.ndarray:
    """Any library's array as a numpy array on the host: numpy arrays as they are, others as a
    new, writable array."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy().copy()
    return np.array(np.from_dlpack(x))  # libraries on the CPU (array_api_strict, ...)
