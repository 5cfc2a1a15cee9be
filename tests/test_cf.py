"""CF 1.8 compliance of written analyses, checked by the IOOS compliance checker."""

import json

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

import xdepthdif


def cf_failures(path, tmp_path):
    """Every CF 1.8 check that did not fully pass, as (name, messages)."""
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite.load_all_available_checkers()
    report = tmp_path / "report.json"
    ComplianceChecker.run_checker(
        str(path),
        ["cf:1.8"],
        verbose=0,
        criteria="lenient",
        output_filename=str(report),
        output_format="json",
    )
    result = json.loads(report.read_text())["cf:1.8"]
    failures = []
    for priority in ("high_priorities", "medium_priorities", "low_priorities"):
        for check in result[priority]:
            passed, total = check["value"]
            if passed < total:
                failures.append((check["name"], check["msgs"]))
    assert result["scored_points"] > 50, "the checker ran too few checks"
    return failures


@pytest.mark.parametrize("lon", [np.arange(-30.0, -1.0, 2.0), np.arange(330.0, 359.0, 2.0)])
def test_written_analysis_passes_cf_1_8(tmp_path, lon):
    target = make_target(lon=lon)
    result = target.depthdif.reconstruct(obs=make_profiles(lon_range=(-30, -2)))
    path = tmp_path / "analysis.nc"
    result.to_netcdf(path)
    assert cf_failures(path, tmp_path) == []


def test_written_ensemble_members_pass_cf_1_8(tmp_path):
    """``keep_members=True`` adds ``thetao_members`` and a ``realization`` axis, described
    and typed as CF 1.8 asks (no 64-bit integers)."""
    pytest.importorskip("torch")
    times = ("2020-01-15",)
    target = make_target(lat=np.arange(-8.0, 9.0, 4.0), lon=np.arange(-20.0, -3.0, 4.0),
                         depth=[5.0, 100.0], times=times)  # fmt: skip
    obs = make_profiles(n=20, times=times, lat_range=(-8, 8), lon_range=(-22, -2))
    ens = target.depthdif.reconstruct(
        obs=obs, method="diffusion", members=2, steps=3, keep_members=True
    )
    path = tmp_path / "ensemble.nc"
    ens.to_netcdf(path)
    raw = xr.open_dataset(path, decode_times=False, mask_and_scale=False)
    assert raw["thetao_members"].attrs["units"] == "degC"
    assert raw["realization"].dtype == np.int32
    assert raw["realization"].attrs["standard_name"] == "realization"
    assert raw.attrs["comment"].startswith("thetao is the ensemble mean")
    assert cf_failures(path, tmp_path) == []


def test_written_file_has_float_time_bounds_and_no_fill_on_coordinates(tmp_path, target):
    path = tmp_path / "analysis.nc"
    target.depthdif.reconstruct(obs=make_profiles()).to_netcdf(path)
    raw = xr.open_dataset(path, decode_times=False, mask_and_scale=False)
    assert raw["time"].dtype == np.float64
    assert raw["time"].attrs["units"].startswith("days since")
    assert raw["time"].attrs["bounds"] == "time_bnds"
    for name in ("time", "depth", "lat", "lon", "time_bnds", "depth_bnds", "lat_bnds", "lon_bnds"):
        assert "_FillValue" not in raw[name].attrs, name
    assert raw["depth"].attrs["positive"] == "down"
    assert raw.attrs["Conventions"] == "CF-1.8"
    for key in (
        "history",
        "source",
        "xdepthdif_version",
        "xdepthdif_method",
        "algorithm_version",
        "oi_length_scale_km",
        "profiles_used",
    ):
        assert key in raw.attrs, key
    # Monthly bounds enclose each time.
    bnds = raw["time_bnds"].values
    assert (bnds[:, 0] < raw["time"].values).all() and (raw["time"].values < bnds[:, 1]).all()
    np.testing.assert_allclose(np.diff(bnds, axis=1).ravel(), [31, 29, 31])


def test_fields_are_written_as_float32_and_compress_on_request(tmp_path, target):

    result = target.depthdif.reconstruct(obs=make_profiles()).compute()
    assert result["thetao"].dtype == np.float64  # computed in float64
    plain, packed = tmp_path / "plain.nc", tmp_path / "packed.nc"
    result.to_netcdf(plain)
    result.to_netcdf(packed, encoding=xdepthdif.cf.compressed(result))
    for path in (plain, packed):
        raw = xr.open_dataset(path, mask_and_scale=False)
        assert raw["thetao"].dtype == raw["thetao_sd"].dtype == np.float32
        assert raw["obs_count"].dtype == np.int16
        back = xr.open_dataset(path)
        np.testing.assert_allclose(back["thetao"], result["thetao"], rtol=1e-6)
        np.testing.assert_array_equal(np.isnan(back["thetao"]), np.isnan(result["thetao"]))
    with xr.open_dataset(packed) as back:
        assert back["thetao"].encoding["zlib"] and back["thetao"].encoding["complevel"] == 4
    store = tmp_path / "packed.zarr"
    result.to_zarr(store, encoding=xdepthdif.cf.compressed(result, "zarr"), consolidated=False)
    back = xr.open_zarr(store, consolidated=False)
    assert back["thetao"].dtype == np.float32
    assert "zstd" in repr(back["thetao"].encoding["compressors"])
    with pytest.raises(ValueError, match="backend"):
        xdepthdif.cf.compressed(result, "grib")
