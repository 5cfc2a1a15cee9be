"""Resume is tamper-evident: a changed target field, model card or climatology is refused, a
damaged or missing block is computed again, and a malformed manifest is one line at the CLI."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

from xdepthdif import cli
from xdepthdif.batch import manifest as xmanifest
from xdepthdif.batch.fingerprint import fingerprint
from xdepthdif.batch.manifest import BatchError, block_problems, read_manifest, verify_store
from xdepthdif.batch.store import run_batch
from xdepthdif.sources.atlas import atlas_sha256

TIMES = ["2020-01-15", "2020-02-15", "2020-03-15", "2020-04-15"]
NAMES = ["obs_count", "thetao", "thetao_sd"]


def with_sst(target: xr.Dataset) -> xr.Dataset:
    lat, lon = target["lat"].values, target["lon"].values
    sst = 28.0 - 0.3 * np.abs(lat)[None, :, None] + 0.0 * lon[None, None, :]
    sst = (
        np.repeat(sst, target.sizes["time"], axis=0)
        + np.arange(target.sizes["time"])[:, None, None]
    )
    attrs = {"standard_name": "sea_surface_temperature", "units": "degC"}
    return target.assign(sst=(("time", "lat", "lon"), sst, attrs))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A target with an SST field, profiles, and the uninterrupted store."""
    base = tmp_path_factory.mktemp("resume")
    target = with_sst(make_target(times=TIMES))
    profiles = make_profiles(n=80, times=TIMES)
    target.to_netcdf(base / "target.nc")
    profiles.to_netcdf(base / "obs.nc")
    full = base / "full.zarr"
    run_batch(target, profiles, full)
    return {"target": target, "profiles": profiles, "full": full, "base": base}


def copy_store(run, tmp_path, keep_blocks=None) -> Path:
    out = tmp_path / "copy.zarr"
    shutil.copytree(run["full"], out)
    if keep_blocks is not None:
        manifest = read_manifest(out)
        manifest["blocks"] = manifest["blocks"][:keep_blocks]  # as if killed after them
        xmanifest._write_manifest(out, manifest)
    return out


def assert_equal_to_full(out, full):
    a, b = xr.open_zarr(out).load(), xr.open_zarr(full).load()
    for name in NAMES:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name
    assert [e["sha256"] for e in read_manifest(out)["blocks"]] == [
        e["sha256"] for e in read_manifest(full)["blocks"]
    ]


def cli_args(run, out, *extra):
    target, obs = str(run["base"] / "target.nc"), str(run["base"] / "obs.nc")
    return ["reconstruct", "--target", target, "--obs", obs, "--out", str(out), *extra]


def one_line(capsys, code, kind):
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"xdepthdif reconstruct: {kind}: "), err
    return err


# ----------------------------------------------------------------------------- fingerprint
def test_an_sst_edit_after_a_kill_is_refused_naming_the_steps(run, tmp_path):
    out = copy_store(run, tmp_path, keep_blocks=1)
    edited = run["target"].copy(deep=True)
    edited["sst"][1:] = edited["sst"][1:] + 5.0  # the blocks not yet written
    before = read_manifest(out)
    with pytest.raises(BatchError, match=r"changed at time step\(s\) 1, 2, 3 since") as info:
        run_batch(edited, run["profiles"], out)
    assert "--overwrite" in str(info.value)
    assert read_manifest(out) == before
    res = run_batch(run["target"], run["profiles"], out)  # the original target resumes
    assert res.computed == (1, 2, 3)
    assert_equal_to_full(out, run["full"])


def test_target_steps_are_hashed_one_chunk_at_a_time(run):
    fp = read_manifest(run["full"])["fingerprint"]
    assert len(fp["target_steps_sha256"]) == len(TIMES)
    lazy = run["target"].chunk({"time": 3})
    assert fingerprint_of(lazy, run)["target_steps_sha256"] == fp["target_steps_sha256"]
    assert fp["climatology_sha256"] == atlas_sha256() and fp["model_card_sha256"] is None


def fingerprint_of(target, run, **options):
    import xdepthdif

    result = xdepthdif.reconstruct(target, run["profiles"], **options)
    return fingerprint(result, run["profiles"], target, options)


def test_a_changed_climatology_is_refused(run, tmp_path):
    out = copy_store(run, tmp_path, keep_blocks=2)
    manifest = read_manifest(out)
    manifest["fingerprint"]["climatology_sha256"] = "0" * 64
    xmanifest._write_manifest(out, manifest)
    with pytest.raises(BatchError, match="climatology_sha256 was '0000"):
        run_batch(run["target"], run["profiles"], out)


def test_a_store_of_an_older_manifest_format_is_refused_then_overwritten(run, tmp_path):
    out = copy_store(run, tmp_path)
    manifest = read_manifest(out)
    manifest["format"] = "xdepthdif-batch-manifest/1"
    xmanifest._write_manifest(out, manifest)
    with pytest.raises(BatchError, match="written by another version of xdepthdif"):
        run_batch(run["target"], run["profiles"], out)
    assert run_batch(run["target"], run["profiles"], out, overwrite=True).computed == (0, 1, 2, 3)


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
@pytest.mark.parametrize("window", ["month", None])
def test_the_default_window_given_explicitly_resumes(run, tmp_path, window):
    out = copy_store(run, tmp_path, keep_blocks=2)  # started with the default window
    assert read_manifest(out)["fingerprint"]["window"] is None  # as earlier versions wrote it
    res = run_batch(run["target"], run["profiles"], out, window=window)
    assert res.resumed and res.computed == (2, 3)
    assert_equal_to_full(out, run["full"])
    with pytest.raises(BatchError, match="window was 'month', now '10D'"):
        run_batch(run["target"], run["profiles"], out, window="10D")


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
def test_a_store_started_with_window_month_resumes_with_the_default(run, tmp_path):
    out = tmp_path / "month.zarr"
    run_batch(run["target"].isel(time=[0, 1]), run["profiles"], out, window="month")
    assert read_manifest(out)["fingerprint"]["window"] == "month"
    assert run_batch(run["target"].isel(time=[0, 1]), run["profiles"], out).computed == ()


# ---------------------------------------------------------------------------- damaged blocks
def chunk_files(out: Path, name: str, step: int) -> list[Path]:
    return sorted(p for p in (out / name / "c" / str(step)).rglob("*") if p.is_file())


@pytest.mark.parametrize("damage", ["deleted", "zeros", "garbage"])
def test_a_damaged_block_is_found_and_computed_again(run, tmp_path, damage, capsys):
    out = copy_store(run, tmp_path)
    files = chunk_files(out, "thetao", 2)
    assert files
    if damage == "deleted":
        files[0].unlink()
    elif damage == "zeros":
        zeros = xr.zeros_like(xr.open_zarr(out)[NAMES].isel(time=slice(2, 3)).load())
        zeros.drop_vars(list(zeros.coords)).to_zarr(out, region={"time": slice(2, 3)})
    else:
        files[0].write_bytes(b"\x28\xb5\x2f\xfd not a zstd frame" * 8)
    problems = block_problems(out, read_manifest(out))
    assert list(problems) == [2]
    if damage == "garbage":
        assert problems[2].startswith("cannot be decoded")
    assert verify_store(out) == [2]  # reports, never crashes
    assert cli.main(cli_args(run, out)) == 0
    assert "block 2 of" in capsys.readouterr().out
    assert verify_store(out) == []
    assert_equal_to_full(out, run["full"])


def test_unreadable_zarr_metadata_is_a_typed_error_naming_the_repair(run, tmp_path, capsys):
    out = copy_store(run, tmp_path)
    (out / "zarr.json").write_text("{ not json")
    for meta in out.rglob("zarr.json"):
        meta.write_text("{ not json")
    with pytest.raises(BatchError, match="cannot be opened as a zarr store"):
        verify_store(out)
    err = one_line(capsys, cli.main(cli_args(run, out)), "BatchError")
    assert "--overwrite" in err


# ------------------------------------------------------------------------- bad manifests
def _edit(manifest: dict, how: str) -> str:
    if how == "truncated":
        return json.dumps(manifest)[:300]
    if how == "no layout":
        manifest.pop("layout")
    elif how == "time_block":
        manifest["layout"]["time_block"] = 2
    elif how == "block without sha256":
        del manifest["blocks"][1]["sha256"]
    elif how == "a list":
        manifest = [manifest]
    return json.dumps(manifest)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "cannot be read as JSON"),
        ("no layout", "lacks layout"),
        ("time_block", "says n_blocks 4, but 4 time steps in blocks of 2 make 2"),
        ("block without sha256", "blocks[1] without sha256"),
        ("a list", "is a JSON list, not an object"),
    ],
)
def test_a_malformed_manifest_is_one_line_naming_the_fix(run, tmp_path, capsys, how, message):
    out = copy_store(run, tmp_path)
    path = xmanifest.manifest_path(out)
    path.write_text(_edit(json.loads(path.read_text()), how))
    err = one_line(capsys, cli.main(cli_args(run, out)), "BatchError")
    assert message in err
    assert "Restore the manifest, or rerun the command with --overwrite" in err
    assert cli.main(cli_args(run, out, "--overwrite", "--quiet")) == 0
    assert verify_store(out) == []


def test_an_edited_block_range_is_refused(run, tmp_path, capsys):
    out = copy_store(run, tmp_path)
    manifest = read_manifest(out)
    manifest["blocks"][1]["stop"] = 3
    xmanifest._write_manifest(out, manifest)
    err = one_line(capsys, cli.main(cli_args(run, out)), "BatchError")
    assert "records block 1 as time steps [1, 3)" in err
