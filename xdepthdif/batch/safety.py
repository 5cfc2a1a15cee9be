"""What keeps a batch store safe: one writer at a time, ``--overwrite`` that removes only a
store this tool wrote, never an input of the same run, and write errors (disk full, read-only
folder) told as one typed line.

- :func:`store_lock` holds ``OUT.xdepthdif-lock`` (beside the store, so that it also guards the
  template's creation and ``--overwrite``) with ``fcntl.flock`` for the whole run. The kernel
  releases the lock when its process ends, however it ends, so a lock file left behind by a
  killed run is taken over by the next run: there is no stale lock to clear on a local disk.
  The file records the holder's pid, host and start time for the error message.
- :func:`check_not_an_input` refuses an ``OUT`` equal to, inside or containing a path the run
  reads (target, observations, model).
- :func:`remove_store` removes ``OUT`` only when it holds nothing but zarr arrays, zarr
  metadata and the manifest, and its manifest names this tool, or, when the manifest is
  damaged, its zarr root attributes do.
- :func:`writing` turns ``OSError`` from writing the store into :class:`StoreWriteError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

import xarray as xr

from ..errors import XDepthDifError
from .manifest import MANIFEST_NAME, MANIFEST_PREFIX, BatchError

__all__ = [
    "LOCK_SUFFIX",
    "StoreLockedError",
    "StoreWriteError",
    "check_not_an_input",
    "check_out_path",
    "dataset_sources",
    "remove_store",
    "store_lock",
    "store_path",
    "writing",
]

LOCK_SUFFIX = ".xdepthdif-lock"
_ZARR_META = {".zgroup", ".zattrs", ".zmetadata", "zarr.json"}


class StoreLockedError(BatchError):
    """Another run is writing the same store."""


class StoreWriteError(BatchError, OSError):
    """The store could not be written: disk full, read-only folder, or another I/O error."""


# ------------------------------------------------------------------------------------ paths
def store_path(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """``out`` as the path of a store: ``.``, ``..`` or ``a/..`` made absolute, so that the
    store has a name for its lock and staging folder beside it.

    Raises
    ------
    BatchError
        When ``out`` is empty or the root folder, or when ``overwrite`` would remove the current
        folder (or one holding it) under the shell that runs the command.
    """
    text = os.fspath(out)
    if not text.strip():
        raise BatchError("--out is empty; give the zarr store's path, e.g. --out analysis.zarr.")
    path = Path(text)
    if path.name in ("", ".."):
        path = Path(os.path.abspath(text))
    if not path.name:
        raise BatchError(f"--out {text!r} is the root folder; give a store's path inside it.")
    here = Path.cwd().resolve()
    if overwrite and (path.resolve() == here or path.resolve() in here.parents):
        raise BatchError(
            f"--out {text!r} is the current folder ({here}) or holds it; --overwrite would remove "
            "and recreate it under your shell. Run from its parent and name it: cd .. && "
            f"xdepthdif reconstruct ... --out {path.name} --overwrite."
        )
    return path


def check_out_path(out: Path) -> None:
    """Refuse an ``OUT`` that is a symbolic link: ``--overwrite``, the lock and the rename of
    the template would act on the link, not on the store it points to.

    Raises
    ------
    BatchError
    """
    if out.is_symlink():
        raise BatchError(
            f"--out {out} is a symbolic link (to {os.readlink(out)}); pass the path it points "
            "to as --out, so that the lock and --overwrite act on the store itself."
        )


def dataset_sources(*datasets: xr.Dataset) -> list[Path]:
    """The files the datasets were opened from (``encoding['source']``), where recorded."""
    found = []
    for ds in datasets:
        for obj in (ds, *ds.variables.values()):
            source = obj.encoding.get("source")
            if isinstance(source, str | os.PathLike) and "://" not in os.fspath(source):
                found.append(Path(source))
    return found


def check_not_an_input(out: Path, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse an ``OUT`` that is, lies inside or contains one of ``inputs``.

    Raises
    ------
    BatchError
        Naming the input; nothing has been removed or written when it is raised.
    """
    target = out.resolve()
    for path in {Path(p).resolve() for p in inputs}:
        if target == path:
            how = "is"
        elif path in target.parents:
            how = "lies inside"
        elif target in path.parents:
            how = "contains"
        else:
            continue
        raise BatchError(
            f"--out {out} {how} {path}, an input of this run (--target, --obs or --model); "
            "writing or overwriting it would destroy the input. Choose another --out."
        )


# ------------------------------------------------------------------------------------- lock
def _lock_path(out: Path) -> Path:
    return out.with_name(out.name + LOCK_SUFFIX)


@contextlib.contextmanager
def store_lock(out: Path) -> Iterator[Path]:
    """Hold the lock of the store ``out`` while the block runs; yield the lock file's path.

    Raises
    ------
    StoreLockedError
        When another live process holds it (the message names the lock file and its holder).
    StoreWriteError
        When the lock file cannot be created (read-only folder, disk full).
    """
    import fcntl

    path = _lock_path(out)
    with writing(out, "creating its lock file"):
        path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with writing(out, "creating its lock file"):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise _locked(out, path) from err
            raise BatchError(
                f"cannot lock {path} ({err}): this file system does not support file locks; "
                "write --out to a local disk, then copy the store."
            ) from err
        if _same_file(fd, path):  # not unlinked by a holder releasing it meanwhile
            break
        os.close(fd)
    try:
        _record_holder(fd)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _record_holder(fd: int) -> None:
    started = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode())


def _locked(out: Path, path: Path) -> StoreLockedError:
    try:
        holder = path.read_text(encoding="utf-8").strip() or "a process"
    except OSError:
        holder = "a process"
    return StoreLockedError(
        f"{out} is being written by another run ({holder}), which holds the lock {path}; "
        "wait for it to finish. The lock is released when that process ends; if the store is "
        f"on a network disk and that machine crashed, delete {path} and run again."
    )


# ------------------------------------------------------------------------------- overwrite
def remove_store(out: Path) -> None:
    """Remove ``OUT`` for ``--overwrite``: only an empty folder, or a store that holds nothing
    else than zarr arrays, zarr metadata and a manifest, whose manifest names this tool or, when
    the manifest is damaged (emptied, cut short), whose zarr root attributes do.

    Raises
    ------
    BatchError
        Naming what is not ours; nothing is removed then.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise BatchError(
            f"--overwrite refuses to remove {out}: it is a file, not a store written by "
            "xdepthdif reconstruct. Remove it yourself or choose another --out."
        )
    entries = list(out.iterdir())
    if not entries:
        out.rmdir()
        return
    if not (_manifest_names_us(out) or _damaged_store_of_ours(out)):
        raise BatchError(
            f"--overwrite refuses to remove {out}: it holds no {MANIFEST_NAME} written by "
            "xdepthdif reconstruct, so nothing shows this tool wrote it. Remove it yourself or "
            "choose another --out."
        )
    foreign = sorted(e.name for e in entries if not _is_ours(e))
    if foreign:
        raise BatchError(
            f"--overwrite refuses to remove {out}: besides the store it holds "
            f"{foreign[:5]}{' ...' * (len(foreign) > 5)}, which xdepthdif did not write. Move "
            "them out of the store, or choose another --out."
        )
    with writing(out, "removing it for --overwrite"):
        shutil.rmtree(out)


def _manifest_names_us(out: Path) -> bool:
    try:
        head = (out / MANIFEST_NAME).read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return MANIFEST_PREFIX in head


def _damaged_store_of_ours(out: Path) -> bool:
    """Whether ``out`` holds a manifest file that does not name this tool (emptied, cut short,
    edited) beside zarr root metadata that does: a store of ours whose manifest is damaged."""
    if not (out / MANIFEST_NAME).is_file():
        return False
    for name in ("zarr.json", ".zattrs"):
        try:
            meta = json.loads((out / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        attrs = meta.get("attributes", {}) if name == "zarr.json" else meta
        if isinstance(attrs, dict) and "xdepthdif_method" in attrs:
            return True
    return False


def _is_ours(entry: Path) -> bool:
    name = entry.name
    if entry.is_symlink():
        return False
    if entry.is_file():
        return name in _ZARR_META | {MANIFEST_NAME} or (
            name.startswith(f".{MANIFEST_NAME}.") and name.endswith(".tmp")
        )
    return entry.is_dir() and any((entry / m).is_file() for m in (".zarray", "zarr.json"))


# ----------------------------------------------------------------------------------- errors
_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextlib.contextmanager
def writing(out: Path, stage: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while ``stage`` into a :class:`StoreWriteError` that says
    what to do; the blocks already recorded stay valid, so the fix is followed by a rerun."""
    try:
        yield
    except XDepthDifError:
        raise
    except OSError as err:
        rerun = "then run the same command again: the blocks already recorded are kept"
        if err.errno in _FULL:
            msg = (
                f"no space left on the disk of {out} while {stage} ({err.strerror}); free "
                f"space or choose an --out on another disk, {rerun}."
            )
        elif err.errno in _READ_ONLY:
            msg = (
                f"cannot write {out} while {stage}: {err.strerror} ({err.filename or out}); "
                "the folder is read-only for this user: choose a writable --out, or make it "
                "writable and run the same command again."
            )
        else:
            msg = f"could not write {out} while {stage}: {err}; fix the cause, {rerun}."
        raise StoreWriteError(msg) from err
