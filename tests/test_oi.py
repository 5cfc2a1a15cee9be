"""Optimal interpolation against an exact dense solve, and its basic properties."""

import numpy as np
import pytest

from xdepthdif.analysis.oi import OIConfig, default_length_scale_km, oi_analysis
from xdepthdif.grid.geo import great_circle_km


def _problem(seed=0, nz=2, ny=9, nx=13, frac=0.25):
    rng = np.random.default_rng(seed)
    lat = np.linspace(-20, 20, ny)
    lon = np.linspace(170, 230, nx)  # crosses the dateline in 0..360
    obs = np.where(rng.random((nz, ny, nx)) < frac, rng.normal(15, 2, (nz, ny, nx)), np.nan)
    count = np.where(np.isfinite(obs), rng.integers(1, 4, obs.shape), 0)
    err = np.where(np.isfinite(obs), rng.uniform(0.0, 0.04, obs.shape), np.nan)
    return lat, lon, obs, count, err


def _dense(lat, lon, obs, count, err, depth, cfg):
    """The textbook OI with every observation, written independently of the tiled solver."""
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    glat, glon = glat.ravel(), glon.ravel()
    means, sds = [], []
    for k in range(obs.shape[0]):
        o = np.isfinite(obs[k].ravel())
        y, n, e = obs[k].ravel()[o], count[k].ravel()[o], err[k].ravel()[o]
        bg = y.mean()
        rvar = (cfg.obs_error**2 + e) / n
        vb = cfg.background_error**2
        scale = cfg.length_scales(depth)[k]

        def b(i, j, vb=vb, scale=scale):
            d = great_circle_km(glat[i][:, None], glon[i][:, None], glat[j][None], glon[j][None])
            return vb * np.exp(-0.5 * (d / scale) ** 2)

        oi_idx, all_idx = np.flatnonzero(o), np.arange(glat.size)
        a = b(oi_idx, oi_idx) + np.diag(rvar)
        bgo = b(all_idx, oi_idx)
        means.append((bg + bgo @ np.linalg.solve(a, y - bg)).reshape(lat.size, lon.size))
        var = vb - np.einsum("ij,ji->i", bgo, np.linalg.solve(a, bgo.T))
        sds.append(np.sqrt(var).reshape(lat.size, lon.size))
    return np.array(means), np.array(sds)


@pytest.mark.parametrize("tile", [1, 3, 4])
def test_local_oi_equals_dense_when_neighbourhood_holds_everything(tile):
    lat, lon, obs, count, err = _problem()
    depth = np.array([10.0, 500.0])
    cfg = OIConfig(background_error=1.5, max_obs=10_000, search_radius=None, tile=tile)
    mean, sd = oi_analysis(obs, count, err, lat, lon, depth, config=cfg)
    ref_mean, ref_sd = _dense(lat, lon, obs, count, err, depth, cfg)
    np.testing.assert_allclose(mean, ref_mean, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sd, ref_sd, rtol=0, atol=1e-9)


def test_local_oi_close_to_dense_with_default_neighbourhood():
    lat, lon, obs, count, err = _problem(seed=3, ny=20, nx=30, frac=0.2)
    # A smooth field plus small noise, as real super-observations are.
    smooth = 15 + 3 * np.sin(np.deg2rad(lat))[:, None] * np.cos(np.deg2rad(3 * lon))[None, :]
    obs = np.where(np.isfinite(obs), smooth + 0.1 * (obs - 15) / 2, np.nan)
    depth = np.array([10.0, 500.0])
    cfg = OIConfig(background_error=1.5, max_obs=24)
    mean, _ = oi_analysis(obs, count, err, lat, lon, depth, config=cfg)
    ref_mean, _ = _dense(lat, lon, obs, count, err, depth, cfg)
    assert np.nanmax(np.abs(mean - ref_mean)) < 0.1
    assert np.sqrt(np.nanmean((mean - ref_mean) ** 2)) < 0.01


def test_longitude_convention_does_not_change_the_analysis():
    lat, lon, obs, count, err = _problem(seed=1)
    depth = np.array([10.0, 500.0])
    a = oi_analysis(obs, count, err, lat, lon, depth)
    b = oi_analysis(obs, count, err, lat, (lon + 180) % 360 - 180, depth)
    np.testing.assert_allclose(a[0], b[0], atol=1e-9)
    np.testing.assert_allclose(a[1], b[1], atol=1e-9)


def test_land_is_nan_and_levels_without_data_are_nan():
    lat, lon, obs, count, err = _problem(seed=2)
    obs[1] = np.nan
    count[1] = 0
    ocean = np.ones(obs.shape, bool)
    ocean[:, 0, :3] = False
    mean, sd = oi_analysis(obs, count, err, lat, lon, np.array([10.0, 500.0]), ocean=ocean)
    assert np.isnan(mean[:, 0, :3]).all() and np.isnan(sd[:, 0, :3]).all()
    assert np.isnan(mean[1]).all()
    assert np.isfinite(mean[0][ocean[0]]).all()


def test_error_is_small_at_data_and_grows_to_background_error_far_away():
    lat = np.linspace(-30, 30, 31)
    lon = np.linspace(0, 60, 31)
    obs = np.full((1, 31, 31), np.nan)
    obs[0, 15, 15] = 12.0
    cfg = OIConfig(background_error=1.0, obs_error=0.1)
    _, sd = oi_analysis(
        obs,
        (obs > 0).astype(int),
        np.full(obs.shape, np.nan),
        lat,
        lon,
        np.array([0.0]),
        background=np.full(obs.shape, 10.0),
        config=cfg,
    )
    assert sd[0, 15, 15] < 0.15
    assert sd[0, 0, 0] == pytest.approx(1.0, abs=1e-6)


def test_default_length_scale_grows_with_depth():
    scales = default_length_scale_km(np.array([0.0, 1000.0, 5000.0]))
    np.testing.assert_allclose(scales, [300.0, 350.0, 400.0])
