"""Denoising UNet with FiLM conditioning and EDM preconditioning, torch only.

Depth levels are channels: a field of shape ``(B, levels, H, W)`` goes in and a field of the
same shape comes out, for any ``H`` and ``W``. Latitude and longitude enter as sin/cos input
channels (so every pixel knows where it is), and their patch means, the noise level and the day
of year form a conditioning vector injected into every residual block by FiLM,
``h * (1 + scale) + shift``. With ``periodic=True`` every convolution wraps around in longitude,
so on a global grid a roll of the input by a multiple of ``2 ** (len(channel_mult) - 1)``
columns rolls the output by the same amount.

:class:`EDMDenoiser` wraps the network with the preconditioning of Karras et al. (2022,
"Elucidating the design space of diffusion-based generative models"), and :func:`edm_loss` is
their training loss as a proper masked mean over ocean points.

Examples
--------
>>> import torch
>>> net = UNet(UNetConfig(levels=3, base_channels=8, channel_mult=(1, 2), cond_dim=16))
>>> x = torch.zeros(2, 3, 5, 7)
>>> lat, lon = torch.linspace(-10, 10, 5), torch.linspace(0, 30, 7)
>>> D = EDMDenoiser(net)
>>> D(x, torch.tensor([0.5, 2.0]), lat, lon, doy=torch.tensor([15.0, 200.0])).shape
torch.Size([2, 3, 5, 7])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EDMDenoiser", "UNet", "UNetConfig", "edm_loss", "wrap_lon"]

N_COORD = 4  # sin/cos latitude, sin/cos longitude
N_NOISE_FREQ = 16  # sinusoidal features of the noise level (twice this many numbers)
N_DOY_HARM = 4  # annual harmonics of the day of year (twice this many numbers)


@dataclass(frozen=True)
class UNetConfig:
    """Shape of a :class:`UNet`.

    Parameters
    ----------
    levels : int
        Number of depth levels: input and output channels.
    base_channels : int
        Channels at full resolution; must be divisible by 8 or smaller than 8.
    channel_mult : tuple of int
        Channel multiplier per resolution; its length minus one is the number of halvings.
    blocks_per_level : int
        Residual blocks per resolution, on the way down and on the way up.
    cond_dim : int
        Width of the conditioning vector fed to FiLM.
    extra_in_channels : int
        Conditioning channels (surface field, observations, masks) concatenated to the input.
    dropout : float
        Dropout probability inside residual blocks.
    """

    levels: int
    base_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 2)
    blocks_per_level: int = 1
    cond_dim: int = 64
    extra_in_channels: int = 0
    dropout: float = 0.0

    @property
    def factor(self) -> int:
        """Spatial sizes are padded internally to a multiple of this."""
        return 2 ** (len(self.channel_mult) - 1)


class _WrapLon(torch.autograd.Function):
    """Periodic pad of the last axis by concatenation; its backward folds the padded columns
    back onto the ones they copy, as one gradient (so sums meet in the same order as in the
    circular pad's backward: bit for bit the same gradients)."""

    @staticmethod
    def forward(x: Tensor, left: int, right: int) -> Tensor:
        W = x.shape[-1]
        return torch.cat([x[..., W - left :], x, x[..., :right]], dim=-1)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.width, ctx.left, ctx.right = inputs[0].shape[-1], inputs[1], inputs[2]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        W, left, right = ctx.width, ctx.left, ctx.right
        out = grad[..., left : left + W].clone()
        if left:
            out[..., W - left :] += grad[..., :left]
        if right:
            out[..., :right] += grad[..., left + W :]
        return out, None, None


def wrap_lon(x: Tensor, left: int, right: int) -> Tensor:
    """Pad the last axis periodically: ``left`` columns from its end, ``right`` from its start.

    The same values and gradients as ``F.pad(x, (left, right), mode="circular")``, without
    its slower backward (a chain of copies into slices of a new tensor): the padded columns
    are concatenated slices, and the backward adds them back onto their sources (see
    ``docs/benchmarks.md``). Pads wider than the axis wrap around more than once.

    Examples
    --------
    >>> wrap_lon(torch.arange(4.0)[None], 1, 2)
    tensor([[3., 0., 1., 2., 3., 0., 1.]])
    """
    W = x.shape[-1]
    if not (left or right):
        return x
    if left > W or right > W:  # wraps more than once: repeat whole copies, then cut
        copies = 1 + 2 * math.ceil(max(left, right) / W)
        mid = (copies // 2) * W
        return x.repeat(*([1] * (x.ndim - 1)), copies)[..., mid - left : mid + W + right]
    return _WrapLon.apply(x, left, right)


def _pad_hw(x: Tensor, top: int, bottom: int, left: int, right: int, periodic: bool) -> Tensor:
    """Pad the last two axes: zeros in latitude; periodic (:func:`wrap_lon`) or zeros in
    longitude."""
    if periodic:
        return F.pad(wrap_lon(x, left, right), (0, 0, top, bottom))
    return F.pad(x, (left, right, top, bottom))


class Conv3(nn.Conv2d):
    """3×3 convolution whose padding wraps around in longitude when ``periodic``.

    The zeros in latitude (and in longitude when not periodic) are the convolution's own
    padding, not a padded copy of the input: the same numbers, one copy fewer per layer."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(cin, cout, 3, stride=stride, padding=0)

    def forward(self, x: Tensor, periodic: bool = False) -> Tensor:  # type: ignore[override]
        if periodic:
            x, padding = wrap_lon(x, 1, 1), (1, 0)
        else:
            padding = (1, 1)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class ResBlock(nn.Module):
    """GroupNorm + SiLU residual block with FiLM conditioning after the second norm."""

    def __init__(self, cin: int, cout: int, cond_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), Conv3(cin, cout)
        self.film = nn.Linear(cond_dim, 2 * cout)
        self.norm2, self.conv2 = _norm(cout), Conv3(cout, cout)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, cond: Tensor, periodic: bool) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)), periodic)
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)), periodic)
        return self.skip(x) + h


def _as_batch(v: Tensor | float, batch: int, like: Tensor) -> Tensor:
    """A scalar or a (B,) value as a float tensor of shape (B,) on ``like``'s device."""
    v = torch.as_tensor(v, dtype=like.dtype, device=like.device).reshape(-1)
    return v.expand(batch) if v.numel() == 1 else v


def coord_features(lat: Tensor, lon: Tensor, like: Tensor) -> Tensor:
    """Sin/cos of latitude and longitude (degrees) on the grid, shape ``(4, H, W)``."""
    lat = torch.deg2rad(torch.as_tensor(lat, dtype=like.dtype, device=like.device))
    lon = torch.deg2rad(torch.as_tensor(lon, dtype=like.dtype, device=like.device))
    H, W = lat.numel(), lon.numel()
    la, lo = lat.reshape(H, 1).expand(H, W), lon.reshape(1, W).expand(H, W)
    return torch.stack([la.sin(), la.cos(), lo.sin(), lo.cos()])


class UNet(nn.Module):
    """Residual UNet over depth-level channels, FiLM-conditioned on noise level and season.

    Parameters
    ----------
    config : UNetConfig
        Network shape.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = c = config
        chans = [c.base_channels * m for m in c.channel_mult]
        n_cond_in = 2 * N_NOISE_FREQ + 2 * N_DOY_HARM + N_COORD
        self.cond_mlp = nn.Sequential(
            nn.Linear(n_cond_in, c.cond_dim), nn.SiLU(), nn.Linear(c.cond_dim, c.cond_dim)
        )
        freqs = torch.exp(torch.linspace(math.log(0.25), math.log(64.0), N_NOISE_FREQ))
        self.register_buffer("noise_freqs", freqs)
        self.conv_in = Conv3(c.levels + c.extra_in_channels + N_COORD, chans[0])

        def block(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, cout, c.cond_dim, c.dropout)

        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        ch, skips = chans[0], []
        for i, cout in enumerate(chans):
            self.down.append(nn.ModuleList())
            for _ in range(c.blocks_per_level):
                self.down[i].append(block(ch, cout))
                ch = cout
            skips.append(ch)
            if i < len(chans) - 1:
                self.downsample.append(Conv3(ch, ch, stride=2))
        self.mid = block(ch, ch)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(chans))):
            blocks = nn.ModuleList()
            for j in range(c.blocks_per_level):
                blocks.append(block(ch + (skips[i] if j == 0 else 0), chans[i]))
                ch = chans[i]
            self.up.append(blocks)
            if i > 0:
                self.upsample.append(Conv3(ch, chans[i - 1]))
                ch = chans[i - 1]
        self.norm_out, self.conv_out = _norm(ch), Conv3(ch, c.levels)

    def embed(self, sigma: Tensor, doy: Tensor, coords: Tensor) -> Tensor:
        """Conditioning vector ``(B, cond_dim)`` from noise level, day of year, coordinates."""
        ang = sigma[:, None] * self.noise_freqs.to(sigma.dtype)
        k = torch.arange(1, N_DOY_HARM + 1, dtype=doy.dtype, device=doy.device)
        season = 2 * math.pi * doy[:, None] * k / 365.25
        where = coords.mean(dim=(-2, -1)).expand(sigma.shape[0], N_COORD)
        feats = [ang.sin(), ang.cos(), season.sin(), season.cos(), where]
        return self.cond_mlp(torch.cat(feats, dim=1))

    def forward(
        self,
        x: Tensor,
        sigma: Tensor | float,
        lat: Tensor,
        lon: Tensor,
        doy: Tensor | float,
        extra: Tensor | None = None,
        periodic: bool = False,
    ) -> Tensor:
        """Apply the network.

        Parameters
        ----------
        x : Tensor
            Field, shape ``(B, levels, H, W)``, finite.
        sigma : Tensor or float
            Noise conditioning value per sample, shape ``(B,)`` or scalar (the EDM wrapper
            passes ``ln(σ) / 4``).
        lat, lon : Tensor
            Cell-centre latitude ``(H,)`` and longitude ``(W,)`` in degrees.
        doy : Tensor or float
            Day of year per sample, shape ``(B,)`` or scalar.
        extra : Tensor, optional
            Conditioning channels, shape ``(B, extra_in_channels, H, W)``.
        periodic : bool
            Wrap around in longitude (global grids).

        Returns
        -------
        Tensor
            Shape ``(B, levels, H, W)``.
        """
        c = self.config
        B, L, H, W = x.shape
        if c.levels != L:
            raise ValueError(f"x has {L} levels; this network was built for {c.levels}.")
        n_extra = 0 if extra is None else extra.shape[1]
        if n_extra != c.extra_in_channels:
            raise ValueError(
                f"got {n_extra} extra channels; the network expects {c.extra_in_channels}."
            )
        coords = coord_features(lat, lon, x)
        parts = [x, coords.expand(B, -1, -1, -1)] + ([extra] if extra is not None else [])
        h = torch.cat(parts, dim=1)
        cond = self.embed(_as_batch(sigma, B, x), _as_batch(doy, B, x), coords)

        f = c.factor
        ph, pw = -H % f, -W % f
        h = _pad_hw(h, 0, ph, 0, pw, periodic)
        h = self.conv_in(h, periodic)
        skips = []
        for i, blocks in enumerate(self.down):
            for blk in blocks:
                h = blk(h, cond, periodic)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h, periodic)
        h = self.mid(h, cond, periodic)
        for n, blocks in enumerate(self.up):
            h = torch.cat([h, skips.pop()], dim=1)
            for blk in blocks:
                h = blk(h, cond, periodic)
            if n < len(self.upsample):
                h = self.upsample[n](F.interpolate(h, scale_factor=2.0, mode="nearest"), periodic)
        h = self.conv_out(F.silu(self.norm_out(h)), periodic)
        return h[..., :H, :W]


class EDMDenoiser(nn.Module):
    """EDM-preconditioned denoiser ``D(x, σ) = c_skip x + c_out F(c_in x, c_noise)``.

    With ``seen`` (a model trained with the ambient loss,
    :func:`~xdepthdif.core.conditional_loss.ambient_loss`), the network is shown its noisy
    input only on ``seen`` and the input is zero elsewhere. There the input says nothing about
    the field, as at ``σ → ∞``, and the estimate takes EDM's scalings at that limit:
    ``D = σ_data F`` (``c_skip = 0``, ``c_out = σ_data``), the network's own prediction. With
    the finite-σ scalings an unseen cell's estimate would be ``c_out F ≈ σ F``: the network
    would have to output ``y / σ`` there, hundreds of times its usual range at the last steps
    of a sampler.

    Parameters
    ----------
    net : nn.Module
        Raw network with the :meth:`UNet.forward` signature.
    sigma_data : float
        Standard deviation of the data (1 for fields normalised per level).

    Examples
    --------
    >>> cfg = UNetConfig(levels=2, base_channels=8, channel_mult=(1, 2), cond_dim=8)
    >>> D = EDMDenoiser(UNet(cfg)).eval()
    >>> seen = torch.zeros(1, 2, 4, 8, dtype=torch.bool); seen[..., 0] = True
    >>> lat, lon, zero = torch.linspace(-30, 30, 4), torch.arange(8) * 45.0, torch.zeros(1, 2, 4, 8)
    >>> with torch.no_grad():
    ...     raw = D.net(zero, torch.log(torch.tensor([0.3])) / 4, lat, lon, 15.0)
    ...     d = D(zero, 0.3, lat, lon, 15.0, seen=seen)
    ...     junk = D(torch.where(seen, 0.0, 99.0), 0.3, lat, lon, 15.0, seen=seen)
    >>> bool(torch.allclose(d[~seen], raw[~seen]))  # σ_data F where unseen (σ_data = 1)
    True
    >>> bool(torch.equal(d, junk))  # what lies in x off `seen` is never read
    True
    """

    def __init__(self, net: nn.Module, sigma_data: float = 1.0) -> None:
        super().__init__()
        self.net, self.sigma_data = net, float(sigma_data)

    def forward(
        self,
        x: Tensor,
        sigma: Tensor | float,
        lat: Tensor,
        lon: Tensor,
        doy: Tensor | float,
        extra: Tensor | None = None,
        periodic: bool = False,
        seen: Tensor | None = None,
    ) -> Tensor:
        """Denoised estimate of the clean field from ``x`` at noise level ``sigma`` (B,).

        ``seen`` (bool, broadcastable to ``x``): the cells where the network is shown ``x``;
        ``x`` is zeroed elsewhere and the estimate there is ``σ_data F`` (see the class).
        """
        sd = self.sigma_data
        s = _as_batch(sigma, x.shape[0], x)[:, None, None, None]
        if seen is not None:
            x = torch.where(seen, x, torch.zeros((), dtype=x.dtype, device=x.device))
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        c_in = 1 / (s**2 + sd**2).sqrt()
        c_noise = s.log().flatten() / 4
        F_x = self.net(c_in * x, c_noise, lat, lon, doy, extra=extra, periodic=periodic)
        if seen is None:
            return c_skip * x + c_out * F_x
        return torch.where(seen, c_skip * x + c_out * F_x, sd * F_x)


def edm_loss(
    denoiser: nn.Module,
    x0: Tensor,
    mask: Tensor,
    lat: Tensor,
    lon: Tensor,
    doy: Tensor | float,
    extra: Tensor | None = None,
    P_mean: float = -1.2,
    P_std: float = 1.2,
    sigma_data: float = 1.0,
    generator: torch.Generator | None = None,
    periodic: bool = False,
) -> Tensor:
    """EDM training loss as a masked mean over valid (ocean, finite) points.

    Draws ``ln σ ~ N(P_mean, P_std²)`` per sample (first ``randn(B)`` from ``generator``), then
    ``ε ~ N(0, 1)`` of ``x0``'s shape (second draw), and returns
    ``Σ_valid λ(σ) (D(x0 + σε, σ) − x0)² / n_valid`` with ``λ = (σ² + sd²) / (σ sd)²``.

    Parameters
    ----------
    denoiser : nn.Module
        An :class:`EDMDenoiser` (or anything with its signature).
    x0 : Tensor
        Clean normalised fields ``(B, levels, H, W)``; NaN allowed outside ``mask``.
    mask : Tensor
        Bool, ``True`` on ocean points, broadcastable from ``(B or 1, levels, H, W)``.
    lat, lon, doy, extra, periodic
        Passed to the denoiser.
    P_mean, P_std : float
        Log-normal noise-level distribution.
    sigma_data : float
        Data standard deviation used in the weight.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    valid = mask.to(torch.bool).expand_as(x0) & torch.isfinite(x0)
    n_valid = valid.sum()
    if int(n_valid) == 0:
        raise ValueError("edm_loss got no valid points: the mask is empty or x0 is all NaN.")
    x0 = torch.where(valid, x0, torch.zeros((), dtype=x0.dtype, device=x0.device))
    B = x0.shape[0]
    kw = {"generator": generator, "dtype": x0.dtype, "device": x0.device}
    sigma = (P_mean + P_std * torch.randn(B, **kw)).exp()
    noise = torch.randn(x0.shape, **kw) * sigma[:, None, None, None]
    D = denoiser(x0 + noise, sigma, lat, lon, doy, extra=extra, periodic=periodic)
    weight = ((sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2)[:, None, None, None]
    err = torch.where(valid, weight * (D - x0) ** 2, torch.zeros_like(D))
    return err.sum() / n_valid
