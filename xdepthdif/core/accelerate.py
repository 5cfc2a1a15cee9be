"""Opt-in speed-ups of a denoiser for sampling: bfloat16 autocast and ``torch.compile``.

Both change the last bits of the answer (bfloat16 more than that: see the accuracy table in
``docs/benchmarks.md``), so both are off by default. :func:`sampling_denoiser` wraps the raw
network inside an :class:`~xdepthdif.core.network.EDMDenoiser` and keeps the preconditioning,
the skip connection and the guidance in float32. The variant is built once per denoiser and
kept on it (``torch.compile`` compiles on the first call: minutes on a CPU), so a
process that samples many time steps compiles once.

Examples
--------
>>> import torch
>>> from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig
>>> D = EDMDenoiser(UNet(UNetConfig(levels=2, base_channels=8, channel_mult=(1, 2), cond_dim=8)))
>>> sampling_denoiser(D) is D
True
>>> fast = sampling_denoiser(D, precision="bfloat16")
>>> fast is sampling_denoiser(D, precision="bfloat16")
True
>>> x, lat, lon = torch.randn(1, 2, 4, 6), torch.linspace(-6, 6, 4), torch.arange(0, 360, 60.0)
>>> fast(x, torch.ones(1), lat, lon, 100.0, periodic=True).dtype
torch.float32
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .network import EDMDenoiser

__all__ = ["PRECISIONS", "sampling_denoiser"]

PRECISIONS = ("float32", "bfloat16")
"""Precisions of the network's evaluation: float32, or bfloat16 under ``torch.autocast``."""


class _Autocast(nn.Module):
    """Run a network under bfloat16 autocast and return its output in the input's dtype."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.config = getattr(net, "config", None)  # the UNet's shape, for samplers that read it

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            out = self.net(x, *args, **kwargs)
        return out.to(x.dtype)


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")


def sampling_denoiser(
    denoiser: EDMDenoiser, precision: str = "float32", compile: bool = False
) -> EDMDenoiser:
    """The denoiser to sample with: ``denoiser`` itself, or a faster variant sharing its weights.

    Parameters
    ----------
    denoiser : EDMDenoiser
        The model (its ``net`` is wrapped; its weights are shared, not copied).
    precision : {"float32", "bfloat16"}
        ``"bfloat16"`` evaluates the network (forward and backward) under
        ``torch.autocast(dtype=torch.bfloat16)``: faster on CPUs with bfloat16 instructions
        (AVX-512 bfloat16, AMX) and on GPUs, about two significant digits per operation.
    compile : bool
        ``torch.compile`` the network (forward and backward); the first evaluation of each
        input shape compiles, which takes minutes on a CPU (less with torch's on-disk cache
        of compiled kernels warm).

    Returns
    -------
    EDMDenoiser
        ``denoiser`` itself with the defaults; otherwise a variant, cached on ``denoiser`` so
        that each process builds (and compiles) it once.
    """
    _check(precision)
    if precision == "float32" and not compile:
        return denoiser
    variants = denoiser.__dict__.setdefault("_sampling_variants", {})
    key = (precision, bool(compile))
    if key not in variants:
        net: nn.Module = denoiser.net
        if precision == "bfloat16":
            net = _Autocast(net)
        if compile:
            net = torch.compile(net, dynamic=False)
        variants[key] = EDMDenoiser(net, sigma_data=denoiser.sigma_data)
    return variants[key]
