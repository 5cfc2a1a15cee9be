"""The default diffusion model on a small regional target: the real South Atlantic cube.

The skill benchmark's real case (``iris-sample-data``'s potential temperature of the tropical
South Atlantic, 6 × 8 columns of 1.7° × 5°, 40 levels) observed by Argo-like profiles in 25 %
of its columns, 20 % of them withheld, with several independent samplings (seeds): the
default OI, the default diffusion model (8 members, 10 steps; the residuals carried about
the target's OI) and the same with its members regridded (``downscale=False``). The model
draws on its 4° grid over the target's region only (3 × 10 native cells here); it was
trained on global grids. Printed: RMSE at unobserved points (0–2000 m) and in two depth
bands, and the spread-skill ratio there, per sampling, and the ratios to the OI's RMSE.

Run: ``.venv/bin/python benchmarks/regional_cube.py [--seeds 8]`` (about half a minute).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import xdepthdif  # noqa: F401  (the depthdif accessor)
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.evaluation.scores import score
from xdepthdif.evaluation.truth import atlantic_snapshot

METHODS = {
    "OI": {},
    "diffusion": {"method": "diffusion"},
    "diffusion, members regridded": {"method": "diffusion", "downscale": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="independent samplings")
    args = parser.parse_args()
    truth = atlantic_snapshot()
    target = target_of(truth)
    print(
        "| sampling | profiles used | method | RMSE unobserved (°C) | ÷ OI | 0–100 m | "
        "1000–2000 m | spread-skill |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    ratios: dict[str, list[float]] = {name: [] for name in METHODS}
    for seed in range(args.seeds):
        used, withheld = observe(truth, 0.25, seed=seed)
        oi = None
        for name, options in METHODS.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # profiles on the cube's land, clipped members
                res = target.depthdif.reconstruct(obs=used, **options).compute()
            sc = score(
                res["thetao"].values, truth, res["obs_count"].values, withheld,
                sd=res["thetao_sd"].values,
            )  # fmt: skip
            rmse, bands = sc["rmse_unobserved"], sc["rmse_unobserved_bands"]
            oi = rmse if oi is None else oi
            ratios[name].append(rmse / oi)
            print(
                f"| {seed} | {used.sizes['profile']} | {name} | {rmse:.3f} | {rmse / oi:.2f} | "
                f"{bands[0]:.3f} | {bands[3]:.3f} | {sc['spread_skill']:.2f} |",
                flush=True,
            )
    print("\n| method | ÷ OI: median, range over the samplings |")
    print("|---|---|")
    for name, r in ratios.items():
        print(f"| {name} | {np.median(r):.2f}, {min(r):.2f}–{max(r):.2f} |")


if __name__ == "__main__":
    main()
