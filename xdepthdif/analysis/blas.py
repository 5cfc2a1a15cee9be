"""One BLAS thread while a time step is analysed, so every scheduler gives the same bits.

OpenBLAS splits a product or a factorisation differently with one thread and with several, and
on some processors the results then differ in the last bits. Dask workers started by
:func:`xdepthdif.cluster` run BLAS on one thread; the threaded scheduler runs time steps in the
user's process, whose BLAS takes every core. :func:`one_blas_thread` makes a time step's BLAS
single-threaded wherever it runs (time steps run in parallel, not their products), and gives
the process its own limits back when the last time step running in it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_running = 0
_limits = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while any caller is inside (reference-counted across threads:
    every caller sets the limit as it enters, the last to leave restores what the first found).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.random.default_rng(0).normal(size=(50, 50))
    >>> with one_blas_thread():
    ...     b = a @ a.T
    >>> bool(np.allclose(b, b.T))
    True
    """
    global _running, _limits
    from threadpoolctl import threadpool_limits

    with _lock:
        _take_control()
        limits = threadpool_limits(limits=1, user_api="blas")  # in every thread that enters
        if _running == 0:
            _limits = limits  # what the first one found is what the last one restores
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0 and _limits is not None:
                _take_control()
                _limits.restore_original_limits()
                _limits = None


def _take_control() -> None:
    """Let this thread set OpenBLAS's limit.

    A pthreads OpenBLAS has one thread pool for the whole process, and threadpoolctl 3.8 and
    later let only one Python thread change its size: the first that set a limit, for as long
    as it lives (the main thread, once a time step has run there), unless the limit was set in
    a ``with`` block. The others' limits are dropped without a word, and their BLAS runs on
    every core and rounds differently. This module counts its callers across threads itself,
    so whichever of them sets or restores the limit takes that control first.
    """
    import threadpoolctl

    controller = getattr(threadpoolctl, "OpenBLASController", None)
    clear = getattr(controller, "clear_controlling_thread", None)  # threadpoolctl >= 3.8
    if clear is not None:
        clear(force=True)
