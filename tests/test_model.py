"""Checkpoints: safetensors + model card, sha256 and format checks before parsing, model cache."""

import dataclasses
import hashlib
import json
import pickle
import re
import subprocess
import sys
import threading
import time

import pytest

torch = pytest.importorskip("torch")
safetensors = pytest.importorskip("safetensors")
st_torch = pytest.importorskip("safetensors.torch")

from xdepthdif.errors import CheckpointError, ModelCardError, XDepthDifError  # noqa: E402
from xdepthdif.prior import model, registry  # noqa: E402
from xdepthdif.prior.model import ModelCard  # noqa: E402

REQUIRED = [
    "format_version",
    "sha256",
    "architecture",
    "levels",
    "native_resolution_deg",
    "normalisation",
    "training",
    "algorithm_version",
]


def make_card(**changes) -> ModelCard:
    fields = dict(
        architecture={"class": "Linear", "kwargs": {"in_features": 3, "out_features": 2}},
        levels=(5.0, 50.0, 400.0),
        native_resolution_deg=1.0,
        normalisation={"mean": [20.0, 15.0, 8.0], "std": [3.0, 2.5, 1.0]},
        training={
            "data": "synthetic ocean v1, 64 fields",
            "command": "xdepthdif train --steps 10",
            "steps": 10,
            "seed": 0,
            "date": "2025-01-01",
        },
        algorithm_version="1",
        notes="test",
    )
    return ModelCard(**{**fields, **changes})


def tiny_state() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "weight": torch.randn(2, 3, generator=g),
        "bias": torch.randn(2, generator=g),
        "transposed": torch.randn(4, 3, generator=g).t(),  # not contiguous
        "steps": torch.arange(5, dtype=torch.int64),
        "half": torch.ones(3, dtype=torch.float16),
    }


def linear_state(seed=0) -> dict:
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 2).state_dict()


def build_linear(card: ModelCard, state_dict: dict) -> torch.nn.Module:
    device = next(iter(state_dict.values())).device
    module = torch.nn.Linear(**card.architecture["kwargs"], device=device)
    module.load_state_dict(state_dict, assign=True)
    return module


@pytest.fixture(autouse=True)
def _empty_cache():
    model.clear_cache()
    yield
    model.clear_cache()


@pytest.fixture
def ckpt(tmp_path):
    """A valid checkpoint of a Linear(3, 2)."""
    return model.save_checkpoint(tmp_path / "prior", linear_state(), make_card())


@pytest.fixture
def no_parsing(monkeypatch):
    """Fail the test if anything tries to parse a weights file."""

    def parsed(*args, **kwargs):
        pytest.fail("the weights file was parsed before it was refused")

    for mod, name in [
        (st_torch, "load"),
        (st_torch, "load_file"),
        (st_torch, "safe_open"),
        (st_torch, "deserialize"),
        (safetensors, "safe_open"),
        (safetensors, "deserialize"),
        (torch, "load"),
        (pickle, "load"),
        (pickle, "loads"),
    ]:
        monkeypatch.setattr(mod, name, parsed, raising=False)


UNPICKLED = []


def _sprung():
    UNPICKLED.append(True)
    return "sprung"


class Trap:
    """Unpickling this calls ``_sprung``, which records that unpickling happened."""

    def __reduce__(self):
        return (_sprung, ())


def write_card_for(weights, sha=None):
    """A valid card beside ``weights``, with their true sha256 unless ``sha`` is given."""
    digest = sha or hashlib.sha256(weights.read_bytes()).hexdigest()
    card = dataclasses.replace(make_card(), sha256=digest)
    weights.with_suffix(".json").write_text(card.to_json())


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_keeps_tensors_and_card(tmp_path):
    state, card = tiny_state(), make_card()
    path = model.save_checkpoint(tmp_path / "sub" / "prior", state, card)
    assert path == tmp_path / "sub" / "prior.safetensors"
    assert path.with_suffix(".json").is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["prior.json", "prior.safetensors"]
    loaded, read_card = model.load_state_dict(path)
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype
        assert torch.equal(loaded[key], value)
        assert loaded[key].is_contiguous()
    assert read_card == model.verify(tmp_path / "sub" / "prior.json")
    assert read_card == dataclasses.replace(card, sha256=read_card.sha256)
    assert card.sha256 == ""  # the caller's card is not changed
    assert read_card.levels == (5.0, 50.0, 400.0)
    assert read_card.training["data"] == "synthetic ocean v1, 64 fields"


def test_card_json_round_trip_and_keys():
    card = make_card(sha256="ab" * 32)
    text = card.to_json()
    assert sorted(json.loads(text)) == sorted([*REQUIRED, "notes", "kind", "card_sha256"])
    assert ModelCard.from_json(text) == card
    # lists and tuples give equal cards: the constructor normalises
    assert make_card(levels=[5, 50, 400]) == make_card()


def test_card_sha256_matches_hashlib_of_the_file(ckpt):
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()


def test_saved_file_is_plain_safetensors(ckpt):
    data = ckpt.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    assert set(header) >= {"weight", "bias"}
    assert st_torch.load(data).keys() == {"weight", "bias"}


def test_save_refuses_non_tensors(tmp_path):
    with pytest.raises(CheckpointError, match="extra"):
        model.save_checkpoint(tmp_path / "x", {"w": torch.zeros(2), "extra": 3}, make_card())
    assert not list(tmp_path.iterdir())


# --- refusals before parsing ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["length", "header", "data", "last"])
def test_one_flipped_byte_is_refused_before_parsing(ckpt, no_parsing, where):
    data = bytearray(ckpt.read_bytes())
    i = {"length": 0, "header": 12, "data": len(data) - 10, "last": len(data) - 1}[where]
    data[i] ^= 0x01
    ckpt.write_bytes(bytes(data))
    expected = json.loads(ckpt.with_suffix(".json").read_text())["sha256"]
    found = hashlib.sha256(bytes(data)).hexdigest()
    for call in (model.verify, model.load_state_dict):
        with pytest.raises(CheckpointError, match="re-download or retrain") as info:
            call(ckpt)
        assert expected in str(info.value) and found in str(info.value)
    with pytest.raises(CheckpointError, match="re-download or retrain"):
        model.cached_load(ckpt, expected, "cpu", build_linear)
    assert model.cache_info()["loads"] == 0


def test_truncated_file_is_refused(ckpt, no_parsing):
    ckpt.write_bytes(ckpt.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match=r"expected .* found"):
        model.verify(ckpt)


def test_the_pickle_trap_works():
    UNPICKLED.clear()
    assert pickle.loads(pickle.dumps(Trap())) == "sprung"
    assert UNPICKLED == [True]
    UNPICKLED.clear()


@pytest.mark.parametrize("kind", ["torch.save", "pickle.dumps"])
@pytest.mark.parametrize("card_sha", ["matching", "other"])
def test_pickles_are_refused_before_parsing(tmp_path, no_parsing, kind, card_sha):
    UNPICKLED.clear()
    weights = tmp_path / "evil.safetensors"
    payload = {"weight": torch.zeros(2, 3), "trap": Trap()}
    if kind == "torch.save":
        torch.save(payload, weights)  # a zip archive: starts with PK
        assert weights.read_bytes()[:2] == b"PK"
    else:
        weights.write_bytes(pickle.dumps(payload, protocol=4))
        assert weights.read_bytes()[:1] == b"\x80"
    write_card_for(weights, sha=None if card_sha == "matching" else "0" * 64)
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    for call in (
        lambda: model.verify(weights),
        lambda: model.load_state_dict(weights),
        lambda: model.cached_load(weights, sha, "cpu", build_linear),
    ):
        with pytest.raises(CheckpointError, match="only safetensors weights are accepted"):
            call()
    assert UNPICKLED == []
    assert model.cache_info() == {"loads": 0, "entries": 0}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x05\x00",
        (10**9).to_bytes(8, "little") + b'{"a": 1}',  # header longer than the file
        (0).to_bytes(8, "little") + b"{}",  # empty header
        (2).to_bytes(8, "little") + b"[]",  # not a JSON object
        b"(dp0\nS'weight'\np1\n.",  # pickle protocol 0, no 0x80 marker
    ],
    ids=["empty", "short", "long-header", "zero-header", "list-header", "pickle-v0"],
)
def test_non_safetensors_is_refused_even_with_matching_sha(tmp_path, no_parsing, content):
    weights = tmp_path / "odd.safetensors"
    weights.write_bytes(content)
    write_card_for(weights)
    with pytest.raises(CheckpointError, match=r"is not safetensors.*only safetensors"):
        model.verify(weights)


# --- model card -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", REQUIRED)
def test_missing_card_key_is_a_typed_error_naming_it(ckpt, key):
    card_path = ckpt.with_suffix(".json")
    raw = json.loads(card_path.read_text())
    del raw[key]
    with pytest.raises(ModelCardError, match=f"lacks required key.*'{key}'") as info:
        ModelCard.from_json(json.dumps(raw))
    assert isinstance(info.value, CheckpointError) and isinstance(info.value, XDepthDifError)
    card_path.write_text(json.dumps(raw))
    with pytest.raises(ModelCardError, match=re.escape(str(card_path))):
        model.verify(ckpt)


def test_notes_are_optional():
    raw = json.loads(make_card().to_json())
    del raw["notes"]
    assert ModelCard.from_json(json.dumps(raw)).notes == ""


def test_a_card_without_kind_is_a_guided_prior_and_keeps_its_seal(ckpt):
    """Cards written before ``kind`` existed load, verify against the seal of their own
    content, and read as guided priors."""
    from xdepthdif.prior.checks import SEAL, card_digest

    card_path = ckpt.with_suffix(".json")
    raw = json.loads(card_path.read_text())
    assert raw["kind"] == "guided-prior"
    del raw["kind"]
    raw[SEAL] = card_digest(raw)  # as an older xdepthdif sealed it
    card_path.write_text(json.dumps(raw, indent=2))
    assert model.verify(ckpt).kind == "guided-prior"
    assert model.card_seal(ckpt) == raw[SEAL]


def test_the_shipped_synthetic_card_has_no_kind_and_still_verifies():
    path = model.resolve_model("synthetic")
    raw = json.loads(path.with_suffix(".json").read_text())
    assert "kind" not in raw
    assert model.verify(path).kind == "guided-prior"


CONDITIONAL = {
    "kind": "conditional",
    "conditioning": {"layout_version": 1, "loss": "edm", "surface": False},
    "architecture": {"class": "UNet", "kwargs": {"levels": 3, "extra_in_channels": 23}},
    "normalisation": {"mean": [0.0] * 3, "std": [1.0] * 3, "climatology": "shipped"},
}


CORRELATED = {
    "kind": "guided-prior",
    "normalisation": {
        "mean": [0.0] * 3,
        "std": [1.0] * 3,
        "vertical_correlation": [[1.0, 0.8, 0.5], [0.8, 1.0, 0.8], [0.5, 0.8, 1.0]],
    },
}


@pytest.mark.parametrize("changes", [{"kind": "guided-prior"}, CONDITIONAL, CORRELATED])
def test_cards_of_either_kind_round_trip(changes):
    card = make_card(**changes)
    back = ModelCard.from_json(card.to_json())
    assert back == card and back.kind == changes["kind"]
    assert ("conditioning" in json.loads(card.to_json())) == (card.kind == "conditional")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"training": {"data": "x", "command": "y", "steps": 1, "date": "z"}}, "'seed'"),
        ({"normalisation": {"mean": [1.0, 2.0], "std": [1.0, 1.0, 1.0]}}, "mean has 2 values"),
        ({"normalisation": {"mean": [1, 2, 3], "std": [1, 0, 1]}}, "std must be finite and > 0"),
        ({"normalisation": {"mean": [1, 2, 3]}}, "'mean' and 'std'"),
        ({"levels": (50.0, 5.0, 400.0)}, "increasing"),
        ({"levels": ("a", 5.0, 400.0)}, "levels must be numbers"),
        ({"architecture": {"kwargs": {}}}, "'class'"),
        ({"native_resolution_deg": float("nan")}, "native_resolution_deg must be finite"),
        ({"format_version": 99}, "format_version 99"),
        ({"kind": "residual"}, "kind must be one of"),
        (
            {"normalisation": {"mean": [1, 2, 3], "std": [1, 1, 1], "climatology": "yearly"}},
            "climatology must be one of .*'shipped'",
        ),
        *(
            (
                {"normalisation": {"mean": [0] * 3, "std": [1] * 3, "vertical_correlation": c}},
                "vertical_correlation must be",
            )
            for c in (
                [[1, 0.5, 0], [0.4, 1, 0], [0, 0, 1]],  # not symmetric
                [[2, 0, 0], [0, 1, 0], [0, 0, 1]],  # not a unit diagonal
                [[1, 0], [0, 1]],  # not levels x levels
            )
        ),
    ],
)
def test_invalid_cards_are_refused(changes, message):
    with pytest.raises(ModelCardError, match=message):
        make_card(**changes)


def test_card_that_is_not_json_or_not_an_object():
    with pytest.raises(ModelCardError, match="not valid JSON"):
        ModelCard.from_json("{not json")
    with pytest.raises(ModelCardError, match="lacks required key"):
        ModelCard.from_json("[1, 2]")


def test_missing_files_are_named(tmp_path, ckpt):
    with pytest.raises(CheckpointError, match=r"nothing.json not found"):
        model.verify(tmp_path / "nothing")
    ckpt.unlink()
    with pytest.raises(CheckpointError, match=r"prior.safetensors not found"):
        model.verify(ckpt)


def test_checkpoint_paths_accept_stem_or_either_file(tmp_path):
    expected = (tmp_path / "m.v2.safetensors", tmp_path / "m.v2.json")
    for given in ("m.v2", "m.v2.safetensors", "m.v2.json"):
        assert model.checkpoint_paths(tmp_path / given) == expected


# --- cache ------------------------------------------------------------------------------------


def test_cache_loads_once_per_key(ckpt):
    sha = model.verify(ckpt).sha256
    calls = []

    def build(card, state_dict):
        calls.append(card.sha256)
        return build_linear(card, state_dict)

    first = model.cached_load(ckpt, sha, "cpu", build)
    for _ in range(3):
        assert model.cached_load(str(ckpt), sha, "cpu", build) is first
    assert calls == [sha]
    assert model.cache_info() == {"loads": 1, "entries": 1}
    assert torch.equal(first.weight, linear_state()["weight"])


def test_cache_loads_once_per_distinct_key(tmp_path, ckpt):
    other = model.save_checkpoint(tmp_path / "other", linear_state(seed=1), make_card())
    sha_a, sha_b = model.verify(ckpt).sha256, model.verify(other).sha256
    assert sha_a != sha_b
    a = model.cached_load(ckpt, sha_a, "cpu", build_linear)
    b = model.cached_load(other, sha_b, "cpu", build_linear)
    meta = model.cached_load(ckpt, sha_a, "meta", build_linear)
    assert len({id(a), id(b), id(meta)}) == 3
    assert meta.weight.device.type == "meta" and a.weight.device.type == "cpu"
    for _ in range(2):
        assert model.cached_load(ckpt, sha_a, "cpu", build_linear) is a
        assert model.cached_load(other, sha_b, "cpu", build_linear) is b
        assert model.cached_load(ckpt, sha_a, "meta", build_linear) is meta
    assert model.cache_info() == {"loads": 3, "entries": 3}
    model.clear_cache()
    assert model.cache_info() == {"loads": 0, "entries": 0}
    assert model.cached_load(ckpt, sha_a, "cpu", build_linear) is not a


def test_cache_loads_once_from_many_threads(ckpt):
    sha = model.verify(ckpt).sha256
    barrier, results, builds = threading.Barrier(8), [], []

    def build(card, state_dict):
        builds.append(1)
        time.sleep(0.05)  # widen the window for a race
        return build_linear(card, state_dict)

    def worker():
        barrier.wait()
        results.append(model.cached_load(ckpt, sha, "cpu", build))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert builds == [1] and model.cache_info()["loads"] == 1


def test_cache_refuses_a_checkpoint_with_another_sha(ckpt):
    with pytest.raises(CheckpointError, match=f"expected '{'f' * 64}'"):
        model.cached_load(ckpt, "f" * 64, "cpu", build_linear)
    assert model.cache_info() == {"loads": 0, "entries": 0}


# --- torch stays optional ---------------------------------------------------------------------


def test_import_and_verify_do_not_import_torch(ckpt):
    code = (
        "import sys; import xdepthdif.prior.model as m; "
        "assert 'torch' not in sys.modules and 'safetensors' not in sys.modules; "
        f"card = m.verify({str(ckpt)!r}); assert card.levels == (5.0, 50.0, 400.0); "
        "bad = {'torch', 'safetensors'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_torch_names_the_extra(ckpt, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    for call in (
        lambda: model.load_state_dict(ckpt),
        lambda: model.save_checkpoint(ckpt.parent / "new", {}, make_card()),
    ):
        with pytest.raises(ImportError, match=r'pip install "xdepthdif\[diffusion\]"'):
            call()
    assert model.verify(ckpt).sha256  # checking needs no torch


# --- default model ----------------------------------------------------------------------------


def test_default_model_path_is_inside_the_package():
    path = model.default_model_path()
    assert path.name == f"{registry.DEFAULT_MODEL}.safetensors" == "conditional.safetensors"
    assert path.parent.name == "models" and path.parents[1].name == "data"
    assert path.parents[2].name == "xdepthdif"


def test_resolve_default_when_absent_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "default_model_path", lambda: tmp_path / "default.safetensors")
    with pytest.raises(CheckpointError) as info:
        model.resolve_model("default")
    message = str(info.value)
    assert "default model not installed" in message
    assert "ships with xdepthdif once trained" in message
    assert "path/to/NAME.safetensors" in message and "NAME.json" in message


def test_resolve_default_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "default_model_path", lambda: tmp_path / "default.safetensors")
    model.save_checkpoint(tmp_path / "default", linear_state(), make_card())
    assert model.resolve_model("default") == (tmp_path / "default.safetensors").resolve()


def test_resolve_a_path(tmp_path, ckpt, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for given in ("prior", "prior.json", ckpt):
        resolved = model.resolve_model(given)
        assert resolved.is_absolute() and resolved == ckpt.resolve()
    ckpt.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint prior not found.*'prior.json'"):
        model.resolve_model("prior")


def test_resolve_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "models_folder", lambda: tmp_path / "models")
    model.save_checkpoint(tmp_path / "models" / "conditional", linear_state(), make_card())
    model.save_checkpoint(tmp_path / "models" / "world", linear_state(1), make_card())
    (tmp_path / "models" / "orphan.safetensors").write_bytes(b"")  # no card: not shipped
    assert model.shipped_models() == ["conditional", "world"]
    assert model.resolve_model("world") == (tmp_path / "models" / "world.safetensors").resolve()
    assert model.resolve_model("default") == model.default_model_path().resolve()
    assert model.resolve_model("default") == model.resolve_model("conditional")
    monkeypatch.chdir(tmp_path)
    model.save_checkpoint(tmp_path / "world", linear_state(2), make_card())
    assert model.resolve_model("world").parent.name == "models"  # the shipped name wins
    assert model.resolve_model("./world") == (tmp_path / "world.safetensors").resolve()


def test_an_unknown_name_lists_the_shipped_names(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "models_folder", lambda: tmp_path / "models")
    model.save_checkpoint(tmp_path / "models" / "conditional", linear_state(), make_card())
    model.save_checkpoint(tmp_path / "models" / "world", linear_state(1), make_card())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=r"checkpoint wrld not found") as info:
        model.resolve_model("wrld")
    assert "shipped with xdepthdif: ['default', 'conditional', 'world']" in str(info.value)


def test_a_safetensors_header_length_starting_with_0x80_is_not_a_pickle(tmp_path):
    """The first byte of a safetensors file is the low byte of its header length: 0x80, the
    pickle marker, for one file in 256. Such a file must load."""
    from safetensors.torch import save_file

    state = linear_state()
    for pad in range(400):
        weights = tmp_path / f"w{pad}.safetensors"
        save_file(state, str(weights), metadata={"pad": "x" * pad})
        if weights.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no padding gave a header length with low byte 0x80")
    write_card_for(weights)
    loaded, _ = model.load_state_dict(weights)
    torch.testing.assert_close(loaded["weight"], state["weight"])


@pytest.mark.parametrize(
    "table", [{}, {"0": [1.0] * 3}, {"three": [1.0] * 3}, {"3": [1.0, 1.0]}, {"3": [1, -1, 1]}]
)
def test_spread_factors_by_step_count_are_checked(table):
    norm = {"mean": [0.0] * 3, "std": [1.0] * 3, "spread_scale_by_steps": table}
    with pytest.raises(ModelCardError, match="spread_scale_by_steps"):
        make_card(normalisation=norm)


def test_spread_factors_by_step_count_round_trip_in_order():
    norm = {"mean": [0.0] * 3, "std": [1.0] * 3}
    card = make_card(
        normalisation=norm | {"spread_scale_by_steps": {"10": [1.0] * 3, "3": [2] * 3}}
    )
    back = ModelCard.from_json(card.to_json())
    assert back == card and list(back.normalisation["spread_scale_by_steps"]) == ["3", "10"]
    assert model.spread_scale_for(back.normalisation, 4) == (2.0,) * 3


@pytest.mark.parametrize(
    "table",
    [{}, {"1": {}}, {"0": {"0.03": [1.0] * 3}}, {"one": {"0.03": [1.0] * 3}},
     {"1": {"0": [1.0] * 3}}, {"1": {"0.03": [1.0, 1.0]}}, {"1": [1.0] * 3}],
)  # fmt: skip
def test_downscaled_spread_factors_are_checked(table):
    norm = {"mean": [0.0] * 3, "std": [1.0] * 3, "spread_scale_downscaled": table}
    with pytest.raises(ModelCardError, match="spread_scale_downscaled"):
        make_card(normalisation=norm)


def test_downscaled_spread_factors_round_trip_by_spacing():
    from xdepthdif.analysis.downscale import downscaled_spread_for

    table = {"1.0": {"0.075": [0.8] * 3, "0.03": [1.2] * 3}, "0.25": {"0.03": [0.9] * 3}}
    card = make_card(normalisation={"mean": [0.0] * 3, "std": [1.0] * 3,
                                    "spread_scale_downscaled": table})  # fmt: skip
    back = ModelCard.from_json(card.to_json())
    norm = back.normalisation
    assert back == card and list(norm["spread_scale_downscaled"]) == ["0.25", "1"]
    assert list(norm["spread_scale_downscaled"]["1"]) == ["0.03", "0.075"]
    assert downscaled_spread_for(norm, 0.5, 0.05).tolist() == [0.9] * 3  # the finer on a tie
    assert downscaled_spread_for(norm, 1.0, 0.01).tolist() == [1.2] * 3  # the nearest share
    middle = downscaled_spread_for(norm, 1.0, (0.03 * 0.075) ** 0.5)  # halfway in log share
    assert middle.round(12).tolist() == [1.0] * 3
