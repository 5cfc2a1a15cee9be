"""A time step's BLAS runs on one thread, and the process gets its own limits back after."""

import threading

import numpy as np
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

from xdepthdif.analysis import blas  # noqa: E402
from xdepthdif.analysis.blas import one_blas_thread  # noqa: E402


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}


def test_one_thread_inside_and_the_old_limit_after():
    np.ones((2, 2)) @ np.ones((2, 2))  # BLAS loaded
    before = _blas_threads()
    with one_blas_thread():
        assert _blas_threads() == {1}
    assert _blas_threads() == before


def test_every_time_step_runs_on_one_thread_until_the_last_leaves():
    """Time steps in two threads at once: the one in this thread sees one BLAS thread; the
    count of running steps goes back to zero and the saved limits are dropped when both are
    done. (What a thread started later reads back from OpenBLAS varies between builds; that
    every scheduler gives the same bits is tested in test_cluster and test_reconstruct.)"""
    seen, inside, release = {}, threading.Event(), threading.Event()

    def other_step():
        with one_blas_thread():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=other_step)
    worker.start()
    assert inside.wait(10)
    with one_blas_thread():
        seen["this"] = _blas_threads()
        assert blas._running == 2
    assert blas._running == 1 and blas._limits is not None  # the other step still runs
    release.set()
    worker.join(10)
    assert seen == {"this": {1}}
    assert blas._running == 0 and blas._limits is None
