"""Scale-out on dask: the cluster factory, small graphs, one model load per worker, answers that
do not depend on scheduler, input chunking or a lost worker."""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import platform
import signal
import sys
import time
import types

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

import xdepthdif
from xdepthdif.batch.cluster import ClusterFallbackWarning, visible_gpus

distributed = pytest.importorskip("distributed")
# the module (the name xdepthdif.cluster is the function)
cluster_module = importlib.import_module("xdepthdif.batch.cluster")

TIMES = [f"2020-{m:02d}-15" for m in range(1, 9)]  # 8 time steps
FIELDS = ("thetao", "thetao_sd", "obs_count")


@contextlib.contextmanager
def two_workers():
    """A client of a 2-worker LocalCluster of single-threaded processes (sampling with one
    thread whatever the environment running the tests says), not the default scheduler."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            env={"OMP_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="module")
def client():
    with two_workers() as client:
        yield client


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    from test_diffusion_method import make_prior  # torch: only when a test needs the prior

    return make_prior(tmp_path_factory.mktemp("prior") / "prior")


@pytest.fixture
def one_torch_thread(monkeypatch):
    """Workers sample with one thread (OMP_NUM_THREADS=1); so does this process."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def obs():
    return make_profiles(n=80, seed=1, times=TIMES)


def sst_target() -> xr.Dataset:
    """8 monthly steps and a surface temperature with a time dimension (so that chunking the
    target along time chunks data the tasks read)."""
    target = make_target(times=TIMES)
    shape = (len(TIMES), target.lat.size, target.lon.size)
    sst = 27.0 + np.arange(len(TIMES))[:, None, None] * 0.1 + np.zeros(shape)
    attrs = {"standard_name": "sea_surface_temperature", "units": "degC"}
    return target.assign(sst=(("time", "lat", "lon"), sst, attrs))


def analyse(target, obs, method, prior=None):
    options = {"model": prior, "members": 3, "steps": 3} if method == "diffusion" else {}
    return target.depthdif.reconstruct(obs=obs, method=method, **options)


# a. the factory ---------------------------------------------------------------------------


def test_cluster_on_this_cpu_machine_is_a_local_cluster_of_processes():
    """Default sizing: one single-threaded worker process per core, library threads set so
    that workers x threads do not exceed the cores (on a big machine: 2 workers, to stay fast)."""
    cores = cluster_module.cpu_count()
    n_workers = None if cores <= 4 else 2
    client = xdepthdif.cluster(n_workers, dashboard_address=":0")
    try:
        assert isinstance(client.cluster, distributed.LocalCluster)
        workers = client.scheduler_info()["workers"]
        assert len(workers) >= 1
        if type(client.cluster).__name__ != "LocalCUDACluster":  # a GPU machine: 1 per GPU
            assert len(workers) == (n_workers or cores)
        assert all(w["nthreads"] == 1 for w in workers.values())
        threads = client.run(lambda: os.environ["OMP_NUM_THREADS"])
        assert all(int(n) * len(workers) <= max(cores, len(workers)) for n in threads.values())
    finally:
        client.shutdown()
    assert client.cluster.status.name == "closed"


def test_auto_cluster_on_a_machine_without_gpus_is_the_cpu_cluster(monkeypatch):
    monkeypatch.setattr(cluster_module, "visible_gpus", lambda: 0)
    client = xdepthdif.cluster(n_workers=1, processes=False, dashboard_address=":0")
    try:
        assert isinstance(client.cluster, distributed.LocalCluster)
        assert len(client.scheduler_info()["workers"]) == 1
    finally:
        client.shutdown()


def test_gpus_without_dask_cuda_fall_back_to_cpu_and_say_so(monkeypatch):
    monkeypatch.setattr(cluster_module, "visible_gpus", lambda: 2)
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # import dask_cuda -> ImportError
    with pytest.warns(ClusterFallbackWarning, match=r"2 GPU\(s\) visible but dask-cuda"):
        client = xdepthdif.cluster(n_workers=1, processes=False, dashboard_address=":0")
    try:
        assert isinstance(client.cluster, distributed.LocalCluster)
    finally:
        client.shutdown()
    with pytest.raises(ImportError, match=r"xdepthdif\[gpu\]"):
        xdepthdif.cluster(gpu=True)


def test_gpus_with_dask_cuda_get_a_local_cuda_cluster(monkeypatch):
    seen = {}

    def fake_cuda_cluster(**kwargs):  # stands in for dask_cuda.LocalCUDACluster
        seen.update(kwargs)
        return distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0")

    monkeypatch.setattr(cluster_module, "visible_gpus", lambda: 2)
    fake = types.SimpleNamespace(LocalCUDACluster=fake_cuda_cluster)
    monkeypatch.setitem(sys.modules, "dask_cuda", fake)
    client = xdepthdif.cluster(rmm_pool_size="1GB")
    client.shutdown()
    assert seen == {"n_workers": None, "threads_per_worker": 1, "rmm_pool_size": "1GB"}


def test_no_visible_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == 0
    with pytest.raises(RuntimeError, match="no CUDA GPU is visible"):
        xdepthdif.cluster(gpu=True)


def test_importing_the_package_does_not_import_distributed():
    import subprocess

    code = "import sys, xdepthdif; xdepthdif.cluster; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def refaulting(size: int = 8 * 2**20, times: int = 20):
    """A function that allocates, fills and frees ``size`` bytes ``times`` over and returns the
    page faults of its thread meanwhile. Made here so that it is pickled by value.

    numpy asks the kernel for transparent huge pages on large arrays; whether it gets them
    depends on how fragmented the machine's memory is, and a huge page is one fault for 512
    small ones. The count is taken with small pages only, so that it measures the allocator."""

    def faults() -> int:
        import resource

        madvise = np._core.multiarray._set_madvise_hugepage
        previous = madvise(False)
        try:
            before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            for _ in range(times):
                np.ones(size // 8)  # freed at once
            return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
        finally:
            madvise(previous)

    return faults


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the allocator settings are glibc's",
)
def test_workers_reuse_freed_memory_instead_of_faulting_it_in_again(monkeypatch):
    """dask's nanny default (MALLOC_TRIM_THRESHOLD_=65536, no adaptive mmap threshold) maps
    every MB-sized allocation afresh and faults its pages in again; xdepthdif.cluster's
    workers keep freed memory for the next allocation, and dask's configuration is as it was."""
    import dask

    config = dask.config.get("distributed.nanny.pre-spawn-environ")
    faults = {}
    for name in ("xdepthdif", "dask"):
        for key in cluster_module.WORKER_MALLOC:  # a nanny leaves them in this process
            monkeypatch.delenv(key, raising=False)
        with contextlib.ExitStack() as stack:
            if name == "xdepthdif":
                client = xdepthdif.cluster(n_workers=1, gpu=False, dashboard_address=":0")
                stack.callback(client.shutdown)
            else:
                cluster = stack.enter_context(
                    distributed.LocalCluster(n_workers=1, processes=True, dashboard_address=":0")
                )
                client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
            env = client.run(lambda: {k: os.environ.get(k) for k in cluster_module.WORKER_MALLOC})
            faults[name] = client.submit(refaulting(), pure=False).result(timeout=60)
        if name == "xdepthdif":
            assert list(env.values()) == [cluster_module.WORKER_MALLOC]
    assert dask.config.get("distributed.nanny.pre-spawn-environ") == config
    # dask's: every round faults its pages in again; xdepthdif's: about the first round only
    assert 5 * faults["xdepthdif"] < faults["dask"], faults


# b. graphs carry a path, never weights ---------------------------------------------------


def test_graph_size_does_not_grow_with_the_checkpoint(tmp_path, obs, prior):
    """A ~50 MB checkpoint (a large monthly climatology stored beside the weights, which the
    loader strips before the UNet loads) gives the same small graph as a ~1 MB one."""
    import dataclasses

    import torch

    from xdepthdif.analysis.diffusion import load_denoiser
    from xdepthdif.prior.model import clear_cache, load_state_dict, save_checkpoint, verify

    state, card = load_state_dict(prior)
    lat, lon = np.arange(-80.0, 80.1, 0.5), np.arange(0.0, 360.0, 0.5)
    clim = torch.zeros((12, len(card.levels), lat.size, lon.size), dtype=torch.float32)
    tensors = dict(state) | {
        "climatology/mean": clim,
        "climatology/lat": torch.tensor(lat),
        "climatology/lon": torch.tensor(lon),
    }
    norm = dict(card.normalisation) | {"climatology": "monthly"}
    big = save_checkpoint(tmp_path / "big", tensors, dataclasses.replace(card, normalisation=norm))
    small_mb, big_mb = prior.stat().st_size / 1e6, big.stat().st_size / 1e6
    assert small_mb < 2 and big_mb > 45
    target = make_target(times=TIMES)
    sizes = [
        len(pickle.dumps(dict(analyse(target, obs, "diffusion", path).__dask_graph__())))
        for path in (prior, big)
    ]
    assert abs(sizes[1] - sizes[0]) < 1024, sizes
    assert max(sizes) < 1e6 / 4, sizes
    clear_cache()
    try:  # the big checkpoint is a valid one: the UNet loads, the climatology rides along
        denoiser = load_denoiser(big, verify(big).sha256)
        assert denoiser.climatology["mean"].shape == tuple(clim.shape)
    finally:
        clear_cache()


# c. one model load per worker ------------------------------------------------------------


def test_each_worker_loads_the_model_once(client, obs, prior):
    from xdepthdif.prior.model import cache_info, clear_cache

    client.run(clear_cache)
    lazy = analyse(make_target(times=TIMES), obs, "diffusion", prior)
    with distributed.get_task_stream(client) as stream:
        client.compute(lazy).result(timeout=120)
        client.compute(analyse(make_target(times=TIMES), obs, "diffusion", prior)).result(
            timeout=120
        )
    ran = {t["worker"] for t in stream.data if "analyse_step" in str(t["key"])}
    assert len(ran) == 2  # both workers ran time steps
    info = client.run(cache_info)
    assert {w: info[w] for w in ran} == {w: {"loads": 1, "entries": 1} for w in ran}


# d. the same bits whatever the scheduler and the input chunks ----------------------------


@pytest.mark.parametrize("method", ["oi", "diffusion"])
def test_same_bits_for_every_scheduler_and_input_chunking(client, obs, prior, method, request):
    if method == "diffusion":
        request.getfixturevalue("one_torch_thread")
    reference = analyse(sst_target(), obs, method, prior).compute(scheduler="synchronous")
    for k in (1, 3, 7):
        target = sst_target().chunk({"time": k})
        assert target.sst.chunks[0][0] == k
        lazy = analyse(target, obs, method, prior)
        assert lazy.thetao.chunks[0] == (1,) * len(TIMES)  # one task per time step
        results = {
            "threads": lazy.compute(scheduler="threads"),
            "synchronous": lazy.compute(scheduler="synchronous"),
            "cluster": client.compute(lazy).result(timeout=120),
        }
        for name, result in results.items():
            for field in FIELDS:
                err = f"{method}, {k} time steps per chunk, {name}: {field}"
                np.testing.assert_array_equal(result[field].values, reference[field].values, err)
    assert np.isfinite(reference.thetao.values).any()


# d'. torch threads: the cores shared among worker processes, never oversubscribed -----------


def test_outside_a_worker_torch_takes_omp_num_threads_or_every_core(monkeypatch):
    from xdepthdif.analysis.torch_env import sampling_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert sampling_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert sampling_threads() == cluster_module.cpu_count()


@contextlib.contextmanager
def bare_workers(env: dict[str, str]):
    """Two worker processes started without the thread settings that dask's nannies and
    xdepthdif.cluster give them (as a hand-made cluster, or one whose nanny is configured
    otherwise, starts them), plus ``env``."""
    import dask

    saved = os.environ.pop("OMP_NUM_THREADS", None)
    try:
        with (
            dask.config.set({"distributed.nanny.pre-spawn-environ": {}}),
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=env
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            client.wait_for_workers(2, timeout=60)
            yield client
    finally:
        if saved is not None:
            os.environ["OMP_NUM_THREADS"] = saved


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
def test_workers_share_the_cores_and_match_the_threaded_scheduler(obs, prior, monkeypatch):
    """Unset or too large, OMP_NUM_THREADS gives way to cores ÷ worker processes in a worker;
    the torch setting is made by the package when a time step starts, and the answer is the
    threaded scheduler's, bit for bit, at the same thread count."""
    from xdepthdif.analysis.torch_env import sampling_threads

    fair = max(1, cluster_module.cpu_count() // 2)
    lazy = analyse(make_target(times=TIMES[:2]), obs, "diffusion", prior)
    for env in ({}, {"OMP_NUM_THREADS": str(4 * cluster_module.cpu_count())}):
        with bare_workers(env) as client:
            assert client.submit(sampling_threads, pure=False).result(timeout=60) == fair
            result = client.compute(lazy).result(timeout=120)
            torch_threads = client.run(
                lambda: sys.modules["torch"].get_num_threads() if "torch" in sys.modules else 0
            )
    assert set(torch_threads.values()) - {0} == {fair}  # 0: a worker that ran no step
    monkeypatch.setenv("OMP_NUM_THREADS", str(fair))
    threaded = lazy.compute(scheduler="threads")
    for field in FIELDS:
        np.testing.assert_array_equal(result[field].values, threaded[field].values, field)


# e. a lost worker changes nothing --------------------------------------------------------


def slow_steps(seconds: float):
    """A worker plugin that makes every time step take ``seconds`` longer (also on workers
    started after a loss). Defined here so that it is pickled by value, not by module."""

    class SlowSteps(distributed.WorkerPlugin):
        def setup(self, worker):
            rec = importlib.import_module("xdepthdif.reconstruct")  # not the function
            original = getattr(rec._analyse_step, "original", rec._analyse_step)

            def slow(*args, **kwargs):
                time.sleep(seconds)
                return original(*args, **kwargs)

            slow.original = original
            rec._analyse_step = slow  # tasks unpickled after this call the slow step

    return SlowSteps()


def test_a_killed_worker_changes_nothing(obs):
    target = make_target(times=TIMES)
    reference = analyse(target, obs, "oi").compute(scheduler="synchronous")
    lazy = analyse(target, obs, "oi")
    with two_workers() as client:
        client.register_plugin(slow_steps(0.5), name="slow-steps")
        future = client.compute(lazy)
        deadline = time.monotonic() + 60
        holder = None
        while holder is None:  # the first worker holding a result: a finished time step
            assert time.monotonic() < deadline, "no task finished within 60 s"
            holder = next((w for w, keys in client.has_what().items() if keys), None)
            time.sleep(0.05)
        assert not future.done()  # 8 steps of >= 0.5 s on 2 workers: most are still to come
        pid = client.run(os.getpid, workers=[holder])[holder]
        os.kill(pid, signal.SIGKILL)
        result = future.result(timeout=120)
        assert holder not in client.scheduler_info()["workers"]
    for field in FIELDS:
        np.testing.assert_array_equal(result[field].values, reference[field].values, field)
