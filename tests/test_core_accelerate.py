"""Opt-in speed-ups of the sampler: bfloat16 autocast and torch.compile."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from xdepthdif.core.accelerate import sampling_denoiser  # noqa: E402
from xdepthdif.core.guidance import MMPSGuidance  # noqa: E402
from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig  # noqa: E402
from xdepthdif.core.sampler import sample_heun  # noqa: E402
from xdepthdif.core.schedule import denoise_last_sigmas  # noqa: E402


def tiny():
    """A tiny periodic denoiser, its conditioning, a guided problem and its noise (unit-variance
    fields, as normalised data are)."""
    torch.manual_seed(0)  # local to the test process
    config = UNetConfig(levels=3, base_channels=8, channel_mult=(1, 2), cond_dim=8)
    denoiser = EDMDenoiser(UNet(config)).eval().requires_grad_(False)
    for p in denoiser.net.conv_out.parameters():  # near the exact denoiser of N(0, I):
        p.mul_(0.05)  # a well-behaved prior, as a trained one is, yet the weights matter
    extra = {
        "lat": torch.linspace(-30.0, 30.0, 6),
        "lon": torch.arange(0.0, 360.0, 45.0),
        "doy": torch.tensor([30.0, 200.0]),
        "periodic": True,
    }
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(1, 3, 6, 8, generator=g) < 0.3
    guide = MMPSGuidance(mask, torch.randn(1, 3, 6, 8, generator=g), r=0.05, cg_iters=2)
    return denoiser, extra, guide, 10.0 * torch.randn(2, 3, 6, 8, generator=g)


def guided_run(denoiser, extra, guide, x):
    return sample_heun(denoiser, x, denoise_last_sigmas(4, sigma_max=10.0), extra, guide)[0]


def test_defaults_are_the_model_itself_and_bad_precision_is_refused():
    denoiser = tiny()[0]
    assert sampling_denoiser(denoiser) is denoiser
    with pytest.raises(ValueError, match="precision must be one of"):
        sampling_denoiser(denoiser, precision="float16")


def test_bfloat16_runs_in_bfloat16_and_stays_close():
    """The network runs in bfloat16 (the answer differs from float32's), the sample comes back
    in float32 within 0.02 of float32's (fields of unit variance), and the variant is built
    once and shares the weights."""
    denoiser, extra, guide, x = tiny()
    fast = sampling_denoiser(denoiser, precision="bfloat16")
    assert fast is sampling_denoiser(denoiser, precision="bfloat16")
    assert next(fast.parameters()).data_ptr() == next(denoiser.parameters()).data_ptr()
    reference, sample = guided_run(denoiser, extra, guide, x), guided_run(fast, extra, guide, x)
    assert sample.dtype == torch.float32
    error = float((sample - reference).abs().max())
    assert 0 < error < 0.02


@pytest.mark.slow
def test_compile_runs_and_matches_eager():
    """torch.compile, forward and backward (about a minute to compile on a 2-core CPU, hence
    slow): the same sample as the eager network to float32 rounding, compiled once."""
    denoiser, extra, guide, x = tiny()
    compiled = sampling_denoiser(denoiser, compile=True)
    assert compiled is sampling_denoiser(denoiser, compile=True)
    reference, sample = guided_run(denoiser, extra, guide, x), guided_run(compiled, extra, guide, x)
    torch.testing.assert_close(sample, reference, rtol=0, atol=1e-4 * float(reference.abs().max()))
