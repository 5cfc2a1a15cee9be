"""Restartable batch runs: a lazy analysis written to zarr one time block at a time.

:func:`run_batch` writes a zarr *template* (coordinates, attributes, empty data variables, one
time step per chunk), then computes and writes one block of time steps at a time with region
writes. After each block it records the block in a manifest, ``OUT/xdepthdif_manifest.json``,
rewritten atomically. A run killed at any point and started again computes only the blocks
missing from the manifest, so the store ends up equal to an uninterrupted run. The manifest
also holds a fingerprint of the run (method, configuration, model, observations, target grid);
a restart whose fingerprint differs is refused with :class:`BatchError`. The manifest and its
checks are in :mod:`xdepthdif.batch.manifest`; :mod:`xdepthdif.batch.inputs` opens the inputs
named on the command line.

``xdepthdif reconstruct`` is the command-line front end (see ``docs/batch.md``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import xarray as xr

from ..cf import compressed
from ..progress import report
from .manifest import (
    MANIFEST_NAME,
    BatchError,
    _block_bounds,
    _block_entry,
    _check_fingerprint,
    _check_layout,
    _new_manifest,
    _time_str,
    _write_manifest,
    block_problems,
    fingerprint,
    read_manifest,
)
from .progress import Printer, duration
from .safety import (
    check_not_an_input,
    check_out_path,
    dataset_sources,
    remove_store,
    store_lock,
    store_path,
    writing,
)

__all__ = ["BatchResult", "connect", "run_batch"]

# Testing hook: seconds to sleep after a block's region is written and before it is recorded
# in the manifest, so that tests can kill a run in the middle deterministically.
DELAY_ENV = "XDEPTHDIF_BATCH_DELAY"
_PARTIAL_SUFFIX = ".xdepthdif-partial"


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
    inputs: Sequence[str | os.PathLike] = (),
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
        Remove an existing store (and its manifest) and start over: only a store whose
        manifest shows this function wrote it and that holds nothing else.
    quiet
        Print nothing; otherwise print one progress line per block (blocks done/total, seconds
        per block, ETA) and where the store is.
    stream
        Where progress goes (default ``sys.stdout``); a terminal gets one updating line.
    inputs
        Paths the run reads (the command line's ``--target`` and ``--obs`` files); ``out`` may
        not be, lie inside or contain one of them, nor a file ``target``, ``obs`` or the model
        were opened from.
    **options
        Method options passed to :func:`xdepthdif.reconstruct` (``members``, ``steps``,
        ``model``, ``length_scale_km``, ``window``, ...).

    Returns
    -------
    BatchResult

    Raises
    ------
    BatchError
        When ``out`` exists but was written by a run with another method, configuration, model
        or card, observation set or target (values included), or is not a store written by
        this function; when its manifest is malformed or its zarr metadata unreadable; when
        ``--overwrite`` is asked to remove something this function did not write; when ``out``
        is an input of the run, a symbolic link or a URL; when another run holds its lock
        (:class:`~xdepthdif.batch.safety.StoreLockedError`); or when writing fails, e.g. a full
        disk or a read-only folder (:class:`~xdepthdif.batch.safety.StoreWriteError`).

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
    if "://" in os.fspath(out):
        raise BatchError(
            f"out={os.fspath(out)!r} is a URL; the batch store is a local folder (its manifest "
            "is renamed into place, which object stores cannot do). Write locally and copy, or "
            "write xdepthdif.reconstruct(...) with to_zarr to the URL."
        )
    _check_options(method, options)
    say = Printer(stream, quiet)
    out = store_path(out, overwrite)
    check_out_path(out)
    from ..obs import validate_profiles

    profiles = validate_profiles(obs)
    result = reconstruct(target, profiles, method=method, **options)
    fp = fingerprint(result, profiles, target, options)
    check_not_an_input(out, [*inputs, *dataset_sources(target, obs), *_model_files(options)])
    time_dim = result["thetao"].dims[0]
    names = sorted(str(n) for n, v in result.data_vars.items() if time_dim in v.dims)

    with store_lock(out):
        if overwrite:
            _remove_staging(out)
            remove_store(out)
        manifest, resumed = _open_or_start(out, result, fp, time_dim, names, time_block, say)
        todo = _write_blocks(result, out, manifest, names, time_block, resumed, say)
    say.end_progress()
    seconds = time.perf_counter() - start
    n_blocks = manifest["layout"]["n_blocks"]
    say.info(f"done: {n_blocks}/{n_blocks} blocks in {out.resolve()} ({seconds:.1f} s)")
    return BatchResult(out, n_blocks, tuple(todo), resumed, seconds)


def _model_files(options: Mapping[str, Any]) -> list[Path]:
    model = options.get("model")
    if model is None or model == "default":
        return []
    from ..prior.model import checkpoint_paths

    return list(checkpoint_paths(model))


def _open_or_start(
    out: Path, result: xr.Dataset, fp: dict, time_dim: str, names: list, size: int, say
) -> tuple[dict, bool]:
    """The manifest of a store to resume (checked, its damaged blocks dropped) or of a new one
    (whose template is then written), and whether it is resumed."""
    manifest = read_manifest(out) if out.exists() else None
    if out.exists() and manifest is None:
        raise BatchError(
            f"{out} exists but holds no {MANIFEST_NAME}, so it was not written by xdepthdif "
            "reconstruct (or its template was never completed); remove it yourself or choose "
            "a new --out."
        )
    n_times = result.sizes[time_dim]
    if manifest is None:
        manifest = _new_manifest(result, fp, time_dim, names, n_times, size)
        with writing(out, "writing the store's template"):
            _write_template(result, out, manifest, time_dim)
        return manifest, False
    _check_fingerprint(out, manifest, fp)
    _check_layout(out, manifest, time_dim, names, n_times)
    damaged = block_problems(out, manifest)
    if damaged:
        for index, why in sorted(damaged.items()):
            say.info(f"block {index} of {out} {why}: computing it again")
        manifest["blocks"] = [e for e in manifest["blocks"] if e["index"] not in damaged]
        with writing(out, "updating its manifest"):
            _write_manifest(out, manifest)
    return manifest, True


def _write_blocks(
    result: xr.Dataset,
    out: Path,
    manifest: dict,
    names: list,
    time_block: int,
    resumed: bool,
    say,
) -> list[int]:
    """Compute and write every block the manifest does not record; return their indices."""
    layout = manifest["layout"]
    time_dim = layout["time_dim"]
    bounds = _block_bounds(layout["n_times"], layout["time_block"])
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
            f"writing {out}: {len(bounds)} blocks of {layout['time_block']} time step(s), "
            f"{result.attrs['xdepthdif_method']}"
        )

    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    t0 = time.perf_counter()
    for k, index in enumerate(todo):
        a, b = bounds[index]
        tb = time.perf_counter()
        block = result[names].isel({time_dim: slice(a, b)}).compute()
        with writing(out, f"writing block {index}"):
            _write_region(block, out, time_dim, a, b)
        if delay:
            time.sleep(delay)
        manifest["blocks"].append(_block_entry(index, a, b, block, time_dim, tb))
        manifest["blocks"].sort(key=lambda e: e["index"])
        with writing(out, f"recording block {index} in its manifest"):
            _write_manifest(out, manifest)
        elapsed = time.perf_counter() - t0
        rate = elapsed / (k + 1)
        left = len(todo) - k - 1
        report("batch blocks", len(done) + k + 1, len(bounds))
        say.progress(
            f"block {len(done) + k + 1}/{len(bounds)} ({_time_str(block[time_dim].values[0])}"
            f"..{_time_str(block[time_dim].values[-1])}) {rate:.2f} s/block, "
            f"ETA {duration(left * rate)}"
        )
    return todo


def _check_options(method: str, options: Mapping[str, Any]) -> None:
    from ..reconstruct import METHODS

    if method not in METHODS:
        raise BatchError(f"Unknown method {method!r}; choose one of {sorted(METHODS)}.")
    valid = {f.name for f in dataclasses.fields(METHODS[method])}
    valid |= {"window", "keep_members", "array_library"}
    valid.discard("sha256")
    unknown = sorted(set(options) - valid)
    if unknown:
        raise BatchError(
            f"Option(s) {unknown} do not apply to --method {method}; its options are "
            f"{sorted(valid)} (--members, --steps and --model are for --method diffusion)."
        )


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
    encoding = compressed(template, "zarr")  # float32 fields, int16 counts, zstd
    with _quiet_zarr():
        template.to_zarr(staging, mode="w", compute=False, consolidated=True, encoding=encoding)
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


def _remove_staging(out: Path) -> None:
    staging = out.with_name(out.name + _PARTIAL_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def connect(scheduler: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` connected to ``scheduler`` (e.g. ``tcp://host:8786``) while the
    block is active, or nothing when ``scheduler`` is None.

    Raises
    ------
    BatchError
        When ``distributed`` is not installed, or the scheduler cannot be reached or its
        address is malformed.
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
    try:
        client = _client(Client, scheduler)
    except (OSError, ValueError, TypeError) as err:  # timeouts, refused, malformed addresses
        raise BatchError(
            f"cannot connect to the dask scheduler --scheduler {scheduler!r} ({err}); give the "
            "address the scheduler prints when it starts, as tcp://HOST:PORT (e.g. "
            "tcp://10.0.0.5:8786), check that it is running and reachable, or leave --scheduler "
            "out to run locally."
        ) from err
    with client:
        yield client


def _client(client_class: type, scheduler: str) -> Any:
    """``client_class(scheduler)``; when it fails, the dask configuration and the default
    client it set are undone, so that later computations in this process run locally."""
    import dask
    from distributed import default_client

    restore = dask.config.set({"scheduler": dask.config.get("scheduler", None)})
    try:
        return client_class(scheduler)
    except BaseException:
        with contextlib.suppress(Exception):
            stale = default_client()
            if stale.status != "running":
                stale.close()
        restore.__exit__(None, None, None)
        raise
