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


@pytest.fixture
def obs_file(tmp_path):
    make_profiles().to_netcdf(tmp_path / "o.nc")
    return str(tmp_path / "o.nc")


def reconstruct(tmp_path, target, obs, *extra):
    return cli.main(["reconstruct", "--target", target, "--obs", obs,
                     "--out", str(tmp_path / "x.zarr"), "--quiet", *extra])  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "sample/synthetic_ocean?monthz=2",
            "sample/synthetic_ocean: monthz is not a parameter of this entry; it takes start, "
            "months, resolution, split, seed, chunks",
        ),
        (
            "sample/synthetic_ocean?months=1&resolution=10&split=bogus",
            "sample/synthetic_ocean: split='bogus' is not accepted; it takes train, test.",
        ),
        (
            "sample/synthetic_ocean?months=1&resolution=10&chunks=5",
            "sample/synthetic_ocean: chunks=5 is not a mapping of dimension names to chunk sizes",
        ),
        (
            "ostia/ostia_l4?start=notadate",
            "ostia/ostia_l4: start='notadate' is not a date",
        ),
        (
            "sample/synthetic_ocean?months",
            "sample/synthetic_ocean: the catalog query item 'months' is not key=value; write e.g. "
            "sample/synthetic_ocean?months=3",
        ),
    ],
)
def test_catalog_queries_that_do_not_fit_are_one_line(tmp_path, capsys, obs_file, spec, message):
    err = one_line(capsys, reconstruct(tmp_path, spec, obs_file), "CatalogError")
    assert message in err
    assert "--option" not in err


@pytest.mark.parametrize("which", ["target", "obs"])
def test_inputs_that_are_not_netcdf_or_zarr_are_one_line(tmp_path, capsys, which):
    make_target().to_netcdf(tmp_path / "t.nc")
    make_profiles().to_netcdf(tmp_path / "o.nc")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "empty.zarr").mkdir()
    for bad, found in [("notes.txt", "a file that no installed xarray backend can read"),
                       ("empty.zarr", "a folder without zarr metadata")]:  # fmt: skip
        paths = {"target": str(tmp_path / "t.nc"), "obs": str(tmp_path / "o.nc")}
        paths[which] = str(tmp_path / bad)
        err = one_line(capsys, reconstruct(tmp_path, paths["target"], paths["obs"]),
                       "FileFormatError")  # fmt: skip
        assert f"{which} '{tmp_path / bad}' is {found}" in err
        assert "give a netCDF (.nc) file, a zarr store" in err


def test_an_existing_path_with_brackets_is_a_path_not_a_glob(tmp_path, capsys, obs_file):
    target = tmp_path / "tgt[1].nc"
    make_target().to_netcdf(target)
    assert reconstruct(tmp_path, str(target), obs_file) == 0, capsys.readouterr().err
    from xdepthdif.batch.inputs import input_paths

    assert input_paths(str(target)) == [str(target)]


@pytest.mark.parametrize(
    ("address", "found"),
    [("notanaddress", "missing port number"), ("tcp://127.0.0.1:1", "Timed out")],
)
def test_a_scheduler_that_cannot_be_reached_is_one_line(tmp_path, capsys, obs_file, address, found):
    import dask

    make_target().to_netcdf(tmp_path / "t.nc")
    before = dask.config.get("scheduler", None)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = reconstruct(tmp_path, str(tmp_path / "t.nc"), obs_file, "--scheduler", address)
    assert dask.config.get("scheduler", None) == before  # later work still runs locally
    err = one_line(capsys, code, "BatchError")
    assert f"cannot connect to the dask scheduler --scheduler '{address}' ({found}" in err
    assert "as tcp://HOST:PORT" in err and "leave --scheduler out" in err


@pytest.mark.parametrize(
    ("option", "flag"), [("method=diffusion", "--method"), ("time_block=2", "--time-block")]
)
def test_run_arguments_given_as_options_are_refused(tmp_path, capsys, obs_file, option, flag):
    make_target().to_netcdf(tmp_path / "t.nc")
    code = reconstruct(tmp_path, str(tmp_path / "t.nc"), obs_file, "--option", option)
    err = one_line(capsys, code, "BatchError")
    key = option.partition("=")[0]
    assert f"Option(s) ['{key}'] do not apply as --option KEY=VALUE" in err
    assert f"give them with their own flag ({flag})" in err
    assert not (tmp_path / "x.zarr").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--months", "0"], "argument --months: must be an integer >= 1, got 0"),
        (["--fraction", "0"], "argument --fraction: must be a number > 0 and <= 1, got 0.0"),
        (["--fraction", "1.5"], "argument --fraction: must be a number > 0 and <= 1, got 1.5"),
        (["--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
    ],
)
def test_demo_arguments_are_checked_before_it_runs(tmp_path, capsys, argv, message):
    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as stop:
        cli.main(["demo", "--out", str(out), "--quiet", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"xdepthdif demo: error: {message}" in err and "Traceback" not in err
    assert not out.exists()
