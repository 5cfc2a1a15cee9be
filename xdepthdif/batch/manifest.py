"""The manifest of a batch store: what identifies a run, what was written, and checking it.

``OUT/xdepthdif_manifest.json`` holds the run's fingerprint (method, configuration, model,
observations, target grid: :func:`fingerprint`), the store's layout and one entry per block
written, with the block's sha256 (:func:`block_checksum`). It is rewritten atomically after each
block. :func:`verify_store` recomputes every recorded checksum from the store.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import XDepthDifError

__all__ = [
    "MANIFEST_NAME",
    "BatchError",
    "block_checksum",
    "fingerprint",
    "manifest_path",
    "observations_sha256",
    "read_manifest",
    "target_sha256",
    "verify_store",
]

MANIFEST_NAME = "xdepthdif_manifest.json"
MANIFEST_FORMAT = "xdepthdif-batch-manifest/1"


class BatchError(XDepthDifError):
    """A batch run cannot start or resume (the store belongs to another run, or is not ours)."""


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
        ``window`` and ``keep_members``, ``algorithm_version``, ``model_sha256`` (diffusion),
        ``observations_sha256`` and ``target_sha256`` (see :func:`observations_sha256`,
        :func:`target_sha256`), and ``output_coords_sha256`` (the result's coordinates and
        their bounds, which include the time windows).
    """
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
        "algorithm_version": result.attrs.get("algorithm_version"),
        "model_sha256": result.attrs.get(f"{method}_sha256"),
        "observations_sha256": observations_sha256(profiles),
        "target_sha256": target_sha256(target),
        "output_coords_sha256": _coords_sha256(result),
    }


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
    dtypes of its time-dependent variables, whose values are not read."""
    h = hashlib.sha256()
    for name in sorted(map(str, target.coords)):
        _hash_array(h, name, target[name].values, target[name].dims)
    time_dims = {d for name in target.coords for d in target[name].dims if _is_time(target[name])}
    for name in sorted(map(str, target.data_vars)):
        var = target[name]
        if time_dims & set(var.dims):
            h.update(f"{name}{var.dims}{var.dtype}{var.shape};".encode())
        else:
            _hash_array(h, name, var.values, var.dims)
    return h.hexdigest()


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


def manifest_path(out: str | os.PathLike) -> Path:
    """Where the manifest of the store ``out`` lies: ``OUT/xdepthdif_manifest.json``."""
    return Path(out) / MANIFEST_NAME


def read_manifest(out: str | os.PathLike) -> dict | None:
    """The manifest of the store ``out``, or None when it has none."""
    path = manifest_path(out)
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_manifest(directory: Path, manifest: dict) -> None:
    """Write the manifest atomically: a temporary file in the same folder, then os.replace."""
    path = directory / MANIFEST_NAME
    tmp = directory / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def verify_store(out: str | os.PathLike) -> list[int]:
    """Recompute each recorded block's checksum from the store; return the blocks that differ.

    An empty list means every block in the manifest is in the store as it was computed.
    """
    manifest = read_manifest(out)
    if manifest is None:
        raise BatchError(f"{out} has no {MANIFEST_NAME}; it was not written by run_batch.")
    layout = manifest["layout"]
    ds = xr.open_zarr(out)
    names = layout["variables"]
    bad = []
    for entry in manifest["blocks"]:
        block = ds[names].isel({layout["time_dim"]: slice(entry["start"], entry["stop"])})
        if block_checksum(block.compute()) != entry["sha256"]:
            bad.append(entry["index"])
    return bad


def _block_bounds(n_times: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n_times)) for a in range(0, n_times, size)]


def _new_manifest(
    result: xr.Dataset, fp: dict, time_dim: str, names: list[str], n_times: int, size: int
) -> dict:
    tally = {
        k: int(v)
        for k, v in result.attrs.items()
        if k.startswith(("profiles_", "levels_rejected_"))
    }
    return {
        "format": MANIFEST_FORMAT,
        "xdepthdif_version": __version__,
        "created": _now(),
        "fingerprint": fp,
        "layout": {
            "time_dim": time_dim,
            "n_times": n_times,
            "time_block": size,
            "n_blocks": len(_block_bounds(n_times, size)),
            "variables": names,
        },
        "tally": tally,
        "blocks": [],
    }


def _block_entry(index: int, a: int, b: int, block: xr.Dataset, time_dim: str, t0: float) -> dict:
    times = block[time_dim].values
    return {
        "index": index,
        "start": a,
        "stop": b,
        "time": [_time_str(times[0]), _time_str(times[-1])],
        "sha256": block_checksum(block),
        "obs_count_sum": int(block["obs_count"].values.sum()) if "obs_count" in block else None,
        "seconds": round(time.perf_counter() - t0, 3),
        "written": _now(),
    }


def _check_fingerprint(out: Path, manifest: dict, fp: dict) -> None:
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BatchError(
            f"{manifest_path(out)} is not a {MANIFEST_FORMAT} manifest (format "
            f"{manifest.get('format')!r}); pass --overwrite to start over, or choose a new --out."
        )
    old = manifest["fingerprint"]
    diffs = _diff(old, json.loads(json.dumps(fp)))
    if diffs:
        raise BatchError(
            f"{out} was started by a different run, so it cannot be resumed: "
            + "; ".join(diffs)
            + ". Pass --overwrite (overwrite=True) to start over, or choose a new --out."
        )


def _diff(old: Any, new: Any, key: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{key}.{k}" if key else k)
        return out
    if old == new:
        return []
    return [f"{key} was {old!r}, now {new!r}"]


def _time_str(value) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return str(value)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
