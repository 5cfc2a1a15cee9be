"""Would a spread factor by distance to the nearest profile fix the spread at withheld profiles?

The default diffusion model's spread is calibrated level by level on unobserved points
(``xdepthdif calibrate``), most of them far from any profile; on its own 4° grid its ensemble
is then 10–16 % too wide at withheld profiles, which lie near used ones
(``benchmarks/spread_near_profiles.py``). This script tries a second factor, one per band of
distance from a column to the nearest cell with a used profile (``EDGES_KM``), on top of the
shipped ones:

1. fitted on the calibration months of the ``"validation"`` world
   (:data:`xdepthdif.evaluation.calibration.WORLD_CALIBRATION_MONTHS`, both shares pooled, as
   the shipped factors are): ``sqrt(Σ squared error / Σ ensemble variance)`` at unobserved
   points, 0–2000 m, area-weighted;
2. applied to other validation months (``benchmarks/spread_near_profiles.py``'s): each member
   moved away from the ensemble mean by its column's factor (the mean, and so the RMSE, stay);
   spread-skill at unobserved points and at withheld profiles, and fair CRPS at unobserved
   points, without and with the factor. The test world is not used.

Run: ``.venv/bin/python benchmarks/distance_spread_factor.py`` (about 15 minutes on one core;
``--grid``, ``--fractions``, ``--calibration-months`` and ``--months`` change it).
"""

from __future__ import annotations

import argparse
import itertools
import math
import warnings

import numpy as np
from spread_near_profiles import (
    EDGES_KM,
    MEMBERS,
    MONTHS,
    NOISE_SD,
    STEPS,
    distance_to_used,
    month_case,
)

import xdepthdif  # noqa: F401  (registers the accessor)
from xdepthdif.evaluation.calibration import WORLD_CALIBRATION_MONTHS
from xdepthdif.evaluation.protocol import SCORE_DEPTH, observe, target_of
from xdepthdif.evaluation.scores import at_profiles, crps_ensemble
from xdepthdif.obs.binning import locate_cells
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times


def ensembles(months, grid: float, fractions, seed: int):
    """For each month and share: the members ``(member, depth, lat, lon)``, the truth, each
    column's distance band, the unobserved points to score (0–2000 m) and their area weights,
    and the withheld profiles' ``(profile, depth)`` values with their columns."""
    world = world_months(month_times(months), grid, "validation")
    depth, lat, lon = (world[k].values for k in ("depth", "lat", "lon"))
    area = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], (lat.size, lon.size))
    shallow = (depth < SCORE_DEPTH)[:, None, None]
    for fraction in fractions:
        used, withheld = observe(world, fraction, seed=seed, noise_sd=NOISE_SD)
        for i in range(world.sizes["time"]):
            one, month, obs, held = month_case(world, i, used, withheld)
            ens = target_of(one).depthdif.reconstruct(
                obs=obs, method="diffusion", members=MEMBERS, steps=STEPS, seed=0,
                keep_members=True,
            ).compute(scheduler="synchronous")  # fmt: skip
            members = ens["thetao_members"].transpose("realization", *world.dims).values[:, 0]
            count = ens["obs_count"].values[0]
            dist = distance_to_used(lat, lon, (count > 0).any(axis=0))
            band = np.minimum(np.digitize(dist, EDGES_KM) - 1, len(EDGES_KM) - 2)
            truth = one.values[0]
            unobserved = np.isfinite(members[0] - truth) & (count == 0) & shallow
            _, values = at_profiles(one.values, held, one)
            iy, ix, _ = locate_cells(held["lat"].values, held["lon"].values, lat, lon)
            print(f"  {grid:g}° {fraction:.1%} {month}: drawn", flush=True)
            yield members, truth, band, unobserved, area, values, (iy, ix), shallow[:, 0, 0]


def widened(members: np.ndarray, factor_of_column: np.ndarray) -> np.ndarray:
    """The members moved away from their mean by a factor per column ``(lat, lon)``."""
    mean = members.mean(axis=0)
    return mean + factor_of_column * (members - mean)


def fit_factors(cases, bands: int) -> np.ndarray:
    """One factor per distance band: the ensembles' error over their spread at unobserved
    points, pooled over ``cases``."""
    sums = np.zeros((bands, 2))
    for members, truth, band, unobserved, area, *_ in cases:
        var = members.var(axis=0, ddof=1) * (MEMBERS + 1) / MEMBERS
        err2 = (members.mean(axis=0) - truth) ** 2
        w = np.broadcast_to(area, unobserved.shape)
        for j in range(bands):
            sel = unobserved & (band == j)[None]
            sums[j] += [(w * err2)[sel].sum(), (w * var)[sel].sum()]
    return np.sqrt(sums[:, 0] / np.maximum(sums[:, 1], 1e-300))


def scores(cases, factors: np.ndarray | None, bands: int) -> dict[str, float]:
    """Spread-skill at unobserved points (all, and per band) and at withheld profiles, and the
    fair CRPS at unobserved points, of the ensembles (widened by ``factors`` when given)."""
    keys = ["unobserved"] + [f"band{j}" for j in range(bands)] + ["withheld"]
    sums = {k: np.zeros(2) for k in keys}  # summed predictive variance, squared error
    crps = np.zeros(2)  # area-weighted sum, weight
    for members, truth, band, unobserved, area, values, (iy, ix), shallow in cases:
        if factors is not None:
            members = widened(members, factors[band])
        mean = members.mean(axis=0)
        var = members.var(axis=0, ddof=1) * (MEMBERS + 1) / MEMBERS
        w = np.broadcast_to(area, unobserved.shape)
        err2 = (mean - truth) ** 2
        for key, sel in [("unobserved", unobserved)] + [
            (f"band{j}", unobserved & (band == j)[None]) for j in range(bands)
        ]:
            sums[key] += [(w * var)[sel].sum(), (w * err2)[sel].sum()]
        est, pvar = mean[:, iy, ix].T, var[:, iy, ix].T + NOISE_SD**2  # (profile, depth)
        good = np.isfinite(est - values) & shallow[None]
        sums["withheld"] += [pvar[good].sum(), ((est - values) ** 2)[good].sum()]
        c = crps_ensemble(members, truth)
        crps += [(w * c)[unobserved].sum(), w[unobserved].sum()]
    out = {k: math.sqrt(v[0] / v[1]) if v[1] else math.nan for k, v in sums.items()}
    return out | {"crps": crps[0] / crps[1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=float, default=4.0, help="global grid spacing, degrees")
    ap.add_argument("--fractions", nargs="+", type=float, default=(0.03, 0.075))
    ap.add_argument("--calibration-months", nargs="+", default=WORLD_CALIBRATION_MONTHS)
    ap.add_argument("--months", nargs="+", default=MONTHS, help="validation months to score")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    bands = len(EDGES_KM) - 1
    labels = [f"{a:g}–{b:g} km" if np.isfinite(b) else f"> {a:g} km"
              for a, b in itertools.pairwise(EDGES_KM)]  # fmt: skip
    factors = fit_factors(ensembles(args.calibration_months, args.grid, args.fractions, 1), bands)
    print(f"\nfactors by distance to the nearest used profile ({args.grid:g}°, fitted on "
          f"{len(args.calibration_months)} months, shares {args.fractions} pooled):")  # fmt: skip
    print("| " + " | ".join(labels) + " |\n|" + "---:|" * bands)
    print("| " + " | ".join(f"{f:.3f}" for f in factors) + " |")
    rows = []
    for fraction in args.fractions:
        cases = list(ensembles(args.months, args.grid, [fraction], seed=0))
        for name, f in (("shipped only", None), ("× distance", factors)):
            s = scores(cases, f, bands)
            cells = [s["unobserved"], *(s[f"band{j}"] for j in range(bands)), s["withheld"]]
            rows.append(f"| {fraction:.1%} | {name} | " + " | ".join(f"{c:.3f}" for c in cells)
                        + f" | {s['crps']:.4f} |")  # fmt: skip
    print(f"\nscored on months {', '.join(args.months)}\n")
    print("| share | factor | spread-skill unobserved | " + " | ".join(labels)
          + " | spread-skill withheld | fair CRPS unobserved (°C) |")  # fmt: skip
    print("|---|---|" + "---:|" * (bands + 3))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
