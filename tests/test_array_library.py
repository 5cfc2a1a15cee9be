"""``reconstruct(..., array_library=...)``: the OI and the diffusion members' depth interpolation
and regridding on another array library agree with numpy.

On the CPU the other library is array-api-strict; the ``gpu`` tests run the same paths on CuPy
(OI tiles, and members handed from torch on the GPU to CuPy through DLPack) and are skipped
where CuPy or a CUDA device is missing.
"""

import importlib.util

import numpy as np
import pytest
from conftest import make_profiles, make_target
from test_diffusion_method import make_prior

import xdepthdif  # noqa: F401
from xdepthdif.analysis.native import interpolate_levels
from xdepthdif.grid.rectilinear import Regridder
from xdepthdif.prior.model import clear_cache

pytest.importorskip("array_api_strict")

LIBRARIES = ["array_api_strict", pytest.param("cupy", marks=pytest.mark.gpu)]
TIMES = ("2020-01-15", "2020-02-15")


def require(library: str) -> str:
    """The torch device that goes with ``library``; skips the test when it cannot run here."""
    if library != "cupy":
        return "cpu"
    cupy = pytest.importorskip("cupy", reason="needs CuPy: pip install 'xdepthdif[gpu]'")
    try:
        devices = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        devices = 0
    if devices == 0:
        pytest.skip("needs a CUDA device (CuPy sees none)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA")
    return "cuda"


@pytest.fixture(scope="module")
def obs():
    return make_profiles(n=40, seed=3, times=TIMES)


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    clear_cache()
    yield make_prior(tmp_path_factory.mktemp("prior") / "prior")
    clear_cache()


@pytest.mark.parametrize("library", LIBRARIES)
def test_oi_on_another_library_matches_numpy(library, obs):
    device = require(library)
    target = make_target(times=TIMES)
    options = {"obs": obs, "method": "oi", "length_scale_km": 800.0, "meso_scale_km": 200.0}
    ref = target.depthdif.reconstruct(**options).compute()
    got = target.depthdif.reconstruct(array_library=library, **options).compute()
    assert got.thetao.dtype == np.float64 and np.isfinite(got.thetao.values).any()
    # numpy solves each tile by Cholesky on the host, array-api-strict by LU there (equal to
    # rounding); CuPy's batched LU on an H200 gave thetao within 3.4e-6 °C (2e-7 relative) of
    # numpy: within the 1e-5 that docs/benchmarks.md allows, the cause not established
    tol = {"rtol": 1e-12, "atol": 1e-12} if device == "cpu" else {"rtol": 0, "atol": 1e-5}
    for name in ("thetao", "thetao_sd"):
        np.testing.assert_array_equal(np.isnan(got[name].values), np.isnan(ref[name].values))
        np.testing.assert_allclose(got[name].values, ref[name].values, **tol)
    np.testing.assert_array_equal(got.obs_count.values, ref.obs_count.values)
    same = {k: v for k, v in got.attrs.items() if k != "history"}  # its time differs
    assert same == {k: v for k, v in ref.attrs.items() if k != "history"}


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("resolution", [1.0, 5.0], ids=["bilinear", "conservative"])
def test_diffusion_members_regridded_on_another_library_match_numpy(
    library, resolution, obs, prior
):
    """Members leave torch for ``library`` (DLPack on the GPU), are interpolated to other levels
    and regridded there, and only then come to the host."""
    device = require(library)
    half = resolution / 2
    target = make_target(
        lat=np.arange(-11 + half, 11, resolution),
        lon=np.arange(-31 + half, -1, resolution),
        depth=np.array([0.0, 5.0, 100.0, 700.0, 1000.0]),
        times=TIMES[:1],
    )
    options = {"obs": obs, "method": "diffusion", "model": prior, "members": 3, "steps": 3}
    options |= {"device": device, "keep_members": True}
    ref = target.depthdif.reconstruct(**options).compute()
    got = target.depthdif.reconstruct(array_library=library, **options).compute()
    # torch on a GPU may pick other kernels from one run to the next: only the CPU is exact
    tol = {"rtol": 1e-12, "atol": 1e-12} if device == "cpu" else {"rtol": 1e-5, "atol": 1e-4}
    for name in ("thetao", "thetao_sd", "thetao_members"):
        np.testing.assert_array_equal(np.isnan(got[name].values), np.isnan(ref[name].values))
        np.testing.assert_allclose(got[name].values, ref[name].values, **tol)


@pytest.mark.gpu
def test_torch_members_on_the_gpu_are_regridded_by_cupy():
    """Members drawn as torch CUDA tensors, handed to CuPy with DLPack (no copy), interpolated
    in depth and regridded on the GPU, match the same members done with numpy on the host."""
    require("cupy")
    import cupy
    import torch

    src_lat, src_lon = np.arange(-11.0, 12.0, 2.0), np.arange(-31.0, 0.0, 2.0)
    dst_lat, dst_lon = np.arange(-10.5, 11.0, 1.0), np.arange(-30.5, -1.0, 1.0)
    model_levels, levels = [5.0, 50.0, 150.0, 400.0], [0.0, 20.0, 150.0, 300.0, 500.0]
    generator = torch.Generator(device="cuda").manual_seed(0)
    shape = (4, len(model_levels), src_lat.size, src_lon.size)
    drawn = 10 + 3 * torch.randn(shape, generator=generator, device="cuda", dtype=torch.float64)
    drawn[:, :, :2, :3] = float("nan")  # land
    on_gpu = cupy.from_dlpack(drawn)
    assert on_gpu.data.ptr == drawn.data_ptr()  # the same memory: no copy
    regrid = Regridder.bilinear(src_lat, src_lon, dst_lat, dst_lon)
    got = regrid(interpolate_levels(on_gpu, model_levels, levels))
    assert isinstance(got, cupy.ndarray) and got.device.id == on_gpu.device.id
    ref = regrid(interpolate_levels(drawn.cpu().numpy(), model_levels, levels))
    np.testing.assert_array_equal(np.isnan(got.get()), np.isnan(ref))
    np.testing.assert_allclose(got.get(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is here")
def test_cupy_without_cupy_is_refused_before_any_work(obs):
    with pytest.raises(ImportError, match=r"pip install 'xdepthdif\[gpu\]'"):
        make_target(times=TIMES).depthdif.reconstruct(obs=obs, array_library="cupy")
    with pytest.raises(ValueError, match="array_library must be one of"):
        make_target(times=TIMES).depthdif.reconstruct(obs=obs, array_library="jax")
