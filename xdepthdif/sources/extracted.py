"""The sha256 of each file extracted from a cached archive, recorded at extraction and checked
each time the file is served: an extracted file changed on disk (even one float, same size) is
extracted again from the archive, whose own hash :func:`xdepthdif.sources.download.fetch`
checks.

The record is ``RECORD`` (JSON, member name → sha256) in the extraction folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pooch

__all__ = ["RECORD", "RecordingUnzip", "drop_changed", "record_extracted"]

RECORD = ".xdepthdif-sha256.json"
_log = logging.getLogger("xdepthdif.sources.download")


class RecordingUnzip(pooch.Unzip):
    """``pooch.Unzip`` that remembers the action pooch took (``download``, ``update`` or
    ``fetch``): after a download or an update every member was extracted afresh."""

    action: str | None = None

    def __call__(self, fname: str, action: str, pooch_: object) -> list[str]:
        self.action = action
        return super().__call__(fname, action, pooch_)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _load(folder: Path) -> dict[str, str]:
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def drop_changed(folder: Path, members: Iterable[str]) -> list[str]:
    """Delete each extracted member whose sha256 is not the recorded one (or has none), so
    that the next extraction writes it again; return the members that are now missing."""
    record = _load(folder)
    missing = []
    for m in members:
        path = folder / m
        if path.is_file() and record.get(m) == _sha256(path):
            continue
        if path.exists():
            _log.warning("%s differs from what was extracted; extracting it again.", path)
            path.unlink()
        missing.append(m)
    return missing


def record_extracted(folder: Path, members: Iterable[str], fresh: Iterable[str]) -> None:
    """Record the sha256 of the ``fresh`` members, just extracted (the others were checked by
    :func:`drop_changed` before and are unchanged)."""
    record = _load(folder)
    present = [m for m in members if (folder / m).is_file()]
    changed = {m: _sha256(folder / m) for m in set(fresh) & set(present)}
    if not changed:
        return
    record |= changed
    tmp = folder / f".{RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, folder / RECORD)
