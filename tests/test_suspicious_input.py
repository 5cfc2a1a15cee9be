"""Input that is probably mislabelled is warned about with counts; repeats are dropped."""

import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles

from xdepthdif.errors import (
    InputError,
    RejectedDataWarning,
    SuspiciousDataWarning,
    UnitsError,
)
from xdepthdif.obs import tally, validate_profiles


def test_clean_profiles_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RejectedDataWarning)
        warnings.simplefilter("error", SuspiciousDataWarning)
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


def test_fahrenheit_labelled_celsius_is_refused():
    obs = make_profiles(n=20)
    obs["thetao"] = obs.thetao * 9 / 5 + 32  # °F (39..82), still labelled degC
    with pytest.raises(UnitsError, match=r"looks like °F.*'degF'"):
        validate_profiles(obs)


def test_cold_water_in_fahrenheit_is_refused():
    """28–90 °F: most values lie above 40, the coldest would be plausible °C."""
    obs = make_profiles(n=20)
    obs["thetao"] = (28.0 + 62.0 * np.exp(-obs.depth / 500.0)).drop_attrs()
    obs.thetao.attrs["units"] = "degC"
    assert 0.5 < float((obs.thetao > 40).mean()) < 1.0
    with pytest.raises(UnitsError, match="looks like °F"):
        validate_profiles(obs)


def test_fahrenheit_is_converted_when_labelled():
    obs = make_profiles(n=20)
    fahrenheit = obs.assign(thetao=(obs.thetao * 9 / 5 + 32).assign_attrs(units="degF"))
    xr.testing.assert_allclose(validate_profiles(fahrenheit).thetao, validate_profiles(obs).thetao)


def test_some_profiles_in_fahrenheit_are_named_in_the_warning():
    obs = make_profiles(n=20)
    theta = obs.thetao.values.copy()
    theta[:5] = theta[:5] * 9 / 5 + 32  # a quarter of the profiles in °F
    obs["thetao"] = (obs.thetao.dims, theta, obs.thetao.attrs)
    with pytest.warns(RejectedDataWarning, match=r"dropped\. \d+ of them.*looks like °F"):
        validate_profiles(obs)


def test_depths_above_the_surface_are_refused():
    obs = make_profiles(n=5)
    depth = obs.depth.values.copy()
    depth[1, :3] = [-50.0, -20.0, -5.0]  # heights, although positive='down'
    obs = obs.assign_coords(depth=(obs.depth.dims, depth, obs.depth.attrs))
    with pytest.raises(InputError, match=r"3 depth value\(s\) lie above the sea surface"):
        validate_profiles(obs)


def test_depths_labelled_heights_say_to_remove_positive_up_not_to_set_it():
    obs = make_profiles(n=5)
    obs.depth.attrs["positive"] = "up"  # but the values are depths, positive below the surface
    n = int((obs.depth.values > 2.0).sum())  # deeper than 2 m: above the surface as heights
    with pytest.raises(InputError, match=rf"{n} depth value\(s\) lie above") as err:
        validate_profiles(obs)
    message = str(err.value)
    assert "positive='up'" in message and "ds.depth.attrs['positive'] = 'down'" in message
    assert "attrs['positive'] = 'up'" not in message


def test_a_sensor_offset_just_above_the_surface_is_dropped_and_counted():
    obs = make_profiles(n=5)
    depth = obs.depth.values.copy()
    depth[1, 0] = -0.4
    obs = obs.assign_coords(depth=(obs.depth.dims, depth, obs.depth.attrs))
    assert tally(validate_profiles(obs))["levels_rejected_out_of_range"] == 1


def test_values_at_the_edge_of_plausibility_are_kept_and_counted():
    obs = make_profiles(n=5)
    theta, depth = obs.thetao.values.copy(), obs.depth.values.copy()
    theta[0, 0], theta[1, 0], theta[2, 0] = -2.2, 37.0, 38.5
    depth[3, -1] = 11500.0
    obs["thetao"] = (obs.thetao.dims, theta, obs.thetao.attrs)
    obs = obs.assign_coords(depth=(obs.depth.dims, depth, obs.depth.attrs))
    with pytest.warns(SuspiciousDataWarning, match=r"1 level\(s\) colder.*2 warmer.*1 deeper"):
        out = validate_profiles(obs)
    assert tally(out)["levels_rejected_out_of_range"] == 0
    assert float(out.thetao.max()) == 38.5 and float(out.depth.max()) == 11500.0


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
