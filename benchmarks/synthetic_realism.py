"""Compare the synthetic ocean with the real fields that ship in ``iris-sample-data``.

Run: ``.venv/bin/python benchmarks/synthetic_realism.py --figure docs/images/synthetic_realism.png``

Prints three tables: zonal-mean SST by latitude band (NEMO ORCA1 January 2015 monthly mean
``tos`` vs synthetic January), the equatorial band's SST statistics (OSTIA monthly, 5°S–5°N,
all 54 months vs synthetic months), and the tropical South Atlantic mean profile (the real
potential-temperature cube vs the synthetic ocean over the same latitudes).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import xarray as xr

from xdepthdif.evaluation.truth import atlantic_truth
from xdepthdif.prior.synthetic import synthetic_ocean


def _sample(name: str) -> Path:
    import iris_sample_data

    return Path(iris_sample_data.__file__).parent / "sample_data" / name


def zonal_sst_table(synth: xr.Dataset) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    with xr.open_dataset(_sample("NEMO/nemo_1m_20150101-20150201_grid-T.nc")) as nemo:
        tos, lat = nemo.tos.isel(time_counter=0).values, nemo.nav_lat.values
    edges = np.arange(-80, 81, 20)
    sst = synth.thetao.isel(time=0, depth=0)
    rows, real, fake = [], [], []
    for lo, hi in itertools.pairwise(edges):
        band = (lat >= lo) & (lat < hi) & np.isfinite(tos) & (tos != 0)
        real.append(float(np.mean(tos[band])))
        fake.append(float(sst.sel(lat=slice(lo, hi)).mean()))
        rows.append(f"| {lo}° to {hi}° | {real[-1]:.1f} | {fake[-1]:.1f} |")
    return rows, edges, np.array(real), np.array(fake)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    months = [f"2001-{m:02d}-15" for m in range(1, 13)]
    synth = synthetic_ocean(months[:1], resolution=1.0, seed=0)
    rows, edges, real_sst, fake_sst = zonal_sst_table(synth)
    print("Zonal-mean SST (°C), January: NEMO ORCA1 2015 vs synthetic")
    print("| band | NEMO | synthetic |\n|---|---:|---:|")
    print("\n".join(rows))

    with xr.open_dataset(_sample("ostia_monthly.nc")) as ostia:
        eq = ostia.surface_temperature.load() - 273.15
    year = synthetic_ocean(months, resolution=1.0, seed=0, levels=np.array([5.0]))
    syn_eq = year.thetao.isel(depth=0).sel(lat=slice(-5, 5))
    print("\nEquatorial band 5°S–5°N, SST (°C): OSTIA monthly 2006–2010 vs synthetic year")
    print("| statistic | OSTIA | synthetic |\n|---|---:|---:|")
    for name, fn in (
        ("mean", np.nanmean),
        ("std over space and time", np.nanstd),
        ("5th percentile", lambda a: np.nanpercentile(a, 5)),
        ("95th percentile", lambda a: np.nanpercentile(a, 95)),
    ):
        print(f"| {name} | {fn(eq.values):.2f} | {fn(syn_eq.values):.2f} |")

    real = atlantic_truth(1).isel(time=0)
    prof = synthetic_ocean(months, resolution=1.0, seed=0, levels=real.depth.values)
    synth_prof = prof.thetao.sel(lat=slice(-10, -1.5)).mean(("time", "lat", "lon")).values
    real_prof = real.mean(("lat", "lon")).values
    print("\nTropical South Atlantic mean profile (°C): real cube vs synthetic, 10°S–1.5°S")
    print("| depth (m) | real | synthetic |\n|---:|---:|---:|")
    for k in (0, 9, 20, 25, 28, 30, 33, 35):
        print(f"| {real.depth.values[k]:g} | {real_prof[k]:.1f} | {synth_prof[k]:.1f} |")
    upper = real.depth.values <= 2000
    rmse = np.sqrt(np.nanmean((synth_prof - real_prof)[upper] ** 2))
    print(f"\nRMSE of the mean profile over 0–2000 m: {rmse:.2f} °C")

    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(
            1,
            3,
            figsize=(14, 4),
            constrained_layout=True,
            gridspec_kw={"width_ratios": [2.2, 1, 1]},
        )
        synth.thetao.isel(time=0, depth=0).plot(
            ax=axes[0], cmap="RdYlBu_r", cbar_kwargs={"label": "°C"}
        )
        axes[0].set_title("synthetic SST, January (seed 0)")
        centres = 0.5 * (edges[1:] + edges[:-1])
        axes[1].plot(real_sst, centres, "o-", label="NEMO ORCA1 Jan 2015")
        axes[1].plot(fake_sst, centres, "s--", label="synthetic Jan")
        axes[1].set(xlabel="zonal-mean SST (°C)", ylabel="latitude", title="SST by latitude")
        axes[1].legend(fontsize=8)
        axes[2].plot(real_prof, real.depth, "o-", ms=3, label="real cube")
        axes[2].plot(synth_prof, real.depth, "s--", ms=3, label="synthetic")
        axes[2].set_yscale("symlog", linthresh=100.0)
        axes[2].set(
            ylim=(2000, 0), xlabel="°C", ylabel="depth (m)", title="10°S–1.5°S mean profile"
        )
        axes[2].legend(fontsize=8)
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=90)
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
