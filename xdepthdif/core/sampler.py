"""Few-step samplers for the probability-flow ODE of an EDM-parameterised diffusion model.

Every sampler has the signature ``(denoiser, x, sigmas, extra_args=None, guidance=None,
generator=None)`` and returns ``(x, nfe)``: the final sample and the number of network
(denoiser) evaluations. ``denoiser(x, sigma, **extra_args)`` returns ``D(x; sigma)``, the
posterior-mean estimate of the clean field, with ``sigma`` a tensor of shape ``(batch,)``.
``x`` enters as pure noise at ``sigmas[0]``, i.e. ``sigmas[0] * randn``.

``guidance``, if given, is a callable ``guidance(denoiser, x, sigma, extra_args) -> Tensor`` that
evaluates the denoiser itself (it needs its Jacobian) and returns a corrected denoised estimate;
the samplers use it in place of ``denoiser`` so any guidance composes with any sampler.

Examples
--------
>>> import torch
>>> from xdepthdif.core.schedule import karras_sigmas
>>> x0 = 80.0 * torch.ones(2, 3, dtype=torch.float64)
>>> x, nfe = sample_heun(lambda x, sigma: torch.zeros_like(x), x0, karras_sigmas(4))
>>> nfe, x.abs().max().item()
(7, 0.0)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, Protocol

import torch

__all__ = ["Denoiser", "Guidance", "sample_euler", "sample_heun"]

Denoiser = Callable[..., torch.Tensor]


class Guidance(Protocol):
    """A corrected denoiser: evaluates ``denoiser`` at ``(x, sigma)`` and returns a new estimate."""

    def __call__(
        self, denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, extra_args: dict[str, Any]
    ) -> torch.Tensor: ...


class _Counted:
    """Wrap a denoiser and count its forward evaluations."""

    def __init__(self, denoiser: Denoiser) -> None:
        self.denoiser = denoiser
        self.calls = 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.calls += 1
        return self.denoiser(x, sigma, **kwargs)


def _denoise(
    net: _Counted,
    x: torch.Tensor,
    sigma: float,
    extra_args: dict[str, Any],
    guidance: Guidance | None,
) -> torch.Tensor:
    """One (optionally guided) denoiser evaluation at a scalar noise level."""
    s = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
    if guidance is None:
        with torch.no_grad():
            return net(x, s, **extra_args)
    return guidance(net, x, s, extra_args).detach()


def sample_heun(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    extra_args: dict[str, Any] | None = None,
    guidance: Guidance | None = None,
    generator: torch.Generator | None = None,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    callback: Callable[[int, int], object] | None = None,
) -> tuple[torch.Tensor, int]:
    """EDM second-order Heun sampler (Karras et al. 2022, Algorithm 2).

    Deterministic unless ``s_churn > 0``. Two denoiser evaluations per step, except the last
    step to ``sigma = 0``, which returns the denoised estimate (the Euler step to 0, without
    its rounding): ``2 n - 1`` evaluations for ``n`` steps.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, **extra_args) -> D(x; sigma)``.
    x : torch.Tensor
        Initial noise, ``sigmas[0] * randn``, shape ``(batch, ...)``.
    sigmas : torch.Tensor
        Decreasing noise levels ending in 0, e.g. from ``karras_sigmas``.
    extra_args : dict, optional
        Keyword arguments passed to every denoiser call (conditioning).
    guidance : Guidance, optional
        Returns a corrected denoised estimate; see the module docstring.
    generator : torch.Generator, optional
        Random source for the churn noise.
    s_churn, s_tmin, s_tmax, s_noise : float
        EDM stochasticity parameters (paper defaults: no churn).
    callback : callable, optional
        ``callback(done, total)`` after each step (progress).

    Returns
    -------
    x : torch.Tensor
        The sample at ``sigma = sigmas[-1]``.
    nfe : int
        Number of denoiser evaluations.
    """
    net, extra_args = _Counted(denoiser), extra_args or {}
    levels = [float(s) for s in sigmas]
    n = len(levels) - 1
    for i, (s_cur, s_next) in enumerate(itertools.pairwise(levels)):
        if callback is not None and i > 0:
            callback(i, n)
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= s_cur <= s_tmax else 0.0
        s_hat = s_cur * (1 + gamma)
        if gamma > 0:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x + math.sqrt(s_hat**2 - s_cur**2) * s_noise * noise
        denoised = _denoise(net, x, s_hat, extra_args, guidance)
        if s_next == 0:  # the last step: the clean-field estimate itself, no noise added
            x = denoised
            continue
        d = (x - denoised) / s_hat
        x_next = x + (s_next - s_hat) * d
        if s_next > 0:
            d_next = (x_next - _denoise(net, x_next, s_next, extra_args, guidance)) / s_next
            x_next = x + (s_next - s_hat) * (0.5 * d + 0.5 * d_next)
        x = x_next
    if callback is not None:
        callback(n, n)
    return x, net.calls


def sample_euler(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    extra_args: dict[str, Any] | None = None,
    guidance: Guidance | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """First-order Euler sampler of the probability-flow ODE: one evaluation per step.

    Parameters and returns as :func:`sample_heun` (``generator`` is unused: deterministic).
    """
    net, extra_args = _Counted(denoiser), extra_args or {}
    levels = [float(s) for s in sigmas]
    for s_cur, s_next in itertools.pairwise(levels):
        d = (x - _denoise(net, x, s_cur, extra_args, guidance)) / s_cur
        x = x + (s_next - s_cur) * d
    return x, net.calls
