"""The skill benchmark: its scores checked against direct formulas, its baselines, and the whole
benchmark run in its quick mode."""

import itertools
import json

import numpy as np
import pytest
import xarray as xr
from scipy import integrate
from scipy.stats import norm

from xdepthdif.evaluation.calibration import calibrate_spread
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.evaluation.scores import crps_ensemble, crps_gaussian, level_mean, score
from xdepthdif.evaluation.sst import with_sst, write_l4_like
from xdepthdif.evaluation.sums import bootstrap_weights, month_sums, summarise
from xdepthdif.evaluation.truth import synthetic_truth, training_climatology


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
    truth = synthetic_truth(("2040-01", "2040-07"), 10.0, "test")
    used, withheld = observe(truth, 0.1, seed=0)
    return truth, used, withheld


def test_score_of_the_truth_is_zero_and_of_a_shift_is_the_shift(small_case):
    truth, _, withheld = small_case
    count = np.zeros(truth.shape)
    perfect = score(truth.values, truth, count, withheld, sd=np.ones(truth.shape))
    assert perfect["rmse_unobserved"] == 0 and perfect["mse_total"] == 0
    assert perfect["rmse_withheld"] < 0.1  # the withheld values carry the observation noise
    shifted = score(truth.values + 0.5, truth, count, withheld)
    assert shifted["rmse_unobserved"] == pytest.approx(0.5)
    assert shifted["mse_reconstruction"] == pytest.approx(0.25)
    assert np.isnan(shifted["mse_guidance"])  # no observed cell


def test_every_score_covers_the_same_levels_with_one_at_2000_m(small_case):
    """The 0–2000 m scores share one set of cells, even with a level at exactly 2000 m (which
    lies below the band): an error estimate equal to the error has a spread-skill of one."""
    _, _, withheld = small_case
    truth = xr.DataArray(
        np.zeros((1, 3, 1, 1)), dims=("time", "depth", "lat", "lon"),
        coords={"time": np.array(["2020-01-15"], "datetime64[ns]"),
                "depth": [1000.0, 2000.0, 2500.0], "lat": [0.0], "lon": [0.0]},
    )  # fmt: skip
    error = np.array([1.0, 3.0, 5.0]).reshape(truth.shape)
    res = score(error, truth, np.zeros(truth.shape), withheld.isel(profile=[]), sd=error)
    assert res["rmse_unobserved"] ** 2 == pytest.approx(res["mse_reconstruction"]) == 1.0
    assert res["spread_skill"] == pytest.approx(1.0)


def test_spread_skill_of_an_ensemble_drawn_like_the_truth_is_one(small_case):
    truth, _, withheld = small_case
    rng = np.random.default_rng(2)
    t = truth.values
    members = t + rng.normal(size=(8, *t.shape))  # truth ~ one more draw around the mean
    centre = t + rng.normal(size=t.shape)
    members = members - t + centre  # members and truth exchangeable around `centre`
    res = score(members.mean(0), truth, np.zeros(t.shape), withheld, members=members)
    assert res["spread_skill"] == pytest.approx(1.0, abs=0.03)


def test_level_mean_and_climatology_baselines(small_case):
    truth, used, _ = small_case
    base = level_mean(used, truth)
    assert np.isnan(base[np.isnan(truth.values)]).all()
    shallow = base[:, 0][np.isfinite(truth.values[:, 0])]
    assert np.ptp(shallow) < 30 and np.unique(np.round(shallow, 9)).size <= 2  # one per month
    clim = training_climatology(truth, (2000, 2001), 10.0)
    assert clim.shape == truth.shape
    assert 0 < float(np.sqrt(((clim - truth) ** 2).mean())) < 3


def test_target_carries_the_three_dimensional_sea_mask(small_case):
    truth, _, _ = small_case
    target = target_of(truth)
    assert target["sea_mask"].dims == ("depth", "lat", "lon")
    assert int(target["sea_mask"].isel(depth=-1).sum()) < int(
        target["sea_mask"].isel(depth=0).sum()
    )


def test_sst_goes_through_the_ostia_l4_layout_and_back(small_case, tmp_path):
    truth, _, _ = small_case
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


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.EmptyTimeStepWarning")
def test_spread_calibration_makes_the_training_spread_skill_one(tmp_path):
    """calibrate_spread's factors, stored in the card, scale each level's deviations so that
    the same OSSE (same seeds) then has spread-skill 1 wherever no factor hit the clip."""
    import dataclasses

    from xdepthdif.prior.model import update_card, verify
    from xdepthdif.prior.synthetic import en4_like_levels

    levels = en4_like_levels()
    path = _tiny_model(tmp_path, 10.0)
    options = {"resolution": 10.0, "months": ("2015-02",), "members": 3, "fractions": (0.1,)}
    factor = calibrate_spread(path, **options, log=lambda _m: None)
    assert factor.shape == (len(levels),) and np.all((factor >= 0.2) & (factor <= 5))
    before = verify(path)
    norm = dict(before.normalisation) | {"spread_scale": tuple(factor.tolist())}
    after = update_card(path, normalisation=norm)
    assert after.sha256 == before.sha256 and verify(path).normalisation["spread_scale"]
    again = calibrate_spread(path, **options, log=lambda _m: None)
    free = (factor > 0.2) & (factor < 5)
    assert free.sum() > len(levels) // 2
    np.testing.assert_allclose(again[free], factor[free], rtol=1e-6)
    assert dataclasses.replace(after, sha256="").normalisation == after.normalisation


def _tallies(months):
    """Month-by-level tallies stacked as :func:`summarise` takes them."""
    return {k: np.stack([m[k] for m in months]) for k in months[0]}


def test_tallies_give_the_area_weighted_rmse_and_reconmost_masked_means(small_case):
    truth, _, _ = small_case
    t = truth.values
    rng = np.random.default_rng(3)
    mean = t + rng.normal(0, 0.5, t.shape)
    count = (rng.random(t.shape) < 0.1).astype(int)
    lat, depth = truth["lat"].values, truth["depth"].values
    est, values = (np.zeros((0, depth.size)),) * 2
    tallies = _tallies([month_sums(mean[i], t[i], count[i], lat, est, values) for i in range(2)])
    got = summarise(tallies, depth)
    top = (depth < 2000)[None, :, None, None]
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[None, None, :, None], t.shape)
    unobs = np.isfinite(t) & (count == 0) & top
    err2 = (mean - t) ** 2
    expected = np.sqrt((w * err2)[unobs].sum() / w[unobs].sum())
    assert got["rmse_unobserved"][0] == pytest.approx(expected, rel=1e-12)
    observed = np.isfinite(t) & (count > 0) & top
    assert got["mse_guidance"][0] == pytest.approx(err2[observed].mean(), rel=1e-12)
    assert got["mse_total"][0] == pytest.approx(err2[np.isfinite(t) & top].mean(), rel=1e-12)
    assert np.isnan(got["crps"][0]) and np.isnan(got["spread_skill"][0])  # no error estimate
    assert np.isnan(got["rmse_withheld"][0])  # no withheld profile given


def test_the_m_to_infinity_correction_removes_the_finite_ensemble_error():
    """Members scattered (sd 1) around a mean 0.3 °C off the truth: the mean of 4 members
    misses by sqrt(0.3² + 1/4); corrected to M→∞ it misses by 0.3."""
    rng = np.random.default_rng(4)
    truth = np.zeros((1, 200, 200))
    members = 0.3 + rng.normal(size=(4, *truth.shape))
    lat, depth, empty = np.zeros(200), np.array([10.0]), np.zeros((0, 1))
    m = members.shape[0]
    var = members.var(axis=0, ddof=1)
    sums = month_sums(
        members.mean(0), truth, np.zeros(truth.shape), lat, empty, empty,
        var=var * (m + 1) / m, var_m=var / m, crps=crps_ensemble(members, truth),
    )  # fmt: skip
    got = summarise(_tallies([sums]), depth)
    assert got["rmse_unobserved"][0] == pytest.approx(np.sqrt(0.09 + 0.25), rel=0.02)
    assert got["rmse_unobserved_inf"][0] == pytest.approx(0.3, rel=0.03)
    assert got["spread_skill"][0] == pytest.approx(np.sqrt(1.25) / np.sqrt(0.34), rel=0.02)


def test_bootstrap_resamples_whole_months():
    rng = np.random.default_rng(5)
    months = [
        month_sums(np.full((1, 4, 4), e), np.zeros((1, 4, 4)), np.zeros((1, 4, 4)),
                   np.zeros(4), np.zeros((0, 1)), np.zeros((0, 1)))
        for e in rng.normal(1.0, 0.3, 12)
    ]  # fmt: skip
    tallies, depth = _tallies(months), np.array([10.0])
    point = summarise(tallies, depth)["rmse_unobserved"][0]
    weights = bootstrap_weights(12, 500, seed=0)
    boot = summarise(tallies, depth, weights)["rmse_unobserved"]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    assert lo < point < hi and 0.05 < hi - lo < 0.6
    one = summarise(tallies, depth, np.eye(12)[[3]])["rmse_unobserved"][0]  # month 3 alone
    assert one == pytest.approx(abs(months[3]["unobs_se"][0] / 16) ** 0.5)


def test_sst_regression_recovers_each_bands_coefficient():
    from xdepthdif.evaluation.regression import SSTRegression

    rng = np.random.default_rng(6)
    lat = np.array([-45.0, -15.0, 15.0, 45.0])
    coef = np.array([[0.2, 0.9, 0.9, 0.5], [0.0, 0.4, 0.4, 0.1]])  # (depth, lat)
    reg = SSTRegression(2, lat, band_deg=30.0)
    for _ in range(30):
        sst = rng.normal(size=(4, 20))
        reg.add(coef[:, :, None] * sst + rng.normal(0, 0.05, (2, 4, 20)), sst)
    np.testing.assert_allclose(reg.predict(np.ones((4, 20)))[:, :, 0], coef, atol=0.02)
    assert np.all(reg.predict(np.full((4, 20), np.nan)) == 0)  # no SST: no anomaly


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``xdepthdif bench skill --quick`` with the shipped model, as a user runs it."""
    import warnings

    from xdepthdif.cli import main
    from xdepthdif.errors import ImplausibleOutputWarning

    out = tmp_path_factory.mktemp("skill")
    with warnings.catch_warnings():  # the shipped model was not trained on this world
        warnings.simplefilter("ignore", ImplausibleOutputWarning)
        assert main(["bench", "skill", "--quick", "--out", str(out), "--quiet"]) == 0
    return out


def test_quick_benchmark_rows_and_what_they_show(quick_run):
    record = json.loads((quick_run / "skill.json").read_text())
    table = {r["method"]: r for r in record["rows"]}
    assert list(table) == [
        "climatology",
        "climatological ensemble",
        "OI",
        "OI tuned on the truth (ceiling)",
        "SST vertical regression",
        "diffusion, 3 steps",
        "diffusion, 10 steps, + SST",
    ]
    rmse = {k: r["rmse_unobserved"] for k, r in table.items()}
    # on a world whose anomalies the profiles see, the OI beats the climatology, the ceiling
    # is at least about as good as the OI, and SST carried down helps the climatology
    assert rmse["OI"] < rmse["climatology"]
    assert rmse["OI tuned on the truth (ceiling)"] < 1.05 * rmse["OI"]
    assert rmse["SST vertical regression"] < rmse["climatology"]
    assert table["OI"]["ratio_to_oi"] == 1.0
    for name in ("climatological ensemble", "OI", "diffusion, 3 steps"):
        assert np.isfinite(table[name]["crps"]) and 0.2 < table[name]["spread_skill"] < 3
        assert np.isfinite(table[name]["spread_skill_withheld"])
    assert np.isnan(table["climatology"]["crps"])
    assert table["diffusion, 3 steps"]["nfe"] == 5 and table["diffusion, 3 steps"]["members"] == 4
    ens = table["diffusion, 3 steps"]
    assert ens["rmse_unobserved_inf"] < ens["rmse_unobserved"]
    assert np.isnan(table["OI"]["rmse_unobserved_lo"])  # two months: no interval
    report = (quick_run / "skill.md").read_text()
    assert "## Targets" in report and "### global 5°: 7.5% of ocean columns observed" in report
    assert (quick_run / "images" / "skill_vs_fraction.png").stat().st_size > 10_000


def test_a_stopped_benchmark_resumes_and_refuses_mixed_settings(quick_run, tmp_path):
    import shutil

    from xdepthdif.evaluation.cases import case_files, read_case, write_case
    from xdepthdif.evaluation.protocol import quick_config
    from xdepthdif.evaluation.report import write_report
    from xdepthdif.evaluation.skill import run_skill

    out = tmp_path / "out"
    shutil.copytree(quick_run, out)
    (case,) = case_files(out)
    before = case.stat().st_mtime_ns
    run_skill(out, quick_config(), log=lambda _m: None)  # everything is done: nothing reruns
    assert case.stat().st_mtime_ns == before
    other = read_case(case) | {"config": {"seed": 99}}
    write_case(out / "cases" / "other.json.gz", other)
    with pytest.raises(ValueError, match="different settings"):
        write_report(out)


def test_rerun_redoes_only_the_named_rows_and_keeps_the_others(quick_run, tmp_path):
    import shutil

    from xdepthdif.evaluation.cases import case_files, read_case, write_case
    from xdepthdif.evaluation.protocol import quick_config
    from xdepthdif.evaluation.skill import run_skill

    out = tmp_path / "out"
    shutil.copytree(quick_run, out)
    (case,) = case_files(out)
    original = read_case(case)
    marked = json.loads(json.dumps(original))
    for row in marked["rows"]:  # mark every row: rerun rows lose the mark, kept rows keep it
        row["tallies"] = {k: np.full(np.shape(v), 7.0).tolist() for k, v in row["tallies"].items()}
    write_case(case, marked)
    run_skill(out, quick_config(), log=lambda _m: None, rerun=["OI"])
    after = read_case(case)
    assert [r["method"] for r in after["rows"]] == [r["method"] for r in original["rows"]]
    for old, new in zip(original["rows"], after["rows"], strict=True):
        if new["method"].startswith("OI"):  # the OI and its ceiling, computed again
            assert new["tallies"] == old["tallies"]
        else:
            assert all(np.all(np.asarray(v) == 7.0) for v in new["tallies"].values())
    assert after["rerun"][0]["methods"] == ["OI"]
    with pytest.raises(FileNotFoundError, match="run the benchmark in full"):
        run_skill(tmp_path / "empty", quick_config(), log=lambda _m: None, rerun=["OI"])


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.ImplausibleOutputWarning")
@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
def test_the_real_case_scores_the_cube_once_on_its_own_grid_with_the_shipped_climatology(
    tmp_path,
):
    """The South Atlantic cube is one snapshot (December 1984) scored once on its own 6 × 8
    grid; its climatology row is the shipped climatology, OI's default first guess; the model
    runs on a window of the cube's region."""
    from xdepthdif.analysis.native import native_grid
    from xdepthdif.background import climatology as shipped
    from xdepthdif.evaluation.protocol import REAL_CASE, quick_config
    from xdepthdif.evaluation.skill import run_skill
    from xdepthdif.evaluation.truth import atlantic_snapshot

    model = _tiny_model(tmp_path, 5.0)
    cfg = quick_config(grids=(), real_case=True, model=str(model), members=2)
    table = run_skill(tmp_path / "out", cfg, log=lambda _m: None).set_index("method")
    assert table.index.tolist() == [
        "climatology", "OI", "OI tuned on the truth (ceiling)", "diffusion, 3 steps"
    ]  # fmt: skip
    assert (table["case"] == REAL_CASE).all() and (table["months"] == 1).all()

    truth = atlantic_snapshot()
    assert dict(truth.sizes) == {"time": 1, "depth": 40, "lat": 6, "lon": 8}
    used, withheld = observe(truth, cfg.real_fraction, seed=cfg.seed)
    res = target_of(truth).depthdif.reconstruct(obs=used).compute()  # a user's defaults
    counts = res["obs_count"].values
    expected = score(res["thetao"].values, truth, counts, withheld, sd=res["thetao_sd"].values)
    for key in ("rmse_withheld", "mse_total", "mse_guidance"):  # tallies keep 7 digits
        assert table.loc["OI", key] == pytest.approx(expected[key], rel=1e-6)
    clim = shipped(target_of(truth)).values
    expected = score(clim, truth, counts, withheld)
    # area weights vary little over 1.5°S–9.8°S
    assert table.loc["climatology", "rmse_unobserved"] == pytest.approx(
        expected["rmse_unobserved"], rel=0.01
    )
    assert table.loc["climatology", "rmse_unobserved"] < 1.5  # a real first guess, real ocean
    nlat, nlon = native_grid(truth["lat"].values, truth["lon"].values, 5.0)
    assert (nlat.size, nlon.size) == (2, 8)  # 10° × 40° of the cube, not a strip of the globe
    assert (
        f"### {REAL_CASE}: 25.0% of ocean columns observed"
        in (tmp_path / "out" / "skill.md").read_text()
    )


def test_targets_read_the_best_diffusion_row_against_the_oi():
    import pandas as pd

    from xdepthdif.evaluation.report import targets

    def row(method, rmse, crps=np.nan, ss=np.nan, ratio_hi=np.nan):
        return {"case": "global 1°", "fraction": 0.03, "method": method,
                "rmse_unobserved": rmse, "crps": crps, "spread_skill": ss,
                "spread_skill_withheld": ss, "ratio_to_oi": rmse / 2.0,
                "ratio_to_oi_lo": np.nan, "ratio_to_oi_hi": ratio_hi,
                "spread_skill_lo": ss - 0.1, "spread_skill_hi": ss + 0.1,
                "spread_skill_withheld_lo": np.nan,
                "spread_skill_withheld_hi": np.nan}  # fmt: skip

    table = pd.DataFrame(
        [
            row("climatology", 2.2),
            row("OI", 2.0, crps=1.0, ss=1.0),
            row("OI tuned on the truth (ceiling)", 1.9, crps=1.0, ss=1.0),
            row("diffusion, 3 steps", 1.7, crps=0.9, ss=0.5, ratio_hi=0.9),
            row("diffusion, 10 steps", 1.5, crps=0.8, ss=1.05, ratio_hi=0.85),
            row("diffusion, 10 steps, + SST", 0.1, crps=0.1, ss=1.0),  # not comparable
        ]
    )
    got = {name: (measured, ok) for name, measured, ok in targets(table)}
    prefix = "global 1°, 3.0%: "
    assert got[prefix + "OI ≤ 1.1 × ceiling"] == ("1.053 ×", True)
    assert got[prefix + "OI ≤ climatology"][1] is True
    best = prefix + "diffusion, 10 steps: "
    assert got[best + "RMSE ≤ 0.8 × OI"][1] is False  # 0.75, but the interval reaches 0.85
    assert got[best + "CRPS below OI's"] == ("0.800 vs 1.000", True)
    # the point value decides; the interval is shown beside it where there is one
    assert got[best + "spread-skill at unobserved in 0.9–1.1"] == ("1.050 (0.95–1.15)", True)
    assert got[best + "spread-skill at withheld in 0.9–1.1"] == ("1.050 (–)", True)


def test_the_committed_skill_cases_are_current():
    """Each case of the skill reports in the docs was computed with the settings and worlds of
    today's code, so ``make skill`` resumes them instead of running them again (a knob added
    to the worlds must not make them stale)."""
    from pathlib import Path

    from xdepthdif.evaluation.cases import case_files, read_case
    from xdepthdif.evaluation.protocol import SkillConfig
    from xdepthdif.evaluation.skill import case_config

    docs = Path(__file__).parents[1] / "docs"
    cases = [path for report in sorted(docs.glob("skill*/")) for path in case_files(report)]
    assert len(cases) >= 9
    for path in cases:
        stored = read_case(path)["config"]
        settings = {k: v for k, v in stored.items() if k != "worlds"}
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        assert case_config(SkillConfig(**settings)) == stored, path.name
