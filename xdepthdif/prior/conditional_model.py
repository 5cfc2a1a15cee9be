"""Checkpoints of the conditional model: its model card, written beside the EMA weights.

:func:`save_conditional` turns a :func:`~xdepthdif.core.conditional_train.train_conditional`
run on a pool of :func:`~xdepthdif.prior.conditional_data.build_pool` into a checkpoint that
``reconstruct(method="diffusion", model=...)`` samples: ``NAME.safetensors`` (the EMA weights of
the UNet) and the sealed ``NAME.json`` card of kind ``"conditional"``, which records the
network, the pool's levels, resolution and per-level normalisation (anomalies about the shipped
climatology), the conditioning layout and the loss (see :class:`~xdepthdif.prior.model.ModelCard`).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from xdepthdif.core.conditional_train import conditional_unet_config, train_conditional
>>> rng = np.random.default_rng(0)
>>> N, L, H, W = 2, 2, 8, 16
>>> f = lambda: rng.standard_normal((N, L, H, W)).astype(np.float32)
>>> pool = {"target": f(), "first_guess": f(), "oi_mean": f(), "oi_sd": f(), "obs": f(),
...         "count": np.ones((N, L, H, W), np.int32), "sea": np.ones((L, H, W), bool),
...         "lat": np.linspace(-35, 35, H), "lon": np.arange(W) * 22.5,
...         "doy": np.array([15.0, 45.0]), "periodic": np.array(True),
...         "depth": np.array([5.0, 50.0]), "mean": np.zeros(L), "std": np.ones(L),
...         "resolution_deg": np.array(22.5), "layout_version": np.array(1)}
>>> config = conditional_unet_config(L, base_channels=8, channel_mult=(1, 2), cond_dim=16)
>>> res = train_conditional(pool, config, steps=2, batch_size=1, log=None)
>>> stem = Path(tempfile.mkdtemp()) / "conditional"
>>> card = save_conditional(stem, res, config, pool, data="two random fields",
...                         command="doctest", seed=0, batch_size=1, lr=2e-4)
>>> card.kind, card.conditioning["layout_version"], card.normalisation["climatology"]
('conditional', 1, 'shipped')
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping
from os import PathLike
from typing import Any

import numpy as np

from .checks import UNSEEN
from .model import ModelCard, save_checkpoint, verify

__all__ = ["ALGORITHM_VERSION", "conditional_card", "save_conditional"]

ALGORITHM_VERSION = "1"
"""Of the conditional sampling (:mod:`xdepthdif.analysis.conditional`): bumped when its
inputs, seeding or schedule change."""


def conditional_card(
    unet_config: Any,
    pool: Mapping[str, np.ndarray],
    *,
    loss: str = "edm",
    target: str = "field",
    data: str,
    command: str,
    steps: int,
    seed: int,
    batch_size: int,
    lr: float,
    ema_decay: float = 0.999,
    patch: tuple[int, int] | None = None,
    last_loss: float = float("nan"),
    **training: Any,
) -> ModelCard:
    """The model card of a conditional model trained on ``pool``.

    Parameters
    ----------
    unet_config : UNetConfig
        The network (``extra_in_channels`` set, see
        :func:`~xdepthdif.core.conditional_train.conditional_unet_config`).
    pool : mapping
        The training pool: its ``depth``, ``resolution_deg``, ``mean``, ``std`` and
        ``layout_version`` go into the card.
    loss : {"edm", "ambient"}
        The training loss.
    target : {"field", "oi_residual"}
        What the network models (:func:`~xdepthdif.core.conditional.to_target`).
    data, command
        Exactly what the model was trained on, and the command that trained it.
    steps, seed, batch_size, lr, ema_decay, patch, last_loss
        The training run's settings and its last loss.
    **training
        Further entries of the card's ``training`` block (e.g. the pool's settings).

    Returns
    -------
    ModelCard
        Of kind ``"conditional"``, ``sha256`` empty (:func:`save_conditional` fills it in).
    """
    arch = dataclasses.asdict(unet_config)
    arch["channel_mult"] = list(unet_config.channel_mult)
    block = {
        "data": data,
        "command": command,
        "steps": int(steps),
        "seed": int(seed),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "loss": loss,
        "batch_size": int(batch_size),
        "patch": None if patch is None else [int(p) for p in patch],
        "lr": float(lr),
        "ema_decay": float(ema_decay),
        "last_loss": float(last_loss) if math.isfinite(last_loss) else None,
    } | training
    return ModelCard(
        architecture={"class": "UNet", "kwargs": arch},
        levels=tuple(np.asarray(pool["depth"], float).tolist()),
        native_resolution_deg=float(pool["resolution_deg"]),
        normalisation={
            "mean": tuple(np.asarray(pool["mean"], float).tolist()),
            "std": tuple(np.asarray(pool["std"], float).tolist()),
            "climatology": "shipped",
        },
        training=block,
        algorithm_version=ALGORITHM_VERSION,
        notes=(
            "EDMDenoiser(UNet, sigma_data=1) conditioned on the first guess (the shipped "
            "climatology), the default OI analysis and its error, the binned observations, "
            "their mask and count and the sea mask, all in anomalies about the shipped "
            "climatology normalised per level; weights are the EMA "
            f"(decay {ema_decay}) of the training weights."
        ),
        kind="conditional",
        conditioning={
            "layout_version": int(pool["layout_version"]),
            "loss": loss,
            "target": target,
            "surface": "sst" in pool,  # trained seeing a satellite SST
        }
        | ({"unseen": UNSEEN} if loss == "ambient" else {}),
    )


def save_conditional(
    path_stem: str | PathLike[str],
    result: Any,
    unet_config: Any,
    pool: Mapping[str, np.ndarray],
    **card: Any,
) -> ModelCard:
    """Write the EMA weights of a :class:`~xdepthdif.core.conditional_train.ConditionalTrainResult`
    and their card (:func:`conditional_card` with ``card``); return the card as written.

    ``steps`` and ``last_loss`` default to the run's own.
    """
    card.setdefault("steps", len(result.losses))
    card.setdefault("last_loss", result.losses[-1] if result.losses else float("nan"))
    weights = save_checkpoint(path_stem, result.ema, conditional_card(unet_config, pool, **card))
    return verify(weights)


WORLD_START = "1981-01"
"""First month of the training world a conditional model is trained on (as the world prior)."""
AMBIENT_SHARE = 0.25
"""Share of the observed columns held out per month for the ambient loss (DepthDif's)."""


def world_pool(
    months: int,
    resolution: float,
    *,
    levels: int = 0,
    fit: str = "band",
    ambient: bool = False,
    seed: int = 0,
    path: str | PathLike[str] | None = None,
    log: Any = print,
    draws: int = 1,
    sst: float | None = None,
    workers: int = 1,
    redraw_months: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The training pool of ``months`` months of the world's ``"train"`` split from
    :data:`WORLD_START`, built (:func:`~xdepthdif.prior.conditional_data.build_pool`) or read
    from ``path`` when it holds one of the same settings (and written there when it does not
    exist). Each month is observed ``draws`` times, and a sample has a satellite SST with
    probability ``sst`` (see :func:`~xdepthdif.prior.conditional_data.build_pool`, which
    ``workers`` processes build; the pool is the same for any number). With
    ``redraw_months`` the world draws its waves afresh every that many months
    (:func:`~xdepthdif.prior.world.train_world`).

    Returns
    -------
    pool, settings
        The pool and the settings it was built with (``start``, ``months``,
        ``resolution_deg``, ``levels``, ``fit``, ``ambient``, ``seed``, ``shares``,
        ``draws``, ``sst`` and, when not 0, ``redraw_months``).

    Raises
    ------
    ValueError
        When ``path`` holds a pool of other settings (delete it, or name another file).
    """
    import json
    from pathlib import Path

    from ..timing import mid_months
    from .conditional_data import build_pool, load_pool, save_pool
    from .world import train_world

    settings = {
        "start": WORLD_START,
        "months": int(months),
        "resolution_deg": float(resolution),
        "levels": int(levels),
        "fit": fit,
        "ambient": AMBIENT_SHARE if ambient else None,
        "seed": int(seed),
        "shares": [0.01, 0.2],
        "draws": int(draws),
        "sst": None if sst is None else float(sst),
    }
    if redraw_months:  # pools of the one-draw world keep the settings they were built with
        settings["redraw_months"] = int(redraw_months)
    if path is not None and Path(path).is_file():
        pool = load_pool(path)
        found = json.loads(str(pool.get("settings", "{}")))
        if found != settings:
            raise ValueError(
                f"{path} holds a pool built with {found}, not {settings}; delete it or pass "
                "another --pool file."
            )
        if log is not None:
            log(f"read the pool of {months} months x {draws} draws from {path}")
        return pool, settings
    pool = build_pool(
        mid_months(WORLD_START, months), resolution, split="train",
        levels=list(range(levels)) if levels else None, shares=tuple(settings["shares"]),
        seed=seed, fit=fit, ambient=settings["ambient"], log=log, draws=draws,
        sst=sst, workers=workers, world_config=train_world(redraw_months),
    )  # fmt: skip
    pool["settings"] = np.array(json.dumps(settings))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_pool(pool, path)
    return pool, settings


def describe_pool(pool: Mapping[str, np.ndarray], settings: Mapping[str, Any]) -> str:
    """What a :func:`world_pool` holds, for a model card's ``training["data"]``."""
    from ..background import ClimatologySpec
    from .world import train_world_label

    months, start = settings["months"], settings["start"]
    draws = settings.get("draws", 1)
    end = (np.datetime64(f"{start}") + np.timedelta64(months - 1, "M")).astype(str)
    depth = np.asarray(pool["depth"], float)
    lo, hi = settings["shares"]
    fit = "each month's own observations" if settings["fit"] == "month" else "band of shares"
    text = (
        f"xdepthdif training world ({train_world_label(settings.get('redraw_months', 0))}); "
        f"{months} months "
        f"{start} to {end}, {settings['resolution_deg']:g} deg, {depth.size} levels "
        f"({depth[0]:g} to {depth[-1]:g} m); Argo-like profiles of {lo:g} to {hi:g} of the "
        f"columns (log-uniform, seed {settings['seed']}, {draws} draw(s) per month), binned, "
        f"analysed by the default OI "
        f"with the covariance fitted per {fit}; anomalies about the shipped climatology "
        f"(sha256 {ClimatologySpec.shipped().sha256[:12]})"
    )
    if settings["ambient"]:
        text += f"; {settings['ambient']:g} of the observed columns held out for the ambient loss"
    if settings.get("sst") is not None:
        from .conditional_data import SST_NOISE

        text += (
            f"; a satellite SST (the top level plus {SST_NOISE:g} degC noise, none under sea "
            f"ice) in {settings['sst']:g} of the samples"
        )
    return text
