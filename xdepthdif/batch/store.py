"""Restartable batch runs: a lazy analysis written to zarr one time block at a time.

:func:`run_batch` writes a zarr *template* (coordinates, attributes, empty data variables, one
time step per chunk), then computes and writes one block of time steps at a time with region
writes. After each block it records the block in a manifest, ``OUT/xdepthdif_manifest.json``,
rewritten atomically. A run killed at any point and started again computes only the blocks
missing from the manifest, so the store ends up equal to an uninterrupted run. The manifest
also holds a fingerprint of the run (method, configuration, model, observations, target grid);
a restart whose fingerprint differs is refused with :class:`BatchError`.

``xdepthdif reconstruct`` is the command-line front end (see ``docs/batch.md``).

Examples
--------
>>> parse_options(["length_scale_km=500", "search_radius=null", "device=cuda"])
{'length_scale_km': 500, 'search_radius': None, 'device': 'cuda'}
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import glob
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import InputError, XDepthDifError

__all__ = [
    "MANIFEST_NAME",
    "BatchError",
    "BatchResult",
    "block_checksum",
    "connect",
    "fingerprint",
    "manifest_path",
    "observations_sha256",
    "open_inputs",
    "parse_options",
    "read_manifest",
    "run_batch",
    "target_sha256",
    "verify_store",
]

MANIFEST_NAME = "xdepthdif_manifest.json"
MANIFEST_FORMAT = "xdepthdif-batch-manifest/1"
# Testing hook: seconds to sleep after a block's region is written and before it is recorded
# in the manifest, so that tests can kill a run in the middle deterministically.
DELAY_ENV = "XDEPTHDIF_BATCH_DELAY"
_PARTIAL_SUFFIX = ".xdepthdif-partial"


class BatchError(XDepthDifError):
    """A batch run cannot start or resume (the store belongs to another run, or is not ours)."""


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """What :func:`run_batch` did.

    Attributes
    ----------
    path
        The zarr store.
    n_blocks
        Blocks in the store.
    computed
        Indices of the blocks computed by this call (the others were already in the manifest).
    resumed
        Whether the store existed with a matching manifest when the call started.
    seconds
        Wall time of the call.
    """

    path: Path
    n_blocks: int
    computed: tuple[int, ...]
    resumed: bool
    seconds: float


# ------------------------------------------------------------------------------------ inputs
def open_inputs(target: str | os.PathLike, obs: str | os.PathLike) -> tuple[xr.Dataset, xr.Dataset]:
    """Open the target grid and the observations named on the command line.

    Parameters
    ----------
    target
        netCDF or zarr path, or a glob of them (several files are combined by coordinates),
        or a catalog entry ``CATALOG/ENTRY?key=value&...`` (see :func:`xdepthdif.catalog`;
        the keys are the entry's reader arguments, e.g.
        ``sample/synthetic_ocean?months=3&resolution=4``).
    obs
        EN4 profile files (path or glob; read with :func:`xdepthdif.obs.read_en4`),
        netCDF/zarr files already in the profile layout (checked with
        :func:`xdepthdif.obs.validate_profiles` and concatenated along ``profile``), or a
        catalog entry that gives profiles (e.g. ``en4/en4_profiles?year=2020&month=1``).

    Returns
    -------
    target, profiles
        The (lazily opened) target dataset and the validated profiles.

    Raises
    ------
    InputError
        When a path or glob matches nothing.

    Examples
    --------
    >>> open_inputs("no_such_target.nc", "obs.nc")
    Traceback (most recent call last):
    ...
    xdepthdif.errors.InputError: target 'no_such_target.nc' matches no file or zarr store; ...
    """
    from ..obs import concat_profiles, read_en4, validate_profiles

    target_ds = _from_catalog(target)
    if target_ds is None:
        target_ds = _open(_expand(target, "target"))
    profiles = _from_catalog(obs)
    if profiles is not None:
        return target_ds, validate_profiles(profiles.load())
    obs_paths = _expand(obs, "obs")
    if not _is_zarr(obs_paths[0]) and _is_en4(obs_paths[0]):
        return target_ds, read_en4(obs_paths)  # validated by read_en4
    parts = [validate_profiles(_open([p]).load()) for p in obs_paths]
    return target_ds, parts[0] if len(parts) == 1 else concat_profiles(parts)


def _from_catalog(spec: str | os.PathLike) -> xr.Dataset | None:
    """The data of a catalog entry named ``CATALOG/ENTRY[?key=value&...]``, or None when
    ``spec`` is not one (an existing path, a URL, or a name no catalog has)."""
    from ..sources.catalog import catalog, catalog_names

    text = os.fspath(spec)
    head, _, query = text.partition("?")
    name, sep, entry = head.partition("/")
    if not sep or "://" in text or name not in catalog_names() or Path(head).exists():
        return None
    cat = catalog(name)
    if entry not in cat.entries:
        raise InputError(
            f"catalog {name!r} has no entry {entry!r}; its entries are {sorted(cat.entries)}."
        )
    return cat[entry].read(**(parse_options(query.split("&")) if query else {}))


def parse_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are parsed as JSON when they can be, else kept
    as strings (see the module example).

    Raises
    ------
    BatchError
        When an item has no ``=``.
    """
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise BatchError(
                f"--option {pair!r} is not KEY=VALUE; write e.g. --option length_scale_km=500."
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options[key.strip()] = tuple(value) if isinstance(value, list) else value
    return options


def _expand(path: str | os.PathLike, what: str) -> list[str]:
    text = os.fspath(path)
    found = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
    found = [p for p in found if os.path.exists(p)]
    if not found:
        raise InputError(
            f"{what} {text!r} matches no file or zarr store; check the path (a glob such as "
            "'data/*.nc' must be quoted so that the shell does not expand it)."
        )
    return found


def _is_zarr(path: str) -> bool:
    return path.rstrip("/").endswith(".zarr") or os.path.isdir(path)


def _is_en4(path: str) -> bool:
    with xr.open_dataset(path, decode_times=False, decode_cf=False) as ds:
        return "POTM_CORRECTED" in ds.variables


def _open(paths: list[str]) -> xr.Dataset:
    zarr = any(_is_zarr(p) for p in paths)
    if len(paths) == 1:
        return xr.open_zarr(paths[0]) if zarr else xr.open_dataset(paths[0])
    # Files split along time: variables without the concatenated dimension (a land/sea mask)
    # are taken from the first file, not stacked.
    return xr.open_mfdataset(
        paths,
        engine="zarr" if zarr else None,
        combine="by_coords",
        data_vars="minimal",
        coords="minimal",
        compat="override",
    )


# ------------------------------------------------------------------------------- fingerprint
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


# ---------------------------------------------------------------------------------- checksum
def block_checksum(block: xr.Dataset) -> str:
    """sha256 of a computed block: for each data variable in sorted name order, its name,
    dtype, shape and C-order bytes.

    Examples
    --------
    >>> ds = xr.Dataset({"b": ("time", [1.0, np.nan]), "a": ("time", np.array([1, 2], "i4"))})
    >>> block_checksum(ds) == block_checksum(ds[["b", "a"]].copy(deep=True))
    True
    """
    h = hashlib.sha256()
    for name in sorted(map(str, block.data_vars)):
        _hash_array(h, name, block[name].values, block[name].dims)
    return h.hexdigest()


# ---------------------------------------------------------------------------------- manifest
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


# ------------------------------------------------------------------------------------- run
def run_batch(
    target: xr.Dataset,
    obs: xr.Dataset,
    out: str | os.PathLike,
    *,
    method: str = "oi",
    time_block: int = 1,
    overwrite: bool = False,
    quiet: bool = True,
    stream: IO[str] | None = None,
    **options,
) -> BatchResult:
    """Analyse ``obs`` onto ``target`` into the zarr store ``out``, one time block at a time,
    resuming a killed run.

    Parameters
    ----------
    target, obs
        As for :func:`xdepthdif.reconstruct` (e.g. from :func:`open_inputs`).
    out
        A local path for the zarr store; the manifest is ``OUT/xdepthdif_manifest.json``.
    method
        ``"oi"`` or ``"diffusion"``.
    time_block
        Time steps computed and written together. A resumed run keeps the block size recorded
        in the manifest.
    overwrite
        Remove an existing store (and its manifest) and start over.
    quiet
        Print nothing; otherwise print one progress line per block (blocks done/total, seconds
        per block, ETA) and where the store is.
    stream
        Where progress goes (default ``sys.stdout``); a terminal gets one updating line.
    **options
        Method options passed to :func:`xdepthdif.reconstruct` (``members``, ``steps``,
        ``model``, ``length_scale_km``, ``window``, ...).

    Returns
    -------
    BatchResult

    Raises
    ------
    BatchError
        When ``out`` exists but was written by a run with another method, configuration, model,
        observation set or target grid, or is not a store written by this function; or when
        ``--overwrite`` is asked to remove something that is not a zarr store.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> target = xr.Dataset(coords={
    ...     "time": ("time", np.array(["2020-01-15", "2020-02-15"], "datetime64[ns]")),
    ...     "depth": ("depth", [5.0, 100.0], {"units": "m", "positive": "down"}),
    ...     "lat": ("lat", [0.0, 1.0], {"units": "degrees_north"}),
    ...     "lon": ("lon", [0.0, 1.0, 2.0], {"units": "degrees_east"})})
    >>> obs = xr.Dataset(
    ...     {"thetao": (("profile", "level"), [[20.0, 15.0], [21.0, 16.0]], {"units": "degC"})},
    ...     coords={"time": ("profile", np.array(["2020-01-10", "2020-02-10"], "datetime64[ns]")),
    ...             "lat": ("profile", [0.2, 0.8]), "lon": ("profile", [1.0, 1.1]),
    ...             "depth": (("profile", "level"), [[5.0, 100.0]] * 2, {"units": "m"})})
    >>> res = run_batch(target, obs, tempfile.mkdtemp() + "/out.zarr")
    >>> res.n_blocks, res.computed, len(read_manifest(res.path)["blocks"])
    (2, (0, 1), 2)
    >>> run_batch(target, obs, res.path).computed   # nothing left to do
    ()
    """
    from ..reconstruct import reconstruct

    start = time.perf_counter()
    if "background" in options:
        raise BatchError(
            "run_batch takes no background (it cannot be fingerprinted cheaply); call "
            "xdepthdif.reconstruct(...).to_zarr(...) for a run with a background."
        )
    if time_block < 1:
        raise BatchError(f"time_block must be at least 1, got {time_block}.")
    _check_options(method, options)
    say = _Printer(stream, quiet)
    out = Path(out)
    from ..obs import validate_profiles

    profiles = validate_profiles(obs)
    result = reconstruct(target, profiles, method=method, **options)
    fp = fingerprint(result, profiles, target, options)
    time_dim = result["thetao"].dims[0]
    names = sorted(str(n) for n, v in result.data_vars.items() if time_dim in v.dims)
    n_times = result.sizes[time_dim]

    if overwrite:
        _remove_store(out)
    manifest = read_manifest(out) if out.exists() else None
    resumed = manifest is not None
    if out.exists() and manifest is None:
        raise BatchError(
            f"{out} exists but holds no {MANIFEST_NAME}, so it was not written by xdepthdif "
            "reconstruct (or its template was never completed); pass --overwrite "
            "(overwrite=True) to replace it, or choose a new --out."
        )
    if manifest is not None:
        _check_fingerprint(out, manifest, fp)
    else:
        manifest = _new_manifest(result, fp, time_dim, names, n_times, time_block)
        _write_template(result, out, manifest, time_dim)

    layout = manifest["layout"]
    bounds = _block_bounds(n_times, layout["time_block"])
    done = {entry["index"] for entry in manifest["blocks"]}
    todo = [i for i in range(len(bounds)) if i not in done]
    if resumed:
        say.info(
            f"resuming {out}: {len(done)} of {len(bounds)} blocks already written, "
            f"computing {len(todo)}"
            + (
                f" (blocks of {layout['time_block']} time steps, as recorded)"
                if layout["time_block"] != time_block
                else ""
            )
        )
    else:
        say.info(
            f"writing {out}: {len(bounds)} blocks of {layout['time_block']} time step(s), {method}"
        )

    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    t0 = time.perf_counter()
    for k, index in enumerate(todo):
        a, b = bounds[index]
        tb = time.perf_counter()
        block = result[names].isel({time_dim: slice(a, b)}).compute()
        _write_region(block, out, time_dim, a, b)
        if delay:
            time.sleep(delay)
        manifest["blocks"].append(_block_entry(index, a, b, block, time_dim, tb))
        manifest["blocks"].sort(key=lambda e: e["index"])
        _write_manifest(out, manifest)
        elapsed = time.perf_counter() - t0
        rate = elapsed / (k + 1)
        left = len(todo) - k - 1
        say.progress(
            f"block {len(done) + k + 1}/{len(bounds)} ({_time_str(block[time_dim].values[0])}"
            f"..{_time_str(block[time_dim].values[-1])}) {rate:.2f} s/block, "
            f"ETA {_duration(left * rate)}"
        )
    say.end_progress()
    seconds = time.perf_counter() - start
    say.info(f"done: {len(bounds)}/{len(bounds)} blocks in {out.resolve()} ({seconds:.1f} s)")
    return BatchResult(out, len(bounds), tuple(todo), resumed, seconds)


def _check_options(method: str, options: Mapping[str, Any]) -> None:
    from ..reconstruct import METHODS

    if method not in METHODS:
        raise BatchError(f"Unknown method {method!r}; choose one of {sorted(METHODS)}.")
    valid = {f.name for f in dataclasses.fields(METHODS[method])} | {"window", "keep_members"}
    valid.discard("sha256")
    unknown = sorted(set(options) - valid)
    if unknown:
        raise BatchError(
            f"Option(s) {unknown} do not apply to --method {method}; its options are "
            f"{sorted(valid)} (--members, --steps and --model are for --method diffusion)."
        )


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


def _write_template(result: xr.Dataset, out: Path, manifest: dict, time_dim: str) -> None:
    """The store's metadata, coordinates and an empty manifest, written into a staging folder
    that is renamed into place: ``out`` either does not exist or holds a complete template."""
    staging = out.with_name(out.name + _PARTIAL_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    template = result.copy()
    for name, var in template.data_vars.items():
        if time_dim in var.dims and var.chunks is not None:
            template[name] = var.chunk({time_dim: 1})
    with _quiet_zarr():
        template.to_zarr(staging, mode="w", compute=False, consolidated=True)
    _write_manifest(staging, manifest)
    os.replace(staging, out)


def _write_region(block: xr.Dataset, out: Path, time_dim: str, a: int, b: int) -> None:
    data = block.drop_vars(list(block.coords))
    with _quiet_zarr():
        data.to_zarr(out, region={time_dim: slice(a, b)}, mode="r+", consolidated=True)


@contextlib.contextmanager
def _quiet_zarr() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        yield


def _remove_store(out: Path) -> None:
    staging = out.with_name(out.name + _PARTIAL_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)
    if not out.exists():
        return
    markers = (MANIFEST_NAME, "zarr.json", ".zgroup", ".zattrs")
    if out.is_dir() and (not any(out.iterdir()) or any((out / m).exists() for m in markers)):
        shutil.rmtree(out)
        return
    raise BatchError(
        f"--overwrite refuses to remove {out}: it is not a zarr store. Remove it yourself or "
        "choose another --out."
    )


@contextlib.contextmanager
def connect(scheduler: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` connected to ``scheduler`` (e.g. ``tcp://host:8786``) while the
    block is active, or nothing when ``scheduler`` is None.

    Raises
    ------
    BatchError
        When ``distributed`` is not installed.
    """
    if not scheduler:
        yield None
        return
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - distributed is in the test extra
        raise BatchError(
            "--scheduler needs the 'distributed' package; install it with "
            "'pip install distributed', or leave --scheduler out to run locally."
        ) from err
    with Client(scheduler) as client:
        yield client


# ----------------------------------------------------------------------------------- output
class _Printer:
    """Progress lines on ``stream``; one line rewritten with ``\\r`` on a terminal."""

    def __init__(self, stream: IO[str] | None, quiet: bool) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.open_line = False

    def info(self, message: str) -> None:
        if not self.quiet:
            self.end_progress()
            print(message, file=self.stream, flush=True)

    def progress(self, message: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r" + message + "\x1b[K")
            self.stream.flush()
            self.open_line = True
        else:
            print(message, file=self.stream, flush=True)

    def end_progress(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def _time_str(value) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return str(value)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
