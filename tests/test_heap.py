"""The C heap kept mapped while an ensemble is drawn, and handed back afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from xdepthdif.analysis import heap

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="the allocator is glibc's")

# Allocate, touch and free 8 MB blocks in turn, several live at once as torch's activations
# are; count the page faults inside and outside ``heap_kept`` and the resident memory after.
SCRIPT = textwrap.dedent(
    """
    import ctypes, json, resource, sys
    import numpy as np
    from xdepthdif.analysis.heap import heap_kept

    np._core.multiarray._set_madvise_hugepage(False)  # one fault per 4 kB page, as counted

    def faults(rounds=20):
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(rounds):
            live = [np.ones(2**20) for _ in range(4)]
            del live
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / rounds

    def resident_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks"
                    " keepcost".split()]

    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = Mallinfo2

    def releasable_mb():  # the free chunk at the heap's top, which a trim hands back
        return mallinfo2().keepcost / 2**20

    faults()  # warm up
    out = {"outside": faults()}
    with heap_kept() as reached:
        faults()
        out["inside"] = faults()
        out["resident_before_mb"] = resident_mb()
        # 200 MB in 1 MB blocks, from the heap. The list is made first: grown block by block,
        # its buffer moves from pymalloc to malloc part way, and a small chunk it leaves
        # between the blocks, once taken by a lasting object, keeps a hole below the heap's
        # top that later blocks reuse without any trim (about one run in eight).
        hold = [None] * 200
        for i in range(200):
            hold[i] = np.ones(2**17)
        del hold
        with heap_kept():  # a nested block (another thread's) ends first
            pass
        out["resident_inside_mb"] = resident_mb()
        out["releasable_inside_mb"] = releasable_mb()
    np.ones(2**17).sum()  # the next free after the block hands the heap's top back
    out["resident_after_mb"] = resident_mb()
    out["releasable_after_mb"] = releasable_mb()
    faults(1)  # blocks placed on pages handed back fault in once
    out["outside_after"] = faults()
    out["reached"] = reached
    json.dump(out, sys.stdout)
    """
)


def run(env: dict[str, str]) -> dict:
    """The script's counts in a process with the glibc variables ``env`` (and no others)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**base, **env},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_no_faults_while_kept_even_under_dasks_nanny_setting() -> None:
    # dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536: every 8 MB block is
    # mapped afresh and faults in, 2048 pages, unless the heap is kept
    out = run({"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert out["reached"] is True
    assert out["outside"] > 4 * 2000
    assert out["inside"] < 100
    assert out["outside_after"] > 4 * 2000  # the environment's threshold is back


def test_a_plain_process_keeps_the_workers_threshold_after() -> None:
    out = run({})
    assert out["inside"] < 100
    assert out["outside_after"] < 100  # 64 MiB: the 32 MB of live blocks stay mapped


def test_memory_is_handed_back_after_the_outermost_block_ends() -> None:
    out = run({})
    # The 200 MB are freed inside the block and stay mapped past the end of the nested block,
    # as free space at the heap's top. How much of them reaches the top depends on where the
    # imports left live chunks, so glibc's own count of that free space is what is compared.
    assert out["resident_inside_mb"] - out["resident_before_mb"] > 100
    kept = out["releasable_inside_mb"]
    assert kept > 100
    assert out["releasable_after_mb"] < 1  # after the block the top is handed back ...
    assert out["resident_inside_mb"] - out["resident_after_mb"] > 0.9 * kept  # ... to the system
