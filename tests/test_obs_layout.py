"""validate_profiles: units, fill values, positions, times, typed errors, the tally."""

import numpy as np
import pytest
import xarray as xr

from xdepthdif.errors import (
    InputError,
    ProfileLayoutError,
    RejectedDataWarning,
    UnitsError,
    XDepthDifError,
)
from xdepthdif.obs import concat_profiles, merge_tallies, tally, validate_profiles


def make(theta=None, depth=None, *, t_units="degC", d_attrs=None, lat=None, lon=None, time=None):
    theta = np.array([[20.0, 15.0, 10.0], [21.0, 16.0, np.nan]]) if theta is None else theta
    depth = np.array([[5.0, 100.0, 500.0], [5.0, 100.0, np.nan]]) if depth is None else depth
    n = len(theta)
    t_attrs = {} if t_units is None else {"units": t_units}
    return xr.Dataset(
        {"thetao": (("profile", "level"), np.asarray(theta, float), t_attrs)},
        coords={
            "depth": (
                ("profile", "level"),
                np.asarray(depth, float),
                {"units": "m"} if d_attrs is None else d_attrs,
            ),
            "time": (
                "profile",
                np.array(["2000-01-15"] * n, "datetime64[ns]") if time is None else time,
            ),
            "lat": ("profile", np.zeros(n) if lat is None else np.asarray(lat, float)),
            "lon": ("profile", np.zeros(n) if lon is None else np.asarray(lon, float)),
        },
    )


def check_invariant(ds):
    t = tally(ds)
    rejected = sum(v for k, v in t.items() if k.startswith("rejected_"))
    assert t["profiles_read"] == t["profiles_used"] + rejected
    assert t["profiles_used"] == ds.sizes["profile"]
    return t


def test_canonical_form_and_attributes():
    out = validate_profiles(make(lon=[190.0, -180.0]))
    assert out.thetao.dims == ("profile", "level") and out.depth.dims == ("profile", "level")
    assert out.thetao.dtype == np.float64 and out.depth.dtype == np.float64
    assert out.time.dtype == np.dtype("datetime64[ns]")
    assert out.lon.values.tolist() == [-170.0, -180.0]
    assert out.depth.attrs == {"units": "m", "positive": "down", "standard_name": "depth"}
    assert out.thetao.attrs["standard_name"] == "sea_water_potential_temperature"
    assert out.thetao.attrs["units"] == "degC"
    assert check_invariant(out)["profiles_used"] == 2


@pytest.mark.parametrize("units", ["K", "kelvin", "degK", "degree_K"])
def test_kelvin_is_converted(units):
    out = validate_profiles(
        make(np.array([[293.15, 283.15, 273.15]]), np.array([[1.0, 2, 3]]), t_units=units)
    )
    np.testing.assert_allclose(out.thetao.values, [[20.0, 10.0, 0.0]])


@pytest.mark.parametrize("units", ["degC", "degree_C", "degrees_C", "deg_C", "Celsius", "°C"])
def test_celsius_spellings_are_accepted(units):
    assert validate_profiles(make(t_units=units)).thetao.values[0, 0] == 20.0


@pytest.mark.parametrize("units", [None, "", "furlongs"])
def test_missing_or_unknown_temperature_units_are_refused(units):
    with pytest.raises(UnitsError, match="units"):
        validate_profiles(make(t_units=units))


def test_kelvin_labelled_celsius_is_refused():
    with pytest.raises(UnitsError, match="looks like kelvin"):
        validate_profiles(make(np.array([[293.15, 283.15, 273.15]]), np.array([[1.0, 2, 3]])))


def test_centimetres_are_converted():
    out = validate_profiles(
        make(
            depth=np.array([[500.0, 10000.0, 200000.0], [500.0, 10000.0, np.nan]]),
            d_attrs={"units": "cm"},
        )
    )
    np.testing.assert_allclose(out.depth.values[0], [5.0, 100.0, 2000.0])


@pytest.mark.parametrize("units", ["dbar", "decibar"])
def test_pressure_is_refused_with_a_pointer_to_from_argo(units):
    with pytest.raises(UnitsError, match="from_argo"):
        validate_profiles(make(d_attrs={"units": units}))


def test_missing_depth_units_are_refused():
    with pytest.raises(UnitsError, match="depth has no 'units'"):
        validate_profiles(make(d_attrs={}))


def test_positive_up_is_negated_and_negative_without_it_refused():
    up = make(depth=-make().depth.values, d_attrs={"units": "m", "positive": "up"})
    np.testing.assert_allclose(validate_profiles(up).depth.values[0], [5.0, 100.0, 500.0])
    with pytest.raises(UnitsError, match="positive"):
        validate_profiles(make(depth=-make().depth.values))


def test_fill_inf_nan_and_out_of_range_levels():
    theta = np.array([[20.0, 99999.0, np.inf, -1e6, 45.0, 10.0], [20.0, np.nan] + [np.nan] * 4])
    depth = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0] + [np.nan] * 4])
    out = validate_profiles(make(theta, depth))
    t = check_invariant(out)
    assert t["levels_rejected_fill_or_nonfinite"] == 4  # 99999, inf, -1e6 and the NaN at 2 m
    assert t["levels_rejected_out_of_range"] == 1  # 45 °C
    np.testing.assert_array_equal(np.isfinite(out.thetao.values[0]), [1, 0, 0, 0, 0, 1])
    assert np.array_equal(np.isfinite(out.depth.values), np.isfinite(out.thetao.values))


def test_profiles_without_valid_levels_are_rejected_and_counted():
    theta = np.array([[20.0, 10.0], [np.nan, 99999.0]])
    out = validate_profiles(make(theta, np.array([[1.0, 2.0], [1.0, 2.0]])))
    t = check_invariant(out)
    assert out.sizes["profile"] == 1 and t["rejected_no_valid_levels"] == 1


def test_bad_positions_and_times_are_rejected_by_reason():
    n = 6
    theta = np.full((n, 1), 10.0)
    time = np.array(["2000-01-01"] * 5 + ["NaT"], "datetime64[ns]")
    with pytest.warns(RejectedDataWarning, match="4 have a position.*1 have no time"):
        out = validate_profiles(
            make(
                theta,
                np.ones((n, 1)),
                lat=[0, np.nan, 91, 0, 0, 0],
                lon=[0, 0, 0, np.inf, 99999.0, 0],
                time=time,
            )
        )
    t = check_invariant(out)
    assert t["rejected_bad_position"] == 4 and t["rejected_bad_time"] == 1
    assert t["profiles_used"] == 1


def test_trailing_empty_levels_are_trimmed():
    theta = np.array([[20.0, np.nan, np.nan]])
    out = validate_profiles(make(theta, np.array([[1.0, np.nan, np.nan]])))
    assert out.sizes["level"] == 1


def test_thetao_error_per_profile_is_broadcast_and_kelvin_is_a_difference():
    ds = make().assign(thetao_error=("profile", [0.5, 0.2], {"units": "K"}))
    out = validate_profiles(ds)
    np.testing.assert_allclose(out.thetao_error.values, [[0.5, 0.5, 0.5], [0.2, 0.2, np.nan]])


def test_negative_or_unitless_thetao_error_is_refused():
    with pytest.raises(InputError, match="negative"):
        validate_profiles(make().assign(thetao_error=("profile", [-0.5, 0.2], {"units": "degC"})))
    with pytest.raises(UnitsError):
        validate_profiles(make().assign(thetao_error=("profile", [0.5, 0.2])))


def test_layout_errors_name_what_was_found_and_the_readers():
    with pytest.raises(ProfileLayoutError, match="read_en4"):
        validate_profiles(xr.Dataset({"x": ("N_PROF", [1.0])}))
    renamed = make().rename(lat="latitude")
    with pytest.raises(ProfileLayoutError, match=r"rename\(\{'latitude': 'lat'\}\)"):
        validate_profiles(renamed)
    assert issubclass(ProfileLayoutError, XDepthDifError)


def test_numeric_time_with_lowercase_utc_keeps_missing_times_missing():
    ds = make(time=np.array([0.5, np.nan]))
    ds["time"].attrs["units"] = "days since 1950-01-01 00:00:00 utc"
    with pytest.warns(RejectedDataWarning, match="1 have no time"):
        out = validate_profiles(ds)
    assert out.sizes["profile"] == 1 and tally(out)["rejected_bad_time"] == 1
    assert out.time.values[0] == np.datetime64("1950-01-01T12:00")


def test_cftime_calendar_is_kept():
    import cftime

    time = np.array([cftime.DatetimeNoLeap(2000, 2, 28), cftime.DatetimeNoLeap(2000, 3, 1)])
    out = validate_profiles(make(time=time))
    assert out.time.values[0].calendar == "noleap"


def test_numeric_time_in_a_model_calendar_is_decoded_with_cftime():
    ds = make(time=np.array([59.0, 59.5]))  # no 29 February in a 365-day year
    ds["time"].attrs.update(units="days since 2001-01-01", calendar="noleap")
    out = validate_profiles(ds)
    assert out.time.values[0].calendar == "noleap"
    assert (out.time.values[0].month, out.time.values[0].day) == (3, 1)
    assert out.time.values[1].hour == 12


@pytest.mark.parametrize(
    ("time", "attrs", "message"),
    [
        (np.array([1.0, 2.0]), {"units": "days"}, "expected datetimes or CF units"),
        (np.array([1.0, 2.0]), {"units": "fortnights since 2000-01-01"}, "days/hours"),
        (np.array(["soon", "2000-01-02"]), {}, "'soon' that are not dates.*expected datetime64"),
        (
            np.array(["soon", "2000-01-02"], object),
            {},
            "'soon' that are not dates.*expected datetime64",
        ),
        (np.array([True, False]), {}, "dtype bool; expected datetime64, cftime"),
    ],
)
def test_times_that_cannot_be_read_are_typed_errors_that_say_what_to_give(time, attrs, message):
    ds = make(time=time)
    ds["time"].attrs.update(attrs)
    with pytest.raises(InputError, match=message):
        validate_profiles(ds)


def test_existing_tally_is_carried_and_tallies_merge():
    once = validate_profiles(make(np.array([[20.0], [np.nan]]), np.ones((2, 1))))
    twice = validate_profiles(once)
    assert tally(twice) == tally(once)
    sub = validate_profiles(once.isel(profile=slice(0, 0)))
    assert check_invariant(sub)["rejected_removed_before_validation"] == 1
    both = concat_profiles([once, validate_profiles(make())])
    assert check_invariant(both)["profiles_read"] == 4
    assert merge_tallies({"a": 1}, {"a": 2, "b": 1}) == {"a": 3, "b": 1}


def test_times_as_a_numpy_string_array_are_read_like_strings_in_an_object_array():
    days = ["2000-01-15", "2000-01-16T06:00"]
    as_unicode = validate_profiles(make(time=np.array(days)))
    assert np.array(days).dtype.kind == "U"
    as_objects = validate_profiles(make(time=np.array(days, dtype=object)))
    expected = np.array(days, "datetime64[ns]")
    np.testing.assert_array_equal(as_unicode.time.values, expected)
    np.testing.assert_array_equal(as_objects.time.values, expected)
    as_bytes = validate_profiles(make(time=np.array([d.encode() for d in days])))
    np.testing.assert_array_equal(as_bytes.time.values, expected)


def test_one_profile_in_both_longitude_conventions_is_one_profile():
    theta, depth = np.array([[20.0, 10.0]] * 2), np.array([[5.0, 100.0]] * 2)
    with pytest.warns(RejectedDataWarning, match=r"1 profile\(s\) repeat"):
        once = validate_profiles(make(theta, depth, lat=[0.5, 0.5], lon=[-20.5, 339.5]))
    t = check_invariant(once)
    assert t["rejected_duplicate"] == 1 and once.lon.values.tolist() == [-20.5]
    assert tally(validate_profiles(once)) == t  # validating again changes nothing


def test_positions_out_of_range_are_dropped_with_a_warning_that_counts_them():
    theta, depth = np.array([[20.0]] * 3), np.ones((3, 1))
    ds = make(theta, depth, lat=[0.5, 1.5, np.nan], lon=[699.5, 700.5, 10.0])
    with pytest.warns(RejectedDataWarning, match=r"3 have a position.*e\.g\. lat 0\.5, lon 699\.5"):
        out = validate_profiles(ds)
    t = check_invariant(out)
    assert t["rejected_bad_position"] == 3 and out.sizes["profile"] == 0
