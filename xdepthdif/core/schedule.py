"""Noise-level schedules for few-step diffusion sampling.

Examples
--------
>>> [round(s, 3) for s in karras_sigmas(3).tolist()]
[80.0, 2.515, 0.002, 0.0]
>>> [round(s, 3) for s in denoise_last_sigmas(3, sigma_max=10.0).tolist()]
[10.0, 1.539, 0.119, 0.0]
"""

from __future__ import annotations

import torch

__all__ = ["denoise_last_sigmas", "karras_sigmas"]


def karras_sigmas(
    n: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The EDM noise levels of Karras et al. (2022), eq. 5, with a final zero appended.

    Parameters
    ----------
    n : int
        Number of sampling steps (at least 1).
    sigma_min, sigma_max : float
        Smallest and largest non-zero noise level.
    rho : float
        Warping exponent; 7 concentrates steps at small noise levels (paper default).
    dtype, device
        Of the returned tensor.

    Returns
    -------
    torch.Tensor
        ``n + 1`` strictly decreasing values: ``sigma_max, ..., sigma_min, 0``.
    """
    if n < 1:
        raise ValueError(f"karras_sigmas needs n >= 1 steps, got {n}.")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(
            f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}."
        )
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)  # n == 1 gives [0]: one step from max
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    return sigmas.to(dtype=dtype, device=device)


def denoise_last_sigmas(
    n: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Noise levels whose last step is a plain denoise: :func:`karras_sigmas` of ``n + 1``
    steps without its smallest non-zero level.

    With Heun's sampler the step into ``sigma_min`` evaluates the denoiser there, far below
    the noise levels a network is trained at (ln σ ~ N(−1.2, 1.2²) in EDM); after a large
    step its error is amplified by the ratio of the two levels and wrecks runs of 2–5 steps
    (°C off by hundreds). Here the last step goes from the smallest remaining level straight
    to 0, i.e. returns the denoiser's estimate of the clean field, adding no noise; the
    number of denoiser evaluations stays ``2 n − 1``.

    Parameters and returns as :func:`karras_sigmas` (``n + 1`` values ending in 0).
    """
    sigmas = karras_sigmas(n + 1, sigma_min, sigma_max, rho, dtype=dtype, device=device)
    return torch.cat([sigmas[:-2], sigmas[-1:]])
