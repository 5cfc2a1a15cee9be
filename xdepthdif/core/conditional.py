"""The conditional diffusion model (DESIGN §6.5, DepthDif's design): its inputs, what it
models, its sampler (its losses: :mod:`xdepthdif.core.conditional_loss`).

Torch only. A conditional model is an :class:`~xdepthdif.core.network.EDMDenoiser` whose
:class:`~xdepthdif.core.network.UNet` takes :func:`n_channels` extra input channels: the first
guess, the OI analysis and its error, the gridded observations with their mask and count, the sea
mask and the surface temperature. It needs no guidance at sampling time, so a network
evaluation costs a plain forward.

**Units.** Every temperature-like channel is in the model's normalised units,
``(T − T̄ − mean) / std``, where ``T̄`` is the shipped climatology at the time step's day of year
and ``mean``, ``std`` are the per-level statistics of the training anomalies about it; error
standard deviations are divided by ``std`` only. The model's output is in the same units.

**Layout** (version :data:`LAYOUT_VERSION`): channel groups in the order of
:data:`LEVEL_CHANNELS`, each with one channel per level (level 0 first), then the
:data:`SURFACE_CHANNELS`. Channel ``g * levels + k`` is group ``g`` at level ``k``;
:func:`channel_slice` names them.

===============  ==============================================================================
``first_guess``  first-guess anomaly (0 − mean)/std for the shipped climatology; 0 off the sea
``oi_mean``      OI analysis anomaly; 0 off the sea
``oi_sd``        OI error standard deviation / std; 0 off the sea
``obs``          binned observations' anomaly; 0 where there is none
``obs_mask``     1 where the cell holds an observation at that level, else 0
``log_count``    ``log1p`` of the number of observations in the cell (0 where none)
``sea``          1 on sea points of that level, 0 on land and below the sea floor
``sst``          surface temperature anomaly in level 0's units; 0 where there is none
``sst_mask``     1 where a surface temperature is given, else 0
===============  ==============================================================================

Examples
--------
>>> import torch
>>> L, H, W = 2, 4, 8
>>> field = torch.zeros(L, H, W)
>>> count = torch.zeros(L, H, W, dtype=torch.int64); count[:, 1, 2] = 3
>>> extra = conditioning_channels(field, field, field + 0.5, field + 1.0, count,
...                               sea=torch.ones(L, H, W, dtype=torch.bool))
>>> extra.shape == (1, n_channels(L), H, W)
True
>>> mask, obs = channel_slice("obs_mask", L), channel_slice("obs", L)
>>> extra[0, mask].sum().item(), extra[0, obs].sum().item()
(2.0, 2.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .sampler import sample_heun
from .schedule import denoise_last_sigmas

__all__ = [
    "LAYOUT_VERSION",
    "LEVEL_CHANNELS",
    "RESIDUAL_SD_FLOOR",
    "SIGMA_MAX",
    "SURFACE_CHANNELS",
    "TARGETS",
    "channel_slice",
    "conditioning_channels",
    "from_target",
    "n_channels",
    "sample_conditional",
    "to_target",
]

LAYOUT_VERSION = 1
"""Version of the channel layout; bump it when :data:`LEVEL_CHANNELS`, :data:`SURFACE_CHANNELS`
or their units change (a model trained on one layout cannot read another)."""
LEVEL_CHANNELS = ("first_guess", "oi_mean", "oi_sd", "obs", "obs_mask", "log_count", "sea")
"""Channel groups with one channel per level, in input order."""
SURFACE_CHANNELS = ("sst", "sst_mask")
"""Single channels after the per-level groups."""
SIGMA_MAX = 10.0
"""Largest noise level of :func:`sample_conditional`: ten times the data's standard deviation,
enough for fields normalised per level (the guided prior's sampler uses the same)."""

TARGETS = ("field", "oi_residual")
"""What a conditional network models: ``"field"``, the normalised anomaly itself, or
``"oi_residual"``, the OI's error in units of its own standard deviation (DESIGN §6.5's
residual design: the ensemble mean starts at the OI, the spread models what the OI misses)."""
RESIDUAL_SD_FLOOR = 0.05
"""Smallest OI standard deviation (normalised units) a residual is divided by, so that cells
where the OI is nearly exact (observed ones) do not amplify the residual without bound."""

ArrayLike = Tensor | np.ndarray


def n_channels(levels: int) -> int:
    """Number of conditioning channels of a model on ``levels`` levels.

    Examples
    --------
    >>> n_channels(42)
    296
    """
    return len(LEVEL_CHANNELS) * int(levels) + len(SURFACE_CHANNELS)


def channel_slice(name: str, levels: int) -> slice:
    """The channels of group ``name`` (one per level; one for a surface channel).

    Examples
    --------
    >>> channel_slice("oi_mean", 3), channel_slice("sst_mask", 3)
    (slice(3, 6, None), slice(22, 23, None))
    """
    if name in LEVEL_CHANNELS:
        g = LEVEL_CHANNELS.index(name)
        return slice(g * levels, (g + 1) * levels)
    if name in SURFACE_CHANNELS:
        i = len(LEVEL_CHANNELS) * levels + SURFACE_CHANNELS.index(name)
        return slice(i, i + 1)
    raise KeyError(
        f"unknown conditioning channel {name!r}; layout {LAYOUT_VERSION} has "
        f"{LEVEL_CHANNELS + SURFACE_CHANNELS}."
    )


def _tensor(a: ArrayLike, dtype: torch.dtype, device: Any) -> Tensor:
    return torch.as_tensor(np.asarray(a) if not isinstance(a, Tensor) else a).to(
        dtype=dtype, device=device
    )


def conditioning_channels(
    first_guess: ArrayLike,
    oi_mean: ArrayLike,
    oi_sd: ArrayLike,
    obs: ArrayLike,
    count: ArrayLike,
    sea: ArrayLike,
    sst: ArrayLike | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """The ``(B, C, H, W)`` conditioning tensor of the layout (see the module docstring).

    Parameters
    ----------
    first_guess, oi_mean, oi_sd, obs
        Normalised fields, ``(levels, H, W)`` or ``(B, levels, H, W)``; NaN allowed (off the
        sea, and in ``obs`` where there is no observation).
    count
        Observations per cell and level, same shape; a cell is observed where ``count > 0``,
        ``obs`` is finite and ``sea`` holds.
    sea
        Bool sea mask, ``(levels, H, W)`` or ``(B, levels, H, W)``.
    sst
        Normalised surface temperature anomaly (level 0's units), ``(H, W)`` or ``(B, H, W)``,
        NaN where there is none; None for no surface field (both surface channels 0).
    dtype, device
        Of the result.

    Returns
    -------
    Tensor
        ``(B, n_channels(levels), H, W)``, finite.
    """
    if device is None:
        device = first_guess.device if isinstance(first_guess, Tensor) else "cpu"
    parts = [_tensor(a, torch.float64, device) for a in (first_guess, oi_mean, oi_sd, obs)]
    cnt = _tensor(count, torch.float64, device)
    sea_t = _tensor(sea, torch.bool, device)
    if parts[0].ndim == 3:
        parts, cnt = [p[None] for p in parts], cnt[None]
    if parts[0].ndim != 4:
        raise ValueError(
            f"first_guess has shape {tuple(parts[0].shape)}; give (levels, H, W) or "
            "(batch, levels, H, W)."
        )
    shape = parts[0].shape
    if any(p.shape != shape for p in parts[1:]) or cnt.shape != shape:
        raise ValueError(
            "first_guess, oi_mean, oi_sd, obs and count must share one shape, got "
            f"{[tuple(p.shape) for p in (*parts, cnt)]}."
        )
    sea_t = torch.broadcast_to(sea_t if sea_t.ndim == 4 else sea_t[None], shape)
    zero = torch.zeros((), dtype=torch.float64, device=device)
    fg, oi, sd, y = (torch.where(sea_t & p.isfinite(), p, zero) for p in parts)
    observed = sea_t & (cnt > 0) & parts[3].isfinite()
    y = torch.where(observed, y, zero)
    log_count = torch.where(observed, torch.log1p(cnt.clamp(min=0)), zero)
    B, _, H, W = shape
    if sst is None:
        s = torch.zeros((B, 1, H, W), dtype=torch.float64, device=device)
        s_mask = torch.zeros_like(s)
    else:
        s = _tensor(sst, torch.float64, device)
        s = torch.broadcast_to(s if s.ndim == 3 else s[None], (B, H, W))[:, None]
        s_mask = (s.isfinite() & sea_t[:, :1]).to(torch.float64)
        s = torch.where(s_mask > 0, s, zero)
    out = torch.cat([fg, oi, sd, y, observed.double(), log_count, sea_t.double(), s, s_mask], 1)
    return out.to(dtype)


def _oi_scale(extra: Tensor, levels: int) -> tuple[Tensor, Tensor]:
    """The OI mean and its standard deviation (floored) of the conditioning ``extra``."""
    oi = extra[:, channel_slice("oi_mean", levels)]
    sd = extra[:, channel_slice("oi_sd", levels)].clamp(min=RESIDUAL_SD_FLOOR)
    return oi, sd


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}.")


def to_target(x: Tensor, extra: Tensor, target: str = "field") -> Tensor:
    """What the network models of normalised fields ``x`` ``(B, levels, H, W)``.

    ``"field"``: ``x`` itself; ``"oi_residual"``: ``(x − oi_mean) / max(oi_sd,``
    :data:`RESIDUAL_SD_FLOOR` ``)`` with the OI channels of ``extra`` (which must belong to
    the same samples, or to one sample for all). :func:`from_target` inverts it.

    Examples
    --------
    >>> L, H, W = 2, 3, 4
    >>> extra = torch.zeros(1, n_channels(L), H, W)
    >>> extra[:, channel_slice("oi_mean", L)] = 1.0
    >>> extra[:, channel_slice("oi_sd", L)] = 0.5
    >>> r = to_target(torch.full((1, L, H, W), 2.0), extra, "oi_residual")
    >>> r[0, 0, 0, 0].item(), from_target(r, extra, "oi_residual")[0, 0, 0, 0].item()
    (2.0, 2.0)
    """
    _check_target(target)
    if target == "field":
        return x
    oi, sd = _oi_scale(extra, x.shape[1])
    return (x - oi) / sd


def from_target(r: Tensor, extra: Tensor, target: str = "field") -> Tensor:
    """Normalised fields from what the network models (the inverse of :func:`to_target`)."""
    _check_target(target)
    if target == "field":
        return r
    oi, sd = _oi_scale(extra, r.shape[1])
    return oi + sd * r


def sample_conditional(
    denoiser: nn.Module,
    extra: Tensor,
    lat: Tensor,
    lon: Tensor,
    doy: float,
    members: int,
    steps: int,
    generator: torch.Generator | None = None,
    periodic: bool = False,
    *,
    sigma_max: float = SIGMA_MAX,
    input_mask: Tensor | None = None,
    target: str = "field",
    noise: Tensor | None = None,
    callback: Any = None,
) -> tuple[Tensor, int]:
    """An ensemble of a conditional model: Heun on the Karras schedule, the last step a denoise.

    No guidance: the observations enter through ``extra`` only. The noise levels are
    :func:`~xdepthdif.core.schedule.denoise_last_sigmas` (``steps`` steps from ``sigma_max``,
    the last one returning the denoised estimate, so 3–5 steps work) and the sampler
    :func:`~xdepthdif.core.sampler.sample_heun`.

    Parameters
    ----------
    denoiser : nn.Module
        A conditional :class:`~xdepthdif.core.network.EDMDenoiser` (eval mode).
    extra : Tensor
        Conditioning ``(C, H, W)`` or ``(1, C, H, W)`` of one time step
        (:func:`conditioning_channels`), shared by the members.
    lat, lon : Tensor
        Cell centres (degrees), ``(H,)`` and ``(W,)``.
    doy : float
        Day of year.
    members : int
        Ensemble size.
    steps : int
        Heun steps (at least 1): ``2 * steps - 1`` network evaluations per member.
    generator : torch.Generator, optional
        Source of the initial noise, one ``randn(members, levels, H, W)`` draw.
    periodic : bool
        Wrap around in longitude (global grids).
    sigma_max : float
        Noise level of the first step.
    input_mask : Tensor, optional
        Bool, broadcastable to ``(members, levels, H, W)``: the network sees its noisy input
        only there (``seen`` of :class:`~xdepthdif.core.network.EDMDenoiser`: zero elsewhere,
        where the estimate is the network's own prediction). For models trained with
        :func:`~xdepthdif.core.conditional_loss.ambient_loss`, pass the observed cells; None
        for models trained with :func:`~xdepthdif.core.conditional_loss.conditional_loss`.
    target : {"field", "oi_residual"}
        What the network models (its card's ``conditioning["target"]``, see
        :func:`to_target`); the members are turned back into fields with :func:`from_target`.
    noise : Tensor, optional
        The members' unit-variance initial noise ``(members, levels, H, W)``, drawn by the
        caller (e.g. one generator per member); ``generator`` is then not used.
    callback : callable, optional
        ``callback(done, total)`` after each step (see
        :func:`~xdepthdif.core.sampler.sample_heun`).

    Returns
    -------
    members : Tensor
        ``(members, levels, H, W)`` normalised fields (the model's units).
    nfe : int
        Network evaluations per member.

    Examples
    --------
    >>> from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig
    >>> cfg = UNetConfig(levels=2, base_channels=8, channel_mult=(1, 2), cond_dim=16,
    ...                  extra_in_channels=n_channels(2))
    >>> _ = torch.manual_seed(0)
    >>> D = EDMDenoiser(UNet(cfg)).eval()
    >>> x, nfe = sample_conditional(D, torch.zeros(n_channels(2), 4, 8), torch.linspace(-30, 30, 4),
    ...                             torch.arange(8) * 45.0, 15.0, members=3, steps=3,
    ...                             generator=torch.Generator().manual_seed(0), periodic=True)
    >>> tuple(x.shape), nfe, bool(x.isfinite().all())
    ((3, 2, 4, 8), 5, True)
    """
    if members < 1 or steps < 1:
        raise ValueError(f"need members >= 1 and steps >= 1, got {members} and {steps}.")
    _check_target(target)
    extra = extra if extra.ndim == 4 else extra[None]
    if extra.shape[0] != 1:
        raise ValueError(f"extra holds {extra.shape[0]} time steps; give one, (C, H, W).")
    net = getattr(denoiser, "net", None)
    levels = int(net.config.levels) if net is not None else None
    if levels is None:
        raise TypeError("sample_conditional needs an EDMDenoiser around a UNet (its .net.config).")
    if extra.shape[1] != n_channels(levels):
        raise ValueError(
            f"extra has {extra.shape[1]} channels; a model on {levels} levels takes "
            f"{n_channels(levels)} (layout {LAYOUT_VERSION}): build it with "
            "conditioning_channels."
        )
    p = next(denoiser.parameters())
    dtype, device = p.dtype, p.device
    _, _, H, W = extra.shape
    if noise is None:
        noise = torch.randn((members, levels, H, W), generator=generator, dtype=dtype)
    elif tuple(noise.shape) != (members, levels, H, W):
        raise ValueError(f"noise has shape {tuple(noise.shape)}, not {(members, levels, H, W)}.")
    sigmas = denoise_last_sigmas(steps, sigma_max=sigma_max)
    args = {
        "lat": lat.to(dtype=dtype, device=device),
        "lon": lon.to(dtype=dtype, device=device),
        "doy": torch.full((members,), float(doy), dtype=dtype, device=device),
        "extra": extra.to(dtype=dtype, device=device).expand(members, -1, -1, -1),
        "periodic": periodic,
    }
    if input_mask is not None:  # the network sees its noisy input there only
        args["seen"] = torch.broadcast_to(
            input_mask.to(device=device, dtype=torch.bool), noise.shape
        )
    x, nfe = sample_heun(
        denoiser, noise.to(device=device, dtype=dtype) * float(sigmas[0]), sigmas, args,
        callback=callback,
    )  # fmt: skip
    if not math.isfinite(float(x.abs().max())):
        raise FloatingPointError("the conditional sampler diverged (non-finite members).")
    return from_target(x, args["extra"], target), nfe
