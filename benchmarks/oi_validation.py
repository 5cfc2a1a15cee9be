"""Score the default OI on the validation world: the split its fit's settings are chosen on.

Run: ``.venv/bin/python benchmarks/oi_validation.py`` (``--grids 4 --fractions 0.03`` for a
subset; ``--blocks-per-step 1 4`` to compare settings of the likelihood side by side). Each case
is months of the ``"validation"`` world (:func:`xdepthdif.prior.world.world_months`), never the
test world the skill benchmark scores, observed Argo-like as the skill benchmark observes
(:func:`xdepthdif.evaluation.protocol.observe`), analysed by ``reconstruct`` with its defaults.
The table gives the RMSE at unobserved points (area-weighted, 0–2000 m), at withheld profiles,
the spread-skill ratio at withheld profiles, and seconds per case.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from xdepthdif.analysis import oi_fit
from xdepthdif.evaluation.oi_evidence import assumed_obs_error
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.evaluation.skill import _Scorer
from xdepthdif.evaluation.sums import summarise
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times

MONTHS = ("2003-04", "2006-09")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=float, nargs="+", default=[4.0, 1.0])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.03, 0.075, 0.2])
    ap.add_argument("--months", nargs="+", default=list(MONTHS))
    ap.add_argument("--blocks-per-step", type=int, nargs="+", default=[oi_fit.BLOCKS_PER_STEP])
    args = ap.parse_args()
    times = month_times(args.months)
    print("| grid | columns | blocks/step | RMSE unobserved | RMSE withheld | spread/skill | s |")
    print("|---|---|---|---|---|---|---|")
    for res in args.grids:
        truth = world_months(times, res, "validation")
        target = target_of(truth)
        for fraction in args.fractions:
            used, withheld = observe(truth, fraction, seed=0)
            for per_step in args.blocks_per_step:
                oi_fit.BLOCKS_PER_STEP = per_step
                t0 = time.perf_counter()
                oi = target.depthdif.reconstruct(obs=used).compute()
                sec = time.perf_counter() - t0
                scorer = _Scorer(truth, oi["obs_count"].values, withheld, 0.02)
                tallies = scorer.gaussian(oi, assumed_obs_error(oi))
                s = summarise({k: np.asarray(v) for k, v in tallies.items()}, truth.depth.values)
                print(
                    f"| {res:g}° | {fraction:.1%} | {per_step} | {s['rmse_unobserved'][0]:.3f} "
                    f"| {s['rmse_withheld'][0]:.3f} | {s['spread_skill_withheld'][0]:.2f} "
                    f"| {sec:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
