"""Training loop of the conditional model: Adam on the conditional or ambient loss, EMA weights.

Torch and numpy only; the pool is a mapping of numpy arrays (see
:func:`xdepthdif.prior.conditional_data.build_pool`: ``target``, ``first_guess``, ``oi_mean``,
``oi_sd``, ``obs``, ``count``, ``sea``, ``lat``, ``lon``, ``doy``, ``periodic``, optionally
``sst`` and, for the ambient loss, ``held``, ``ambient_oi_mean``, ``ambient_oi_sd``). Each step
draws its samples, window and noise from a generator seeded by ``(seed, step)``, as
:func:`xdepthdif.core.train.train` does, so a run is reproducible bit for bit on one machine.
Writing checkpoints and model cards is left to the caller.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> N, L, H, W = 3, 2, 8, 16
>>> f = lambda: rng.standard_normal((N, L, H, W)).astype(np.float32)
>>> count = (rng.random((N, L, H, W)) < 0.2).astype(np.int32)
>>> pool = {"target": f(), "first_guess": f(), "oi_mean": f(), "oi_sd": f(), "obs": f(),
...         "count": count, "sea": np.ones((L, H, W), bool), "lat": np.linspace(-35, 35, H),
...         "lon": np.arange(W) * 22.5, "doy": np.array([15.0, 45.0, 74.0]),
...         "periodic": np.array(True)}
>>> res = train_conditional(pool, conditional_unet_config(L, base_channels=8,
...                         channel_mult=(1, 2), cond_dim=16), steps=3, batch_size=2, log=None)
>>> len(res.losses), sorted(res.ema)[0]
(3, 'cond_mlp.0.bias')
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .conditional import TARGETS, conditioning_channels, n_channels, to_target
from .conditional_loss import ambient_loss, conditional_loss
from .network import EDMDenoiser, UNet, UNetConfig

__all__ = ["ConditionalTrainResult", "conditional_unet_config", "train_conditional"]

LOSSES = ("edm", "ambient")


def conditional_unet_config(levels: int, **kwargs: Any) -> UNetConfig:
    """A :class:`UNetConfig` whose ``extra_in_channels`` fit the conditioning layout.

    Examples
    --------
    >>> conditional_unet_config(3, base_channels=8).extra_in_channels
    23
    """
    return UNetConfig(levels=levels, extra_in_channels=n_channels(levels), **kwargs)


@dataclasses.dataclass
class ConditionalTrainResult:
    """What :func:`train_conditional` did.

    Attributes
    ----------
    ema : dict
        EMA weights of the :class:`~xdepthdif.core.network.UNet` (load them into
        ``UNet(config)`` and wrap it in ``EDMDenoiser``).
    losses : list of float
        Loss of each step.
    net : UNet
        The network with its raw (not averaged) weights.
    steps_per_second : float
        Training speed of the run.
    """

    ema: dict[str, Tensor]
    losses: list[float]
    net: UNet
    steps_per_second: float


def _batch(pool: Mapping[str, np.ndarray], idx: np.ndarray, rows, cols, ambient: bool):
    """Target, loss support, shown support and conditioning of samples ``idx`` in a window."""
    sea = np.asarray(pool["sea"], bool)[:, rows][..., cols]

    def cut(key: str) -> np.ndarray:  # (N, levels, H, W) arrays
        return np.asarray(pool[key][idx])[:, :, rows][..., cols]

    def cut_columns(key: str) -> np.ndarray:  # (N, H, W) arrays
        return np.asarray(pool[key][idx])[:, rows][..., cols]

    count, obs = cut("count"), cut("obs")
    sst = cut_columns("sst") if "sst" in pool else None
    if ambient:
        held = cut_columns("held")
        observed = (count > 0) & sea & np.isfinite(obs)
        shown = observed & ~held[:, None]
        kept = np.where(shown, count, 0)
        extra = conditioning_channels(
            cut("first_guess"), cut("ambient_oi_mean"), cut("ambient_oi_sd"), obs, kept, sea, sst
        )
        return torch.from_numpy(obs), torch.from_numpy(observed), torch.from_numpy(shown), extra
    extra = conditioning_channels(
        cut("first_guess"), cut("oi_mean"), cut("oi_sd"), obs, count, sea, sst
    )
    return torch.from_numpy(cut("target")), torch.from_numpy(sea)[None], None, extra


def train_conditional(
    pool: Mapping[str, np.ndarray],
    unet_config: UNetConfig,
    steps: int,
    batch_size: int = 4,
    lr: float = 2e-4,
    loss: str = "edm",
    seed: int = 0,
    log: Callable[[str], Any] | None = print,
    *,
    ema_decay: float = 0.999,
    patch: tuple[int, int] | None = None,
    log_every: int = 50,
    target: str = "field",
    device: str = "cpu",
) -> ConditionalTrainResult:
    """Train a conditional EDM denoiser on a pool.

    Parameters
    ----------
    pool : mapping
        Arrays of :func:`xdepthdif.prior.conditional_data.build_pool` (or
        :func:`~xdepthdif.prior.conditional_data.load_pool`).
    unet_config : UNetConfig
        Network shape; ``levels`` must match the pool and ``extra_in_channels`` must be
        ``n_channels(levels)`` (see :func:`conditional_unet_config`).
    steps : int
        Optimiser steps.
    batch_size : int
        Samples per step.
    lr : float
        Adam learning rate.
    loss : str
        ``"edm"``: :func:`~xdepthdif.core.conditional_loss.conditional_loss` against the full
        targets; ``"ambient"``: :func:`~xdepthdif.core.conditional_loss.ambient_loss` against the
        observations only, the held-out columns removed from the input (the targets are never
        read).
    seed : int
        Seeds the initial weights and, with the step, every draw of a step.
    log : callable, optional
        Receives progress lines; None is silent.
    ema_decay : float
        Decay of the exponential moving average of the weights.
    patch : tuple of int, optional
        Training window ``(height, width)`` in cells (wrapping in longitude on a global grid);
        None for the whole grid.
    log_every : int
        Log every this many steps.
    target : {"field", "oi_residual"}
        What the network models (:func:`~xdepthdif.core.conditional.to_target`): the
        normalised field, or the OI's error in units of its standard deviation (the OI of the
        conditioning the sample is shown, the ambient one for the ambient loss).
    device : str
        Torch device of the weights and the steps (``"cpu"``, ``"cuda"``, ``"cuda:1"``...). The
        batches are cut from the pool on the host and moved there; the noise of each step is
        drawn on the device, so a GPU run is reproducible on its GPU, not equal to a CPU run.
        The EMA weights come back on the host.

    Returns
    -------
    ConditionalTrainResult
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}.")
    N, L, H, W = np.shape(pool["target"] if loss == "edm" else pool["obs"])
    if unet_config.levels != L or unet_config.extra_in_channels != n_channels(L):
        raise ValueError(
            f"the pool has {L} levels: the UNet needs levels={L} and extra_in_channels="
            f"{n_channels(L)}; build the config with conditional_unet_config({L}, ...)."
        )
    if loss == "ambient" and "held" not in pool:
        raise KeyError("loss='ambient' needs a pool built with build_pool(..., ambient=0.25).")
    h, w = patch or (H, W)
    if not (1 <= h <= H and 1 <= w <= W):
        raise ValueError(f"patch {patch} does not fit the grid ({H}, {W}).")
    global_grid = bool(pool.get("periodic", False))
    periodic = global_grid and w == W
    lat = np.asarray(pool["lat"], np.float32)
    lon = np.asarray(pool["lon"], np.float32)
    doy = np.asarray(pool["doy"], np.float32)

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r}, but this torch sees no CUDA GPU; train with device='cpu' or "
            "install torch for your CUDA."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = UNet(unet_config)
    net.to(dev)
    denoiser = EDMDenoiser(net).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
    losses: list[float] = []
    t_start = t0 = time.perf_counter()
    for step in range(steps):
        rng = np.random.default_rng([seed, step])
        gen = torch.Generator(device=dev).manual_seed(int(rng.integers(2**62)))
        idx = np.sort(rng.integers(0, N, batch_size))
        y0 = int(rng.integers(0, H - h + 1))
        x0 = int(rng.integers(0, W if global_grid and w < W else W - w + 1))
        rows, cols = slice(y0, y0 + h), np.arange(x0, x0 + w) % W
        batch = _batch(pool, idx, rows, cols, loss == "ambient")
        x, support, shown, extra = (None if b is None else b.to(dev) for b in batch)
        x = to_target(x, extra, target)
        args = tuple(torch.from_numpy(a).to(dev) for a in (lat[rows], lon[cols], doy[idx]))
        if shown is None:
            value = conditional_loss(denoiser, x, support, extra, *args, generator=gen,
                                     periodic=periodic)  # fmt: skip
        else:
            value = ambient_loss(denoiser, x, support, shown, extra, *args, generator=gen,
                                 periodic=periodic)  # fmt: skip
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        with torch.no_grad():
            for k, v in net.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].mul_(ema_decay).add_(v, alpha=1 - ema_decay)
                else:
                    ema[k].copy_(v)
        losses.append(float(value.detach()))
        if log is not None and ((step + 1) % log_every == 0 or step + 1 == steps):
            recent = losses[-min(len(losses), log_every) :]
            rate = len(recent) / max(time.perf_counter() - t0, 1e-9)
            log(f"step {step + 1}/{steps}  loss {np.mean(recent):.4f}  {rate:.2f} steps/s")
            t0 = time.perf_counter()
    rate = steps / max(time.perf_counter() - t_start, 1e-9)
    ema = {k: v.cpu() for k, v in ema.items()}
    return ConditionalTrainResult(ema=ema, losses=losses, net=net.cpu(), steps_per_second=rate)
