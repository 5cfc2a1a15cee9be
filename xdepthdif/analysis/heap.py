"""The C heap while an ensemble is drawn: freed memory kept mapped until it is done.

torch allocates and frees MB-sized tensors hundreds of times per network evaluation on a CPU
(the activations saved for the vector-Jacobian products, oneDNN's reordered copies). glibc
hands free memory at the top of its heap back to the system as soon as it exceeds the trim
threshold (twice the largest block freed so far in a plain process, 64 MiB in the workers of
:func:`xdepthdif.cluster`); under the ``MALLOC_TRIM_THRESHOLD_=65536`` that dask's nannies
export, every block above 128 KiB is a mapping of its own, unmapped when freed. Every page
handed back faults in again, zeroed, at the next allocation: see the table of
``benchmarks/heap.py`` in ``docs/benchmarks.md``.

:func:`heap_kept` keeps the heap mapped while an ensemble is drawn. The heap grows only when
an allocation needs it, so it holds the sampling's own peak plus what fragmentation leaves
between blocks: about what a plain process holds anyway, more than a process whose large
blocks were each a mapping of their own (numbers in ``docs/benchmarks.md``). When the
ensemble is done it restores the trim threshold (the environment's ``MALLOC_TRIM_THRESHOLD_``
or 64 MiB), and glibc hands the free top of the heap back at the next ``free`` as it always
does. (Handing it all back at once with ``malloc_trim`` was measured too: the next time step
then faulted its whole working set in again, some 93 000 pages, more than a worker of
:func:`xdepthdif.cluster` faults without any of this.) Only on glibc (Linux); elsewhere, and
where the allocator cannot be reached, it does nothing. On a GPU the host allocates little,
and keeping its heap changes nothing there.

Examples
--------
>>> import numpy as np
>>> with heap_kept():
...     total = sum(float(np.ones(2**20).sum()) for _ in range(3))
>>> total
3145728.0
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

__all__ = ["heap_kept"]

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
KEPT = 2**31 - 1
"""Trim threshold while sampling: free memory at the heap's top is never handed back."""
MMAP_THRESHOLD = 32 * 2**20
"""Allocations up to this size come from the heap (glibc's largest; its own adaptive threshold
stops there too) unless ``MALLOC_MMAP_THRESHOLD_`` says otherwise."""
TRIM_AFTER = 64 * 2**20
"""Trim threshold after sampling unless ``MALLOC_TRIM_THRESHOLD_`` says otherwise (the value
:data:`xdepthdif.batch.cluster.WORKER_MALLOC` gives workers)."""

_LOCK = threading.Lock()
_depth = 0  # blocks open in this process


@cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (with ``mallopt``)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):  # pragma: no cover - a static or unusual libc
        return None
    return libc


def _from_env(name: str, default: int) -> int:
    """The threshold ``name`` (``MALLOC_TRIM_THRESHOLD_``) set in the environment, directly or
    as ``GLIBC_TUNABLES=glibc.malloc.trim_threshold=...``; else ``default``."""
    value = os.environ.get(name, "").strip()
    tunable = "glibc.malloc." + name.removeprefix("MALLOC_").rstrip("_").lower() + "="
    for item in os.environ.get("GLIBC_TUNABLES", "").split(":"):
        if item.startswith(tunable):
            value = value or item.removeprefix(tunable).strip()
    return int(value) if value.isdigit() else default


@contextmanager
def heap_kept() -> Iterator[bool]:
    """Keep glibc's free heap mapped inside the block; restore the trim threshold after it.

    The mmap threshold is set to ``MALLOC_MMAP_THRESHOLD_`` when that is in the environment,
    else to 32 MiB (where glibc's adaptive threshold ends anyway), and stays there; the trim
    threshold is raised for the block and then set to ``MALLOC_TRIM_THRESHOLD_`` or 64 MiB,
    so that the next ``free`` hands back what lies above it. Blocks may be entered by several
    threads; the threshold is restored when the last one ends.

    Yields
    ------
    bool
        Whether the allocator was reached (glibc on Linux).
    """
    global _depth
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _LOCK:
        _depth += 1
        if _depth == 1:
            libc.mallopt(_M_MMAP_THRESHOLD, _from_env("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD))
            libc.mallopt(_M_TRIM_THRESHOLD, KEPT)
    try:
        yield True
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_TRIM_THRESHOLD, _from_env("MALLOC_TRIM_THRESHOLD_", TRIM_AFTER))
