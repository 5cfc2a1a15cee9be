"""Evidence that the default OI is as good as OI gets: four analyses of the same profiles, scored
against known truths.

Rows, for every truth and share of observed columns:

- ``level-mean OI``: OI on a first guess of one number per level (the earlier default), its
  covariance fitted to the innovations like the default's;
- ``climatology``: the first guess alone;
- ``default OI``: ``reconstruct(obs=...)`` as a user calls it, the climatology plus an OI whose
  covariance is fitted to the observations alone (:mod:`xdepthdif.analysis.oi_fit`);
- ``truth-tuned OI`` (the ceiling): the same OI family tuned on the truth. Two starting
  covariances, one fitted by maximum likelihood to the truth's own anomalies (a dense sample of
  columns) with the observation error measured against the truth, and the default's own; from
  each, the length scales and then the background error are scaled by the factors of
  ``multipliers`` that give the lowest RMSE against the truth; the better of the two is the
  ceiling (so it is never worse than the default).

Truths: an ocean on the real planet whose mean state and anomalies are not the climatology
(:func:`~xdepthdif.evaluation.truth.displaced_atlas_truth`, consecutive months), the real South
Atlantic cube of ``iris-sample-data`` (one snapshot, observed independently each month) and the
synthetic ocean's test split (its first guess the mean of its training years). Profiles are
Argo-like (:class:`~xdepthdif.obs.SamplingPlan`: clustered, to 2000 m, thinning below 1000 m,
with noise); 20 % are withheld. Scores: RMSE at unobserved ocean points over 0–2000 m and by
depth band, RMSE at the withheld profiles, and spread-skill both at unobserved points (the
analysis error ``thetao_sd`` against the truth) and at the withheld profiles (``thetao_sd``
with the observation error the OI assumed, against the profiles' values).

:func:`xdepthdif.evaluation.plausibility.plausibility` runs the default on a global 1° grid with
realistic sampling and checks that every value lies between the freezing point and 40 °C and
that ``thetao_sd`` never exceeds the background error it started from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from ..analysis.covariance import CovParams
from ..analysis.oi import OIConfig
from ..analysis.oi_fit import fit_for_steps, params_from_summary
from ..errors import EmptyTimeStepWarning
from ..obs import SamplingPlan, bin_profiles, interpolate_to_levels, sample_profiles, split_profiles
from .metrics import DEPTH_BANDS, rmse_by_band
from .protocol import SCORE_DEPTH, target_of
from .scores import at_profiles, score

__all__ = ["EvidenceConfig", "run_evidence", "truth_tuned_oi", "truth_tuned_params"]

METHODS = ("level-mean OI", "climatology", "default OI", "truth-tuned OI")
MIN_WITHHELD = 10
"""Withheld profiles needed before a spread-skill ratio at them is checked."""


@dataclasses.dataclass(frozen=True)
class EvidenceConfig:
    """What :func:`run_evidence` runs.

    Attributes
    ----------
    fractions
        Shares of ocean columns observed.
    months
        Months of each truth (consecutive).
    resolution
        Grid spacing (degrees) of the real-planet truth.
    synthetic_resolution
        Grid spacing of the synthetic ocean.
    cube_months
        Independent samplings of the South Atlantic cube (48 columns: at low shares only
        many months give withheld profiles).
    climatology_years
        Training-split years averaged into the synthetic ocean's first guess.
    noise_sd
        Observation noise (°C), also given to the OI as the profiles' ``thetao_error``.
    withheld
        Share of profiles withheld for scoring.
    multipliers
        Factors tried on the length scales and on the background error for the ceiling.
    cases
        Which truths: any of ``"real planet"``, ``"South Atlantic"``, ``"synthetic"``.
    seed
        Seed of the truth's anomalies and of the sampling.
    """

    fractions: tuple[float, ...] = (0.01, 0.03, 0.075, 0.2)
    months: int = 3
    resolution: float = 2.0
    synthetic_resolution: float = 4.0
    cube_months: int = 48
    climatology_years: tuple[int, ...] = tuple(range(2000, 2010))
    noise_sd: float = 0.05
    withheld: float = 0.2
    multipliers: tuple[float, ...] = (0.5, 0.7, 1.4, 2.0)
    cases: tuple[str, ...] = ("real planet", "South Atlantic", "synthetic")
    seed: int = 0


def load_case(name: str, cfg: EvidenceConfig) -> tuple[xr.DataArray, xr.DataArray | str]:
    """A truth and the first guess the default uses for it (``"climatology"``: the shipped
    one)."""
    times = pd.date_range("2003-01-15", periods=cfg.months, freq="MS")
    if name == "real planet":
        from .truth import displaced_atlas_truth

        return displaced_atlas_truth(times, cfg.resolution, seed=cfg.seed + 7), "climatology"
    if name == "South Atlantic":
        from .truth import atlantic_truth

        return atlantic_truth(cfg.cube_months, year=2003), "climatology"
    if name == "synthetic":
        from .truth import synthetic_truth, training_climatology

        months = [f"2040-{m:02d}" for m in range(1, cfg.months + 1)]
        truth = synthetic_truth(months, cfg.synthetic_resolution, "test")
        clim = training_climatology(truth, cfg.climatology_years, cfg.synthetic_resolution)
        return truth, clim
    raise ValueError(f"Unknown case {name!r}; choose from {EvidenceConfig().cases}.")


def _background_values(background, truth: xr.DataArray) -> np.ndarray:
    if isinstance(background, str):
        from ..background import climatology

        return climatology(truth).values
    return np.asarray(background.transpose(*truth.dims).values, float)


def assumed_obs_error(result: xr.Dataset) -> np.ndarray:
    """The observation error (°C) the OI assumed at each level, from its attributes."""
    summary = json.loads(result.attrs["oi_fitted_covariance"])
    return np.array([p.sigma_o for p in params_from_summary(summary, result["depth"].values)])


def truth_tuned_params(
    truth: xr.DataArray, background: np.ndarray, used: xr.Dataset, share: float = 0.1, seed=0
) -> list[CovParams]:
    """The covariance a truth-knowing analyst would start from: the signal's shape and variance
    fitted by maximum likelihood to ``truth − background`` at a random ``share`` of the
    columns of every month, and per level the error of the super-observations of ``used``
    measured against the truth (beyond the noise they declare)."""
    rng = np.random.default_rng(seed)
    t = truth.values
    depth, lat, lon = (truth[k].values for k in ("depth", "lat", "lon"))
    steps = []
    for i in range(t.shape[0]):
        cols = rng.random(t.shape[2:]) < share
        dense = np.where(cols[None], t[i], np.nan)
        count = np.isfinite(dense).astype(int)
        steps.append((dense, count, np.zeros(dense.shape), background[i]))
    signal = fit_for_steps(steps, depth, lat, lon, OIConfig(obs_error=1e-3))
    sq, n = np.zeros(depth.size), np.zeros(depth.size)
    month = pd.DatetimeIndex(used["time"].values).to_period("M")
    for i, when in enumerate(pd.DatetimeIndex(truth["time"].values).to_period("M")):
        sel = np.flatnonzero(month == when)
        if sel.size == 0:
            continue
        values = interpolate_to_levels(used["depth"].values[sel], used["thetao"].values[sel], depth)
        binned = bin_profiles(used["lat"].values[sel], used["lon"].values[sel], values, lat, lon)
        has = (binned.count > 0) & np.isfinite(t[i])
        err = np.where(has, (binned.mean - t[i]) ** 2 * binned.count, 0.0)
        sq += err.sum((1, 2))
        n += has.sum((1, 2))
    noise = float(np.nanmax(used["thetao_error"].values)) if "thetao_error" in used else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        extra = np.sqrt(np.maximum(sq / n - noise**2, 1e-6))
    extra = np.where(n > 0, extra, 1e-3)
    return [dataclasses.replace(p, sigma_o=float(e)) for p, e in zip(signal, extra, strict=True)]


def truth_tuned_oi(
    target: xr.Dataset,
    used: xr.Dataset,
    background,
    truth: xr.DataArray,
    background_values: np.ndarray,
    default: xr.Dataset,
    multipliers: tuple[float, ...],
    seed: int = 0,
    search_steps: int | None = None,
) -> tuple[xr.Dataset, float, dict]:
    """The ceiling: the OI of the default's family tuned on ``truth``.

    From two starting covariances, one fitted to the truth (:func:`truth_tuned_params`) and the
    ``default`` result's own, the length scales and then the background error are scaled by
    each of ``multipliers``; the setting with the lowest RMSE against the truth at unobserved
    points wins. The search runs on the first ``search_steps`` time steps (default: all); the
    winner is then run on all of them.

    Returns
    -------
    (result, seconds per step, {"start", "scale", "amplitude"})
    """
    depth = truth["depth"].values
    steps = slice(None) if search_steps is None else slice(0, search_steps)
    t_search, truth_search = target.isel(time=steps), truth.isel(time=steps)
    searched = pd.DatetimeIndex(truth_search["time"].values).to_period("M")
    in_search = pd.DatetimeIndex(used["time"].values).to_period("M").isin(searched)
    used_search = used.isel(profile=np.flatnonzero(in_search))
    starts = {
        "truth": truth_tuned_params(truth_search, background_values[steps], used_search, seed=seed),
        "default": params_from_summary(json.loads(default.attrs["oi_fitted_covariance"]), depth),
    }
    results = {}

    def rmse(key):
        return _unobserved_rmse(results[key][0], truth_search)

    for start, base in starts.items():
        best = (start, 1.0, 1.0)
        results[best] = _analyse(t_search, used_search, background, **_options(base))
        for axis in (1, 2):
            for m in multipliers:
                key = (start, m, best[2]) if axis == 1 else (start, best[1], m)
                options = _options(base, *key[1:])
                results[key] = _analyse(t_search, used_search, background, **options)
            best = min(
                (k for k in results if k[0] == start and k[3 - axis] == best[3 - axis]), key=rmse
            )
    best = min(results, key=rmse)
    result, sec = results[best]
    if search_steps is not None and search_steps < target.sizes["time"]:
        result, sec = _analyse(target, used, background, **_options(starts[best[0]], *best[1:]))
    return result, sec, {"start": best[0], "scale": best[1], "amplitude": best[2]}


def _options(params: list[CovParams], scale: float = 1.0, amplitude: float = 1.0) -> dict:
    """``reconstruct`` options fixing every covariance parameter per level."""
    return {
        "length_scale_km": tuple(scale * p.large_km for p in params),
        "meso_scale_km": tuple(scale * p.meso_km for p in params),
        "meso_share": tuple(p.meso_share for p in params),
        "obs_error": tuple(max(p.sigma_o, 1e-4) for p in params),
        "background_error": tuple(max(amplitude * p.sigma_b, 1e-4) for p in params),
        "gradient_weight": tuple(p.gradient_weight for p in params),
    }


def _unobserved_rmse(result: xr.Dataset, truth: xr.DataArray) -> float:
    err = np.where(result["obs_count"].values == 0, result["thetao"].values - truth.values, np.nan)
    return rmse_by_band(np.moveaxis(err, 1, -1), truth["depth"].values, ((0, SCORE_DEPTH),))[0]


def _analyse(target, used, background, **options) -> tuple[xr.Dataset, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():  # the cube's months without a used profile
        warnings.simplefilter("ignore", EmptyTimeStepWarning)
        res = target.depthdif.reconstruct(obs=used, background=background, **options)
    res = res.compute(scheduler="synchronous")
    return res, (time.perf_counter() - start) / target.sizes["time"]


def _row(case, fraction, method, mean, truth, counts, withheld, sd=None, sigma_o=None, sec=0.0):
    row = {"case": case, "fraction": fraction, "method": method, "seconds_per_step": sec}
    row["withheld_profiles"] = int(withheld.sizes["profile"])
    row |= score(mean, truth, counts, withheld, sd=sd)
    row["spread_skill_withheld"] = math.nan
    if sd is not None:
        est, values = at_profiles(mean, withheld, truth)
        spread, _ = at_profiles(sd, withheld, truth)
        deep = truth["depth"].values < SCORE_DEPTH
        noise = withheld["thetao_error"].values
        noise = float(np.nanmax(noise)) if noise.size else 0.0
        var = spread**2 + (sigma_o**2)[None, :] + noise**2
        ok = np.isfinite(est - values) & np.isfinite(var) & deep[None, :]
        if ok.any():
            rmse = float(np.sqrt(np.mean((est - values)[ok] ** 2)))
            row["spread_skill_withheld"] = float(np.sqrt(np.mean(var[ok]))) / rmse
    return row


def evaluate(
    case: str,
    truth: xr.DataArray,
    background,
    fraction: float,
    cfg: EvidenceConfig,
    log: Callable[[str], object] = print,
) -> list[dict]:
    """The four rows of one truth at one share of observed columns."""
    plan = SamplingPlan(
        fraction=fraction, max_depth=SCORE_DEPTH, noise_sd=cfg.noise_sd, cluster=True,
        seed=cfg.seed,
    )  # fmt: skip
    used, withheld = split_profiles(
        sample_profiles(truth, plan), withheld_fraction=cfg.withheld, seed=cfg.seed
    )
    target = target_of(truth)
    bg = _background_values(background, truth)
    rows = []

    def add(method, result, sec=0.0):
        if isinstance(result, xr.Dataset):
            mean, sd = result["thetao"].values, result["thetao_sd"].values
            sigma_o = assumed_obs_error(result)
        else:
            mean, sd, sigma_o = result, None, None
        row = _row(case, fraction, method, mean, truth, counts, withheld, sd, sigma_o, sec)
        rows.append(row)
        log(
            f"  {case:<15} {fraction:>6.1%} {method:<16} RMSE {row['rmse_unobserved']:.3f} "
            f"withheld {row['rmse_withheld']:.3f} spread/skill {row['spread_skill']:.2f} "
            f"(withheld {row['spread_skill_withheld']:.2f}) {sec:.1f} s/step"
        )

    default, sec = _analyse(target, used, background)
    counts = default["obs_count"].values
    add("level-mean OI", *_analyse(target, used, "level_mean"))
    add("climatology", bg)
    add("default OI", default, sec)
    best, sec, choice = truth_tuned_oi(
        target, used, background, truth, bg, default, cfg.multipliers, cfg.seed
    )
    add("truth-tuned OI", best, sec)
    rows[-1]["ceiling"] = choice
    return rows


def run_evidence(
    cfg: EvidenceConfig | None = None, log: Callable[[str], object] = print
) -> pd.DataFrame:
    """Every row of the benchmark, one per truth, share and method."""
    cfg = cfg or EvidenceConfig()
    rows = []
    for case in cfg.cases:
        truth, background = load_case(case, cfg)
        log(f"{case}: truth {dict(truth.sizes)}")
        for fraction in cfg.fractions:
            rows += evaluate(case, truth, background, fraction, cfg, log)
    return pd.DataFrame(rows)


def targets(table: pd.DataFrame) -> list[tuple[str, str, bool | None]]:
    """The targets, checked on every case and share: (what, measured, met); met is None where
    too few profiles were withheld to tell (fewer than :data:`MIN_WITHHELD`)."""
    out = []
    for (case, frac), g in table.groupby(["case", "fraction"], sort=False):
        r = g.set_index("method")["rmse_unobserved"]
        ratio = r["default OI"] / r["truth-tuned OI"]
        out.append(
            (f"{case} {frac:.1%}: default ≤ 1.1 × truth-tuned", f"{ratio:.3f}×", ratio <= 1.1)
        )
        ratio = r["default OI"] / r["climatology"]
        out.append(
            (f"{case} {frac:.1%}: default ≤ climatology", f"{ratio:.3f}×", ratio <= 1.0 + 1e-9)
        )
        default = g.set_index("method").loc["default OI"]
        ssr, n = default["spread_skill_withheld"], int(default["withheld_profiles"])
        what = f"{case} {frac:.1%}: spread-skill at withheld in 0.8–1.2"
        if n < MIN_WITHHELD:  # a ratio from a handful of profiles says nothing
            out.append((what, f"{_fmt(ssr)} ({n} profiles)", None))
        else:
            out.append((what, f"{ssr:.2f} ({n} profiles)", 0.8 <= ssr <= 1.2))
    return out


def markdown(table: pd.DataFrame, cfg: EvidenceConfig, extra: str = "") -> str:
    """The report: one table per truth, band RMSEs, the targets."""
    bands = [f"{lo:g}–{hi:g} m" if np.isfinite(hi) else f">{lo:g} m" for lo, hi in DEPTH_BANDS]
    lines = [
        "# OI evidence: first guess, fitted covariance and the truth-tuned ceiling",
        "",
        "Generated by `make oi-evidence` (`python benchmarks/oi_evidence.py`); every number is in "
        "`evidence.json`. RMSE in °C at unobserved ocean points, 0–2000 m; spread-skill is "
        "`thetao_sd` against the truth at unobserved points, and `thetao_sd` with the "
        "observation error the OI assumed against withheld profiles. "
        f"Settings: {dataclasses.asdict(cfg)}.",
        "",
    ]
    for case, g in table.groupby("case", sort=False):
        lines += [
            f"## {case}",
            "",
            "| columns | method | RMSE | ÷ ceiling | "
            + " | ".join(bands)
            + " | withheld RMSE (profiles) | spread-skill | at withheld |",
            "|---:|---|---:|---:|" + "---:|" * len(bands) + "---:|---:|---:|",
        ]
        for frac, h in g.groupby("fraction", sort=False):
            ceiling = h.set_index("method").loc["truth-tuned OI", "rmse_unobserved"]
            for _, r in h.iterrows():
                cells = [
                    f"{frac:.1%}",
                    r["method"],
                    f"{r['rmse_unobserved']:.3f}",
                    f"{r['rmse_unobserved'] / ceiling:.2f}",
                    *(_fmt(v, 3) for v in r["rmse_unobserved_bands"]),
                    f"{_fmt(r['rmse_withheld'], 3)} ({r['withheld_profiles']})",
                    _fmt(r["spread_skill"]),
                    _fmt(r["spread_skill_withheld"]),
                ]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    verdict = {True: "yes", False: "**no**", None: "n/a"}
    lines += [f"| {w} | {m} | {verdict[ok]} |" for w, m, ok in targets(table)]
    return "\n".join([*lines, "", extra]).rstrip() + "\n"


def _fmt(v, digits: int = 2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"
