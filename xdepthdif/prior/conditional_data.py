"""Training pool of the conditional model: world months, observed and analysed as a user's run.

The numpy/xarray side of conditional training (:mod:`xdepthdif.core.conditional_train` sees only
the arrays). :func:`build_pool` takes months of the training world
(:func:`~xdepthdif.prior.world.world_months`), and for each

1. draws the share of observed columns log-uniformly in ``shares`` (seeded by ``(seed, month)``);
2. samples Argo-like profiles of the truth (:func:`~xdepthdif.evaluation.protocol.observe`, all
   profiles used, none withheld);
3. interpolates them to the levels and bins them on the grid, as
   :func:`xdepthdif.reconstruct` does (:func:`~xdepthdif.obs.interpolate_to_levels`,
   :func:`~xdepthdif.obs.bin_profiles`, the profiles' ``thetao_error`` included);
4. runs the default OI of ``reconstruct(method="oi")``: the shipped climatology at the month's
   day of year as first guess, the covariance fitted from the observations alone
   (:func:`~xdepthdif.analysis.oi_fit.fit_for_steps`), the truth's sea mask as ocean, with
   the options :data:`OI_OPTIONS` (the OI the shipped conditional model was trained on).

The fit is what costs (50–105 s per month at 4°, 42 levels and 7–15 % of columns on a busy
2-core machine, under 2 s at 1–3 %; the OI itself about a second). ``fit="month"`` fits every
month on its own observations, which is
exactly a one-month user run; ``fit="band"`` fits once per band of shares (``fit_bands``
log-spaced bands, the first month drawn in a band fits it) and reuses those parameters for the
band's other months, as a user's run of many months reuses a fit of a few of them.

With ``sst`` (a probability), a sample gets a satellite surface temperature with that
probability: the truth's top level plus white noise of ``sst_noise`` °C (what the skill
benchmark's OSTIA path gives, :func:`xdepthdif.evaluation.sst.with_sst`), missing where it is
colder than −1 °C (sea ice, which OSTIA masks); the other samples have none, so that one model
serves runs with and without SST.

With ``ambient`` (a share, e.g. DepthDif's 0.25), each month also gets a further-corrupted
copy for :func:`~xdepthdif.core.conditional_loss.ambient_loss`: that share of the observed columns
is held out, and the OI is run again on the kept observations only (same covariance), so that
no channel carries what was held out.

Everything is stored in the model's units (see :mod:`xdepthdif.core.conditional`): anomalies
about the shipped climatology minus the per-level ``mean``, divided by the per-level ``std`` of
the truth's anomalies over the pool's sea points. :func:`pool_channels` builds the conditioning
tensor of some samples.

Examples
--------
>>> import pandas as pd
>>> pool = build_pool(pd.DatetimeIndex(["2001-01-15"]), 5.0, levels=[0, 10], seed=0)
>>> pool["target"].shape, pool["count"].dtype.name, int(pool["layout_version"])
((1, 2, 36, 72), 'int32', 1)
>>> bool(np.isfinite(pool["oi_mean"][0][pool["sea"]]).all())
True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from ..grid.axes import is_global_lon
from .pool_month import (
    POOL_KEYS,
    PoolContext,
    analyse_oi,
    draw_share,
    fit_covariance,
    fit_one,
    hold_out_columns,
    observe_month,
)

__all__ = [
    "POOL_KEYS",
    "analyse_oi",
    "build_pool",
    "draw_share",
    "fit_covariance",
    "hold_out_columns",
    "load_pool",
    "pool_channels",
    "save_pool",
]

OI_OPTIONS = {"spread_statistic": "mean_z2", "white_margin": 0.0}
""":class:`~xdepthdif.analysis.oi.OIConfig` options of the conditional model's OI inputs, in
the pool and when it samples (:func:`xdepthdif.analysis.conditional.default_oi`): the OI as it
was when the shipped model's pool was built, whose spread calibration weighed every observation
alike and which kept a correlated band on any gain in predicting left-out observations. A
model trained on another OI needs its own."""
SST_NOISE = 0.4
"""Noise (°C) of a pool's satellite SST: the skill benchmark's OSTIA-like SST noise."""
AMBIENT_KEYS = ("held", "ambient_oi_mean", "ambient_oi_sd")
"""Extra arrays of a pool built with ``ambient``: ``held`` bool ``(N, H, W)`` columns held out,
and the OI of the kept observations."""


def build_pool(
    times: Sequence[Any] | pd.DatetimeIndex,
    resolution: float,
    *,
    split: str = "train",
    levels: Sequence[int] | None = None,
    shares: tuple[float, float] = (0.01, 0.2),
    seed: int = 0,
    world_seed: int = 0,
    noise_sd: float = 0.02,
    fit: str = "month",
    fit_bands: int = 3,
    ambient: float | None = None,
    oi_config: Any = None,
    log: Callable[[str], Any] | None = None,
    draws: int = 1,
    sst: float | None = None,
    sst_noise: float = SST_NOISE,
    workers: int = 1,
    world_config: Any = None,
) -> dict[str, np.ndarray]:
    """Build a training pool of the conditional model from months of a world.

    Parameters
    ----------
    times
        Monthly times of the world (one sample per month).
    resolution
        Grid spacing (degrees, 0.5–5; see :func:`~xdepthdif.prior.world.world_months`).
    split
        World split (``"train"`` for training pools).
    levels
        Indices of the world's 42 levels to keep (all by default).
    shares
        Range of the share of observed columns (log-uniform).
    seed
        Seeds the shares, the profiles and the held-out columns, per month.
    world_seed
        Seed of the world.
    noise_sd
        Observation noise (°C), also the profiles' ``thetao_error``.
    fit
        ``"month"`` (each month's own fit, exactly a one-month user run) or ``"band"`` (one fit
        per band of shares); see the module docstring.
    fit_bands
        Number of log-spaced share bands of ``fit="band"``.
    ambient
        Share of the observed columns to hold out for ambient training (None: no ambient
        arrays).
    oi_config
        :class:`~xdepthdif.analysis.oi.OIConfig` (default: :data:`OI_OPTIONS`).
    log
        Receives one line per sample.
    draws
        Observed samples per month, each with its own share, profiles and held-out columns
        (month ``i``'s draw ``j`` is seeded by ``(seed, i)`` for ``j = 0``, as a pool of one
        draw, and ``(seed, i, j)`` after); the samples of a month follow each other.
    sst
        Probability that a sample has a satellite SST (None: no ``sst`` array).
    sst_noise
        Its noise (°C).
    workers
        Processes that observe and analyse the months (:mod:`xdepthdif.prior.pool_month`; the
        fits of ``fit="band"`` come first, in order); the pool is the same for any number.
        They are spawned: a script that asks for more than one needs the usual
        ``if __name__ == "__main__":`` guard.
    world_config
        :class:`~xdepthdif.prior.world.WorldConfig` instead of ``split``'s knobs.

    Returns
    -------
    dict
        :data:`POOL_KEYS` arrays, :data:`AMBIENT_KEYS` with ``ambient``, and ``sea`` bool
        ``(levels, H, W)`` (finite in every month and in the climatology), ``lat``, ``lon``,
        ``depth``, ``doy`` ``(N,)``, ``share`` ``(N,)``, with ``sst`` an ``sst`` ``(N, H, W)``
        in level 0's units (NaN where missing), ``mean`` and ``std`` ``(levels,)`` (°C),
        ``layout_version``, ``periodic``, ``resolution_deg``, ``fit_seconds`` and
        ``oi_seconds`` ``(N,)``.
    """
    from ..analysis.oi import OIConfig
    from ..background import ClimatologySpec
    from ..core.conditional import LAYOUT_VERSION
    from ..timing import day_of_year
    from .world import world_months

    if fit not in ("month", "band"):
        raise ValueError(f"fit must be 'month' or 'band', got {fit!r}.")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws!r}.")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}.")
    times = pd.DatetimeIndex(times)
    cfg = oi_config or OIConfig(**OI_OPTIONS)
    world = world_months(times, resolution, split, seed=world_seed, config=world_config)
    if levels is not None:
        world = world.isel(depth=list(levels))
    depth, lat, lon = (world[k].values.astype(float) for k in ("depth", "lat", "lon"))
    doys = day_of_year(world["time"].values)
    spec = ClimatologySpec.shipped()
    ctx = PoolContext(
        depth, lat, lon, cfg, shares, seed, noise_sd, fit, fit_bands, draws, ambient, sst,
        sst_noise,
    )  # fmt: skip
    # the fits shared by a band's months: the first sample drawn in a band fits it, in order
    fitted: dict[int, tuple[Any, float, int]] = {}
    if fit == "band":
        for n in range(times.size * draws):
            i, j = divmod(n, draws)
            key = ctx.band(ctx.draw(i, j)[1])
            if key not in fitted:
                bg = spec.on_grid(float(doys[i]), depth, lat, lon)
                _, _, binned = ctx.observe(world.isel(time=[i]), i, j)
                t1 = time.perf_counter()
                params = fit_one(binned, bg, depth, lat, lon, cfg)
                fitted[key] = (params, time.perf_counter() - t1, n)
    raw: dict[str, list] = {
        k: [] for k in (*POOL_KEYS, *AMBIENT_KEYS, "sst", "share", "fit_s", "oi_s")
    }
    sea = None
    tasks = [(ctx, i, world.isel(time=[i]), float(doys[i]), fitted) for i in range(times.size)]
    with contextlib.ExitStack() as stack:
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            spawn = multiprocessing.get_context("spawn")  # no fork of a process holding threads
            executor = ProcessPoolExecutor(min(workers, times.size), mp_context=spawn)
            months = stack.enter_context(executor).map(observe_month, *zip(*tasks, strict=True))
        else:
            months = (observe_month(*task) for task in tasks)
        for i, (ocean, samples) in enumerate(months):
            sea = ocean if sea is None else sea & ocean
            for j, sample in enumerate(samples):
                for k, v in sample.items():
                    raw[k].append(v)
                if log is not None:
                    log(
                        f"sample {i * draws + j + 1}/{times.size * draws} {times[i]:%Y-%m}: "
                        f"share {sample['share']:.3f}, "
                        f"{int((sample['count'].sum(0) > 0).sum())} columns, fit "
                        f"{sample['fit_s']:.1f} s, OI {sample['oi_s']:.1f} s"
                    )
    doys = np.repeat(doys, draws)
    return _normalise(raw, sea, depth, lat, lon, doys, ambient is not None, resolution) | {
        "layout_version": np.array(LAYOUT_VERSION)
    }


def _normalise(raw, sea, depth, lat, lon, doys, ambient, resolution) -> dict[str, np.ndarray]:
    target = np.stack(raw["target"])
    L = depth.size
    mean, std = np.zeros(L), np.ones(L)
    for k in range(L):
        v = target[:, k][:, sea[k]]
        if v.size:
            mean[k], std[k] = float(v.mean()), max(float(v.std()), 1e-3)
    m, s = mean[:, None, None], std[:, None, None]
    out: dict[str, np.ndarray] = {}
    for key in ("target", "first_guess", "oi_mean", "obs") + (("ambient_oi_mean",) * ambient):
        a = (np.stack(raw[key]) - m) / s
        out[key] = np.where(sea, a, np.nan).astype(np.float32)
    for key in ("oi_sd",) + (("ambient_oi_sd",) * ambient):
        out[key] = np.where(sea, np.stack(raw[key]) / s, np.nan).astype(np.float32)
    out["count"] = np.where(sea, np.stack(raw["count"]), 0).astype(np.int32)
    out["obs"] = np.where(out["count"] > 0, out["obs"], np.nan).astype(np.float32)
    if ambient:
        out["held"] = np.stack(raw["held"])
    if raw["sst"]:
        top = (np.stack(raw["sst"]) - mean[0]) / std[0]
        out["sst"] = np.where(sea[0], top, np.nan).astype(np.float32)
    return out | {
        "sea": sea,
        "lat": lat,
        "lon": lon,
        "depth": depth,
        "doy": np.asarray(doys, float),
        "share": np.asarray(raw["share"]),
        "mean": mean,
        "std": std,
        "periodic": np.array(is_global_lon(lon)),
        "resolution_deg": np.array(float(resolution)),
        "fit_seconds": np.asarray(raw["fit_s"]),
        "oi_seconds": np.asarray(raw["oi_s"]),
    }


def save_pool(pool: Mapping[str, np.ndarray], path: str | PathLike[str]) -> None:
    """Write a pool to one compressed ``.npz`` file."""
    np.savez_compressed(path, **{k: np.asarray(v) for k, v in pool.items()})


def load_pool(path: str | PathLike[str]) -> dict[str, np.ndarray]:
    """Read a pool written by :func:`save_pool`, refusing one of another channel layout."""
    from ..core.conditional import LAYOUT_VERSION

    with np.load(path) as f:
        pool = {k: f[k] for k in f.files}
    version = int(pool.get("layout_version", -1))
    if version != LAYOUT_VERSION:
        raise ValueError(
            f"{path} holds a pool of conditioning layout {version}; this version reads layout "
            f"{LAYOUT_VERSION}. Rebuild it with build_pool."
        )
    return pool


def pool_channels(
    pool: Mapping[str, np.ndarray], index: np.ndarray | Sequence[int] | int, ambient: bool = False
):
    """Conditioning tensor ``(B, C, H, W)`` of samples ``index`` of a pool.

    With ``ambient``, built from the kept observations only (the held columns removed, the OI
    of the kept observations); the pool must have been built with ``ambient``.
    """
    from ..core.conditional import conditioning_channels

    idx = np.atleast_1d(np.asarray(index))
    count, obs = pool["count"][idx], pool["obs"][idx]
    oi_mean, oi_sd = pool["oi_mean"][idx], pool["oi_sd"][idx]
    if ambient:
        if "held" not in pool:
            raise KeyError(
                "this pool has no ambient arrays; build it with build_pool(ambient=0.25)."
            )
        count = np.where(pool["held"][idx][:, None], 0, count)
        oi_mean, oi_sd = pool["ambient_oi_mean"][idx], pool["ambient_oi_sd"][idx]
    sst = pool["sst"][idx] if "sst" in pool else None
    return conditioning_channels(
        pool["first_guess"][idx], oi_mean, oi_sd, obs, count, pool["sea"], sst
    )
