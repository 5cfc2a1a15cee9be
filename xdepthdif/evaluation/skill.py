"""The skill benchmark: observing-system simulation experiments scored against a known truth
(``DESIGN.md`` §6.4).

Protocol (settings: :class:`~xdepthdif.evaluation.protocol.SkillConfig`):

- **Truth**: months of the ``"test"`` world (:func:`xdepthdif.prior.world.world_months`): the
  real planet, another world's knobs than training, and a mean state that departs from the
  shipped climatology. Months one year apart through the calendar, on global grids (the
  default model's native 4° and the 1° of a user).
- **Observations**: Argo-like profiles (clustered, to 2000 m, thinning below 1000 m, with
  noise) in 1 %, 3 %, 7.5 % and 20 % of ocean columns; 20 % of the profiles withheld.
- **Rows**, each run through :func:`xdepthdif.reconstruct` as a user would:
  the shipped climatology (the first guess of every row); the *climatological ensemble* (the
  same calendar month of several years of the ``"validation"`` world, for its CRPS); the
  default OI; the same OI tuned on the truth (the ceiling,
  :func:`~xdepthdif.evaluation.oi_evidence.truth_tuned_oi`); the *SST vertical regression*
  (:class:`~xdepthdif.evaluation.regression.SSTRegression`, fitted on the validation world)
  when SST is given; the diffusion ensemble at each number of steps, and with SST.
- **Scores** (:mod:`xdepthdif.evaluation.sums`), month by month so that the months can be
  resampled: RMSE at unobserved ocean points (area-weighted, 0–2000 m and by depth band, and
  for ensembles also corrected to M→∞ members), RMSE at withheld profiles by depth band,
  ReconMOST's three masked MSEs, fair CRPS (Gaussian CRPS for OI), the spread-skill ratio at
  unobserved points and at withheld profiles, network evaluations and seconds per step.

Every choice is made on the validation world or on the observations, none on the test months.
Each case (grid and share) is written to ``cases/`` as soon as it is done, so an interrupted
run resumes where it stopped; the report (:mod:`xdepthdif.evaluation.report`) adds bootstrap
confidence intervals over the months.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..analysis.diffusion import DiffusionConfig
from ..errors import EmptyTimeStepWarning
from ..prior.world import WORLDS
from ..timing import month_times
from .cases import case_path, read_case, write_case
from .oi_evidence import assumed_obs_error, truth_tuned_oi
from .protocol import REAL_CASE, SkillConfig, observe, target_of
from .scores import at_profiles, crps_ensemble, crps_gaussian
from .sst import with_sst
from .sums import month_sums, summarise

__all__ = ["case_config", "evaluate_case", "run_skill"]


def case_config(cfg: SkillConfig) -> dict:
    """The settings a case's numbers depend on (all but which grids, shares and cases are
    run; the worlds' knobs too), as stored with each case."""
    record = dataclasses.asdict(cfg) | {
        "worlds": {split: _knobs(knobs) for split, knobs in WORLDS.items()}
    }
    for key in ("grids", "fractions", "real_case"):
        record.pop(key)
    return json.loads(json.dumps(record))


def _knobs(knobs) -> dict:
    """A world's knobs; one added later is recorded only when it is used, so the cases of
    worlds that do not use it still match."""
    record = dataclasses.asdict(knobs)
    if not record["redraw_months"]:
        del record["redraw_months"]
    return record


def _timed(fn) -> tuple[xr.Dataset, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():  # a month without used profiles is scored as it comes
        warnings.simplefilter("ignore", EmptyTimeStepWarning)
        res = fn().compute(scheduler="synchronous")
    return res, time.perf_counter() - start


class _Scorer:
    """Tallies of analyses of one truth and one set of profiles (see
    :func:`xdepthdif.evaluation.sums.month_sums`)."""

    def __init__(self, truth: xr.DataArray, count: np.ndarray, withheld: xr.Dataset, noise: float):
        self.truth, self.t, self.count = truth, truth.values, count
        self.withheld, self.noise = withheld, noise
        self.lat = truth["lat"].values
        months = pd.DatetimeIndex(truth["time"].values).to_period("M")
        self.month_of = months.get_indexer(pd.DatetimeIndex(withheld["time"].values).to_period("M"))

    def tallies(self, mean, var=None, var_m=None, crps=None, obs_var=None) -> dict[str, list]:
        """Per-month, per-level tallies of one analysis (fields ``(time, depth, lat, lon)``;
        ``obs_var``: the observation error variance per level for withheld values)."""
        est, values = at_profiles(mean, self.withheld, self.truth)
        wh_var = None
        if var is not None:
            wh_var = at_profiles(var, self.withheld, self.truth)[0]
            wh_var = wh_var + (0.0 if obs_var is None else obs_var)
        out: dict[str, list] = {}
        for i in range(self.t.shape[0]):
            sel = self.month_of == i
            sums = month_sums(
                mean[i], self.t[i], self.count[i], self.lat, est[sel], values[sel],
                var=None if var is None else var[i],
                var_m=None if var_m is None else var_m[i],
                crps=None if crps is None else crps[i],
                withheld_var=None if wh_var is None else wh_var[sel],
            )  # fmt: skip
            for k, v in sums.items():
                out.setdefault(k, []).append(v.tolist())
        return out

    def gaussian(self, res: xr.Dataset, sigma_o: np.ndarray) -> dict[str, list]:
        """An analysis with its error ``thetao_sd`` (OI); ``sigma_o`` (per level) is the
        error it assumed for an observation, beyond the profiles' noise."""
        mean, sd = res["thetao"].values, res["thetao_sd"].values
        with np.errstate(invalid="ignore"):
            crps = crps_gaussian(mean, sd, self.t)
        return self.tallies(mean, var=sd**2, crps=crps, obs_var=sigma_o**2 + self.noise**2)

    def ensemble(self, members: np.ndarray) -> dict[str, list]:
        """Members on axis 0, then ``(time, depth, lat, lon)``."""
        m = members.shape[0]
        mean = members.mean(axis=0)
        var = members.var(axis=0, ddof=1)
        crps = np.stack([crps_ensemble(members[:, i], self.t[i]) for i in range(self.t.shape[0])])
        return self.tallies(
            mean, var=var * (m + 1) / m, var_m=var / m, crps=crps, obs_var=self.noise**2
        )


def _diffusion(target: xr.Dataset, used: xr.Dataset, cfg: SkillConfig, steps: int):
    return _timed(
        lambda: target.depthdif.reconstruct(
            obs=used,
            method="diffusion",
            model=cfg.model,
            steps=steps,
            members=cfg.members,
            seed=cfg.seed,
            keep_members=True,
        )
    )


@dataclasses.dataclass
class Validation:
    """What the benchmark takes from the ``"validation"`` world for one grid: the anomalies
    of each calendar month (``(year, depth, lat, lon)``), the test months' climatology and
    calendar months, and the SST vertical regression."""

    anomalies: dict[int, np.ndarray]
    climatology: np.ndarray
    months: list[int]
    regression: object | None

    def members(self) -> np.ndarray:
        """The climatological ensemble, ``(member, time, depth, lat, lon)`` (float32)."""
        return np.stack(
            [(c[None] + self.anomalies[m]).astype(np.float32)
             for c, m in zip(self.climatology, self.months, strict=True)],
            axis=1,
        )  # fmt: skip


def validation_for(truth: xr.DataArray, cfg: SkillConfig, log=print) -> Validation:
    """The climatological ensemble of each month of ``truth`` (the same calendar month of each
    of ``cfg.validation_years`` in the validation world: its anomalies about the climatology
    of that day, added to the climatology of the test month) and, when SST is given, the
    SST vertical regression fitted on those months (SST with ``cfg.sst_noise``)."""
    from ..background import climatology
    from ..prior.world import world_months
    from .regression import SSTRegression

    resolution = float(np.median(np.diff(truth["lat"].values)))
    clim_test = climatology(truth).values
    regression = None
    if cfg.sst_noise:
        regression = SSTRegression(truth.sizes["depth"], truth["lat"].values)
    rng = np.random.default_rng([cfg.seed, 23])
    by_month: dict[int, np.ndarray] = {}
    months = pd.DatetimeIndex(truth["time"].values).month.tolist()
    for month in months:
        if month not in by_month:
            times = [pd.Timestamp(year=y, month=month, day=15) for y in cfg.validation_years]
            world = world_months(times, resolution, "validation", seed=cfg.seed)
            anomaly = world.values - climatology(world).values
            by_month[month] = anomaly.astype(np.float32)
            log(f"  validation world: {len(times)} years of month {month:02d}")
            if regression is not None:
                for a in anomaly:
                    sst = a[0] + rng.normal(0.0, cfg.sst_noise, a[0].shape)
                    regression.add(a, sst)
    return Validation(by_month, clim_test, months, regression)


def evaluate_case(
    case: str,
    truth: xr.DataArray,
    fraction: float,
    cfg: SkillConfig,
    validation: Validation | None = None,
    log: Callable[[str], object] = print,
    methods: Sequence[str] | None = None,
) -> dict:
    """Every row of the benchmark for one truth and one share of observed columns: a record
    with the case, its months and levels, and each row's tallies (only the rows whose method
    starts with one of ``methods``, when given)."""
    from ..background import climatology

    used, withheld = observe(truth, fraction, cfg.seed, cfg.noise_sd, cfg.withheld)
    target = target_of(truth)
    n = truth.sizes["time"]
    oi, sec_oi = _timed(lambda: target.depthdif.reconstruct(obs=used))
    scorer = _Scorer(truth, oi["obs_count"].values, withheld, cfg.noise_sd)
    # the validation record holds the truth's climatology already; one grid's shares share it
    clim = climatology(truth).values if validation is None else validation.climatology
    rows = []

    def wanted(method: str) -> bool:
        return methods is None or any(method.startswith(m) for m in methods)

    def add(method, tallies, seconds=0.0, nfe=None, members=None, **extra):
        row = {"method": method, "nfe": nfe, "members": members}
        row |= {"seconds_per_step": seconds / n, "tallies": tallies} | extra
        rows.append(row)
        s = summarise({k: np.asarray(v) for k, v in tallies.items()}, truth["depth"].values)
        log(
            f"  {case} {fraction:.1%} {method:<34} RMSE unobserved "
            f"{s['rmse_unobserved'][0]:.3f}  withheld {s['rmse_withheld'][0]:.3f}  CRPS "
            f"{s['crps'][0]:.3f}  spread/skill {s['spread_skill'][0]:.2f}  {seconds / n:.2f} s/step"
        )

    if wanted("climatology"):
        add("climatology", scorer.tallies(clim))
    if validation is not None and wanted("climatological ensemble"):
        members = validation.members()
        add("climatological ensemble", scorer.ensemble(members), members=members.shape[0])
    if wanted("OI"):
        add("OI", scorer.gaussian(oi, assumed_obs_error(oi)), sec_oi)
    if wanted("OI tuned on the truth (ceiling)"):
        best, sec, choice = truth_tuned_oi(
            target, used, "climatology", truth, clim, oi, cfg.multipliers, cfg.seed,
            search_steps=cfg.ceiling_months,
        )  # fmt: skip
        tallies = scorer.gaussian(best, assumed_obs_error(best))
        add("OI tuned on the truth (ceiling)", tallies, sec * n, ceiling=choice)
    informed = None
    if cfg.sst_noise:
        informed = with_sst(target, truth, cfg.sst_noise, cfg.seed)
        regression = None if validation is None else validation.regression
        if regression is not None and wanted("SST vertical regression"):
            sst_anomaly = informed["sst"].transpose("time", "lat", "lon").values - clim[:, 0]
            estimate = clim + np.stack([regression.predict(a) for a in sst_anomaly])
            add(
                "SST vertical regression",
                scorer.tallies(np.where(np.isfinite(clim), estimate, np.nan)),
            )
    for steps in cfg.steps:
        if wanted(f"diffusion, {steps} steps"):
            res, sec = _diffusion(target, used, cfg, steps)
            members = res["thetao_members"].transpose("realization", *truth.dims).values
            tallies = scorer.ensemble(members)
            add(f"diffusion, {steps} steps", tallies, sec, 2 * steps - 1, cfg.members)
    steps = DiffusionConfig().steps
    if informed is not None and wanted(f"diffusion, {steps} steps, + SST"):
        res, sec = _diffusion(informed, used, cfg, steps)
        members = res["thetao_members"].transpose("realization", *truth.dims).values
        tallies = scorer.ensemble(members)
        add(f"diffusion, {steps} steps, + SST", tallies, sec, 2 * steps - 1, cfg.members)
    return {
        "case": case,
        "fraction": fraction,
        "months": [str(t)[:7] for t in truth["time"].values],
        "depth": truth["depth"].values.tolist(),
        "profiles": {
            "used": int(used.sizes["profile"]),
            "withheld": int(withheld.sizes["profile"]),
        },
        "config": case_config(cfg),
        "rows": rows,
    }


def _done(path: Path, cfg: SkillConfig) -> bool:
    return path.exists() and read_case(path).get("config") == case_config(cfg)


def run_skill(
    out: str | Path,
    cfg: SkillConfig | None = None,
    log: Callable[[str], object] = print,
    rerun: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Run the benchmark into ``out``: ``cases/*.json.gz`` (every tally), then ``skill.md``,
    ``skill.json`` and figures (:func:`xdepthdif.evaluation.report.write_report`).

    Cases already in ``out`` with the same settings are kept, so a stopped run resumes; run
    one process per grid (``grids=(1.0,)``, ``grids=(4.0,)``) into the same folder to use
    more cores.

    ``rerun`` (method prefixes, e.g. ``["OI"]``) recomputes, in every case already there, only
    the rows whose method starts with one of them, and keeps the others as they are: after a
    change to the OI, its rows and its ceiling's are redone without drawing the diffusion
    ensembles again. Use it only when the kept rows' inputs (the model, the profiles, the
    code of those methods) have not changed; the case records which rows were rerun, when.
    """
    from ..prior.world import world_months
    from .report import write_report
    from .truth import atlantic_snapshot

    cfg = cfg or SkillConfig()
    out = Path(out)
    for grid in cfg.grids:
        case = f"global {grid:g}°"
        todo = [f for f in cfg.fractions if rerun or not _done(case_path(out, case, f), cfg)]
        if not todo:
            log(f"{case}: done already")
            continue
        truth = world_months(month_times(cfg.test_months), grid, "test", seed=cfg.seed)
        log(f"{case}: truth {dict(truth.sizes)}")
        validation = validation_for(truth, cfg, log)
        for fraction in todo:
            _run_case(out, case, truth, fraction, cfg, validation, log, rerun)
    if cfg.real_case and (rerun or not _done(case_path(out, REAL_CASE, cfg.real_fraction), cfg)):
        real = dataclasses.replace(cfg, sst_noise=0.0, ceiling_months=1)
        truth = atlantic_snapshot()
        _run_case(out, REAL_CASE, truth, cfg.real_fraction, real, None, log, rerun, cfg)
    return write_report(out)


def _run_case(out, case, truth, fraction, cfg, validation, log, rerun, stored_cfg=None) -> None:
    """Evaluate one case and write it; with ``rerun``, only those rows, merged into the case
    already written (which must exist, with the same settings)."""
    path = case_path(out, case, fraction)
    stored_cfg = stored_cfg or cfg
    if rerun and not _done(path, stored_cfg):
        raise FileNotFoundError(
            f"{path} is missing or was run with other settings: run the benchmark in full "
            "before rerunning some of its rows."
        )
    record = evaluate_case(case, truth, fraction, cfg, validation, log, methods=rerun)
    record["config"] = case_config(stored_cfg)
    if rerun:
        old = read_case(path)
        fresh = {row["method"]: row for row in record["rows"]}
        record["rows"] = [fresh.pop(row["method"], row) for row in old["rows"]]
        record["rows"] += list(fresh.values())
        note = {"methods": list(rerun), "date": pd.Timestamp.now("UTC").isoformat()[:19]}
        record["rerun"] = [*old.get("rerun", []), note]
    write_case(path, record)
