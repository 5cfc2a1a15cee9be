"""Target-grid discovery and bad target input."""

import cftime
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import make_profiles, make_target

from xdepthdif.errors import CalendarError, GridError, UnitsError
from xdepthdif.grid.target import discover_grid


def test_axes_found_by_cf_attributes_under_any_name():
    target = make_target(mask=False).rename(depth="lev", lat="y", lon="x")
    target["lev"].attrs["standard_name"] = "depth"
    grid = discover_grid(target)
    assert (grid.depth_name, grid.lat_name, grid.lon_name) == ("lev", "y", "x")


def test_depth_in_centimetres_gives_the_same_analysis(profiles):
    in_m = make_target().depthdif.reconstruct(obs=profiles).compute()
    target = make_target()
    target = target.assign_coords(
        depth=("depth", target.depth.values * 100.0, {"units": "cm", "positive": "down"})
    )
    in_cm = target.depthdif.reconstruct(obs=profiles).compute()
    np.testing.assert_array_equal(in_m.thetao.values, in_cm.thetao.values)
    np.testing.assert_array_equal(in_cm.depth.values, in_m.depth.values)
    assert in_cm.depth.attrs["units"] == "m"


def test_depth_positive_up_is_converted():
    target = make_target(mask=False)
    target = target.assign_coords(
        depth=("depth", -target.depth.values, {"units": "m", "positive": "up"})
    )
    np.testing.assert_array_equal(discover_grid(target).depth, make_target().depth.values)


@pytest.mark.parametrize(
    "attrs, match",
    [
        ({}, "no 'units'"),
        ({"units": "dbar"}, "units 'dbar'"),
        ({"units": "m"}, None),
    ],
)
def test_depth_units_missing_or_wrong_are_refused(attrs, match):
    target = make_target(mask=False)
    target = target.assign_coords(depth=("depth", target.depth.values, attrs))
    if match is None:
        discover_grid(target)
    else:
        with pytest.raises(UnitsError, match=match):
            discover_grid(target)


def test_negative_depths_without_positive_up_are_refused():
    target = make_target(mask=False)
    target = target.assign_coords(depth=("depth", -target.depth.values, {"units": "m"}))
    with pytest.raises(UnitsError, match="positive"):
        discover_grid(target)


@pytest.mark.parametrize("drop", ["depth", "lat", "lon", "time"])
def test_target_without_an_axis_is_refused(drop):
    target = make_target(mask=False).drop_vars(drop)
    with pytest.raises(GridError, match="found in the target"):
        discover_grid(target)


def test_curvilinear_target_is_refused_with_a_hint():
    target = make_target(mask=False)
    lat2d, lon2d = xr.broadcast(target.lat, target.lon)
    curvi = xr.Dataset(
        coords={
            "time": target.time,
            "depth": target.depth,
            "nav_lat": (("y", "x"), lat2d.values, {"units": "degrees_north"}),
            "nav_lon": (("y", "x"), lon2d.values, {"units": "degrees_east"}),
        }
    )
    with pytest.raises(GridError, match="regridded"):
        discover_grid(curvi)


def test_different_calendars_are_refused(profiles):
    target = make_target(mask=False).convert_calendar("noleap", align_on="date")
    with pytest.raises(CalendarError, match="convert_calendar"):
        target.depthdif.reconstruct(obs=profiles)


def test_cftime_standard_calendar_matches_numpy_times(profiles):
    a = make_target(mask=False).depthdif.reconstruct(obs=profiles).compute()
    target = make_target(mask=False).convert_calendar("standard", use_cftime=True)
    b = target.depthdif.reconstruct(obs=profiles).compute()
    np.testing.assert_array_equal(a.thetao.values, b.thetao.values)


def test_noleap_observations_on_a_noleap_target(profiles):
    target = make_target(mask=False).convert_calendar("noleap", align_on="date")
    times = [
        cftime.DatetimeNoLeap(t.year, t.month, t.day)
        for t in pd.DatetimeIndex(profiles.time.values)
    ]
    obs = profiles.assign_coords(time=("profile", times))
    result = target.depthdif.reconstruct(obs=obs).compute()
    assert np.isfinite(result.thetao.values).all()


def test_land_from_surface_temperature_nan():
    target = make_target(mask=False)
    sst = np.full((target.sizes["time"], target.sizes["lat"], target.sizes["lon"]), 290.0)
    sst[:, 0, 0] = np.nan
    target["sst"] = (
        ("time", "lat", "lon"),
        sst,
        {"standard_name": "sea_surface_temperature", "units": "K"},
    )
    result = target.depthdif.reconstruct(obs=make_profiles()).compute()
    assert np.isnan(result.thetao.values[:, :, 0, 0]).all()
    assert np.isfinite(result.thetao.values[:, :, 1, 1]).all()


def test_target_depths_above_the_surface_are_refused():
    target = xr.Dataset(
        coords={
            "time": ("time", np.array(["2020-01-15"], "datetime64[ns]")),
            "depth": ("depth", [-5.0, 10.0, 100.0], {"units": "m", "positive": "down"}),
            "lat": ("lat", [0.5, 1.5], {"units": "degrees_north"}),
            "lon": ("lon", [10.5, 11.5], {"units": "degrees_east"}),
        }
    )
    with pytest.raises(GridError, match=r"1 level.*above the surface.*positive"):
        discover_grid(target)
    heights = target.assign_coords(
        depth=("depth", [-5.0, -10.0, -100.0], {"units": "m", "positive": "up"})
    )
    np.testing.assert_allclose(discover_grid(heights).depth, [5.0, 10.0, 100.0])


@pytest.mark.parametrize("case", ["nat", "empty"])
def test_missing_or_no_target_times_are_refused(case):
    target = make_target()
    if case == "nat":
        times = np.array(["2020-01-15", "NaT", "2020-03-15"], "datetime64[ns]")
        target = target.assign_coords(time=("time", times))
        match = "1 missing value"
    else:
        target = target.isel(time=slice(0, 0))
        match = "is empty"
    with pytest.raises(GridError, match=match):
        discover_grid(target)


def test_undecoded_target_times_are_refused_with_how_to_decode_them():
    target = make_target(times=("2020-01-15",))
    numbers = target.assign_coords(
        time=("time", [7319.0], {"units": "days since 2000-01-01", "calendar": "standard"})
    )
    with pytest.raises(GridError, match=r"holds numbers.*days since 2000-01-01.*decode_cf"):
        discover_grid(numbers)
    decoded = discover_grid(xr.decode_cf(numbers))
    assert str(decoded.time[0])[:10] == "2020-01-15"


@pytest.mark.parametrize(
    ("axis", "values"), [("lat", [-6.0, 0.0, 0.0, 2.0]), ("depth", [5.0, 5.0])]
)
def test_a_target_axis_with_a_repeated_value_is_refused(axis, values):
    """Unordered axes are taken; the same latitude or depth twice is a typed error."""
    target = make_target(times=("2020-01-15",), mask=False)
    target = target.isel({axis: slice(0, len(values))}).assign_coords(
        {axis: (axis, values, target[axis].attrs)}
    )
    with pytest.raises(GridError, match=f"value {values[2 if axis == 'lat' else 0]:g} twice"):
        discover_grid(target)
    unordered = target.assign_coords({axis: (axis, np.arange(len(values))[::-1] * 3.0 + 1.0,
                                             target[axis].attrs)})  # fmt: skip
    assert discover_grid(unordered).lat.size == target.lat.size
