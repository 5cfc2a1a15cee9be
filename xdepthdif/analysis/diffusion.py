"""Guided diffusion ensembles, one time step, numpy in and numpy out (or CuPy out, members on
the GPU): the only torch bridge.

A checkpoint (see :mod:`xdepthdif.prior.model`) holds an EDM-preconditioned :class:`~xdepthdif.core.
network.UNet` prior over depth-level fields normalised per level, optionally anomalies about a
monthly climatology stored with the weights or about the shipped climatology
(:func:`xdepthdif.prior.climatology.model_climatology`). :func:`diffusion_analysis` works on
the model's own levels and a grid of its native spacing: it normalises the gridded
super-observations, guides the Heun sampler towards them with MMPS (Rozet et al. 2024: the
update goes through the denoiser's Jacobian, so an isolated profile spreads along the learned
covariance), draws ``members`` samples, applies the card's per-level spread calibration and
returns their mean, spread and the members themselves, in °C.
:func:`xdepthdif.analysis.native.diffusion_step` goes from profiles to any target grid: it bins
the profiles on the model's native grid, runs :func:`diffusion_analysis`, then interpolates the
members in depth and regrids them to the target.

torch is imported inside the functions that need it: importing this module (which
:mod:`xdepthdif.reconstruct` does for :class:`DiffusionConfig`) does not import torch. The
model is loaded once per process and device through :func:`xdepthdif.prior.model.cached_load`, keyed
by the checkpoint's sha256 (and its card), so dask tasks carry a path and a digest, never
weights.

Random numbers come from :func:`member_seed`, a function of ``(seed, time_key, member)`` only,
so an answer never depends on chunking, scheduler or worker count.

Examples
--------
>>> cfg = DiffusionConfig(members=4, steps=10)
>>> cfg.nfe
19
>>> member_seed(0, 25567.0, 1) == member_seed(0, 25567.0, 1) != member_seed(0, 25567.0, 2)
True
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from ..array_library import namespace, to_library
from ..errors import GridError, ModelCardError
from ..grid.axes import is_global_lon
from ..prior.checks import check_sampleable
from ..prior.climatology import model_climatology
from ..prior.model import CLIMATOLOGY, PathLike, cached_load, spread_scale_for
from ..progress import report
from .heap import heap_kept
from .torch_env import TORCH_LOCK, resolve_device, sampling_threads

__all__ = [
    "DiffusionConfig",
    "ModelLevelsError",
    "check_levels",
    "diffusion_analysis",
]


SIGMA_MAX = 10.0
"""Noise level of the first step. Fields are normalised per level (σ_data = 1), so at σ = 10
the start is 99 % noise; EDM's 80 (made for images of σ_data = 0.5) lies far above the levels
the prior is trained at, and MMPS guidance through its Jacobian there sent 3–5-step runs tens
of °C out of range."""
PRECISIONS = ("float32", "bfloat16")
"""Values of :attr:`DiffusionConfig.precision` (the same as ``xdepthdif.core.accelerate``'s,
kept here so that a configuration is checked without importing torch)."""
MIN_STEPS = 3
"""Fewer guided steps put the whole guidance at one or two noise levels where the prior's
Jacobian is poor: the default model's ensembles then left the range of sea water."""
COLUMN_NUGGET = 0.3
"""Share of the identity blended into a card's ``vertical_correlation`` before it
preconditions the guidance (:func:`~xdepthdif.core.guidance.column_preconditioner`): the data's
correlation between deep levels is nearly singular, the network's Jacobian is not. Chosen on
the validation world (``benchmarks/guidance_preconditioner.py``: 0.1 and 0.6 fitted the
observations worse at 3 steps, all alike at 10)."""


class ModelLevelsError(GridError):
    """The target's depth levels lie outside the levels the diffusion model was trained on."""


@dataclass(frozen=True)
class DiffusionConfig:
    """Parameters of the guided diffusion ensemble.

    Parameters
    ----------
    model
        ``"default"`` (the shipped model :data:`~xdepthdif.prior.registry.DEFAULT_MODEL`
        names), the name of another checkpoint shipped with xdepthdif
        (:func:`~xdepthdif.prior.registry.shipped_models`, e.g. ``"world"``) or the path of a
        checkpoint (``NAME.safetensors`` with ``NAME.json`` beside it).
        :func:`xdepthdif.reconstruct` replaces it by the resolved path.
    sha256
        Digest of the weights; filled in from the model card when the graph is built, and
        checked again when a worker loads the model.
    members
        Ensemble size (at least 2, for a spread).
    steps
        Steps (at least 3): ``steps - 1`` Heun steps, then a plain denoise
        (see :func:`~xdepthdif.core.schedule.denoise_last_sigmas`): ``2 * steps - 1`` network
        evaluations per member (10 steps: 19).
    cg_iters
        Conjugate-gradient iterations of the MMPS guidance (1–3), preconditioned column by
        column when the model card holds a ``vertical_correlation`` (``xdepthdif calibrate``
        stores it), else level by level.
    obs_error
        Error standard deviation (°C) of one profile value, added in quadrature to
        ``thetao_error`` when the data carry it; a cell holding ``n`` profiles gets the error
        variance of their mean.
    sst_error
        Error standard deviation (°C) of the target's surface temperature field, when it has
        one, as an observation of the top level (used when that level lies within
        20 m of the surface): each top-level cell without a profile gets one observation of it.
        Values below ``obs_error`` count as ``obs_error``.
    seed
        Seed of the ensemble; members' seeds derive from it, the time and the member number.
    device
        ``"auto"`` (the worker's GPU when torch sees one, else the CPU), ``"cpu"``, ``"cuda"``
        (falls back to ``"cpu"`` when no GPU is present) or a torch device string such as
        ``"cuda:1"``. Results on a GPU differ from the CPU's in the last bits.
    precision
        ``"float32"`` (default) or ``"bfloat16"``: evaluate the network under bfloat16
        autocast, faster on CPUs with bfloat16 instructions and on GPUs; the accuracy it costs
        is measured in ``docs/benchmarks.md``.
    compile
        ``torch.compile`` the network in each worker process (off by default): faster per
        evaluation on some machines, after a compilation of minutes on a CPU on the first time
        step (no gain on the 2-core development CPU: ``docs/benchmarks.md``).
    clip
        Keep the members in the range of sea water, floored at the freezing point of their
        depth and capped at 40 °C (:func:`xdepthdif.screening.clip_members`, as the OI's
        analysis is floored; the default), or keep the network's own values (``False``: to
        study the network, or to calibrate its spread, as ``xdepthdif calibrate`` does).
    downscale
        On a target finer than the model's grid, a conditional OI-residual model's members
        become residuals about the target's own OI (:mod:`~xdepthdif.analysis.downscale`; the
        default), or are regridded as they are (``False``).
    """

    model: str = "default"
    sha256: str = ""
    members: int = 8
    steps: int = 10
    cg_iters: int = 2
    obs_error: float = 0.25
    sst_error: float = 0.5
    seed: int = 0
    device: str = "auto"
    precision: str = "float32"
    compile: bool = False
    clip: bool = True
    downscale: bool = True

    def __post_init__(self) -> None:
        for name in ("members", "steps", "cg_iters", "seed"):
            if not isinstance(getattr(self, name), int | np.integer) or isinstance(
                getattr(self, name), bool
            ):
                raise ValueError(f"{name} must be a whole number, got {getattr(self, name)!r}.")
        if self.members < 2:
            raise ValueError(f"members must be at least 2 (for a spread), got {self.members}.")
        if not 0 <= self.seed < 2**63:  # it is written to netCDF as a 64-bit integer
            raise ValueError(f"seed must lie in 0 .. 2**63 - 1, got {self.seed}.")
        if self.steps < MIN_STEPS or self.cg_iters < 0:
            raise ValueError(
                f"steps must be >= {MIN_STEPS} and cg_iters >= 0, got {self.steps} and "
                f"{self.cg_iters}: with fewer steps the guided ensemble leaves the range of sea "
                "water. Use steps=3 or more (10 is the default)."
            )
        for name in ("obs_error", "sst_error"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"{name} must be a finite positive number (°C), got {value!r}: infinity "
                    "would discard every observation, zero trusts them beyond their accuracy."
                )
        if not isinstance(self.device, str) or not re.fullmatch(
            r"auto|cpu|(cuda|xpu)(:\d+)?|mps", self.device
        ):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        for name in ("compile", "clip", "downscale"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")
            object.__setattr__(self, name, bool(getattr(self, name)))
        object.__setattr__(self, "model", str(self.model))

    @property
    def nfe(self) -> int:
        """Network evaluations per member (Heun: ``2 * steps - 1``)."""
        return 2 * self.steps - 1


def member_seed(seed: int, time_key: Any, member: int) -> int:
    """A 63-bit seed from ``(seed, time_key, member)`` only, stable across processes.

    ``time_key`` is any value whose ``repr`` identifies the time step (e.g. days since 1950).
    """
    text = f"xdepthdif-diffusion|{int(seed)}|{time_key!r}|{int(member)}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def check_levels(model_levels, depth, where: str = "") -> None:
    """Refuse a target whose levels reach deeper than the model's deepest level (metres).

    Target levels shallower than the model's first level take its value; levels in between
    are interpolated linearly in depth (see :func:`~xdepthdif.analysis.native.diffusion_step`).

    Examples
    --------
    >>> check_levels([5.0, 50.0, 500.0], [0.5, 10.0, 300.0])
    >>> check_levels([5.0, 50.0], [5.0, 50.0, 100.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xdepthdif.analysis.diffusion.ModelLevelsError: The target's deepest level (100 m) lies below ...
    """
    model_levels = np.asarray(model_levels, float)
    depth = np.asarray(depth, float)
    if depth.max() <= model_levels.max() + 0.01:
        return
    raise ModelLevelsError(
        f"The target's deepest level ({depth.max():g} m) lies below the deepest level of the "
        f"diffusion model{where} ({model_levels.max():g} m; its levels are "
        f"{model_levels.tolist()}). Drop the deeper levels from the target "
        f"(e.g. target.sel(depth=slice(None, {model_levels.max():g}))), or use method='oi'."
    )


def _same_axis(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=0, atol=atol)


def _build(card, state_dict):
    """Build the EDM denoiser described by a model card and load its weights."""
    from ..core.network import EDMDenoiser, UNet, UNetConfig

    check_sampleable(card)
    arch = card.architecture
    if arch["class"] != "UNet":
        raise ValueError(f"unknown architecture {arch['class']!r}; this version knows 'UNet'.")
    kwargs = dict(arch["kwargs"])
    sigma_data = float(kwargs.pop("sigma_data", 1.0))
    if "channel_mult" in kwargs:
        kwargs["channel_mult"] = tuple(kwargs["channel_mult"])
    kwargs.setdefault("levels", len(card.levels))
    state_dict = dict(state_dict)
    clim = {
        k.removeprefix(CLIMATOLOGY): state_dict.pop(k).cpu().numpy()
        for k in list(state_dict)
        if k.startswith(CLIMATOLOGY)
    }
    if any(k.startswith("net.") for k in state_dict):
        denoiser = EDMDenoiser(UNet(UNetConfig(**kwargs)), sigma_data=sigma_data)
        denoiser.load_state_dict(state_dict)
    else:
        net = UNet(UNetConfig(**kwargs))
        net.load_state_dict(state_dict)
        denoiser = EDMDenoiser(net, sigma_data=sigma_data)
    denoiser.eval().requires_grad_(False)
    denoiser.card = card  # travels with the cached module
    denoiser.climatology = clim or None  # numpy "mean" (12, level, lat, lon), "lat", "lon"
    return denoiser.to(next(iter(state_dict.values())).device)


def load_denoiser(path: PathLike, sha256: str, device: str = "cpu"):
    """The cached denoiser of a checkpoint (built once per process and device); ``.card`` on it."""
    return cached_load(path, sha256, resolve_device(device), _build)


def diffusion_analysis(
    obs_mean: np.ndarray,
    obs_count: np.ndarray,
    obs_err_var: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    depth: np.ndarray,
    doy: float,
    ocean: np.ndarray | None,
    config: DiffusionConfig,
    time_key: Any,
    array_library: str = "numpy",
) -> tuple[Any, Any, Any]:
    """Ensemble mean, spread and members of the guided diffusion on a ``(level, lat, lon)`` grid.

    A checkpoint of kind ``"conditional"`` is refused: it is sampled by
    :func:`xdepthdif.analysis.conditional.conditional_analysis`.

    Parameters
    ----------
    obs_mean, obs_count, obs_err_var
        Super-observations (°C, count, °C²; see :func:`xdepthdif.obs.bin_profiles`), shaped
        ``(level, lat, lon)``.
    lat, lon
        Cell-centre coordinates (degrees).
    depth
        Level depths (m); must equal the model's levels.
    doy
        Day of year of the time step.
    ocean
        Boolean ``(level, lat, lon)`` or ``(lat, lon)`` sea mask, or None for all ocean.
    config
        :class:`DiffusionConfig` with ``model`` a checkpoint path and ``sha256`` its digest.
    time_key
        Identifies the time step in the seeds (e.g. days since 1950).
    array_library
        The library of the results (see :mod:`xdepthdif.array_library`): ``"numpy"``, or e.g.
        ``"cupy"``, whose arrays take the sampled members from torch through DLPack, on the
        GPU they were drawn on (no copy to the host).

    Returns
    -------
    mean, sd : array
        Ensemble mean and spread (standard deviation, ``ddof=1``), °C, ``(level, lat, lon)``;
        NaN on land.
    members : array
        ``(members, level, lat, lon)``, °C, NaN on land.
    """
    import torch

    from ..core.accelerate import sampling_denoiser
    from ..core.guidance import MMPSGuidance
    from ..core.sampler import sample_heun
    from ..core.schedule import denoise_last_sigmas

    device = resolve_device(config.device)
    denoiser = load_denoiser(config.model, config.sha256, device)
    card = denoiser.card
    if card.kind == "conditional":
        raise ModelCardError(
            f"{config.model} is a conditional model: sample it with "
            "xdepthdif.analysis.conditional.conditional_analysis (reconstruct picks it itself)."
        )
    if not _same_axis(np.asarray(card.levels, float), np.asarray(depth, float), 0.01):
        raise ModelLevelsError(
            f"diffusion_analysis runs on the model's own levels {list(card.levels)}; got "
            f"{np.asarray(depth).tolist()}. Use diffusion_step for other levels."
        )
    nz, ny, nx = obs_mean.shape
    ocean = np.ones((nz, ny, nx), bool) if ocean is None else np.asarray(ocean, bool)
    ocean = np.broadcast_to(ocean, (nz, ny, nx))

    mu = np.asarray(card.normalisation["mean"], float)[:, None, None]
    std = np.asarray(card.normalisation["std"], float)[:, None, None]
    clim = model_climatology(card, getattr(denoiser, "climatology", None), doy, lat, lon)
    if clim is not None:
        mu = mu + clim
    observed = (obs_count > 0) & ocean & np.isfinite(obs_mean)
    count = np.where(observed, obs_count, 1)
    err = np.where(np.isfinite(obs_err_var), obs_err_var, 0.0)
    r = (config.obs_error**2 + err) / count / std**2
    y = np.where(observed, (np.where(observed, obs_mean, 0.0) - mu) / std, 0.0)

    dtype = torch.float32

    def tensor(a):
        return torch.tensor(np.asarray(a, float), dtype=dtype, device=device)

    m = config.members
    noise = member_noise(config, time_key, (nz, ny, nx)).to(device)
    sigmas = denoise_last_sigmas(config.steps, sigma_max=SIGMA_MAX, dtype=torch.float64)
    guidance = None
    if observed.any():
        corr = card.normalisation.get("vertical_correlation")  # column preconditioner
        if corr is not None:
            corr = (1 - COLUMN_NUGGET) * np.asarray(corr) + COLUMN_NUGGET * np.eye(len(corr))
        guidance = MMPSGuidance(
            mask=torch.as_tensor(observed, device=device)[None],
            y=tensor(y)[None],
            r=tensor(np.where(observed, r, 1.0))[None],
            cg_iters=config.cg_iters,
            column_correlation=None if corr is None else tensor(corr),
        )
    periodic = is_global_lon(lon)
    extra_args = {
        "lat": tensor(lat),
        "lon": tensor(lon),
        "doy": torch.full((m,), float(doy), dtype=dtype, device=device),
        "periodic": periodic,
    }
    with TORCH_LOCK, heap_kept():  # one ensemble at a time per process; see heap_kept
        if torch.device(device).type == "cpu":
            torch.set_num_threads(sampling_threads())
        net = sampling_denoiser(denoiser, config.precision, config.compile)
        x, _ = sample_heun(
            net, noise * float(sigmas[0]), sigmas, extra_args, guidance,
            callback=lambda done, total: report("diffusion steps", done, total),
        )  # fmt: skip
    xp = namespace(array_library)
    scale = spread_scale_for(card.normalisation, config.steps)
    clip_at = depth if config.clip else None
    return _finish_members(xp, _from_torch(xp, x.detach()), std, mu, scale, ocean, clip_at)


def member_noise(config: DiffusionConfig, time_key: Any, shape: tuple[int, ...]):
    """The members' unit-variance initial noise, ``(members, *shape)`` float32 on the CPU:
    member ``i`` drawn from its own generator seeded by :func:`member_seed`, so that it does
    not depend on the ensemble size."""
    import torch

    return torch.stack(
        [
            torch.randn(shape, generator=torch.Generator().manual_seed(
                member_seed(config.seed, time_key, i)), dtype=torch.float32)
            for i in range(config.members)
        ]
    )  # fmt: skip


def _from_torch(xp: ModuleType, x) -> Any:
    """A torch tensor as a float64 array of namespace ``xp``: numpy on the host, else through
    DLPack on the tensor's device (a copy through the host when that library cannot read it
    there, e.g. CuPy and a CPU tensor)."""
    import torch

    if array_api_compat.is_numpy_namespace(xp):
        return x.to("cpu", torch.float64).numpy()
    x = x.to(torch.float64)
    if x.device.type == "cpu" and array_api_compat.is_cupy_namespace(xp):
        return to_library(xp, x.numpy())
    return xp.from_dlpack(x)


def _finish_members(
    xp: ModuleType, members, std: np.ndarray, mu: np.ndarray, scale, ocean: np.ndarray, clip_at
) -> tuple[Any, Any, Any]:
    """Normalised members to °C (the card's ``spread_scale`` applied, NaN on land, kept in the
    range of sea water at the depths ``clip_at`` unless it is None:
    :func:`xdepthdif.screening.clip_members`), with their mean and spread, in namespace ``xp``
    on the members' device."""
    from ..screening import clip_members

    std, mu, ocean = (to_library(xp, a, like=members) for a in (std, mu, ocean))
    members = members * std + mu
    if scale is not None:  # calibrated spread: deviations from the mean scaled per level
        centre = xp.mean(members, axis=0)
        scale = to_library(xp, np.asarray(scale, float)[:, None, None], like=members)
        members = centre + scale * (members - centre)
    members = xp.where(ocean, members, xp.nan)
    if clip_at is not None:
        members = clip_members(members, clip_at, xp)
    return xp.mean(members, axis=0), xp.std(members, axis=0, correction=1), members
