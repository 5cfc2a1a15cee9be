"""Where torch runs: the device, and the CPU threads of one ensemble in this process (a dask
worker shares the host's cores with the other workers)."""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["TORCH_LOCK", "cpu_count", "resolve_device", "sampling_threads"]


def cpu_count() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it).

    Examples
    --------
    >>> cpu_count() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


TORCH_LOCK = threading.Lock()
"""Serialises the sampling of time steps run by threads of one process: torch already uses
every core given to it for one ensemble, so running two at once gains nothing."""


def sampling_threads() -> int:
    """CPU threads torch uses to draw an ensemble in this process.

    In a dask worker process: the cores divided among the worker processes of this host (at
    least 1), or ``OMP_NUM_THREADS`` when it is set and smaller (:func:`xdepthdif.cluster`
    and dask's nannies set it), so that several workers never start more threads than there
    are cores (oversubscribed, a step took 4–7 times as long). Elsewhere:
    ``OMP_NUM_THREADS`` when set, else every core available to the process (time steps run
    by threads of one process take turns, see ``TORCH_LOCK``).

    Set explicitly for every time step, whichever thread runs it, because CPU kernels split
    their work by thread count and the last bits of a result follow that split: a fixed count
    makes the threaded and synchronous schedulers (and workers with the same setting) agree
    bit for bit.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    requested = int(env) if env.isdigit() and int(env) > 0 else None
    processes = _worker_processes_on_host()
    if processes is None:
        return requested or cpu_count()
    fair = max(1, cpu_count() // processes)
    return fair if requested is None else min(requested, fair)


def _worker_processes_on_host() -> int | None:
    """Dask worker processes on this host when called inside one (at least 1), else None.

    Asks the scheduler; when it cannot answer, returns the number of cores (one thread per
    worker: cores may stay idle, but are never oversubscribed).
    """
    distributed = sys.modules.get("distributed")  # a dask worker has imported it
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:  # not inside a worker
        return None
    try:
        workers = distributed.get_client().scheduler_info(n_workers=-1)["workers"].values()
        same_host = sum(w.get("host") == worker.host for w in workers)
    except Exception:  # a scheduler that does not answer: be conservative
        return cpu_count()
    return max(1, same_host)


def resolve_device(device: str) -> str:
    """``"auto"``: CUDA when torch sees it, else the CPU; CUDA asked for but absent: the CPU."""
    import torch

    if str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return str(device)
