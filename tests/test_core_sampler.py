"""Samplers, schedule and observation guidance against a Gaussian prior with known answers.

For data ``x0 ~ N(mu, Sigma)`` the exact denoiser is
``D(x; s) = mu + Sigma (Sigma + s^2 I)^{-1} (x - mu)``. It is affine in ``x``, so every sampler
(guided or not) is an affine map of the initial noise, and its exact output moments can be
computed by pushing basis vectors through it. That separates the two error sources:

- sampling noise of N draws: a mean entry has standard error ``sqrt(C_ii / N)``, a covariance
  entry ``sqrt((C_ii C_jj + C_ij^2) / N)``; tolerances below are 5 standard errors;
- Heun discretisation: with 18 Karras steps the output variance is inflated by 7–13 % along each
  eigen-direction of this Sigma (O(h^2): ~2.5 % at 32 steps, <0.5 % at 128 steps).
"""

from __future__ import annotations

import math

import pytest
import torch

from xdepthdif.core.guidance import DPSGuidance, MMPSGuidance
from xdepthdif.core.sampler import sample_euler, sample_heun
from xdepthdif.core.schedule import karras_sigmas

D, N, SIGMA_MAX = 8, 20_000, 80.0
OBSERVED, R = [0, 3, 5], 0.05


def _prior() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(D, D, generator=g, dtype=torch.float64)
    sigma = a @ a.T / D + 0.1 * torch.eye(D, dtype=torch.float64)
    mu = torch.randn(D, generator=g, dtype=torch.float64)
    return mu, sigma


MU, SIGMA = _prior()
_LAM, _U = torch.linalg.eigh(SIGMA)


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Exact posterior mean E[x0 | x0 + sigma * eps = x] for x0 ~ N(MU, SIGMA)."""
    shrink = _LAM / (_LAM + sigma[:, None] ** 2)
    return MU + ((x - MU) @ _U * shrink) @ _U.T


def _noise(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return SIGMA_MAX * torch.randn(n, D, generator=g, dtype=torch.float64)


def _affine_moments(
    sampler, sigmas, start: torch.Tensor | None = None, **kw
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact output mean and covariance of an affine sampler for N(start, SIGMA_MAX^2 I) input.

    ``start=None`` is the usual zero-mean noise; passing the true mean of ``x_T`` removes the
    truncation bias of a finite ``sigma_max`` (about ``|mean| / sigma_max`` posterior sd).
    """
    basis = torch.cat([torch.zeros(1, D, dtype=torch.float64), torch.eye(D, dtype=torch.float64)])
    out, _ = sampler(gaussian_denoiser, basis, sigmas, **kw)
    offset, lin = out[0], (out[1:] - out[0]).T
    if start is not None:
        offset = offset + lin @ start
    return offset, SIGMA_MAX**2 * lin @ lin.T


def _observations() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask, y (two prior sd above the mean), analytic posterior mean and covariance."""
    mask = torch.zeros(D, dtype=torch.bool)
    mask[OBSERVED] = True
    y = torch.where(mask, MU + 2 * SIGMA.diag().sqrt(), torch.nan)
    h = torch.eye(D, dtype=torch.float64)[mask]
    gain = SIGMA @ h.T @ torch.linalg.inv(h @ SIGMA @ h.T + R * torch.eye(len(OBSERVED)))
    return mask, y, MU + gain @ (y[mask] - MU[mask]), SIGMA - gain @ h @ SIGMA


def _assert_moments(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, rel: float) -> None:
    """Sample moments within 5 standard errors plus ``rel`` * sd (discretisation allowance)."""
    sd = cov.diag().sqrt()
    se_mean = sd / math.sqrt(len(x))
    se_cov = ((torch.outer(cov.diag(), cov.diag()) + cov**2) / len(x)).sqrt()
    assert ((x.mean(0) - mean).abs() <= 5 * se_mean + rel * sd).all()
    assert ((torch.cov(x.T) - cov).abs() <= 5 * se_cov + 2 * rel * torch.outer(sd, sd)).all()


# --- schedule and evaluation counts -------------------------------------------------------------


def test_karras_sigmas_endpoints_and_monotone() -> None:
    s = karras_sigmas(18)
    assert s.shape == (19,)
    assert s[0].item() == pytest.approx(80.0) and s[-2].item() == pytest.approx(0.002)
    assert s[-1].item() == 0.0 and (s[1:] < s[:-1]).all()
    assert karras_sigmas(1, sigma_max=5.0).tolist() == pytest.approx([5.0, 0.0])


@pytest.mark.parametrize(("n", "kw"), [(0, {}), (4, {"sigma_min": 0.0}), (4, {"sigma_max": 1e-3})])
def test_karras_sigmas_rejects_bad_arguments(n: int, kw: dict) -> None:
    with pytest.raises(ValueError, match=r"sigma|n >= 1"):
        karras_sigmas(n, **kw)


@pytest.mark.parametrize("guided", [False, True])
def test_nfe_counts(guided: bool) -> None:
    mask, y, *_ = _observations()
    guidance = MMPSGuidance(mask, y, R) if guided else None
    x = _noise(4)
    for n in (1, 5, 18):
        assert (
            sample_heun(gaussian_denoiser, x, karras_sigmas(n), guidance=guidance)[1] == 2 * n - 1
        )
        assert sample_euler(gaussian_denoiser, x, karras_sigmas(n), guidance=guidance)[1] == n


def test_extra_args_reach_the_denoiser() -> None:
    seen = []

    def denoiser(x: torch.Tensor, sigma: torch.Tensor, *, label: str) -> torch.Tensor:
        seen.append((label, sigma.shape))
        return torch.zeros_like(x)

    sample_heun(denoiser, _noise(3), karras_sigmas(2), extra_args={"label": "sst"})
    assert seen == [("sst", (3,))] * 3


def test_churn_is_reproducible_with_generator() -> None:
    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return sample_heun(gaussian_denoiser, _noise(5), karras_sigmas(6), generator=g, s_churn=5)[
            0
        ]

    assert torch.equal(run(3), run(3)) and not torch.equal(run(3), run(4))


# --- unconditional sampling ---------------------------------------------------------------------


def test_heun_unconditional_matches_gaussian() -> None:
    x, nfe = sample_heun(gaussian_denoiser, _noise(N), karras_sigmas(18))
    assert nfe == 35
    _assert_moments(x, MU, SIGMA, rel=0.07)
    # Without the discretisation allowance, against the sampler's own exact moments:
    _assert_moments(x, *_affine_moments(sample_heun, karras_sigmas(18)), rel=0.0)


@pytest.mark.parametrize(("steps", "lo", "hi"), [(18, 1.0, 1.15), (128, 0.999, 1.005)])
def test_heun_discretisation_error_is_small_and_converges(steps: int, lo: float, hi: float) -> None:
    mean, cov = _affine_moments(sample_heun, karras_sigmas(steps), start=MU)
    white = torch.linalg.inv(torch.linalg.cholesky(SIGMA))
    ratios = torch.linalg.eigvalsh(white @ cov @ white.T)  # 1 for an exact sampler
    assert lo <= ratios.min() and ratios.max() <= hi
    assert ((mean - MU).abs() / SIGMA.diag().sqrt()).max() < 0.1 * (hi - 1) + 1e-3


# --- observation guidance -----------------------------------------------------------------------


def _exact_posterior_denoiser(x: torch.Tensor, s: float, mask: torch.Tensor, y: torch.Tensor):
    """E[x0 | x_t = x, y] by joint Gaussian conditioning on x_t and y."""
    g = torch.cat([torch.eye(D, dtype=torch.float64), torch.eye(D, dtype=torch.float64)[mask]])
    noise = torch.diag(torch.cat([torch.full((D,), s**2), torch.full((int(mask.sum()),), R)]))
    gain = SIGMA @ g.T @ torch.linalg.inv(g @ SIGMA @ g.T + noise.to(torch.float64))
    z = torch.cat([x, y[mask].expand(len(x), -1)], dim=1)
    return MU + (z - MU @ g.T) @ gain.T


@pytest.mark.parametrize("s", [0.05, 0.7, 10.0])
def test_mmps_denoiser_is_exact_for_gaussian_prior(s: float) -> None:
    mask, y, *_ = _observations()
    x = MU + math.hypot(1.0, s) * _noise(6, seed=2) / SIGMA_MAX
    guide = MMPSGuidance(mask, y, R, cg_iters=len(OBSERVED))  # CG is exact after n_obs steps
    sigma = torch.full((6,), s, dtype=torch.float64)
    got = guide(gaussian_denoiser, x, sigma, {})
    torch.testing.assert_close(got, _exact_posterior_denoiser(x, s, mask, y))
    # mask broadcast over a non-flat sample shape (batch, 2, 4) gives the same answer
    shaped = lambda z, sg: gaussian_denoiser(z.reshape(-1, D), sg).reshape(z.shape)  # noqa: E731
    guide2 = MMPSGuidance(mask.reshape(2, 4), y.reshape(2, 4), R, cg_iters=len(OBSERVED))
    torch.testing.assert_close(guide2(shaped, x.reshape(6, 2, 4), sigma, {}).reshape(6, D), got)


def test_mmps_posterior_matches_analytic() -> None:
    mask, y, post_mean, post_cov = _observations()
    x, nfe = sample_heun(
        gaussian_denoiser, _noise(N), karras_sigmas(18), guidance=MMPSGuidance(mask, y, R)
    )
    assert nfe == 35
    z = (x.mean(0) - post_mean) / post_cov.diag().sqrt()
    ratio = x.var(0) / post_cov.diag()
    # measured: |z| <= 0.05, variance ratio 1.07–1.17 (Heun's 18-step inflation, as unconditional)
    assert z.abs().max() < 0.1
    assert ratio.min() > 0.95 and ratio.max() < 1.25
    _assert_moments(x, post_mean, post_cov, rel=0.1)


def test_mmps_converges_to_posterior_with_more_steps() -> None:
    mask, y, post_mean, post_cov = _observations()
    guide = MMPSGuidance(mask, y, R)
    mean, cov = _affine_moments(sample_heun, karras_sigmas(128), start=post_mean, guidance=guide)
    assert ((mean - post_mean).abs() / post_cov.diag().sqrt()).max() < 0.01
    assert ((cov.diag() / post_cov.diag()) - 1).abs().max() < 0.01


def test_guidance_spreads_information_to_unobserved_entries() -> None:
    mask, y, post_mean, post_cov = _observations()
    x, _ = sample_heun(
        gaussian_denoiser, _noise(N), karras_sigmas(18), guidance=MMPSGuidance(mask, y, R)
    )
    corr = SIGMA / torch.outer(SIGMA.diag().sqrt(), SIGMA.diag().sqrt())
    strongest = (corr[mask][:, ~mask].abs().max(0).values > 0.5).nonzero().flatten()
    unobserved = (~mask).nonzero().flatten()[strongest]
    assert len(unobserved) >= 1
    prior_sd, post_sd = SIGMA.diag().sqrt(), post_cov.diag().sqrt()
    shift = x.mean(0) - MU
    for j in unobserved.tolist():
        expected = post_mean[j] - MU[j]
        assert abs(expected) > 0.5 * prior_sd[j]  # the posterior really moved this entry
        assert abs(shift[j] - expected) < 0.1 * post_sd[j]  # and so did the samples
        assert x[:, j].std() < 0.95 * prior_sd[j]  # uncertainty shrank too


def test_mmps_one_cg_iteration_and_dps_are_cruder() -> None:
    mask, y, post_mean, post_cov = _observations()

    def mean_error(guide) -> float:
        mean, _ = _affine_moments(sample_heun, karras_sigmas(18), guidance=guide)
        return ((mean - post_mean).abs() / post_cov.diag().sqrt()).max().item()

    exact = mean_error(MMPSGuidance(mask, y, R, cg_iters=3))
    assert exact < 0.05
    assert mean_error(MMPSGuidance(mask, y, R, cg_iters=1)) > 5 * exact
    assert mean_error(DPSGuidance(mask, y, R)) > 5 * exact


# --- golden values ------------------------------------------------------------------------------


def test_heun_golden_values() -> None:
    g = torch.Generator().manual_seed(1234)
    w = 0.2 * torch.randn(6, 6, generator=g, dtype=torch.float64)
    b = 0.1 * torch.randn(6, generator=g, dtype=torch.float64)

    def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return b + (x @ w.T) / (1 + sigma[:, None] ** 2) + 0.1 * torch.sin(x)

    x0 = 80.0 * torch.randn(2, 6, generator=g, dtype=torch.float64)
    x, nfe = sample_heun(denoiser, x0, karras_sigmas(5))
    assert nfe == 9
    golden = [4.032298702388772, -7.025215035761633, -5.905146543205594, -6.845279047936146]
    golden.append(-2.11982812144063)
    torch.testing.assert_close(x.flatten()[:5], torch.tensor(golden, dtype=torch.float64))


def test_conjugate_gradient_stops_on_negative_curvature():
    from xdepthdif.core.guidance import conjugate_gradient

    b = torch.ones(2, 3, dtype=torch.float64)
    spd = torch.tensor([2.0, 3.0, 4.0], dtype=torch.float64)
    sign = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)  # sample 1 sees -op: not SPD
    u = conjugate_gradient(lambda v: sign * spd * v, b, iters=3)
    torch.testing.assert_close(u[0], 1.0 / spd)
    assert torch.all(u[1] == 0)


def test_preconditioning_makes_two_iterations_enough_with_unequal_errors():
    """Observation errors spanning six orders of magnitude (as between shallow and deep
    normalised levels) stall plain CG; the Jacobi-preconditioned system converges at once."""
    from xdepthdif.core.guidance import conjugate_gradient

    g = torch.Generator().manual_seed(3)
    a = torch.randn(6, 6, generator=g, dtype=torch.float64)
    prior = 0.1 * a @ a.T / 6 + torch.eye(6, dtype=torch.float64)  # unit-variance-like prior
    r = torch.tensor([0.02, 0.05, 1.0, 50.0, 1e3, 6e4], dtype=torch.float64)
    system = prior + torch.diag(r)
    b = torch.randn(1, 6, generator=g, dtype=torch.float64)
    exact = torch.linalg.solve(system, b[0])

    def op(v):
        return v @ system

    plain = conjugate_gradient(op, b, iters=2)[0]
    pre = conjugate_gradient(op, b, iters=2, precond=1.0 / (1.0 + r))[0]
    err_plain = (plain - exact).abs().max() / exact.abs().max()
    err_pre = (pre - exact).abs().max() / exact.abs().max()
    assert err_pre < 0.05 < err_plain


def test_denoise_last_sigmas_end_in_a_plain_denoise() -> None:
    """The last step returns the denoiser's estimate itself: no noise added, no corrector at a
    tiny sigma, and 2 n - 1 evaluations as before."""
    from xdepthdif.core.schedule import denoise_last_sigmas

    seen: list[float] = []

    def denoiser(x, sigma):
        seen.append(float(sigma[0]))
        return torch.full_like(x, 7.0)

    for n in (1, 2, 3, 5):
        seen.clear()
        sigmas = denoise_last_sigmas(n, sigma_max=10.0)
        x, nfe = sample_heun(denoiser, 10.0 * _noise(4), sigmas)
        assert nfe == 2 * n - 1 and torch.equal(x, torch.full_like(x, 7.0))
        assert min(seen) > 0.002 and sigmas[-1] == 0 and len(sigmas) == n + 1


# the linearisation: torch.autograd.grad, the numbers of torch.func.vjp ----------------------


def _small_unet_denoiser():
    from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig

    torch.manual_seed(0)  # local to the test process
    config = UNetConfig(levels=3, base_channels=8, channel_mult=(1, 2), cond_dim=8)
    denoiser = EDMDenoiser(UNet(config)).eval().requires_grad_(False)
    extra = {
        "lat": torch.linspace(-30.0, 30.0, 6),
        "lon": torch.arange(0.0, 360.0, 45.0),
        "doy": torch.tensor([30.0, 200.0]),
        "periodic": True,
    }
    return denoiser, extra


def _func_vjp(denoiser, x, sigma, extra_args):
    """The earlier linearisation, the reference."""
    from torch.func import vjp

    with torch.enable_grad():
        denoised, fn = vjp(lambda z: denoiser(z, sigma, **extra_args), x)
    return denoised, lambda v: fn(v)[0]


def test_denoise_with_vjp_equals_torch_func_vjp() -> None:
    """Same denoised field bit for bit; the same products, for several vectors in turn, to
    float32 rounding (the two paths run the backward kernels in another order: about 2e-7 of
    the largest entry here)."""
    from xdepthdif.core.guidance import denoise_with_vjp

    denoiser, extra = _small_unet_denoiser()
    g = torch.Generator().manual_seed(5)
    x, sigma = torch.randn(2, 3, 6, 8, generator=g), torch.tensor([0.7, 3.0])
    new, new_vjp = denoise_with_vjp(denoiser, x, sigma, extra)
    old, old_vjp = _func_vjp(denoiser, x, sigma, extra)
    assert torch.equal(new, old) and not new.requires_grad
    for _ in range(3):  # the graph is kept for every product
        v = torch.randn(x.shape, generator=g)
        reference = old_vjp(v)
        tol = 2e-6 * float(reference.abs().max())
        torch.testing.assert_close(new_vjp(v), reference, rtol=0, atol=tol)


def test_guided_heun_run_is_unchanged_by_the_new_linearisation(monkeypatch) -> None:
    """A whole guided run agrees with one linearised by ``torch.func.vjp`` to rounding."""
    from xdepthdif.core import guidance as guidance_module

    denoiser, extra = _small_unet_denoiser()
    g = torch.Generator().manual_seed(6)
    x = 10.0 * torch.randn(2, 3, 6, 8, generator=g)
    mask = torch.rand(1, 3, 6, 8, generator=g) < 0.3
    guide = MMPSGuidance(mask, torch.randn(1, 3, 6, 8, generator=g), r=0.05, cg_iters=2)
    sigmas = karras_sigmas(4, sigma_max=10.0)
    new, _ = sample_heun(denoiser, x, sigmas, extra, guide)
    monkeypatch.setattr(guidance_module, "denoise_with_vjp", _func_vjp)
    old, _ = sample_heun(denoiser, x, sigmas, extra, guide)
    # rounding differences of the products, grown through 7 guided evaluations: 2e-6 of the
    # largest value here; a wrong product (a factor, a sign) differs in the first digit
    torch.testing.assert_close(new, old, rtol=0, atol=2e-5 * float(old.abs().max()))


def test_vjp_of_a_denoiser_that_ignores_its_input_is_zero() -> None:
    from xdepthdif.core.guidance import denoise_with_vjp

    x = torch.ones(2, 3)
    denoised, fn = denoise_with_vjp(lambda x, s: torch.zeros_like(x), x, torch.ones(2), {})
    assert torch.equal(fn(torch.ones(2, 3)), torch.zeros(2, 3))
    assert torch.equal(denoised, torch.zeros(2, 3))


def test_the_column_preconditioner_makes_one_iteration_exact_for_correlated_columns():
    """Columns of 12 strongly correlated levels (unit variance, independent columns), observed
    on some levels of some columns: with the column preconditioner one CG iteration gives the
    exact posterior denoiser of this Gaussian prior; the diagonal (Jacobi) one does not."""
    levels, H, W = 12, 3, 4
    z = torch.arange(levels, dtype=torch.float64)
    corr = torch.exp(-((z[:, None] - z[None, :]) ** 2) / 18.0)  # correlated over ~4 levels
    g = torch.Generator().manual_seed(5)
    mask = torch.zeros(1, levels, H, W, dtype=torch.bool)
    mask[0, :8, 0, 1] = True  # a profile to level 8
    mask[0, ::3, 2, 3] = True  # a sparse one
    y = torch.randn(1, levels, H, W, generator=g, dtype=torch.float64)
    r = torch.full((1, levels, H, W), 0.01, dtype=torch.float64)

    def denoiser(x, sigma):  # exact for N(0, corr) in every column
        gain = corr @ torch.linalg.inv(corr + sigma[0] ** 2 * torch.eye(levels, dtype=x.dtype))
        return torch.einsum("kl,blhw->bkhw", gain, x)

    x = torch.randn(2, levels, H, W, generator=g, dtype=torch.float64)
    sigma = torch.full((2,), 0.8, dtype=torch.float64)
    exact = MMPSGuidance(mask, y, r, cg_iters=60)(denoiser, x, sigma, {})
    column = MMPSGuidance(mask, y, r, cg_iters=1, column_correlation=corr)(denoiser, x, sigma, {})
    jacobi = MMPSGuidance(mask, y, r, cg_iters=1)(denoiser, x, sigma, {})
    torch.testing.assert_close(column, exact, rtol=1e-8, atol=1e-8)
    assert (jacobi - exact).abs().max() > 0.1 * (exact - denoiser(x, sigma)).abs().max()
    # a column without observations keeps the prior's denoised estimate
    torch.testing.assert_close(column[:, :, 1, 1], denoiser(x, sigma)[:, :, 1, 1])


# the final update summed from the iterations' products ------------------------------------------


def test_conjugate_gradient_image_is_the_map_of_the_solution() -> None:
    """``G(u)`` summed from the iterates' images equals ``G`` applied to the solution, also for
    a sample that stops on negative curvature (its image stays that of its last iterate)."""
    from xdepthdif.core.guidance import conjugate_gradient, conjugate_gradient_image

    g = torch.Generator().manual_seed(8)
    G = torch.randn(5, 5, generator=g, dtype=torch.float64)
    sign = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)

    def op(v):
        image = v @ G.T
        return sign * (image @ G + 0.5 * v), image

    b = torch.randn(2, 5, generator=g, dtype=torch.float64)
    for iters in (0, 1, 3):
        u, image = conjugate_gradient_image(op, b, iters, precond=torch.full((5,), 0.7))
        if iters == 0:
            assert image is None and torch.equal(u, torch.zeros_like(b))
            continue
        torch.testing.assert_close(image, u @ G.T, rtol=0, atol=1e-12)
        plain = conjugate_gradient(lambda v: op(v)[0], b, iters, precond=torch.full((5,), 0.7))
        assert torch.equal(u, plain)
    assert torch.all(u[1] == 0) and torch.all(image[1] == 0)


def test_mmps_makes_cg_iters_products_and_the_update_of_one_more(monkeypatch) -> None:
    """A guided evaluation of a real (small, untrained) network costs ``cg_iters`` products, and
    its update equals the one computed by a further product of the solution, to float32
    rounding (2e-6 of the largest update here; a wrong coefficient differs in the first digit)."""
    from xdepthdif.core import guidance as guidance_module
    from xdepthdif.core.guidance import conjugate_gradient, denoise_with_vjp

    denoiser, extra = _small_unet_denoiser()
    g = torch.Generator().manual_seed(9)
    x, sigma = 3.0 * torch.randn(2, 3, 6, 8, generator=g), torch.tensor([0.8, 4.0])
    mask = torch.rand(1, 3, 6, 8, generator=g) < 0.3
    y, r = torch.randn(1, 3, 6, 8, generator=g), 0.05
    calls = []

    def counted(*args):
        denoised, fn = denoise_with_vjp(*args)
        return denoised, lambda v: calls.append(1) or fn(v)

    # the update as written before: the solution, then one more product of it
    denoised, fn = denoise_with_vjp(denoiser, x, sigma, extra)
    var, m = sigma.reshape(-1, 1, 1, 1) ** 2, mask.float()

    def op(v):
        return m * (var * fn(m * v) + r * v)

    innovation = torch.where(mask, y - denoised, 0.0)
    monkeypatch.setattr(guidance_module, "denoise_with_vjp", counted)
    for iters in (1, 2, 3):
        calls.clear()
        guided = MMPSGuidance(mask, y, r=r, cg_iters=iters)(denoiser, x, sigma, extra)
        assert len(calls) == iters
        u = conjugate_gradient(op, innovation, iters, m / (var / (1.0 + var) + r))
        reference = denoised + var * fn(m * u)
        tol = 2e-6 * float((reference - denoised).abs().max())
        torch.testing.assert_close(guided, reference, rtol=0, atol=tol)
