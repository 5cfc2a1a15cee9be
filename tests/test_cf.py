"""CF 1.8 compliance of written analyses, checked by the IOOS compliance checker."""

import json

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target


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
