"""Score the default OI on the validation world: the split its fit's settings are chosen on.

Run: ``.venv/bin/python benchmarks/oi_validation.py`` (``--grids 4 --fractions 0.03`` for a
subset; ``--blocks-per-step 1 4`` to compare settings of the likelihood side by side,
``--spread-statistics mean_z2 sums`` those of the spread calibration). Each case
is months of the ``"validation"`` world (:func:`xdepthdif.prior.world.world_months`), never the
test world the skill benchmark scores, observed Argo-like as the skill benchmark observes
(:func:`xdepthdif.evaluation.protocol.observe`), analysed by ``reconstruct`` with its defaults.
The table gives the RMSE at unobserved points (area-weighted, 0–2000 m), at withheld profiles,
the spread-skill ratio at withheld profiles, and seconds per case; with ``--by-latitude`` the
spread-skill ratio at unobserved points in bands of latitude; with ``--without-worst N``
also the spread-skill ratio at the withheld profiles less the ``N`` whose values the analysis
misses most (RMS over 0–2000 m), and the largest such miss: how much a few profiles weigh in
the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from xdepthdif.analysis import oi_fit
from xdepthdif.analysis.innovations import SPREAD_STATISTICS
from xdepthdif.evaluation.oi_evidence import assumed_obs_error
from xdepthdif.evaluation.protocol import SCORE_DEPTH, observe, target_of
from xdepthdif.evaluation.scores import at_profiles
from xdepthdif.evaluation.skill import _Scorer
from xdepthdif.evaluation.sums import summarise
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times

MONTHS = ("2003-04", "2006-09")
LATITUDES = ((0, 15), (15, 45), (45, 90))
"""Bands of absolute latitude (°) of ``--by-latitude``."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=float, nargs="+", default=[4.0, 1.0])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.03, 0.075, 0.2])
    ap.add_argument("--months", nargs="+", default=list(MONTHS))
    ap.add_argument("--blocks-per-step", type=int, nargs="+", default=[oi_fit.BLOCKS_PER_STEP])
    ap.add_argument("--spread-statistics", nargs="+", default=["sums"], choices=SPREAD_STATISTICS)
    ap.add_argument("--without-worst", type=int, default=0, metavar="N")
    ap.add_argument("--by-latitude", action="store_true")
    args = ap.parse_args()
    times = month_times(args.months)
    head = (
        "| grid | columns | blocks/step | spread statistic | RMSE unobserved | RMSE withheld "
        "| spread/skill | spread/skill unobserved | CRPS | s |"
    )
    if args.without_worst:
        head += f" without the {args.without_worst} worst | worst miss (°C) |"
    if args.by_latitude:
        head += " unobserved: " + " | ".join(f"{lo}–{hi}°" for lo, hi in LATITUDES) + " |"
    print(head)
    print("|---" * head.count(" | ") + "|---|")
    for res in args.grids:
        truth = world_months(times, res, "validation")
        target = target_of(truth)
        for fraction in args.fractions:
            used, withheld = observe(truth, fraction, seed=0)
            for per_step, stat in itertools.product(args.blocks_per_step, args.spread_statistics):
                oi_fit.BLOCKS_PER_STEP = per_step
                t0 = time.perf_counter()
                oi = target.depthdif.reconstruct(obs=used, spread_statistic=stat).compute()
                sec = time.perf_counter() - t0
                scorer = _Scorer(truth, oi["obs_count"].values, withheld, 0.02)
                tallies = scorer.gaussian(oi, assumed_obs_error(oi))
                s = summarise({k: np.asarray(v) for k, v in tallies.items()}, truth.depth.values)
                row = (
                    f"| {res:g}° | {fraction:.1%} | {per_step} | {stat} "
                    f"| {s['rmse_unobserved'][0]:.3f} | {s['rmse_withheld'][0]:.3f} "
                    f"| {s['spread_skill_withheld'][0]:.2f} | {s['spread_skill'][0]:.2f} "
                    f"| {s['crps'][0]:.4f} | {sec:.0f} |"
                )
                if args.by_latitude:
                    row += "".join(f" {r:.2f} |" for r in by_latitude(oi, truth))
                if args.without_worst:
                    ratio, worst = without_worst(oi, truth, withheld, args.without_worst)
                    row += f" {ratio:.2f} | {worst:.2f} |"
                print(row, flush=True)


def by_latitude(oi, truth) -> list[float]:
    """Spread-skill at unobserved points (0–2000 m, not area-weighted) in each band of
    :data:`LATITUDES`: where the error estimate is too small or too large."""
    err = oi["thetao"].values - truth.values
    sd = oi["thetao_sd"].values
    keep = (oi["obs_count"].values == 0) & np.isfinite(err) & np.isfinite(sd)
    keep &= (truth["depth"].values < SCORE_DEPTH)[None, :, None, None]
    lat = np.abs(truth["lat"].values)[None, None, :, None]
    out = []
    for lo, hi in LATITUDES:
        sel = keep & (lat >= lo) & (lat < hi)
        out.append(float(np.sqrt(np.sum(sd[sel] ** 2) / np.sum(err[sel] ** 2))))
    return out


def without_worst(oi, truth, withheld, n: int) -> tuple[float, float]:
    """Spread-skill at the withheld profiles less the ``n`` the analysis misses most, pooled
    over their values within 0–2000 m as the benchmark pools them, and the largest RMS miss of
    one profile."""
    est, values = at_profiles(oi["thetao"].values, withheld, truth)
    sd, _ = at_profiles(oi["thetao_sd"].values, withheld, truth)
    var = sd**2 + assumed_obs_error(oi)[None] ** 2 + 0.02**2
    err = est - values
    ok = np.isfinite(err) & np.isfinite(var) & (truth["depth"].values < SCORE_DEPTH)[None]
    miss = np.sqrt(np.nanmean(np.where(ok, err, np.nan) ** 2, axis=1))
    keep = ok.copy()
    keep[np.argsort(-np.nan_to_num(miss))[:n]] = False
    return float(np.sqrt(np.mean(var[keep]) / np.mean(err[keep] ** 2))), float(np.nanmax(miss))


if __name__ == "__main__":
    main()
