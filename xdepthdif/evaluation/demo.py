"""``xdepthdif demo``: a real 3-D temperature field, sampled into EN4 files, analysed, scored.

The truth is the potential temperature cube of the tropical South Atlantic shipped in the
``iris-sample-data`` wheel (40 levels to 4478 m, 6 × 8 columns, a regional grid crossing 0°E;
stored in kelvin). It is sampled, month by month, into Argo-like profiles written as EN4 profile
files, which are read back with the EN4 reader; 20 % of the profiles are withheld. The same field
serves as the truth of every month and each month gets its own random profile positions, as Argo
floats drift. The analysis (the default: the shipped climatology plus an OI fitted to the
profiles) is scored at the withheld profiles and at the unobserved ocean points, beside two
baselines: the climatology alone and the level mean of the observations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..background import climatology
from ..obs import SamplingPlan, read_en4, sample_profiles, split_profiles, write_en4_months
from .metrics import DEPTH_BANDS, band_label, rmse_by_band, rmse_by_level
from .scores import at_profiles, level_mean
from .truth import atlantic_truth


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: the score table (markdown) and the files written."""

    table: str
    analysis_path: Path
    figures: tuple[Path, ...]
    scores: pd.DataFrame


def run_demo(
    out: str | os.PathLike = "demo_output",
    *,
    months: int = 6,
    fraction: float = 0.5,
    seed: int = 0,
    verbose: bool = True,
) -> DemoResult:
    """Run the demo and write a CF netCDF analysis, four PNG figures and a score table."""
    out = Path(out)
    (out / "en4").mkdir(parents=True, exist_ok=True)
    truth = atlantic_truth(months)
    plan = SamplingPlan(fraction=fraction, max_depth=2000.0, noise_sd=0.02, seed=seed)
    used, withheld = split_profiles(sample_profiles(truth, plan), withheld_fraction=0.2, seed=seed)
    for old in (out / "en4").glob("EN.4.2.2.f.profiles.g10.*.nc"):
        old.unlink()
    write_en4_months(used, out / "en4")
    obs = read_en4(str(out / "en4" / "EN.4.2.2.f.profiles.g10.*.nc"))

    target = xr.Dataset(coords={k: truth[k] for k in ("time", "depth", "lat", "lon")})
    target["sea_mask"] = truth.isel(time=0).notnull().astype("int8")
    target["sea_mask"].attrs["standard_name"] = "sea_binary_mask"
    analysis = target.depthdif.reconstruct(obs=obs, method="oi")
    analysis_path = out / "thetao_analysis_oi.nc"
    analysis.to_netcdf(analysis_path)
    with xr.open_dataset(analysis_path) as opened:
        result = opened.load()

    fields = {
        "level mean": level_mean(obs, truth),
        "climatology": climatology(truth).values,
        "OI": result["thetao"].values,
    }
    scores = _score(result, fields, truth, withheld)
    table = _table(scores, obs, withheld, result, list(fields))
    (out / "scores.md").write_text(table + "\n")
    figures = _figures(result, truth, obs, withheld, fields, out)
    if verbose:
        print(table)
        print(
            f"\nwrote {analysis_path}, {out / 'scores.md'} and "
            + ", ".join(str(f) for f in figures)
        )
    return DemoResult(table, analysis_path, figures, scores)


def _score(
    result: xr.Dataset, fields: dict, truth: xr.DataArray, withheld: xr.Dataset
) -> pd.DataFrame:
    depth = truth["depth"].values
    unobserved = (result["obs_count"].values == 0) & truth.notnull().values
    rows = []
    for name, field in fields.items():
        est, obs_vals = at_profiles(field, withheld, truth)
        err_unobs = np.where(unobserved, field - truth.values, np.nan)
        err_unobs = np.moveaxis(err_unobs, 1, -1)
        err_withheld = est - obs_vals
        for (lo, hi), r_w, r_u in zip(
            DEPTH_BANDS,
            rmse_by_band(err_withheld, depth),
            rmse_by_band(err_unobs, depth),
            strict=True,
        ):
            rows.append(
                {
                    "method": name,
                    "band": band_label(lo, hi),
                    "rmse_withheld": r_w,
                    "rmse_unobserved": r_u,
                }
            )
        rows.append(
            {
                "method": name,
                "band": "all (0–2000 m)",
                "rmse_withheld": rmse_by_band(err_withheld, depth, ((0, 2000),))[0],
                "rmse_unobserved": rmse_by_band(err_unobs, depth, ((0, 2000),))[0],
            }
        )
    return pd.DataFrame(rows)


def _table(scores: pd.DataFrame, obs: xr.Dataset, withheld: xr.Dataset, result, names) -> str:
    wide = scores.pivot(index="band", columns="method")
    order = [band_label(lo, hi) for lo, hi in DEPTH_BANDS] + ["all (0–2000 m)"]
    columns = [(kind, name) for kind in ("rmse_withheld", "rmse_unobserved") for name in names]
    header = [f"{name}, {kind.split('_')[1]}" for kind, name in columns]
    lines = [
        f"Real South Atlantic cube (iris-sample-data), {result.sizes['time']} months, "
        f"{obs.sizes['profile']} profiles used, {withheld.sizes['profile']} withheld.",
        "RMSE (°C); 'withheld': at withheld profiles; 'unobserved': at ocean points with no "
        "observation. OI is the default: the shipped climatology plus an OI fitted to the "
        "profiles. n/a: no profile reaches that depth (scored only where profiles reach).",
        "",
        "| depth band | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for band in order:
        cells = [wide.loc[band, c] for c in columns]
        lines.append(
            f"| {band} | "
            + " | ".join("n/a" if not np.isfinite(c) else f"{c:.3f}" for c in cells)
            + " |"
        )
    return "\n".join(lines)


def _figures(result, truth, obs, withheld, fields, out: Path) -> tuple[Path, ...]:
    from .plots import lat_label, plot_error_by_depth, plot_map, plot_section

    t0 = pd.DatetimeIndex(result["time"].values)[0]
    first = pd.DatetimeIndex(obs["time"].values).to_period("M") == t0.to_period("M")
    first_w = pd.DatetimeIndex(withheld["time"].values).to_period("M") == t0.to_period("M")
    positions = {
        "used profiles": (obs["lat"].values[first], obs["lon"].values[first]),
        "withheld": (withheld["lat"].values[first_w], withheld["lon"].values[first_w]),
    }
    level = int(np.argmin(np.abs(result["depth"].values - 100.0)))
    z = float(result["depth"][level])
    f1 = plot_map(
        result["thetao"].isel(time=0, depth=level),
        out / "map.png",
        obs=positions,
        title=f"OI analysis at {z:g} m, {t0:%Y-%m}",
    )
    f2 = plot_map(
        result["thetao_sd"].isel(time=0, depth=level),
        out / "uncertainty.png",
        obs=positions,
        title=f"Its error standard deviation (thetao_sd) at {z:g} m, {t0:%Y-%m}",
        label="°C",
        cmap="viridis",
    )
    row = result.sizes["lat"] // 2
    lat = float(result["lat"][row])
    half = float(np.abs(np.diff(result["lat"].values)).mean()) / 2
    near = {name: plon[np.abs(plat - lat) <= half] for name, (plat, plon) in positions.items()}
    f3 = plot_section(
        {
            "truth": truth.isel(time=0, lat=row),
            "OI analysis": result["thetao"].isel(time=0, lat=row),
        },
        out / "section.png",
        title=f"Section at {lat_label(lat)}, {t0:%Y-%m}",
        ocean=truth.isel(time=0, lat=row).notnull(),
        profiles=near,
    )
    unobserved = (result["obs_count"].values == 0) & truth.notnull().values
    curves = {
        name: rmse_by_level(np.where(unobserved, field - truth.values, np.nan), 1)
        for name, field in fields.items()
    }
    f4 = plot_error_by_depth(
        result["depth"].values,
        curves,
        out / "error_by_depth.png",
        title="RMSE at unobserved ocean points",
    )
    return f1, f2, f3, f4
