"""How much better than the OI could any linear estimate of the test world be? An oracle that
knows the world's own covariance, beside the OI, on the skill benchmark's observations.

The target of the issue "Diffusion that earns the default" asks a method for an RMSE at most
0.8 times the OI's at unobserved points. This asks what an estimator linear in the time step's
profiles could reach at best: the best linear unbiased estimate (simple kriging) with the
*true* second moments of the world's departures from the shipped climatology, which no method
is given. They are estimated from months of the test world itself in other years (the same
calendar month and the two beside it, every year from 1901 to 2261 but the scored one: about
1080 months), level by level on the model's 4° grid; and, as what a method could learn without
seeing the test world, from the same months of the validation world (the training world's
knobs, its own waves and random stream: what training months teach about a world they are
not made of); and with ``--moments validation-redrawn``, from the validation world drawing
its waves afresh every year (360 draws: the waves' statistics, which a model trained with
``--redraw-months`` learns, rather than one draw's patterns). Each world's moments make two
estimates:

- *about the climatology*: ``x = T̄ + M_ao (M_oo + R)⁻¹ (y − T̄_o)``, with ``M`` the second
  moment of the departures (so it knows the size of the test world's mean bias too);
- *with the mean*: the same about the world's mean ``T̄ + μ``, with the covariance ``C``.

Each unobserved cell takes its ``--neighbours`` nearest observed cells of its level (the OI
takes 64): with sample moments, more predictors bring more information but also more sampling
noise, so the table gives several counts (the best is the ceiling).
``R`` is the binned profiles' true noise (0.02 °C over the cell's count): the truth is the
grid's own field, which the profiles sample without representativeness error.

The OI is ``reconstruct(obs=...)`` with its defaults, run on all scored months at once as the
skill benchmark runs it. Observations: :func:`xdepthdif.evaluation.protocol.observe` with the
benchmark's seed. Scores: RMSE at unobserved ocean points, 0–2000 m
(:func:`xdepthdif.evaluation.scores.score`).

Two more tables take the validation world's moments apart (``--moments validation`` runs
only that world): ``--decompose`` swaps their standard deviations or their correlations for the
OI's, and ``--families`` fits covariance families to them (:func:`family`: the OI's own, a
displacement family that follows the climatology's gradients, and any isotropic shape) and
kriges with those.

Run: ``.venv/bin/python benchmarks/linear_ceiling.py`` (about 20 minutes on one core;
``--months`` chooses test months by their index in the skill benchmark's twelve).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from xdepthdif.analysis.covariance import (
    correlation,
    error_pattern,
    gradient_components,
    gradient_magnitude,
    gradient_reference,
    pair_distances,
)
from xdepthdif.analysis.oi_fit import params_from_summary
from xdepthdif.background import ClimatologySpec, climatology
from xdepthdif.evaluation.protocol import SCORE_DEPTH, SkillConfig, observe, target_of
from xdepthdif.evaluation.scores import score
from xdepthdif.grid.geo import unit_vectors
from xdepthdif.obs.binning import bin_on_levels
from xdepthdif.prior.world import WORLDS, world_months
from xdepthdif.timing import day_of_year

RESOLUTION = 4.0
YEARS = range(1901, 2262)  # datetime64[ns] ends in 2262
CHUNK = 60  # months of the world made at once
REDRAWN = "validation-redrawn"
"""The validation world drawing its waves afresh every year: moments of the waves' statistics,
as a model trained with ``--redraw-months`` sees them, not of one draw."""


def departures(month: pd.Timestamp, levels: np.ndarray, world: str) -> np.ndarray:
    """``(sample, level, cell)`` float32 departures of ``world`` (a split of
    :func:`~xdepthdif.prior.world.world_months`) from the climatology in the calendar month of
    ``month`` and the two beside it, every year of :data:`YEARS` but ``month``'s own."""
    dates = [
        pd.Timestamp(year=y, month=1, day=15) + pd.DateOffset(months=month.month - 1 + shift)
        for y in YEARS
        if y != month.year
        for shift in (-1, 0, 1)
    ]
    out = []
    for start in range(0, len(dates), CHUNK):
        chunk = pd.DatetimeIndex(dates[start : start + CHUNK])
        if world == REDRAWN:
            config = dataclasses.replace(WORLDS["validation"], redraw_months=12)
            part = world_months(chunk, RESOLUTION, "validation", config=config)
        else:
            part = world_months(chunk, RESOLUTION, world)
        part = part.isel(depth=levels)
        anomaly = (part - climatology(part)).values.astype(np.float32)
        out.append(anomaly.reshape(*anomaly.shape[:2], -1))
    return np.concatenate(out)


def kriged(samples, bins, clim, noise_var, xyz, neighbours, centred, mix=None) -> np.ndarray:
    """The oracle's departures ``(level, cell)`` from the climatology ``clim`` ``(level, cell)``:
    at unobserved sea cells, simple kriging from each one's ``neighbours`` nearest observed
    cells with the samples' moments and a profile error variance ``noise_var`` (one per level,
    divided by the cell's count); NaN elsewhere.

    ``mix``: a function ``(level, rows, columns) -> moments`` to take the moments from
    instead, or ``(what, sd, params, lat)`` to take the standard deviations or the correlations
    (``what``: ``"sd"``, ``"correlation"`` or ``"both"``) from the OI instead: its error
    standard deviation ``sd`` ``(level, cell)`` and its covariance ``params`` per level, at the
    cells' latitudes ``lat``."""
    n, nz, ncell = samples.shape
    sea = np.all(np.isfinite(samples), axis=0)
    out = np.full((nz, ncell), np.nan)
    for k in range(nz):
        count = bins.count[k].ravel()
        obs = np.flatnonzero((count > 0) & sea[k])
        todo = np.flatnonzero((count == 0) & sea[k])
        if obs.size == 0 or todo.size == 0:
            continue
        a = samples[:, k].astype(np.float64)
        mean = a.mean(0) if centred else np.zeros(ncell)
        if callable(mix):
            m_oo, m_to = mix(k, obs, obs), mix(k, todo, obs)
        else:
            a -= mean
            a_o = a[:, obs]
            m_oo = a_o.T @ a_o / n
            m_to = a[:, todo].T @ a_o / n
            if mix is not None:
                m_oo, m_to = mixed(a, obs, todo, m_oo, m_to, k, xyz, *mix)
        m_oo[np.diag_indices(obs.size)] += noise_var[k] / count[obs]
        d = bins.mean[k].ravel()[obs] - clim[k, obs] - mean[obs]
        m = min(neighbours, obs.size)
        _, near = cKDTree(xyz[obs]).query(xyz[todo], k=m)
        near = np.asarray(near).reshape(todo.size, m)
        system = m_oo[near[:, :, None], near[:, None, :]]
        rhs = np.take_along_axis(m_to, near, axis=1)
        w = np.linalg.solve(system, rhs[..., None])[..., 0]
        out[k, todo] = mean[todo] + (w * d[near]).sum(1)
    return out


def mixed(a, obs, todo, m_oo, m_to, k, xyz, what, sd, params, lat):
    """The moments with the samples' standard deviations or correlations swapped for the
    OI's (see :func:`kriged`)."""
    s = np.sqrt(np.mean(a * a, axis=0))
    if what in ("correlation", "both"):
        rho = []
        for rows in (obs, todo):
            d2, dy2 = pair_distances(xyz[rows], lat[rows], xyz[obs], lat[obs])
            ml = 0.5 * (lat[rows][:, None] + lat[obs][None, :])
            rho.append(correlation(d2, dy2, ml, params[k]))
    else:
        rho = [m_oo / np.outer(s[obs], s[obs]), m_to / np.outer(s[todo], s[obs])]
    scale = sd[k] if what in ("sd", "both") else s
    return (np.outer(scale[obs], scale[obs]) * rho[0], np.outer(scale[todo], scale[obs]) * rho[1])


FIT_CELLS = 400
"""Sea cells per level whose pairs the covariance families are fitted to."""


def cell_features(month: pd.Timestamp, depth, levels, lat, lon) -> dict[str, np.ndarray]:
    """Per level and cell: the climatology's gradients as the OI has them (vertical °C/m,
    northward and eastward °C/km, 0 where undefined), their magnitude (``grad``), its
    reference per level (``ref``) and the two's ratio (``g``), and the cells' positions."""
    when = np.array([month], "datetime64[ns]")
    bg = ClimatologySpec.shipped().on_grid(float(day_of_year(when)[0]), depth, lat, lon)
    parts = [np.nan_to_num(g[levels].reshape(levels.size, -1)) for g in
             gradient_components(bg, depth, lat, lon)]  # fmt: skip
    grad = gradient_magnitude(bg, depth, lat, lon)[levels].reshape(levels.size, -1)
    ref = gradient_reference(grad, np.isfinite(bg[levels]).reshape(levels.size, -1))
    g = grad / np.where(ref > 0, ref, 1.0)[:, None]
    la, lo = (a.ravel() for a in np.meshgrid(lat, lon, indexing="ij"))
    return {"gz": parts[0], "gy": parts[1], "gx": parts[2], "g": g, "grad": grad, "ref": ref,
            "xyz": unit_vectors(la, lo), "lat": la}  # fmt: skip


def family(kind: str, theta: np.ndarray, f: dict, k: int, rows, cols) -> np.ndarray:
    """Second moments between cells ``rows`` and ``cols`` of level ``k`` under a covariance
    family with parameters ``theta`` (log scales; a logit share):

    - ``"oi"``: the OI's, ``σ² p_a p_b [(1 − μ) e^(−d²/2L²) + μ e^(−d²/2ℓ²)]`` with
      ``p² = (1 + β ĝ²)/(1 + β)``;
    - ``"displacement"``: the anomalies of a heave ``η``, a lateral shift ``ξ`` and a uniform
      part, ``A² ∂zT̄_a ∂zT̄_b e^(−d²/2L₁²) + B² ∇T̄_a·∇T̄_b e^(−d²/2L₂²) + C² e^(−d²/2L₃²)``:
      a shift's anomalies correlate as the gradients' directions do;
    - ``"isotropic"``: the samples' own standard deviations and their correlation averaged
      by distance (``theta`` = bin centres, the curve, the standard deviations): any shape
      of correlation against distance, negative lobes included, the same everywhere.
    """
    d2, _ = pair_distances(f["xyz"][rows], f["lat"][rows], f["xyz"][cols], f["lat"][cols])
    if kind == "isotropic":
        edges, curve, sd = theta
        return np.outer(sd[rows], sd[cols]) * np.interp(np.sqrt(d2), edges, curve)
    if kind == "oi":
        sigma, beta, big, small = np.exp(theta[:4])
        mu = 1.0 / (1.0 + np.exp(-theta[4]))
        p = np.sqrt((1.0 + beta * f["g"][k] ** 2) / (1.0 + beta))
        rho = (1 - mu) * np.exp(-0.5 * d2 / big**2) + mu * np.exp(-0.5 * d2 / small**2)
        return sigma**2 * np.outer(p[rows], p[cols]) * rho
    a, b, c, l1, l2, l3 = np.exp(theta)
    gz, gy, gx = (f[n][k] for n in ("gz", "gy", "gx"))
    shift = np.outer(gy[rows], gy[cols]) + np.outer(gx[rows], gx[cols])
    heave = a**2 * np.outer(gz[rows], gz[cols]) * np.exp(-0.5 * d2 / l1**2)
    return heave + b**2 * shift * np.exp(-0.5 * d2 / l2**2) + c**2 * np.exp(-0.5 * d2 / l3**2)


def fit_family(kind: str, samples: np.ndarray, f: dict, seed: int = 0):
    """``family``'s parameters per level, least squares against the samples' second moments
    between :data:`FIT_CELLS` random sea cells (every pair once)."""
    rng = np.random.default_rng(seed)
    thetas = []
    for k in range(samples.shape[1]):
        sea = np.flatnonzero(np.all(np.isfinite(samples[:, k]), axis=0))
        cells = np.sort(rng.choice(sea, min(FIT_CELLS, sea.size), replace=False))
        a = samples[:, k][:, cells].astype(np.float64)
        target = a.T @ a / a.shape[0]
        upper = np.triu_indices(cells.size)
        if kind == "isotropic":
            thetas.append(distance_curve(samples[:, k], f, cells, target, upper))
            continue
        rms = float(np.sqrt(np.mean(np.diag(target))))
        if kind == "oi":
            start = [*np.log([rms, 1.0, 1500.0, 300.0]), 0.0]
        else:
            start = np.log([30.0, 30.0, 0.3 * rms + 1e-6, 1000.0, 300.0, 1500.0])

        def residual(theta, k=k, cells=cells, target=target, upper=upper):
            return (family(kind, theta, f, k, cells, cells) - target)[upper]

        thetas.append(least_squares(residual, start, method="lm", max_nfev=400).x)
    return thetas


CURVE_KM = 100.0
"""Width of the distance bins of the ``"isotropic"`` family."""


def distance_curve(level: np.ndarray, f: dict, cells, target, upper):
    """The ``"isotropic"`` family's parameters of one level: bin centres (km) from 0, the
    mean correlation of the pairs of ``cells`` in each bin (1 at 0, empty bins interpolated),
    and every cell's root-mean-square departure."""
    sd = np.sqrt(np.mean(np.nan_to_num(level.astype(np.float64)) ** 2, axis=0))
    rho = (target / np.outer(sd[cells], sd[cells]))[upper]
    d2, _ = pair_distances(f["xyz"][cells], f["lat"][cells], f["xyz"][cells], f["lat"][cells])
    d = np.sqrt(d2[upper])
    which = np.floor(d / CURVE_KM).astype(int)
    sums = np.bincount(which, rho)
    counts = np.bincount(which)
    centres = (np.arange(counts.size) + 0.5) * CURVE_KM
    seen = counts > 0
    edges = np.concatenate([[0.0], centres[seen]])
    curve = np.concatenate([[1.0], sums[seen] / counts[seen]])
    return edges, curve, sd


def oi_error(oi: xr.Dataset, f: dict, depth, levels):
    """The OI's background-error standard deviation ``(level, cell)`` on ``levels`` (its
    fitted ``sigma_b`` times its error pattern on the climatology's gradients ``f`` of
    :func:`cell_features`) and its covariance parameters per level."""
    params = params_from_summary(json.loads(oi.attrs["oi_fitted_covariance"]), depth)
    params = [params[k] for k in levels]
    sd = [
        p.sigma_b * error_pattern(f["grad"][i], f["ref"][i], p.gradient_weight)
        for i, p in enumerate(params)
    ]
    return np.array(sd), params


def in_month(profiles: xr.Dataset, month: pd.Timestamp) -> xr.Dataset:
    """The profiles of ``month``."""
    when = pd.DatetimeIndex(profiles["time"].values)
    return profiles.isel(profile=np.flatnonzero(when.to_period("M") == month.to_period("M")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, nargs="+", default=[0, 3, 6, 9])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.03, 0.075])
    parser.add_argument("--neighbours", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--decompose", action="store_true",
                        help="also the validation world's moments with the OI's standard "
                        "deviations or correlations in their place")  # fmt: skip
    parser.add_argument("--families", action="store_true",
                        help="also covariance families fitted to the validation world's "
                        "moments")  # fmt: skip
    parser.add_argument("--moments", nargs="+", default=["test", "validation"],
                        help="worlds whose moments the estimates use")  # fmt: skip
    args = parser.parse_args()
    cfg = SkillConfig()
    months = pd.DatetimeIndex([f"{cfg.test_months[i]}-15" for i in args.months])
    truth = world_months(months, RESOLUTION, "test")
    depth = truth["depth"].values
    levels = np.flatnonzero(depth < SCORE_DEPTH)
    lat, lon = truth["lat"].values, truth["lon"].values
    xyz = unit_vectors(*(a.ravel() for a in np.meshgrid(lat, lon, indexing="ij")))
    clim = climatology(truth).values
    true_noise = np.full(levels.size, cfg.noise_sd**2)
    runs = {}
    for fraction in args.fractions:
        used, withheld = observe(truth, fraction, cfg.seed, cfg.noise_sd, cfg.withheld)
        start = time.perf_counter()
        oi = target_of(truth).depthdif.reconstruct(obs=used).compute(scheduler="synchronous")
        print(f"{fraction:.1%}: OI in {time.perf_counter() - start:.0f} s", flush=True)
        runs[fraction] = (used, withheld, oi)
    rows: dict[tuple[float, str], list[float]] = {}
    parts: dict[tuple[float, str], list[list[float]]] = {}
    for t, month in enumerate(months):
        one = truth.isel(time=[t])
        base = clim[t, levels].reshape(levels.size, -1)

        def filled(dep: np.ndarray, t=t, base=base) -> np.ndarray:
            """The climatology of month ``t`` plus the departures ``dep`` where there are any."""
            field = clim[t].copy()
            field[levels] = np.where(np.isfinite(dep), base + dep, base).reshape(
                field[levels].shape
            )
            return field

        estimates = {f: {"climatology": clim[t], "OI": oi["thetao"].values[t]}
                     for f, (_, _, oi) in runs.items()}  # fmt: skip
        bins = {}
        for fraction, (used, _, _) in runs.items():
            mine = in_month(used, month)
            bins[fraction] = bin_on_levels(
                mine["lat"].values, mine["lon"].values, mine["depth"].values,
                mine["thetao"].values, mine["thetao_error"].values, depth[levels], lat, lon,
            )  # fmt: skip
        feats = None
        if args.decompose or args.families:
            feats = cell_features(month, depth, levels, lat, lon)
        for world in args.moments:
            start = time.perf_counter()
            samples = departures(month, levels, world)
            print(f"{month:%Y-%m}: {samples.shape[0]} months of the {world} world in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
            if args.families and world == "validation":
                start = time.perf_counter()
                fitted = {
                    kind: fit_family(kind, samples, feats)
                    for kind in ("oi", "displacement", "isotropic")
                }
                print(f"  families fitted in {time.perf_counter() - start:.0f} s", flush=True)
            for fraction, b in bins.items():
                for centred in (False, True):
                    for nb in args.neighbours:
                        dep = kriged(samples, b, base, true_noise, xyz, nb, centred)
                        kind = "and mean" if centred else "about the climatology"
                        estimates[fraction][f"{world} world's moments {kind}, {nb} neighbours"] = (
                            filled(dep)
                        )
                if args.decompose and world == "validation":
                    nb = max(args.neighbours)
                    oi_sd, params = oi_error(runs[fraction][2], feats, depth, levels)
                    oi_noise = np.array([p.sigma_o**2 for p in params]) + cfg.noise_sd**2
                    for what, label, noise in (
                        ("sd", "the OI's standard deviations, learned correlations", true_noise),
                        (
                            "correlation",
                            "learned standard deviations, the OI's correlations and error",
                            oi_noise,
                        ),
                        ("both", "the OI's covariance and error", oi_noise),
                    ):
                        dep = kriged(samples, b, base, noise, xyz, nb, False,
                                     (what, oi_sd, params, feats["lat"]))  # fmt: skip
                        estimates[fraction][f"{label}, {nb} neighbours"] = filled(dep)
                if args.families and world == "validation":
                    nb = max(args.neighbours)
                    for kind, thetas in fitted.items():
                        dep = kriged(samples, b, base, true_noise, xyz, nb, False,
                                     lambda k, r, c, kind=kind, th=thetas, f=feats:
                                     family(kind, th[k], f, k, r, c))  # fmt: skip
                        label = f"the {kind} family fitted to the validation world's moments"
                        estimates[fraction][f"{label}, {nb} neighbours"] = filled(dep)
            del samples
        for fraction, (_, withheld, oi) in runs.items():
            kw = {"obs_count": oi["obs_count"].values[t : t + 1],
                  "withheld": in_month(withheld, month)}  # fmt: skip
            for name, field in estimates[fraction].items():
                scores = score(field[None], one, **kw)
                rows.setdefault((fraction, name), []).append(scores["rmse_unobserved"])
                parts.setdefault((fraction, name), []).append(
                    [*scores["rmse_unobserved_bands"][:4], *by_latitude(field, one, kw)]
                )
    print("\n| columns | estimate | RMSE unobserved, 0–2000 m (°C) | ÷ OI | by month |")
    print("|---:|---|---:|---:|---|")
    for (fraction, name), values in sorted(rows.items(), key=lambda kv: kv[0][0]):
        rms = float(np.sqrt(np.mean(np.square(values))))
        oi_rms = float(np.sqrt(np.mean(np.square(rows[(fraction, "OI")]))))
        each = ", ".join(f"{v:.3f}" for v in values)
        print(f"| {fraction:.1%} | {name} | {rms:.3f} | {rms / oi_rms:.2f} | {each} |")
    print("\n| columns | estimate | 0–100 m | 100–500 m | 500–1000 m | 1000–2000 m "
          "| within 15° of the equator | poleward |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for (fraction, name), values in sorted(parts.items(), key=lambda kv: kv[0][0]):
        cells = " | ".join(f"{v:.3f}" for v in np.sqrt(np.mean(np.square(values), axis=0)))
        print(f"| {fraction:.1%} | {name} | {cells} |")


def by_latitude(field: np.ndarray, truth: xr.DataArray, kw: dict) -> list[float]:
    """RMSE at unobserved ocean points over 0–2000 m within 15° of the equator and poleward of
    it (every point alike, no area weights)."""
    err = field - truth.values[0]
    keep = np.isfinite(err) & (kw["obs_count"][0] == 0)
    keep &= (truth["depth"].values < SCORE_DEPTH)[:, None, None]
    tropics = (np.abs(truth["lat"].values) < 15.0)[None, :, None]
    return [float(np.sqrt(np.mean(err[keep & w] ** 2))) for w in (tropics, ~tropics)]


if __name__ == "__main__":
    main()
