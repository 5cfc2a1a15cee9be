"""The shipped conditional model on the validation world: step counts, and estimators of the mean.

Run: ``.venv/bin/python benchmarks/conditional_validation.py`` (``--tables steps``,
``--tables means`` or ``--tables calibration`` for one; ``--model`` another conditional
checkpoint). Months
2002-01, 2003-04, 2005-07 and 2006-09 of the ``"validation"`` world at the model's resolution
(never the test world the skill benchmark scores), observed Argo-like as the skill benchmark
observes them (no profile withheld), binned and fed to the model exactly as ``reconstruct``
feeds it (:func:`xdepthdif.analysis.conditional.conditional_inputs`); members drawn with the
seeds ``reconstruct`` gives them. Scores at unobserved sea points over 0–2000 m, area-weighted.

1. **steps**: the 8-member ensemble at 3, 5, 10 and 50 sampler steps (5, 9, 19 and 99 network
   evaluations per member), the card's spread factors for each step count applied: RMSE of the
   ensemble mean, fair CRPS, spread-skill ``sqrt((M+1)/M)·spread / RMSE``.
2. **means**: estimators of the conditional mean: the OI the model is fed, the mean of 8 and of
   64 members (10 steps), and the mean of 8 one-step denoised estimates (one network
   evaluation from the largest noise level: the network's own estimate of the mean).
3. **calibration**: how many months and shares the spread calibration needs. Per-level factors
   ``sqrt(Σ error² / Σ spread²)`` of the raw 10-step ensemble (no factor of the card), fitted
   on 4 or 16 of the calibration months of ``xdepthdif calibrate`` (the validation world,
   quarterly 2010-01 … 2013-10) observed at 3 %, or at 3 % and 7.5 % pooled, then applied to
   the four months above: fair CRPS and spread-skill of each design, by depth band too.
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
import torch

from xdepthdif.analysis.conditional import conditional_inputs
from xdepthdif.analysis.diffusion import load_denoiser, member_seed
from xdepthdif.core.conditional import conditioning_channels, sample_conditional
from xdepthdif.evaluation.calibration import WORLD_CALIBRATION_MONTHS
from xdepthdif.evaluation.protocol import observe
from xdepthdif.evaluation.scores import crps_ensemble
from xdepthdif.obs import bin_profiles, interpolate_to_levels
from xdepthdif.prior.model import resolve_model, spread_scale_for, verify
from xdepthdif.prior.world import world_months
from xdepthdif.timing import day_of_year, month_times

MONTHS = ("2002-01", "2003-04", "2005-07", "2006-09")
FRACTIONS = (0.03, 0.075)
MEMBERS = 8


def binned_months(truth, fraction: float):
    """Each month of ``truth`` observed Argo-like at ``fraction`` of the columns (no profile
    withheld) and binned on its grid: ``(index, day of year, binned profiles)``."""
    depth, lat, lon = (truth[k].values.astype(float) for k in ("depth", "lat", "lon"))
    used, _ = observe(truth, fraction, seed=0, withheld=0.0)
    for i, t in enumerate(truth["time"].values):
        month = used["time"].values.astype("datetime64[M]") == np.datetime64(t, "M")
        u = used.isel(profile=np.flatnonzero(month))
        z = u["depth"].values
        binned = bin_profiles(
            u["lat"].values, u["lon"].values,
            interpolate_to_levels(z, u["thetao"].values, depth), lat, lon,
            interpolate_to_levels(z, u["thetao_error"].values, depth),
        )  # fmt: skip
        yield i, float(day_of_year(np.array([t]))[0]), binned


def cases(truth, card, fraction: float) -> list[dict]:
    """Each month's model inputs, truth and scoring mask at ``fraction`` of the columns."""
    depth, lat, lon = (truth[k].values.astype(float) for k in ("depth", "lat", "lon"))
    out = []
    for i, doy, binned in binned_months(truth, fraction):
        T = truth.values[i]
        inp = conditional_inputs(binned.mean, binned.count, binned.err_var, lat, lon, depth, doy,
                                 np.isfinite(T), card)  # fmt: skip
        keys = ("first_guess", "oi_mean", "oi_sd", "obs", "count")
        extra = conditioning_channels(*(inp[k] for k in keys), inp["sea"], None)
        where = inp["sea"] & (binned.count == 0) & (depth <= 2000)[:, None, None] & np.isfinite(T)
        weight = np.broadcast_to(np.cos(np.deg2rad(lat))[None, :, None], T.shape)[where]
        out.append({"i": i, "doy": doy, "truth": T[where], "inputs": inp, "extra": extra,
                    "where": where, "weight": weight, "lat": lat, "lon": lon})  # fmt: skip
    return out


def draw(denoiser, case, steps: int, members: int) -> tuple[np.ndarray, int]:
    """``members`` members (°C, at the scored points) of ``steps`` steps, ``reconstruct``'s
    seeds."""
    inp, out = case["inputs"], []
    lat, lon = torch.tensor(case["lat"]), torch.tensor(case["lon"])
    target = denoiser.card.conditioning.get("target", "field")
    for j in range(members):
        g = torch.Generator().manual_seed(member_seed(0, case["i"], j))
        with torch.no_grad():
            x, nfe = sample_conditional(denoiser, case["extra"], lat, lon, case["doy"], 1, steps,
                                        g, True, target=target)  # fmt: skip
        out.append((x[0].numpy() * inp["std"] + inp["mu"])[case["where"]])
    return np.stack(out), nfe


def steps_table(denoiser, card, truth) -> None:
    print("| columns | steps | NFE | RMSE of the 8-member mean | fair CRPS | spread-skill |")
    print("|---|---:|---:|---:|---:|---:|")
    for fraction in FRACTIONS:
        months = cases(truth, card, fraction)
        for steps in (3, 5, 10, 50):
            sums, nfe = 0.0, 0
            scale = np.asarray(spread_scale_for(card.normalisation, steps))
            for case in months:
                members, nfe = draw(denoiser, case, steps, MEMBERS)
                sums = sums + _sums(members, case, scale).sum(1)
            se, var, crps, total = sums
            rmse = math.sqrt(se / total)
            skill = math.sqrt((MEMBERS + 1) / MEMBERS * var / total) / rmse
            print(f"| {fraction:.1%} | {steps} | {nfe} | {rmse:.3f} | {crps / total:.3f} | "
                  f"{skill:.2f} |", flush=True)  # fmt: skip


def means_table(denoiser, card, truth) -> None:
    print("| columns | OI | mean of 8 members | mean of 64 members | mean of 8 one-step denoises |")
    print("|---|---:|---:|---:|---:|")
    for fraction in FRACTIONS:
        sums = np.zeros(4)
        total = 0.0
        for case in cases(truth, card, fraction):
            inp, w, t = case["inputs"], case["weight"], case["truth"]
            oi = (inp["oi_mean"] * inp["std"] + inp["mu"])[case["where"]]
            many, _ = draw(denoiser, case, 10, 64)
            one, _ = draw(denoiser, case, 1, MEMBERS)
            for k, est in enumerate((oi, many[:MEMBERS].mean(0), many.mean(0), one.mean(0))):
                sums[k] += float((w * (est - t) ** 2).sum())
            total += float(w.sum())
        row = " | ".join(f"{math.sqrt(s / total):.3f}" for s in sums)
        print(f"| {fraction:.1%} | {row} |", flush=True)


def _sums(members, case, factor=None) -> np.ndarray:
    """Weighted sums of one case per level: squared error of the mean, variance, fair CRPS,
    weight (``factor`` per level scales the deviations from the mean first)."""
    level, w, t = np.nonzero(case["where"])[0], case["weight"], case["truth"]
    centre = members.mean(0)
    if factor is not None:
        members = centre + factor[level] * (members - centre)
    rows = (w * (centre - t) ** 2, w * members.var(0, ddof=1), w * crps_ensemble(members, t), w)
    return np.stack([np.bincount(level, r, minlength=case["where"].shape[0]) for r in rows])


def calibration_table(denoiser, card, truth) -> None:
    """Spread factors fitted on 4 or 16 calibration months, at 3 % or both shares, scored on
    the four validation months."""
    res = card.native_resolution_deg
    calib = world_months(month_times(WORLD_CALIBRATION_MONTHS), res, "validation")
    first_four = {0, 5, 10, 15}  # 2010-01, 2011-04, 2012-07, 2013-10: one per season
    fits = {}
    for fraction in FRACTIONS:
        for case in cases(calib, card, fraction):
            members, _ = draw(denoiser, case, 10, MEMBERS)
            fits[fraction, case["i"]] = _sums(members, case)[:2]
    designs = {"none (raw ensemble)": None}
    for name, months in (("4 months", first_four), ("16 months", set(range(16)))):
        for label, shares in (("3 %", FRACTIONS[:1]), ("3 % and 7.5 %", FRACTIONS)):
            se, var = sum(v for (f, i), v in fits.items() if f in shares and i in months)
            factor = np.sqrt(se / var) / math.sqrt((MEMBERS + 1) / MEMBERS)
            designs[f"{name}, {label}"] = np.clip(np.nan_to_num(factor, nan=1.0), 0.2, 5.0)
    depth = np.asarray(card.levels)
    print("| fitted on | columns | fair CRPS | spread-skill | 0–200 m | 200–2000 m |")
    print("|---|---|---:|---:|---:|---:|")
    drawn = {f: [(c, draw(denoiser, c, 10, MEMBERS)[0]) for c in cases(truth, card, f)]
             for f in FRACTIONS}  # fmt: skip
    for name, factor in designs.items():
        for fraction in FRACTIONS:
            se, var, crps, w = sum(_sums(m, c, factor) for c, m in drawn[fraction])
            skill = [math.sqrt((MEMBERS + 1) / MEMBERS * var[k].sum() / se[k].sum())
                     for k in (slice(None), depth <= 200, depth > 200)]  # fmt: skip
            print(f"| {name} | {fraction:.1%} | {crps.sum() / w.sum():.4f} | {skill[0]:.2f} | "
                  f"{skill[1]:.2f} | {skill[2]:.2f} |", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="conditional")
    ap.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES)[:2])
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    path = resolve_model(args.model)
    card = verify(path)
    denoiser = load_denoiser(str(path), card.sha256, "cpu")
    truth = world_months(month_times(MONTHS), card.native_resolution_deg, "validation")
    for name in args.tables:
        TABLES[name](denoiser, card, truth)
        print()


TABLES = {"steps": steps_table, "means": means_table, "calibration": calibration_table}

if __name__ == "__main__":
    main()
