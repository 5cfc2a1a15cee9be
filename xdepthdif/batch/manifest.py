"""The manifest of a batch store: what identifies a run, what was written, and checking it.

``OUT/xdepthdif_manifest.json`` holds the run's fingerprint (method, configuration, model and
card, climatology, observations, target values: :func:`fingerprint`), the store's layout and one
entry per block written, with the block's sha256 (:func:`block_checksum`). It is rewritten
atomically after each block. :func:`read_manifest` refuses a malformed, incomplete or
inconsistent manifest with a :class:`BatchError`; :func:`block_problems` recomputes every
recorded checksum from the store and says what is wrong with each damaged block, and
:func:`verify_store` lists them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import XDepthDifError
from .fingerprint import (
    STEPS_KEY,
    block_checksum,
    fingerprint,
    observations_sha256,
    target_sha256,
)

__all__ = [
    "MANIFEST_NAME",
    "BatchError",
    "block_checksum",
    "block_problems",
    "fingerprint",
    "manifest_path",
    "observations_sha256",
    "read_manifest",
    "target_sha256",
    "verify_store",
]

MANIFEST_NAME = "xdepthdif_manifest.json"
MANIFEST_PREFIX = "xdepthdif-batch-manifest/"
MANIFEST_FORMAT = MANIFEST_PREFIX + "2"


class BatchError(XDepthDifError):
    """A batch run cannot start or resume (the store belongs to another run, or is not ours)."""


def manifest_path(out: str | os.PathLike) -> Path:
    """Where the manifest of the store ``out`` lies: ``OUT/xdepthdif_manifest.json``."""
    return Path(out) / MANIFEST_NAME


def read_manifest(out: str | os.PathLike) -> dict | None:
    """The manifest of the store ``out``, or None when it has none.

    Raises
    ------
    BatchError
        When the manifest cannot be read, is not JSON, lacks a key, or its layout and blocks
        do not agree (e.g. an edited ``time_block``); the message says how to start over.
    """
    path = manifest_path(out)
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(out, f"cannot be read as JSON ({err})") from err
    problem = _shape_problem(manifest) or _layout_problem(manifest)
    if problem:
        raise _damaged(out, problem)
    return manifest


def _damaged(out: str | os.PathLike, problem: str) -> BatchError:
    return BatchError(
        f"{manifest_path(out)} {problem}; it was edited or damaged, so the store cannot be "
        "resumed. Restore the manifest, or rerun the command with --overwrite to compute the "
        "store again."
    )


_KEYS = {"format": str, "fingerprint": dict, "layout": dict, "blocks": list}
_LAYOUT = {"time_dim": str, "n_times": int, "time_block": int, "n_blocks": int, "variables": list}
_BLOCK = {"index": int, "start": int, "stop": int, "sha256": str}


def _shape_problem(manifest: Any) -> str:
    """What is missing or of the wrong type in a manifest, or ''."""
    if not isinstance(manifest, dict):
        return f"is a JSON {type(manifest).__name__}, not an object"
    for where, obj, keys in [("", manifest, _KEYS), ("layout.", manifest.get("layout"), _LAYOUT)]:
        for key, kind in keys.items():
            value = obj.get(key) if isinstance(obj, dict) else None
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                return f"lacks {where}{key} (a JSON {kind.__name__}), found {value!r}"
    for i, entry in enumerate(manifest["blocks"]):
        for key, kind in _BLOCK.items():
            value = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                return f"has a blocks[{i}] without {key} (a JSON {kind.__name__})"
    return ""


def _layout_problem(manifest: dict) -> str:
    """Where the layout and the recorded blocks disagree, or ''."""
    layout = manifest["layout"]
    n_times, size = layout["n_times"], layout["time_block"]
    if n_times < 1 or size < 1:
        return f"has n_times {n_times} and time_block {size}; both must be at least 1"
    bounds = _block_bounds(n_times, size)
    if layout["n_blocks"] != len(bounds):
        return (
            f"says n_blocks {layout['n_blocks']}, but {n_times} time steps in blocks of {size} "
            f"make {len(bounds)}"
        )
    seen = set()
    for entry in manifest["blocks"]:
        i = entry["index"]
        if not 0 <= i < len(bounds) or i in seen:
            return f"records block {i} twice or out of range 0..{len(bounds) - 1}"
        seen.add(i)
        if (entry["start"], entry["stop"]) != bounds[i]:
            return (
                f"records block {i} as time steps [{entry['start']}, {entry['stop']}), but "
                f"time_block {size} puts it at [{bounds[i][0]}, {bounds[i][1]})"
            )
    return ""


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
    """Recompute each recorded block's checksum from the store; return the blocks that differ
    or cannot be read (see :func:`block_problems` for why).

    An empty list means every block in the manifest is in the store as it was computed.

    Raises
    ------
    BatchError
        When ``out`` has no manifest, or its manifest or zarr metadata cannot be read; the
        message names the command that repairs it.
    """
    manifest = read_manifest(out)
    if manifest is None:
        raise BatchError(f"{out} has no {MANIFEST_NAME}; it was not written by run_batch.")
    return sorted(block_problems(out, manifest))


def block_problems(out: str | os.PathLike, manifest: dict) -> dict[int, str]:
    """Each recorded block that is not in the store as computed, and why: its checksum
    differs (a chunk deleted, overwritten or edited) or it cannot be decoded.

    Raises
    ------
    BatchError
        When the store's zarr metadata cannot be opened at all.
    """
    layout = manifest["layout"]
    try:
        ds = xr.open_zarr(out)[layout["variables"]]
    except Exception as err:  # zarr raises many types for broken metadata; report, never crash
        raise BatchError(
            f"{out} cannot be opened as a zarr store ({type(err).__name__}: {err}); its "
            "metadata is damaged. Rerun the command with --overwrite to compute it again."
        ) from err
    problems = {}
    for entry in manifest["blocks"]:
        block = ds.isel({layout["time_dim"]: slice(entry["start"], entry["stop"])})
        try:
            found = block_checksum(block.compute())
        except Exception as err:  # a garbage chunk fails in the codec (zstd, blosc): damaged
            problems[entry["index"]] = f"cannot be decoded ({type(err).__name__}: {err})"
            continue
        if found != entry["sha256"]:
            problems[entry["index"]] = "differs from its recorded checksum (missing or changed)"
    return problems


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
            f"{manifest.get('format')!r}: written by another version of xdepthdif); pass "
            "--overwrite to start over, or choose a new --out."
        )
    old = _default_window(manifest["fingerprint"])
    diffs = _diff(old, _default_window(json.loads(json.dumps(fp))))
    if diffs:
        raise BatchError(
            f"{out} was started by a different run, so it cannot be resumed: "
            + "; ".join(diffs)
            + ". Pass --overwrite (overwrite=True) to start over, or choose a new --out."
        )


def _default_window(fp: dict) -> dict:
    """``fp`` with the default window (None) written as ``"month"``, so that a run giving the
    default explicitly resumes a store started without it, and stores written by earlier
    versions (which recorded None) still resume. Where None meant the target's time bounds
    instead, a different window shows in ``output_coords_sha256`` (the time bounds)."""
    return fp | {"window": "month"} if fp.get("window") is None else fp


def _check_layout(out: Path, manifest: dict, time_dim: str, names: list[str], n: int) -> None:
    """Refuse a manifest whose layout is not the one this run writes."""
    layout = manifest["layout"]
    found = (layout["time_dim"], sorted(layout["variables"]), layout["n_times"])
    if found != (time_dim, names, n):
        raise _damaged(
            out, f"describes {found} (time dim, variables, time steps), not {(time_dim, names, n)}"
        )


def _diff(old: Any, new: Any, key: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{key}.{k}" if key else k)
        return out
    if old == new:
        return []
    if key == STEPS_KEY and isinstance(old, list) and isinstance(new, list):
        return [_steps_diff(old, new)]
    return [f"{key} was {old!r}, now {new!r}"]


def _steps_diff(old: list, new: list) -> str:
    if len(old) != len(new):
        return f"the target's time-dependent variables now have {len(new)} steps, not {len(old)}"
    steps = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    shown = ", ".join(map(str, steps[:8])) + (" ..." if len(steps) > 8 else "")
    return (
        f"the values of the target's time-dependent variables (e.g. its surface temperature) "
        f"changed at time step(s) {shown} since the store was started"
    )


def _time_str(value) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return str(value)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
