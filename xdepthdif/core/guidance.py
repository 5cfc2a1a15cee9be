"""Observation guidance for linear observations ``y = H x + e``, ``e ~ N(0, R)``.

``H`` selects the entries where the boolean ``mask`` is true, so observation-space vectors are
held as full-shape tensors that are zero off the mask. ``R`` is diagonal: ``r`` is a scalar or a
tensor broadcastable to ``x`` (one variance per observed entry).

MMPS (Rozet et al. 2024) approximates ``p(x0 | x_t)`` by a Gaussian with the Tweedie covariance
``Cov[x0 | x_t] = sigma^2 dD/dx_t`` and returns the exact Gaussian update

    ``D + sigma^2 J^T H^T (H sigma^2 J H^T + R)^{-1} (y - H D)``,

the inverse applied by a few conjugate-gradient iterations of vector-Jacobian products (``J`` is
symmetric for an ideal denoiser, so ``vjp`` stands in for ``jvp``), preconditioned by the
diagonal the system has for a unit-variance prior (data are normalised per level, so this is
the right scale, and observation errors that differ by orders of magnitude between levels do
not stall the iterations). For a Gaussian prior with its
exact denoiser this is the exact posterior denoiser.

Examples
--------
>>> import torch
>>> prior = lambda x, sigma: x / (1 + sigma[:, None] ** 2)  # exact denoiser of N(0, I)
>>> guide = MMPSGuidance(torch.tensor([True, False]), torch.tensor([1.0, 0.0]), r=0.5)
>>> guide(prior, torch.zeros(1, 2), torch.ones(1), {})
tensor([[0.5000, 0.0000]])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .sampler import Denoiser

__all__ = [
    "DPSGuidance",
    "MMPSGuidance",
    "column_preconditioner",
    "conjugate_gradient",
    "conjugate_gradient_image",
    "denoise_with_vjp",
]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample inner product, shaped ``(batch, 1, ..., 1)`` to broadcast against ``a``."""
    return (a * b).flatten(1).sum(1).reshape(-1, *([1] * (a.ndim - 1)))


def conjugate_gradient(
    op: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iters: int,
    precond: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Approximately solve ``op(u) = b`` per batch sample by ``iters`` (preconditioned) CG
    iterations from 0.

    Parameters
    ----------
    op : callable
        Symmetric positive-definite linear operator acting on tensors shaped like ``b``.
    b : torch.Tensor
        Right-hand side, shape ``(batch, ...)``.
    iters : int
        Number of iterations; each costs one ``op`` application.
    precond : torch.Tensor or callable, optional
        The inverse of a symmetric positive-definite preconditioner: a tensor is its diagonal
        (broadcastable to ``b``, positive), e.g. one over the diagonal of ``op`` (Jacobi):
        with very unequal diagonal entries, as when observation errors differ by orders of
        magnitude, a few iterations then suffice; a callable applies it (e.g.
        :func:`column_preconditioner`).

    Returns
    -------
    torch.Tensor
        The approximate solution, shaped like ``b``.

    Notes
    -----
    A learned denoiser's Jacobian is only approximately symmetric positive definite. A sample
    whose search direction meets zero or negative curvature (``pᵀ op(p) ≤ 0``) stops at its
    current iterate instead of taking a step that would diverge.

    Examples
    --------
    >>> A = torch.tensor([[[2.0, 1.0], [1.0, 3.0]]])
    >>> u = conjugate_gradient(lambda v: (A @ v[..., None])[..., 0], torch.tensor([[1.0, 2.0]]), 2)
    >>> torch.allclose(u, torch.tensor([[0.2, 0.6]]))
    True
    """
    u, _ = conjugate_gradient_image(lambda v: (op(v), None), b, iters, precond)
    return u


def conjugate_gradient_image(
    op: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]],
    b: torch.Tensor,
    iters: int,
    precond: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`conjugate_gradient` for an operator ``op = F(G(·))`` that computes a costly
    linear map ``G`` on the way, and the solution's image ``G(u)`` without applying ``G`` again.

    ``op(p)`` returns ``(op(p), G(p))`` (or ``(op(p), None)`` when no image is wanted). CG's
    solution is ``u = Σ αₖ pₖ`` over its search directions, so ``G(u) = Σ αₖ G(pₖ)`` is summed
    from the images ``op`` already computed: for MMPS, whose final update is one more
    vector-Jacobian product of the solution, that product comes free (equal to applying ``G``
    to ``u`` up to floating-point rounding).

    Returns
    -------
    u, image : torch.Tensor
        The solution and ``G(u)`` (None without iterations, or when ``op`` gives no image).

    Examples
    --------
    >>> G = torch.tensor([[[1.0, 2.0], [0.0, 1.0]]])
    >>> A = G.transpose(1, 2) @ G + torch.eye(2)
    >>> def op(v):
    ...     g = (G @ v[..., None])[..., 0]
    ...     return (G.transpose(1, 2) @ g[..., None])[..., 0] + v, g
    >>> u, image = conjugate_gradient_image(op, torch.tensor([[1.0, 2.0]]), 2)
    >>> torch.allclose(image, (G @ u[..., None])[..., 0])
    True
    """
    eps = torch.finfo(b.dtype).eps ** 2

    def apply(v: torch.Tensor) -> torch.Tensor:
        if precond is None:
            return v
        return precond(v) if callable(precond) else precond * v

    u, res, image = torch.zeros_like(b), b, None
    z = apply(res)
    p, rz = z, _dot(res, z)
    active = torch.ones_like(rz, dtype=torch.bool)
    for _ in range(iters):
        ap, gp = op(p)
        pap = _dot(p, ap)
        active = active & (pap > eps)
        alpha = torch.where(active, rz / torch.where(active, pap, 1.0), 0.0)
        u, res = u + alpha * p, res - alpha * ap
        if gp is not None:
            image = alpha * gp if image is None else image + alpha * gp
        z = apply(res)
        rz_new = _dot(res, z)
        beta = torch.where(rz > eps, rz_new / rz.clamp_min(eps), 0.0)
        p, rz = z + beta * p, rz_new
    return u, image


def column_preconditioner(
    correlation: torch.Tensor,
    mask: torch.Tensor,
    r: float | torch.Tensor,
    sigma: torch.Tensor,
    shape: tuple[int, ...],
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The exact inverse of MMPS's system, column by column, for a Gaussian prior whose columns
    are independent with vertical correlation ``correlation`` (unit variance per level).

    For such a prior the Tweedie covariance of a column is ``K = σ² C (C + σ² I)⁻¹`` and the
    system of :class:`MMPSGuidance` is, in each observed column, ``M = H K Hᵀ + R`` on its
    observed levels. Returning ``M⁻¹`` per column (a Cholesky solve of at most ``levels ×
    levels`` per observed column) preconditions CG by what a column's strongly correlated
    levels share, where the diagonal (Jacobi) preconditioner sees each level alone (DESIGN
    §6.5). For that prior and its exact denoiser one CG iteration is then exact.

    Parameters
    ----------
    correlation : torch.Tensor
        ``(levels, levels)`` symmetric positive semi-definite, unit diagonal.
    mask : torch.Tensor
        Bool, broadcastable to ``shape`` ``(batch, levels, H, W)``: the observed entries.
    r : float or torch.Tensor
        Observation-error variance, broadcastable to ``shape``.
    sigma : torch.Tensor
        ``(batch,)`` noise levels.
    shape : tuple of int
        Shape of the samples, ``(batch, levels, H, W)``.

    Returns
    -------
    callable
        ``v -> M⁻¹ v`` column by column on the observed entries, zero elsewhere.

    Examples
    --------
    >>> C = torch.tensor([[1.0, 0.9], [0.9, 1.0]])
    >>> mask = torch.ones(1, 2, 1, 1, dtype=torch.bool)
    >>> apply = column_preconditioner(C, mask, 0.1, torch.tensor([1.0]), (1, 2, 1, 1))
    >>> K = C @ torch.linalg.inv(C + torch.eye(2))  # σ = 1
    >>> v = torch.tensor([1.0, -1.0]).reshape(1, 2, 1, 1)
    >>> torch.allclose(apply(v).flatten(), torch.linalg.solve(K + 0.1 * torch.eye(2), v.flatten()))
    True
    """
    B = shape[0]
    work = torch.float64
    lam, vec = torch.linalg.eigh(correlation.to(work))
    lam = lam.clamp(min=0.0)
    var = sigma.to(work).reshape(B, 1) ** 2
    gain = var * lam / (lam + var)  # (B, L): the eigenvalues of K per sample
    K = (vec * gain[:, None, :]) @ vec.T  # (B, L, L)
    full = torch.broadcast_to(mask, shape)
    b, h, w = torch.nonzero(full.any(dim=1), as_tuple=True)
    m = full[b, :, h, w].to(work)  # (n, L)
    rr = torch.broadcast_to(torch.as_tensor(r, device=full.device), shape)[b, :, h, w].to(work)
    M = m[:, :, None] * K[b] * m[:, None, :]
    M = M + torch.diag_embed(m * rr + (1.0 - m))
    chol = torch.linalg.cholesky(M)

    def apply(v: torch.Tensor) -> torch.Tensor:
        z = torch.cholesky_solve(v[b, :, h, w].to(work)[:, :, None], chol)[:, :, 0] * m
        out = torch.zeros_like(v)
        out[b, :, h, w] = z.to(v.dtype)
        return out

    return apply


def denoise_with_vjp(
    denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, extra_args: dict[str, Any]
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``D(x; sigma)`` and its vector-Jacobian product ``v -> J^T v`` (``J = dD/dx``).

    One forward pass whose graph is kept for any number of backward passes
    (``torch.autograd.grad`` with ``retain_graph``): the numbers of ``torch.func.vjp`` to
    float32 rounding (its kernels sum in another order; about 1e-6 relative),
    without its functional-transform overhead on every call (``docs/benchmarks.md``).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, **extra_args)``.
    x, sigma : torch.Tensor
        Where to linearise; ``x`` is not modified.
    extra_args : dict
        Conditioning passed to the denoiser.

    Returns
    -------
    denoised : torch.Tensor
        ``D(x; sigma)``, detached.
    vjp : callable
        ``v -> J^T v``, shaped like ``x``; zero when ``D`` does not depend on ``x``.
    """
    with torch.enable_grad():
        z = x.detach().requires_grad_(True)
        out = denoiser(z, sigma, **extra_args)

    def vjp(v: torch.Tensor) -> torch.Tensor:
        if not out.requires_grad:
            return torch.zeros_like(x)
        (grad,) = torch.autograd.grad(out, z, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(x) if grad is None else grad

    return out.detach(), vjp


@dataclass(frozen=True)
class _Observed:
    """Observations held in full shape: ``mask`` (bool), ``y`` (ignored off the mask), ``r``."""

    mask: torch.Tensor
    y: torch.Tensor
    r: float | torch.Tensor

    def _linearise(
        self, denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, extra_args: dict[str, Any]
    ) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor]:
        """Denoise with a vjp; return ``D``, ``v -> sigma^2 J^T v``, the 0/1 mask, ``y - H D``."""
        denoised, vjp_fn = denoise_with_vjp(denoiser, x, sigma, extra_args)
        var = sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2

        def cov(v: torch.Tensor) -> torch.Tensor:
            return var * vjp_fn(v)

        m = self.mask.to(x.dtype)
        innovation = torch.where(self.mask, self.y - denoised, 0.0)
        return denoised, cov, m, innovation


@dataclass(frozen=True)
class MMPSGuidance(_Observed):
    """Moment-matching posterior sampling (Rozet et al. 2024) for masked observations.

    Parameters
    ----------
    mask : torch.Tensor
        Boolean, broadcastable to the sample shape ``(batch, ...)``: the observed entries.
    y : torch.Tensor
        Observed values, same shape as ``mask`` (or ``x``); values off the mask are ignored.
    r : float or torch.Tensor
        Observation-error variance, scalar or per entry (broadcastable to ``x``); must be > 0
        unless ``cg_iters`` is large enough to handle a near-singular system.
    cg_iters : int
        Conjugate-gradient iterations (1–3 is the paper's range). Each costs one vjp.
    column_correlation : torch.Tensor, optional
        ``(levels, levels)`` vertical correlation of the prior (the data's, normalised per
        level): CG is then preconditioned column by column (:func:`column_preconditioner`);
        None keeps the diagonal (Jacobi) preconditioner of a unit-variance prior.

    Notes
    -----
    Costs one denoiser forward and ``cg_iters`` vector-Jacobian products per call: the final
    update ``σ² Jᵀ Hᵀ u`` is summed from the products the iterations made
    (:func:`conjugate_gradient_image`), not computed by one more.
    """

    cg_iters: int = 3
    column_correlation: torch.Tensor | None = None

    def __call__(
        self, denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, extra_args: dict[str, Any]
    ) -> torch.Tensor:
        """The guided denoised estimate at ``(x, sigma)``."""
        denoised, cov, m, innovation = self._linearise(denoiser, x, sigma, extra_args)

        def op(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            image = cov(m * v)
            return m * (image + self.r * v), image

        if self.column_correlation is not None:
            precond: Any = column_preconditioner(
                self.column_correlation, self.mask, self.r, sigma, tuple(x.shape)
            )
        else:  # Jacobi: the diagonal of op for a unit-variance Gaussian prior
            var = sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2
            precond = m / (var / (1.0 + var) + self.r)
        _, update = conjugate_gradient_image(op, innovation, self.cg_iters, precond)
        return denoised if update is None else denoised + update


@dataclass(frozen=True)
class DPSGuidance(_Observed):
    """Diffusion-posterior-sampling-style guidance without a covariance solve (for comparison).

    Replaces ``H sigma^2 J H^T`` by the isotropic ``sigma^2 I`` (as in PiGDM with unit data
    variance), so the update is one vjp:
    ``D + zeta sigma^2 J^T H^T (y - H D) / (sigma^2 + r)``.

    Parameters
    ----------
    mask, y, r
        As for :class:`MMPSGuidance`.
    zeta : float
        Guidance strength (1 is the likelihood-consistent value for unit-variance data).
    """

    zeta: float = 1.0

    def __call__(
        self, denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, extra_args: dict[str, Any]
    ) -> torch.Tensor:
        """The guided denoised estimate at ``(x, sigma)``."""
        denoised, cov, _, innovation = self._linearise(denoiser, x, sigma, extra_args)
        var = sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2
        return denoised + self.zeta * cov(innovation / (var + self.r))
