"""OI evidence: level-mean OI, climatology, the default OI and the truth-tuned ceiling, scored on
every truth at 1, 3, 7.5 and 20 % of columns, plus the global 1° plausibility run.

Writes ``docs/oi-evidence/evidence.md`` (tables and targets), ``evidence.json`` (every number)
and two figures beside them. See :mod:`xdepthdif.evaluation.oi_evidence`.

Run: ``make oi-evidence`` (``.venv/bin/python benchmarks/oi_evidence.py``), about 20 minutes on
2 cores; ``--quick`` for a 4°, one-share smoke run written to ``build/oi-evidence``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from xdepthdif.evaluation.oi_evidence import (
    METHODS,
    EvidenceConfig,
    markdown,
    run_evidence,
)
from xdepthdif.evaluation.plausibility import plausibility

ROOT = Path(__file__).resolve().parents[1]


def figure(table, path: Path) -> Path:
    cases = list(dict.fromkeys(table["case"]))
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.6), squeeze=False)
    for ax, case in zip(axes[0], cases, strict=True):
        g = table[table["case"] == case]
        for method in METHODS:
            h = g[g["method"] == method]
            ax.plot(100 * h["fraction"], h["rmse_unobserved"], marker="o", label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("observed columns (%)")
        ax.set_title(case)
    axes[0, 0].set_ylabel("RMSE at unobserved points, 0–2000 m (°C)")
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plausibility_text(check: dict) -> str:
    ok_range = check["min_above_freezing_c"] >= -1e-9 and check["max_c"] <= 40.0
    ok_sd = check["max_sd_over_prior"] <= 1.001  # the attributes round to 4 decimals
    return "\n".join(
        [
            "## Plausible everywhere: a global 1° month",
            "",
            "The default `reconstruct(obs=...)` on a global 1° grid with the 42 EN4-like levels, "
            f"{check['profiles']} Argo-like profiles (6 % of columns, about EN4's monthly count) "
            "of the real-planet truth:",
            "",
            "| check | measured | met |",
            "|---|---:|:---:|",
            f"| no value below the freezing point | lowest margin "
            f"{check['min_above_freezing_c']:.3f} °C (min {check['min_c']:.2f} °C) | "
            f"{'yes' if check['min_above_freezing_c'] >= -1e-9 else '**no**'} |",
            f"| no value above 40 °C | max {check['max_c']:.2f} °C | "
            f"{'yes' if check['max_c'] <= 40 else '**no**'} |",
            f"| `thetao_sd` ≤ the background error it started from | largest ratio "
            f"{check['max_sd_over_prior']:.3f} | {'yes' if ok_sd else '**no**'} |",
            "",
            f"Median surface `thetao_sd` {check['median_surface_sd_c']:.2f} °C (the truth's "
            f"surface departs from the climatology by {check['surface_anomaly_rms_c']:.2f} °C "
            f"rms). Time on this machine: fit {check['fit_seconds']:.1f} s (eager, in "
            f"`reconstruct`), analysis {check['analysis_seconds']:.1f} s for the time step."
            + ("" if ok_range else " **Out of range values found.**"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        cfg = EvidenceConfig(fractions=(0.03,), months=1, resolution=4.0, cube_months=4)
        out = ROOT / "build" / "oi-evidence"
    else:
        cfg = EvidenceConfig()
        out = ROOT / "docs" / "oi-evidence"
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    table = run_evidence(cfg)
    check = plausibility(resolution=4.0 if args.quick else 1.0)
    print(json.dumps(check, indent=1))
    fig = figure(table, out / "rmse_by_share.png")
    extra = f"![RMSE by share of observed columns]({fig.name})\n\n" + plausibility_text(check)
    extra += f"\n\nWhole run: {(time.perf_counter() - start) / 60:.0f} minutes on this machine.\n"
    (out / "evidence.md").write_text(markdown(table, cfg, extra))
    records = json.loads(table.to_json(orient="records"))
    (out / "evidence.json").write_text(json.dumps({"rows": records, "plausibility": check}))
    print(f"wrote {out / 'evidence.md'}")


if __name__ == "__main__":
    main()
