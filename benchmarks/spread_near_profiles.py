"""Spread-skill by distance to the nearest profile, at unobserved points and at withheld profiles.

The skill benchmark scores the spread at unobserved points (every sea point of a column
without a profile) and at withheld profiles. The profiles are clustered, as Argo's are, so a
withheld profile often lies near a used one. This script splits both scores by that
distance, for the default OI and the default diffusion model, on months of the
``"validation"`` world (never the test world), observed as the skill benchmark observes:

unobserved points and withheld profiles by the great-circle distance from their column to the
nearest cell with a used profile (the benchmark's withheld profiles never share a cell with a
used one: its profiles are drawn one per column).

Spread-skill is ``sqrt(Σ predictive variance / Σ squared error)`` over the points of a bin,
0–2000 m, area-weighted: an ensemble's variance with the ``(M+1)/M`` correction, the OI's
``thetao_sd²``; at withheld profiles plus the observation error each method assumes (the
profiles' noise, and for the OI its fitted error beyond it), as in the skill report.

Run: ``.venv/bin/python benchmarks/spread_near_profiles.py`` (about 4 minutes on one core;
``--grid``, ``--months``, ``--fractions`` change it).
"""

from __future__ import annotations

import argparse
import itertools
import math
import warnings

import numpy as np

import xdepthdif  # noqa: F401  (registers the accessor)
from xdepthdif.evaluation.oi_evidence import assumed_obs_error
from xdepthdif.evaluation.protocol import SCORE_DEPTH, observe, target_of
from xdepthdif.evaluation.scores import at_profiles
from xdepthdif.grid.geo import chord_to_km, unit_vectors
from xdepthdif.obs.binning import locate_cells
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times

MONTHS = ("2002-01", "2003-04", "2005-07", "2006-09")  # benchmarks/model_choice.py's
NOISE_SD, MEMBERS, STEPS = 0.02, 8, 10
EDGES_KM = (0.0, 500.0, 1000.0, 2000.0, math.inf)


def distance_to_used(lat: np.ndarray, lon: np.ndarray, used_cells: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) from every column to the nearest cell in ``used_cells``
    (bool ``(lat, lon)``)."""
    from scipy.spatial import cKDTree

    grid = unit_vectors(*np.meshgrid(lat, lon, indexing="ij"))
    if not used_cells.any():
        return np.full(used_cells.shape, np.inf)
    chord, _ = cKDTree(grid[used_cells]).query(grid.reshape(-1, 3))
    return chord_to_km(chord).reshape(used_cells.shape)


def month_case(world, i: int, used, withheld):
    """Month ``i`` of ``world`` (as a one-month array), that month, and the used and withheld
    profiles that fall in it."""
    one = world.isel(time=[i])
    month = np.datetime64(world["time"].values[i], "M")
    obs, held = (
        p.isel(profile=np.flatnonzero(p["time"].values.astype("datetime64[M]") == month))
        for p in (used, withheld)
    )
    return one, month, obs, held


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=float, default=4.0, help="global grid spacing, degrees")
    ap.add_argument("--months", nargs="+", default=MONTHS, help="validation months YYYY-MM")
    ap.add_argument("--fractions", nargs="+", type=float, default=(0.03, 0.075))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    world = world_months(month_times(args.months), args.grid, "validation")
    depth, lat, lon = (world[k].values for k in ("depth", "lat", "lon"))
    shallow = depth < SCORE_DEPTH
    area = np.cos(np.deg2rad(lat))[:, None]
    pairs = list(itertools.pairwise(EDGES_KM))
    labels = [f"{a:g}–{b:g} km" if np.isfinite(b) else f"> {a:g} km" for a, b in pairs]
    methods, places = ("OI", "diffusion"), ("unobserved", "withheld")
    for fraction in args.fractions:
        used, withheld = observe(world, fraction, seed=0, noise_sd=NOISE_SD)
        # per method, place and distance: summed variance, squared error, weight (area at
        # unobserved points, one per withheld value) and count of values
        sums = np.zeros((len(methods), len(places), len(pairs), 4))
        for i in range(world.sizes["time"]):
            one, month, obs, held = month_case(world, i, used, withheld)
            target = target_of(one)
            oi = target.depthdif.reconstruct(obs=obs).compute(scheduler="synchronous")
            ens = target.depthdif.reconstruct(
                obs=obs, method="diffusion", members=MEMBERS, steps=STEPS, seed=0,
                keep_members=True,
            ).compute(scheduler="synchronous")  # fmt: skip
            members = ens["thetao_members"].transpose("realization", *world.dims).values
            count = oi["obs_count"].values[0]  # (depth, lat, lon)
            dist = distance_to_used(lat, lon, (count > 0).any(axis=0))
            iy, ix, _ = locate_cells(held["lat"].values, held["lon"].values, lat, lon)
            truth = one.values[0]
            analyses = (
                (oi["thetao"].values, oi["thetao_sd"].values ** 2,
                 assumed_obs_error(oi) ** 2 + NOISE_SD**2),
                (members.mean(0), members.var(0, ddof=1) * (MEMBERS + 1) / MEMBERS, NOISE_SD**2),
            )  # fmt: skip
            for k, (mean, var, obs_var) in enumerate(analyses):
                err = mean[0] - truth
                ok = np.isfinite(err) & (count == 0) & shallow[:, None, None]
                w = np.broadcast_to(area, ok.shape)
                est, values = at_profiles(mean, held, one)
                pvar = at_profiles(var, held, one)[0] + obs_var
                good = np.isfinite(est - values) & shallow[None]
                for j, (lo, hi) in enumerate(pairs):
                    sel = ok & ((dist >= lo) & (dist < hi))[None]
                    sums[k, 0, j] += [(w * var[0])[sel].sum(), (w * err**2)[sel].sum(),
                                      w[sel].sum(), sel.sum()]  # fmt: skip
                    near = (dist[iy, ix] >= lo) & (dist[iy, ix] < hi)
                    sel = good & near[:, None]
                    sums[k, 1, j] += [pvar[sel].sum(), ((est - values) ** 2)[sel].sum(),
                                      sel.sum(), sel.sum()]  # fmt: skip
            print(f"  {args.grid:g}° {fraction:.1%} {month}: done", flush=True)
        print(f"\n{args.grid:g}°, {fraction:.1%} of the columns, months {', '.join(args.months)}\n")
        print("| distance to the nearest used profile | " + " | ".join(
            f"{place}: values | OI: RMSE, spread-skill | diffusion: RMSE, spread-skill"
            for place in places) + " |")  # fmt: skip
        print("|---|" + "---:|" * 3 * len(places))
        for j, label in enumerate(labels):
            cells = []
            for p in range(len(places)):
                cells.append(str(int(sums[0, p, j, 3])))
                for k in range(len(methods)):
                    var, se, weight, _ = sums[k, p, j]
                    cells.append("–" if not weight else f"{math.sqrt(se / weight):.3f}, "
                                 f"{math.sqrt(var / se):.2f}")  # fmt: skip
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
