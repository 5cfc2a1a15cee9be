"""Training: loss goes down, checkpoints load, resume is exact, CLI, two-process DDP."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import load_file, save_file  # noqa: E402

from xdepthdif.core.network import UNetConfig  # noqa: E402
from xdepthdif.core.train import (  # noqa: E402
    TrainConfig,
    build_denoiser,
    train,
    train_state_path,
)
from xdepthdif.prior.model import load_state_dict  # noqa: E402
from xdepthdif.prior.synthetic import synthetic_ocean  # noqa: E402
from xdepthdif.prior.training_data import prepare_training_data, random_patches  # noqa: E402

LEVELS = [5.0, 50.0, 200.0, 800.0]
UCFG = UNetConfig(levels=4, base_channels=8, channel_mult=(1, 2), cond_dim=16)


@pytest.fixture(scope="module")
def tiny():
    ds = synthetic_ocean(
        ["2000-01-15", "2000-04-15", "2000-07-15"], resolution=5.0, levels=LEVELS, seed=3
    )
    return prepare_training_data(ds)


def _run(tiny, stem, steps, log=None, resume=True, **kw):
    data, mask, info = tiny
    tc = TrainConfig(**{"steps": steps, "batch_size": 4, "patch": (16, 32), "lr": 1e-3, **kw})
    return train(
        data, mask, info["lat"], info["lon"], info["doy"], UCFG, tc, stem,
        resume=resume, log=log, info=info, command="pytest",
    )  # fmt: skip


def test_prepare_training_data_normalises_per_level(tiny):
    data, mask, info = tiny
    assert data.dtype == np.float32 and data.shape[1:] == mask.shape
    for k in range(len(LEVELS)):
        vals = data[:, k][:, mask[k]]
        assert abs(vals.mean()) < 1e-4 and abs(vals.std() - 1) < 1e-3
    assert info["periodic"] and info["resolution_deg"] == 5.0
    clim = info["climatology"]
    assert clim.shape == (12, *mask.shape) and np.all(info["std"] > 0)
    assert np.nanmean(clim[:, 0]) > np.nanmean(clim[:, -1]) + 5  # warm surface, cold deep
    assert np.isnan(clim[:, ~mask]).all() and np.isfinite(clim[:, mask]).all()


def test_prepare_training_data_without_climatology_normalises_the_field_itself(tiny):
    ds = synthetic_ocean(["2000-01-15", "2000-07-15"], resolution=10.0, levels=LEVELS)
    data, mask, info = prepare_training_data(ds, climatology=False)
    assert "climatology" not in info and info["mean"][0] > info["mean"][-1] + 5
    x = ds.thetao.transpose("time", "depth", "lat", "lon").values
    expected = (x[:, 0] - info["mean"][0]) / info["std"][0]
    np.testing.assert_allclose(data[:, 0][:, mask[0]], expected[:, mask[0]], rtol=1e-5)


def test_monthly_climatology_from_several_years():
    times = pd.date_range("2000-01-01", periods=36, freq="MS") + pd.Timedelta(14, "D")
    ds = synthetic_ocean(times, resolution=10.0, levels=LEVELS[:2])
    data, mask, info = prepare_training_data(ds)
    x = ds.thetao.transpose("time", "depth", "lat", "lon").values
    januaries = x[[0, 12, 24]].mean(axis=0)
    np.testing.assert_allclose(info["climatology"][0][mask], januaries[mask], rtol=1e-5)
    anomaly = (x[12] - januaries) / info["std"][:, None, None]
    np.testing.assert_allclose(data[12][mask], anomaly[mask], atol=1e-4)


def test_prepare_training_data_kelvin_and_flipped_lat():
    ds = synthetic_ocean(["2000-01-15"], resolution=10.0, levels=LEVELS[:2])
    _, _, ref = prepare_training_data(ds)
    k = ds.assign(thetao=ds.thetao + 273.15).isel(lat=slice(None, None, -1))
    k.thetao.attrs.update(units="K", standard_name="sea_water_potential_temperature")
    data, _, info = prepare_training_data(k.rename(thetao="temp"))
    np.testing.assert_allclose(data, prepare_training_data(ds)[0], atol=1e-5)
    np.testing.assert_allclose(info["mean"], ref["mean"], atol=1e-6)
    np.testing.assert_allclose(info["climatology"], ref["climatology"], atol=1e-4, equal_nan=True)
    assert np.all(np.diff(info["lat"]) > 0)
    # levels stored bottom first are put top down, so the model card's levels increase
    data, _, info = prepare_training_data(ds.isel(depth=slice(None, None, -1)))
    np.testing.assert_allclose(info["depth"], ref["depth"])
    np.testing.assert_allclose(data, prepare_training_data(ds)[0], atol=1e-6)


def test_random_patches_wrap_only_when_periodic():
    rng = np.random.default_rng(0)
    w = random_patches(rng, 500, (4, 10), (3, 2, 8, 20), periodic=False)
    assert w[:, 2].max() <= 10 and w[:, 1].max() <= 4 and w[:, 0].max() <= 2
    w = random_patches(rng, 500, (4, 10), (3, 2, 8, 20), periodic=True)
    assert w[:, 2].max() > 10


def test_loss_decreases(tiny, tmp_path):
    res = _run(tiny, tmp_path / "m", 40, resume=False)
    losses = np.array(res.losses)
    assert np.isfinite(losses).all()
    assert losses[-10:].mean() < losses[:10].mean()


def test_checkpoint_card_and_load(tiny, tmp_path):
    lines = []
    res = _run(tiny, tmp_path / "prior", 6, log=lines.append, checkpoint_every=4, log_every=3)
    assert res.path == tmp_path / "prior.safetensors" and res.path.exists()
    assert train_state_path(tmp_path / "prior").exists()
    assert any("steps/s" in s for s in lines) and any("loss" in s for s in lines)
    sd, card = load_state_dict(tmp_path / "prior")
    assert len(card.normalisation["mean"]) == len(card.normalisation["std"]) == len(LEVELS)
    assert card.levels == tuple(LEVELS)
    assert card.training["steps"] == 6 and card.training["command"] == "pytest"
    assert card.algorithm_version == "1" and card.architecture["class"] == "UNet"
    D = build_denoiser(sd, card)
    x = torch.zeros(1, 4, 8, 16)
    out = D(x, torch.tensor([1.0]), torch.linspace(-20, 20, 8), torch.arange(16.0), 100.0)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert not (tmp_path / "prior.safetensors.tmp").exists()


def test_resume_is_exact(tiny, tmp_path):
    straight = _run(tiny, tmp_path / "a", 10, windows=2)
    first = _run(tiny, tmp_path / "b", 5, windows=2)
    assert first.step == 5
    second = _run(tiny, tmp_path / "b", 10, windows=2)
    assert second.step == 10 and len(second.losses) == 5
    assert second.losses == straight.losses[5:]
    a, b = load_file(tmp_path / "a.train.safetensors"), load_file(tmp_path / "b.train.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    wa, wb = load_state_dict(tmp_path / "a")[0], load_state_dict(tmp_path / "b")[0]
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0, equal_nan=True, msg=key)


def test_cli_train_end_to_end(tmp_path, capsys):
    from xdepthdif.cli import main

    stem = tmp_path / "cli"
    argv = ["train", "--data", "synthetic", "--out", str(stem), "--steps", "4",
            "--batch-size", "2", "--patch", "16", "72", "--resolution", "5", "--months", "2",
            "--levels", "4", "--base-channels", "8", "--cond-dim", "16", "--channel-mult", "1",
            "2", "--log-every", "2"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "step 4/4" in out and "steps/s" in out and "training finished" in out
    card = json.loads(stem.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 4 and "synthetic" in card["training"]["data"]
    assert card["training"]["command"].startswith("xdepthdif train")
    assert card["native_resolution_deg"] == 5.0 and len(card["levels"]) == 4


def test_cli_levels_keeps_the_shallowest_of_a_file_stored_bottom_first(tmp_path):
    import argparse

    from xdepthdif.cli_train import _load_training_dataset

    ds = synthetic_ocean(["2000-01-15"], resolution=10.0, levels=LEVELS[:4])
    path = tmp_path / "bottom_first.nc"
    ds.isel(depth=slice(None, None, -1)).to_netcdf(path)
    loaded, _, _ = _load_training_dataset(argparse.Namespace(data=str(path), levels=2))
    np.testing.assert_allclose(loaded.depth.values, LEVELS[:2])


def _ddp_worker(rank, world, tmp, tiny):
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world
    )
    try:
        res = _run(tiny, f"{tmp}/ddp", 4)
        save_file({k: v.contiguous() for k, v in res.ema.items()}, f"{tmp}/ema{rank}.safetensors")
        raw = {k: v.detach().contiguous() for k, v in res.net.state_dict().items()}
        save_file(raw, f"{tmp}/raw{rank}.safetensors")
        np.save(f"{tmp}/loss{rank}.npy", np.array(res.losses))
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_two_processes_agree(tiny, tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path), tiny), nprocs=2, join=True)
    for kind in ("raw", "ema"):
        r0 = load_file(tmp_path / f"{kind}0.safetensors")
        r1 = load_file(tmp_path / f"{kind}1.safetensors")
        for key in r0:
            assert torch.equal(r0[key], r1[key]), (kind, key)
    # the ranks drew different windows, so their local losses differ
    assert not np.array_equal(np.load(tmp_path / "loss0.npy"), np.load(tmp_path / "loss1.npy"))
    sd, card = load_state_dict(tmp_path / "ddp")  # rank 0 wrote it
    assert card.training["world_size"] == 2
    ema0 = load_file(tmp_path / "ema0.safetensors")
    assert {k for k in sd if not k.startswith("climatology/")} == set(ema0)
    for key in ema0:
        assert torch.equal(sd[key], ema0[key])
    # trained weights differ from a single-process run: the gradients were averaged
    single = _run(tiny, tmp_path / "single", 4)
    assert any(
        not torch.equal(v, load_file(tmp_path / "raw0.safetensors")[k])
        for k, v in single.net.state_dict().items()
    )


def test_training_steps_are_reported_and_the_cli_draws_them(tiny, tmp_path, capsys):
    from xdepthdif.cli import main
    from xdepthdif.progress import reporting

    seen = []
    with reporting(lambda *event: seen.append(event)):
        _run(tiny, tmp_path / "p", 3)
    assert seen == [("training steps", k, 3) for k in (1, 2, 3)]
    argv = ["train", "--data", "synthetic", "--out", str(tmp_path / "cli"), "--steps", "3",
            "--batch-size", "2", "--patch", "16", "72", "--resolution", "5", "--months", "2",
            "--levels", "4", "--base-channels", "8", "--cond-dim", "16", "--channel-mult", "1",
            "2", "--progress"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "training steps  [" in err and " 3/3 " in err and err.endswith("\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "-1"], "argument --steps: must be an integer >= 1, got -1"),
        (["--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
        (["--resolution", "0"], "argument --resolution: must be a number > 0 and <= 30, got 0.0"),
        (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
        (["--lr", "-1"], "argument --lr: must be a number > 0, got -1.0"),
        (["--lr", "nan"], "argument --lr: must be a number > 0, got nan"),
        (["--patch", "0", "0"], "argument --patch: must be an integer >= 1, got 0"),
        (["--months", "0"], "argument --months: must be an integer >= 1, got 0"),
        (["--channel-mult", "1", "0"], "argument --channel-mult: must be an integer >= 1, got 0"),
        (["--sst", "2"], "argument --sst: must be a number >= 0 and <= 1, got 2.0"),
    ],
)
def test_cli_train_refuses_numbers_out_of_range_before_training(tmp_path, capsys, argv, message):
    from xdepthdif.cli import main

    stem = tmp_path / "m" / "tiny"
    with pytest.raises(SystemExit) as stop:
        main(["train", "--out", str(stem), "--months", "1", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"xdepthdif train: error: {message}" in err and "Traceback" not in err
    assert not stem.parent.exists()  # no untrained checkpoint
