"""A prior trained on the training world: anomalies about the shipped climatology (nothing of
it stored with the weights), sampled back about the same climatology, and calibrated on the
world's validation split."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from conftest import make_profiles, make_target  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from xdepthdif.analysis.diffusion import DiffusionConfig, diffusion_analysis  # noqa: E402
from xdepthdif.background import ClimatologySpec  # noqa: E402
from xdepthdif.errors import EmptyTimeStepWarning  # noqa: E402
from xdepthdif.evaluation.calibration import (  # noqa: E402
    WORLD_CALIBRATION_FRACTIONS,
    WORLD_CALIBRATION_MONTHS,
    _truth,
    calibration_data,
    calibration_plan,
)
from xdepthdif.evaluation.protocol import SkillConfig  # noqa: E402
from xdepthdif.prior.model import clear_cache, resolve_model, update_card, verify  # noqa: E402
from xdepthdif.prior.synthetic import en4_like_levels  # noqa: E402
from xdepthdif.prior.training_data import prepare_training_data  # noqa: E402
from xdepthdif.timing import day_of_year  # noqa: E402

LEVELS = en4_like_levels()[:3]
ARGV = ["train", "--data", "world", "--resolution", "5", "--months", "3", "--levels", "3",
        "--steps", "3", "--batch-size", "2", "--patch", "16", "32", "--base-channels", "8",
        "--channel-mult", "1", "2", "--cond-dim", "16", "--log-every", "3",
        "--redraw-months", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def world_prior(tmp_path_factory):
    from xdepthdif.cli import main

    stem = tmp_path_factory.mktemp("world") / "world"
    assert main([*ARGV, "--out", str(stem)]) == 0
    return stem.with_suffix(".safetensors")


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def test_world_training_writes_a_guided_prior_about_the_shipped_climatology(world_prior):
    card = verify(world_prior)
    assert card.kind == "guided-prior"
    assert card.normalisation["climatology"] == "shipped"
    assert card.levels == tuple(LEVELS) and card.native_resolution_deg == 5.0
    data = card.training["data"]
    assert data.startswith("xdepthdif training world") and "split=train" in data
    assert "waves redrawn every 2 month(s)" in data
    assert "3 months 1981-01 to 1981-03" in data and "5.0 deg" in data and "3 levels" in data
    assert f"shipped climatology (sha256 {ClimatologySpec.shipped().sha256[:12]})" in data
    assert "shipped climatology" in card.notes
    assert not [k for k in load_file(world_prior) if k.startswith("climatology")]
    raw = json.loads(world_prior.with_suffix(".json").read_text())
    assert raw["kind"] == "guided-prior"


def test_the_shipped_climatology_is_added_back_exactly(world_prior, tmp_path):
    """The same weights and seeds under a card without climatology: members differ by the
    shipped climatology of the day on the model's levels, and nothing else."""
    for suffix in (".safetensors", ".json"):
        shutil.copy(world_prior.with_suffix(suffix), (tmp_path / "plain").with_suffix(suffix))
    plain = tmp_path / "plain.safetensors"
    card = verify(plain)
    norm = {k: v for k, v in card.normalisation.items() if k != "climatology"}
    update_card(plain, normalisation=norm)
    lat, lon = np.arange(-12.5, 13.0, 5.0), np.arange(-37.5, 0.0, 5.0)
    nothing = np.full((len(LEVELS), lat.size, lon.size), np.nan)
    doy = 196.0
    out = []
    for path in (world_prior, plain):
        cfg = DiffusionConfig(
            model=str(path), sha256=verify(path).sha256, members=2, steps=3, clip=False
        )  # the plain model's anomalies are no temperatures
        args = (nothing, np.zeros(nothing.shape, int), nothing, lat, lon, LEVELS, doy, None, cfg)
        out.append(diffusion_analysis(*args, 1)[2])
    expected = ClimatologySpec.shipped().on_grid(doy, LEVELS, lat, lon)
    np.testing.assert_allclose(out[0] - out[1], np.broadcast_to(expected, out[0].shape), atol=1e-9)
    # half a year off is many standard deviations away near the surface: a wrong day would show
    other = ClimatologySpec.shipped().on_grid(doy + 182, LEVELS, lat, lon)
    assert np.abs(other - expected)[0].max() > 2.0


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
def test_reconstruct_without_observations_sits_near_the_shipped_climatology(world_prior):
    """Unguided members are normalised samples; their mean lies within a few of the model's
    standard deviations of the shipped climatology plus its anomaly mean, far closer than
    the climatology of the other half of the year."""
    target = make_target(  # the North Atlantic, where the seasons differ by several °C
        lat=np.arange(32.5, 53.0, 5.0),
        lon=np.arange(-47.5, -10.0, 5.0),
        times=("2020-01-15", "2020-07-15"),
        depth=LEVELS,
    )
    january = make_profiles(
        n=5, seed=1, times=("2020-01-15",), lat_range=(35, 50), lon_range=(-40, -20)
    )
    with pytest.warns(EmptyTimeStepWarning, match="unguided"):
        res = target.depthdif.reconstruct(
            obs=january, method="diffusion", model=str(world_prior), members=8, steps=3
        ).compute()
    card = verify(world_prior)
    mean = np.asarray(card.normalisation["mean"])[:, None, None]
    std = np.asarray(card.normalisation["std"])[:, None, None]
    sea = target.sea_mask.values.astype(bool)
    july = res.thetao.values[1]
    assert np.isfinite(july[:, sea]).all()
    doy = float(day_of_year(target.time.values)[1])
    clim = ClimatologySpec.shipped().on_grid(doy, LEVELS, target.lat.values, target.lon.values)
    error = np.abs(july - clim - mean)[:, sea]
    assert error.max() < 3 * std.max(), (error.max(), std.ravel())
    winter = ClimatologySpec.shipped().on_grid(
        doy - 182, LEVELS, target.lat.values, target.lon.values
    )
    assert np.abs(july - winter - mean)[:, sea].mean() > 4 * error.mean()


def test_prepare_training_data_refuses_an_unknown_climatology():
    from xdepthdif.prior.world import world_months

    ds = world_months(["1981-01-15"], 5.0, "train").isel(depth=slice(0, 2)).to_dataset()
    with pytest.raises(ValueError, match=r"'shipped'.*got 'yearly'"):
        prepare_training_data(ds, climatology="yearly")
    data, mask, info = prepare_training_data(ds, climatology="shipped")
    assert info["anomalies"] == "shipped" and "climatology" not in info
    assert data.shape == (1, 2, 36, 72) and mask.any()


def test_calibration_data_follows_the_card(world_prior):
    assert calibration_data(verify(world_prior)) == "world"
    assert calibration_data(verify(resolve_model("synthetic"))) == "synthetic"


def test_world_calibration_uses_validation_months_outside_the_skill_benchmark(world_prior):
    years = {int(m[:4]) for m in WORLD_CALIBRATION_MONTHS}
    assert not years & set(SkillConfig().validation_years)
    assert len(WORLD_CALIBRATION_MONTHS) == 16 and len(years) == 4  # every season, four years
    plan = calibration_plan(verify(world_prior))
    assert plan == {"data": "world", "months": list(WORLD_CALIBRATION_MONTHS),
                    "fractions": list(WORLD_CALIBRATION_FRACTIONS)}  # fmt: skip
    with pytest.raises(ValueError, match="fractions must be shares"):
        calibration_plan(verify(world_prior), fractions=(0.0,))
    truth = _truth("world", WORLD_CALIBRATION_MONTHS[:1], 5.0)
    assert "split=validation" in truth.attrs["source"]


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.EmptyTimeStepWarning")
@pytest.mark.filterwarnings("ignore::xdepthdif.errors.ImplausibleOutputWarning")  # untrained
def test_calibrate_chooses_the_world_validation_split(world_prior, tmp_path, capsys):
    from xdepthdif.cli import main

    for suffix in (".safetensors", ".json"):
        shutil.copy(world_prior.with_suffix(suffix), (tmp_path / "w").with_suffix(suffix))
    path = tmp_path / "w.safetensors"
    args = ["calibrate", "--model", str(path), "--members", "2", "--fractions", "0.1", "0.2"]
    assert main([*args, "--months", *WORLD_CALIBRATION_MONTHS[:2]]) == 0
    out = capsys.readouterr().out
    assert "2 months of the validation split of the training world at 5 deg, 10.0%, 20.0%" in out
    assert out.count("spread-skill at 10 steps before calibration") == 2  # one per share
    card = verify(path)
    plan = card.training["spread_calibration_plan"]
    assert plan == {"data": "world", "months": list(WORLD_CALIBRATION_MONTHS[:2]),
                    "fractions": [0.1, 0.2]}  # fmt: skip
    assert len(card.normalisation["spread_scale"]) == len(LEVELS)
    assert card.normalisation["climatology"] == "shipped" and card.kind == "guided-prior"
    assert "vertical_correlation" not in card.normalisation  # opt-in


def test_the_column_preconditioner_is_stored_by_calibrate_and_used_by_the_sampler(
    world_prior, tmp_path
):
    """``--column-preconditioner`` stores the validation data's correlation between levels (a
    valid correlation matrix of the model's levels); the guidance then preconditions CG with
    it, which changes the ensemble where there are observations and nowhere else."""
    from xdepthdif.cli import main

    for suffix in (".safetensors", ".json"):
        shutil.copy(world_prior.with_suffix(suffix), (tmp_path / "w").with_suffix(suffix))
    path = tmp_path / "w.safetensors"
    args = ["calibrate", "--model", str(path), "--members", "2", "--fractions", "0.1"]
    assert main([*args, "--months", *WORLD_CALIBRATION_MONTHS[:4], "--column-preconditioner"]) == 0
    corr = np.array(verify(path).normalisation["vertical_correlation"])
    assert corr.shape == (3, 3) and np.allclose(np.diag(corr), 1) and np.allclose(corr, corr.T)
    assert np.linalg.eigvalsh(corr).min() > -1e-9
    assert corr[0, 1] > 0.5 and corr[1, 2] > 0.5  # 5, 15 and 26 m move together

    def sample(model, obs_mean, count):
        lat, lon = np.arange(-12.5, 13.0, 5.0), np.arange(-37.5, 0.0, 5.0)
        cfg = DiffusionConfig(model=str(model), members=2, steps=3, sha256=verify(model).sha256)
        return diffusion_analysis(obs_mean, count, np.zeros_like(obs_mean), lat, lon,
                                  np.asarray(LEVELS), 100.0, None, cfg, 0)[0]  # fmt: skip

    shape = (len(LEVELS), 6, 8)
    obs_mean, count = np.full(shape, np.nan), np.zeros(shape, int)
    obs_mean[:, 2, 3], count[:, 2, 3] = [24.0, 23.5, 23.0], 1
    with_corr = sample(path, obs_mean, count)
    norm = {k: v for k, v in verify(path).normalisation.items() if k != "vertical_correlation"}
    update_card(path, normalisation=norm)
    without = sample(path, obs_mean, count)
    assert np.isfinite(with_corr).all() and not np.allclose(with_corr, without)
    none = np.zeros(shape, int)
    assert np.array_equal(sample(path, obs_mean, none), sample(path, obs_mean, none))


def test_calibrate_fits_the_spread_at_each_step_count_and_each_run_takes_its_own(
    world_prior, tmp_path
):
    """``--steps 3 4`` stores one factor per level for each step count; a run of 3 steps takes
    the 3-step factors and one of 4 steps the 4-step ones, so calibrating again at each gives
    back its own table entry (the ensemble's spread-skill is then 1 on the same data)."""
    from xdepthdif.cli import main
    from xdepthdif.evaluation.calibration import calibrate_spread

    for suffix in (".safetensors", ".json"):
        shutil.copy(world_prior.with_suffix(suffix), (tmp_path / "w").with_suffix(suffix))
    path = tmp_path / "w.safetensors"
    months = WORLD_CALIBRATION_MONTHS[:4]
    options = {"members": 2, "fractions": (0.1,), "months": months}
    args = ["calibrate", "--model", str(path), "--members", "2", "--fractions", "0.1", "--months"]
    args += months
    assert main([*args, "--steps", "3", "4"]) == 0
    norm = verify(path).normalisation
    table = norm["spread_scale_by_steps"]
    assert sorted(table) == ["3", "4"] and norm["spread_scale"] == table["4"]  # nearest to 10
    assert not np.allclose(table["3"], table["4"])
    for steps in (3, 4):
        again = calibrate_spread(path, steps=steps, log=lambda _m: None, **options)
        free = (np.array(table[str(steps)]) > 0.2) & (np.array(table[str(steps)]) < 5)
        np.testing.assert_allclose(again[free], np.array(table[str(steps)])[free], rtol=1e-5)
