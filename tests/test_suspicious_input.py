"""Input that is probably mislabelled is warned about with counts; repeats are dropped."""

import warnings

import pytest
import xarray as xr
from conftest import make_profiles

from xdepthdif.errors import RejectedDataWarning
from xdepthdif.obs import tally, validate_profiles


def test_clean_profiles_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RejectedDataWarning)
        out = validate_profiles(make_profiles())
    assert tally(out)["rejected_duplicate"] == 0


def test_the_same_file_read_twice_is_deduplicated():
    obs = make_profiles(n=20)
    twice = xr.concat([obs, obs], dim="profile")
    with pytest.warns(RejectedDataWarning, match="20 profile.*read twice"):
        out = validate_profiles(twice)
    assert out.sizes["profile"] == 20
    counts = tally(out)
    assert counts["rejected_duplicate"] == 20 and counts["profiles_read"] == 40
    xr.testing.assert_allclose(out.thetao, validate_profiles(obs).thetao)


def test_fahrenheit_labelled_celsius_is_flagged():
    obs = make_profiles(n=20)
    obs["thetao"] = obs.thetao * 9 / 5 + 32  # °F, still labelled degC
    with pytest.warns(RejectedDataWarning, match=r"levels lie outside.*°F labelled degC"):
        validate_profiles(obs)


def test_kilometres_labelled_metres_is_flagged():
    obs = make_profiles(n=20)
    obs["depth"] = obs.depth / 1000.0  # km, still labelled m
    with pytest.warns(RejectedDataWarning, match="km labelled m"):
        validate_profiles(obs)


def test_one_depth_with_two_values_is_flagged():
    obs = make_profiles(n=5)
    depth, theta = obs.depth.values.copy(), obs.thetao.values.copy()
    depth[2, 5], theta[2, 5] = depth[2, 4], theta[2, 4] + 1.0
    obs = obs.assign_coords(depth=(obs.depth.dims, depth, obs.depth.attrs))
    obs["thetao"] = (obs.thetao.dims, theta, obs.thetao.attrs)
    with pytest.warns(RejectedDataWarning, match="1 profile level"):
        out = validate_profiles(obs)
    assert out.sizes["profile"] == 5  # kept: suspicious, not certain
