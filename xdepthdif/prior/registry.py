"""Where a checkpoint is: the files of a stem, the checkpoints that ship inside the package, and
what a name or a path given as ``model=`` points to.

Examples
--------
>>> [p.name for p in checkpoint_paths("runs/prior")]
['prior.safetensors', 'prior.json']
"""

from __future__ import annotations

import os
from pathlib import Path

from xdepthdif.errors import CheckpointError

PathLike = str | os.PathLike[str]

DEFAULT_MODEL = "conditional"
"""The shipped checkpoint ``model="default"`` names: the one with the lowest CRPS on the
validation world (``benchmarks/model_choice.py``; never chosen on the test world)."""

__all__ = [
    "DEFAULT_MODEL",
    "checkpoint_paths",
    "default_model_path",
    "models_folder",
    "resolve_model",
    "shipped_models",
]


def checkpoint_paths(path: PathLike) -> tuple[Path, Path]:
    """The ``(weights, card)`` paths of a checkpoint, given its stem or either of its files.

    Examples
    --------
    >>> [p.name for p in checkpoint_paths("runs/prior.json")]
    ['prior.safetensors', 'prior.json']
    """
    p = Path(path)
    p = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def models_folder() -> Path:
    """The folder of the checkpoints that ship inside the package."""
    return Path(__file__).parents[1] / "data" / "models"


def default_model_path() -> Path:
    """Where the default model (:data:`DEFAULT_MODEL`) lives inside the package (it may not be
    there yet).

    Examples
    --------
    >>> default_model_path().name
    'conditional.safetensors'
    """
    return models_folder() / f"{DEFAULT_MODEL}.safetensors"


def shipped_models() -> list[str]:
    """Names of the checkpoints shipped in the package (``NAME.safetensors`` with ``NAME.json``).

    Examples
    --------
    >>> {"conditional", "synthetic", "world"} <= set(shipped_models())
    True
    """
    folder = models_folder()
    names = {p.stem for p in folder.glob("*.safetensors")} if folder.is_dir() else set()
    return sorted(n for n in names if (folder / f"{n}.json").is_file())


def _is_name(model: PathLike) -> bool:
    """A bare name (no folder, no suffix) that may name a shipped checkpoint."""
    text = os.fspath(model)
    return isinstance(model, str) and bool(text) and Path(text).name == text and "." not in text


def resolve_model(model: PathLike) -> Path:
    """The absolute weights path of a shipped checkpoint's name or of a checkpoint path.

    ``"default"`` is the shipped checkpoint :data:`DEFAULT_MODEL` names, and any name of
    :func:`shipped_models` (e.g. ``"world"``) the checkpoint of that name in the package; a
    shipped name wins over a file of the same name in the working folder (write ``"./world"``
    for that one). Anything else is a path, with or without ``.safetensors`` or ``.json``.

    Raises
    ------
    CheckpointError
        When the files are missing; a name that is neither shipped nor a file gets the list of
        the shipped names.

    Examples
    --------
    >>> resolve_model("no/such/prior")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xdepthdif.errors.CheckpointError: checkpoint no/such/prior not found: missing ...
    """
    if not str(model).strip():
        raise CheckpointError(
            f"model={model!r} names no checkpoint: give 'default', a shipped name "
            f"({', '.join(shipped_models())}) or the path of a checkpoint."
        )
    shipped = shipped_models() if _is_name(model) else []
    if model == "default":
        path: PathLike = default_model_path()
    elif _is_name(model) and model in shipped:
        path = models_folder() / f"{model}.safetensors"
    else:
        path = model
    weights, card = checkpoint_paths(path)
    missing = [p.name for p in (weights, card) if not p.is_file()]
    if missing:
        if model == "default":
            what = "default model not installed (it ships with xdepthdif once trained)"
        else:
            what = f"checkpoint {model} not found"
        msg = f"{what}: missing {missing} in {weights.parent.resolve()}; pass model="
        msg += "'path/to/NAME.safetensors' with NAME.json beside it"
        if _is_name(model):
            msg += f", or the name of a checkpoint shipped with xdepthdif: {['default', *shipped]}"
        raise CheckpointError(msg)
    return weights.resolve()
