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
several numbers of network evaluations.

Examples
--------
>>> from xdepthdif.evaluation.skill import crps_ensemble, crps_gaussian
>>> import numpy as np
>>> round(float(crps_gaussian(np.array([0.0]), np.array([1.0]), np.array([0.0]))[0]), 4)
0.2337
>>> members = np.array([[-1.0], [1.0]])
>>> float(crps_ensemble(members, np.array([0.0]))[0])
0.0
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from ..analysis.diffusion import DiffusionConfig
from ..obs import SamplingPlan, interpolate_to_levels, sample_profiles, split_profiles
from ..obs.binning import locate_cells
from .metrics import DEPTH_BANDS, band_label, rmse_by_band, rmse_by_level

__all__ = [
    "SkillConfig",
    "calibrate_spread",
    "crps_ensemble",
    "crps_gaussian",
    "run_skill",
    "score",
    "targets",
    "tune_oi_length_scale",
    "write_report",
]

REAL_CASE = "real: South Atlantic cube"
SCORE_DEPTH = 2000.0  # profiles reach 2000 m: the overall scores cover 0–2000 m


@dataclasses.dataclass(frozen=True)
class SkillConfig:
    """What the skill benchmark runs.

    Attributes
    ----------
    resolution
        Grid spacing of the synthetic truth (degrees).
    test_months
        Months of the held-out truth (``"test"`` split of the synthetic ocean).
    tune_months
        Months of the training split (drawn from the training random stream but after the
        default model's training period, 2000–2019, and outside ``climatology_years``) on
        which OI's length scales are tuned and the ensemble spread is calibrated.
    climatology_years
        Training-split years averaged into the climatological background.
    fractions
        Shares of ocean columns observed.
    withheld
        Share of profiles withheld for scoring.
    noise_sd
        Observation noise (°C).
    steps
        Heun steps of the diffusion rows (``2 * steps - 1`` network evaluations each).
    members
        Ensemble size.
    model
        Diffusion checkpoint (``"default"`` or a path).
    sst_noise
        Noise (°C) of the synthetic satellite SST given to the "+ SST" rows (0: none).
    real_months, real_fraction
        Months of the real South Atlantic cube of ``iris-sample-data`` to analyse (0: none)
        and the share of its 48 columns observed; OI keeps its default length scales there.
    length_scales_km
        Candidates for OI's length scale.
    seed
        Seed of the sampling and of the ensembles.
    """

    resolution: float = 4.0
    test_months: tuple[str, ...] = ("2040-01", "2040-07")
    tune_months: tuple[str, ...] = ("2025-02", "2025-08")
    climatology_years: tuple[int, ...] = tuple(range(2000, 2010))
    fractions: tuple[float, ...] = (0.01, 0.03, 0.075)
    withheld: float = 0.2
    noise_sd: float = 0.02
    steps: tuple[int, ...] = (3, 5, 10, 25, 100)
    members: int = 8
    model: str = "default"
    sst_noise: float = 0.4
    real_months: int = 6
    real_fraction: float = 0.25
    length_scales_km: tuple[float, ...] = (
        200.0,
        300.0,
        450.0,
        650.0,
        900.0,
        1300.0,
        2000.0,
        3000.0,
    )
    seed: int = 0


def crps_gaussian(mean: np.ndarray, sd: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """CRPS of the Gaussian ``N(mean, sd²)`` for the outcome ``truth`` (elementwise)."""
    sd = np.maximum(np.asarray(sd, float), 1e-12)
    z = (np.asarray(truth, float) - mean) / sd
    return sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))


def crps_ensemble(members: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Fair CRPS of an ensemble (members on axis 0) for the outcome ``truth``.

    ``mean|X_i - y| - sum_{i,j}|X_i - X_j| / (2 M (M - 1))``: unbiased for the CRPS of the
    distribution the members are drawn from, whatever the ensemble size ``M``.
    """
    members = np.asarray(members, float)
    m = members.shape[0]
    skill = np.mean(np.abs(members - truth), axis=0)
    ordered = np.sort(members, axis=0)
    # sum_{i<j} |x_j - x_i| from the sorted members: sum_k (2k - m + 1) x_(k)
    weights = (2 * np.arange(m) - m + 1).reshape(-1, *([1] * (members.ndim - 1)))
    pair_sum = np.sum(weights * ordered, axis=0)
    return skill - pair_sum / (m * (m - 1))


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


def level_mean(obs: xr.Dataset, truth: xr.DataArray) -> np.ndarray:
    """The mean of the observed cells of each level and month, everywhere (the naive baseline)."""
    from ..obs import bin_profiles

    levels = truth["depth"].values
    values = interpolate_to_levels(obs["depth"].values, obs["thetao"].values, levels)
    month = pd.DatetimeIndex(obs["time"].values).to_period("M")
    out = np.full(truth.shape[:2], np.nan)
    for i, t in enumerate(pd.DatetimeIndex(truth["time"].values).to_period("M")):
        sel = month == t
        binned = bin_profiles(
            obs["lat"].values[sel], obs["lon"].values[sel], values[sel],
            truth["lat"].values, truth["lon"].values,
        )  # fmt: skip
        with warnings.catch_warnings():  # a level no profile reaches stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out[i] = np.nanmean(np.where(binned.count > 0, binned.mean, np.nan), axis=(1, 2))
    field = np.broadcast_to(out[:, :, None, None], truth.shape)
    return np.where(np.isfinite(truth.values), field, np.nan)


def at_profiles(
    field: np.ndarray, profiles: xr.Dataset, truth: xr.DataArray
) -> tuple[np.ndarray, np.ndarray]:
    """``field`` (time, depth, lat, lon) at the cells of ``profiles`` and the profiles' own
    values on the same levels, both ``(profile, depth)``."""
    values = interpolate_to_levels(
        profiles["depth"].values, profiles["thetao"].values, truth["depth"].values
    )
    iy, ix, _ = locate_cells(
        profiles["lat"].values, profiles["lon"].values, truth["lat"].values, truth["lon"].values
    )
    it = (
        pd.DatetimeIndex(truth["time"].values)
        .to_period("M")
        .get_indexer(pd.DatetimeIndex(profiles["time"].values).to_period("M"))
    )
    return field[it, :, iy, ix], values


def score(
    mean: np.ndarray,
    truth: xr.DataArray,
    obs_count: np.ndarray,
    withheld: xr.Dataset,
    sd: np.ndarray | None = None,
    members: np.ndarray | None = None,
) -> dict[str, float | list[float]]:
    """All scores of one analysis (arrays shaped like ``truth``; ``members`` on axis 0)."""
    depth = truth["depth"].values
    t = truth.values
    ocean = np.isfinite(t)
    shallow = (depth <= SCORE_DEPTH)[None, :, None, None]
    unobserved = ocean & (obs_count == 0)
    observed = ocean & (obs_count > 0)

    def msq(where: np.ndarray) -> float:
        err = (mean - t)[where & shallow]
        err = err[np.isfinite(err)]
        return float(np.mean(err**2)) if err.size else float("nan")

    err_unobs = np.moveaxis(np.where(unobserved, mean - t, np.nan), 1, -1)
    est, values = at_profiles(mean, withheld, truth)
    out: dict[str, float | list[float]] = {
        "rmse_unobserved": rmse_by_band(err_unobs, depth, ((0.0, SCORE_DEPTH),))[0],
        "rmse_unobserved_bands": rmse_by_band(err_unobs, depth),
        "rmse_unobserved_levels": rmse_by_level(np.where(unobserved, mean - t, np.nan), 1).tolist(),
        "rmse_withheld": rmse_by_band(est - values, depth, ((0.0, SCORE_DEPTH),))[0],
        "mse_guidance": msq(observed),
        "mse_reconstruction": msq(unobserved),
        "mse_total": msq(ocean),
        "crps": float("nan"),
        "spread_skill": float("nan"),
    }
    where = unobserved & shallow & np.isfinite(mean)
    rmse = out["rmse_unobserved"]
    if members is not None:
        m = members.shape[0]
        out["crps"] = float(np.mean(crps_ensemble(members[:, where], t[where])))
        spread = float(np.sqrt(np.mean(np.var(members[:, where], axis=0, ddof=1))))
        out["spread_skill"] = math.sqrt((m + 1) / m) * spread / rmse if rmse else math.nan
        var = np.var(members, axis=0, ddof=1)
        out["spread_skill_levels"] = (
            math.sqrt((m + 1) / m)
            * np.sqrt(_level_mean_of(np.where(unobserved, var, np.nan)))
            / np.asarray(out["rmse_unobserved_levels"])
        ).tolist()
    elif sd is not None:
        out["crps"] = float(np.mean(crps_gaussian(mean[where], sd[where], t[where])))
        out["spread_skill"] = float(np.sqrt(np.mean(sd[where] ** 2))) / rmse if rmse else math.nan
    return out


def _level_mean_of(values: np.ndarray) -> np.ndarray:
    """Mean over everything but the depth axis (axis 1), NaN ignored."""
    flat = np.moveaxis(values, 1, 0).reshape(values.shape[1], -1)
    n = np.isfinite(flat).sum(1)
    with np.errstate(invalid="ignore"):
        return np.nansum(flat, axis=1) / n


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
    start = time.perf_counter()
    res = target.depthdif.reconstruct(
        obs=used, method="oi", length_scale_km=scale, background=background
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
    clim: xr.DataArray | None,
    case: str = "synthetic",
    log: Callable[[str], object] = print,
) -> list[dict]:
    """Every row of the benchmark for one truth and one observed fraction.

    ``scales`` are OI's length scales (km; None: the package default) with the level-mean and
    the climatological background; ``clim`` is the climatology of ``truth``'s months from
    training years (None: no climatology rows).
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

    oi, sec = _run_oi(target, used, scales[0])
    counts = oi["obs_count"].values
    add("level mean", level_mean(used, truth), 0.0)
    add(f"OI, level-mean background, L={label(scales[0])}", oi, sec)
    if clim is not None:
        add("climatology (training years)", clim.values, 0.0)
        oi_c, sec = _run_oi(target, used, scales[1], background=clim)
        add(f"OI, climatology background, L={label(scales[1])}", oi_c, sec)
    for steps in cfg.steps:
        res, sec = _run_diffusion(target, used, cfg, steps)
        members = res["thetao_members"].values
        add(f"diffusion, {steps} Heun steps", res, sec, nfe=2 * steps - 1, members=members)
    if cfg.sst_noise and clim is not None:
        informed = with_sst(target, truth, cfg.sst_noise, cfg.seed)
        oi_s, sec = _run_oi(informed, used, scales[1], background=clim)
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


def real_truth(months: int) -> xr.DataArray:
    """The real 3-D potential temperature of
    :func:`xdepthdif.evaluation.demo.atlantic_truth` (°C)."""
    from .demo import atlantic_truth

    return atlantic_truth(months)


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
    if cfg.real_months:
        real = real_truth(cfg.real_months)
        rows += evaluate_case(real, cfg.real_fraction, cfg, (None, None), None, REAL_CASE, log)
    record = {"config": dataclasses.asdict(cfg), "depth": truth["depth"].values.tolist()}
    (out / "skill.json").write_text(json.dumps(record | {"rows": rows}, indent=1, default=float))
    return write_report(out)


def write_report(out: str | Path) -> pd.DataFrame:
    """(Re)write ``skill.md`` and the figures from the ``skill.json`` of a run in ``out``."""
    out = Path(out)
    record = json.loads((out / "skill.json").read_text())
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in record["config"].items()}
    cfg = SkillConfig(**config)
    table = pd.DataFrame(record["rows"])
    (out / "images").mkdir(parents=True, exist_ok=True)
    synthetic = table[table["case"] == "synthetic"]
    figures = _figures(synthetic, np.asarray(record["depth"]), cfg, out / "images")
    (out / "skill.md").write_text(markdown(table, cfg, figures, out) + "\n")
    return table


def targets(table: pd.DataFrame, steps: int | None = None) -> list[tuple[str, str, bool]]:
    """The benchmark's targets checked on its synthetic rows: ``(target, measured, met)``.

    ``steps`` is the diffusion row taken as "the" diffusion result (default: the default
    number of steps of :class:`~xdepthdif.analysis.diffusion.DiffusionConfig`).
    """
    nfe = 2 * (steps or DiffusionConfig().steps) - 1
    out = []
    synthetic = table[(table["case"] == "synthetic") & ~table["method"].str.endswith("+ SST")]
    for fraction, rows in synthetic.groupby("fraction"):
        diff = rows[rows["nfe"] == nfe].iloc[0]
        most = rows[rows["nfe"] == rows["nfe"].max()].iloc[0]
        label = f"{fraction:.1%}"
        for _, oi in rows[rows["method"].str.startswith("OI")].iterrows():
            ratio = diff["rmse_unobserved"] / oi["rmse_unobserved"]
            if fraction in (0.03, 0.075):
                what = f"{label}: RMSE unobserved ≤ 0.8 × {oi['method']}"
                out.append((what, f"{ratio:.2f} ×", bool(ratio <= 0.8)))
            what = f"{label}: CRPS below {oi['method']}"
            crps_ok = bool(diff["crps"] < oi["crps"])
            out.append((what, f"{diff['crps']:.3f} vs {oi['crps']:.3f}", crps_ok))
        gap = diff["rmse_unobserved"] / most["rmse_unobserved"] - 1
        what = f"{label}: {nfe} NFE within 5 % of {int(most['nfe'])} NFE (RMSE unobserved)"
        out.append((what, f"{gap:+.1%}", bool(abs(gap) <= 0.05)))
        ss = diff["spread_skill"]
        out.append((f"{label}: spread-skill ratio in 0.9–1.1", f"{ss:.2f}", bool(0.9 <= ss <= 1.1)))
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown(table: pd.DataFrame, cfg: SkillConfig, figures: Sequence[Path], out: Path) -> str:
    """The benchmark's report: how it was run, the targets, one table per case and fraction."""
    bands = [band_label(lo, hi) for lo, hi in DEPTH_BANDS]
    nfe = DiffusionConfig().nfe
    lines = [
        "# Skill benchmark",
        "",
        "Written by `make skill` (`.venv/bin/python benchmarks/skill.py`, the same as "
        "`xdepthdif bench skill --out docs/skill`); every number below is in `skill.json`. "
        "Protocol and definitions: `xdepthdif.evaluation.skill` (DESIGN §6).",
        "",
        f"- Truth: the synthetic ocean's held-out `test` split, months "
        f"{', '.join(cfg.test_months)}, global {cfg.resolution:g}° grid, 42 levels; and the real "
        f"South Atlantic cube of `iris-sample-data` ({cfg.real_months} months, "
        f"{cfg.real_fraction:.0%} of its 48 columns observed).",
        f"- Observations: Argo-like clustered profiles to 2000 m thinning below 1000 m, noise "
        f"{cfg.noise_sd:g} °C; {cfg.withheld:.0%} of profiles withheld for scoring. '+ SST': the "
        f"truth's top level plus {cfg.sst_noise:g} °C noise, written as an OSTIA L4 file (packed "
        "kelvin on a 4× finer grid, land and sea-ice flags) and put on the target by `ostia_sst`"
        " (cells with more than 15 % ice carry no SST).",
        f"- OI length scales tuned per fraction and background on training-split months "
        f"{', '.join(cfg.tune_months)} among {', '.join(f'{v:g}' for v in cfg.length_scales_km)}"
        " km; the climatology is the mean of the training years "
        f"{cfg.climatology_years[0]}–{cfg.climatology_years[-1]} for each month.",
        f"- Diffusion: the model `{cfg.model}`, {cfg.members} members, seed {cfg.seed}; NFE = "
        "network evaluations per member (each guided one adds `cg_iters + 1` = 3 "
        "vector-Jacobian products); s/step is wall time per time step for the whole ensemble on "
        "the 2-core development machine.",
        "- RMSE and MSE in °C and °C², at unobserved points (no used profile in the cell at that "
        "level) unless stated; MSE guidance/recon./total are ReconMOST's three masked means "
        "against the truth (cells with a used profile / without / all), 0–2000 m. CRPS: fair "
        "ensemble CRPS (Gaussian CRPS for OI); spread/skill: sqrt((M+1)/M)·spread/RMSE.",
        "",
        f"## Targets (diffusion at {nfe} NFE, synthetic truth)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets(table)]
    lines += ["", "## Tables", ""]
    for (case, fraction), rows in table.groupby(["case", "fraction"], sort=False):
        lines += [
            f"### {case}: {fraction:.1%} of ocean columns observed",
            "",
            "| method | NFE | RMSE unobs. 0–2000 m | "
            + " | ".join(bands)
            + " | RMSE withheld | MSE guidance | MSE recon. | MSE total | CRPS | spread/skill "
            "| s/step |",
            "|---|---:|---:|" + "---:|" * len(bands) + "---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, r in rows.iterrows():
            nfe = "" if pd.isna(r["nfe"]) else str(int(r["nfe"]))
            lines.append(
                f"| {r['method']} | {nfe} | {_fmt(r['rmse_unobserved'])} | "
                + " | ".join(_fmt(v) for v in r["rmse_unobserved_bands"])
                + f" | {_fmt(r['rmse_withheld'])} | {_fmt(r['mse_guidance'])} | "
                f"{_fmt(r['mse_reconstruction'])} | {_fmt(r['mse_total'])} | "
                f"{_fmt(r['crps'])} | {_fmt(r['spread_skill'], 2)} | "
                f"{_fmt(r['seconds_per_step'], 2)} |"
            )
        lines.append("")
    lines += [f"![{f.stem}]({f.relative_to(out).as_posix()})" for f in figures]
    return "\n".join(lines)


def _figures(table: pd.DataFrame, depth: np.ndarray, cfg: SkillConfig, folder: Path):
    from .plots import plot_error_by_depth, plot_skill_vs_nfe

    paths = []
    mid = sorted(cfg.fractions)[len(cfg.fractions) // 2]
    rows = table[table["fraction"] == mid]
    default = rows[rows["nfe"] == DiffusionConfig().nfe]
    shown = pd.concat([rows[rows["nfe"].isna()], default])
    curves = {r["method"]: np.asarray(r["rmse_unobserved_levels"]) for _, r in shown.iterrows()}
    paths.append(
        plot_error_by_depth(
            depth,
            curves,
            folder / "skill_rmse_by_depth.png",
            title=f"RMSE at unobserved points, {mid:.1%} of columns observed",
        )
    )
    without_sst = table[~table["method"].str.endswith("+ SST")]
    paths.append(plot_skill_vs_nfe(without_sst, folder / "skill_vs_nfe.png"))
    spread = {r["method"]: np.asarray(r["spread_skill_levels"]) for _, r in default.iterrows()}
    if spread:
        paths.append(
            plot_error_by_depth(
                depth,
                spread,
                folder / "skill_spread_by_depth.png",
                title=f"Spread-skill ratio by depth, {mid:.1%} observed (1 = calibrated)",
                xlabel="spread / RMSE",
            )
        )
    return paths
