"""Optimal interpolation against an exact dense solve, its basic properties, and the fit of its
covariance to the innovations."""

import dataclasses

import numpy as np
import pytest

from xdepthdif.analysis.covariance import (
    CovParams,
    correlation,
    error_pattern,
    gradient_magnitude,
    gradient_reference,
    pair_distances,
)
from xdepthdif.analysis.innovations import calibrate_spread, innovation_blocks
from xdepthdif.analysis.oi import OIConfig, freezing_point, oi_analysis
from xdepthdif.analysis.oi_fit import fit_for_steps
from xdepthdif.grid.geo import EARTH_RADIUS_KM, unit_vectors

FIXED = {
    "length_scale_km": 1500.0,
    "meso_scale_km": 250.0,
    "meso_share": 0.4,
    "obs_error": 0.2,
    "background_error": 1.5,
    "gradient_weight": 0.5,
}


def _problem(seed=0, nz=2, ny=9, nx=13, frac=0.25):
    rng = np.random.default_rng(seed)
    lat = np.linspace(-20, 20, ny)
    lon = np.linspace(170, 230, nx)  # crosses the dateline in 0..360
    obs = np.where(rng.random((nz, ny, nx)) < frac, rng.normal(15, 2, (nz, ny, nx)), np.nan)
    count = np.where(np.isfinite(obs), rng.integers(1, 4, obs.shape), 0)
    err = np.where(np.isfinite(obs), rng.uniform(0.0, 0.04, obs.shape), np.nan)
    bg = 14.0 + np.linspace(0, 2, ny)[None, :, None] + np.zeros((nz, ny, nx))
    bg += 1.5 * np.sin(np.deg2rad(6 * lon))[None, None, :] * np.cos(np.deg2rad(4 * lat))[:, None]
    bg[1] -= 3.0  # a front and eddies: the error pattern varies from cell to cell
    return lat, lon, obs, count, err, bg


def _dense(lat, lon, obs, count, err, depth, bg, cfg, stretch=1.0, width=8.0):
    """The textbook OI with every observation, written independently of the tiled solver."""
    glat, glon = (a.ravel() for a in np.meshgrid(lat, lon, indexing="ij"))
    xyz = unit_vectors(glat, glon)
    grad = gradient_magnitude(bg, depth, lat, lon)
    ref = gradient_reference(grad, np.isfinite(bg))
    means, sds = [], []
    for k in range(obs.shape[0]):
        pat = error_pattern(grad[k], ref[k], cfg.gradient_weight).ravel()
        o = np.flatnonzero(np.isfinite(obs[k].ravel()))
        y, n, e = obs[k].ravel()[o], count[k].ravel()[o], err[k].ravel()[o]
        b0 = bg[k].ravel()

        def b(i, j, pat=pat):
            d2 = EARTH_RADIUS_KM**2 * ((xyz[i][:, None] - xyz[j][None]) ** 2).sum(-1)
            dy2 = np.minimum(
                (np.deg2rad(glat[i][:, None] - glat[j][None]) * EARTH_RADIUS_KM) ** 2, d2
            )
            s = 1 + (stretch - 1) * np.exp(-(((glat[i][:, None] + glat[j][None]) / 2 / width) ** 2))
            d2 = dy2 + (d2 - dy2) / s**2
            rho = (1 - cfg.meso_share) * np.exp(-0.5 * d2 / cfg.length_scale_km**2)
            rho += cfg.meso_share * np.exp(-0.5 * d2 / cfg.meso_scale_km**2)
            return cfg.background_error**2 * pat[i][:, None] * pat[j][None] * rho

        a = b(o, o) + np.diag((cfg.obs_error**2 + e) / n)
        bgo = b(np.arange(glat.size), o)
        means.append((b0 + bgo @ np.linalg.solve(a, y - b0[o])).reshape(lat.size, lon.size))
        var = (cfg.background_error * pat) ** 2 - np.einsum(
            "ij,ji->i", bgo, np.linalg.solve(a, bgo.T)
        )
        sds.append(np.sqrt(var).reshape(lat.size, lon.size))
    return np.array(means), np.array(sds)


@pytest.mark.parametrize(("tile", "stretch"), [(1, 1.0), (3, 1.0), (4, 1.0), (4, 2.5)])
def test_local_oi_equals_dense_when_neighbourhood_holds_everything(tile, stretch):
    lat, lon, obs, count, err, bg = _problem()
    depth = np.array([10.0, 500.0])
    cfg = OIConfig(
        **FIXED, equatorial_stretch=stretch, max_obs=10_000, search_radius=None, tile=tile
    )
    mean, sd = oi_analysis(obs, count, err, lat, lon, depth, background=bg, config=cfg)
    ref_mean, ref_sd = _dense(lat, lon, obs, count, err, depth, bg, cfg, stretch)
    np.testing.assert_allclose(mean, ref_mean, rtol=0, atol=1e-5)
    np.testing.assert_allclose(sd, ref_sd, rtol=0, atol=1e-5)


def test_local_oi_close_to_dense_with_the_default_neighbourhood():
    lat, lon, obs, count, err, bg = _problem(seed=3, ny=20, nx=30, frac=0.2)
    smooth = 15 + 3 * np.sin(np.deg2rad(lat))[:, None] * np.cos(np.deg2rad(3 * lon))[None, :]
    obs = np.where(np.isfinite(obs), smooth + 0.1 * (obs - 15) / 2, np.nan)
    depth = np.array([10.0, 500.0])
    cfg = OIConfig(**FIXED)  # the default neighbourhood
    mean, _ = oi_analysis(obs, count, err, lat, lon, depth, background=bg, config=cfg)
    ref_mean, _ = _dense(lat, lon, obs, count, err, depth, bg, cfg)
    assert np.nanmax(np.abs(mean - ref_mean)) < 0.15
    assert np.sqrt(np.nanmean((mean - ref_mean) ** 2)) < 0.03


@pytest.mark.parametrize("flip", ["lon_convention", "reverse_lon", "reverse_lat", "roll_lon"])
def test_axis_order_and_convention_do_not_change_the_analysis(flip):
    lat, lon, obs, count, err, bg = _problem(seed=1, ny=12, nx=20)
    depth = np.array([10.0, 500.0])
    cfg = OIConfig(**FIXED, max_obs=12, tile=3)  # local, so tiles matter
    a = oi_analysis(obs, count, err, lat, lon, depth, background=bg, config=cfg)
    arrays = [obs, count, err, bg]
    if flip == "lon_convention":
        lat2, lon2 = lat, (lon + 180) % 360 - 180
        back = (slice(None), slice(None), slice(None))
    elif flip == "reverse_lon":
        lat2, lon2, arrays = lat, lon[::-1], [x[:, :, ::-1] for x in arrays]
        back = (slice(None), slice(None), slice(None, None, -1))
    elif flip == "reverse_lat":
        lat2, lon2, arrays = lat[::-1], lon, [x[:, ::-1] for x in arrays]
        back = (slice(None), slice(None, None, -1), slice(None))
    else:
        lat2, lon2, arrays = lat, np.roll(lon, 7), [np.roll(x, 7, axis=2) for x in arrays]
        back = None
    b = oi_analysis(*arrays[:3], lat2, lon2, depth, background=arrays[3], config=cfg)
    b = [np.roll(x, -7, axis=2) for x in b] if back is None else [x[back] for x in b]
    np.testing.assert_allclose(a[0], b[0], atol=1e-9)
    np.testing.assert_allclose(a[1], b[1], atol=1e-9)


def test_land_is_nan_and_levels_without_data_or_background_are_nan():
    lat, lon, obs, count, err, _ = _problem(seed=2)
    obs[1] = np.nan
    count[1] = 0
    ocean = np.ones(obs.shape, bool)
    ocean[:, 0, :3] = False
    cfg = OIConfig(**FIXED)
    mean, sd = oi_analysis(obs, count, err, lat, lon, np.array([10.0, 500.0]), ocean=ocean,
                           config=cfg)  # fmt: skip
    assert np.isnan(mean[:, 0, :3]).all() and np.isnan(sd[:, 0, :3]).all()
    assert np.isnan(mean[1]).all()  # level mean of no observation
    assert np.isfinite(mean[0][ocean[0]]).all()


def test_error_is_small_at_data_and_the_background_error_far_away():
    lat, lon = np.linspace(-30, 30, 31), np.linspace(0, 60, 31)
    obs = np.full((1, 31, 31), np.nan)
    obs[0, 15, 15] = 12.0
    cfg = OIConfig(**{**FIXED, "gradient_weight": 0.0, "obs_error": 0.1, "background_error": 1.0})
    nan, bg = np.full(obs.shape, np.nan), np.full(obs.shape, 10.0)
    count = (obs > 0).astype(int)
    _, sd = oi_analysis(obs, count, nan, lat, lon, np.array([0.0]), background=bg, config=cfg)
    assert sd[0, 15, 15] < 0.15
    assert sd[0, 0, 0] < 1.0
    assert np.nanmax(sd) <= 1.0 + 1e-12


def test_analysis_never_below_the_freezing_point():
    lat, lon = np.linspace(60, 70, 6), np.linspace(0, 10, 6)
    obs = np.full((1, 6, 6), np.nan)
    obs[0, 2, 2] = -5.0  # a bad value pulls the analysis down
    bg = np.full(obs.shape, -1.5)
    count, nan = np.isfinite(obs).astype(int), np.full(obs.shape, np.nan)
    depth, cfg = np.array([5.0]), OIConfig(**FIXED)
    mean, _ = oi_analysis(obs, count, nan, lat, lon, depth, background=bg, config=cfg)
    assert np.nanmin(mean) == pytest.approx(float(freezing_point(np.array([5.0]))[0]))
    assert -1.95 < float(freezing_point(np.array([5.0]))[0]) < -1.9


@pytest.mark.parametrize(
    "options",
    [
        {"length_scale_km": 0.0},
        {"length_scale_km": -300.0},
        {"length_scale_km": float("nan")},
        {"search_radius": 0.0},
        {"obs_error": float("inf")},
        {"background_error": 0.0},
        {"meso_share": 1.5},
        {"equatorial_stretch": 0.5},
    ],
)
def test_options_that_would_discard_the_observations_are_refused(options):
    with pytest.raises(ValueError, match="must"):
        OIConfig(**options)


def _gaussian_field(rng, lat, lon, p: CovParams):
    glat, glon = (a.ravel() for a in np.meshgrid(lat, lon, indexing="ij"))
    xyz = unit_vectors(glat, glon)
    d2 = EARTH_RADIUS_KM**2 * ((xyz[:, None] - xyz[None]) ** 2).sum(-1)
    c = (1 - p.meso_share) * np.exp(-0.5 * d2 / p.large_km**2)
    c += p.meso_share * np.exp(-0.5 * d2 / p.meso_km**2)
    chol = np.linalg.cholesky(p.sigma_b**2 * c + 1e-8 * np.eye(glat.size))
    return (chol @ rng.standard_normal(glat.size)).reshape(lat.size, lon.size)


def test_maximum_likelihood_recovers_the_covariance_it_was_given():
    rng = np.random.default_rng(5)
    lat, lon = np.arange(-24.0, 25.0, 2.0), np.arange(100.0, 160.0, 2.0)
    truth = CovParams(sigma_b=1.2, sigma_o=0.3, large_km=1500.0, meso_km=400.0, meso_share=0.5)
    steps = []
    for _ in range(6):
        field = _gaussian_field(rng, lat, lon, truth)
        seen = rng.random(field.shape) < 0.3
        obs = np.where(seen, field + truth.sigma_o * rng.standard_normal(field.shape), np.nan)
        steps.append((obs[None], seen[None].astype(int), np.full((1, *field.shape), np.nan),
                      np.zeros((1, *field.shape))))  # fmt: skip
    (fit,) = fit_for_steps(steps, np.array([10.0]), lat, lon, OIConfig(gradient_weight=0.0))
    assert fit.sigma_b == pytest.approx(truth.sigma_b, rel=0.35)
    # a flat first guess has no gradient to weigh: the fit's error pattern is uniform, as the
    # analysis's is, whatever gradient_weight it settles on
    (free,) = fit_for_steps(steps, np.array([10.0]), lat, lon, OIConfig())
    assert free.sigma_b == pytest.approx(truth.sigma_b, rel=0.2)
    assert fit.sigma_o == pytest.approx(truth.sigma_o, rel=0.5)
    assert truth.large_km / 2 < fit.large_km < truth.large_km * 2


@pytest.mark.parametrize("stretch", [1.0, 2.5])
def test_likelihood_reads_the_lower_triangle_of_the_covariance_bit_for_bit(stretch):
    """The fit builds only the pairs a lower Cholesky factor reads: each is the entry of the
    whole covariance, to the last bit, so the fitted parameters are those of the whole one."""
    from scipy.linalg import cholesky
    from scipy.linalg.lapack import dpotrf

    from xdepthdif.analysis.innovations import Block, LowerPairs, block_covariance

    rng = np.random.default_rng(3)
    la, lo = rng.uniform(-30, 30, 57), rng.uniform(0, 90, 57)
    blk = Block(unit_vectors(la, lo), la, rng.normal(size=57), rng.integers(1, 4, 57) * 1.0,
                rng.uniform(0, 0.01, 57), rng.uniform(0.2, 3.0, 57))  # fmt: skip
    p = CovParams(1.3, 0.2, 1400.0, 230.0, 0.4, gradient_weight=2.0, stretch=stretch)
    pairs = LowerPairs.of(blk)
    c = pairs.matrix(p.sigma_b**2 * pairs.shape(blk, p))
    c[pairs.diagonal] += (p.sigma_o**2 + blk.err_var) / blk.count
    d2, dy2 = pair_distances(blk.xyz, la, blk.xyz, la)
    pat = error_pattern(blk.g, 1.0, p.gradient_weight)
    rho = correlation(d2, dy2, 0.5 * (la[:, None] + la[None, :]), p)
    whole = p.sigma_b**2 * (pat[:, None] * pat[None, :] * rho)  # the whole matrix, as before
    whole.flat[:: whole.shape[0] + 1] += (p.sigma_o**2 + blk.err_var) / blk.count
    assert np.array_equal(c, np.tril(whole))
    factor, info = dpotrf(c, lower=1, clean=1)  # as the fit factors it, without a copy
    assert info == 0 and np.array_equal(factor, cholesky(whole, lower=True))
    assert np.allclose(whole, block_covariance(blk, p), rtol=1e-14, atol=0)


def _white_steps(rng, lat, lon, n_steps=4, share=0.4):
    """Anomalies that decorrelate within a cell: nothing to spread to the neighbours."""
    steps = []
    for _ in range(n_steps):
        field = 0.8 * rng.standard_normal((lat.size, lon.size))
        seen = rng.random(field.shape) < share
        obs = np.where(seen, field + 0.1 * rng.standard_normal(field.shape), np.nan)
        steps.append((obs[None], seen[None].astype(int), np.full((1, *field.shape), np.nan),
                      np.zeros((1, *field.shape))))  # fmt: skip
    return steps


def test_white_innovations_leave_unobserved_cells_at_the_first_guess():
    rng = np.random.default_rng(11)
    lat, lon = np.arange(-40.0, 41.0, 4.0), np.arange(0.0, 120.0, 4.0)
    steps = _white_steps(rng, lat, lon)
    (fit,) = fit_for_steps(steps, np.array([10.0]), lat, lon, OIConfig())
    assert fit.meso_share == 1.0 and fit.meso_km < 10.0  # the white model won
    assert 0.5 < np.hypot(fit.sigma_b, fit.sigma_o) < 1.2  # its variance is the anomalies'
    obs, count, err, bg = steps[0]
    mean, sd = oi_analysis(obs, count, err, lat, lon, np.array([10.0]), background=bg,
                           params=[fit])  # fmt: skip
    far = count == 0
    assert np.array_equal(mean[far], bg[far])
    assert np.abs(mean[~far]).max() > 0  # observed cells still take their profiles
    assert np.allclose(sd[far], fit.sigma_b)


def test_correlated_innovations_keep_the_fitted_scales():
    rng = np.random.default_rng(5)
    lat, lon = np.arange(-24.0, 25.0, 2.0), np.arange(100.0, 160.0, 2.0)
    truth = CovParams(sigma_b=1.2, sigma_o=0.3, large_km=1500.0, meso_km=400.0, meso_share=0.5)
    field = _gaussian_field(rng, lat, lon, truth)
    seen = rng.random(field.shape) < 0.3
    obs = np.where(seen, field + truth.sigma_o * rng.standard_normal(field.shape), np.nan)
    step = (obs[None], seen[None].astype(int), np.full((1, *field.shape), np.nan),
            np.zeros((1, *field.shape)))  # fmt: skip
    (fit,) = fit_for_steps([step], np.array([10.0]), lat, lon, OIConfig())
    assert fit.meso_km > 100.0 and fit.meso_share < 1.0


def test_leave_one_out_check_scales_an_underestimated_spread():
    rng = np.random.default_rng(3)
    lat, lon = np.arange(-24.0, 25.0, 2.0), np.arange(100.0, 160.0, 2.0)
    truth = CovParams(sigma_b=1.0, sigma_o=0.2, large_km=1200.0, meso_km=300.0, meso_share=0.5)
    blocks = []
    for _ in range(3):
        field = _gaussian_field(rng, lat, lon, truth)
        seen = rng.random(field.shape) < 0.3
        obs = np.where(seen, field + truth.sigma_o * rng.standard_normal(field.shape), np.nan)
        grad = np.zeros((1, *field.shape))
        blocks.append(innovation_blocks(obs[None], seen[None].astype(int),
                                        np.zeros((1, *field.shape)), np.zeros((1, *field.shape)),
                                        grad, np.zeros(1), lat, lon))  # fmt: skip
    level = [b[0] for b in blocks]
    half = dataclasses.replace(truth, sigma_b=0.5, sigma_o=0.1)
    (right,) = calibrate_spread([truth], [level], np.array([0]), min_obs=8)
    (scaled,) = calibrate_spread([half], [level], np.array([0]), min_obs=8)
    assert right.sigma_b == pytest.approx(truth.sigma_b, rel=0.15)
    assert scaled.sigma_b == pytest.approx(truth.sigma_b, rel=0.15)
    assert scaled.sigma_o / scaled.sigma_b == pytest.approx(half.sigma_o / half.sigma_b)


def test_a_covariance_must_predict_left_out_observations_to_be_kept():
    """The cross-validation half of the white model's choice: a correlated covariance
    predicts left-out observations of a field drawn from it better than the first guess does,
    and those of white anomalies worse."""
    from xdepthdif.analysis.oi_fit import predicts_left_out

    rng = np.random.default_rng(8)
    lat, lon = np.arange(-24.0, 25.0, 2.0), np.arange(100.0, 160.0, 2.0)
    p = CovParams(sigma_b=1.0, sigma_o=0.2, large_km=1200.0, meso_km=300.0, meso_share=0.5)

    def blocks(field):
        seen = rng.random(field.shape) < 0.3
        obs = np.where(seen, field + p.sigma_o * rng.standard_normal(field.shape), np.nan)
        zeros = np.zeros((1, *field.shape))
        return innovation_blocks(obs[None], seen[None].astype(int), zeros, zeros, zeros,
                                 np.zeros(1), lat, lon)  # fmt: skip

    assert predicts_left_out(p, blocks(_gaussian_field(rng, lat, lon, p)))
    assert not predicts_left_out(p, blocks(rng.standard_normal((lat.size, lon.size))))


def test_spread_is_calibrated_where_the_errors_are_largest():
    """The covariance puts twice the error in the tropics (a thermocline's gradient) as
    elsewhere, the first guess misses there by three times: the calibrated spread matches
    the misses in the sum (the spread-skill ratio), not only on average over observations,
    which the many quiet ones would dominate."""
    from xdepthdif.analysis.innovations import loo_residuals

    rng = np.random.default_rng(4)
    lat, lon = np.arange(-60.0, 61.0, 3.0), np.arange(0.0, 90.0, 3.0)
    p = CovParams(1.0, 0.1, 1200.0, 300.0, 0.5, gradient_weight=3.0)
    tropics = np.broadcast_to((np.abs(lat) < 15)[:, None], (lat.size, lon.size))
    grad = tropics[None].astype(float)  # the pattern: 1 in the tropics, 0.5 elsewhere
    truth_sd = np.where(tropics, 1.5, 0.5)
    level = []
    for _ in range(3):
        field = truth_sd * _gaussian_field(rng, lat, lon, dataclasses.replace(p, sigma_b=1.0))
        seen = rng.random(field.shape) < 0.3
        obs = np.where(seen, field + p.sigma_o * rng.standard_normal(field.shape), np.nan)
        zeros = np.zeros((1, *field.shape))
        (blk,) = innovation_blocks(obs[None], seen[None].astype(int), zeros, zeros, grad,
                                   np.ones(1), lat, lon)  # fmt: skip
        level.append(blk)
    (fit,) = calibrate_spread([p], [level], np.array([0]), min_obs=8)
    pairs = [loo_residuals(b, fit) for b in level]
    miss, var = (np.concatenate([x[i] for x in pairs]) for i in (0, 1))
    assert np.sqrt(np.sum(var) / np.sum(miss**2)) == pytest.approx(1.0, abs=0.1)
    assert np.mean(miss**2 / var) < 0.85  # the average z² reads over-dispersed
