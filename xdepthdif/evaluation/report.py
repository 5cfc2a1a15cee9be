"""The skill benchmark's report, written from the case files of a run (``cases/``):
scores with bootstrap confidence intervals over the test months (:func:`score_table`), the
targets (:func:`targets`), ``skill.md``, ``skill.json`` and figures (:func:`write_report`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .cases import case_files, read_case
from .metrics import DEPTH_BANDS, band_label
from .protocol import REAL_CASE, SCORE_DEPTH
from .sums import bootstrap_weights, summarise

__all__ = ["load_cases", "markdown", "score_table", "targets", "write_report"]

OI = "OI"
CEILING = "OI tuned on the truth (ceiling)"
CLIMATOLOGY = "climatology"
MIN_MONTHS_FOR_CI = 3
"""Fewer test months than this get no confidence interval."""
INTERVALS = ("rmse_unobserved", "crps", "spread_skill", "spread_skill_withheld", "ratio_to_oi")


def load_cases(out: str | Path) -> list[dict]:
    """The case records of a run in ``out``, global grids first, then by share.

    Raises
    ------
    ValueError
        When the cases were run with different settings (delete the stale ones in
        ``cases/`` and run again).
    """
    paths = case_files(out)
    if not paths:
        raise FileNotFoundError(f"No case files in {Path(out) / 'cases'}: run the benchmark first.")
    cases = [read_case(p) for p in paths]
    configs = {json.dumps(c["config"], sort_keys=True) for c in cases}
    if len(configs) > 1:
        raise ValueError(
            f"The case files in {Path(out) / 'cases'} come from {len(configs)} different "
            "settings; delete the stale ones and run the benchmark again."
        )
    return sorted(cases, key=lambda c: (c["case"] == REAL_CASE, c["case"], c["fraction"]))


def score_table(cases: Sequence[dict]) -> pd.DataFrame:
    """One row per case, share and method: every score of
    :func:`~xdepthdif.evaluation.sums.summarise` over all test months, and for
    :data:`INTERVALS` the 2.5 and 97.5 percentiles over bootstrap resamplings of the months
    (``<score>_lo``, ``<score>_hi``; NaN with fewer than :data:`MIN_MONTHS_FOR_CI` months).
    ``ratio_to_oi`` is a row's RMSE at unobserved points over the OI's, resampled in pairs."""
    records = []
    for case in cases:
        depth = np.asarray(case["depth"])
        n = len(case["months"])
        cfg = case["config"]
        weights = bootstrap_weights(n, cfg["bootstrap"], cfg["seed"])
        resampled, points = {}, {}
        for row in case["rows"]:
            tallies = {k: np.asarray(v, float) for k, v in row["tallies"].items()}
            points[row["method"]] = summarise(tallies, depth)
            resampled[row["method"]] = summarise(tallies, depth, weights)
        oi_point = points.get(OI, {}).get("rmse_unobserved", np.array([np.nan]))
        oi_boot = resampled.get(OI, {}).get("rmse_unobserved")
        for row in case["rows"]:
            p, b = points[row["method"]], resampled[row["method"]]
            p["ratio_to_oi"] = p["rmse_unobserved"] / oi_point
            b["ratio_to_oi"] = b["rmse_unobserved"] / oi_boot if oi_boot is not None else np.nan
            rec = {
                "case": case["case"],
                "fraction": case["fraction"],
                "method": row["method"],
                "nfe": row["nfe"],
                "members": row["members"],
                "seconds_per_step": row["seconds_per_step"],
                "months": n,
                "used_profiles": case["profiles"]["used"],
                "withheld_profiles": case["profiles"]["withheld"],
            }
            for key, value in p.items():
                rec[key] = value[0].tolist() if value.ndim > 1 else float(value[0])
            for key in INTERVALS:
                lo = hi = np.nan
                if n >= MIN_MONTHS_FOR_CI and np.isfinite(b[key]).any():
                    lo, hi = np.nanpercentile(b[key], [2.5, 97.5])
                rec[f"{key}_lo"], rec[f"{key}_hi"] = float(lo), float(hi)
            records.append(rec)
    return pd.DataFrame(records)


def _is_diffusion(method: str) -> bool:
    return method.startswith("diffusion")


def targets(table: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """The targets, checked on the global grids: the OI within 10 % of its ceiling and never
    worse than the climatology; and the best diffusion row without SST (by RMSE at
    unobserved points) at 3 % and 7.5 % of columns: RMSE ≤ 0.8 × OI (the upper end of the
    95 % interval of the ratio decides), CRPS below OI's, spread-skill within 0.9–1.1 at
    unobserved points and at withheld profiles. Returns ``(target, measured, met)``."""
    out = []
    for (case, fraction), rows in table.groupby(["case", "fraction"], sort=False):
        if case == REAL_CASE:
            continue
        r = rows.set_index("method")
        label = f"{case}, {fraction:.1%}"
        oi = r.loc[OI]
        ratio = oi["rmse_unobserved"] / r.loc[CEILING, "rmse_unobserved"]
        out.append((f"{label}: OI ≤ 1.1 × ceiling", f"{ratio:.3f} ×", bool(ratio <= 1.1)))
        ratio = oi["rmse_unobserved"] / r.loc[CLIMATOLOGY, "rmse_unobserved"]
        out.append((f"{label}: OI ≤ climatology", f"{ratio:.3f} ×", bool(ratio <= 1.0)))
        diffusion = rows[rows["method"].map(_is_diffusion) & ~rows["method"].str.endswith("SST")]
        if fraction not in (0.03, 0.075) or diffusion.empty:
            continue
        best = diffusion.loc[diffusion["rmse_unobserved"].idxmin()]
        name = f"{label}: {best['method']}"
        ratio, hi = best["ratio_to_oi"], best["ratio_to_oi_hi"]
        met = bool((hi if np.isfinite(hi) else ratio) <= 0.8)
        out.append((f"{name}: RMSE ≤ 0.8 × OI", f"{ratio:.2f} × ({_ci(best, 'ratio_to_oi')})", met))
        out.append(
            (
                f"{name}: CRPS below OI's",
                f"{best['crps']:.3f} vs {oi['crps']:.3f}",
                bool(best["crps"] < oi["crps"]),
            )
        )
        for key, where in (("spread_skill", "unobserved"), ("spread_skill_withheld", "withheld")):
            value = best[key]
            out.append(
                (
                    f"{name}: spread-skill at {where} in 0.9–1.1",
                    f"{value:.3f} ({_ci(best, key)})",  # 1.105 would read 1.10, yet misses
                    bool(0.9 <= value <= 1.1),
                )
            )
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _ci(row: pd.Series, key: str, digits: int = 2) -> str:
    lo, hi = row[f"{key}_lo"], row[f"{key}_hi"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "–"
    return f"{lo:.{digits}f}–{hi:.{digits}f}"


def _with_ci(row: pd.Series, key: str, digits: int) -> str:
    """``value [lo–hi]``, or the value alone where there is no interval."""
    value = _fmt(row[key], digits)
    ci = _ci(row, key, digits)
    return value if ci == "–" else f"{value} [{ci}]"


def markdown(table: pd.DataFrame, cases: Sequence[dict], figures: Sequence[Path], out: Path) -> str:
    """The report: how it was run, the targets, two tables per case and share, the figures."""
    cfg = cases[0]["config"]
    months = next((c["months"] for c in cases if c["case"] != REAL_CASE), cases[0]["months"])
    bands = [band_label(lo, hi) for lo, hi in DEPTH_BANDS]
    lines = [
        "# Skill benchmark",
        "",
        "Written by `xdepthdif bench skill` (`make skill` writes `docs/skill`); every number "
        "is in `skill.json` and every tally in `cases/`. Protocol: `xdepthdif.evaluation.skill` "
        "and `xdepthdif.evaluation.protocol`.",
        "",
        f"- **Truth**: the test world of `xdepthdif.prior.world` (its own knobs and a mean state "
        f"that departs from the shipped climatology), {len(months)} months one year apart "
        f"({months[0]} … {months[-1]}), on global grids, 42 levels.",
        f"- **Observations**: Argo-like clustered profiles to 2000 m thinning below 1000 m, noise "
        f"{cfg['noise_sd']:g} °C; {cfg['withheld']:.0%} of the profiles withheld for scoring.",
        "- **Rows**: `climatology` is the shipped climatology, every row's first guess; the "
        "`climatological ensemble` is the same calendar month of the validation world in "
        f"{len(cfg['validation_years'])} years; `OI` is `reconstruct(obs=...)` as a user calls "
        "it; the ceiling is the same OI tuned on the truth (searched on the first "
        f"{cfg['ceiling_months']} months); the `SST vertical regression` carries the SST "
        f"anomaly down with coefficients per level and 10° latitude band fitted on the "
        f"validation world. SST: the truth's top level plus {cfg['sst_noise']:g} °C noise, "
        "through the OSTIA reader. Diffusion: the model "
        f"`{cfg['model']}`, {cfg['members']} members, seed {cfg['seed']}.",
        "- **Scores** (°C, °C²), 0–2000 m unless a band is named: RMSE at unobserved ocean "
        "points, area-weighted, and for ensembles also corrected to M→∞ members (`M→∞`); "
        "RMSE at withheld profiles; ReconMOST's masked MSEs (cells with a used profile / "
        "without / all); fair CRPS (Gaussian for OI); spread-skill (`sqrt((M+1)/M)·spread / "
        "RMSE`; at withheld profiles with the observation error each method assumes); NFE: "
        "network evaluations per member; s/step: wall time per time step on the 2-core "
        "development machine. Brackets: 95 % intervals from "
        f"{cfg['bootstrap']} bootstrap resamplings of the months; `÷ OI` is resampled in pairs.",
        "- Every choice was made on the validation world or on the observations; none on the "
        "test months.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets(table)]
    lines += ["", "## Tables", ""]
    for (case, fraction), rows in table.groupby(["case", "fraction"], sort=False):
        first = rows.iloc[0]
        lines += [
            f"### {case}: {fraction:.1%} of ocean columns observed",
            "",
            f"{first['used_profiles']} profiles used, {first['withheld_profiles']} withheld, "
            f"{first['months']} month(s).",
            "",
            "| method | NFE | RMSE unobs. [95 %] | ÷ OI [95 %] | M→∞ | RMSE withheld | "
            "MSE guidance | MSE recon. | MSE total | CRPS [95 %] | spread/skill [95 %] | "
            "at withheld [95 %] | s/step |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, r in rows.iterrows():
            nfe = "" if pd.isna(r["nfe"]) else str(int(r["nfe"]))
            cells = [
                r["method"],
                nfe,
                _with_ci(r, "rmse_unobserved", 3),
                _with_ci(r, "ratio_to_oi", 2),
                _fmt(r["rmse_unobserved_inf"]),
                _fmt(r["rmse_withheld"]),
                _fmt(r["mse_guidance"]),
                _fmt(r["mse_reconstruction"]),
                _fmt(r["mse_total"]),
                _with_ci(r, "crps", 3),
                _with_ci(r, "spread_skill", 2),
                _with_ci(r, "spread_skill_withheld", 2),
                _fmt(r["seconds_per_step"], 2),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "| method | " + " | ".join(f"unobs. {b}" for b in bands) + " | "
            + " | ".join(f"withheld {b}" for b in bands[:-1]) + " |",
            "|---|" + "---:|" * (2 * len(bands) - 1),
        ]  # fmt: skip
        for _, r in rows.iterrows():
            unobs = [_fmt(r[f"rmse_unobserved_band{i}"]) for i in range(len(bands))]
            withheld = [_fmt(r[f"rmse_withheld_band{i}"]) for i in range(len(bands) - 1)]
            lines.append(f"| {r['method']} | " + " | ".join(unobs + withheld) + " |")
        lines.append("")
    lines += [f"![{f.stem}]({f.relative_to(out).as_posix()})" for f in figures]
    return "\n".join(lines)


def write_report(out: str | Path) -> pd.DataFrame:
    """(Re)write ``skill.md``, ``skill.json`` (the score table) and the figures from the case
    files of a run in ``out``; returns the score table."""
    out = Path(out)
    cases = load_cases(out)
    table = score_table(cases)
    figures = _figures(table, cases, out / "images")
    record = {"config": cases[0]["config"], "rows": table.to_dict(orient="records")}
    (out / "skill.json").write_text(json.dumps(record, indent=1, default=float))
    (out / "skill.md").write_text(markdown(table, cases, figures, out) + "\n")
    return table


def _figures(table: pd.DataFrame, cases: Sequence[dict], folder: Path) -> list[Path]:
    from .plots import plot_error_by_depth, plot_skill_vs_fraction

    folder.mkdir(parents=True, exist_ok=True)
    globe = table[table["case"] != REAL_CASE]
    if globe.empty:
        return []
    paths = [plot_skill_vs_fraction(globe, folder / "skill_vs_fraction.png")]
    case = globe["case"].iloc[0]
    fractions = sorted(globe.loc[globe["case"] == case, "fraction"].unique())
    mid = fractions[len(fractions) // 2]
    rows = globe[(globe["case"] == case) & (globe["fraction"] == mid)]
    depth = np.asarray(next(c["depth"] for c in cases if c["case"] == case))
    shallow = depth < SCORE_DEPTH
    curves = {
        r["method"]: np.asarray(r["rmse_unobserved_levels"])[shallow] for _, r in rows.iterrows()
    }
    title = f"RMSE at unobserved points, {case}, {mid:.1%} of columns observed"
    paths.append(
        plot_error_by_depth(depth[shallow], curves, folder / "skill_rmse_by_depth.png", title=title)
    )
    spread = {
        r["method"]: np.asarray(r["spread_skill_levels"], float)[shallow]
        for _, r in rows.iterrows()
        if np.isfinite(r["spread_skill"])
    }
    title = f"Spread-skill ratio by depth, {case}, {mid:.1%} observed (1 = calibrated)"
    path = folder / "skill_spread_by_depth.png"
    paths.append(
        plot_error_by_depth(depth[shallow], spread, path, title=title, xlabel="spread / RMSE")
    )
    return paths
