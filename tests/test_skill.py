"""Scores of the skill benchmark, checked against direct formulas."""

import itertools

import numpy as np
import pytest
import xarray as xr
from scipy import integrate
from scipy.stats import norm

from xdepthdif.evaluation.protocol import SkillConfig
from xdepthdif.evaluation.scores import crps_ensemble, crps_gaussian, level_mean, score
from xdepthdif.evaluation.skill import (
    calibrate_spread,
    climatology,
    observe,
    synthetic_truth,
    target_of,
    with_sst,
    write_l4_like,
)


def test_crps_gaussian_equals_the_integral_of_the_squared_cdf_difference():
    mean, sd, y = 0.3, 1.7, -0.8

    def integrand(x):
        return (norm.cdf(x, mean, sd) - (x >= y)) ** 2

    expected = integrate.quad(integrand, -30, y)[0] + integrate.quad(integrand, y, 30)[0]
    got = crps_gaussian(np.array([mean]), np.array([sd]), np.array([y]))[0]
    assert got == pytest.approx(expected, rel=1e-6)


def test_fair_crps_equals_the_pairwise_formula():
    rng = np.random.default_rng(0)
    members, y = rng.normal(size=(6, 5)), rng.normal(size=5)
    m = members.shape[0]
    pairs = sum(np.abs(members[i] - members[j]) for i, j in itertools.product(range(m), range(m)))
    expected = np.mean(np.abs(members - y), axis=0) - pairs / (2 * m * (m - 1))
    np.testing.assert_allclose(crps_ensemble(members, y), expected, rtol=1e-12)


def test_fair_crps_of_small_ensembles_is_unbiased_for_the_gaussian_crps():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200_000)
    members = rng.normal(size=(4, y.size))  # 4 members from the forecast distribution N(0, 1)
    exact = crps_gaussian(np.zeros(1), np.ones(1), y).mean()
    assert crps_ensemble(members, y).mean() == pytest.approx(exact, rel=0.01)


@pytest.fixture(scope="module")
def small_case():
    cfg = SkillConfig(resolution=10.0, fractions=(0.1,))
    truth = synthetic_truth(("2040-01", "2040-07"), cfg.resolution, "test")
    used, withheld = observe(truth, 0.1, cfg, seed=0)
    return cfg, truth, used, withheld


def test_score_of_the_truth_is_zero_and_of_a_shift_is_the_shift(small_case):
    _, truth, _, withheld = small_case
    count = np.zeros(truth.shape)
    perfect = score(truth.values, truth, count, withheld, sd=np.ones(truth.shape))
    assert perfect["rmse_unobserved"] == 0 and perfect["mse_total"] == 0
    assert perfect["rmse_withheld"] < 0.1  # the withheld values carry the observation noise
    shifted = score(truth.values + 0.5, truth, count, withheld)
    assert shifted["rmse_unobserved"] == pytest.approx(0.5)
    assert shifted["mse_reconstruction"] == pytest.approx(0.25)
    assert np.isnan(shifted["mse_guidance"])  # no observed cell


def test_spread_skill_of_an_ensemble_drawn_like_the_truth_is_one(small_case):
    _, truth, _, withheld = small_case
    rng = np.random.default_rng(2)
    t = truth.values
    members = t + rng.normal(size=(8, *t.shape))  # truth ~ one more draw around the mean
    centre = t + rng.normal(size=t.shape)
    members = members - t + centre  # members and truth exchangeable around `centre`
    res = score(members.mean(0), truth, np.zeros(t.shape), withheld, members=members)
    assert res["spread_skill"] == pytest.approx(1.0, abs=0.03)


def test_level_mean_and_climatology_baselines(small_case):
    cfg, truth, used, _ = small_case
    base = level_mean(used, truth)
    assert np.isnan(base[np.isnan(truth.values)]).all()
    shallow = base[:, 0][np.isfinite(truth.values[:, 0])]
    assert np.ptp(shallow) < 30 and np.unique(np.round(shallow, 9)).size <= 2  # one per month
    clim = climatology(truth, (2000, 2001), cfg.resolution)
    assert clim.shape == truth.shape
    assert 0 < float(np.sqrt(((clim - truth) ** 2).mean())) < 3


def test_target_carries_the_three_dimensional_sea_mask(small_case):
    _, truth, _, _ = small_case
    target = target_of(truth)
    assert target["sea_mask"].dims == ("depth", "lat", "lon")
    assert int(target["sea_mask"].isel(depth=-1).sum()) < int(
        target["sea_mask"].isel(depth=0).sum()
    )


def test_sst_goes_through_the_ostia_l4_layout_and_back(small_case, tmp_path):
    _, truth, _, _ = small_case
    top = truth.isel(depth=0, drop=True)
    with xr.open_dataset(write_l4_like(top, tmp_path / "l4.nc"), mask_and_scale=False) as raw:
        assert raw["analysed_sst"].dtype == np.int16 and raw["mask"].dtype == np.int8
        assert raw.sizes["lat"] == 4 * top.sizes["lat"]
        assert raw["analysed_sst"].attrs["add_offset"] == pytest.approx(273.15)
    sst = with_sst(target_of(truth), truth, 0.0, seed=0)["sst"]
    assert sst.attrs["standard_name"] == "sea_surface_temperature" and sst.dims == top.dims
    land, ice = top.isnull().values, (top < -1.0).values  # ice above 15 %: below -1.12 degC
    np.testing.assert_array_equal(np.isnan(sst.values[land]), True)
    warm = ~land & (top > -1.0).values
    np.testing.assert_allclose(sst.values[warm], top.values[warm], atol=0.006)  # 0.01 K packing
    assert np.isnan(sst.values[ice & (top < -1.2).values]).all()
    noisy = with_sst(target_of(truth), truth, 0.4, seed=0)["sst"].values[warm]
    assert 0.3 < np.nanstd(noisy - top.values[warm]) < 0.5  # some turn icy with the noise


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.EmptyTimeStepWarning")
def test_spread_calibration_makes_the_training_spread_skill_one(tmp_path):
    """calibrate_spread's factors, stored in the card, scale each level's deviations so that
    the same OSSE (same seeds) then has spread-skill 1 wherever no factor hit the clip."""
    import dataclasses

    torch = pytest.importorskip("torch")
    from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig
    from xdepthdif.prior.model import ModelCard, save_checkpoint, update_card, verify
    from xdepthdif.prior.synthetic import en4_like_levels

    levels = en4_like_levels()
    torch.manual_seed(0)
    kwargs = {"levels": len(levels), "base_channels": 8, "channel_mult": [1, 2], "cond_dim": 16}
    net = EDMDenoiser(UNet(UNetConfig(**{**kwargs, "channel_mult": (1, 2)})))
    card = ModelCard(
        {"class": "UNet", "kwargs": kwargs},
        levels=tuple(levels.tolist()),
        native_resolution_deg=10.0,
        normalisation={"mean": [15.0 - 0.002 * z for z in levels], "std": [2.0] * len(levels)},
        training={"data": "untrained", "command": "test", "steps": 0, "seed": 0, "date": "-"},
        algorithm_version="1",
    )
    path = save_checkpoint(tmp_path / "m", net.state_dict(), card)
    cfg = SkillConfig(resolution=10.0, tune_months=("2015-02",), members=3)
    factor = calibrate_spread(path, cfg, fraction=0.1, log=lambda _m: None)
    assert factor.shape == (len(levels),) and np.all((factor >= 0.2) & (factor <= 5))
    before = verify(path)
    norm = dict(before.normalisation) | {"spread_scale": tuple(factor.tolist())}
    after = update_card(path, normalisation=norm)
    assert after.sha256 == before.sha256 and verify(path).normalisation["spread_scale"]
    again = calibrate_spread(path, cfg, fraction=0.1, log=lambda _m: None)
    free = (factor > 0.2) & (factor < 5)
    assert free.sum() > len(levels) // 2
    np.testing.assert_allclose(again[free], factor[free], rtol=1e-6)
    assert dataclasses.replace(after, sha256="").normalisation == after.normalisation


def test_targets_are_checked_against_the_right_rows():
    import pandas as pd

    from xdepthdif.evaluation.report import targets

    def row(method, nfe, rmse, crps=float("nan"), ss=float("nan")):
        return {"case": "synthetic", "fraction": 0.03, "method": method, "nfe": nfe,
                "rmse_unobserved": rmse, "crps": crps, "spread_skill": ss}  # fmt: skip

    table = pd.DataFrame(
        [
            row("level mean", None, 5.0),
            row("OI, level-mean background", None, 2.0, crps=1.0, ss=0.5),
            row("diffusion, 10 Heun steps", 19, 1.5, crps=0.8, ss=1.05),
            row("diffusion, 100 Heun steps", 199, 1.4, crps=0.7, ss=1.0),
            row("diffusion, 10 Heun steps, + SST", 19, 0.1, crps=0.1, ss=1.0),  # not "the" row
        ]
    )
    got = {name: (measured, ok) for name, measured, ok in targets(table)}
    assert got["3.0%: RMSE unobserved ≤ 0.8 × OI, level-mean background"] == ("0.75 ×", True)
    assert got["3.0%: CRPS below OI, level-mean background"][1] is True
    assert got["3.0%: 19 NFE within 5 % of 199 NFE (RMSE unobserved)"] == ("+7.1%", False)
    assert got["3.0%: spread-skill ratio in 0.9–1.1"] == ("1.05", True)


def _tiny_model(folder, resolution):
    """An untrained tiny prior on the synthetic ocean's 42 levels."""
    torch = pytest.importorskip("torch")
    from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig
    from xdepthdif.prior.model import ModelCard, save_checkpoint
    from xdepthdif.prior.synthetic import en4_like_levels

    levels = en4_like_levels()
    torch.manual_seed(0)
    kwargs = {"levels": len(levels), "base_channels": 8, "channel_mult": [1, 2], "cond_dim": 16}
    net = EDMDenoiser(UNet(UNetConfig(**{**kwargs, "channel_mult": (1, 2)})))
    card = ModelCard(
        {"class": "UNet", "kwargs": kwargs},
        levels=tuple(levels.tolist()),
        native_resolution_deg=resolution,
        normalisation={"mean": [15.0 - 0.002 * z for z in levels], "std": [2.0] * len(levels)},
        training={"data": "untrained", "command": "test", "steps": 0, "seed": 0, "date": "-"},
        algorithm_version="1",
    )
    return save_checkpoint(folder / "m", net.state_dict(), card)


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.ImplausibleOutputWarning")
@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
def test_the_real_case_scores_the_cube_once_on_its_own_grid_with_the_shipped_climatology(
    tmp_path,
):
    """The benchmark end to end on a tiny configuration: the South Atlantic cube is one
    snapshot (December 1984) scored once on its own 6 × 8 grid; its climatology row and OI's
    first guess are the shipped climatology, as ``reconstruct`` uses by default; the model runs
    on a window of the cube's region."""
    from xdepthdif.analysis.native import native_grid
    from xdepthdif.background import climatology as shipped
    from xdepthdif.evaluation.protocol import REAL_CASE
    from xdepthdif.evaluation.skill import real_truth, run_skill

    model = _tiny_model(tmp_path, 5.0)
    cfg = SkillConfig(
        resolution=10.0,
        test_months=("2040-01",),
        tune_months=("2025-02",),
        climatology_years=(2000,),
        fractions=(0.1,),
        steps=(10,),
        members=2,
        model=str(model),
        sst_noise=0.0,
        length_scales_km=(900.0,),
    )
    table = run_skill(tmp_path / "out", cfg, log=lambda _m: None)
    real = table[table["case"] == REAL_CASE].set_index("method")
    oi_name = "OI, shipped climatology background, L=default"
    assert real.index.tolist() == [
        "level mean", "climatology (shipped)", oi_name, "diffusion, 10 Heun steps"
    ]  # fmt: skip
    assert (real["fraction"] == cfg.real_fraction).all()

    truth = real_truth()
    assert dict(truth.sizes) == {"time": 1, "depth": 40, "lat": 6, "lon": 8}
    assert str(truth["time"].values[0])[:10] == "1984-12-16"
    used, withheld = observe(truth, cfg.real_fraction, cfg, seed=cfg.seed)
    res = target_of(truth).depthdif.reconstruct(obs=used, method="oi").compute()  # defaults
    counts = res["obs_count"].values
    expected = score(res["thetao"].values, truth, counts, withheld, sd=res["thetao_sd"].values)
    for key in ("rmse_unobserved", "rmse_withheld", "mse_total", "crps"):
        assert real.loc[oi_name, key] == pytest.approx(expected[key], rel=1e-9)
    clim = shipped(target_of(truth)).values
    expected = score(clim, truth, counts, withheld)
    assert real.loc["climatology (shipped)", "rmse_unobserved"] == pytest.approx(
        expected["rmse_unobserved"], rel=1e-12
    )
    # a real first guess on a real ocean: within 1.5 °C where unobserved, far below the level mean
    assert real.loc["climatology (shipped)", "rmse_unobserved"] < 1.5
    assert real.loc[oi_name, "rmse_unobserved"] < real.loc["level mean", "rmse_unobserved"] / 2
    nlat, nlon = native_grid(truth["lat"].values, truth["lon"].values, 5.0)
    assert (nlat.size, nlon.size) == (2, 8)  # 10° × 40° of the cube, not a strip of the globe

    report = (tmp_path / "out" / "skill.md").read_text()
    assert "scored once, as the one snapshot it is, on its own 6 × 8 grid" in report
    assert f"### {REAL_CASE}: 25.0% of ocean columns observed" in report
