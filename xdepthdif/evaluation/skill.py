"""The skill benchmark: observing-system simulation experiments scored against a known truth.

Protocol (``DESIGN.md`` §6): a truth field the prior never saw (the ``"test"`` split of
:mod:`xdepthdif.prior.synthetic`, or a real field); Argo-like profiles (clustered, to 2000 m,
thinning with depth, with noise) at 1 %, 3 % and 7.5 % of ocean columns; 20 % of the profiles
withheld. Each method analyses the remaining 80 % through :func:`xdepthdif.reconstruct`, exactly
as a user would, and is scored

- at unobserved ocean points (no profile in the cell at that level) against the truth, overall
  (0–2000 m) and by depth band;
- at the withheld profiles, against their observed values (0–2000 m);
- with ReconMOST's three MSEs as masked means over 0–2000 m: *guidance* (cells holding a used
  profile), *reconstruction* (unobserved cells) and *total* (all ocean cells), all against
  the truth;
- with the fair CRPS of the ensemble (Gaussian CRPS for OI) and the spread-skill ratio
  ``sqrt((M + 1) / M) * spread / RMSE`` (``spread / RMSE`` for OI) at unobserved points.

Rows: the level mean of the observations; OI with a level-mean background and OI with a
climatological background (the mean of the training years for that calendar month), both with
length scales tuned on training-split months, never on the test; the diffusion ensemble at
several numbers of network evaluations. The real case (the South Atlantic cube, one monthly
snapshot scored once on its own grid) has the shipped climatology in place of the training
years' mean, as the climatology row and as OI's first guess (``reconstruct``'s default
``background="climatology"``), and no OI with a level-mean background.

The settings are :class:`~xdepthdif.evaluation.protocol.SkillConfig`, the scores
:mod:`xdepthdif.evaluation.scores`, the report :mod:`xdepthdif.evaluation.report`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..analysis.diffusion import DiffusionConfig
from ..obs import SamplingPlan, sample_profiles, split_profiles
from .metrics import rmse_by_band, rmse_by_level
from .protocol import REAL_CASE, SCORE_DEPTH, SkillConfig
from .report import write_report
from .scores import _level_mean_of, level_mean, score

__all__ = ["calibrate_spread", "run_skill", "tune_oi_length_scale"]


def _month_times(months: Sequence[str]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([pd.Timestamp(f"{m}-15") for m in months])


def synthetic_truth(months: Sequence[str], resolution: float, split: str) -> xr.DataArray:
    """The synthetic ocean's ``thetao`` (°C) for ``months`` (``"YYYY-MM"``)."""
    from ..prior.synthetic import synthetic_ocean

    return synthetic_ocean(_month_times(months), resolution=resolution, split=split)["thetao"]


def climatology(truth: xr.DataArray, years: Sequence[int], resolution: float) -> xr.DataArray:
    """Mean over training ``years`` of the synthetic ocean for each month of ``truth``."""
    out = []
    for when in pd.DatetimeIndex(truth["time"].values):
        months = [f"{y}-{when.month:02d}" for y in years]
        out.append(synthetic_truth(months, resolution, "train").mean("time"))
    clim = xr.concat(out, dim=truth["time"]).transpose(*truth.dims)
    return clim.assign_attrs(units="degC")


def target_of(truth: xr.DataArray) -> xr.Dataset:
    """The analysis grid of ``truth``, with its 3-D sea mask (land and sea floor known)."""
    target = xr.Dataset(coords={k: truth[k] for k in ("time", "depth", "lat", "lon")})
    target["sea_mask"] = truth.isel(time=0, drop=True).notnull().astype("int8")
    target["sea_mask"].attrs["standard_name"] = "sea_binary_mask"
    return target


def observe(
    truth: xr.DataArray, fraction: float, cfg: SkillConfig, seed: int
) -> tuple[xr.Dataset, xr.Dataset]:
    """Argo-like profiles of ``truth``: (used, withheld)."""
    plan = SamplingPlan(
        fraction=fraction, max_depth=SCORE_DEPTH, noise_sd=cfg.noise_sd, cluster=True, seed=seed
    )
    return split_profiles(sample_profiles(truth, plan), withheld_fraction=cfg.withheld, seed=seed)


def tune_oi_length_scale(
    truth: xr.DataArray,
    fraction: float,
    cfg: SkillConfig,
    background: xr.DataArray | None = None,
    log: Callable[[str], object] = print,
) -> float:
    """The OI length scale (km) with the lowest RMSE at unobserved points of ``truth``.

    ``truth`` must be training-split data (never the test), observed as in the benchmark but
    with a different seed; ``background`` is the background the scale is tuned for.
    """
    used, _ = observe(truth, fraction, cfg, seed=cfg.seed + 1000)
    target = target_of(truth)
    ocean = np.isfinite(truth.values)
    best, best_rmse = cfg.length_scales_km[0], math.inf
    for scale in cfg.length_scales_km:
        res, _ = _run_oi(target, used, scale, background)
        err = np.where(ocean & (res["obs_count"].values == 0), res["thetao"].values - truth, np.nan)
        rmse = rmse_by_band(np.moveaxis(err, 1, -1), truth["depth"].values, ((0, SCORE_DEPTH),))[0]
        kind = "level-mean" if background is None else "climatology"
        log(f"  tuning OI ({kind} background) at {fraction:.1%}: L = {scale:g} km: RMSE {rmse:.3f}")
        if rmse < best_rmse:
            best, best_rmse = scale, rmse
    return best


def _run_oi(target, used, scale, background=None):
    """OI with the basin scale ``scale`` (km; None: fitted); ``background`` None is the level
    mean of the observations."""
    start = time.perf_counter()
    res = target.depthdif.reconstruct(
        obs=used,
        method="oi",
        length_scale_km=scale,
        background="level_mean" if background is None else background,
    ).compute(scheduler="synchronous")
    return res, (time.perf_counter() - start) / target.sizes["time"]


def _run_diffusion(target, used, cfg: SkillConfig, steps: int):
    start = time.perf_counter()
    res = target.depthdif.reconstruct(
        obs=used,
        method="diffusion",
        model=cfg.model,
        steps=steps,
        members=cfg.members,
        seed=cfg.seed,
        keep_members=True,
    ).compute(scheduler="synchronous")
    return res, (time.perf_counter() - start) / target.sizes["time"]


def evaluate_case(
    truth: xr.DataArray,
    fraction: float,
    cfg: SkillConfig,
    scales: tuple[float | None, float | None],
    clim: xr.DataArray | str | None,
    case: str = "synthetic",
    log: Callable[[str], object] = print,
) -> list[dict]:
    """Every row of the benchmark for one truth and one observed fraction.

    ``scales`` are OI's length scales (km; None: the package default) with the level-mean and
    the climatological background; ``clim`` is the climatology of ``truth``'s months from
    training years (rows: the climatology, OI on it, and the "+ SST" rows), ``"climatology"``
    for the shipped one (rows: the climatology, and OI on it in place of OI on the level mean),
    or None (no climatology rows).
    """
    used, withheld = observe(truth, fraction, cfg, seed=cfg.seed)
    target = target_of(truth)
    rows = []

    def add(name, res, seconds, nfe=None, members=None):
        dataset = isinstance(res, xr.Dataset)
        mean = res["thetao"].values if dataset else res
        sd = res["thetao_sd"].values if dataset else None
        row = {"case": case, "method": name, "fraction": fraction, "nfe": nfe}
        row |= {"seconds_per_step": seconds}
        row |= score(mean, truth, counts, withheld, sd=sd, members=members)
        rows.append(row)
        log(
            f"  {case} {fraction:.1%} {name:<38} RMSE unobserved {row['rmse_unobserved']:.3f}  "
            f"withheld {row['rmse_withheld']:.3f}  CRPS {row['crps']:.3f}  "
            f"spread/skill {row['spread_skill']:.2f}  {seconds:.2f} s/step"
        )

    def label(scale):
        return "default" if scale is None else f"{scale:g} km"

    shipped = isinstance(clim, str)
    first_guess = (scales[1], clim) if shipped else (scales[0], None)
    oi, sec = _run_oi(target, used, *first_guess)
    counts = oi["obs_count"].values
    add("level mean", level_mean(used, truth), 0.0)
    if shipped:
        add("climatology (shipped)", _shipped_climatology(target), 0.0)
        add(f"OI, shipped climatology background, L={label(scales[1])}", oi, sec)
    else:
        add(f"OI, level-mean background, L={label(scales[0])}", oi, sec)
    training = None if shipped else clim
    if training is not None:
        add("climatology (training years)", training.values, 0.0)
        oi_c, sec = _run_oi(target, used, scales[1], background=training)
        add(f"OI, climatology background, L={label(scales[1])}", oi_c, sec)
    for steps in cfg.steps:
        res, sec = _run_diffusion(target, used, cfg, steps)
        members = res["thetao_members"].values
        add(f"diffusion, {steps} Heun steps", res, sec, nfe=2 * steps - 1, members=members)
    if cfg.sst_noise and training is not None:
        informed = with_sst(target, truth, cfg.sst_noise, cfg.seed)
        oi_s, sec = _run_oi(informed, used, scales[1], background=training)
        add(f"OI, climatology background, L={label(scales[1])}, + SST", oi_s, sec)
        steps = DiffusionConfig().steps
        res, sec = _run_diffusion(informed, used, cfg, steps)
        members = res["thetao_members"].values
        add(f"diffusion, {steps} Heun steps, + SST", res, sec, nfe=2 * steps - 1, members=members)
    return rows


def with_sst(target: xr.Dataset, truth: xr.DataArray, noise: float, seed: int) -> xr.Dataset:
    """``target`` with the SST an OSTIA L4 product would give of ``truth`` (°C).

    The truth's top level plus white noise (``noise`` °C per target cell) goes through the
    OSTIA path: written as an L4 file (:func:`write_l4_like`: packed int16 kelvin on a 4×
    finer grid, land in the ``mask`` bits, ice fraction over water colder than −1 °C), read
    back and put on the target by :func:`xdepthdif.sources.ostia.ostia_sst` (unpacking, land and
    sea-ice masking, conservative regridding).
    """
    import tempfile

    from ..sources.ostia import ostia_sst

    rng = np.random.default_rng([seed, 7])
    top = truth.isel(depth=0, drop=True)
    sst = top + rng.normal(0.0, noise, top.shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_l4_like(sst, Path(tmp) / "l4.nc")
        with xr.open_dataset(path) as l4:
            on_target = ostia_sst(l4, target).load()
    return target.assign(sst=on_target)


def write_l4_like(sst: xr.DataArray, path: Path, refine: int = 4) -> Path:
    """Write SST (°C, ``time × lat × lon``) as a GHRSST L4 (OSTIA) file on a grid ``refine``
    times finer: ``analysed_sst`` int16 kelvin (scale 0.01, offset 273.15), ``sea_ice_fraction``
    int8 (scale 0.01; rising from 0 at −1 °C to 1 at −1.8 °C), ``mask`` bits (1 water, 2 land)."""
    fine = sst
    for dim in ("lat", "lon"):
        step = float(np.diff(sst[dim].values[:2])[0])
        offsets = (np.arange(refine) - (refine - 1) / 2) * step / refine
        centres = (sst[dim].values[:, None] + offsets[None, :]).ravel()
        fine = fine.isel({dim: np.repeat(np.arange(sst.sizes[dim]), refine)})
        fine = fine.assign_coords({dim: centres})
    ice = ((-1.0 - fine) / 0.8).clip(0.0, 1.0).fillna(0.0)
    land = fine.isnull()
    flags = {
        "flag_masks": np.array([1, 2, 4, 8, 16], np.int8),
        "flag_meanings": "water land optional_lake_surface sea_ice optional_river_surface",
    }
    ds = xr.Dataset(
        {
            "analysed_sst": (fine + 273.15).assign_attrs(
                units="kelvin", standard_name="sea_surface_foundation_temperature"
            ),
            "sea_ice_fraction": ice.assign_attrs(units="1"),
            "mask": xr.where(land, 2, 1 + 8 * (ice > 0)).astype(np.int8).assign_attrs(flags),
        }
    )
    ds["lat"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
    ds["lon"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    packed = {"dtype": "int16", "scale_factor": 0.01, "_FillValue": np.int16(-32768)}
    encoding = {
        "analysed_sst": packed | {"add_offset": 273.15},
        "sea_ice_fraction": {"dtype": "int8", "scale_factor": 0.01, "_FillValue": np.int8(-128)},
        "mask": {"_FillValue": np.int8(-128)},
    }
    ds.to_netcdf(path, encoding=encoding, engine="netcdf4")
    return path


def calibrate_spread(
    model: str | Path,
    cfg: SkillConfig | None = None,
    fraction: float = 0.03,
    log: Callable[[str], object] = print,
) -> np.ndarray:
    """Per-level spread factors that make the ensemble's spread-skill ratio 1 on training data.

    Runs the diffusion ensemble (default steps, ``cfg.members``) on ``cfg.tune_months`` of the
    *training* split observed at ``fraction``, and returns, per level, the ratio of the
    ensemble mean's RMSE at unobserved points to ``sqrt((M + 1) / M)`` times the ensemble
    spread there, multiplied by any factor the model card already holds, clipped to
    [0.2, 5]. Store it with ``update_card`` (``xdepthdif calibrate`` does).
    """
    from ..prior.model import resolve_model, verify

    cfg = cfg or SkillConfig()
    card = verify(resolve_model(model))
    truth = synthetic_truth(cfg.tune_months, cfg.resolution, "train")
    used, _ = observe(truth, fraction, cfg, seed=cfg.seed + 2000)
    res = target_of(truth).depthdif.reconstruct(
        obs=used, method="diffusion", model=str(model), members=cfg.members, keep_members=True
    )
    res = res.compute()
    t = truth.values
    unobserved = np.isfinite(t) & (res["obs_count"].values == 0)
    m = cfg.members
    rmse = rmse_by_level(np.where(unobserved, res["thetao"].values - t, np.nan), 1)
    var = np.var(res["thetao_members"].values, axis=0, ddof=1)
    spread = np.sqrt(_level_mean_of(np.where(unobserved, var, np.nan)))
    old = np.asarray(card.normalisation.get("spread_scale", np.ones(len(card.levels))))
    factor = np.clip(old * rmse / (math.sqrt((m + 1) / m) * spread), 0.2, 5.0)
    log(
        "spread-skill before calibration, by level: "
        + " ".join(f"{v:.2f}" for v in math.sqrt((m + 1) / m) * spread / rmse)
    )
    return factor


def real_truth() -> xr.DataArray:
    """The real 3-D potential temperature (°C) of
    :func:`xdepthdif.evaluation.truth.atlantic_snapshot`: one month, on the cube's own grid."""
    from .truth import atlantic_snapshot

    return atlantic_snapshot()


def _shipped_climatology(target: xr.Dataset) -> np.ndarray:
    """The shipped climatology on ``target``'s grid and times (°C), as ``reconstruct`` takes
    it for its default first guess."""
    from ..background import climatology as shipped

    return shipped(target).compute(scheduler="synchronous").values


def run_skill(
    out: str | Path, cfg: SkillConfig | None = None, log: Callable[[str], object] = print
) -> pd.DataFrame:
    """Run the benchmark; write ``skill.md``, ``skill.json`` and figures into ``out``."""
    cfg = cfg or SkillConfig()
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    truth = synthetic_truth(cfg.test_months, cfg.resolution, "test")
    clim = climatology(truth, cfg.climatology_years, cfg.resolution)
    tune = synthetic_truth(cfg.tune_months, cfg.resolution, "train")
    tune_clim = climatology(tune, cfg.climatology_years, cfg.resolution)
    rows = []
    for fraction in cfg.fractions:
        scales = (
            tune_oi_length_scale(tune, fraction, cfg, None, log),
            tune_oi_length_scale(tune, fraction, cfg, tune_clim, log),
        )
        log(f"OI length scales for {fraction:.1%} (tuned on training months): {scales} km")
        rows += evaluate_case(truth, fraction, cfg, scales, clim, log=log)
    if cfg.real_case:
        real = real_truth()
        rows += evaluate_case(
            real, cfg.real_fraction, cfg, (None, None), "climatology", REAL_CASE, log
        )
    record = {"config": dataclasses.asdict(cfg), "depth": truth["depth"].values.tolist()}
    (out / "skill.json").write_text(json.dumps(record | {"rows": rows}, indent=1, default=float))
    return write_report(out)
