"""A conditional checkpoint end to end: trained by the command line, sampled by
``reconstruct(method="diffusion")``, its card checked."""

import json
import warnings

import numpy as np
import pytest
import torch
from conftest import make_profiles, make_target

import xdepthdif  # noqa: F401
from xdepthdif.cli import main
from xdepthdif.core.conditional import LAYOUT_VERSION, n_channels
from xdepthdif.errors import ModelCardError
from xdepthdif.prior.checks import SEAL, card_digest
from xdepthdif.prior.model import ModelCard, clear_cache, verify

LEVELS = [5.0, 15.0, 26.03]  # the world's first three levels
TIMES = ("2020-01-15", "2020-07-15")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    clear_cache()
    yield
    clear_cache()
    torch.set_num_threads(threads)


def _train_tiny(folder, name, *extra):
    """A tiny conditional model trained by ``xdepthdif train`` (5°, 3 levels, 2 months)."""
    out = folder / name
    args = ["train", "--kind", "conditional", "--data", "world", "--resolution", "5"]
    args += ["--months", "2", "--levels", "3", "--steps", "3", "--batch-size", "2"]
    args += ["--base-channels", "8", "--channel-mult", "1", "2", "--cond-dim", "16"]
    args += [*extra, "--pool", str(out.with_suffix(".npz")), "--out", str(out)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # before the function-scoped fixtures: a busy machine's cores
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    return out.with_suffix(".safetensors")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return _train_tiny(tmp_path_factory.mktemp("conditional"), "conditional")


@pytest.fixture(scope="module")
def target():
    return make_target(depth=LEVELS, times=TIMES)


@pytest.fixture(scope="module")
def obs():
    return make_profiles(n=30, seed=1, times=TIMES)


def run(target, obs, model, **kw):
    options = {"model": str(model), "members": 2, "steps": 3, "keep_members": True} | kw
    return target.depthdif.reconstruct(obs=obs, method="diffusion", **options).compute()


def test_the_card_says_what_the_model_is(model):
    card = verify(model)
    assert card.kind == "conditional"
    assert card.conditioning == {
        "layout_version": LAYOUT_VERSION, "loss": "edm", "target": "field", "surface": False
    }  # fmt: skip
    assert card.architecture["kwargs"]["extra_in_channels"] == n_channels(3)
    assert card.levels == tuple(LEVELS) and card.native_resolution_deg == 5.0
    assert card.normalisation["climatology"] == "shipped"
    assert "2 months 1981-01 to 1981-02" in card.training["data"]
    assert card.training["command"].startswith("xdepthdif train --kind conditional")


def test_reconstruct_samples_a_conditional_model(model, target, obs):
    out = run(target, obs, model)
    members = out["thetao_members"].values
    assert members.shape == (2, len(TIMES), len(LEVELS), target.lat.size, target.lon.size)
    sea = target.sea_mask.values.astype(bool)
    assert np.isfinite(members[..., sea]).all() and np.isnan(members[..., ~sea]).all()
    assert np.abs(members[0] - members[1])[..., sea].mean() > 1e-3  # an ensemble, not copies
    assert out.attrs["diffusion_model_kind"] == "conditional"
    # the guidance's options are not recorded for a model that takes no guidance
    assert "diffusion_cg_iters" not in out.attrs and "diffusion_obs_error" not in out.attrs
    assert out.attrs["diffusion_steps"] == 3


@pytest.mark.gpu
def test_on_a_gpu_the_members_drawn_in_one_batch_match_the_cpus_one_at_a_time(model, target, obs):
    if not torch.cuda.is_available():
        pytest.skip("needs torch with a CUDA GPU")
    cpu = run(target, obs, model, members=4, device="cpu")
    gpu = run(target, obs, model, members=4, device="cuda")
    for name in ("thetao", "thetao_sd", "thetao_members"):
        np.testing.assert_array_equal(np.isnan(gpu[name].values), np.isnan(cpu[name].values))
        # cuDNN may run the convolutions in TF32: a few hundredths of a degree, far below the
        # members' spread that a member drawn from the wrong noise would be off by
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=0, atol=0.05)


def test_observations_change_the_result_near_them(model, target, obs):
    east = obs.lon.values > -16
    without = run(target, obs.isel(profile=~east), model)["thetao"].sel(lon=slice(-14, -2))
    with_east = run(target, obs, model)["thetao"].sel(lon=slice(-14, -2))
    assert np.nanmax(np.abs(with_east - without).values) > 1e-2


def _with_conditioning(model, tmp_path, **changes):
    raw = json.loads(model.with_suffix(".json").read_text())
    raw["conditioning"] |= changes
    raw[SEAL] = card_digest(raw)
    for suffix in (".safetensors", ".json"):
        src = model.with_suffix(suffix)
        data = json.dumps(raw) if suffix == ".json" else None
        dst = tmp_path / f"future{suffix}"
        dst.write_text(data) if data else dst.write_bytes(src.read_bytes())
    return tmp_path / "future.safetensors"


def test_an_unknown_layout_is_refused_before_any_work(model, target, obs, tmp_path):
    future = _with_conditioning(model, tmp_path, layout_version=LAYOUT_VERSION + 1)
    assert verify(future).conditioning["layout_version"] == LAYOUT_VERSION + 1  # it opens
    with pytest.raises(ModelCardError, match=f"layout {LAYOUT_VERSION + 1}; this version"):
        target.depthdif.reconstruct(obs=obs, method="diffusion", model=str(future))


def test_an_ambient_model_of_the_earlier_scaling_is_refused(model, target, obs, tmp_path):
    """An ambient card without ``unseen`` was trained when the denoiser scaled the cells it was
    not shown with EDM's finite-σ factors; sampling it as this version does would be wrong."""
    old = _with_conditioning(model, tmp_path, loss="ambient")
    assert "unseen" not in verify(old).conditioning  # it opens
    with pytest.raises(ModelCardError, match="ambient loss by an earlier xdepthdif"):
        target.depthdif.reconstruct(obs=obs, method="diffusion", model=str(old))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"conditioning": {}}, "layout_version must be"),
        ({"conditioning": {"layout_version": 1, "loss": "l2", "surface": False}}, "loss"),
        (
            {"conditioning": {"layout_version": 1, "loss": "edm", "surface": False, "target": "x"}},
            "target must be one of",
        ),
        ({"normalisation": {"mean": [0.0], "std": [1.0]}}, "climatology must be 'shipped'"),
        ({"architecture": {"class": "UNet", "kwargs": {}}}, "extra_in_channels"),
        ({"kind": "guided-prior"}, "takes no conditioning block"),
    ],
)
def test_a_conditional_card_needs_its_block(changes, message):
    fields = dict(
        architecture={"class": "UNet", "kwargs": {"extra_in_channels": n_channels(1)}},
        levels=(5.0,),
        native_resolution_deg=4.0,
        normalisation={"mean": [0.0], "std": [1.0], "climatology": "shipped"},
        training={"data": "-", "command": "-", "steps": 0, "seed": 0, "date": "-"},
        algorithm_version="1",
        kind="conditional",
        conditioning={"layout_version": 1, "loss": "edm", "surface": False},
    )
    ModelCard(**fields)  # valid as it is
    with pytest.raises(ModelCardError, match=message):
        ModelCard(**(fields | changes))


def test_the_conditional_command_refuses_other_data(tmp_path, capsys):
    args = ["train", "--kind", "conditional", "--data", "synthetic", "--out", str(tmp_path / "m")]
    assert main(args) == 2
    assert "--data world only" in capsys.readouterr().err


def test_calibrate_scales_a_conditional_models_spread(model, tmp_path):
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"copy{suffix}").write_bytes(model.with_suffix(suffix).read_bytes())
    copy = tmp_path / "copy.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = ["calibrate", "--model", str(copy), "--members", "2", "--months", "2010-01"]
        assert main(args) == 0  # the validation world at both default shares
    card = verify(copy)
    assert card.kind == "conditional" and len(card.normalisation["spread_scale"]) == 3
    assert card.training["spread_calibration_plan"]["fractions"] == [0.03, 0.075]


def test_an_ambient_model_samples_in_bfloat16_too(tmp_path, target, obs):
    """The ambient-trained model sees its noisy input on the observed cells only; the
    bfloat16 variant of the network keeps the UNet's shape the sampler reads."""
    out = tmp_path / "ambient"
    args = ["train", "--kind", "conditional", "--data", "world", "--resolution", "5"]
    args += ["--months", "1", "--levels", "3", "--steps", "2", "--batch-size", "1", "--loss"]
    args += ["ambient", "--base-channels", "8", "--channel-mult", "1", "2", "--cond-dim", "16"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*args, "--out", str(out)]) == 0
        card = verify(out)
        assert card.conditioning["loss"] == "ambient" and card.conditioning["unseen"] == "predicted"
        plain = run(target, obs, out.with_suffix(".safetensors"))["thetao"]
        fast = run(target, obs, out.with_suffix(".safetensors"), precision="bfloat16")["thetao"]
    assert np.isfinite(plain.values[:, :, target.sea_mask.values.astype(bool)]).all()
    assert float(np.abs(plain - fast).max()) < 0.5


def test_a_residual_model_is_trained_and_sampled_by_name_of_its_target(tmp_path, target, obs):
    """``--target oi-residual``: the card says what the network models and the sampler turns
    it back into temperature about the OI; ``--draws`` observes each month twice, ``--sst``
    gives half the samples a satellite SST and the card says the model takes one;
    ``--redraw-months`` trains on a world that draws its waves afresh, and the card says so."""
    out = tmp_path / "residual"
    args = ["train", "--kind", "conditional", "--data", "world", "--resolution", "5"]
    args += ["--months", "1", "--levels", "3", "--steps", "2", "--batch-size", "1", "--target"]
    args += ["oi-residual", "--draws", "2", "--sst", "0.5", "--base-channels", "8"]
    args += ["--channel-mult", "1", "2", "--redraw-months", "1"]
    args += ["--cond-dim", "16", "--out", str(out)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
        card = verify(out)
        members = run(target, obs, out.with_suffix(".safetensors"))["thetao_members"].values
    assert card.conditioning["target"] == "oi_residual" and card.conditioning["surface"]
    assert card.training["pool_settings"]["draws"] == 2 and "2 draw(s)" in card.training["data"]
    assert card.training["pool_settings"]["redraw_months"] == 1
    assert "waves redrawn every 1 month(s)" in card.training["data"]
    sea = target.sea_mask.values.astype(bool)
    assert np.isfinite(members[..., sea]).all() and np.isnan(members[..., ~sea]).all()
    assert np.abs(members[0] - members[1])[..., sea].mean() > 1e-3


@pytest.fixture(scope="module")
def residual_model(tmp_path_factory):
    """The tiny model of the OI's residual (``--target oi-residual``)."""
    folder = tmp_path_factory.mktemp("residual")
    return _train_tiny(folder, "residual", "--target", "oi-residual")


def test_a_finer_target_gets_the_residuals_about_its_own_oi(residual_model, target, obs):
    """On the 2° target of a 5° OI-residual model, ``downscale`` (the default) draws the members
    as the target's own OI plus the model's residuals: the ensemble follows the profiles as
    closely as a 2° OI does, where regridded 5° members cannot. It changes nothing on a
    target of the model's own spacing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        down = run(target, obs, residual_model)
        flat = run(target, obs, residual_model, downscale=False)
        oi = target.depthdif.reconstruct(obs=obs).compute()
    assert down.attrs["diffusion_downscale"] == 1 and flat.attrs["diffusion_downscale"] == 0
    sea = target.sea_mask.values.astype(bool)
    members = down.thetao_members.values
    assert np.isfinite(members[..., sea]).all() and np.isnan(members[..., ~sea]).all()
    np.testing.assert_allclose(down.thetao.values, members.mean(axis=0))
    assert (down.thetao_sd.values[..., sea] > 0).all()
    # where a cell holds a profile, the 2° OI follows it and so does the downscaled mean
    held = (oi.obs_count.values > 0) & sea
    near_oi = float(np.sqrt(np.mean((down.thetao.values - oi.thetao.values)[held] ** 2)))
    flat_oi = float(np.sqrt(np.mean((flat.thetao.values - oi.thetao.values)[held] ** 2)))
    print(
        f"RMS from the 2° OI at observed cells: downscaled {near_oi:.3f}, regridded {flat_oi:.3f}"
    )
    assert near_oi < 0.5 * flat_oi
    native = make_target(lat=np.arange(-7.5, 8.0, 5.0), lon=np.arange(-27.5, -1.0, 5.0),
                         depth=LEVELS, times=TIMES)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = run(native, obs, residual_model)
        same_flat = run(native, obs, residual_model, downscale=False)
    np.testing.assert_array_equal(same.thetao_members.values, same_flat.thetao_members.values)


def test_downscaled_factors_are_fitted_on_the_finer_grid_and_scale_its_spread(
    residual_model, target, obs, tmp_path
):
    """``xdepthdif calibrate --downscaled --resolution 2`` fits per-level factors of the members
    downscaled onto a 2° grid and stores them by spacing and measured share; a 2° reconstruct then
    multiplies the residuals' deviations by them (one share fitted: whatever the share): the
    same ensemble mean, the spread times the factor."""
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"copy{suffix}").write_bytes(residual_model.with_suffix(suffix).read_bytes())
    copy = tmp_path / "copy.safetensors"
    args = ["calibrate", "--model", str(copy), "--members", "2", "--months", "2010-01"]
    args += ["--fractions", "0.05", "--downscaled", "--resolution", "2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
        before = run(target, obs, residual_model, clip=False)
        after = run(target, obs, copy, clip=False)
    card = verify(copy)
    (share, factors), *others = card.normalisation["spread_scale_downscaled"]["2"].items()
    # stored under the share of sea columns the calibration runs found holding a used profile:
    # 80 % of the 5 % observed, as the protocol withholds a fifth of the profiles
    assert not others and 0.02 < float(share) < 0.05
    factors = np.asarray(factors)
    assert factors.shape == (3,) and (factors > 0).all() and not np.allclose(factors, 1.0)
    others = {k: v for k, v in card.normalisation.items() if k != "spread_scale_downscaled"}
    assert others == verify(residual_model).normalisation  # the model's own factors stay
    assert card.training["downscaled_spread_calibration_plan"]["resolution"] == 2.0
    sea = target.sea_mask.values.astype(bool)
    np.testing.assert_allclose(after.thetao.values[..., sea], before.thetao.values[..., sea])
    ratio = after.thetao_sd.values / before.thetao_sd.values  # (time, level, lat, lon)
    np.testing.assert_allclose(ratio[..., sea], np.broadcast_to(factors[None, :, None, None],
                               ratio.shape)[..., sea], rtol=1e-6)  # fmt: skip


def test_downscaled_factors_need_a_residual_model_and_a_finer_grid(model, residual_model, capsys):
    from xdepthdif.errors import ModelCardError
    from xdepthdif.evaluation.calibration import calibrate_downscaled

    with pytest.raises(ModelCardError, match="without --downscaled"):
        calibrate_downscaled(model, 2.0, 0.03)
    with pytest.raises(ValueError, match="finer than the model's 5°"):
        calibrate_downscaled(residual_model, 5.0, 0.03)
    args = ["calibrate", "--model", str(residual_model), "--downscaled"]
    assert main([*args, "--resolution", "2", "--steps", "3"]) == 2
    assert "drop --steps" in capsys.readouterr().err
    assert main(args) == 2
    assert "--resolution" in capsys.readouterr().err
