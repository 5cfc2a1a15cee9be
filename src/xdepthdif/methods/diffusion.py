"""Guided diffusion ensembles, one time step, numpy in and numpy out: the only torch bridge.

A checkpoint (see :mod:`xdepthdif.model`) holds an EDM-preconditioned :class:`~xdepthdif.core.
network.UNet` prior over depth-level fields normalised per level. :func:`diffusion_analysis`
normalises the gridded super-observations with the model card's mean and standard deviation,
guides the Heun sampler towards them with MMPS (Rozet et al. 2024: the update goes through the
denoiser's Jacobian, so an isolated profile spreads along the learned covariance), draws
``members`` samples and returns their mean, spread and the members themselves, in °C.

torch is imported inside the functions that need it: importing this module (which
:mod:`xdepthdif.reconstruct` does for :class:`DiffusionConfig`) does not import torch. The
model is loaded once per process and device through :func:`xdepthdif.model.cached_load`, keyed
by the checkpoint's sha256, so dask tasks carry a path and a digest, never weights.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GridError
from ..model import PathLike, cached_load

__all__ = ["DiffusionConfig", "ModelLevelsError", "check_levels", "diffusion_analysis"]


class ModelLevelsError(GridError):
    """The target's depth levels are not the levels the diffusion model was trained on."""


@dataclass(frozen=True)
class DiffusionConfig:
    """Parameters of the guided diffusion ensemble.

    Parameters
    ----------
    model
        ``"default"`` (the bundled prior) or the path of a checkpoint (``NAME.safetensors`` with
        ``NAME.json`` beside it). :func:`xdepthdif.reconstruct` replaces it by the resolved path.
    sha256
        Digest of the weights; filled in from the model card when the graph is built, and
        checked again when a worker loads the model.
    members
        Ensemble size (at least 2, for a spread).
    steps
        Heun steps: ``2 * steps - 1`` network evaluations per member (10 steps: 19).
    cg_iters
        Conjugate-gradient iterations of the MMPS guidance (1–3).
    obs_error
        Error standard deviation (°C) of one profile value, added in quadrature to
        ``thetao_error`` when the data carry it; a cell holding ``n`` profiles gets the error
        variance of their mean.
    seed
        Seed of the ensemble; members' seeds derive from it, the time and the member number.
    device
        ``"cpu"``, ``"cuda"`` (falls back to ``"cpu"`` when no GPU is present) or a torch device
        string such as ``"cuda:1"``.
    """

    model: str = "default"
    sha256: str = ""
    members: int = 8
    steps: int = 10
    cg_iters: int = 2
    obs_error: float = 0.25
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.members < 2:
            raise ValueError(f"members must be at least 2 (for a spread), got {self.members}.")
        if self.steps < 1 or self.cg_iters < 0:
            raise ValueError(
                f"steps must be >= 1 and cg_iters >= 0, got {self.steps} and {self.cg_iters}."
            )
        if not self.obs_error > 0:
            raise ValueError(f"obs_error must be positive (°C), got {self.obs_error}.")
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
    """Refuse a target whose depth levels are not the model's levels (metres, 1 cm tolerance).

    Examples
    --------
    >>> check_levels([5.0, 50.0], [5.0, 50.0])
    >>> check_levels([5.0, 50.0], [5.0, 50.0, 100.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xdepthdif.methods.diffusion.ModelLevelsError: The target's depth levels must equal the ...
    """
    model_levels = np.asarray(model_levels, float)
    depth = np.asarray(depth, float)
    if model_levels.shape == depth.shape and np.allclose(model_levels, depth, rtol=0, atol=0.01):
        return
    raise ModelLevelsError(
        f"The target's depth levels must equal the diffusion model's levels (for now): the "
        f"target has {depth.size} levels {depth.tolist()} m, the model{where} has "
        f"{model_levels.size} levels {model_levels.tolist()} m. Build the target with "
        "depth=<the model's levels> (its card's 'levels'), or use method='oi'."
    )


def _resolve_device(device: str) -> str:
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return str(device)


def _build(card, state_dict):
    """Build the EDM denoiser described by a model card and load its weights."""
    from ..core.network import EDMDenoiser, UNet, UNetConfig

    arch = card.architecture
    if arch["class"] != "UNet":
        raise ValueError(f"unknown architecture {arch['class']!r}; this version knows 'UNet'.")
    kwargs = dict(arch["kwargs"])
    sigma_data = float(kwargs.pop("sigma_data", 1.0))
    if "channel_mult" in kwargs:
        kwargs["channel_mult"] = tuple(kwargs["channel_mult"])
    kwargs.setdefault("levels", len(card.levels))
    if any(k.startswith("net.") for k in state_dict):
        denoiser = EDMDenoiser(UNet(UNetConfig(**kwargs)), sigma_data=sigma_data)
        denoiser.load_state_dict(state_dict)
    else:
        net = UNet(UNetConfig(**kwargs))
        net.load_state_dict(state_dict)
        denoiser = EDMDenoiser(net, sigma_data=sigma_data)
    denoiser.eval().requires_grad_(False)
    denoiser.card = card  # travels with the cached module
    device = next(iter(state_dict.values())).device
    return denoiser.to(device)


def load_denoiser(path: PathLike, sha256: str, device: str = "cpu"):
    """The cached denoiser of a checkpoint (built once per process and device); ``.card`` on it."""
    return cached_load(path, sha256, _resolve_device(device), _build)


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ensemble mean, spread and members of the guided diffusion on a ``(level, lat, lon)`` grid.

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

    Returns
    -------
    mean, sd : numpy.ndarray
        Ensemble mean and spread (standard deviation, ``ddof=1``), °C, ``(level, lat, lon)``;
        NaN on land.
    members : numpy.ndarray
        ``(members, level, lat, lon)``, °C, NaN on land.
    """
    import torch

    from ..core.guidance import MMPSGuidance
    from ..core.sampler import sample_heun
    from ..core.schedule import karras_sigmas

    device = _resolve_device(config.device)
    denoiser = load_denoiser(config.model, config.sha256, device)
    card = denoiser.card
    check_levels(card.levels, depth, f" {config.model}")
    nz, ny, nx = obs_mean.shape
    ocean = np.ones((nz, ny, nx), bool) if ocean is None else np.asarray(ocean, bool)
    ocean = np.broadcast_to(ocean, (nz, ny, nx))

    mu = np.asarray(card.normalisation["mean"], float)[:, None, None]
    std = np.asarray(card.normalisation["std"], float)[:, None, None]
    observed = (obs_count > 0) & ocean & np.isfinite(obs_mean)
    count = np.where(observed, obs_count, 1)
    err = np.where(np.isfinite(obs_err_var), obs_err_var, 0.0)
    r = (config.obs_error**2 + err) / count / std**2
    y = np.where(observed, (np.where(observed, obs_mean, 0.0) - mu) / std, 0.0)

    dtype = torch.float32

    def tensor(a):
        return torch.tensor(np.asarray(a, float), dtype=dtype, device=device)

    m = config.members
    noise = torch.stack(
        [
            torch.randn(
                (nz, ny, nx),
                generator=torch.Generator().manual_seed(member_seed(config.seed, time_key, i)),
                dtype=dtype,
            )
            for i in range(m)
        ]
    ).to(device)
    sigmas = karras_sigmas(config.steps, dtype=torch.float64)
    guidance = None
    if observed.any():
        guidance = MMPSGuidance(
            mask=torch.as_tensor(observed, device=device)[None],
            y=tensor(y)[None],
            r=tensor(np.where(observed, r, 1.0))[None],
            cg_iters=config.cg_iters,
        )
    dlon = np.diff(lon) if lon.size > 1 else np.array([0.0])
    periodic = bool(
        lon.size > 2 and np.allclose(dlon, dlon[0]) and abs(abs(dlon[0]) * lon.size - 360) < 1e-6
    )
    extra_args = {
        "lat": tensor(lat),
        "lon": tensor(lon),
        "doy": torch.full((m,), float(doy), dtype=dtype, device=device),
        "periodic": periodic,
    }
    x, _ = sample_heun(denoiser, noise * float(sigmas[0]), sigmas, extra_args, guidance)
    members = x.detach().to("cpu", torch.float64).numpy() * std + mu
    members[:, ~ocean] = np.nan
    mean = members.mean(axis=0)
    sd = members.std(axis=0, ddof=1)
    return mean, sd, members
