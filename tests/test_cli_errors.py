"""Inputs that used to crash with a traceback: times with time zones or as text, catalog
parameters out of range; each is one line ``<ErrorType>: <message>`` at the command line."""

import datetime as dt

import numpy as np
import pytest
from conftest import make_profiles, make_target

import xdepthdif
from xdepthdif import cli
from xdepthdif.errors import GridError
from xdepthdif.sources.catalog import CatalogError


def one_line(capsys, code, kind):
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"xdepthdif reconstruct: {kind}: "), err
    return err


def test_times_with_mixed_time_zones_are_a_grid_error():
    plus_one = dt.timezone(dt.timedelta(hours=1))
    times = [dt.datetime(2020, 1, 15, tzinfo=dt.UTC), dt.datetime(2020, 2, 15, tzinfo=plus_one)]
    target = make_target(times=["2020-01-15", "2020-02-15"])
    target = target.assign_coords(time=("time", np.array(times, dtype=object)))
    with pytest.raises(GridError, match=r"2 UTC offsets \(0:00:00, 1:00:00\).*utc=True"):
        xdepthdif.reconstruct(target, make_profiles())


def test_times_as_text_with_zones_are_one_line_at_the_cli(tmp_path, capsys):
    stamps = ["2020-01-15T00:00:00+01:00", "2020-02-15T00:00:00Z", "2020-03-15T00:00:00-05:00"]
    target = make_target().assign_coords(time=("time", stamps))
    target.to_netcdf(tmp_path / "t.nc")
    make_profiles().to_netcdf(tmp_path / "o.nc")
    args = ["reconstruct", "--target", str(tmp_path / "t.nc"), "--obs", str(tmp_path / "o.nc")]
    err = one_line(capsys, cli.main([*args, "--out", str(tmp_path / "x.zarr")]), "GridError")
    assert "holds text ('2020-01-15T00:00:00+01:00'), not dates" in err
    assert "pd.to_datetime" in err


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("months=-3", "months=-3 is out of range: it must be >= 1"),
        ("months=0", "months=0 is out of range"),
        ("resolution=0", "resolution=0 is out of range: it must be > 0 and <= 30"),
        ("resolution=400", "resolution=400 is out of range"),
        ("months=abc", "months='abc' is not an integer"),
        ("start=2020-13", "start='2020-13' is not a month"),
    ],
)
def test_catalog_parameters_out_of_range_are_one_line(tmp_path, capsys, query, message):
    make_profiles().to_netcdf(tmp_path / "o.nc")
    args = ["reconstruct", "--target", f"sample/synthetic_ocean?{query}&resolution=10"]
    if "resolution" in query:
        args[-1] = f"sample/synthetic_ocean?{query}&months=2"
    args += ["--obs", str(tmp_path / "o.nc"), "--out", str(tmp_path / "x.zarr")]
    err = one_line(capsys, cli.main(args), "CatalogError")
    assert f"sample/synthetic_ocean: {message}" in err
    assert issubclass(CatalogError, xdepthdif.errors.InputError)
