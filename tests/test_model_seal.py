"""A model card is protected like the weights: sealed by its own sha256, checked whenever the
checkpoint is opened, recorded in a batch run's fingerprint; a card naming a network this
version cannot build, or weights whose header is broken, fail when the job is planned."""

import dataclasses
import hashlib
import json
import struct

import pytest
from conftest import make_profiles, make_target

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import xdepthdif  # noqa: E402
from xdepthdif import cli  # noqa: E402
from xdepthdif.batch.fingerprint import fingerprint  # noqa: E402
from xdepthdif.batch.manifest import BatchError, _check_fingerprint  # noqa: E402
from xdepthdif.errors import CheckpointError, ModelCardError  # noqa: E402
from xdepthdif.prior import checks, model  # noqa: E402

TIMES = ["2020-01-15", "2020-02-15"]


@pytest.fixture
def ckpt(tmp_path):
    """A copy of the packaged prior: NAME.safetensors and NAME.json in a folder of its own."""
    folder = tmp_path / "prior"
    folder.mkdir()
    for suffix in (".safetensors", ".json"):
        src = model.resolve_model("synthetic").with_suffix(suffix)
        (folder / f"p{suffix}").write_bytes(src.read_bytes())
    return folder / "p.safetensors"


def edit_card(weights, change):
    card_path = weights.with_suffix(".json")
    raw = json.loads(card_path.read_text())
    change(raw)
    card_path.write_text(json.dumps(raw, indent=2))


def inputs():
    return make_target(times=TIMES), make_profiles(n=40, times=TIMES)


def lazy(ckpt, **options):
    target, profiles = inputs()
    return xdepthdif.reconstruct(target, profiles, method="diffusion", model=str(ckpt), **options)


def spread(raw):
    raw["normalisation"]["spread_scale"][3] *= 2.0


def mean(raw):
    raw["normalisation"]["mean"][0] += 10000.0


@pytest.mark.parametrize("change", [spread, mean])
def test_a_hand_edited_card_is_refused_before_the_graph_is_built(ckpt, change):
    edit_card(ckpt, change)
    with pytest.raises(ModelCardError, match="was changed after it was written") as info:
        lazy(ckpt)
    assert "reseal_card(" in str(info.value)
    with pytest.raises(ModelCardError, match="was changed after it was written"):
        model.load_state_dict(ckpt)  # nor by a worker, whatever was planned


def test_a_card_without_a_seal_is_refused_until_resealed(ckpt):
    edit_card(ckpt, lambda raw: raw.pop("card_sha256"))
    with pytest.raises(ModelCardError, match="has no card_sha256"):
        model.verify(ckpt)
    model.reseal_card(ckpt)
    assert model.verify(ckpt).sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()


def test_update_card_keeps_the_card_sealed(ckpt):
    before = model.card_seal(ckpt)
    card = model.verify(ckpt)
    norm = dict(card.normalisation) | {"spread_scale": tuple(1.5 for _ in card.levels)}
    model.update_card(ckpt, normalisation=norm)
    assert model.verify(ckpt).normalisation["spread_scale"][0] == 1.5
    assert model.card_seal(ckpt) != before


def test_the_card_is_part_of_a_batch_runs_fingerprint(ckpt):
    target, profiles = inputs()
    options = {"model": str(ckpt)}
    first = fingerprint(lazy(ckpt), profiles, target, options)
    assert first["model_card_sha256"] == model.card_seal(ckpt)
    edit_card(ckpt, spread)
    model.reseal_card(ckpt)  # a recalibration on purpose: a valid card, but another run
    second = fingerprint(lazy(ckpt), profiles, target, options)
    assert second["model_sha256"] == first["model_sha256"]
    manifest = {"format": "xdepthdif-batch-manifest/2", "fingerprint": first}
    with pytest.raises(BatchError, match="model_card_sha256 was"):
        _check_fingerprint(ckpt.parent, manifest, second)


def test_an_unknown_architecture_key_fails_when_the_model_is_loaded(ckpt, tmp_path, capsys):
    edit_card(ckpt, lambda raw: raw["architecture"]["kwargs"].update(attention_heads=4))
    model.reseal_card(ckpt)  # sealed, so that the architecture itself is what is refused
    with pytest.raises(ModelCardError, match=r"kwargs \['attention_heads'\] are unknown to UNet"):
        lazy(ckpt)
    target, profiles = inputs()
    target.to_netcdf(tmp_path / "t.nc")
    profiles.to_netcdf(tmp_path / "o.nc")
    args = ["reconstruct", "--target", str(tmp_path / "t.nc"), "--obs", str(tmp_path / "o.nc")]
    args += ["--out", str(tmp_path / "out.zarr"), "--method", "diffusion", "--model", str(ckpt)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("xdepthdif reconstruct: ModelCardError: ")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.zarr").exists()


def test_known_architecture_keys_are_those_the_network_takes():
    from xdepthdif.core.network import UNetConfig

    fields = {f.name for f in dataclasses.fields(UNetConfig)}
    assert checks.ARCHITECTURES["UNet"] == fields | {"sigma_data"}


def write_weights(path, header: bytes, data: bytes) -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    card = dataclasses.replace(
        model.ModelCard(
            {"class": "UNet", "kwargs": {}},
            levels=(5.0, 50.0),
            native_resolution_deg=1.0,
            normalisation={"mean": [20, 15], "std": [3, 2]},
            training={"data": "x", "command": "y", "steps": 1, "seed": 0, "date": "z"},
            algorithm_version="1",
        ),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),  # a valid hash of a bad file
    )
    path.with_suffix(".json").write_text(card.to_json())


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        (b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}', b"\0" * 16, "8 bytes"),
        (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', b"\0" * 16, "cover"),
        (b'{"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}', b"\0" * 8, "dtype"),
        (b'{"w": [1, 2]}', b"", "not {'dtype'"),
        (b"{not json at all}", b"\0" * 8, "not JSON"),
    ],
)
def test_weights_with_a_valid_hash_but_a_broken_header_are_refused(tmp_path, header, data, message):
    weights = tmp_path / "bad.safetensors"
    write_weights(weights, header, data)
    with pytest.raises(CheckpointError, match=message) as info:
        model.verify(weights)
    assert "retrain or re-save it" in str(info.value)


def test_a_broken_header_is_one_line_at_the_cli(tmp_path, capsys):
    weights = tmp_path / "bad.safetensors"
    write_weights(weights, b"{not json at all}", b"\0" * 8)
    target, profiles = inputs()
    target.to_netcdf(tmp_path / "t.nc")
    profiles.to_netcdf(tmp_path / "o.nc")
    args = ["reconstruct", "--target", str(tmp_path / "t.nc"), "--obs", str(tmp_path / "o.nc")]
    args += ["--out", str(tmp_path / "out.zarr"), "--method", "diffusion", "--model", str(weights)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("xdepthdif reconstruct: CheckpointError: ") and "not JSON" in err
    assert len(err.strip().splitlines()) == 1
