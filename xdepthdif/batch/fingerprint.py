"""What identifies a batch run, hashed by content: two runs with equal fingerprints write equal
stores, and a resume whose fingerprint differs is refused (:mod:`xdepthdif.batch.manifest`).

The fingerprint covers the method and its resolved configuration, the validated observations,
the target (coordinates, static variables and, time step by time step, every time-dependent
variable such as a surface temperature field), the shipped climatology (background and sea
mask), and for diffusion the checkpoint's weights and sealed model card.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "block_checksum",
    "fingerprint",
    "observations_sha256",
    "target_sha256",
    "target_steps_sha256",
]

STEPS_KEY = "target_steps_sha256"


def fingerprint(
    result: xr.Dataset, profiles: xr.Dataset, target: xr.Dataset, options: Mapping[str, Any]
) -> dict[str, Any]:
    """What identifies a run: two runs with equal fingerprints produce equal stores.

    Parameters
    ----------
    result
        The lazy :func:`xdepthdif.reconstruct` result (its ``<method>_*`` attributes hold the
        resolved configuration).
    profiles
        The validated profiles.
    target
        The target dataset.
    options
        The keyword arguments given to :func:`xdepthdif.reconstruct`.

    Returns
    -------
    dict
        ``method``, ``config`` (the ``<method>_*`` attributes, without the model's path),
        ``window``, ``keep_members`` and ``array_library`` (another library's kernels agree
        to rounding, not bit for bit), ``algorithm_version``, ``model_sha256`` and
        ``model_card_sha256`` (diffusion: the weights' digest and the card's seal),
        ``climatology_sha256`` (the shipped climatology), ``observations_sha256``,
        ``target_sha256`` and ``target_steps_sha256`` (see :func:`observations_sha256`,
        :func:`target_sha256`, :func:`target_steps_sha256`), and ``output_coords_sha256``
        (the result's coordinates and their bounds, which include the time windows).
    """
    from ..sources.atlas import atlas_sha256

    method = result.attrs["xdepthdif_method"]
    prefix = f"{method}_"
    config = {
        k: _jsonable(v)
        for k, v in sorted(result.attrs.items())
        if k.startswith(prefix) and k not in (f"{method}_model", "xdepthdif_method")
    }
    return {
        "method": method,
        "config": config,
        "window": options.get("window"),
        "keep_members": bool(options.get("keep_members", False)),
        "array_library": options.get("array_library", "numpy"),
        "algorithm_version": result.attrs.get("algorithm_version"),
        "model_sha256": result.attrs.get(f"{method}_sha256"),
        "model_card_sha256": _card_seal(method, options),
        "climatology_sha256": atlas_sha256(),
        "observations_sha256": observations_sha256(profiles),
        "target_sha256": target_sha256(target),
        STEPS_KEY: target_steps_sha256(target),
        "output_coords_sha256": _coords_sha256(result),
    }


def _card_seal(method: str, options: Mapping[str, Any]) -> str | None:
    if method != "diffusion":
        return None
    from ..prior.model import card_seal, resolve_model

    return card_seal(resolve_model(options.get("model", "default")))


def observations_sha256(profiles: xr.Dataset) -> str:
    """sha256 over the validated profiles' ``time``, ``lat``, ``lon``, ``depth``, ``thetao``
    (and ``thetao_error``) arrays: names, shapes, dtypes and bytes, in that order."""
    h = hashlib.sha256()
    for name in ("time", "lat", "lon", "depth", "thetao", "thetao_error"):
        if name in profiles.variables:
            _hash_array(h, name, profiles[name].values)
    return h.hexdigest()


def target_sha256(target: xr.Dataset) -> str:
    """sha256 over the target's coordinates (names, dims, values), the values of its static
    variables (those without a time dimension, e.g. a land/sea mask) and the names, dims and
    dtypes of its time-dependent variables, whose values :func:`target_steps_sha256` hashes."""
    h = hashlib.sha256()
    for name in sorted(map(str, target.coords)):
        _hash_array(h, name, target[name].values, target[name].dims)
    time_dims = _time_dims(target)
    for name in sorted(map(str, target.data_vars)):
        var = target[name]
        if time_dims & set(var.dims):
            h.update(f"{name}{var.dims}{var.dtype}{var.shape};".encode())
        else:
            _hash_array(h, name, var.values, var.dims)
    return h.hexdigest()


def target_steps_sha256(target: xr.Dataset) -> list[str]:
    """One sha256 per time step over the values of every time-dependent data variable of the
    target at that step (in name order), read one dask chunk of time steps at a time.

    A change to a surface field between a killed run and its resume shows as the steps that
    changed. Empty when the target has no time-dependent data variable.

    Examples
    --------
    >>> time = np.array(["2020-01-15", "2020-02-15"], "datetime64[ns]")
    >>> ds = xr.Dataset({"sst": (("time", "x"), [[1.0, 2.0], [3.0, 4.0]])}, {"time": time})
    >>> ds2 = ds.copy(deep=True)
    >>> ds2["sst"][1, 0] = 5.0
    >>> a, b = target_steps_sha256(ds), target_steps_sha256(ds2)
    >>> a[0] == b[0], a[1] == b[1]
    (True, False)
    """
    time_dims = _time_dims(target)
    names = sorted(str(n) for n, v in target.data_vars.items() if time_dims & set(v.dims))
    if not names:
        return []
    tdim = next(d for d in target[names[0]].dims if d in time_dims)
    hashes = [hashlib.sha256() for _ in range(target.sizes[tdim])]
    for name in names:
        var = target[name]
        var = var.transpose(tdim, *(d for d in var.dims if d != tdim))
        for a, b in _time_chunks(var, tdim):
            values = np.asarray(var.isel({tdim: slice(a, b)}).values)
            for k in range(b - a):
                _hash_array(hashes[a + k], name, values[k], var.dims[1:])
    return [h.hexdigest() for h in hashes]


def _time_chunks(var: xr.DataArray, tdim: str) -> list[tuple[int, int]]:
    sizes = var.chunksizes.get(tdim) if var.chunks is not None else None
    sizes = sizes or (1,) * var.sizes[tdim]
    edges = np.cumsum((0, *sizes))
    return [(int(a), int(b)) for a, b in pairwise(edges)]


def _time_dims(target: xr.Dataset) -> set[str]:
    return {d for name in target.coords for d in target[name].dims if _is_time(target[name])}


def _coords_sha256(ds: xr.Dataset) -> str:
    h = hashlib.sha256()
    for name in sorted(map(str, ds.coords)):
        _hash_array(h, name, ds[name].values, ds[name].dims)
    return h.hexdigest()


def _is_time(var: xr.DataArray) -> bool:
    values = var.values
    if values.dtype.kind == "M":
        return True
    return values.dtype == object and values.size > 0 and hasattr(values.flat[0], "year")


def _hash_array(h, name: str, values: np.ndarray, dims: tuple = ()) -> None:
    values = np.asarray(values)
    if values.dtype == object:
        values = np.array([str(v) for v in values.ravel()], dtype=str).reshape(values.shape)
    values = np.ascontiguousarray(values)
    h.update(f"{name}{tuple(dims)}{values.dtype.str}{values.shape};".encode())
    h.update(values.tobytes())


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | tuple | list):
        return [_jsonable(v) for v in value]
    return value


def block_checksum(block: xr.Dataset) -> str:
    """sha256 of a computed block: for each data variable in sorted name order, its name,
    dtype, shape and C-order bytes, as written (in the dtype of its encoding, when it has one).

    Examples
    --------
    >>> ds = xr.Dataset({"b": ("time", [1.0, np.nan]), "a": ("time", np.array([1, 2], "i4"))})
    >>> block_checksum(ds) == block_checksum(ds[["b", "a"]].copy(deep=True))
    True
    """
    h = hashlib.sha256()
    for name in sorted(map(str, block.data_vars)):
        values = block[name].values
        if "dtype" in block[name].encoding:
            values = values.astype(block[name].encoding["dtype"])
        _hash_array(h, name, values, block[name].dims)
    return h.hexdigest()
