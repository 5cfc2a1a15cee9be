"""Argo (points and profiles) and point tables into the profile layout."""

import gsw
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xdepthdif.errors import InputError, ProfileLayoutError, RejectedDataWarning, UnitsError
from xdepthdif.obs import from_argo, from_points, tally

PRES = np.array([5.0, 500.0, 1500.0])
TEMP = np.array([22.0, 9.0, 4.0])
PSAL = np.array([36.0, 34.8, 34.9])


def argo_profiles(modes=("R", "D"), qc=None):
    """Two profiles, N_PROF x N_LEVELS, adjusted values offset by +1 (dbar, °C)."""
    n = len(modes)
    qc = {} if qc is None else qc
    ones = np.full((n, PRES.size), b"1")
    return xr.Dataset(
        {
            "PRES": (("N_PROF", "N_LEVELS"), np.tile(PRES, (n, 1))),
            "TEMP": (("N_PROF", "N_LEVELS"), np.tile(TEMP, (n, 1))),
            "PSAL": (("N_PROF", "N_LEVELS"), np.tile(PSAL, (n, 1))),
            "PRES_ADJUSTED": (("N_PROF", "N_LEVELS"), np.tile(PRES + 1, (n, 1))),
            "TEMP_ADJUSTED": (("N_PROF", "N_LEVELS"), np.tile(TEMP + 1, (n, 1))),
            "PSAL_ADJUSTED": (("N_PROF", "N_LEVELS"), np.tile(PSAL, (n, 1))),
            "TEMP_ADJUSTED_ERROR": (("N_PROF", "N_LEVELS"), np.full((n, PRES.size), 0.002)),
            "PRES_QC": (("N_PROF", "N_LEVELS"), qc.get("PRES_QC", ones)),
            "TEMP_QC": (("N_PROF", "N_LEVELS"), qc.get("TEMP_QC", ones)),
            "PRES_ADJUSTED_QC": (("N_PROF", "N_LEVELS"), qc.get("PRES_ADJUSTED_QC", ones)),
            "TEMP_ADJUSTED_QC": (("N_PROF", "N_LEVELS"), qc.get("TEMP_ADJUSTED_QC", ones)),
            "DATA_MODE": ("N_PROF", np.array(modes, "S1")),
            "POSITION_QC": ("N_PROF", qc.get("POSITION_QC", np.full(n, b"1"))),
            "JULD_QC": ("N_PROF", qc.get("JULD_QC", np.full(n, b"1"))),
            "PLATFORM_NUMBER": ("N_PROF", np.array([b"6901001 "] * n)),
            "LATITUDE": ("N_PROF", np.full(n, -30.0)),
            "LONGITUDE": ("N_PROF", np.full(n, 300.0)),
            "JULD": ("N_PROF", np.array(["2019-06-01T12:00"] * n, "datetime64[ns]")),
        }
    )


def expected(pres, temp, psal):
    sa = gsw.SA_from_SP(psal, pres, 300.0, -30.0)
    return -gsw.z_from_p(pres, -30.0), gsw.pt0_from_t(sa, temp, pres)


def check_invariant(ds):
    t = tally(ds)
    assert t["profiles_read"] == t["profiles_used"] + sum(
        v for k, v in t.items() if k.startswith("rejected_")
    )
    return t


def test_adjusted_is_used_for_delayed_mode_and_raw_for_real_time():
    out = from_argo(argo_profiles(("R", "D")))
    depth_r, theta_r = expected(PRES, TEMP, PSAL)
    depth_d, theta_d = expected(PRES + 1, TEMP + 1, PSAL)
    np.testing.assert_allclose(out.depth.values, [depth_r, depth_d], rtol=1e-12)
    np.testing.assert_allclose(out.thetao.values, [theta_r, theta_d], rtol=1e-12)
    assert np.isnan(out.thetao_error.values[0]).all()
    np.testing.assert_allclose(out.thetao_error.values[1], 0.002)
    assert out.platform.values.tolist() == ["6901001"] * 2
    assert out.lon.values.tolist() == [-60.0, -60.0]


def test_pressure_to_depth_matches_gsw_and_theta_is_below_in_situ_at_depth():
    out = from_argo(argo_profiles(("A",)))
    np.testing.assert_allclose(out.depth.values[0], -gsw.z_from_p(PRES + 1, -30.0))
    assert out.thetao.values[0, 2] < TEMP[2] + 1


def test_qc_3_and_4_reject_levels_and_profiles_by_reason():
    n = 4
    temp_qc = np.full((n, 3), b"1")
    temp_qc[0, 1] = b"4"
    temp_qc[0, 2] = b"3"
    pres_qc = np.full((n, 3), b"1")
    pres_qc[0, 2] = b"4"  # same level as a bad temperature: counted once, as pressure
    pos = np.array([b"1", b"4", b"1", b"1"])
    juld = np.array([b"1", b"1", b"3", b"1"])
    adj_qc = np.full((n, 3), b"1")
    adj_qc[3, 0] = b"4"  # profile 3 is delayed mode: its adjusted QC counts
    ds = argo_profiles(
        ("R", "R", "R", "D"),
        qc={
            "TEMP_QC": temp_qc,
            "PRES_QC": pres_qc,
            "POSITION_QC": pos,
            "JULD_QC": juld,
            "TEMP_ADJUSTED_QC": adj_qc,
        },
    )
    out = from_argo(ds)
    t = check_invariant(out)
    assert t["rejected_position_qc"] == 1 and t["rejected_time_qc"] == 1
    assert t["levels_rejected_temp_qc"] == 2 and t["levels_rejected_pres_qc"] == 1
    np.testing.assert_array_equal(np.isfinite(out.thetao.values), [[1, 0, 0], [0, 1, 1]])


def test_flat_points_are_grouped_by_platform_and_cycle():
    rows = []
    for cycle, shift in ((1, 0.0), (2, 0.5)):
        for i in (2, 0, 1):  # unsorted pressures
            rows.append((cycle, PRES[i], TEMP[i] + shift, PSAL[i]))
    cyc, pres, temp, psal = (np.array(c) for c in zip(*rows, strict=True))
    n = cyc.size
    pts = xr.Dataset(
        {
            "PRES": ("N_POINTS", pres),
            "TEMP": ("N_POINTS", temp),
            "PSAL": ("N_POINTS", psal),
            "PRES_QC": ("N_POINTS", np.ones(n, int)),
            "TEMP_QC": ("N_POINTS", np.ones(n, int)),
            "DATA_MODE": ("N_POINTS", np.array(["R"] * n)),
            "CYCLE_NUMBER": ("N_POINTS", cyc),
            "PLATFORM_NUMBER": ("N_POINTS", np.full(n, 6901001)),
            "POSITION_QC": ("N_POINTS", np.ones(n, int)),
        },
        coords={
            "LATITUDE": ("N_POINTS", np.full(n, -30.0)),
            "LONGITUDE": ("N_POINTS", np.full(n, -60.0)),
            "TIME": ("N_POINTS", np.array(["2019-06-01"] * n, "datetime64[ns]")),
        },
    )
    out = from_argo(pts)
    assert out.sizes["profile"] == 2 and check_invariant(out)["profiles_read"] == 2
    depth, theta = expected(PRES, TEMP, PSAL)
    np.testing.assert_allclose(out.depth.values[0], depth)
    np.testing.assert_allclose(out.thetao.values[0], theta)
    _, theta2 = expected(PRES, TEMP + 0.5, PSAL)
    np.testing.assert_allclose(out.thetao.values[1], theta2)
    # without platform/cycle, identical time and position form one profile, whose repeated
    # depths with other values are worth a warning
    with pytest.warns(RejectedDataWarning, match="3 profile level"):
        merged = from_argo(pts.drop_vars(["CYCLE_NUMBER", "PLATFORM_NUMBER"]))
    assert merged.sizes["profile"] == 1 and merged.sizes["level"] == 6


def test_missing_salinity_assumes_35():
    out = from_argo(argo_profiles(("R",)).drop_vars(["PSAL", "PSAL_ADJUSTED"]))
    np.testing.assert_allclose(out.thetao.values[0], expected(PRES, TEMP, 35.0)[1])


def test_argo_refusals():
    with pytest.raises(InputError, match="DATA_MODE"):
        from_argo(argo_profiles().drop_vars("DATA_MODE"))
    with pytest.raises(ProfileLayoutError, match="PRES"):
        from_argo(argo_profiles().drop_vars("PRES"))


def table(**extra):
    return pd.DataFrame(
        {
            "time": pd.to_datetime(["2001-05-01"] * 3 + ["2001-05-02"] * 2),
            "lat": [10.0] * 5,
            "lon": [-30.0] * 5,
            "depth": [100.0, 5.0, 50.0, 20.0, np.nan],
            "thetao": [15.0, 25.0, 20.0, 22.0, 21.0],
            **extra,
        }
    )


def test_points_become_profiles_sorted_by_depth():
    out = from_points(
        table(thetao_error=[0.1] * 5),
        units={"thetao": "degC", "depth": "m", "thetao_error": "degC"},
    )
    assert out.sizes["profile"] == 2
    np.testing.assert_allclose(out.depth.values, [[5.0, 50.0, 100.0], [20.0, np.nan, np.nan]])
    np.testing.assert_allclose(out.thetao.values[0], [25.0, 20.0, 15.0])
    assert check_invariant(out)["levels_rejected_fill_or_nonfinite"] == 1
    np.testing.assert_allclose(out.thetao_error.values[0], 0.1)


def test_points_units_are_required_and_converted():
    with pytest.raises(UnitsError, match="units="):
        from_points(table())
    ds = table().to_xarray().drop_vars("index")
    ds["thetao"] = ds.thetao + 273.15
    ds["thetao"].attrs["units"] = "K"
    ds["depth"].attrs["units"] = "cm"
    out = from_points(ds)
    np.testing.assert_allclose(out.thetao.values[0], [25.0, 20.0, 15.0])
    np.testing.assert_allclose(out.depth.values[0], [0.05, 0.5, 1.0])
    with pytest.raises(UnitsError, match="from_argo"):
        from_points(table(), units={"thetao": "degC", "depth": "dbar"})


def test_points_refusals():
    with pytest.raises(InputError, match="lacks columns"):
        from_points(table().drop(columns="lat"), units={"thetao": "degC", "depth": "m"})
    with pytest.raises(InputError, match="DataFrame"):
        from_points([1, 2, 3])


@pytest.mark.parametrize(
    ("units", "scale"),
    [("dbar", 1.0), ("decibar", 1.0), ("kPa", 10.0), ("Pa", 1e4), ("hPa", 100.0)],
)
def test_argo_pressure_units_are_honoured(units, scale):
    ds = argo_profiles(("R", "R"))
    for name in ("PRES", "PRES_ADJUSTED"):
        ds[name] = (ds[name] * scale).assign_attrs(units=units)
    out, ref = from_argo(ds), from_argo(argo_profiles(("R", "R")))
    np.testing.assert_allclose(out.depth.values, ref.depth.values, rtol=1e-12)
    np.testing.assert_allclose(out.thetao.values, ref.thetao.values, rtol=1e-12)


@pytest.mark.parametrize("units", ["degC", "K", "degF", "degree_Celsius", "kelvin"])
def test_argo_temperature_units_are_honoured(units):
    ds = argo_profiles(("D", "D"))
    to = {"K": lambda t: t + 273.15, "kelvin": lambda t: t + 273.15}
    to["degF"] = lambda t: t * 9 / 5 + 32
    for name in ("TEMP", "TEMP_ADJUSTED"):
        ds[name] = to.get(units, lambda t: t)(ds[name]).assign_attrs(units=units)
    scale = 9 / 5 if units == "degF" else 1.0
    ds["TEMP_ADJUSTED_ERROR"] = (ds.TEMP_ADJUSTED_ERROR * scale).assign_attrs(units=units)
    out, ref = from_argo(ds), from_argo(argo_profiles(("D", "D")))
    np.testing.assert_allclose(out.thetao.values, ref.thetao.values, atol=1e-9)
    np.testing.assert_allclose(out.thetao_error.values, ref.thetao_error.values, atol=1e-12)


@pytest.mark.parametrize(("name", "units"), [("PRES", "m"), ("PRES", "psi?"), ("TEMP", "degR")])
def test_argo_unknown_units_are_refused(name, units):
    ds = argo_profiles(("R", "R"))
    ds[name].attrs["units"] = units
    with pytest.raises(UnitsError, match=name):
        from_argo(ds)


def test_argo_kelvin_labelled_celsius_is_refused():
    ds = argo_profiles(("R", "R"))
    ds["TEMP"] = (ds.TEMP + 273.15).assign_attrs(units="degree_Celsius")
    with pytest.raises(UnitsError, match="kelvin"):
        from_argo(ds)


@pytest.mark.parametrize("name", ["TEMP", "TEMP_ADJUSTED"])
def test_argo_kelvin_without_units_names_the_argo_variable(name):
    ds = argo_profiles(("D", "D"))
    ds[name] = ds[name] + 273.15  # no units attribute: the Argo convention (°C) is assumed
    with pytest.raises(UnitsError, match=rf"^{name} has no 'units'.*looks like kelvin") as err:
        from_argo(ds)
    assert f"set ds.{name}.attrs['units'] = 'K'" in str(err.value)
    assert "thetao" not in str(err.value)


def test_argo_levels_with_negative_pressure_are_dropped_and_counted():
    """Argo's real-time QC flags only PRES < -2.4 dbar: -2.3 dbar with QC '1' is good data."""
    ds = argo_profiles(("R", "R"))
    pres = ds.PRES.values.copy()
    pres[0, 0], pres[1, 0] = -2.3, -0.5
    ds["PRES"] = (ds.PRES.dims, pres)
    ds["TEMP"] = ds.TEMP + np.array([[0.0], [1.0]])  # two different profiles
    out = from_argo(ds)
    t = check_invariant(out)
    assert t["levels_rejected_above_surface"] == 2 and t["profiles_used"] == 2
    assert t["levels_rejected_out_of_range"] == 0
    depth, theta0 = expected(PRES[1:], TEMP[1:], PSAL[1:])
    theta1 = expected(PRES[1:], TEMP[1:] + 1.0, PSAL[1:])[1]
    assert np.isnan(out.depth.values[:, 0]).all() and np.isnan(out.thetao.values[:, 0]).all()
    np.testing.assert_allclose(out.depth.values[:, 1:], [depth, depth], rtol=1e-12)
    np.testing.assert_allclose(out.thetao.values[:, 1:], [theta0, theta1], rtol=1e-12)
