"""The restartable batch command: template + region writes + manifest, resume after SIGKILL,
refusal of a different run, progress output."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

import xdepthdif
from xdepthdif import cli
from xdepthdif.batch import inputs as xinputs
from xdepthdif.batch import manifest as xmanifest
from xdepthdif.batch import store as xstore
from xdepthdif.batch.manifest import BatchError, read_manifest, verify_store
from xdepthdif.batch.store import run_batch
from xdepthdif.obs import read_en4, write_en4_months

TIMES12 = [f"2020-{m:02d}-15" for m in range(1, 13)]
TIMES3 = TIMES12[:3]


def _inputs(directory, times, n=120, seed=0):
    directory.mkdir(parents=True, exist_ok=True)
    target = make_target(times=times)
    profiles = make_profiles(n=n, seed=seed, times=times)
    target.to_netcdf(directory / "target.nc")
    profiles.to_netcdf(directory / "obs.nc")
    return target, profiles, str(directory / "target.nc"), str(directory / "obs.nc")


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """Twelve monthly steps, written to netCDF, and their uninterrupted batch run."""
    base = tmp_path_factory.mktemp("year")
    target, profiles, tpath, opath = _inputs(base, TIMES12)
    full = str(base / "full.zarr")
    args = ["reconstruct", "--target", tpath, "--obs", opath, "--out", full, "--quiet"]
    assert cli.main(args) == 0
    return {"target": target, "profiles": profiles, "t": tpath, "o": opath, "full": full}


@pytest.fixture
def small(tmp_path):
    target, profiles, tpath, opath = _inputs(tmp_path / "in", TIMES3, n=60)
    return {"target": target, "profiles": profiles, "t": tpath, "o": opath, "dir": tmp_path}


def _args(inputs, out, *extra):
    return ["reconstruct", "--target", inputs["t"], "--obs", inputs["o"], "--out", out, *extra]


def assert_stores_equal(a, b):
    """Every variable bitwise equal (NaNs included); attributes equal but for the timestamp."""
    da, db = xr.open_zarr(a).load(), xr.open_zarr(b).load()
    assert sorted(da.variables) == sorted(db.variables)
    for name in da.variables:
        np.testing.assert_array_equal(da[name].values, db[name].values)
        assert da[name].values.dtype == db[name].values.dtype
        assert da[name].values.tobytes() == db[name].values.tobytes(), name
        assert da[name].attrs == db[name].attrs
    drop = {"history"}
    assert {k: v for k, v in da.attrs.items() if k not in drop} == {
        k: v for k, v in db.attrs.items() if k not in drop
    }
    ma, mb = read_manifest(a), read_manifest(b)
    assert [e["sha256"] for e in ma["blocks"]] == [e["sha256"] for e in mb["blocks"]]
    assert ma["fingerprint"] == mb["fingerprint"]


def test_uninterrupted_run_matches_reconstruct(year):
    store = xr.open_zarr(year["full"])
    assert store["thetao"].encoding["chunks"] == (1, 5, 11, 15)
    expected = xdepthdif.reconstruct(year["target"], year["profiles"]).compute()
    for name in ("thetao", "thetao_sd"):  # as written
        expected[name] = expected[name].astype("float32")
    got = store.compute()
    attrs = {k: v for k, v in expected.attrs.items() if k != "history"}
    assert {k: v for k, v in got.attrs.items() if k != "history"} == attrs
    got.attrs, expected.attrs = {}, {}
    xr.testing.assert_identical(got, expected)

    manifest = read_manifest(year["full"])
    assert manifest["format"] == "xdepthdif-batch-manifest/2"
    assert [e["index"] for e in manifest["blocks"]] == list(range(12))
    assert manifest["layout"] == {
        "time_dim": "time",
        "n_times": 12,
        "time_block": 1,
        "n_blocks": 12,
        "variables": ["obs_count", "thetao", "thetao_sd"],
    }
    assert manifest["tally"]["profiles_used"] == store.attrs["profiles_used"] > 0
    fp = manifest["fingerprint"]
    assert fp["method"] == "oi" and fp["config"]["oi_obs_error"] == "default"  # fitted
    assert len(fp["observations_sha256"]) == len(fp["target_sha256"]) == 64
    for entry in manifest["blocks"]:
        block = expected[["obs_count", "thetao", "thetao_sd"]].isel(
            time=slice(entry["start"], entry["stop"])
        )
        assert entry["sha256"] == xmanifest.block_checksum(block)
        assert entry["obs_count_sum"] == int(block["obs_count"].sum())
    assert verify_store(year["full"]) == []


def _signal_cli_after(inputs, out: str, blocks: int, sig: int) -> tuple[int, str]:
    """Run ``xdepthdif reconstruct`` in a subprocess (blocks slowed down), send ``sig`` once its
    manifest records ``blocks`` blocks; return its exit code and stderr."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **{xstore.DELAY_ENV: "0.4"})
    cmd = [sys.executable, "-m", "xdepthdif.cli", *_args(inputs, out, "--quiet")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    manifest_file = xmanifest.manifest_path(out)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = manifest_file.is_file() and json.loads(manifest_file.read_text())["blocks"]
            if done and len(done) >= blocks:
                os.kill(proc.pid, sig)
                break
            time.sleep(0.02)
    finally:
        _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


def test_sigkill_then_resume_equals_uninterrupted(year, tmp_path, capsys):
    out = str(tmp_path / "killed.zarr")
    code, err = _signal_cli_after(year, out, 2, signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    done_before = [e["index"] for e in read_manifest(out)["blocks"]]
    assert 2 <= len(done_before) < 12

    capsys.readouterr()
    assert cli.main(_args(year, out)) == 0
    printed = capsys.readouterr().out
    assert f"resuming {out}: {len(done_before)} of 12 blocks already written" in printed
    assert printed.count("ETA") == 12 - len(done_before)
    assert_stores_equal(out, year["full"])
    assert verify_store(out) == []


def test_block_written_but_not_recorded_is_recomputed(year, tmp_path):
    out = tmp_path / "partial.zarr"
    shutil.copytree(year["full"], out)
    manifest = read_manifest(out)
    manifest["blocks"] = manifest["blocks"][:-3]
    xmanifest._write_manifest(out, manifest)
    garbage = xr.open_zarr(out)[["obs_count", "thetao", "thetao_sd"]].isel(time=slice(9, 12))
    garbage = xr.full_like(garbage.load(), 7)
    garbage.drop_vars(list(garbage.coords)).to_zarr(out, region={"time": slice(9, 12)})
    assert verify_store(out) == []  # the corrupted blocks are not in the manifest
    res = run_batch(year["target"], year["profiles"], out)
    assert res.resumed and res.computed == (9, 10, 11)
    assert_stores_equal(out, year["full"])


def test_stale_template_staging_is_replaced(small):
    out = small["dir"] / "o.zarr"
    staging = small["dir"] / ("o.zarr" + xstore._PARTIAL_SUFFIX)
    staging.mkdir()
    (staging / "zarr.json").write_text("{ truncated")
    assert cli.main(_args(small, str(out), "--quiet")) == 0
    assert not staging.exists()
    assert verify_store(out) == [] and len(read_manifest(out)["blocks"]) == 3


def test_other_run_is_refused_overwrite_starts_over(small, capsys):
    out = str(small["dir"] / "r.zarr")
    assert cli.main(_args(small, out, "--quiet")) == 0
    first = read_manifest(out)

    assert cli.main(_args(small, out, "--option", "length_scale_km=500")) == 1
    err = capsys.readouterr().err
    assert "BatchError" in err and "--overwrite" in err and "--out" in err
    assert "config.oi_length_scale_km was 'default', now 500" in err

    other = small["dir"] / "other_obs.nc"
    make_profiles(n=60, seed=1, times=TIMES3).to_netcdf(other)
    with pytest.raises(BatchError, match="observations_sha256 was"):
        run_batch(small["target"], xr.open_dataset(other), out)
    other_target = small["target"].copy(deep=True)
    other_target["sea_mask"][5, 5] = 0
    with pytest.raises(BatchError, match="target_sha256 was") as info:
        run_batch(other_target, small["profiles"], out)
    assert "observations_sha256" not in str(info.value)
    with pytest.raises(BatchError, match="method was 'oi', now 'diffusion'"):
        xmanifest._check_fingerprint(out, first, dict(first["fingerprint"], method="diffusion"))
    assert read_manifest(out) == first  # refusals change nothing

    args = _args(small, out, "--option", "length_scale_km=500", "--overwrite", "--quiet")
    assert cli.main(args) == 0
    second = read_manifest(out)
    assert second["fingerprint"]["config"]["oi_length_scale_km"] == 500
    assert [e["sha256"] for e in second["blocks"]] != [e["sha256"] for e in first["blocks"]]
    expected = xdepthdif.reconstruct(small["target"], small["profiles"], length_scale_km=500)
    np.testing.assert_array_equal(xr.open_zarr(out)["thetao"], expected["thetao"].astype("f4"))


def test_foreign_directory_is_refused(small):
    out = small["dir"] / "notastore"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(BatchError, match=r"holds no xdepthdif_manifest\.json"):
        run_batch(small["target"], small["profiles"], out)
    with pytest.raises(BatchError, match="--overwrite refuses to remove"):
        run_batch(small["target"], small["profiles"], out, overwrite=True)
    assert (out / "precious.txt").read_text() == "keep me"


def test_the_array_library_is_a_batch_option(small):
    """``array_library`` passes through a batch run to the kernels (here the array API's
    reference library on the CPU) and gives the numpy analysis."""
    out = small["dir"] / "strict.zarr"
    run_batch(small["target"], small["profiles"], out, array_library="array_api_strict")
    assert read_manifest(out)["fingerprint"]["array_library"] == "array_api_strict"
    expected = xdepthdif.reconstruct(small["target"], small["profiles"])
    np.testing.assert_allclose(
        xr.open_zarr(out)["thetao"], expected["thetao"].astype("f4"), rtol=1e-6, atol=1e-6
    )


def test_bad_options_are_typed_errors(small, capsys):
    out = str(small["dir"] / "x.zarr")
    assert cli.main(_args(small, out, "--option", "oops")) == 1
    assert "BatchError: --option 'oops' is not KEY=VALUE" in capsys.readouterr().err
    assert cli.main(_args(small, out, "--members", "4")) == 1
    assert "BatchError: Option(s) ['members'] do not apply to --method oi" in (
        capsys.readouterr().err
    )
    assert not os.path.exists(out)


def test_quiet_prints_nothing_default_prints_progress(year, tmp_path, capsys):
    capsys.readouterr()
    quiet = str(tmp_path / "q.zarr")
    assert cli.main(_args(year, quiet, "--quiet", "--time-block", "5")) == 0
    assert capsys.readouterr() == ("", "")

    loud = str(tmp_path / "l.zarr")
    assert cli.main(_args(year, loud, "--time-block", "5")) == 0
    lines = capsys.readouterr().out.splitlines()
    progress = [line for line in lines if "ETA" in line]
    assert [line.split()[1] for line in progress] == ["1/3", "2/3", "3/3"]
    assert all("s/block" in line for line in progress)
    assert lines[0].startswith(f"writing {loud}: 3 blocks of 5 time step(s)")
    assert lines[-1].startswith(f"done: 3/3 blocks in {Path(loud).resolve()} (")
    manifest = read_manifest(loud)
    assert [(e["start"], e["stop"]) for e in manifest["blocks"]] == [(0, 5), (5, 10), (10, 12)]
    a, b = xr.open_zarr(loud).load(), xr.open_zarr(year["full"]).load()
    for name in ("thetao", "thetao_sd", "obs_count"):  # blocks do not change the numbers
        assert a[name].values.tobytes() == b[name].values.tobytes()


def test_progress_on_a_terminal_rewrites_one_line(small):
    class Terminal:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

        def isatty(self):
            return True

    term = Terminal()
    run_batch(small["target"], small["profiles"], small["dir"] / "t.zarr", quiet=False, stream=term)
    assert term.text.count("\r") == 3 and term.text.count("ETA") == 3
    assert term.text.count("\n") == 3  # header, the progress line once finished, done


def test_en4_input_and_scheduler(small, tmp_path):
    distributed = pytest.importorskip("distributed")
    en4_dir = tmp_path / "en4"
    write_en4_months(small["profiles"], en4_dir)
    pattern = str(en4_dir / "EN.4.2.2.f.profiles.g10.*.nc")
    out = str(tmp_path / "e.zarr")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        args = ["reconstruct", "--target", small["t"], "--obs", pattern, "--out", out]
        assert cli.main([*args, "--quiet", "--scheduler", cluster.scheduler_address]) == 0
        assert cluster.scheduler.task_prefixes  # the blocks were computed on the cluster
    expected = xdepthdif.reconstruct(small["target"], read_en4(pattern)).compute()
    got = xr.open_zarr(out).compute()
    for name in ("thetao", "thetao_sd", "obs_count"):  # written as float32 and int16
        want = expected[name].values.astype(got[name].dtype)
        np.testing.assert_array_equal(got[name].values, want)
    assert read_manifest(out)["tally"]["profiles_used"] == expected.attrs["profiles_used"]


def test_zarr_obs_and_target_split_over_files(small, tmp_path):
    target, profiles = small["target"], small["profiles"]
    target.isel(time=slice(0, 2)).to_netcdf(tmp_path / "t_a.nc")
    target.isel(time=slice(2, 3)).to_netcdf(tmp_path / "t_b.nc")
    obs, out = str(tmp_path / "obs.zarr"), str(tmp_path / "z.zarr")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*onsolidated metadata")
        profiles.to_zarr(obs)
    args = ["reconstruct", "--target", str(tmp_path / "t_*.nc"), "--obs", obs, "--out", out]
    assert cli.main([*args, "--quiet"]) == 0
    expected = xdepthdif.reconstruct(target, profiles)
    for name in ("thetao", "thetao_sd", "obs_count"):  # written as float32 and int16
        got = xr.open_zarr(out)[name].values
        np.testing.assert_array_equal(got, expected[name].values.astype(got.dtype))


def test_target_and_obs_from_catalog_entries(tmp_path):
    """--target and --obs may name catalog entries, with reader arguments after '?'."""
    from xdepthdif.obs import SamplingPlan, sample_profiles
    from xdepthdif.prior.synthetic import synthetic_ocean

    spec = "sample/synthetic_ocean?start=2020-01&months=2&resolution=10"
    truth = synthetic_ocean(["2020-01-15", "2020-02-15"], resolution=10.0)
    profiles = sample_profiles(truth.thetao, SamplingPlan(fraction=0.2, seed=3))
    profiles.to_netcdf(tmp_path / "obs.nc")
    target, obs = xinputs.open_inputs(spec, str(tmp_path / "obs.nc"))
    np.testing.assert_array_equal(target.lat.values, truth.lat.values)
    assert target.sizes["time"] == 2 and target.thetao.chunks is not None
    assert obs.sizes["profile"] == profiles.sizes["profile"]
    with pytest.raises(xdepthdif.errors.ProfileLayoutError):  # a gridded entry is no profiles
        xinputs.open_inputs(spec, spec)
    out = tmp_path / "c.zarr"
    assert cli.main(["reconstruct", "--target", spec, "--obs", str(tmp_path / "obs.nc"),
                     "--out", str(out), "--quiet"]) == 0  # fmt: skip
    expected = truth.depthdif.reconstruct(obs=xr.open_dataset(tmp_path / "obs.nc")).compute()
    got = xr.open_zarr(out).compute()
    np.testing.assert_array_equal(got.thetao.values, expected.thetao.values.astype("float32"))
    with pytest.raises(xdepthdif.errors.InputError, match="no entry 'nope'"):
        xinputs.open_inputs("sample/nope", str(tmp_path / "obs.nc"))


def test_a_url_output_is_refused(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BatchError, match="is a URL"):
        run_batch(small["target"], small["profiles"], "s3://bucket/run.zarr")
    assert not (tmp_path / "s3:").exists()  # no local folder named after the scheme


def test_catalog_names_and_local_paths_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a glob under a missing folder named like a catalog: a clear error, not a catalog lookup
    with pytest.raises(xdepthdif.errors.InputError, match="is a glob"):
        xinputs.from_catalog("en4/EN.4.2.2.f.profiles.g10.*.nc")
    (tmp_path / "en4").mkdir()  # with the local folder, the same text is a path
    assert xinputs.from_catalog("en4/EN.4.2.2.f.profiles.g10.*.nc") is None
    # a URL in the query does not make a catalog spec a path
    with pytest.raises(xdepthdif.errors.InputError, match="no entry 'nope'"):
        xinputs.from_catalog("sample/nope?base_url=https://example.org/data")
    assert xinputs.from_catalog("https://example.org/sample/x.nc") is None


def test_ctrl_c_says_how_to_resume(small, tmp_path):
    out = str(tmp_path / "interrupted.zarr")
    code, err = _signal_cli_after(small, out, 1, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err and "again to resume" in err
    assert cli.main(_args(small, out, "--quiet")) == 0  # and it does resume


@pytest.mark.parametrize("option", ["length_scale_km=abc", "length_scale_km=-5", "max_obs=0"])
def test_invalid_option_values_are_one_line_at_the_cli(small, tmp_path, capsys, option):
    out = str(tmp_path / "bad.zarr")
    assert cli.main(_args(small, out, "--quiet", "--option", option)) == 1
    err = capsys.readouterr().err
    assert err.startswith("xdepthdif reconstruct: InputError: Invalid option")
    assert len(err.strip().splitlines()) == 1


def test_each_block_is_reported(small):
    from xdepthdif.progress import reporting

    seen = []
    with reporting(lambda *event: seen.append(event)):
        run_batch(small["target"], small["profiles"], small["dir"] / "p.zarr", time_block=1)
    assert seen == [("batch blocks", k, 3) for k in (1, 2, 3)]


def test_the_documented_netcdf_of_a_store_passes_cf_1_8(small, tmp_path):
    from test_cf import cf_failures

    out = tmp_path / "cf.zarr"
    run_batch(small["target"], small["profiles"], out)
    raw = tmp_path / "raw.nc"
    xr.open_zarr(out).to_netcdf(raw)
    assert any("_FillValue" in " ".join(msgs) for _, msgs in cf_failures(raw, tmp_path))
    # docs/batch.md, "What the store holds"
    ds = xr.open_zarr(out)
    for name in ds.coords:  # coordinates and their bounds
        ds[name].encoding["_FillValue"] = None
    ds.to_netcdf(tmp_path / "analysis.nc")
    assert cf_failures(tmp_path / "analysis.nc", tmp_path) == []
    docs = (Path(__file__).parents[1] / "docs" / "batch.md").read_text()
    assert 'ds[name].encoding["_FillValue"] = None' in docs
