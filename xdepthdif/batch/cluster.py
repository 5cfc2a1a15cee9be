"""A dask cluster sized for xdepthdif: one worker per GPU, or worker processes on the CPUs.

:func:`cluster` starts a ``dask_cuda.LocalCUDACluster`` (one worker per GPU) when GPUs are
visible and dask-cuda imports, else a ``distributed.LocalCluster`` of single-threaded worker
processes, one per core, and returns a :class:`distributed.Client` connected to it (which
becomes dask's default scheduler). Nothing here imports distributed, dask-cuda or torch until
:func:`cluster` is called.

Why processes with one thread each on CPUs: a task is one time step; OI loops in Python over
depth levels and tiles with small dense solves (it holds the GIL most of the time), and the
diffusion sampler runs torch, which has its own intra-op thread pool. Threads in one process
would queue on the GIL and each torch call would start as many threads as cores; one
single-threaded process per core keeps every core busy without oversubscription. Each worker's
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` (read by numpy's BLAS and
by torch when they start) is set to the cores left per worker thread, 1 by default. The price is
one copy of the model per worker process (a few MB to tens of MB) and pickling the results of a
time step between processes, both small next to a time step's compute.

Why the workers' allocator settings (:data:`WORKER_MALLOC`): dask's nannies start worker
processes with ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off glibc's adaptive mmap
threshold, so every allocation above 128 KiB is a fresh ``mmap`` whose pages fault in, zeroed,
on first touch. torch allocates and frees MB-sized activations hundreds of times per guided
evaluation: a diffusion time step (global 4°, 8 members) made some 10 million page faults and
ran about 2.8 times as long in a worker as in a plain process, most of it in the kernel.
Allocations up to 32 MiB served from the heap, and up to 64 MiB of it kept, are what glibc
settles to on its own in a plain process.

Examples
--------
>>> import xdepthdif
>>> client = xdepthdif.cluster()  # doctest: +SKIP
>>> result = target.depthdif.reconstruct(obs=profiles).compute()  # doctest: +SKIP
>>> client.shutdown()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import warnings
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..analysis.heap import MMAP_THRESHOLD, TRIM_AFTER
from ..analysis.torch_env import cpu_count
from ..errors import XDepthDifWarning

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["WORKER_MALLOC", "ClusterFallbackWarning", "cluster", "cpu_count", "visible_gpus"]

logger = logging.getLogger(__name__)
_LIBRARY_THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_NO_DEVICES = ("", "-1", "none", "NoDevFiles")
_PRE_SPAWN = "distributed.nanny.pre-spawn-environ"

WORKER_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
    "MALLOC_TRIM_THRESHOLD_": str(TRIM_AFTER),
}
"""glibc allocator settings of the worker processes :func:`cluster` starts: allocations up to
32 MiB come from the heap and up to 64 MiB of free heap stay mapped, instead of dask's
``MALLOC_TRIM_THRESHOLD_=65536`` (a fresh ``mmap`` for each allocation above 128 KiB; see the
module's notes). They must be in a process's environment when it starts; the same variables
exported before the cluster is started take precedence (dask's rule for its nannies), and a
job script can export these for workers started by other means (e.g. dask-jobqueue)."""


class ClusterFallbackWarning(XDepthDifWarning):
    """GPUs are visible but a GPU cluster cannot be started: a CPU cluster is started instead."""


def visible_gpus() -> int:
    """How many CUDA GPUs this process can see, cheaply and without importing torch.

    ``CUDA_VISIBLE_DEVICES`` set to ``""`` or ``"-1"`` hides every GPU. When torch is already
    imported its answer is used; otherwise ``nvidia-smi -L`` counts the GPUs (at most as many as
    ``CUDA_VISIBLE_DEVICES`` lists). No driver, no ``nvidia-smi``: 0.

    Examples
    --------
    >>> visible_gpus() >= 0
    True
    """
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None and listed.strip() in _NO_DEVICES:
        return 0
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    found = sum(line.startswith("GPU ") for line in out.stdout.splitlines())
    if listed is not None:
        found = min(found, len([d for d in listed.split(",") if d.strip()]))
    return found


def cluster(
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    *,
    gpu: bool | None = None,
    **kwargs: Any,
) -> Client:
    """Start a local dask cluster for :func:`xdepthdif.reconstruct` and return its client.

    With GPUs visible (:func:`visible_gpus`) and dask-cuda installed: a
    ``dask_cuda.LocalCUDACluster``, one worker per GPU, each seeing its own GPU as ``cuda:0``
    (pass ``device="cuda"`` to a diffusion reconstruct). Otherwise a ``distributed.LocalCluster``
    of worker processes, by default one per core with one thread each (see the module's notes
    for why), with ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set in
    each worker to ``cores // (n_workers * threads_per_worker)`` (at least 1), so that numpy's
    BLAS and torch do not start more threads than there are cores. When GPUs are visible but
    dask-cuda does not import, a :class:`ClusterFallbackWarning` says so and a CPU cluster starts.
    Either way the worker processes start with the glibc allocator settings
    :data:`WORKER_MALLOC` (a time step of a diffusion reconstruct ran about 2.8 times as long
    under dask's own; see the module's notes).

    The client becomes dask's default scheduler: ``.compute()`` and ``.to_zarr()`` run on the
    cluster until ``client.shutdown()``, which stops the workers and the scheduler too
    (``client.close()`` only disconnects).

    Parameters
    ----------
    n_workers
        Number of workers; default: one per GPU, or ``cores // threads_per_worker``.
    threads_per_worker
        Threads per worker; default 1.
    gpu
        ``None``: a GPU cluster when GPUs are visible and dask-cuda imports; ``False``: always a
        CPU cluster; ``True``: a GPU cluster or an error saying what is missing.
    **kwargs
        Passed on to ``LocalCUDACluster`` or ``LocalCluster`` (e.g. ``memory_limit``,
        ``dashboard_address=":0"``, ``CUDA_VISIBLE_DEVICES="0,1"``, ``env={...}`` for the CPU
        cluster's workers, merged over the thread settings above).

    Returns
    -------
    distributed.Client
        Connected to the new cluster (``client.cluster``).

    Examples
    --------
    >>> import xdepthdif
    >>> client = xdepthdif.cluster()  # doctest: +SKIP
    >>> client.cluster  # doctest: +SKIP
    LocalCluster(..., workers=2, threads=2, memory=...)
    >>> analysis = target.depthdif.reconstruct(obs=profiles, method="oi")  # doctest: +SKIP
    >>> analysis.to_netcdf("analysis.nc")  # one task per time step  # doctest: +SKIP
    >>> client.shutdown()  # doctest: +SKIP
    """
    try:
        from distributed import Client
    except ImportError as err:
        msg = f"xdepthdif.cluster needs dask.distributed ({err}); install it with: "
        raise ImportError(msg + 'pip install "dask[distributed]"') from err
    gpus = 0 if gpu is False else visible_gpus()
    if gpu and not gpus:
        raise RuntimeError(
            "cluster(gpu=True): no CUDA GPU is visible (checked CUDA_VISIBLE_DEVICES, torch if "
            "imported, and nvidia-smi -L); use gpu=None or gpu=False for a CPU cluster."
        )
    if gpus:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as err:
            if gpu:
                msg = f"cluster(gpu=True) needs dask-cuda ({err}); install it with: "
                raise ImportError(msg + 'pip install "xdepthdif[gpu]"') from err
            warnings.warn(
                f"{gpus} GPU(s) visible but dask-cuda does not import ({err}); starting a CPU "
                'LocalCluster instead. For one worker per GPU: pip install "xdepthdif[gpu]" '
                "(or pass gpu=False to silence this).",
                ClusterFallbackWarning,
                stacklevel=2,
            )
        else:
            options = {"n_workers": n_workers, "threads_per_worker": threads_per_worker or 1}
            with worker_malloc():
                new = LocalCUDACluster(**(options | kwargs))
            logger.info("started %r, one worker per GPU", new)
            return Client(new)
    return Client(_local_cluster(n_workers, threads_per_worker, kwargs))


def _local_cluster(n_workers: int | None, threads_per_worker: int | None, kwargs: dict) -> Any:
    """A ``LocalCluster`` of processes sized to the cores, library threads set per worker."""
    from distributed import LocalCluster

    cores = cpu_count()
    threads = max(1, threads_per_worker or 1)
    workers = max(1, n_workers or cores // threads)
    options: dict[str, Any] = {"n_workers": workers, "threads_per_worker": threads}
    if kwargs.get("processes", True):
        per_thread = str(max(1, cores // (workers * threads)))
        options["env"] = dict.fromkeys(_LIBRARY_THREADS, per_thread) | kwargs.pop("env", {})
    with worker_malloc():
        new = LocalCluster(**(options | kwargs))
    logger.info("no GPU cluster: started %r on %d core(s)", new, cores)
    return new


def worker_malloc() -> AbstractContextManager:
    """Dask's configuration while worker processes start: :data:`WORKER_MALLOC` added to the
    variables that nannies set before they spawn a worker (``distributed.nanny.pre-spawn-environ``).

    Returns
    -------
    contextlib.AbstractContextManager
        ``dask.config.set(...)``: the configuration is restored on exit; nannies keep the
        values they read at their start, for restarts of their worker too.

    Examples
    --------
    >>> import dask
    >>> with worker_malloc():
    ...     dask.config.get("distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_")
    '33554432'
    """
    import dask

    return dask.config.set({f"{_PRE_SPAWN}.{k}": v for k, v in WORKER_MALLOC.items()})
