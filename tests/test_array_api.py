"""The array API kernels (OI tile solves, regridding weights) on numpy and on array-api-strict.

numpy solves the OI tiles by Cholesky (LAPACK through scipy) and must agree with the LU solve it
used before to rounding; array-api-strict, the standard's reference library on the CPU, checks
that the kernels use nothing outside the standard and agree with numpy.
"""

import importlib.util

import numpy as np
import pytest

from xdepthdif.analysis.covariance import CovParams, correlation, pair_distances
from xdepthdif.analysis.oi import OIConfig, oi_analysis
from xdepthdif.analysis.oi_kernel import solve_tile_group
from xdepthdif.array_library import check_library, namespace, to_library, to_numpy
from xdepthdif.grid.ell import apply_ell
from xdepthdif.grid.geo import unit_vectors
from xdepthdif.grid.rectilinear import Regridder

xs = pytest.importorskip("array_api_strict")

TOL = {"rtol": 1e-12, "atol": 1e-12}


def strict(a):
    return to_library(xs, a)


def _group(seed=0, tiles=5, cells=9, m=7):
    """Inputs of one group of tiles: correlations from real distances, some padding."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-30, 30, (tiles, m + cells))
    lon = rng.uniform(0, 40, (tiles, m + cells))
    xyz = unit_vectors(lat, lon)
    params = CovParams(1.0, 0.2, 800.0, 150.0, 0.3, stretch=2.0)
    obs, grid = (xyz[:, :m], lat[:, :m]), (xyz[:, m:], lat[:, m:])

    def corr(a, b):
        d2, dy2 = pair_distances(*a, *b)
        mean_lat = 0.5 * (a[1][:, :, None] + b[1][:, None, :])
        geometry = (d2.astype(np.float32), dy2.astype(np.float32), mean_lat.astype(np.float32))
        return correlation(*geometry, params)

    use = rng.random((tiles, m)) < 0.8
    use[:, 0] = True
    return {
        "corr_oo": corr(obs, obs),
        "corr_go": corr(grid, obs),
        "obs_pattern": rng.uniform(0.5, 2.0, (tiles, m)),
        "grid_pattern": rng.uniform(0.5, 2.0, (tiles, cells)),
        "r": np.where(use, rng.uniform(0.01, 0.1, (tiles, m)), 1.0),
        "innov": np.where(use, rng.normal(0, 1, (tiles, m)), 0.0),
        "use": use,
        "var_g": rng.uniform(0.5, 2.0, (tiles, cells)),
        "sigma_b": 1.3,
    }


def _solve_as_before(corr_oo, corr_go, obs_pattern, grid_pattern, r, innov, use, var_g, sigma_b):
    """The tile solve as the OI wrote it in numpy before the array API kernels."""
    po, pg = sigma_b * obs_pattern * use, sigma_b * grid_pattern
    c_oo = po[:, :, None] * po[:, None, :] * corr_oo
    m = use.shape[1]
    c_oo[:, np.arange(m), np.arange(m)] += np.where(use, r, 1.0)
    c_go = pg[:, :, None] * po[:, None, :] * corr_go
    d = np.where(use, innov, 0.0)
    rhs = np.concatenate([d[:, :, None], np.swapaxes(c_go, 1, 2)], axis=2)
    sol = np.linalg.solve(c_oo, rhs)
    t_incr = np.einsum("tmk,tk->tm", c_go, sol[:, :, 0])
    t_var = var_g - np.einsum("tmk,tkm->tm", c_go, sol[:, :, 1:])
    return t_incr, t_var


@pytest.mark.parametrize("seed", [0, 1])
def test_tile_solve_on_numpy_matches_the_former_lu_solve(seed):
    group = _group(seed)
    incr, var = solve_tile_group(**group)
    before = _solve_as_before(**group)
    assert isinstance(incr, np.ndarray) and incr.dtype == var.dtype == np.float64
    # Cholesky and LU round differently: about 1e-15 here, far inside TOL
    np.testing.assert_allclose(incr, before[0], **TOL)
    np.testing.assert_allclose(var, before[1], **TOL)


def test_tile_solve_on_numpy_refuses_a_covariance_that_is_not_positive_definite():
    group = _group()
    group["r"] = np.where(group["use"], -50.0, 1.0)  # negative error variances
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        solve_tile_group(**group)


def test_tile_solve_on_numpy_steadies_a_tile_a_hair_short_of_positive_definite():
    """Two observations at one place with no error (determinant -1e-12, as float32
    correlations can leave it): that tile is solved with the smallest jitter that factors it,
    the other exactly as before."""
    from xdepthdif.analysis.oi_kernel import JITTERS, _solve_cholesky

    c_oo = np.array([[[1.0, 1.0], [1.0, 1.0 - 1e-12]], [[2.0, 0.5], [0.5, 1.0]]])
    c_go = np.array([[[0.5, 0.5]], [[1.0, 0.2]]])
    d = np.array([[0.3, 0.3], [1.0, -1.0]])
    var_g = np.ones((2, 1))
    incr, var = _solve_cholesky(c_oo.copy(), c_go, d, var_g)
    steadied = c_oo[0] + JITTERS[0] * np.eye(2) * np.mean(np.diag(c_oo[0]))
    for t, a in enumerate((steadied, c_oo[1])):
        sol = np.linalg.solve(a, np.stack([d[t], c_go[t, 0]], axis=1))
        np.testing.assert_allclose(incr[t], c_go[t] @ sol[:, 0], rtol=1e-6)
        np.testing.assert_allclose(var[t], var_g[t] - c_go[t] @ sol[:, 1], rtol=1e-6)
    assert 0.0 <= var[0, 0] < var_g[0, 0]


@pytest.mark.parametrize("seed", [0, 1])
def test_tile_solve_on_array_api_strict_matches_numpy(seed):
    group = _group(seed)
    on_strict = {k: v if k == "sigma_b" else strict(v) for k, v in group.items()}
    incr, var = solve_tile_group(**on_strict)
    assert type(incr).__module__.startswith("array_api_strict")
    ref = solve_tile_group(**group)
    np.testing.assert_allclose(to_numpy(incr), ref[0], **TOL)
    np.testing.assert_allclose(to_numpy(var), ref[1], **TOL)


@pytest.mark.parametrize("stretch", [1.0, 3.0])
def test_correlation_on_array_api_strict_matches_numpy(stretch):
    rng = np.random.default_rng(2)
    d2, dy2 = rng.uniform(0, 4e6, 50), rng.uniform(0, 1e6, 50)
    dy2 = np.minimum(dy2, d2)
    mean_lat = rng.uniform(-20, 20, 50)
    params = CovParams(1.0, 0.2, 900.0, 200.0, 0.4, stretch=stretch)
    ref = correlation(d2, dy2, mean_lat, params)
    got = correlation(strict(d2), strict(dy2), strict(mean_lat), params)
    np.testing.assert_allclose(to_numpy(got), ref, **TOL)


def _oi_case():
    rng = np.random.default_rng(3)
    lat, lon = np.arange(-12.0, 13.0, 2.0), np.arange(150.0, 181.0, 2.0)
    nz, ny, nx = 2, lat.size, lon.size
    pick = rng.random((nz, ny, nx)) < 0.2
    obs = np.where(pick, 15 + rng.normal(0, 1, pick.shape), np.nan)
    count = np.where(pick, rng.integers(1, 4, pick.shape), 0)
    err = np.where(pick & (rng.random(pick.shape) < 0.5), 0.01, np.nan)
    bg = 15 + np.cos(np.deg2rad(lon))[None, None, :] * np.ones((nz, ny, nx))
    ocean = np.ones((ny, nx), bool)
    ocean[:2, :3] = False
    params = [CovParams(1.0, 0.2, 900.0, 250.0, 0.4, gradient_weight=0.5, stretch=2.0)] * nz
    args = (obs, count, err, lat, lon, np.array([5.0, 100.0]))
    kwargs = {"ocean": ocean, "background": bg, "params": params}
    return args, kwargs


def test_oi_on_array_api_strict_matches_numpy():
    args, kwargs = _oi_case()
    config = OIConfig(max_obs=12, tile=4)
    mean, sd = oi_analysis(*args, config=config, **kwargs)
    s_mean, s_sd = oi_analysis(*args, config=config, array_library="array_api_strict", **kwargs)
    assert isinstance(s_mean, np.ndarray) and isinstance(s_sd, np.ndarray)
    assert np.isfinite(mean).mean() > 0.9
    np.testing.assert_array_equal(np.isnan(s_mean), np.isnan(mean))
    np.testing.assert_allclose(s_mean, mean, **TOL)
    np.testing.assert_allclose(s_sd, sd, **TOL)


def _regridders():
    src_lat, src_lon = np.arange(-40.0, 41.0, 2.0), np.arange(1.0, 360.0, 2.0)
    coarse = (np.arange(-37.0, 38.0, 6.0), np.arange(3.0, 360.0, 6.0))
    fine = (np.arange(-39.5, 40.0, 1.0), np.arange(170.5, 200.0, 1.0))
    return {
        "conservative": Regridder.conservative(src_lat, src_lon, *coarse),
        "bilinear": Regridder.bilinear(src_lat, src_lon, *fine),
    }


def _members(regridder, dtype=np.float64):
    """A stack of members (member, level, lat, lon) with land and a hole."""
    rng = np.random.default_rng(4)
    field = 10 + rng.normal(0, 3, (3, 2, *regridder.src_shape))
    field[..., :6, :20] = np.nan
    field[0, 1, 20:25, 80:100] = np.nan
    return field.astype(dtype)


@pytest.mark.parametrize("method", ["conservative", "bilinear"])
def test_ell_weights_give_the_sparse_product(method):
    regridder = _regridders()[method]
    flat = np.nan_to_num(_members(regridder)).reshape(6, -1)
    index, weight = regridder.ell()
    sparse = (regridder.weights @ flat.T).T
    np.testing.assert_allclose(apply_ell(index, weight, flat), sparse, **TOL)


@pytest.mark.parametrize("method", ["conservative", "bilinear"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regrid_on_array_api_strict_matches_numpy(method, dtype):
    regridder = _regridders()[method]
    field = _members(regridder, dtype)
    ref = regridder(field)
    got = regridder(strict(field))
    assert type(got).__module__.startswith("array_api_strict")
    out = to_numpy(got)
    assert out.dtype == ref.dtype == dtype and out.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_allclose(out, ref, **TOL)
    assert np.isnan(out).any() and np.isfinite(out).any()


def test_regrid_min_weight_and_shape_checks_on_array_api_strict():
    regridder = _regridders()["conservative"]
    field = _members(regridder)[0, 0]
    for threshold in (0.0, 0.9, 1.0):
        ref = regridder(field, min_weight=threshold)
        got = to_numpy(regridder(strict(field), min_weight=threshold))
        np.testing.assert_allclose(got, ref, **TOL)
    with pytest.raises(ValueError, match="source grid"):
        regridder(strict(field[:, :-1]))


@pytest.mark.parametrize("shared", [True, False], ids=["members-share-holes", "holes-differ"])
def test_fill_from_nearest_on_array_api_strict_matches_numpy(shared, monkeypatch):
    """An ensemble whose members share their holes level by level is filled on its own library
    with only one member's holes sent to the host; one whose holes differ goes to the host
    and back. Either way, numpy's values bit for bit, in the input's library."""
    import xdepthdif.grid.fill as rect

    rng = np.random.default_rng(4)
    lat, lon = np.linspace(-60, 60, 9), np.arange(0.0, 360.0, 30.0)
    members = rng.normal(size=(6, 3, lat.size, lon.size))
    holes = rng.random(members.shape[1:] if shared else members.shape) < 0.3
    members[np.broadcast_to(holes, members.shape)] = np.nan
    where = rng.random(members.shape[1:]) < 0.8
    ref = rect.fill_from_nearest(members, where, lat, lon)
    sent = []

    def counted(x):
        sent.append(tuple(x.shape))
        return to_numpy(x)

    monkeypatch.setattr(rect, "to_numpy", counted)
    got = rect.fill_from_nearest(strict(members), where, lat, lon)
    assert type(got).__module__.startswith("array_api_strict")
    np.testing.assert_array_equal(to_numpy(got), ref)
    assert np.isnan(ref).any() and (np.isnan(ref) < np.isnan(members)).any()  # some filled
    one_member = (3 * lat.size * lon.size,)
    assert sent == ([one_member] if shared else [members.shape])


def test_array_library_names():
    assert check_library("numpy") == "numpy"
    with pytest.raises(ValueError, match="array_library must be one of"):
        check_library("jax")
    x = namespace("array_api_strict").asarray([1.0, 2.0])
    np.testing.assert_array_equal(to_numpy(x), [1.0, 2.0])


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is here")
def test_cupy_without_cupy_names_the_gpu_extra():
    with pytest.raises(ImportError, match=r"pip install 'xdepthdif\[gpu\]'"):
        namespace("cupy")
