"""Tests for the torch denoiser network, EDM preconditioning and the masked EDM loss."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from xdepthdif.core import network  # noqa: E402
from xdepthdif.core.network import (  # noqa: E402
    EDMDenoiser,
    UNet,
    UNetConfig,
    _pad_hw,
    edm_loss,
    wrap_lon,
)

SMALL = UNetConfig(levels=5, base_channels=8, channel_mult=(1, 2, 2), cond_dim=16)


def grid(H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres of a global grid."""
    lat = -90 + 180 * (torch.arange(H) + 0.5) / H
    lon = 360 * torch.arange(W) / W
    return lat, lon


def small_net(seed: int = 0, config: UNetConfig = SMALL) -> UNet:
    torch.manual_seed(seed)  # local to the test process; the library never seeds
    return UNet(config).eval()


class ZeroNet(torch.nn.Module):
    """F ≡ 0 plus a trainable scalar times the input: D is known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, sigma, lat, lon, doy, extra=None, periodic=False):
        return self.a * x


@pytest.mark.parametrize(("H", "W"), [(17, 23), (36, 72), (1, 3), (8, 8)])
@pytest.mark.parametrize("periodic", [False, True])
def test_output_shape_any_size(H, W, periodic):
    net = small_net()
    lat, lon = grid(H, W)
    x = torch.randn(2, 5, H, W)
    with torch.no_grad():
        y = net(x, torch.tensor([0.1, -0.5]), lat, lon, torch.tensor([10.0, 300.0]), None, periodic)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_extra_channels_and_wrong_counts():
    cfg = UNetConfig(
        levels=5, base_channels=8, channel_mult=(1, 2), cond_dim=16, extra_in_channels=2
    )
    net = small_net(config=cfg)
    lat, lon = grid(9, 11)
    x, extra = torch.randn(1, 5, 9, 11), torch.randn(1, 2, 9, 11)
    with torch.no_grad():
        assert net(x, 0.0, lat, lon, 100.0, extra=extra).shape == x.shape
        with pytest.raises(ValueError, match="extra channels"):
            net(x, 0.0, lat, lon, 100.0)
        with pytest.raises(ValueError, match="levels"):
            net(torch.randn(1, 4, 9, 11), 0.0, lat, lon, 100.0, extra=extra)


@pytest.mark.parametrize("k", [4, 8, 36])
def test_periodic_roll_equivariance(k):
    net = small_net()
    lat, lon = grid(18, 72)
    x, doy = torch.randn(2, 5, 18, 72), torch.tensor([40.0, 200.0])
    with torch.no_grad():
        y = net(x, 0.2, lat, lon, doy, periodic=True)
        y_rolled = net(x.roll(k, dims=-1), 0.2, lat, lon.roll(k), doy, periodic=True)
    assert (y_rolled - y.roll(k, dims=-1)).abs().max() < 1e-5


def test_conditioning_matters():
    net = small_net()
    lat, lon = grid(12, 16)
    x = torch.randn(1, 5, 12, 16)
    with torch.no_grad():
        base = net(x, 0.0, lat, lon, 10.0)
        other_doy = net(x, 0.0, lat, lon, 190.0)
        other_sigma = net(x, 1.0, lat, lon, 10.0)
        other_place = net(x, 0.0, lat + 30.0, lon, 10.0)
    for other in (other_doy, other_sigma, other_place):
        assert (other - base).abs().max() > 1e-4


def test_edm_preconditioning_limits():
    net = small_net()
    D = EDMDenoiser(net, sigma_data=0.5)
    lat, lon = grid(10, 12)
    x = torch.randn(2, 5, 10, 12)
    with torch.no_grad():
        near_clean = D(x, torch.full((2,), 1e-5), lat, lon, 50.0)
        assert (near_clean - x).abs().max() < 1e-3
        # formulas: D = c_skip x + c_out F(c_in x, ln σ / 4)
        s, sd = 2.0, 0.5
        expected = sd**2 / (s**2 + sd**2) * x + s * sd / math.sqrt(s**2 + sd**2) * net(
            x / math.sqrt(s**2 + sd**2), math.log(s) / 4, lat, lon, 50.0
        )
        assert torch.allclose(D(x, s, lat, lon, 50.0), expected, atol=1e-6)


def make_batch(B=2, L=5, H=6, W=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(B, L, H, W, generator=g)
    mask = torch.rand(1, L, H, W, generator=g) > 0.3
    lat, lon = grid(H, W)
    return x0, mask, lat, lon, torch.tensor([30.0, 250.0])[:B]


def test_loss_is_masked_mean_by_hand():
    x0, mask, lat, lon, doy = make_batch()
    D = EDMDenoiser(ZeroNet())
    with torch.no_grad():
        loss = edm_loss(D, x0, mask, lat, lon, doy, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    sigma = torch.exp(-1.2 + 1.2 * torch.randn(2, generator=g))
    total, count = 0.0, 0
    eps = torch.randn(x0.shape, generator=g)
    for b in range(2):
        s = float(sigma[b])
        c_skip, lam = 1 / (s**2 + 1), (s**2 + 1) / s**2
        for idx in zip(*torch.nonzero(mask[0], as_tuple=True), strict=True):
            x, e = float(x0[(b, *idx)]), float(eps[(b, *idx)])
            total += lam * (c_skip * (x + s * e) - x) ** 2
            count += 1
    assert count == 2 * int(mask.sum())
    assert math.isclose(loss.item(), total / count, rel_tol=1e-5)


def test_loss_ignores_land_and_nan():
    x0, mask, lat, lon, doy = make_batch()
    D = EDMDenoiser(small_net())
    with torch.no_grad():
        ref = edm_loss(D, x0, mask, lat, lon, doy, generator=torch.Generator().manual_seed(5))
        land = ~mask.expand_as(x0)
        for fill in (float("nan"), 1e3, -7.0):
            x_land = torch.where(land, torch.full_like(x0, fill), x0)
            got = edm_loss(
                D, x_land, mask, lat, lon, doy, generator=torch.Generator().manual_seed(5)
            )
            assert torch.isfinite(got)
            assert torch.allclose(got, ref, rtol=1e-6, atol=0)


def test_loss_empty_mask_raises():
    x0, mask, lat, lon, doy = make_batch()
    with pytest.raises(ValueError, match="no valid points"):
        edm_loss(EDMDenoiser(ZeroNet()), x0, torch.zeros_like(mask), lat, lon, doy)


def test_gradients_flow_one_step_reduces_loss():
    x0, mask, lat, lon, doy = make_batch(H=12, W=16)
    x0 = torch.where(mask, x0, torch.nan)
    D = EDMDenoiser(small_net())
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)

    def loss_fn():
        return edm_loss(D, x0, mask, lat, lon, doy, generator=torch.Generator().manual_seed(7))

    before = loss_fn()
    opt.zero_grad()
    before.backward()
    grads = [p.grad for p in D.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    opt.step()
    with torch.no_grad():
        assert loss_fn() < before.detach()


def test_default_config_is_small():
    net = UNet(UNetConfig(levels=42, extra_in_channels=3))
    assert sum(p.numel() for p in net.parameters()) < 3_000_000


def test_core_imports_no_xarray_or_dask():
    import xdepthdif.core

    for path in Path(xdepthdif.core.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in {"xarray", "dask"}, (path.name, name)


# the periodic pad: the circular pad's values, a cheaper backward --------------------------


def circular_pad_hw(x, top, bottom, left, right, periodic):
    """The earlier padding, ``F.pad(mode="circular")`` then zeros in latitude: the reference."""
    F = torch.nn.functional
    if periodic:
        if left or right:
            x = F.pad(x, (left, right, 0, 0), mode="circular")
        return F.pad(x, (0, 0, top, bottom))
    return F.pad(x, (left, right, top, bottom))


def test_wrap_lon_known_answer():
    """Exact columns: one from the end on the left, two from the start on the right."""
    x = torch.arange(5.0).reshape(1, 1, 1, 5)
    assert wrap_lon(x, 1, 2).flatten().tolist() == [4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0]
    assert wrap_lon(x, 0, 0) is x
    # wider than the axis: wraps around more than once (the circular pad refuses this)
    assert wrap_lon(x[..., :2], 3, 4).flatten().tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize(("left", "right"), [(1, 1), (0, 3), (3, 0), (2, 5), (7, 7)])
def test_periodic_pad_equals_circular_pad_forward_and_gradient(left, right):
    """Bit for bit: the values and the gradient of a weighted sum (the backward that was slow).
    When the two pads together are wider than the axis (7 + 7 > 7; never in the network's
    1-column pads) a column's gradient sums three terms, in another order: equal to rounding."""
    g = torch.Generator().manual_seed(left + 10 * right)
    x = torch.randn(2, 3, 4, 7, generator=g, dtype=torch.float64)
    shape = (2, 3, 4 + 1 + 2, 7 + left + right)
    weights = torch.randn(shape, generator=g, dtype=torch.float64)
    outputs, grads = [], []
    for pad in (_pad_hw, circular_pad_hw):
        z = x.clone().requires_grad_(True)
        y = pad(z, 1, 2, left, right, True)
        (grad,) = torch.autograd.grad((weights * y).sum(), z)
        outputs.append(y.detach())
        grads.append(grad)
    assert outputs[0].shape == shape
    assert torch.equal(outputs[0], outputs[1])
    if left + right <= 7:
        assert torch.equal(grads[0], grads[1])
    else:
        torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-14)


def test_off_by_one_pad_is_caught():
    """The comparison above tells a pad shifted by one column from the right one."""
    x = torch.randn(1, 1, 3, 6, dtype=torch.float64)
    shifted = torch.cat([x[..., -2:-1], x, x[..., :1]], dim=-1)
    assert not torch.equal(
        torch.nn.functional.pad(shifted, (0, 0, 1, 1)), _pad_hw(x, 1, 1, 1, 1, True)
    )


@pytest.mark.parametrize(("H", "W"), [(9, 12), (6, 10)])
def test_unet_with_periodic_pad_equals_circular_pad(monkeypatch, H, W):
    """The whole network, forward and vector-Jacobian product, is unchanged bit for bit (W = 10
    also pads the width to a multiple of 4 periodically)."""
    net = small_net().requires_grad_(False)
    lat, lon = grid(H, W)
    x = torch.randn(2, 5, H, W, generator=torch.Generator().manual_seed(3))
    v = torch.randn(2, 5, H, W, generator=torch.Generator().manual_seed(4))
    results = []
    for pad in (_pad_hw, circular_pad_hw):
        monkeypatch.setattr(network, "_pad_hw", pad)
        z = x.clone().requires_grad_(True)
        y = net(z, torch.tensor([0.3, -0.2]), lat, lon, torch.tensor([20.0, 90.0]), None, True)
        (grad,) = torch.autograd.grad(y, z, v)
        results.append((y.detach(), grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
