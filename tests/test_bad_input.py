"""Bad input end to end: converted correctly (same answer as clean input) or refused with a
typed error that says how to fix it."""

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

from xdepthdif.errors import EmptyObservationsError, ProfileLayoutError, UnitsError
from xdepthdif.obs import read_en4, write_en4


def analyse(target, obs):
    return target.depthdif.reconstruct(obs=obs).compute()


def test_kelvin_observations_give_the_celsius_answer(target, profiles):
    kelvin = profiles.assign(thetao=(profiles.thetao + 273.15).assign_attrs(units="K"))
    a, b = analyse(target, profiles), analyse(target, kelvin)
    np.testing.assert_allclose(a.thetao.values, b.thetao.values, atol=1e-9)


def test_missing_temperature_units_are_refused(target, profiles):
    profiles.thetao.attrs.pop("units")
    with pytest.raises(UnitsError, match="units"):
        target.depthdif.reconstruct(obs=profiles)


def test_kelvin_labelled_celsius_is_refused(target, profiles):
    wrong = profiles.assign(thetao=(profiles.thetao + 273.15).assign_attrs(units="degC"))
    with pytest.raises(UnitsError, match="kelvin"):
        target.depthdif.reconstruct(obs=wrong)


def test_depth_in_cm_in_observations_gives_the_metre_answer(target, profiles):
    cm = profiles.assign_coords(depth=(profiles.depth * 100).assign_attrs(units="cm"))
    np.testing.assert_allclose(
        analyse(target, profiles).thetao.values, analyse(target, cm).thetao.values, atol=1e-9
    )


def test_nan_inf_and_fill_values_are_ignored(target, profiles):
    extra = profiles.pad(level=(0, 3))  # three more levels of junk on every profile
    junk = np.array([np.nan, np.inf, 99999.0])
    thetao = extra.thetao.values.copy()
    thetao[:, -3:] = junk
    depth = extra.depth.values.copy()
    depth[:, -3:] = [50.0, 60.0, 70.0]
    dirty = extra.assign(thetao=(extra.thetao.dims, thetao, profiles.thetao.attrs))
    dirty = dirty.assign_coords(depth=(extra.depth.dims, depth, profiles.depth.attrs))
    np.testing.assert_allclose(
        analyse(target, profiles).thetao.values, analyse(target, dirty).thetao.values, atol=1e-12
    )


def test_qc_rejected_en4_profiles_change_nothing(tmp_path, target, profiles):
    n = profiles.sizes["profile"]
    bad = np.zeros(n, bool)
    bad[::5] = True
    write_en4(tmp_path / "clean.nc", profiles.isel(profile=~bad))
    qc = {"POSITION_QC": np.where(bad, b"4", b"1")}
    write_en4(tmp_path / "flagged.nc", profiles, qc=qc)
    clean, flagged = read_en4(tmp_path / "clean.nc"), read_en4(tmp_path / "flagged.nc")
    a, b = analyse(target, clean), analyse(target, flagged)
    np.testing.assert_allclose(a.thetao.values, b.thetao.values, atol=1e-9)
    assert b.attrs["profiles_rejected_position_qc"] == bad.sum()
    assert b.attrs["profiles_read"] == n


def test_observations_entirely_outside_the_target_are_refused(target):
    far = make_profiles(n=60, lat_range=(50, 60))
    with pytest.warns(UserWarning), pytest.raises(EmptyObservationsError, match="same region"):
        target.depthdif.reconstruct(obs=far)
    # the message says where the profiles went, by reason
    with pytest.warns(UserWarning), pytest.raises(EmptyObservationsError) as caught:
        target.depthdif.reconstruct(obs=far.assign_coords(lon=far.lon + 720.0))
    assert "of 60 read, 60 bad position" in str(caught.value)
    with pytest.warns(UserWarning), pytest.raises(EmptyObservationsError) as caught:
        target.depthdif.reconstruct(obs=far)
    assert "of 60 read, " in str(caught.value) and " outside grid" in str(caught.value)


def test_not_a_profile_layout_is_refused(target):
    gridded = make_target(mask=False)
    gridded["thetao"] = (("depth",), np.ones(gridded.sizes["depth"]), {"units": "degC"})
    with pytest.raises(ProfileLayoutError, match="profile"):
        target.depthdif.reconstruct(obs=gridded)


def test_an_empty_month_file_reads_as_no_profiles(tmp_path, target):
    empty = make_profiles(n=0)
    write_en4(tmp_path / "empty.nc", empty)
    obs = read_en4(tmp_path / "empty.nc")
    assert obs.sizes["profile"] == 0
    with pytest.raises(EmptyObservationsError):
        target.depthdif.reconstruct(obs=obs)


def test_target_as_dataarray_is_refused_with_a_hint(profiles):
    from xdepthdif.errors import GridError
    from xdepthdif.reconstruct import reconstruct

    with pytest.raises(GridError, match="to_dataset"):
        reconstruct(xr.DataArray([1.0]), profiles)
