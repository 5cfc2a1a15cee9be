"""The skill benchmark's report: ``skill.md`` and its figures, written from the ``skill.json`` of
a run (:func:`write_report`), and the benchmark's targets checked on its rows (:func:`targets`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.diffusion import DiffusionConfig
from .metrics import DEPTH_BANDS, band_label
from .protocol import SkillConfig

__all__ = ["markdown", "targets", "write_report"]


def write_report(out: str | Path) -> pd.DataFrame:
    """(Re)write ``skill.md`` and the figures from the ``skill.json`` of a run in ``out``."""
    out = Path(out)
    record = json.loads((out / "skill.json").read_text())
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in record["config"].items()}
    cfg = SkillConfig(**config)
    table = pd.DataFrame(record["rows"])
    (out / "images").mkdir(parents=True, exist_ok=True)
    synthetic = table[table["case"] == "synthetic"]
    figures = _figures(synthetic, np.asarray(record["depth"]), cfg, out / "images")
    (out / "skill.md").write_text(markdown(table, cfg, figures, out) + "\n")
    return table


def targets(table: pd.DataFrame, steps: int | None = None) -> list[tuple[str, str, bool]]:
    """The benchmark's targets checked on its synthetic rows: ``(target, measured, met)``.

    ``steps`` is the diffusion row taken as "the" diffusion result (default: the default
    number of steps of :class:`~xdepthdif.analysis.diffusion.DiffusionConfig`).
    """
    nfe = 2 * (steps or DiffusionConfig().steps) - 1
    out = []
    synthetic = table[(table["case"] == "synthetic") & ~table["method"].str.endswith("+ SST")]
    for fraction, rows in synthetic.groupby("fraction"):
        diff = rows[rows["nfe"] == nfe].iloc[0]
        most = rows[rows["nfe"] == rows["nfe"].max()].iloc[0]
        label = f"{fraction:.1%}"
        for _, oi in rows[rows["method"].str.startswith("OI")].iterrows():
            ratio = diff["rmse_unobserved"] / oi["rmse_unobserved"]
            if fraction in (0.03, 0.075):
                what = f"{label}: RMSE unobserved ≤ 0.8 × {oi['method']}"
                out.append((what, f"{ratio:.2f} ×", bool(ratio <= 0.8)))
            what = f"{label}: CRPS below {oi['method']}"
            crps_ok = bool(diff["crps"] < oi["crps"])
            out.append((what, f"{diff['crps']:.3f} vs {oi['crps']:.3f}", crps_ok))
        gap = diff["rmse_unobserved"] / most["rmse_unobserved"] - 1
        what = f"{label}: {nfe} NFE within 5 % of {int(most['nfe'])} NFE (RMSE unobserved)"
        out.append((what, f"{gap:+.1%}", bool(abs(gap) <= 0.05)))
        ss = diff["spread_skill"]
        out.append((f"{label}: spread-skill ratio in 0.9–1.1", f"{ss:.2f}", bool(0.9 <= ss <= 1.1)))
    return out


_REAL_TRUTH = (
    "; and the real South Atlantic cube of `iris-sample-data` (a monthly mean of December "
    "1984, cell centres 34.5°W–0.5°E and 9.8°S–1.5°S, 40 levels), scored once, as the one "
    "snapshot it is, on its own 6 × 8 grid, {fraction:.0%} of its 48 columns observed. There "
    "the climatology row and OI's first guess are the shipped climatology (`reconstruct`'s "
    "default), and OI keeps its fitted length scales."
)


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown(table: pd.DataFrame, cfg: SkillConfig, figures: Sequence[Path], out: Path) -> str:
    """The benchmark's report: how it was run, the targets, one table per case and fraction."""
    bands = [band_label(lo, hi) for lo, hi in DEPTH_BANDS]
    nfe = DiffusionConfig().nfe
    lines = [
        "# Skill benchmark",
        "",
        "Written by `make skill` (`.venv/bin/python benchmarks/skill.py`, the same as "
        "`xdepthdif bench skill --out docs/skill`); every number below is in `skill.json`. "
        "Protocol and definitions: `xdepthdif.evaluation.skill` (DESIGN §6).",
        "",
        f"- Truth: the synthetic ocean's held-out `test` split, months "
        f"{', '.join(cfg.test_months)}, global {cfg.resolution:g}° grid, 42 levels"
        + (_REAL_TRUTH.format(fraction=cfg.real_fraction) if cfg.real_case else "."),
        f"- Observations: Argo-like clustered profiles to 2000 m thinning below 1000 m, noise "
        f"{cfg.noise_sd:g} °C; {cfg.withheld:.0%} of profiles withheld for scoring. '+ SST': the "
        f"truth's top level plus {cfg.sst_noise:g} °C noise, written as an OSTIA L4 file (packed "
        "kelvin on a 4× finer grid, land and sea-ice flags) and put on the target by `ostia_sst`"
        " (cells with more than 15 % ice carry no SST).",
        f"- OI length scales tuned per fraction and background on training-split months "
        f"{', '.join(cfg.tune_months)} among {', '.join(f'{v:g}' for v in cfg.length_scales_km)}"
        " km; the climatology is the mean of the training years "
        f"{cfg.climatology_years[0]}–{cfg.climatology_years[-1]} for each month.",
        f"- Diffusion: the model `{cfg.model}`, {cfg.members} members, seed {cfg.seed}; NFE = "
        "network evaluations per member (each guided one adds `cg_iters + 1` = 3 "
        "vector-Jacobian products); s/step is wall time per time step for the whole ensemble on "
        "the 2-core development machine.",
        "- RMSE and MSE in °C and °C², at unobserved points (no used profile in the cell at that "
        "level) unless stated; MSE guidance/recon./total are ReconMOST's three masked means "
        "against the truth (cells with a used profile / without / all), 0–2000 m. CRPS: fair "
        "ensemble CRPS (Gaussian CRPS for OI); spread/skill: sqrt((M+1)/M)·spread/RMSE.",
        "",
        f"## Targets (diffusion at {nfe} NFE, synthetic truth)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets(table)]
    lines += ["", "## Tables", ""]
    for (case, fraction), rows in table.groupby(["case", "fraction"], sort=False):
        lines += [
            f"### {case}: {fraction:.1%} of ocean columns observed",
            "",
            "| method | NFE | RMSE unobs. 0–2000 m | "
            + " | ".join(bands)
            + " | RMSE withheld | MSE guidance | MSE recon. | MSE total | CRPS | spread/skill "
            "| s/step |",
            "|---|---:|---:|" + "---:|" * len(bands) + "---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, r in rows.iterrows():
            nfe = "" if pd.isna(r["nfe"]) else str(int(r["nfe"]))
            lines.append(
                f"| {r['method']} | {nfe} | {_fmt(r['rmse_unobserved'])} | "
                + " | ".join(_fmt(v) for v in r["rmse_unobserved_bands"])
                + f" | {_fmt(r['rmse_withheld'])} | {_fmt(r['mse_guidance'])} | "
                f"{_fmt(r['mse_reconstruction'])} | {_fmt(r['mse_total'])} | "
                f"{_fmt(r['crps'])} | {_fmt(r['spread_skill'], 2)} | "
                f"{_fmt(r['seconds_per_step'], 2)} |"
            )
        lines.append("")
    lines += [f"![{f.stem}]({f.relative_to(out).as_posix()})" for f in figures]
    return "\n".join(lines)


def _figures(table: pd.DataFrame, depth: np.ndarray, cfg: SkillConfig, folder: Path):
    from .plots import plot_error_by_depth, plot_skill_vs_nfe

    paths = []
    mid = sorted(cfg.fractions)[len(cfg.fractions) // 2]
    rows = table[table["fraction"] == mid]
    default = rows[rows["nfe"] == DiffusionConfig().nfe]
    shown = pd.concat([rows[rows["nfe"].isna()], default])
    curves = {r["method"]: np.asarray(r["rmse_unobserved_levels"]) for _, r in shown.iterrows()}
    paths.append(
        plot_error_by_depth(
            depth,
            curves,
            folder / "skill_rmse_by_depth.png",
            title=f"RMSE at unobserved points, {mid:.1%} of columns observed",
        )
    )
    without_sst = table[~table["method"].str.endswith("+ SST")]
    paths.append(plot_skill_vs_nfe(without_sst, folder / "skill_vs_nfe.png"))
    spread = {r["method"]: np.asarray(r["spread_skill_levels"]) for _, r in default.iterrows()}
    if spread:
        paths.append(
            plot_error_by_depth(
                depth,
                spread,
                folder / "skill_spread_by_depth.png",
                title=f"Spread-skill ratio by depth, {mid:.1%} observed (1 = calibrated)",
                xlabel="spread / RMSE",
            )
        )
    return paths
