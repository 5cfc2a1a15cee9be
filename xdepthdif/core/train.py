"""Training loop of the diffusion prior: Adam on the EDM loss, EMA weights, exact resume, DDP.

Torch and numpy only. The data are a normalised field ``(time, levels, lat, lon)`` with its ocean
mask (see :func:`xdepthdif.prior.training_data.prepare_training_data`). Each step draws its windows,
times and noise from a generator seeded by ``(seed, step, rank)``, so stopping and resuming from
the checkpoint gives the same weights as an uninterrupted run. Under ``torchrun`` (an initialised
``torch.distributed`` process group) the denoiser is wrapped in ``DistributedDataParallel``;
each rank draws different windows and only rank 0 writes.

A run with stem ``NAME`` writes ``NAME.safetensors`` + ``NAME.json`` (the EMA weights of the
:class:`~xdepthdif.core.network.UNet` and the model card, by
:func:`xdepthdif.prior.model.save_checkpoint`) and ``NAME.train.safetensors`` (raw weights, EMA,
Adam state and the step counter) to resume from.

Examples
--------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from xdepthdif.core.network import UNetConfig
>>> rng = np.random.default_rng(0)
>>> data = rng.standard_normal((3, 2, 8, 16)).astype(np.float32)
>>> mask = np.ones((2, 8, 16), bool)
>>> lat, lon = np.linspace(-35, 35, 8), np.arange(16) * 22.5
>>> stem = Path(tempfile.mkdtemp()) / "prior"
>>> res = train(data, mask, lat, lon, np.array([15.0, 45.0, 74.0]),
...             UNetConfig(levels=2, base_channels=8, channel_mult=(1, 2), cond_dim=16),
...             TrainConfig(steps=3, batch_size=2, patch=(8, 16)), stem, log=None)
>>> res.step, len(res.losses), res.path.name
(3, 3, 'prior.safetensors')
>>> from xdepthdif.prior.model import load_state_dict
>>> D = build_denoiser(*load_state_dict(stem))
>>> type(D).__name__
'EDMDenoiser'
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..prior.model import CLIMATOLOGY
from ..progress import report
from .network import EDMDenoiser, UNet, UNetConfig, edm_loss

__all__ = ["TrainConfig", "TrainResult", "build_denoiser", "train", "train_state_path"]

ALGORITHM_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train`.

    Parameters
    ----------
    steps : int
        Total optimiser steps (a resumed run continues up to this number).
    batch_size : int
        Samples per step and rank.
    patch : tuple of int
        Window ``(height, width)`` in grid cells.
    lr : float
        Adam learning rate.
    ema_decay : float
        Decay of the exponential moving average of the weights that is saved as the model.
    seed : int
        Seeds the initial weights and, with the step and rank, every draw of a step.
    checkpoint_every : int
        Write a checkpoint every this many steps (and always at the end).
    device : str
        ``"cpu"`` or ``"cuda"`` (``"cuda:N"``).
    windows : int
        Distinct spatial windows per step; the batch is split between them (samples of one
        window share latitude and longitude, at different times).
    log_every : int
        Log the mean loss and steps/s every this many steps.
    """

    steps: int = 2000
    batch_size: int = 8
    patch: tuple[int, int] = (32, 64)
    lr: float = 2e-4
    ema_decay: float = 0.999
    seed: int = 0
    checkpoint_every: int = 500
    device: str = "cpu"
    windows: int = 1
    log_every: int = 50


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    path : Path
        The weights file of the checkpoint (``NAME.safetensors``).
    step : int
        The step reached.
    losses : list of float
        Loss of each step run in this call (this rank's batches).
    net : UNet
        The network with its raw (not averaged) trained weights.
    ema : dict
        The EMA weights, as saved in the checkpoint.
    """

    path: Path
    step: int
    losses: list[float]
    net: UNet
    ema: dict[str, Tensor]


def train_state_path(out_stem: str | os.PathLike[str]) -> Path:
    """The resume file ``NAME.train.safetensors`` of a checkpoint stem ``NAME``."""
    stem = Path(out_stem)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".train.safetensors")


def build_denoiser(state_dict: Mapping[str, Tensor], card: Any) -> EDMDenoiser:
    """An :class:`EDMDenoiser` in eval mode from UNet weights and their model card.

    The argument order is that of :func:`xdepthdif.prior.model.load_state_dict`'s result."""
    kw = dict(card.architecture["kwargs"])
    kw["channel_mult"] = tuple(kw.get("channel_mult", (1, 2, 2)))
    net = UNet(UNetConfig(**kw))
    net.load_state_dict({k: v for k, v in state_dict.items() if not k.startswith(CLIMATOLOGY)})
    return EDMDenoiser(net).eval()


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _is_global(lon: np.ndarray) -> bool:
    if lon.size < 2:
        return False
    step = np.diff(lon)
    res = float(np.median(np.abs(step)))
    return bool(np.allclose(step, step[0], rtol=1e-3) and abs(res * lon.size - 360) < 0.5 * res)


def _save_state(path: Path, tensors: dict[str, Tensor]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def _pack(net: UNet, ema: dict[str, Tensor], opt: torch.optim.Adam, step: int) -> dict:
    out = {f"raw/{k}": v for k, v in net.state_dict().items()}
    out.update({f"ema/{k}": v for k, v in ema.items()})
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"optim/{i}/{k}"] = torch.as_tensor(v)
    out["step"] = torch.tensor([step], dtype=torch.int64)
    return out


def _unpack(
    tensors: dict[str, Tensor], net: UNet, ema: dict[str, Tensor], opt: torch.optim.Adam
) -> int:
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("raw/")})
    for k in ema:
        ema[k].copy_(tensors[f"ema/{k}"])
    state: dict[int, dict[str, Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith("optim/"):
            _, i, name = key.split("/", 2)
            state.setdefault(int(i), {})[name] = v
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)
    return int(tensors["step"][0])


_SUBTRACTED = {
    "monthly": "the monthly climatology stored with the weights",
    "shipped": "xdepthdif's shipped climatology",
}


def _anomalies(info: Mapping[str, Any]) -> str | None:
    """What the training data are anomalies about: ``info["anomalies"]``, or ``"monthly"``
    when only a ``climatology`` array is given (the ``info`` of older callers)."""
    anomalies = info.get("anomalies", "monthly" if "climatology" in info else None)
    if anomalies not in (None, *_SUBTRACTED):
        raise ValueError(f"info['anomalies'] must be one of {list(_SUBTRACTED)} or None.")
    if anomalies == "monthly" and "climatology" not in info:
        raise ValueError("info['anomalies'] is 'monthly' but info holds no 'climatology' array.")
    return anomalies


def _card(
    cfg: UNetConfig, tc: TrainConfig, step: int, info: Mapping[str, Any], command: str, loss: float
) -> Any:
    from xdepthdif.prior.model import ModelCard

    L = cfg.levels
    anomalies = _anomalies(info)
    depth = np.asarray(info.get("depth", np.arange(L, dtype=float)), float)
    training = {
        "data": str(info.get("description", "unspecified numpy array")),
        "command": command,
        "steps": int(step),
        "seed": int(tc.seed),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "batch_size": tc.batch_size,
        "patch": list(tc.patch),
        "lr": tc.lr,
        "ema_decay": tc.ema_decay,
        "windows": tc.windows,
        "world_size": _dist()[1],
        "last_loss": loss if math.isfinite(loss) else None,
    }
    arch = dataclasses.asdict(cfg)
    arch["channel_mult"] = list(cfg.channel_mult)
    return ModelCard(
        architecture={"class": "UNet", "kwargs": arch},
        levels=tuple(depth.tolist()),
        native_resolution_deg=float(info.get("resolution_deg", 1.0)),
        normalisation={
            "mean": tuple(np.asarray(info.get("mean", np.zeros(L)), float).tolist()),
            "std": tuple(np.asarray(info.get("std", np.ones(L)), float).tolist()),
        }
        | ({"climatology": anomalies} if anomalies else {}),
        training=training,
        algorithm_version=ALGORITHM_VERSION,
        notes="EDMDenoiser(UNet, sigma_data=1) on fields normalised per level"
        + (f" after subtracting {_SUBTRACTED[anomalies]}; " if anomalies else "; ")
        + f"weights are the EMA (decay {tc.ema_decay}) of the training weights.",
        kind="guided-prior",
    )


def train(
    data: np.ndarray,
    mask: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    doy: np.ndarray,
    unet_config: UNetConfig,
    train_config: TrainConfig,
    out_stem: str | os.PathLike[str],
    resume: bool = True,
    log: Callable[[str], Any] | None = print,
    info: Mapping[str, Any] | None = None,
    command: str = "",
) -> TrainResult:
    """Train an EDM denoiser on windows of a normalised field and write its checkpoint.

    Parameters
    ----------
    data : numpy.ndarray
        float32 ``(time, levels, lat, lon)``, normalised per level; any value off ``mask``.
    mask : numpy.ndarray
        bool ``(levels, lat, lon)``, ``True`` on ocean points.
    lat, lon : numpy.ndarray
        Axes in degrees (lat south to north). A uniform longitude axis covering 360° is global:
        windows wrap around, and convolutions do when a window spans every longitude.
    doy : numpy.ndarray
        Day of year of each time.
    unet_config : UNetConfig
        Network shape; ``levels`` must match the data.
    train_config : TrainConfig
    out_stem : path
        Checkpoint stem ``NAME`` (writes ``NAME.safetensors``, ``NAME.json``,
        ``NAME.train.safetensors``).
    resume : bool
        Continue from ``NAME.train.safetensors`` when it exists.
    log : callable, optional
        Receives progress lines (rank 0 only); ``None`` is silent.
    info : mapping, optional
        ``depth``, ``mean``, ``std``, ``resolution_deg``, ``description`` for the model card,
        ``anomalies`` (``"monthly"``, ``"shipped"`` or None: the card's
        ``normalisation["climatology"]``) and, with ``"monthly"``, the ``climatology`` saved
        beside the weights (the ``info`` of
        :func:`~xdepthdif.prior.training_data.prepare_training_data`).
    command : str
        Command line recorded in the model card.

    Returns
    -------
    TrainResult
    """
    tc, cfg, info = train_config, unet_config, dict(info or {})
    T, L, H, W = data.shape
    if cfg.levels != L or mask.shape != (L, H, W):
        raise ValueError(
            f"data {data.shape} / mask {mask.shape} do not match UNetConfig.levels={cfg.levels}."
        )
    h, w = tc.patch
    if h > H or w > W:
        raise ValueError(f"patch {tc.patch} is larger than the grid ({H}, {W}); lower --patch.")
    if tc.batch_size < tc.windows or tc.windows < 1:
        raise ValueError(f"need 1 <= windows ({tc.windows}) <= batch_size ({tc.batch_size}).")
    rank, world = _dist()
    say = log if (log is not None and rank == 0) else (lambda _msg: None)
    device = torch.device(tc.device)
    wraps = _is_global(np.asarray(lon, float))
    periodic = wraps and w == W
    lat, lon, doy = (np.asarray(a, np.float32) for a in (lat, lon, doy))
    mask_t = torch.from_numpy(np.ascontiguousarray(mask, bool))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(tc.seed)
        net = UNet(cfg)
    net.to(device)
    denoiser: torch.nn.Module = EDMDenoiser(net)
    opt = torch.optim.Adam(net.parameters(), lr=tc.lr)
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
    state_path = train_state_path(out_stem)
    stem = state_path.with_name(state_path.name.removesuffix(".train.safetensors"))
    step = 0
    if resume and state_path.exists():
        from safetensors.torch import load_file

        step = _unpack(load_file(str(state_path), device=str(device)), net, ema, opt)
        say(f"resumed from {state_path} at step {step}")
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index or 0] if device.type == "cuda" else None
        denoiser = DistributedDataParallel(denoiser, device_ids=ids)

    def batch(rng: np.random.Generator, n: int) -> tuple:
        y0 = int(rng.integers(0, H - h + 1))
        x0 = int(rng.integers(0, W if wraps and w < W else W - w + 1))
        t = rng.integers(0, T, n)
        cols = np.arange(x0, x0 + w) % W
        x = torch.from_numpy(np.ascontiguousarray(data[t, :, y0 : y0 + h][..., cols]))
        m = mask_t[:, y0 : y0 + h][..., torch.from_numpy(cols)][None]
        to = {"device": device}
        return (
            x.to(**to),
            m.to(**to),
            torch.from_numpy(lat[y0 : y0 + h]).to(**to),
            torch.from_numpy(lon[cols]).to(**to),
            torch.from_numpy(doy[t]).to(**to),
        )

    extra = {}
    if _anomalies(info) == "monthly":  # "shipped": evaluated at sampling time, nothing stored
        extra = {
            CLIMATOLOGY + "mean": torch.tensor(np.asarray(info["climatology"], np.float32)),
            CLIMATOLOGY + "lat": torch.tensor(np.asarray(info["lat"], np.float64)),
            CLIMATOLOGY + "lon": torch.tensor(np.asarray(info["lon"], np.float64)),
        }
    sizes = [len(a) for a in np.array_split(np.arange(tc.batch_size), tc.windows)]
    losses: list[float] = []
    last_loss, t0, n0 = float("nan"), time.perf_counter(), step

    def save(at: int) -> Path | None:
        if rank != 0:
            return None
        _save_state(state_path, _pack(net, ema, opt, at))
        from xdepthdif.prior.model import save_checkpoint

        return save_checkpoint(stem, ema | extra, _card(cfg, tc, at, info, command, last_loss))

    denoiser.train()
    while step < tc.steps:
        rng = np.random.default_rng([tc.seed, step, rank])
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for g, n in enumerate(sizes):
            x, m, la, lo, dy = batch(rng, n)
            sync = g == len(sizes) - 1 or world == 1
            ctx = denoiser.no_sync() if not sync else contextlib.nullcontext()
            with ctx:
                loss = edm_loss(denoiser, x, m, la, lo, dy, generator=gen, periodic=periodic)
                (loss / len(sizes)).backward()
            total += float(loss.detach()) / len(sizes)
        opt.step()
        with torch.no_grad():
            for k, v in net.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].mul_(tc.ema_decay).add_(v, alpha=1 - tc.ema_decay)
                else:
                    ema[k].copy_(v)
        step += 1
        losses.append(total)
        last_loss = total
        if rank == 0:
            report("training steps", step, tc.steps)
        if step % tc.log_every == 0 or step == tc.steps:
            dt = time.perf_counter() - t0
            recent = losses[-min(len(losses), tc.log_every) :]
            say(
                f"step {step}/{tc.steps}  loss {np.mean(recent):.4f}  "
                f"{(step - n0) / max(dt, 1e-9):.2f} steps/s"
            )
            t0, n0 = time.perf_counter(), step
        if step % tc.checkpoint_every == 0 and step < tc.steps:
            save(step)
    path = save(step)
    if path is not None:
        say(f"wrote {path}")
    if world > 1:
        torch.distributed.barrier()
    path = Path(path) if path else stem.with_name(stem.name + ".safetensors")
    return TrainResult(path, step, losses, net, ema)
