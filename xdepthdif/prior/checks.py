"""Checks of a checkpoint that parse nothing that could run: the model card's seal, the
safetensors header (plain JSON), the network arguments a card names and its tables of numbers.

:mod:`xdepthdif.prior.model` calls them before anything in a checkpoint is used.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from xdepthdif.errors import CheckpointError, ModelCardError

SEAL = "card_sha256"


def need(ok: bool, msg: str) -> None:
    """Raise :class:`~xdepthdif.errors.ModelCardError` with ``msg`` unless ``ok``."""
    if not ok:
        raise ModelCardError(f"model card: {msg}")


def floats(name: str, values: Any, n: int | None = None, positive: bool = False) -> tuple:
    """``values`` as a tuple of finite floats (``n`` of them, > 0 if ``positive``)."""
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as err:
        raise ModelCardError(f"model card: {name} must be numbers, found {values!r}") from err
    need(bool(out) and n in (None, len(out)), f"{name} has {len(out)} values, expected {n}")
    ok = all(math.isfinite(v) and (v > 0 or not positive) for v in out)
    need(ok, f"{name} must be finite{' and > 0' * positive}, found {out}")
    return out


def keyed(name: str, table: Any, parse: Callable[[Any], float], value: Callable) -> dict:
    """A card's table keyed by positive numbers (``parse`` reads a key), each value checked by
    ``value(name, v)``, in the keys' order, the keys written as numbers."""
    try:
        keys = {k: float(parse(k)) for k in table} if isinstance(table, Mapping) else {}
    except ValueError:
        keys = {}
    ok = bool(keys) and all(math.isfinite(v) and v > 0 for v in keys.values())
    need(ok, f"{name} must map positive numbers to its entries, found {table!r}")
    return {f"{keys[k]:.12g}": value(f"{name}[{k}]", table[k]) for k in sorted(keys, key=keys.get)}


def by_steps(table: Any, n: int) -> dict[str, tuple]:
    """A card's ``spread_scale_by_steps``: per-level factors by whole step counts >= 1."""
    return keyed("spread_scale_by_steps", table, lambda k: int(str(k)),
                 lambda name, v: floats(name, v, n, True))  # fmt: skip


def downscaled(table: Any, n: int) -> dict[str, dict[str, tuple]]:
    """A card's ``spread_scale_downscaled``: by grid spacing (degrees), then by share of the
    columns observed, per-level factors."""
    return keyed("spread_scale_downscaled", table, float,
                 lambda name, shares: keyed(name, shares, float,
                                            lambda key, v: floats(key, v, n, True)))  # fmt: skip


def card_digest(raw: Mapping[str, Any]) -> str:
    """sha256 of a card's content: its JSON without ``card_sha256``, keys sorted, compact.

    Examples
    --------
    >>> card_digest({"b": [1.0, 2], "a": "x"}) == card_digest({"a": "x", "b": [1.0, 2]})
    True
    """
    content = {k: v for k, v in raw.items() if k != SEAL}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_seal(raw: Any, card_path: Path) -> str:
    """The card's recorded ``card_sha256`` after checking it against the content."""
    seal = raw.get(SEAL) if isinstance(raw, dict) else None
    fix = (
        f"restore the card from where it came from, or, if you changed it on purpose and its "
        f"values are right, reseal it with xdepthdif.prior.model.reseal_card({str(card_path)!r})"
    )
    if not isinstance(seal, str):
        raise ModelCardError(
            f"{card_path} has no {SEAL}: it was written by an older xdepthdif or by hand, so "
            f"nothing shows that its normalisation and spread values are the ones trained; {fix}"
        )
    found = card_digest(raw)
    if found != seal:
        raise ModelCardError(
            f"{card_path} was changed after it was written: its content has sha256 {found!r}, "
            f"its {SEAL} says {seal!r} (a hand-edited or corrupt normalisation, spread_scale or "
            f"architecture would change the analysis silently); {fix}"
        )
    return seal


_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2}
_ITEMSIZE |= {"F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}


def _check_header(header: bytes, data_size: int, weights: Path) -> None:
    """Refuse a safetensors header that is not JSON or whose tensors do not tile the data.

    The header is plain JSON (nothing in it runs): checking it here makes a broken file fail
    when the job is planned, not in the first dask task that loads the weights.
    """
    fix = "the file was written broken (the card's sha256 was taken of it): retrain or re-save it"
    try:
        entries = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"{weights} has a safetensors header that is not JSON ({err}); {fix}"
        raise CheckpointError(msg) from err
    if not isinstance(entries, dict):
        raise CheckpointError(
            f"{weights} has a safetensors header that is not a JSON object; {fix}"
        )
    spans = []
    for name, entry in entries.items():
        if name == "__metadata__":
            continue
        problem = _header_entry_problem(entry)
        if problem:
            raise CheckpointError(f"{weights}: tensor {name!r} in the header {problem}; {fix}")
        spans.append(tuple(entry["data_offsets"]))
    spans.sort()
    ends = [0] + [b for _, b in spans]
    if any(a != end for (a, _), end in zip(spans, ends, strict=False)) or ends[-1] != data_size:
        raise CheckpointError(
            f"{weights}: the tensors in its header do not cover its {data_size} data bytes "
            f"exactly (offsets {spans[:4]}{' ...' * (len(spans) > 4)}); {fix}"
        )


def _header_entry_problem(entry: Any) -> str:
    """Why one header entry is malformed, or '' when it is well formed."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return f"is {entry!r}, not {{'dtype', 'shape', 'data_offsets'}}"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _ITEMSIZE:
        return f"has an unknown dtype {dtype!r}"
    ints = isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2
    ints = ints and all(isinstance(v, int) and v >= 0 for v in [*shape, *offsets])
    if not ints or offsets[0] > offsets[1]:
        return f"has shape {shape!r} and data_offsets {offsets!r}, not counts and a [start, end]"
    if offsets[1] - offsets[0] != math.prod(shape) * _ITEMSIZE[dtype]:
        return f"has {offsets[1] - offsets[0]} bytes for shape {shape} of {dtype}"
    return ""


ARCHITECTURES = {
    "UNet": frozenset(
        {"levels", "base_channels", "channel_mult", "blocks_per_level", "cond_dim"}
        | {"extra_in_channels", "dropout", "sigma_data"}
    ),
}
"""The networks the diffusion methods build, and the ``kwargs`` each accepts in a card."""


def check_architecture(card: Any, source: str = "model card") -> None:
    """Refuse, before any graph is built, a card whose network this version cannot build.

    ``card`` is a :class:`~xdepthdif.prior.model.ModelCard`.

    Raises
    ------
    ModelCardError
        For an unknown ``architecture.class`` or a key its constructor does not take.
    """
    arch = card.architecture
    known = ARCHITECTURES.get(arch["class"])
    if known is None:
        raise ModelCardError(
            f"{source}: architecture class {arch['class']!r} is unknown to this version, which "
            f"builds {sorted(ARCHITECTURES)}; upgrade xdepthdif or use another checkpoint."
        )
    unknown = sorted(set(arch["kwargs"]) - known)
    if unknown:
        raise ModelCardError(
            f"{source}: architecture kwargs {unknown} are unknown to {arch['class']} (it takes "
            f"{sorted(known)}); the card was edited or written by another version: restore it "
            "or use another checkpoint."
        )


CONDITIONAL_LOSSES = ("edm", "ambient")
"""Values of a conditional card's ``conditioning["loss"]``."""
UNSEEN = "predicted"
"""``conditioning["unseen"]`` of a model trained with the ambient loss: off the cells it is shown,
its estimate is the network's own prediction (``seen`` of
:class:`~xdepthdif.core.network.EDMDenoiser`). Ambient models trained before this key existed
used EDM's finite-σ scalings there and cannot be sampled by this version."""
CONDITIONAL_TARGETS = ("field", "oi_residual")
"""Values of a conditional card's ``conditioning["target"]``: what the network models
(:data:`xdepthdif.core.conditional.TARGETS`)."""


def check_conditioning(card: Any) -> dict[str, Any]:
    """The ``conditioning`` block of a model card, validated against its ``kind``.

    A guided prior has none. A conditional model's needs ``layout_version`` (a whole number
    >= 1), ``loss`` (one of :data:`CONDITIONAL_LOSSES`), ``surface`` (bool) and, optionally,
    ``target`` (one of :data:`CONDITIONAL_TARGETS`; ``"field"`` when absent); its
    architecture must be a ``UNet`` taking ``extra_in_channels`` and its normalisation must
    be about the ``"shipped"`` climatology, the first guess its inputs are anomalies about.
    Whether this version reads the layout is checked when the model is sampled
    (:func:`check_sampleable`), so that a card of a newer layout still opens; so is an ambient
    model's ``unseen`` (:data:`UNSEEN`).

    ``card`` is a :class:`~xdepthdif.prior.model.ModelCard` (its other fields validated).

    Raises
    ------
    ModelCardError
        Naming what is missing or wrong.
    """
    block = card.conditioning
    if not isinstance(block, Mapping):
        raise ModelCardError(f"model card: conditioning must be a dict, found {block!r}")
    if card.kind != "conditional":
        if block:
            raise ModelCardError(
                f"model card: a {card.kind!r} model takes no conditioning block, found {block!r}"
            )
        return {}
    problems = []
    version = block.get("layout_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(f"conditioning.layout_version must be a whole number >= 1, not {version!r}")
    if block.get("loss") not in CONDITIONAL_LOSSES:
        problems.append(f"conditioning.loss must be one of {CONDITIONAL_LOSSES}")
    if not isinstance(block.get("surface"), bool):
        problems.append("conditioning.surface must be true or false")
    if block.get("target", "field") not in CONDITIONAL_TARGETS:  # older cards: "field"
        problems.append(f"conditioning.target must be one of {CONDITIONAL_TARGETS}")
    extra = card.architecture["kwargs"].get("extra_in_channels")
    if card.architecture["class"] != "UNet" or not isinstance(extra, int) or extra < 1:
        problems.append("the architecture must be a UNet with extra_in_channels >= 1")
    if card.normalisation.get("climatology") != "shipped":
        problems.append("normalisation.climatology must be 'shipped'")
    if problems:
        raise ModelCardError(
            f"model card of a conditional model: {'; '.join(problems)} (found conditioning "
            f"{dict(block)!r}); write conditional checkpoints with "
            "xdepthdif.prior.conditional_model.save_conditional or `xdepthdif train --kind "
            "conditional`."
        )
    return dict(block)


def check_sampleable(card: Any, source: str = "model card") -> None:
    """Refuse, before any graph is built, a checkpoint that ``method="diffusion"`` cannot
    sample: a conditional model of a channel layout this version does not read, or whose
    network does not take that layout's channels, or an ambient model whose card lacks
    ``unseen`` = :data:`UNSEEN`.

    ``card`` is a :class:`~xdepthdif.prior.model.ModelCard`. Imports torch (through
    :mod:`xdepthdif.core.conditional`) for a conditional card only.

    Raises
    ------
    ModelCardError
        Saying which layout the model needs and which this version reads.
    """
    if card.kind != "conditional":
        return
    from ..core.conditional import LAYOUT_VERSION, n_channels

    block = card.conditioning
    if block["loss"] == "ambient" and block.get("unseen") != UNSEEN:
        raise ModelCardError(
            f"{source}: the conditional model was trained with the ambient loss by an earlier "
            "xdepthdif, whose denoiser scaled cells it was not shown as if they were (card "
            f"conditioning.unseen is {block.get('unseen')!r}, this version samples "
            f"{UNSEEN!r}); its members would be wrong off the observations. Retrain it with "
            "`xdepthdif train --kind conditional --loss ambient`."
        )
    version = block["layout_version"]
    if version != LAYOUT_VERSION:
        raise ModelCardError(
            f"{source}: the conditional model reads conditioning layout {version}; this version "
            f"of xdepthdif builds layout {LAYOUT_VERSION} (xdepthdif.core.conditional), so its "
            "inputs would be wrong. Use the xdepthdif version the model was trained with, or "
            "retrain it with `xdepthdif train --kind conditional`."
        )
    levels = len(card.levels)
    extra = card.architecture["kwargs"].get("extra_in_channels")
    if extra != n_channels(levels):
        raise ModelCardError(
            f"{source}: a conditional model on {levels} levels takes {n_channels(levels)} "
            f"conditioning channels (layout {LAYOUT_VERSION}), its architecture says {extra}: "
            "the card does not describe these weights; restore it or retrain the model."
        )
