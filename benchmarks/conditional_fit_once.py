"""The conditional model's inputs with the OI covariance fitted per time step (as
``reconstruct`` does) or once for all time steps (as ``reconstruct(method="oi")`` fits it).

A fit per time step costs a conditional time step about 4 s of host work
(``benchmarks/conditional_step.py``). This checks what fitting once would cost in skill: the
months and shares of ``conditional_validation.py`` (the ``"validation"`` world at the model's
resolution), the OI the model is fed and the mean of 8 members (10 steps), RMSE (°C) at
unobserved sea points over 0–2000 m, with the covariance fitted to each month's own
observations and fitted once to the four months together
(:func:`xdepthdif.analysis.oi_fit.fit_for_steps`). A check, not an option of the package.

Run: ``.venv/bin/python benchmarks/conditional_fit_once.py`` (about 4 minutes).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import torch
from conditional_validation import FRACTIONS, MEMBERS, MONTHS, binned_months, cases, draw

import xdepthdif.prior.pool_month as pool_month
from xdepthdif.analysis.diffusion import load_denoiser
from xdepthdif.analysis.oi import OIConfig
from xdepthdif.analysis.oi_fit import fit_for_steps
from xdepthdif.background import ClimatologySpec
from xdepthdif.prior.model import resolve_model, verify
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times


def fitted_once(truth, fraction: float) -> OIConfig:
    """The OI configuration fitted to all months of ``truth`` observed as :func:`cases` does."""
    depth, lat, lon = (truth[k].values.astype(float) for k in ("depth", "lat", "lon"))
    steps = []
    for _, doy, binned in binned_months(truth, fraction):
        bg = ClimatologySpec.shipped().on_grid(doy, depth, lat, lon)
        steps.append((binned.mean, binned.count, binned.err_var, bg))
    params = fit_for_steps(steps, depth, lat, lon, OIConfig())
    return dataclasses.replace(OIConfig(), params=tuple(params))


def main() -> None:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    path = resolve_model("conditional")
    card = verify(path)
    denoiser = load_denoiser(str(path), card.sha256, "cpu")
    truth = world_months(month_times(MONTHS), card.native_resolution_deg, "validation")
    per_step = pool_month.fit_covariance
    print("| columns | covariance fitted | OI | mean of 8 members |\n|---|---|---:|---:|")
    for fraction in FRACTIONS:
        once = fitted_once(truth, fraction)
        for name, fit in (("per time step", per_step), ("once", lambda *a, once=once: once)):
            pool_month.fit_covariance = fit  # what conditional_inputs calls
            sums, total = [0.0, 0.0], 0.0
            for case in cases(truth, card, fraction):
                inp, w, t = case["inputs"], case["weight"], case["truth"]
                oi = (inp["oi_mean"] * inp["std"] + inp["mu"])[case["where"]]
                members, _ = draw(denoiser, case, 10, MEMBERS)
                sums[0] += float((w * (oi - t) ** 2).sum())
                sums[1] += float((w * (members.mean(0) - t) ** 2).sum())
                total += float(w.sum())
            pool_month.fit_covariance = per_step
            oi_rmse, mean_rmse = (math.sqrt(s / total) for s in sums)
            print(f"| {fraction:.1%} | {name} | {oi_rmse:.4f} | {mean_rmse:.4f} |", flush=True)


if __name__ == "__main__":
    main()
