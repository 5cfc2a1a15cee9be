"""Conditional diffusion ensembles, one time step on the model's grid: numpy in, numpy out.

The sibling of :func:`xdepthdif.analysis.diffusion.diffusion_analysis` for checkpoints of kind
``"conditional"`` (DepthDif's design, :mod:`xdepthdif.core.conditional`).
:func:`conditional_inputs` builds the model's inputs from the binned observations exactly as
:func:`xdepthdif.prior.conditional_data.build_pool` built them for training:

1. the first guess is the shipped climatology at the time step's day of year on the model's
   levels and grid (whatever background the user chose for OI: the model was trained on
   anomalies about this one), and the sea is where the target is sea and the climatology is
   defined;
2. the OI is the default ``reconstruct(method="oi")`` of this time step alone, with the
   pool's :data:`~xdepthdif.prior.conditional_data.OI_OPTIONS`: the covariance fitted to its
   own observations (:func:`~xdepthdif.prior.pool_month.fit_covariance`;
   with none, the default parameters), then
   :func:`~xdepthdif.prior.pool_month.analyse_oi`, without a surface field;
3. everything in the model's units: anomalies about the climatology minus the card's
   per-level ``mean``, divided by its ``std``.

The surface temperature enters only a model whose card says it was trained with it
(``conditioning["surface"]``: pools of :func:`~xdepthdif.prior.conditional_data.build_pool`
built with ``sst``); a run without one gives the model none, as the pool's samples without
SST did.

:func:`conditional_analysis` then draws the members with
:func:`~xdepthdif.core.conditional.sample_conditional` (one at a time on a CPU, in one batch on
a GPU), the initial noise of each from its own seed
(:func:`~xdepthdif.analysis.diffusion.member_noise`, so member ``i`` does not depend on the
ensemble size), and returns them in °C with the card's ``spread_scale`` applied. The OI fit
dominates the cost on a CPU (see :mod:`xdepthdif.prior.conditional_data`); no guidance, so a
network evaluation is a plain forward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..array_library import namespace
from ..grid.axes import is_global_lon
from ..prior.model import spread_scale_for
from ..progress import report
from .diffusion import DiffusionConfig, _finish_members, _from_torch, load_denoiser, member_noise
from .heap import heap_kept
from .torch_env import TORCH_LOCK, resolve_device, sampling_threads

__all__ = ["conditional_analysis", "conditional_inputs", "default_oi"]


def default_oi(
    obs_mean: np.ndarray,
    obs_count: np.ndarray,
    obs_err_var: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    depth: np.ndarray,
    doy: float,
    ocean: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The default OI of one time step on a grid, about the shipped climatology: ``(first
    guess, sea, analysis, error sd)``, °C, ``(level, lat, lon)``.

    The covariance is fitted to the time step's own binned observations
    (:func:`~xdepthdif.prior.pool_month.fit_covariance`; with none, the default parameters),
    then :func:`~xdepthdif.prior.pool_month.analyse_oi` runs without a surface field; the sea
    is where ``ocean`` is sea and the climatology is defined.
    """
    from ..analysis.oi import OIConfig
    from ..background import ClimatologySpec
    from ..prior.conditional_data import OI_OPTIONS
    from ..prior.pool_month import analyse_oi, fit_covariance

    depth, lat, lon = (np.asarray(a, float) for a in (depth, lat, lon))
    bg = ClimatologySpec.shipped().on_grid(float(doy), depth, lat, lon)
    sea = np.isfinite(bg) & (True if ocean is None else np.asarray(ocean, bool))
    cfg = OIConfig(**OI_OPTIONS)
    if ((obs_count > 0) & np.isfinite(obs_mean)).any():
        cfg = fit_covariance(obs_mean, obs_count, obs_err_var, bg, depth, lat, lon, cfg)
    oi_mean, oi_sd = analyse_oi(obs_mean, obs_count, obs_err_var, bg, sea, cfg, (depth, lat, lon))
    return bg, sea, oi_mean, oi_sd


def conditional_inputs(
    obs_mean: np.ndarray,
    obs_count: np.ndarray,
    obs_err_var: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    depth: np.ndarray,
    doy: float,
    ocean: np.ndarray | None,
    card: Any,
    surface: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The conditional model's inputs of one time step, in its normalised units.

    Parameters
    ----------
    obs_mean, obs_count, obs_err_var
        Binned observations on the model's levels and grid (:func:`xdepthdif.obs.bin_profiles`).
    lat, lon, depth
        The model's grid (degrees) and levels (m).
    doy
        Day of year.
    ocean
        Boolean ``(level, lat, lon)`` sea mask, or None for all sea.
    card
        The model's :class:`~xdepthdif.prior.model.ModelCard` (kind ``"conditional"``).
    surface
        Surface temperature (°C, ``(lat, lon)``), used when the card's
        ``conditioning["surface"]`` is true.

    Returns
    -------
    dict
        ``first_guess``, ``oi_mean``, ``oi_sd``, ``obs``, ``count``, ``sea`` and ``sst`` (or
        None) as :func:`~xdepthdif.core.conditional.conditioning_channels` takes them, and
        ``mu``, ``std`` (°C, ``(level, lat, lon)`` and ``(level, 1, 1)``) to turn the model's
        output back into °C.
    """
    depth, lat, lon = (np.asarray(a, float) for a in (depth, lat, lon))
    bg, sea, oi_mean, oi_sd = default_oi(
        obs_mean, obs_count, obs_err_var, lat, lon, depth, doy, ocean
    )
    m = np.asarray(card.normalisation["mean"], float)[:, None, None]
    s = np.asarray(card.normalisation["std"], float)[:, None, None]

    def units(field: np.ndarray) -> np.ndarray:
        return np.where(sea, (field - bg - m) / s, np.nan)

    sst = None
    if surface is not None and card.conditioning.get("surface"):
        sst = (np.asarray(surface, float) - bg[0] - m[0]) / s[0]
    count = np.where(sea, obs_count, 0)
    return {
        "first_guess": units(bg),
        "oi_mean": units(oi_mean),
        "oi_sd": np.where(sea, oi_sd / s, np.nan),
        "obs": np.where(count > 0, units(obs_mean), np.nan),
        "count": count,
        "sea": sea,
        "sst": sst,
        "mu": bg + m,
        "std": s,
    }


def conditional_analysis(
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
    surface: np.ndarray | None = None,
    with_oi: bool = False,
) -> tuple[Any, ...]:
    """Ensemble mean, spread and members of a conditional model on its ``(level, lat, lon)`` grid.

    Takes what :func:`~xdepthdif.analysis.diffusion.diffusion_analysis` takes (``depth`` the
    model's levels; ``config.model`` a conditional checkpoint; ``config.cg_iters``,
    ``obs_error`` and ``sst_error`` are not used: the OI that feeds the model is the default
    one its training pool ran), plus the surface temperature (see :func:`conditional_inputs`).

    Returns
    -------
    mean, sd, members
        As for :func:`~xdepthdif.analysis.diffusion.diffusion_analysis`: °C, NaN off the sea
        (and where the shipped climatology has no value).
    oi_mean, oi_sd, floor
        With ``with_oi`` only: the OI the model was fed and its error sd (°C, numpy), and the
        floor of that sd in the model's residual target: the card's per-level ``std`` times
        :data:`~xdepthdif.core.conditional.RESIDUAL_SD_FLOOR` (°C, ``(level, 1, 1)``).
    """
    import torch

    from ..core.accelerate import sampling_denoiser
    from ..core.conditional import SIGMA_MAX, conditioning_channels, sample_conditional

    device = resolve_device(config.device)
    denoiser = load_denoiser(config.model, config.sha256, device)
    card = denoiser.card
    inputs = conditional_inputs(
        obs_mean, obs_count, obs_err_var, lat, lon, depth, doy, ocean, card, surface
    )
    sea = inputs["sea"]
    extra = conditioning_channels(
        *(inputs[k] for k in ("first_guess", "oi_mean", "oi_sd", "obs", "count")), sea,
        inputs["sst"], device=device,
    )  # fmt: skip
    mask = None
    if card.conditioning["loss"] == "ambient":  # trained seeing its noisy input on observations
        mask = torch.as_tensor((inputs["count"] > 0) & np.isfinite(inputs["obs"]), device=device)
    periodic = is_global_lon(lon)
    lat_t, lon_t = (torch.tensor(np.asarray(a, float)) for a in (lat, lon))
    noise = member_noise(config, time_key, (len(depth), len(lat), len(lon)))
    with TORCH_LOCK, heap_kept():  # one ensemble at a time per process; see heap_kept
        if torch.device(device).type == "cpu":
            torch.set_num_threads(sampling_threads())
        net = sampling_denoiser(denoiser, config.precision, config.compile)
        # one member at a time on a CPU (a batch of 8 took 15-25 % longer there, and still
        # 13-18 % with the heap kept), all at once on a GPU
        batch = 1 if torch.device(device).type == "cpu" else config.members
        parts = []
        for start in range(0, config.members, batch):
            chunk = noise[start : start + batch]
            x, _ = sample_conditional(
                net, extra, lat_t, lon_t, float(doy), len(chunk), config.steps,
                periodic=periodic, sigma_max=SIGMA_MAX, input_mask=mask,
                target=card.conditioning.get("target", "field"), noise=chunk,
            )  # fmt: skip
            parts.append(x.detach())
            report("diffusion steps", start + len(chunk), config.members)
        x = torch.cat(parts)
    xp = namespace(array_library)
    scale = spread_scale_for(card.normalisation, config.steps)
    clip_at = depth if config.clip else None
    stacked = _from_torch(xp, x)
    std, mu = inputs["std"], inputs["mu"]
    mean, sd, members = _finish_members(xp, stacked, std, mu, scale, sea, clip_at)
    if not with_oi:
        return mean, sd, members
    from ..core.conditional import RESIDUAL_SD_FLOOR

    oi = np.where(sea, inputs["oi_mean"] * std + mu, np.nan)
    return mean, sd, members, oi, inputs["oi_sd"] * std, RESIDUAL_SD_FLOOR * std
