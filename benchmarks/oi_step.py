"""Time one OI time step on global grids, today's code beside an earlier one; prints a table.

Run: ``.venv/bin/python benchmarks/oi_step.py`` (``--quick`` for the 2° grid only;
``--fit-baseline REV`` times the covariance fit of revision ``REV`` beside today's instead,
and checks that both fit the same parameters). The earlier
OI is read from the git history (``--baseline``, by default the last version with one Gaussian
scale, a level-mean first guess and every level solved from scratch), so this needs a clone
with its history.

The super-observations are Argo-like: whole columns in a share of the ocean cells (the shipped
climatology's sea mask), every level to 2000 m, none below; values are a month of the training
world's test split (:func:`xdepthdif.prior.world.world_months`) plus 0.05 °C of noise, so the
fitted covariance has the shape a real month gives it (innovations without any correlation
between cells would make today's fit choose its white model, and the analysis nearly free).
Each case is timed for the earlier OI, today's analysis with its covariance given, and today's
covariance fit
(:func:`xdepthdif.analysis.oi_fit.fit_for_steps` on the step), side by side in one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from xdepthdif.analysis.oi import OIConfig, oi_analysis
from xdepthdif.analysis.oi_fit import fit_for_steps
from xdepthdif.background import ClimatologySpec, climatology
from xdepthdif.prior.synthetic import en4_like_levels
from xdepthdif.prior.world import world_months
from xdepthdif.timing import day_of_year

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "267c6f4"


def load_module(rev: str, path: str, name: str, edit=lambda text: text):
    """The module ``path`` of git revision ``rev`` (its text passed through ``edit``), imported
    as ``name`` (registered in ``sys.modules``, where dataclasses look their module up; a name
    inside ``xdepthdif.analysis`` lets relative imports find today's sibling modules)."""
    try:
        text = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        sys.exit(f"Cannot read {path} from git revision {rev}: {err}. Run in a clone.")
    file = Path(tempfile.mkdtemp()) / f"{name.rpartition('.')[2]}.py"
    file.write_text(edit(text))
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_baseline(rev: str):
    """The ``oi_analysis`` of revision ``rev`` (``src/xdepthdif/methods/oi.py``), importable
    against today's ``xdepthdif.grid.geo``."""
    return load_module(
        rev, "src/xdepthdif/methods/oi.py", "oi_baseline",
        lambda text: text.replace("from ..geo import", "from xdepthdif.grid.geo import"),
    ).oi_analysis  # fmt: skip


def load_fit_baseline(rev: str):
    """The ``fit_for_steps`` of revision ``rev`` (``xdepthdif/analysis/oi_fit.py``), beside
    today's in the package."""
    return load_module(
        rev, "xdepthdif/analysis/oi_fit.py", "xdepthdif.analysis.oi_fit_earlier"
    ).fit_for_steps


def case(resolution: float, share: float, seed: int = 0):
    """Super-observations, first guess and sea mask of one global case."""
    rng = np.random.default_rng(seed)
    lat = np.arange(-90 + resolution / 2, 90, resolution)
    lon = np.arange(resolution / 2, 360, resolution)
    depth = en4_like_levels()
    when = np.array(["2003-07-15"], "datetime64[ns]")
    ocean = np.isfinite(climatology(time=when, depth=depth, lat=lat, lon=lon).values[0])
    spec = ClimatologySpec.shipped()
    bg = spec.on_grid(float(day_of_year(when)[0]), depth, lat, lon)  # as the OI gets it
    truth = world_months(when, resolution, "test", seed=seed).values[0]
    columns = ocean[0] & (rng.random(ocean.shape[1:]) < share)
    observed = ocean & np.isfinite(truth) & columns[None] & (depth <= 2000.0)[:, None, None]
    obs = np.where(observed, truth + rng.normal(0.0, 0.05, bg.shape), np.nan)
    count = observed.astype(int)
    err = np.full(bg.shape, np.nan)
    return (obs, count, err, lat, lon, depth, ocean, bg)


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the earlier OI")
    parser.add_argument(
        "--fit-baseline",
        metavar="REV",
        help="also time the covariance fit of git revision REV beside today's (and check that "
        "both fit the same parameters)",
    )
    args = parser.parse_args()
    if args.fit_baseline:
        fit_table(load_fit_baseline(args.fit_baseline), args)
        return
    old_oi = load_baseline(args.baseline)
    cases = [(2.0, 0.06)] if args.quick else [(2.0, 0.06), (1.0, 0.03), (1.0, 0.06)]
    print(f"cores: {os.cpu_count()}; baseline: {args.baseline}")
    print(
        "| grid | levels | ocean columns observed | earlier OI (s) | today: analysis (s) "
        "| today: fit (s) | speed-up of the analysis |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for res, share in cases:
        obs, count, err, lat, lon, depth, ocean, bg = case(res, share)
        t_old, _ = timed(lambda: old_oi(obs, count, err, lat, lon, depth, ocean, bg))  # noqa: B023
        t_fit, params = timed(
            lambda: fit_for_steps([(obs, count, err, bg)], depth, lat, lon, OIConfig())  # noqa: B023
        )
        t_new, _ = timed(
            lambda: oi_analysis(obs, count, err, lat, lon, depth, ocean, bg, params=params)  # noqa: B023
        )
        print(
            f"| global {res:g}° | {depth.size} | {share:.0%} | {t_old:.1f} | {t_new:.1f} "
            f"| {t_fit:.1f} | {t_old / t_new:.1f}× |"
        )


def fit_table(old_fit, args, rounds: int = 3) -> None:
    """The covariance fit of an earlier revision and today's, interleaved (median of
    ``rounds``), on the cases of the OI table."""
    cases = [(2.0, 0.06)] if args.quick else [(2.0, 0.06), (1.0, 0.03), (1.0, 0.06)]
    print(f"cores: {os.cpu_count()}; earlier fit: {args.fit_baseline}")
    print("| grid | ocean columns observed | earlier fit (s) | today's fit (s) | speed-up "
          "| same parameters |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|")
    for res, share in cases:
        obs, count, err, lat, lon, depth, _, bg = case(res, share)
        args_ = ([(obs, count, err, bg)], depth, lat, lon, OIConfig())
        times: dict[str, list[float]] = {"old": [], "new": []}
        fits = {}
        for _ in range(rounds):
            for key, fn in (("old", old_fit), ("new", fit_for_steps)):
                spent, fits[key] = timed(lambda fn=fn, a=args_: fn(*a))
                times[key].append(spent)
        t_old, t_new = (float(np.median(times[k])) for k in ("old", "new"))
        same = "yes" if fits["old"] == fits["new"] else "**no**"
        print(f"| global {res:g}° | {share:.0%} | {t_old:.2f} | {t_new:.2f} "
              f"| {t_old / t_new:.2f}× | {same} |")  # fmt: skip


if __name__ == "__main__":
    main()
