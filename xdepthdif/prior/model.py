"""Checkpoints of the diffusion prior: safetensors weights beside a JSON model card.

A checkpoint ``NAME`` is ``NAME.safetensors`` (weights; never pickle) plus ``NAME.json`` (the
:class:`ModelCard`, with the sha256 of the weights). Format and sha256 are checked before anything
in the weights is parsed. The card is sealed like the weights: ``card_sha256`` in it is the sha256
of the rest of its content (:func:`card_digest`), checked whenever the checkpoint is opened, so a
hand-edited normalisation or spread is refused; :func:`reseal_card` accepts an edit on purpose.
:func:`cached_load` loads each (sha256, device) once per process, so
dask tasks carry a path and a sha256, never weights. torch is imported only where needed.

Examples
--------
>>> import pickle, tempfile
>>> card = ModelCard({"class": "UNet", "kwargs": {"width": 8}}, levels=(5.0, 50.0),
...     native_resolution_deg=1.0, normalisation={"mean": [20, 15], "std": [3, 2]},
...     training={"data": "synthetic ocean v1", "command": "xdepthdif train", "steps": 10,
...               "seed": 0, "date": "2025-01-01"}, algorithm_version="1")
>>> ModelCard.from_json(card.to_json()) == card
True
>>> stem = Path(tempfile.mkdtemp()) / "evil"
>>> _ = stem.with_suffix(".safetensors").write_bytes(pickle.dumps({"w": 1}))
>>> _ = stem.with_suffix(".json").write_text(card.to_json())
>>> verify(stem)  # doctest: +ELLIPSIS
Traceback (most recent call last):
xdepthdif.errors.CheckpointError: .../evil.safetensors is a Python pickle; only safetensors ...
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import threading
from collections.abc import Callable, Mapping
from functools import partial
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any

from xdepthdif.errors import CheckpointError, ModelCardError

from .checks import (
    SEAL,
    _check_header,
    _check_seal,
    by_steps,
    card_digest,
    check_conditioning,
    downscaled,
    floats,
    need,
)
from .registry import checkpoint_paths
from .registry import default_model_path as default_model_path  # re-exported
from .registry import models_folder as models_folder  # re-exported
from .registry import resolve_model as resolve_model  # re-exported
from .registry import shipped_models as shipped_models  # re-exported

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike[str]
CARD_FORMAT_VERSION = 1
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header, in bytes
_TRAINING_KEYS = ("data", "command", "steps", "seed", "date")
CLIMATOLOGIES = ("monthly", "shipped")
"""Values of ``normalisation["climatology"]`` besides none (see :class:`ModelCard`)."""
KINDS = ("guided-prior", "conditional")
"""Values of :attr:`ModelCard.kind`."""
_ONLY = "only safetensors weights are accepted (a pickle can run code on load): re-download it "
_ONLY += "or convert it with safetensors.torch.save_file() where you trust it"


def spread_scale_for(normalisation: Mapping[str, Any], steps: int) -> tuple | None:
    """The per-level spread factors a card gives a run of ``steps`` steps: those fitted at
    ``steps`` or, failing that, at the nearest step count (in ratio; the fewer on a tie) of
    ``spread_scale_by_steps``; without that table, ``spread_scale`` (or None).

    Examples
    --------
    >>> norm = {"spread_scale": [1.0], "spread_scale_by_steps": {"3": [0.8], "10": [1.3]}}
    >>> spread_scale_for(norm, 3), spread_scale_for(norm, 5), spread_scale_for(norm, 8)
    ([0.8], [0.8], [1.3])
    >>> spread_scale_for({"spread_scale": [1.1]}, 5)
    [1.1]
    """
    table = normalisation.get("spread_scale_by_steps")
    if not table:
        return normalisation.get("spread_scale")
    return table[nearest_key(table, steps)]


def nearest_key(table: Mapping[str, Any], value: float) -> str:
    """The key of ``table`` (numbers written as text) nearest ``value`` in ratio; the smaller
    on a tie.

    Examples
    --------
    >>> nearest_key({"3": 0, "10": 0}, 5), nearest_key({"0.5": 0, "2": 0}, 1.0)
    ('3', '0.5')
    """
    return min(table, key=lambda k: (abs(math.log(float(k) / value)), float(k)))


def _correlation(rows: Any, n: int) -> tuple:
    """A card's ``levels × levels`` correlation matrix: symmetric, unit diagonal, within ±1."""
    ok = isinstance(rows, list | tuple) and len(rows) == n
    need(ok, f"vertical_correlation must be {n} rows of {n} numbers")
    out = tuple(floats("vertical_correlation", row, n) for row in rows)
    ok = all(abs(out[i][i] - 1) < 1e-6 for i in range(n))
    ok = ok and all(abs(out[i][j] - out[j][i]) < 1e-6 and abs(out[i][j]) <= 1 + 1e-6
                    for i in range(n) for j in range(i))  # fmt: skip
    need(ok, "vertical_correlation must be symmetric with a unit diagonal, entries within ±1")
    return out


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a checkpoint is and how it was made (the ``NAME.json`` beside the weights).

    Parameters
    ----------
    architecture : dict
        ``{"class": name, "kwargs": {...}}``: the network class and its constructor arguments.
    levels : tuple of float
        Model depths in metres, positive down, increasing.
    native_resolution_deg : float
        Horizontal grid spacing the model was trained at, in degrees.
    normalisation : dict
        ``{"mean": [...], "std": [...]}``, one value per level, in °C, applied after subtracting
        a climatology named by ``"climatology"``:

        - absent: none, the network models the field itself;
        - ``"monthly"``: the monthly climatology of the training data, stored with the weights
          (tensors ``climatology/...``), interpolated between months at sampling time;
        - ``"shipped"``: xdepthdif's shipped climatology
          (:meth:`xdepthdif.background.ClimatologySpec.on_grid`), evaluated at sampling time on
          the patch's latitudes and longitudes, the model's levels and the time step's day of
          year, as the training world and ``reconstruct``'s default background evaluate it; no
          climatology is stored with the weights.

        Optionally ``"spread_scale"``, one factor per level by which the ensemble's deviations
        from its mean are multiplied (see
        :func:`xdepthdif.evaluation.calibration.calibrate_spread`); optionally
        ``"spread_scale_by_steps"``, such factors fitted at several step counts
        (``{"3": [...], "10": [...]}``), of which the sampler takes the one fitted at its own
        step count or the nearest (:func:`spread_scale_for`); optionally
        ``"spread_scale_downscaled"``, a conditional model's factors for its members
        downscaled onto a finer grid, fitted there, by grid spacing and share of the columns
        observed (``{"1": {"0.03": [...], "0.075": [...]}}``;
        :func:`xdepthdif.analysis.downscale.downscaled_spread_for`); and
        ``"vertical_correlation"``, the ``levels × levels`` correlation of the normalised data
        between levels, which preconditions the guidance column by column
        (:func:`xdepthdif.core.guidance.column_preconditioner`; see
        :func:`xdepthdif.evaluation.calibration.vertical_correlation`).
    training : dict
        ``data`` (exactly what it was trained on), ``command``, ``steps``, ``seed``, ``date``.
    algorithm_version : str
        Bumped when seeding, schedules or sampling change.
    sha256 : str
        Hex digest of the ``.safetensors`` file; :func:`save_checkpoint` fills it in.
    notes : str
    format_version : int
    kind : str
        ``"guided-prior"``: an unconditional prior that observations guide at sampling time
        (ReconMOST's design; what ``method="diffusion"`` samples), or ``"conditional"``: a
        model conditioned on the first guess, OI and observations (DepthDif's design,
        :mod:`xdepthdif.core.conditional`). ``method="diffusion"`` samples either. A card
        written before this field existed reads as ``"guided-prior"``.
    conditioning : dict
        Empty for a guided prior (and then absent from the JSON). A conditional model's card
        needs ``layout_version`` (the :data:`~xdepthdif.core.conditional.LAYOUT_VERSION` of its
        input channels), ``loss`` (``"edm"`` or ``"ambient"``: trained against full fields or
        against observations only) and ``surface`` (whether its training fed the surface
        temperature channels); its architecture must be a ``UNet`` with ``extra_in_channels``
        and its normalisation about the ``"shipped"`` climatology. See
        :func:`~xdepthdif.prior.checks.check_conditioning`.
    """

    architecture: dict[str, Any]
    levels: tuple[float, ...]
    native_resolution_deg: float
    normalisation: dict[str, tuple[float, ...]]
    training: dict[str, Any]
    algorithm_version: str
    sha256: str = ""
    notes: str = ""
    format_version: int = CARD_FORMAT_VERSION
    kind: str = "guided-prior"
    conditioning: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        arch, norm, train = self.architecture, self.normalisation, self.training
        v, known = self.format_version, range(1, CARD_FORMAT_VERSION + 1)
        need(v in known, f"format_version {v!r} is not in {known}: upgrade xdepthdif")
        ok = isinstance(arch, Mapping) and isinstance(arch.get("class"), str)
        ok = ok and isinstance(arch.get("kwargs", {}), Mapping)
        need(ok, f"architecture must be {{'class': str, 'kwargs': dict}}, found {arch!r}")
        levels = floats("levels", self.levels)
        ok = levels[0] >= 0 and all(a < b for a, b in pairwise(levels))
        need(ok, f"levels must be increasing depths in m, found {levels}")
        ok = isinstance(norm, Mapping) and {"mean", "std"} <= set(norm)
        need(ok, f"normalisation needs 'mean' and 'std' lists, found {norm!r}")
        missing = [k for k in _TRAINING_KEYS if not isinstance(train, Mapping) or k not in train]
        need(not missing, f"training lacks key(s) {missing}; it needs {list(_TRAINING_KEYS)}")
        n, res = len(levels), self.native_resolution_deg
        mean, std = floats("mean", norm["mean"], n), floats("std", norm["std"], n, True)
        set_ = partial(object.__setattr__, self)  # normalised: JSON round trips compare equal
        set_("architecture", {"class": arch["class"], "kwargs": dict(arch.get("kwargs", {}))})
        set_("native_resolution_deg", floats("native_resolution_deg", [res], 1, True)[0])
        clim = norm.get("climatology")
        ok = clim is None or clim in CLIMATOLOGIES
        need(ok, f"normalisation climatology must be one of {CLIMATOLOGIES} or none, not {clim!r}")
        need(self.kind in KINDS, f"kind must be one of {KINDS}, found {self.kind!r}")
        extra = {"climatology": clim} if clim else {}
        if norm.get("spread_scale") is not None:
            extra["spread_scale"] = floats("spread_scale", norm["spread_scale"], n, True)
        if norm.get("spread_scale_by_steps") is not None:
            extra["spread_scale_by_steps"] = by_steps(norm["spread_scale_by_steps"], n)
        if norm.get("spread_scale_downscaled") is not None:
            extra["spread_scale_downscaled"] = downscaled(norm["spread_scale_downscaled"], n)
        if norm.get("vertical_correlation") is not None:
            extra["vertical_correlation"] = _correlation(norm["vertical_correlation"], n)
        set_("normalisation", {"mean": mean, "std": std} | extra)
        set_("levels", levels)
        set_("training", dict(train))
        set_("conditioning", check_conditioning(self))

    def to_json(self) -> str:
        """The card as indented, strict JSON text, sealed with its ``card_sha256``."""
        raw = json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))
        if not raw["conditioning"]:  # a guided prior's card reads as it did before the field
            del raw["conditioning"]
        raw[SEAL] = card_digest(raw)
        return json.dumps(raw, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "model card") -> ModelCard:
        """Parse and validate a card; a missing key raises :class:`ModelCardError` naming it."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelCardError(f"{source} is not valid JSON: {err}") from err
        names = [f.name for f in dataclasses.fields(cls)]
        optional = ("notes", "kind", "conditioning")  # older cards: guided priors
        missing = [
            k for k in names if k not in optional and (not isinstance(raw, dict) or k not in raw)
        ]
        if missing:
            found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
            raise ModelCardError(f"{source} lacks required key(s) {missing}; found {found}")
        return cls(**{k: v for k, v in raw.items() if k in names})


def card_seal(path: PathLike) -> str:
    """The checked ``card_sha256`` of the checkpoint at ``path`` (its stem or either file).

    Raises
    ------
    ModelCardError
        When the card is missing its seal or was changed after it was written.
    """
    card_path = checkpoint_paths(path)[1]
    _open(path)
    return json.loads(card_path.read_text(encoding="utf-8"))[SEAL]


def reseal_card(path: PathLike) -> ModelCard:
    """Validate a checkpoint's card and write it again with a fresh ``card_sha256``.

    For a card written by an older xdepthdif, or edited by hand on purpose: its values become
    the ones checked from then on, so look at them first.
    """
    card_path = checkpoint_paths(path)[1]
    card = ModelCard.from_json(card_path.read_text(encoding="utf-8"), str(card_path))
    card_path.write_text(card.to_json(), encoding="utf-8")
    return card


def check_torch() -> None:
    """Refuse, before any work is planned, a machine without torch and safetensors (the
    ``diffusion`` extra), without importing them."""
    import importlib.util

    missing = [m for m in ("torch", "safetensors") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"method='diffusion' needs {' and '.join(missing)}, not installed here; install "
            'them with: pip install "xdepthdif[diffusion]"'
        )


def _require_torch() -> tuple[Any, Any]:
    try:
        import safetensors.torch
        import torch
    except ImportError as err:
        msg = f"diffusion models need torch and safetensors ({err}); install them with: "
        raise ImportError(msg + 'pip install "xdepthdif[diffusion]"') from err
    return torch, safetensors.torch


def _open(path: PathLike) -> tuple[Path, ModelCard]:
    """The weights path and the card, validated and checked against its seal."""
    weights, card_path = checkpoint_paths(path)
    for p in (card_path, weights):
        if not p.is_file():
            msg = f"{p} not found; a checkpoint is NAME.safetensors and NAME.json side by side"
            raise CheckpointError(msg + ", as written by xdepthdif.prior.model.save_checkpoint()")
    text = card_path.read_text(encoding="utf-8")
    card = ModelCard.from_json(text, str(card_path))
    _check_seal(json.loads(text), card_path)
    return weights, card


def _verify_stream(f: IO[bytes], size: int, card: ModelCard, weights: Path) -> None:
    """Refuse pickles, a wrong sha256 and a malformed header, parsing nothing of the weights."""
    head = f.read(9)
    n = int.from_bytes(head[:8], "little")
    header_ok = len(head) == 9 and 0 < n <= min(size - 8, _MAX_HEADER) and head[8:9] == b"{"
    # a safetensors header length may begin with 0x80 too: only a non-safetensors start counts
    if not header_ok and (head[:2] == b"PK" or head[:1] == b"\x80"):
        kind = "a zip archive (torch.save output)" if head[:2] == b"PK" else "a Python pickle"
        raise CheckpointError(f"{weights} is {kind}; {_ONLY}")
    f.seek(0)
    found = hashlib.file_digest(f, "sha256").hexdigest()
    if found != card.sha256:
        msg = f"sha256 of {weights} does not match its card: expected {card.sha256!r}, found "
        raise CheckpointError(msg + f"{found!r}; the file is corrupt: re-download or retrain it")
    if not header_ok:
        msg = f"{weights} is not safetensors (8-byte little-endian length, then '{{'; found "
        raise CheckpointError(msg + f"{head!r}); {_ONLY}")
    f.seek(8)
    _check_header(f.read(n), size - 8 - n, weights)


def verify(path: PathLike) -> ModelCard:
    """Refuse a pickle, a wrong sha256 or a non-safetensors file unparsed; return the card."""
    weights, card = _open(path)
    with open(weights, "rb") as f:
        _verify_stream(f, os.fstat(f.fileno()).st_size, card, weights)
    return card


def update_card(path: PathLike, **changes: Any) -> ModelCard:
    """Rewrite a checkpoint's model card with ``changes`` (the weights and sha256 stay) and a
    new ``card_sha256``; the old card must pass its own seal check first."""
    weights, card = _open(path)
    new = dataclasses.replace(card, **changes)
    checkpoint_paths(weights)[1].write_text(new.to_json(), encoding="utf-8")
    return new


def load_state_dict(path: PathLike, device: str = "cpu") -> tuple[dict[str, Any], ModelCard]:
    """Verify a checkpoint, then load its tensors onto ``device`` (the checked bytes are parsed)."""
    torch, st = _require_torch()
    weights, card = _open(path)
    data = weights.read_bytes()
    _verify_stream(io.BytesIO(data), len(data), card, weights)
    tensors = st.load(data)
    if torch.device(device).type != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors, card


def save_checkpoint(path_stem: PathLike, state_dict: Mapping[str, Any], card: ModelCard) -> Path:
    """Write ``NAME.safetensors`` and ``NAME.json`` (sha256 filled in); return the weights path."""
    torch, st = _require_torch()
    card.to_json()  # an unserialisable card fails before anything is written
    if bad := [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]:
        raise CheckpointError(f"state_dict values must be tensors; these are not: {bad}")
    weights, card_path = checkpoint_paths(path_stem)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state_dict.items()}
    tmp = weights.with_name(weights.name + ".tmp")  # a crash never truncates an old checkpoint
    st.save_file(tensors, str(tmp), metadata={"format": "pt"})
    with open(tmp, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    os.replace(tmp, weights)
    card_path.write_text(dataclasses.replace(card, sha256=digest).to_json(), encoding="utf-8")
    return weights


CLIMATOLOGY = "climatology/"
"""Prefix of the tensors of a monthly climatology stored beside the network's weights:
``mean`` ``(12, level, lat, lon)`` in °C, and its ``lat`` and ``lon`` axes."""

_CACHE = SimpleNamespace(lock=threading.Lock(), modules={}, loads=0)  # the package's one global


def cached_load(
    path: PathLike, sha256: str, device: str, build: Callable[[ModelCard, dict], torch.nn.Module]
) -> torch.nn.Module:
    """``build(card, state_dict)`` for (sha256, device, card), called once per process;
    thread-safe. The card is part of the key: recalibrating a model (a new card beside the
    same weights) is seen by the next call."""
    try:
        card_text = checkpoint_paths(path)[1].read_bytes()
    except OSError:  # load_state_dict below says what is missing
        card_text = b""
    key = (sha256, str(device), hashlib.sha256(card_text).hexdigest())
    with _CACHE.lock:
        if key not in _CACHE.modules:
            state_dict, card = load_state_dict(path, device)
            if card.sha256 != sha256:
                msg = f"checkpoint {path} has sha256 {card.sha256!r}, expected {sha256!r}: "
                raise CheckpointError(msg + "it changed since the job was planned; plan again")
            _CACHE.modules[key] = build(card, state_dict)
            _CACHE.loads += 1
        return _CACHE.modules[key]


def cache_info() -> dict[str, int]:
    """How many loads this process did and how many modules its cache holds.

    Examples
    --------
    >>> clear_cache(); cache_info()
    {'loads': 0, 'entries': 0}
    """
    with _CACHE.lock:
        return {"loads": _CACHE.loads, "entries": len(_CACHE.modules)}


def clear_cache() -> None:
    """Forget every cached module and reset the load counter (for tests)."""
    with _CACHE.lock:
        _CACHE.modules.clear()
        _CACHE.loads = 0
