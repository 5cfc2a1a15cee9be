"""What --overwrite may remove, the store's lock, a symbolic link as --out, and write errors
(full disk, read-only folder) told in one line at the command line."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr.storage._local as zarr_local
from conftest import make_profiles, make_target

from xdepthdif import cli
from xdepthdif.batch import manifest as xmanifest
from xdepthdif.batch import safety
from xdepthdif.batch import store as xstore
from xdepthdif.batch.manifest import BatchError, read_manifest, verify_store
from xdepthdif.batch.store import run_batch

TIMES3 = ["2020-01-15", "2020-02-15", "2020-03-15"]


@pytest.fixture
def small(tmp_path):
    """Three monthly steps: the target as netCDF and zarr, the profiles as netCDF and zarr."""
    base = tmp_path / "in"
    base.mkdir()
    target, profiles = make_target(times=TIMES3), make_profiles(n=60, times=TIMES3)
    paths = {"t": base / "target.nc", "tz": base / "target.zarr"}
    paths |= {"o": base / "obs.nc", "oz": base / "obs.zarr"}
    target.to_netcdf(paths["t"])
    target.to_zarr(paths["tz"])
    profiles.to_netcdf(paths["o"])
    profiles.to_zarr(paths["oz"])
    return {"target": target, "profiles": profiles, "dir": tmp_path} | {
        k: str(v) for k, v in paths.items()
    }


def _args(inputs, out, *extra, target="t", obs="o"):
    paths = ["--target", inputs[target], "--obs", inputs[obs], "--out", str(out)]
    return ["reconstruct", *paths, *extra]


def one_line_error(capsys, code: int, kind: str) -> str:
    """The one stderr line of a refused command, checked to name ``kind``."""
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"xdepthdif reconstruct: {kind}: "), err
    return err


def tree(path) -> dict:
    """Every file under ``path`` and its bytes."""
    path = Path(path)
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------ inputs are kept
@pytest.mark.parametrize(("target", "obs", "out_key"), [("tz", "o", "tz"), ("t", "oz", "oz")])
def test_overwrite_refuses_an_input_of_the_same_run(small, capsys, target, obs, out_key):
    before = tree(small[out_key])
    args = _args(small, small[out_key], "--overwrite", target=target, obs=obs)
    err = one_line_error(capsys, cli.main(args), "BatchError")
    assert "an input of this run" in err and "Choose another --out" in err
    assert tree(small[out_key]) == before  # nothing removed, nothing written


@pytest.mark.parametrize("where", ["inside", "contains"])
def test_out_inside_or_containing_an_input_is_refused(small, capsys, where):
    out = Path(small["tz"]) / "run.zarr" if where == "inside" else Path(small["o"]).parent
    before = tree(Path(small["o"]).parent)
    err = one_line_error(
        capsys, cli.main(_args(small, out, "--overwrite", target="tz")), "BatchError"
    )
    assert f"{where.replace('inside', 'lies inside')} " in err
    assert tree(Path(small["o"]).parent) == before


def test_inputs_opened_from_files_are_found_without_the_command_line(small):
    target = xr.open_zarr(small["tz"])
    with pytest.raises(BatchError, match="an input of this run"):
        run_batch(target, small["profiles"], small["tz"], overwrite=True)
    assert xr.open_zarr(small["tz"])["sea_mask"].sum() > 0


def test_out_a_model_folder_is_refused(small, tmp_path):
    pytest.importorskip("torch")
    from xdepthdif.prior.model import default_model_path

    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".safetensors", ".json"):
        src = default_model_path().with_suffix(suffix)
        (models / src.name).write_bytes(src.read_bytes())
    target = make_target(times=TIMES3, depth=[5.0, 50.0, 200.0])
    with pytest.raises(BatchError, match=r"contains .*conditional\.(safetensors|json), an input"):
        run_batch(
            target,
            small["profiles"],
            models,
            method="diffusion",
            model=str(models / "conditional.safetensors"),
            overwrite=True,
        )
    kept = sorted(p.name for p in models.iterdir())
    assert kept == ["conditional.json", "conditional.safetensors"]


# -------------------------------------------------------------------- only our own stores
def test_overwrite_refuses_a_folder_with_zattrs_beside_other_files(small, capsys):
    out = small["dir"] / "thesis"
    (out / "raw").mkdir(parents=True)
    (out / ".zattrs").write_text("{}")
    (out / "thesis.docx").write_bytes(b"chapter 1")
    (out / "raw" / "data.csv").write_text("1,2")
    before = tree(out)
    err = one_line_error(capsys, cli.main(_args(small, out, "--overwrite")), "BatchError")
    assert "--overwrite refuses to remove" in err and "nothing shows this tool wrote it" in err
    assert tree(out) == before


def test_overwrite_refuses_our_store_with_foreign_files_inside(small, capsys):
    out = small["dir"] / "run.zarr"
    assert cli.main(_args(small, out, "--quiet")) == 0
    (out / "notes.txt").write_text("mine")
    err = one_line_error(capsys, cli.main(_args(small, out, "--overwrite")), "BatchError")
    assert "['notes.txt'], which xdepthdif did not write" in err
    assert (out / "notes.txt").read_text() == "mine" and verify_store(out) == []
    (out / "notes.txt").unlink()
    assert cli.main(_args(small, out, "--overwrite", "--quiet")) == 0


def test_overwrite_removes_an_empty_folder_and_a_store_with_a_damaged_manifest(small):
    empty = small["dir"] / "empty"
    empty.mkdir()
    assert run_batch(small["target"], small["profiles"], empty, overwrite=True).n_blocks == 3
    manifest = xmanifest.manifest_path(empty)
    manifest.write_text(manifest.read_text()[:200])  # cut short; its format line names us
    assert run_batch(small["target"], small["profiles"], empty, overwrite=True).computed == (
        0,
        1,
        2,
    )


@pytest.mark.parametrize("damage", ["emptied", "not json", "a JSON list"])
def test_the_damaged_manifest_advice_to_overwrite_works(small, capsys, damage):
    out = small["dir"] / "run.zarr"
    assert cli.main(_args(small, out, "--quiet")) == 0
    text = {"emptied": "", "not json": "{oops", "a JSON list": "[]"}[damage]
    xmanifest.manifest_path(out).write_text(text)
    err = one_line_error(capsys, cli.main(_args(small, out)), "BatchError")
    assert "rerun the command with --overwrite to compute the store again" in err
    assert cli.main(_args(small, out, "--overwrite", "--quiet")) == 0
    assert verify_store(out) == [] and len(read_manifest(out)["blocks"]) == 3


def test_overwrite_still_refuses_a_zarr_store_of_another_tool_with_an_empty_manifest(small, capsys):
    out = small["dir"] / "theirs.zarr"
    small["target"].to_zarr(out)  # zarr metadata that does not name xdepthdif
    xmanifest.manifest_path(out).write_text("")
    before = tree(out)
    err = one_line_error(capsys, cli.main(_args(small, out, "--overwrite")), "BatchError")
    assert "nothing shows this tool wrote it" in err
    assert tree(out) == before


def test_out_dot_is_the_current_folder_by_its_absolute_path(small, capsys, monkeypatch):
    store = small["dir"] / "here.zarr"
    assert cli.main(_args(small, store, "--quiet")) == 0
    monkeypatch.chdir(store)
    assert cli.main(_args(small, ".", "--quiet")) == 0  # resumes: nothing to do
    assert verify_store(store) == []
    empty = small["dir"] / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    err = one_line_error(capsys, cli.main(_args(small, ".", "--overwrite")), "BatchError")
    assert f"--out '.' is the current folder ({empty})" in err
    assert "Run from its parent and name it: cd .. && " in err and "--out empty" in err
    assert empty.is_dir() and not list(empty.iterdir())
    monkeypatch.chdir(small["dir"])
    assert cli.main(_args(small, "empty", "--overwrite", "--quiet")) == 0
    assert verify_store(empty) == []


def test_an_empty_out_is_refused(small, capsys, monkeypatch):
    monkeypatch.chdir(small["dir"])
    err = one_line_error(capsys, cli.main(_args(small, "")), "BatchError")
    assert "--out is empty; give the zarr store's path" in err
    assert sorted(p.name for p in small["dir"].iterdir()) == ["in"]


def test_a_symbolic_link_as_out_is_refused(small, capsys):
    real = small["dir"] / "real.zarr"
    assert cli.main(_args(small, real, "--quiet")) == 0
    link = small["dir"] / "link.zarr"
    link.symlink_to(real)
    before = tree(real)
    err = one_line_error(capsys, cli.main(_args(small, link, "--overwrite")), "BatchError")
    assert "is a symbolic link" in err and str(real) in err
    assert tree(real) == before and link.is_symlink()


# ------------------------------------------------------------------------------------ lock
def test_a_second_run_on_a_locked_store_is_refused_in_one_line(small, capsys):
    out = small["dir"] / "locked.zarr"
    with safety.store_lock(out) as lock:
        assert lock == small["dir"] / "locked.zarr.xdepthdif-lock"
        assert f"pid {os.getpid()} on " in lock.read_text()
        err = one_line_error(capsys, cli.main(_args(small, out, "--overwrite")), "StoreLockedError")
    assert str(lock) in err and f"pid {os.getpid()}" in err and "wait for it" in err
    assert not out.exists()
    assert not lock.exists()  # released and removed
    assert cli.main(_args(small, out, "--quiet")) == 0


def test_a_lock_file_left_by_a_dead_run_is_taken_over(small):
    out = small["dir"] / "stale.zarr"
    lock = small["dir"] / "stale.zarr.xdepthdif-lock"
    lock.write_text("pid 999999 on elsewhere since 2020-01-01T00:00:00Z\n")  # no one holds it
    assert run_batch(small["target"], small["profiles"], out).computed == (0, 1, 2)
    assert not lock.exists()


def test_concurrent_overwrite_runs_do_not_destroy_each_other(small, tmp_path):
    out = tmp_path / "shared.zarr"
    env = dict(os.environ, OMP_NUM_THREADS="1", **{xstore.DELAY_ENV: "1.0"})
    cmd = [sys.executable, "-m", "xdepthdif.cli", *_args(small, out, "--quiet", "--overwrite")]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not xmanifest.manifest_path(out).is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        # The first run holds the lock from before its manifest exists to its end. Stopped, it
        # keeps holding it, so the second run meets it however slowly that run starts.
        first.send_signal(signal.SIGSTOP)
        try:
            assert first.poll() is None, "the first run ended before the second could start"
            second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        finally:
            first.send_signal(signal.SIGCONT)
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if line.startswith("xdepthdif ")]
    assert errors and errors[0].startswith("xdepthdif reconstruct: StoreLockedError: ")
    assert "Traceback" not in second.stderr
    assert len(read_manifest(out)["blocks"]) == 3 and verify_store(out) == []


# ---------------------------------------------------------------------------- write errors
def test_disk_full_is_one_line_and_the_run_resumes(small, capsys, monkeypatch):
    out = small["dir"] / "full.zarr"
    real_put = zarr_local._put

    def put(path, value, *args, **kwargs):
        if "/c/1/" in Path(path).as_posix():  # the chunks of the second time step
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_put(path, value, *args, **kwargs)

    monkeypatch.setattr(zarr_local, "_put", put)
    err = one_line_error(capsys, cli.main(_args(small, out)), "StoreWriteError")
    assert "no space left on the disk" in err and "writing block 1" in err
    assert "run the same command again" in err
    assert [e["index"] for e in read_manifest(out)["blocks"]] == [0]
    monkeypatch.setattr(zarr_local, "_put", real_put)
    res = run_batch(small["target"], small["profiles"], out)
    assert res.resumed and res.computed == (1, 2) and verify_store(out) == []


def test_manifest_write_on_a_full_disk_is_one_line(small, capsys, monkeypatch):
    out = small["dir"] / "full2.zarr"

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    err = one_line_error(capsys, cli.main(_args(small, out)), "StoreWriteError")
    assert "no space left on the disk" in err and "template" in err
    assert not out.exists()  # the template never moved into place


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_read_only_output_folder_is_one_line(small, capsys):
    folder = small["dir"] / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        err = one_line_error(capsys, cli.main(_args(small, folder / "out.zarr")), "StoreWriteError")
    finally:
        folder.chmod(0o755)
    assert "read-only" in err and "writable --out" in err


def test_read_only_output_folder_is_one_line_as_any_user(small, capsys, monkeypatch):
    """The same as above where the tests run as root: the file system's own answer to a
    write in a read-only folder (EACCES from open) is raised at the lock file's creation."""
    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if str(path).startswith(str(small["dir"] / "ro")) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    (small["dir"] / "ro").mkdir()
    monkeypatch.setattr(os, "open", open_)
    code = cli.main(_args(small, small["dir"] / "ro" / "out.zarr"))
    err = one_line_error(capsys, code, "StoreWriteError")
    assert "read-only" in err and "writable --out" in err
    assert list((small["dir"] / "ro").iterdir()) == []


def test_a_killed_writer_leaves_nothing_that_blocks_the_next_run(small, tmp_path):
    out = tmp_path / "killed.zarr"
    env = dict(os.environ, OMP_NUM_THREADS="1", **{xstore.DELAY_ENV: "1.0"})
    cmd = [sys.executable, "-m", "xdepthdif.cli", *_args(small, out, "--quiet")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not xmanifest.manifest_path(out).is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=60)
    assert (tmp_path / "killed.zarr.xdepthdif-lock").exists()  # left behind, but not held
    res = run_batch(small["target"], small["profiles"], out)
    assert res.resumed and verify_store(out) == []
    np.testing.assert_array_equal(
        xr.open_zarr(out)["obs_count"].sum().values,
        sum(e["obs_count_sum"] for e in read_manifest(out)["blocks"]),
    )
