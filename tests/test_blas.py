"""A time step's BLAS runs on one thread, and the process gets its own limits back after."""

import threading

import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

from xdepthdif.analysis.blas import one_blas_thread  # noqa: E402


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}


def test_the_limit_holds_until_the_last_time_step_leaves():
    import numpy as np

    np.ones((2, 2)) @ np.ones((2, 2))  # BLAS loaded
    before = _blas_threads()
    inside, release = threading.Event(), threading.Event()

    def other_step():
        with one_blas_thread():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=other_step)
    worker.start()
    inside.wait(10)
    assert _blas_threads() == {1}  # set by the first time step, for the whole process
    with one_blas_thread():
        assert _blas_threads() == {1}
    assert _blas_threads() == {1}  # the other time step is still running
    release.set()
    worker.join(10)
    assert _blas_threads() == before
