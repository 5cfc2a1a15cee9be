"""A time step's BLAS runs on one thread, and the process gets its own limits back after."""

import os
import subprocess
import sys
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


SCRIPT = """
import threading, numpy as np, threadpoolctl
from xdepthdif.analysis.blas import one_blas_thread
np.ones((2, 2)) @ np.ones((2, 2))
threads = lambda: sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()
                          if p["user_api"] == "blas"})
with one_blas_thread():  # a time step in the main thread: the synchronous scheduler
    pass
seen = {}
def step():
    with one_blas_thread():
        seen["worker"] = threads()
worker = threading.Thread(target=step)
worker.start()
worker.join(10)
with one_blas_thread():
    seen["main"] = threads()
print(seen["worker"], seen["main"])
"""


def test_a_thread_started_after_a_step_in_the_main_thread_gets_one_thread_too():
    """threadpoolctl 3.8 and later hand the control of a pthreads OpenBLAS to the first thread
    that limits it; after a time step in the main thread (the synchronous scheduler), a worker
    thread's limit was dropped, and its products rounded differently. A fresh process, so that
    no earlier test decided which thread controls OpenBLAS."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["[1]", "[1]"]
