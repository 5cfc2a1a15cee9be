"""Training losses of the conditional model (:mod:`xdepthdif.core.conditional`): the EDM loss
against full fields and DepthDif's ambient loss against sparse observations. Torch only."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .network import edm_loss

__all__ = ["ambient_loss", "conditional_loss"]


def conditional_loss(
    denoiser: nn.Module,
    x0: Tensor,
    sea: Tensor,
    extra: Tensor,
    lat: Tensor,
    lon: Tensor,
    doy: Tensor | float,
    *,
    generator: torch.Generator | None = None,
    periodic: bool = False,
    P_mean: float = -1.2,
    P_std: float = 1.2,
) -> Tensor:
    """EDM loss of a conditional denoiser against full (normalised) fields ``x0``.

    :func:`~xdepthdif.core.network.edm_loss` with ``extra`` as the conditioning: the network
    sees ``x0 + σε`` everywhere and the conditioning channels, and is scored on sea points.

    Parameters
    ----------
    denoiser : nn.Module
        An :class:`~xdepthdif.core.network.EDMDenoiser` whose UNet takes
        ``n_channels(levels)`` extra channels
        (:func:`~xdepthdif.core.conditional.n_channels`).
    x0 : Tensor
        ``(B, levels, H, W)`` normalised truth; NaN allowed off ``sea``.
    sea : Tensor
        Bool, broadcastable to ``x0``.
    extra : Tensor
        ``(B, C, H, W)`` from :func:`~xdepthdif.core.conditional.conditioning_channels`.
    lat, lon, doy, generator, periodic, P_mean, P_std
        As for :func:`~xdepthdif.core.network.edm_loss`.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    return edm_loss(
        denoiser, x0, sea, lat, lon, doy, extra=extra, P_mean=P_mean, P_std=P_std,
        generator=generator, periodic=periodic,
    )  # fmt: skip


def ambient_loss(
    denoiser: nn.Module,
    y: Tensor,
    observed: Tensor,
    shown: Tensor,
    extra: Tensor,
    lat: Tensor,
    lon: Tensor,
    doy: Tensor | float,
    *,
    generator: torch.Generator | None = None,
    periodic: bool = False,
    P_mean: float = -1.2,
    P_std: float = 1.2,
    sigma_data: float = 1.0,
) -> Tensor:
    """Ambient-diffusion loss: learn from sparse observations of the target, without a full field.

    Follows Daras et al. (2023, "Ambient Diffusion: Learning Clean Distributions from Corrupted
    Data", arXiv:2305.19256) as DepthDif's ambient objective uses it, in EDM's
    parameterisation. Only ``y`` on the observed support ``A = observed`` is known. A further
    corruption ``Ã = shown ⊆ A`` (some observed columns dropped, drawn by the caller because
    the conditioning, the OI analysis included, must be computed from ``Ã``'s observations
    alone, see :func:`xdepthdif.prior.conditional_data.build_pool`) decides what the network
    sees:

    1. draw ``ln σ ~ N(P_mean, P_std²)`` per sample (first ``randn(B)`` from ``generator``)
       and ``ε ~ N(0, 1)`` of ``y``'s shape (second draw);
    2. the noisy input is ``Ã ⊙ (y + σε)``, zero off ``Ã`` (Daras's ``Ã x_t``; DepthDif's
       ``apply_to_noisy_branch``), and the conditioning ``extra`` holds ``Ã``'s observations;
    3. the denoiser is told what it was shown (``seen=Ã`` of
       :class:`~xdepthdif.core.network.EDMDenoiser`): on ``Ã`` its estimate is EDM's
       ``c_skip x + c_out F``, off ``Ã`` the network's own prediction ``sd F``;
    4. the loss is the weighted error of the denoised estimate against ``y`` on all of ``A``
       (Daras's ``‖A (h_θ(Ã x_t, Ã, t) − x_0)‖²``; DepthDif's ``m ∩ valid ∩ ocean``):
       ``Σ_A λ (D − y)² / |A|`` with EDM's ``λ = (σ² + sd²) / (σ sd)²`` on ``Ã`` and its
       ``σ → ∞`` limit ``1 / sd²`` off it, so that every term is the network's own error
       ``(F − F*)²``.

    On ``A \\ Ã`` the network must predict observations it was not shown, which it can only
    learn from the conditioning and the neighbours; it never gets a target off ``A``. With
    EDM's finite-σ scalings there, the estimate would be ``c_out F ≈ σ F`` and the weight
    ``1/σ²``: the network would have to output ``y / σ``, and the smallest noise levels would
    dominate the loss. A model trained this way must see its noisy input masked the same way at
    sampling time (``input_mask`` of :func:`~xdepthdif.core.conditional.sample_conditional`:
    the observed cells), and then estimates the conditional mean; its ensemble spread is not a
    calibrated uncertainty.

    Parameters
    ----------
    denoiser : nn.Module
        A conditional :class:`~xdepthdif.core.network.EDMDenoiser`.
    y : Tensor
        ``(B, levels, H, W)`` normalised observations; any value (NaN included) off
        ``observed``.
    observed : Tensor
        Bool ``A``, same shape: where ``y`` is known (sea points with an observation).
    shown : Tensor
        Bool ``Ã ⊆ A``, same shape: the observations kept in the network's input.
    extra : Tensor
        ``(B, C, H, W)`` conditioning built from ``Ã``'s observations only.
    lat, lon, doy, generator, periodic, P_mean, P_std, sigma_data
        As for :func:`~xdepthdif.core.network.edm_loss`.

    Returns
    -------
    Tensor
        Scalar loss.

    Examples
    --------
    >>> from xdepthdif.core.conditional import n_channels
    >>> from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig
    >>> L, H, W = 2, 4, 8
    >>> cfg = UNetConfig(levels=L, base_channels=8, channel_mult=(1, 2), cond_dim=16,
    ...                  extra_in_channels=n_channels(L))
    >>> D = EDMDenoiser(UNet(cfg))
    >>> y = torch.randn(1, L, H, W); A = torch.rand(1, L, H, W) < 0.5
    >>> loss = ambient_loss(D, y, A, A & (torch.rand(1, 1, H, W) < 0.7),
    ...                     torch.zeros(1, n_channels(L), H, W), torch.linspace(-30, 30, H),
    ...                     torch.arange(W) * 45.0, 100.0,
    ...                     generator=torch.Generator().manual_seed(0))
    >>> bool(loss.isfinite()), loss.ndim
    (True, 0)
    """
    observed = observed.to(torch.bool) & y.isfinite()
    shown = shown.to(torch.bool) & observed
    n = observed.sum()
    if int(n) == 0:
        raise ValueError("ambient_loss got no observed point: every sample's mask is empty.")
    zero = torch.zeros((), dtype=y.dtype, device=y.device)
    y = torch.where(observed, y, zero)
    B = y.shape[0]
    kw = {"generator": generator, "dtype": y.dtype, "device": y.device}
    sigma = (P_mean + P_std * torch.randn(B, **kw)).exp()
    noisy = torch.where(shown, y + torch.randn(y.shape, **kw) * sigma[:, None, None, None], zero)
    D = denoiser(noisy, sigma, lat, lon, doy, extra=extra, periodic=periodic, seen=shown)
    weight = ((sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2)[:, None, None, None]
    weight = torch.where(shown, weight, 1 / sigma_data**2)
    err = torch.where(observed, weight * (D - y) ** 2, torch.zeros_like(D))
    return err.sum() / n
