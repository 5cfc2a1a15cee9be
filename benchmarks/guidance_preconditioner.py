"""The guided prior's conjugate gradient, preconditioned level by level or column by column,
side by side on the validation world.

Run: ``.venv/bin/python benchmarks/guidance_preconditioner.py`` (``--model world``, the
default; ``--steps 3 10``; ``--fractions 0.03 0.075``). The model is copied twice into a
temporary folder: one copy's card without a ``vertical_correlation`` (CG preconditioned by the
diagonal of a unit-variance prior, level by level), one with the correlation
:func:`xdepthdif.evaluation.calibration.vertical_correlation` computes (column by column,
:func:`xdepthdif.core.guidance.column_preconditioner`). Both sample the same months of the
``"validation"`` world (never the test world the skill benchmark scores), observed Argo-like
as the skill benchmark observes them, with the same seeds. The table gives the RMSE at
unobserved points and at observed cells (area-weighted, 0–2000 m; the second is how well the
ensemble mean fits the observations), the spread-skill ratio at unobserved points and the
seconds per time step.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from xdepthdif.analysis import diffusion
from xdepthdif.evaluation.calibration import vertical_correlation
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.prior.model import checkpoint_paths, resolve_model, update_card, verify
from xdepthdif.prior.world import world_months
from xdepthdif.timing import month_times

MONTHS = ("2003-04", "2006-09")


def copies(model: str, folder: Path) -> dict[str, Path]:
    """The model without and with its vertical correlation, as two checkpoints in ``folder``."""
    src = resolve_model(model)
    out = {}
    for name in ("level", "column"):
        for a, b in zip(checkpoint_paths(src), checkpoint_paths(folder / name), strict=True):
            shutil.copyfile(a, b)
        out[name] = checkpoint_paths(folder / name)[0]
    norm = dict(verify(out["level"]).normalisation)
    norm.pop("vertical_correlation", None)
    update_card(out["level"], normalisation=norm)
    corr = vertical_correlation(out["column"])
    if corr is None:
        raise SystemExit(f"{model}: no vertical correlation (its card is not about the shipped "
                         "climatology, or the calibration data lack its levels).")  # fmt: skip
    update_card(out["column"], normalisation=norm | {"vertical_correlation": corr.tolist()})
    return out


def rmse(err: np.ndarray, where: np.ndarray, weights: np.ndarray, depth: np.ndarray) -> float:
    """Area-weighted RMSE over 0–2000 m where ``where`` holds."""
    upper = (depth <= 2000)[None, :, None, None]
    w = np.broadcast_to(weights, err.shape) * (where & upper & np.isfinite(err))
    return math.sqrt(float(np.nansum(w * np.nan_to_num(err) ** 2) / w.sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world")
    ap.add_argument("--steps", type=int, nargs="+", default=[3, 10])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.03, 0.075])
    ap.add_argument("--months", nargs="+", default=list(MONTHS))
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument(
        "--nuggets", type=float, nargs="+", default=[diffusion.COLUMN_NUGGET],
        help="shares of the identity blended into the correlation (column preconditioner)",
    )  # fmt: skip
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        models = copies(args.model, Path(tmp))
        res = verify(models["column"]).native_resolution_deg
        truth = world_months(month_times(args.months), res, "validation")
        t = truth.transpose("time", "depth", "lat", "lon").values
        depth = truth["depth"].values
        weights = np.cos(np.deg2rad(truth["lat"].values))[None, None, :, None]
        print(f"{args.model}: {len(args.months)} validation months at {res:g}°, "
              f"{args.members} members")  # fmt: skip
        print("| columns | steps | CG preconditioner | RMSE unobserved | RMSE at observed cells "
              "| spread/skill unobserved | s/step |")  # fmt: skip
        print("|---|---:|---|---:|---:|---:|---:|")
        for fraction in args.fractions:
            used, _ = observe(truth, fraction, seed=0)
            for steps in args.steps:
                variants = [("level", models["level"], None)]
                variants += [("column", models["column"], nu) for nu in args.nuggets]
                for name, path, nugget in variants:
                    if nugget is not None:
                        diffusion.COLUMN_NUGGET = nugget
                        name = f"column, nugget {nugget:g}"
                    t0 = time.perf_counter()
                    out = target_of(truth).depthdif.reconstruct(
                        obs=used, method="diffusion", model=str(path), steps=steps,
                        members=args.members,
                    ).compute()  # fmt: skip
                    sec = (time.perf_counter() - t0) / len(args.months)
                    err = out["thetao"].transpose("time", "depth", "lat", "lon").values - t
                    observed = out["obs_count"].transpose("time", "depth", "lat", "lon").values > 0
                    sd = out["thetao_sd"].transpose("time", "depth", "lat", "lon").values
                    r_un = rmse(err, ~observed, weights, depth)
                    m = args.members
                    spread = rmse(sd, ~observed, weights, depth) * math.sqrt((m + 1) / m)
                    print(f"| {fraction:.1%} | {steps} | {name} | {r_un:.3f} | "
                          f"{rmse(err, observed, weights, depth):.3f} | {spread / r_un:.2f} | "
                          f"{sec:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
