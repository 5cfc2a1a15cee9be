"""The models that ship in the package: present, verified, small, and made by the committed
commands; ``model="default"`` names the conditional model, the synthetic-planet prior is
``model="synthetic"``."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from xdepthdif.evaluation.calibration import calibration_plan
from xdepthdif.prior.model import default_model_path, resolve_model, shipped_models, verify
from xdepthdif.prior.registry import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("name", "climatology"), [("default", "shipped"), ("synthetic", "monthly")]
)
def test_the_models_ship_verified_and_small(name, climatology):
    weights = resolve_model(name)
    card = verify(weights)  # sha256 and safetensors header checked
    assert weights.stat().st_size <= 25 * 2**20
    assert card.native_resolution_deg == 4.0 and len(card.levels) == 42
    assert card.normalisation["climatology"] == climatology
    scale = np.asarray(card.normalisation["spread_scale"])
    assert scale.shape == (42,) and np.all((scale >= 0.2) & (scale <= 5))


def test_default_names_the_conditional_model():
    """Chosen by its CRPS on the validation world (``benchmarks/model_choice.py``)."""
    assert DEFAULT_MODEL == "conditional" and "default" not in shipped_models()
    assert resolve_model("default") == default_model_path() == resolve_model("conditional")
    assert verify(default_model_path()).kind == "conditional"


def _makefile_args(variable: str) -> str:
    """The arguments a Makefile variable (``MODEL_ARGS`` ...) gives ``xdepthdif train``."""
    makefile = (ROOT / "Makefile").read_text()
    args = re.search(rf"{variable} := (.*?)\n\n", makefile, re.S).group(1)
    return " ".join(args.replace("\\", " ").split())


def test_the_synthetic_prior_was_trained_by_the_makefile_command():
    card = verify(resolve_model("synthetic"))
    args = _makefile_args("MODEL_ARGS")
    assert card.training["command"] == f"xdepthdif train {args} --out build/model/default"
    assert card.training["steps"] == int(re.search(r"--steps (\d+)", args).group(1))
    assert card.training["spread_calibration"].startswith("xdepthdif calibrate --model build/")
    assert "split=train" in card.training["data"]


@pytest.mark.parametrize(
    ("name", "variable", "kind"),
    [("world", "WORLD_ARGS", "guided-prior"), ("conditional", "CONDITIONAL_ARGS", "conditional")],
)
def test_the_world_models_were_trained_by_the_makefile_commands(name, variable, kind):
    assert name in shipped_models()
    card = verify(resolve_model(name))
    args = _makefile_args(variable)
    assert card.training["command"] == f"xdepthdif train {args} --out build/model/{name}"
    assert card.normalisation["climatology"] == "shipped" and card.kind == kind
    assert card.training["data"].startswith("xdepthdif training world")
    makefile = (ROOT / "Makefile").read_text()
    line = re.search(rf"xdepthdif calibrate --model build/model/{name}\.safetensors[^|]*", makefile)
    assert card.training["spread_calibration"] == " ".join(line.group(0).replace("\\", " ").split())
    assert card.training["spread_calibration_plan"] == calibration_plan(card)  # today's defaults


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
def test_the_synthetic_prior_honours_a_profile():
    """A small target around one profile: the guided ensemble mean follows the profile."""
    import xarray as xr

    import xdepthdif  # noqa: F401
    from xdepthdif.obs import validate_profiles
    from xdepthdif.prior.synthetic import en4_like_levels

    levels = en4_like_levels()[:20]
    column = 28.0 - 20.0 * (1 - np.exp(-levels / 300.0))  # warm tropical profile, °C
    obs = validate_profiles(
        xr.Dataset(
            {"thetao": (("profile", "level"), column[None], {"units": "degC"})},
            coords={
                "time": ("profile", np.array(["2021-03-10"], "datetime64[ns]")),
                "lat": ("profile", [0.5]),
                "lon": ("profile", [200.5]),
                "depth": (("profile", "level"), levels[None], {"units": "m"}),
            },
        )
    )
    target = xr.Dataset(
        coords={
            "time": ("time", np.array(["2021-03-15"], "datetime64[ns]")),
            "depth": ("depth", levels, {"units": "m", "positive": "down"}),
            "lat": ("lat", np.arange(-8.0, 9.0, 4.0), {"units": "degrees_north"}),
            "lon": ("lon", np.arange(188.0, 213.0, 4.0), {"units": "degrees_east"}),
        }
    )

    def rms_at_profile(**options):
        res = target.depthdif.reconstruct(
            obs=obs, method="diffusion", model="synthetic", members=4, **options
        )
        res = res.compute()
        assert np.isfinite(res.thetao.values).all() and (res.thetao_sd.values > 0).all()
        at_profile = res.thetao.sel(lat=0.0, lon=200.0).values[0]
        return float(np.sqrt(np.mean((at_profile - column)[levels < 1000] ** 2)))

    guided, unguided = rms_at_profile(), rms_at_profile(obs_error=1e3)
    assert guided < 0.8 and guided < 0.3 * unguided


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
@pytest.mark.parametrize("steps", [3, 4, 5])
def test_few_step_runs_of_the_synthetic_prior_stay_in_the_range_of_sea_water(steps):
    """Few steps end in a plain denoise: no Heun corrector at sigma 0.002 (once -480..+210 °C)."""
    import xarray as xr

    import xdepthdif  # noqa: F401
    from xdepthdif.errors import ImplausibleOutputWarning
    from xdepthdif.prior.synthetic import en4_like_levels

    levels = en4_like_levels()[:12]
    column = 28.0 - 20.0 * (1 - np.exp(-levels / 300.0))
    obs = xr.Dataset(
        {"thetao": (("profile", "level"), column[None], {"units": "degC"})},
        coords={
            "time": ("profile", np.array(["2021-03-10"], "datetime64[ns]")),
            "lat": ("profile", [0.5]),
            "lon": ("profile", [200.5]),
            "depth": (("profile", "level"), levels[None], {"units": "m"}),
        },
    )
    target = xr.Dataset(
        coords={
            "time": ("time", np.array(["2021-03-15"], "datetime64[ns]")),
            "depth": ("depth", levels, {"units": "m", "positive": "down"}),
            "lat": ("lat", np.arange(-8.0, 9.0, 4.0), {"units": "degrees_north"}),
            "lon": ("lon", np.arange(188.0, 213.0, 4.0), {"units": "degrees_east"}),
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", "analysed", ImplausibleOutputWarning)
        res = target.depthdif.reconstruct(
            obs=obs, method="diffusion", model="synthetic", members=3, steps=steps
        )
        res = res.compute()
    # the mean stays in sea water; a member of this synthetic-planet prior may stray, rarely,
    # and is then clipped where it is drawn (nothing is left for reconstruct's own check)
    for w in caught:
        if w.category is ImplausibleOutputWarning:
            found = re.search(r"Of (\d+) ensemble member values, (\d+) lay below .* and (\d+) "
                              r"above", str(w.message))  # fmt: skip
            assert found, str(w.message)
            total, cold, hot = map(int, found.groups())
            assert cold + hot <= 0.01 * total
    assert np.isfinite(res.thetao.values).all()
    assert float(res.thetao.min()) > -2.5 and float(res.thetao.max()) < 35.0
    assert float(res.thetao_sd.max()) < 15.0
