"""How real is the training world? Anomaly statistics of the world beside real SST anomalies.

Run: ``make realism`` (``.venv/bin/python benchmarks/realism.py``; ``--quick`` for a tiny grid).
Writes ``docs/realism/realism.md``, ``realism.json`` and two figures.

The world: ``world − climatology`` (the shipped climatology at each month's day of year) for
the train and test splits, consecutive months on a global grid. The real data reachable
offline are sea surface temperatures only:

- OSTIA monthly SST, 5°S–5°N, April 2006 – September 2010 (``iris-sample-data``); anomalies
  from the sample's own mean of each calendar month; averaged to ~2.2° × 2.5° cells.
- NDJFM-mean SST anomalies of the Pacific, 22.5°S–62.5°N, 5°, winters 1963–2012 (the example
  data of ``eofs``): seasonal means, one per year, so their lag one is a year, not a month.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from xdepthdif.evaluation import realism as rs

HERE = Path(__file__).resolve().parent
LEVELS_M = (5.0, 100.0, 300.0, 1000.0)
DIRECTIONS = ("all", "zonal", "meridional")


def world_anomalies(split: str, months: int, resolution: float, seed: int) -> xr.DataArray:
    """Monthly anomalies of the world (``world − climatology``), °C."""
    from xdepthdif.background import climatology
    from xdepthdif.prior.world import world_months

    times = pd.date_range("2001-01-01", periods=months, freq="MS") + pd.Timedelta(days=14)
    world = world_months(times, resolution, split, seed=seed)
    return (world - climatology(world)).compute()


def _sample_file(package: str, *parts: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).parent.joinpath(*parts)


def ostia_anomalies() -> xr.DataArray:
    """OSTIA monthly SST anomalies (°C) from the sample's own calendar-month means."""
    path = _sample_file("iris_sample_data", "sample_data", "ostia_monthly.nc")
    with xr.open_dataset(path) as ds:
        sst = ds["surface_temperature"].load() - 273.15
    sst = sst.rename(latitude="lat", longitude="lon").coarsen(lat=4, lon=3, boundary="trim").mean()
    anom = sst.groupby("time.month") - sst.groupby("time.month").mean("time")
    return anom.drop_vars("month")


def eofs_anomalies() -> xr.DataArray:
    """NDJFM-mean Pacific SST anomalies (°C) shipped with ``eofs``."""
    from eofs.examples import example_data_path

    with xr.open_dataset(example_data_path("sst_ndjfm_anom.nc")) as ds:
        return ds["sst"].load().rename(latitude="lat", longitude="lon")


def surface_stats(anom: xr.DataArray, bands: list[str], centres: int) -> dict:
    """Decorrelation scales, lag one, standard deviation and skewness of a surface field."""
    out: dict = {"months": int(anom.sizes["time"]), "bands": {}}
    lag, std, skew = rs.lag_correlation(anom), rs.anomaly_std(anom), rs.skewness(anom)
    lag_b, std_b = rs.by_band(lag), rs.by_band(std, how="rms")
    skew_b, skew_abs = rs.by_band(skew), rs.by_band(skew, how="rms")
    for band in bands:
        entry = {
            "lag1": float(lag_b.sel(band=band)),
            "std": float(std_b.sel(band=band)),
            "skewness": float(skew_b.sel(band=band)),
            "skewness_rms": float(skew_abs.sel(band=band)),
        }
        for d in DIRECTIONS:
            curve = rs.correlation_vs_distance(anom, band=band, direction=d, centres=centres)
            entry[f"scale_{d}"] = rs.decorrelation_scale(curve)
            entry[f"curve_{d}"] = [
                None if np.isnan(c) else round(float(c), 3) for c in curve.values
            ]
        out["bands"][band] = entry
    return out


def world_stats(anom: xr.DataArray, centres: int) -> dict:
    """Everything by depth (all levels) and, at a few levels, the correlation scales."""
    depth = anom["depth"].values
    lag, std, skew = rs.lag_correlation(anom), rs.anomaly_std(anom), rs.skewness(anom)
    out = {
        "depth": depth.tolist(),
        "months": int(anom.sizes["time"]),
        "lag1": rs.by_band(lag).values.tolist(),
        "std": rs.by_band(std, how="rms").values.tolist(),
        "skewness": rs.by_band(skew).values.tolist(),
        "skewness_rms": rs.by_band(skew, how="rms").values.tolist(),
        "mean_offset_rms": rs.by_band(rs.mean_offset(anom), how="rms").values.tolist(),
        "bands": list(rs.by_band(std, how="rms")["band"].values),
        "levels": {},
    }
    shares, modes = rs.vertical_modes(anom)
    out["eof_shares"] = shares.tolist()
    out["eof_modes"] = modes.values.tolist()
    out["eof_depth"] = modes["depth"].values.tolist()
    for z in LEVELS_M:
        k = int(np.argmin(np.abs(depth - z)))
        level = anom.isel(depth=k)
        out["levels"][f"{depth[k]:.0f}"] = surface_stats(level, list(rs.LAT_BANDS), centres)[
            "bands"
        ]
    # the OSTIA window (5°S–5°N), for a like-for-like comparison at the surface
    strip = anom.isel(depth=0).sel(lat=slice(-5, 5))
    out["equatorial_strip"] = surface_stats(strip, ["tropics"], centres)["bands"]["tropics"]
    return out


def _fmt(x: float | None, nd: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.{nd}f}"


def _km(x: float | None) -> str:
    return "> 3000" if x is None or not np.isfinite(x) else f"{x:.0f}"


def figures(res: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    centre = 0.5 * (rs.DISTANCE_BINS_KM[:-1] + rs.DISTANCE_BINS_KM[1:])
    panels = [
        ("tropics", "zonal"),
        ("tropics", "meridional"),
        ("mid-latitudes", "all"),
        ("high latitudes", "all"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), sharey=True)
    for ax, (band, d) in zip(axes, panels, strict=True):
        for split, style in (("train", "-"), ("test", "--")):
            levels = res["world"][split]["levels"]
            for lev, color in zip(levels, ("C0", "C1", "C2", "C3"), strict=False):
                c = np.array(levels[lev][band][f"curve_{d}"], dtype=float)
                ax.plot(centre, c, style, color=color, label=f"world {split}, {lev} m")
        for name, color in (("ostia", "k"), ("eofs", "C5")):
            if band in res[name]["bands"]:
                c = np.array(res[name]["bands"][band][f"curve_{d}"], dtype=float)
                ax.plot(centre, c, "o-", color=color, ms=3, label=res[name]["label"])
        ax.axhline(np.exp(-1), color="0.6", lw=0.8)
        ax.set(title=f"{band}, {d} pairs", xlabel="distance (km)")
    axes[0].set_ylabel("correlation of monthly anomalies")
    axes[0].legend(fontsize=6, loc="lower left", ncol=2)
    fig.tight_layout()
    fig.savefig(out / "correlation.png", dpi=110)
    plt.close(fig)
    names.append("correlation.png")

    fig, axes = plt.subplots(1, 4, figsize=(14, 4.2), sharey=True)
    for split, style in (("train", "-"), ("test", "--")):
        w = res["world"][split]
        z = np.array(w["depth"])
        for j, band in enumerate(w["bands"]):
            kw = {"color": f"C{j}", "ls": style, "label": f"{split}, {band}"}
            axes[0].plot(np.array(w["std"])[:, j], z, **kw)
            axes[1].plot(np.array(w["lag1"])[:, j], z, **kw)
            axes[2].plot(np.array(w["skewness"])[:, j], z, **kw)
        for m in range(len(w["eof_shares"])):
            axes[3].plot(
                np.array(w["eof_modes"])[m],
                w["eof_depth"],
                style,
                color=f"C{m}",
                label=f"{split}, mode {m + 1}",
            )
    for ax, t in zip(
        axes, ("anomaly std (°C)", "lag-1 correlation", "skewness", "vertical EOFs"), strict=True
    ):
        ax.set(xlabel=t)
    axes[0].set(ylim=(2000, 0), ylabel="depth (m)", xscale="log")
    axes[0].legend(fontsize=6)
    axes[3].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "by_depth.png", dpi=110)
    plt.close(fig)
    names.append("by_depth.png")
    return names


PUBLISHED = """\
## Published values for Argo-era analyses

Numbers are given only where the source states them plainly; the rest is described in words.

- **Horizontal scales.** Argo-era objective analyses use covariances with more than one
  scale. The EN4 analyses (Good et al. 2013) and the Argo climatology of Roemmich & Gilson
  (2009) spread profiles over scales of a few hundred kilometres for the mesoscale part, with a
  larger-scale part beside it; the IAP analysis (Cheng et al. 2017) takes its covariances from
  CMIP models instead of prescribing scales. The mesoscale is tied to the first baroclinic
  Rossby radius, which falls from more than 200 km near the equator to under 10 km at high
  latitudes (Chelton et al. 1998). Near the equator, temperature anomalies are elongated
  zonally: tropical Pacific analyses use zonal scales several times their meridional ones
  (Meyers et al. 1991).
- **Persistence.** Monthly SST anomalies are red: they persist for months in mid-latitudes,
  longer where the winter mixed layer is deep, and return in the following winter from below
  the summer mixed layer (Deser et al. 2003). Subsurface anomalies, insulated from the
  atmosphere, persist longer than surface ones.
- **Where the variance is.** In the tropics the largest temperature variability is in the
  thermocline, not at the surface: the equatorial Pacific thermocline moves by tens of metres
  with ENSO (McPhaden et al. 1998). Elsewhere the variance is largest in the top few hundred
  metres and at fronts and western boundary currents, and falls off with depth.
- **Skewness.** SST anomalies are not Gaussian over much of the ocean; El Niño's warm events are
  larger than La Niña's cold ones, so skewness is positive in the eastern equatorial Pacific
  (Burgers & Stephenson 1999; a global map in Sura & Sardeshmukh 2008).
- **Vertical structure.** Much of the subsurface variability is thermocline heave, a vertical
  displacement of the mean profile, which gives anomalies of one sign through the thermocline
  and the largest values where the vertical gradient is largest.

References

- Burgers, G., and D. B. Stephenson (1999): The "normality" of El Niño. *Geophys. Res. Lett.*
  26, 1027–1030.
- Chelton, D. B., R. A. deSzoeke, M. G. Schlax, K. El Naggar and N. Siwertz (1998):
  Geographical variability of the first baroclinic Rossby radius of deformation. *J. Phys.
  Oceanogr.* 28, 433–460.
- Cheng, L., K. E. Trenberth, J. Fasullo, T. Boyer, J. Abraham and J. Zhu (2017): Improved
  estimates of ocean heat content from 1960 to 2015. *Sci. Adv.* 3, e1601545.
- Deser, C., M. A. Alexander and M. S. Timlin (2003): Understanding the persistence of sea
  surface temperature anomalies in midlatitudes. *J. Climate* 16, 57–72.
- Good, S. A., M. J. Martin and N. A. Rayner (2013): EN4: Quality controlled ocean temperature
  and salinity profiles and monthly objective analyses with uncertainty estimates. *J. Geophys.
  Res. Oceans* 118, 6704–6716.
- Marriott, F. H. C., and J. A. Pope (1954): Bias in the estimation of autocorrelations.
  *Biometrika* 41, 390–402.
- McPhaden, M. J., et al. (1998): The Tropical Ocean-Global Atmosphere observing system: A
  decade of progress. *J. Geophys. Res.* 103, 14169–14240.
- Meyers, G., H. Phillips, N. Smith and J. Sprintall (1991): Space and time scales for optimal
  interpolation of temperature — Tropical Pacific Ocean. *Prog. Oceanogr.* 28, 189–218.
- Roemmich, D., and J. Gilson (2009): The 2004–2008 mean and annual cycle of temperature,
  salinity, and steric height in the global ocean from the Argo Program. *Prog. Oceanogr.* 82,
  81–100.
- Sura, P., and P. D. Sardeshmukh (2008): A global view of non-Gaussian SST variability. *J.
  Phys. Oceanogr.* 38, 639–647.
"""


def _gauss_skew_sd(n: int) -> float:
    return float(np.sqrt(6.0 * (n - 2) / ((n + 1) * (n + 3))))


def _by_depth_rows(res: dict, key: str, depths: list[float], nd: int = 2) -> list[str]:
    rows = []
    tr, te = res["world"]["train"], res["world"]["test"]
    z = np.array(tr["depth"])
    for d in depths:
        k = int(np.argmin(np.abs(z - d)))
        cells = [
            f"{_fmt(tr[key][k][j], nd)} / {_fmt(te[key][k][j], nd)}"
            for j in range(len(tr["bands"]))
        ]
        rows.append(f"| {z[k]:.0f} | " + " | ".join(cells) + " |")
    return rows


def write_page(res: dict, out: Path, figs: list[str]) -> str:
    tr, te, ost, eof = res["world"]["train"], res["world"]["test"], res["ostia"], res["eofs"]
    ot, g_w = ost["bands"]["tropics"], _gauss_skew_sd(tr["months"])
    bands = tr["bands"]
    head = "| depth (m) | " + " | ".join(bands) + " |\n|---:|" + "---:|" * len(bands)
    depths = [5, 50, 100, 200, 300, 500, 1000, 2000]
    lines = [
        "# Realism of the training world",
        "",
        "Command: `make realism` (`.venv/bin/python benchmarks/realism.py`), "
        f"{res['wall_s']:.0f} s on 2 cores. Every number below comes from that run "
        "(`realism.json`) unless a reference is given. The statistics are in "
        "`xdepthdif.evaluation.realism`.",
        "",
        "**The world**: `xdepthdif.prior.world.world_months`, train and test splits, "
        f"{tr['months']} consecutive "
        f"months on a global {res['resolution']:g}° grid, 42 levels; anomaly = world − the "
        "shipped climatology at each month's day of year. Each point's time mean is removed before "
        "any statistic but the mean offset, so the test world's mean-state bias does not enter the "
        "scales, persistence, variance or skewness. Cells read *train / test*.",
        "",
        "**Real anomalies reachable offline** (both surface only; no wheel or Debian package ships "
        "a subsurface anomaly time series):",
        "",
        f"- *OSTIA*: monthly OSTIA SST, 5°S–5°N, all longitudes, {ost['months']} months "
        "(April 2006 – September 2010), from `iris-sample-data`; anomalies from the sample's own "
        "mean of each calendar month (4–5 years, so part of ENSO is removed with the seasonal "
        "cycle); averaged to ~2.2° × 2.5° cells so that its grid is close to the world's.",
        f"- *eofs*: NDJFM-mean SST anomalies of the Pacific, 22.5°S–62.5°N, 5°, {eof['months']} "
        "winters (1963–2012), the example data of the `eofs` package. Seasonal means, one per "
        "year: their lag one is a year and their scales are those of 5-month means.",
        "",
        "Statistics: correlation of two points' anomaly series against their great-circle "
        "distance (250 km bins, centres drawn at random, partners anywhere; *zonal* and "
        "*meridional* keep pairs within 30° of east-west or north-south), with the 1/e distance "
        "as the decorrelation scale; lag-one autocorrelation corrected for its short-series bias "
        "(Marriott & Pope 1954); standard deviation over time (area-weighted rms); sample "
        "skewness over time; vertical EOFs of 0–2000 m columns weighted by layer thickness. "
        "Bands: tropics |lat| < 15°, mid-latitudes 15–45°, high latitudes > 45°.",
        "",
        "## Horizontal scales",
        "",
        f"![correlation against distance]({figs[0]})",
        "",
        "Decorrelation scale (km, 1/e) of surface anomalies (world: 5 m level):",
        "",
        "| band, pairs | world train | world test | OSTIA | eofs (NDJFM means) |",
        "|---|---:|---:|---:|---:|",
    ]
    strip_tr, strip_te = tr["equatorial_strip"], te["equatorial_strip"]
    lines.append(
        "| 5°S–5°N, zonal | "
        f"{_km(strip_tr['scale_zonal'])} | {_km(strip_te['scale_zonal'])} | "
        f"{_km(ost['bands']['tropics']['scale_zonal'])} | – |"
    )
    surf_tr, surf_te = next(iter(tr["levels"].values())), next(iter(te["levels"].values()))
    for band in rs.LAT_BANDS:
        for d in DIRECTIONS:
            e = eof["bands"].get(band, {}).get(f"scale_{d}")
            lines.append(
                f"| {band}, {d} | {_km(surf_tr[band][f'scale_{d}'])} | "
                f"{_km(surf_te[band][f'scale_{d}'])} | – | {_km(e)} |"
            )
    lines += [
        "",
        "World decorrelation scale (km) by depth, train / test:",
        "",
        "| level (m) | tropics, zonal | tropics, meridional | mid-latitudes | high latitudes |",
        "|---:|---:|---:|---:|---:|",
    ]
    for lev in tr["levels"]:
        a, b = tr["levels"][lev], te["levels"][lev]
        cells = [
            f"{_km(a[band][f'scale_{d}'])} / {_km(b[band][f'scale_{d}'])}"
            for band, d in (
                ("tropics", "zonal"),
                ("tropics", "meridional"),
                ("mid-latitudes", "all"),
                ("high latitudes", "all"),
            )
        ]
        lines.append(f"| {lev} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Persistence",
        "",
        f"![statistics by depth]({figs[1]})",
        "",
        "Lag-one (one month) autocorrelation of the world, train / test:",
        "",
        head,
        *_by_depth_rows(res, "lag1", depths),
        "",
        "Real, at the surface: OSTIA (5°S–5°N, monthly) "
        f"{_fmt(ost['bands']['tropics']['lag1'])}; the world in the same strip "
        f"{_fmt(strip_tr['lag1'])} / {_fmt(strip_te['lag1'])}. eofs (one winter to the next, "
        "not comparable with a month): "
        + ", ".join(f"{b} {_fmt(eof['bands'][b]['lag1'])}" for b in eof["bands"])
        + ".",
        "",
        "## Amplitude",
        "",
        "Standard deviation of the anomaly over time (°C, area-weighted rms), train / test:",
        "",
        head,
        *_by_depth_rows(res, "std", depths),
        "",
        f"Real, at the surface: OSTIA {_fmt(ost['bands']['tropics']['std'])} °C (the world in the "
        f"same strip {_fmt(strip_tr['std'])} / {_fmt(strip_te['std'])}); eofs (5-month means) "
        + ", ".join(f"{b} {_fmt(eof['bands'][b]['std'])}" for b in eof["bands"])
        + " °C.",
        "",
        "Mean offset of the world from the shipped climatology (°C, rms of the time mean), "
        "train / test:",
        "",
        head,
        *_by_depth_rows(res, "mean_offset_rms", depths),
        "",
        "## Skewness",
        "",
        f"Mean skewness over the band, train / test (for Gaussian series of {tr['months']} values "
        f"the sampling standard deviation of one point's skewness is {g_w:.2f}):",
        "",
        head,
        *_by_depth_rows(res, "skewness", depths),
        "",
        "Root-mean-square skewness (what sampling noise alone would give: "
        f"{_gauss_skew_sd(tr['months']):.2f}):",
        "",
        head,
        *_by_depth_rows(res, "skewness_rms", depths),
        "",
        "Real, at the surface, mean / rms skewness (Gaussian noise alone: OSTIA "
        f"{_gauss_skew_sd(ost['months']):.2f}, eofs {_gauss_skew_sd(eof['months']):.2f}): OSTIA "
        f"{_fmt(ot['skewness'])} / {_fmt(ot['skewness_rms'])}; eofs "
        + ", ".join(
            f"{b} {_fmt(eof['bands'][b]['skewness'])} / {_fmt(eof['bands'][b]['skewness_rms'])}"
            for b in eof["bands"]
        )
        + ".",
        "",
        "## Vertical modes",
        "",
        "Share of the variance of 0–2000 m columns (thickness-weighted) in the leading vertical "
        "EOFs:",
        "",
        "| split | mode 1 | mode 2 | mode 3 | first three |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, w in (("train", tr), ("test", te)):
        s = w["eof_shares"]
        lines.append(f"| {name} | {s[0]:.2f} | {s[1]:.2f} | {s[2]:.2f} | {sum(s):.2f} |")
    lines += ["", "The real files hold no subsurface anomalies, so there is no real row here.", ""]
    lines += [PUBLISHED, "## Where the world still differs", ""]
    lines += differences(res)
    return "\n".join(lines) + "\n"


def _compare(world: float, real: float, tolerance: float = 0.2) -> str:
    """ "close to", "above" or "below"; a NaN scale is beyond the last bin (> 3000 km)."""
    world = np.inf if world is None or np.isnan(world) else world
    real = np.inf if real is None or np.isnan(real) else real
    if np.isinf(world) and np.isinf(real):
        return "like"
    if np.isinf(world) or np.isinf(real):
        return "above" if world > real else "below"
    if abs(world - real) <= tolerance * abs(real):
        return "close to"
    return "above" if world > real else "below"


def _level(w: dict, z: float) -> int:
    return int(np.argmin(np.abs(np.array(w["depth"]) - z)))


def differences(res: dict) -> list[str]:
    """The page's last section, its comparisons made from the numbers of this run."""
    tr, ost, eof = res["world"]["train"], res["ostia"]["bands"]["tropics"], res["eofs"]["bands"]
    bands = tr["bands"]
    surf = next(iter(tr["levels"].values()))
    strip = tr["equatorial_strip"]
    t, g = bands.index("tropics"), bands.index("global")
    scales = [
        v[b][f"scale_{d}"]
        for v in tr["levels"].values()
        for b in v
        for d in DIRECTIONS
        if np.isfinite(v[b][f"scale_{d}"])
    ]
    ratios = [
        v["tropics"]["scale_zonal"] / v["tropics"]["scale_meridional"]
        for v in tr["levels"].values()
        if np.isfinite(v["tropics"]["scale_zonal"])
        and np.isfinite(v["tropics"]["scale_meridional"])
    ]
    std_t = np.array(tr["std"])[:, t]
    k_max = int(np.nanargmax(std_t))
    lag = np.array(tr["lag1"])[:, g]
    k5, k1000 = _level(tr, 5.0), _level(tr, 1000.0)
    noise = _gauss_skew_sd(tr["months"])
    skew_rms = np.array(tr["skewness_rms"])[:, g]
    lines = [
        "Comparisons below are made by the script from this run's numbers (*close to* means "
        "within 20 %); the qualitative statements about real subsurface anomalies are the "
        "literature's, as cited above.",
        "",
        f"- **Horizontal scales.** The world's 1/e scales range over "
        f"{min(scales, default=np.nan):.0f}–{max(scales, default=np.nan):.0f} km (all bands, "
        "levels and directions). In the OSTIA strip the world's zonal surface scale "
        f"({_km(strip['scale_zonal'])} km) is {_compare(strip['scale_zonal'], ost['scale_zonal'])} "
        f"OSTIA's ({_km(ost['scale_zonal'])} km). Mid-latitude surface scales: world "
        f"{_km(surf['mid-latitudes']['scale_all'])} km, eofs winter means "
        f"{_km(eof['mid-latitudes']['scale_all'])} km (seasonal means are smoother than months, "
        "so they bound the monthly scale from above). Real mesoscale structure shrinks with "
        "the Rossby radius towards the poles (Chelton et al. 1998); the world's surface scale is "
        f"{_km(surf['tropics']['scale_all'])} km in the tropics and "
        f"{_km(surf['high latitudes']['scale_all'])} km at high latitudes, and a "
        f"{res['resolution']:g}° grid shows nothing below a few hundred km.",
        f"- **Zonal elongation near the equator.** The world's tropical zonal/meridional scale "
        f"ratio is {min(ratios, default=np.nan):.1f}–{max(ratios, default=np.nan):.1f} across "
        "levels; tropical analyses use zonal scales several times the meridional ones (Meyers "
        "et al. 1991)."
        + (
            " The world is not elongated enough."
            if max(ratios, default=0.0) < 2.0
            else " The world is elongated, as it should be."
        ),
        f"- **Persistence.** The world's monthly lag-one correlation is {lag[k5]:.2f} at the "
        f"surface and {lag[k1000]:.2f} at {tr['depth'][k1000]:.0f} m (global means); in the "
        f"OSTIA strip {strip['lag1']:.2f} against OSTIA's {ost['lag1']:.2f} "
        f"({_compare(strip['lag1'], ost['lag1'])} the real value). Real subsurface anomalies "
        "persist longer than surface ones"
        + ("; the world's do not." if lag[k1000] <= lag[k5] + 0.05 else ", and so do the world's."),
        f"- **Amplitude.** The world's surface anomaly std in the OSTIA strip is "
        f"{strip['std']:.2f} °C, {_compare(strip['std'], ost['std'])} OSTIA's {ost['std']:.2f} "
        f"°C. In the tropics the world's variance peaks at {tr['depth'][k_max]:.0f} m "
        f"({std_t[k_max]:.2f} °C), in the thermocline, as in the real ocean (McPhaden et al. "
        "1998). Fronts and western boundary currents stand out only as much as the "
        "climatology's smooth gradients let them.",
        f"- **Skewness.** The world's rms skewness (global) is {skew_rms[k5]:.2f} at the "
        f"surface and at most {np.nanmax(skew_rms):.2f} (at "
        f"{tr['depth'][int(np.nanargmax(skew_rms))]:.0f} m), against {noise:.2f} for Gaussian "
        "series of the same length: its surface anomalies are "
        + ("nearly Gaussian" if skew_rms[k5] < 1.2 * noise else "skewed")
        + ", its subsurface ones "
        + (
            "nearly Gaussian"
            if np.nanmax(skew_rms) < 1.2 * noise
            else "skewed in the upper thermocline, where heave moves a curved mean profile"
        )
        + f". OSTIA's rms skewness is {ost['skewness_rms']:.2f} against "
        f"{_gauss_skew_sd(res['ostia']['months']):.2f} for noise alone"
        + (
            ", more than noise: real anomalies are skewed where ENSO acts (Burgers & "
            "Stephenson 1999)."
            if ost["skewness_rms"] > 1.2 * _gauss_skew_sd(res["ostia"]["months"])
            else "."
        ),
        "- **Not measured here.** No offline file holds a real subsurface anomaly time series, "
        "so subsurface scales, persistence, variance and vertical modes are compared only with "
        "the literature, in words; the real rows are surface only and short (54 months of a "
        "narrow equatorial strip, 50 winter means of the Pacific). Salinity, and the "
        "temperature–salinity compensation of real heave, are not in the world at all.",
    ]
    return lines


def run(out: Path, *, months: int, resolution: float, centres: int, seed: int = 0) -> dict:
    start = time.perf_counter()
    res: dict = {"resolution": resolution, "world": {}}
    for split in ("train", "test"):
        anom = world_anomalies(split, months, resolution, seed)
        res["world"][split] = world_stats(anom, centres)
        print(f"world {split}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    res["ostia"] = surface_stats(ostia_anomalies(), ["tropics"], centres)
    res["ostia"]["label"] = "OSTIA 5°S–5°N"
    res["eofs"] = surface_stats(eofs_anomalies(), list(rs.LAT_BANDS), centres)
    res["eofs"]["label"] = "eofs Pacific NDJFM"
    res["wall_s"] = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(res, out)
    (out / "realism.json").write_text(json.dumps(res, indent=1, allow_nan=True))
    (out / "realism.md").write_text(write_page(res, out, figs))
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "realism")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--centres", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="5° grid, 6 months, 40 centres")
    parser.add_argument(
        "--from-json",
        action="store_true",
        help="only rewrite the page and figures from realism.json",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        res = json.loads((args.out / "realism.json").read_text())
        (args.out / "realism.md").write_text(write_page(res, args.out, figures(res, args.out)))
        return
    if args.quick:
        args.months, args.resolution, args.centres = 6, 5.0, 40
    run(args.out, months=args.months, resolution=args.resolution, centres=args.centres)
    print(f"wrote {args.out / 'realism.md'}")


if __name__ == "__main__":
    main()
