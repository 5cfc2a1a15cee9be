"""Build the shipped climatology from the NOAA PMEL Ferret sample data (``make climatology``).

Sources, all in Debian's ``ferret-datasets`` package (``usr/share/ferret-vis/data/``, public
domain; NOAA PMEL):

- ``levitus_climatology.cdf``: annual in-situ temperature and salinity, 1°, 20 levels to 5000 m
  (Levitus 1994) — the mean state and the salinity used to compute potential temperature;
- ``ocean_atlas_subset.nc``: monthly in-situ temperature of the World Ocean Atlas, every other
  1° point, 19 levels to 1000 m — the seasonal cycle;
- ``etopo5.cdf``: 5′ relief — the coastline and sea floor.

Steps: the Levitus mean goes linearly in depth onto the 42 levels (its deepest value carried
down to 5350 m); the WOA months are floored at the freezing point (their −3.00 °C placeholders
included), despiked in time (a month more than five robust deviations, at least 0.5 °C, from the
point's median is dropped; a few hundred points hold summer values above 20 °C in Baffin Bay),
and fitted with an annual and a semi-annual harmonic, which are interpolated onto the 1° grid
and the levels above 1000 m and tapered to zero between 400 and 1000 m (below 400 m the monthly
WOA fields are dominated by sampling noise; the taper blends the seasonal layer into the annual
deep ocean without a seam). In-situ temperature becomes potential temperature (reference 0 dbar)
with TEOS-10 (gsw) and the Levitus salinity; the harmonics are scaled by ∂θ/∂t. Cells that ETOPO5
counts as sea but the sources do not take the nearest value of their level.

Run ``python -m xdepthdif.sources.atlas_build FERRET_DATA_DIR OUT.nc``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import gsw
import netCDF4
import numpy as np
import xarray as xr

from ..analysis.first_guess import carry_down, vertical
from ..grid.fill import fill_from_nearest
from ..prior.synthetic import en4_like_levels

SEASONAL_TOP_M, SEASONAL_BOTTOM_M = 400.0, 1000.0
SOURCE = "Debian package ferret-datasets (NOAA PMEL Ferret sample data), usr/share/ferret-vis/data"
LICENCE = "Public domain (NOAA PMEL; Ferret licence agreement: 'in the public domain')."


def _read(path: Path, name: str) -> tuple[netCDF4.Dataset, np.ndarray]:
    ds = netCDF4.Dataset(path)
    ds.set_auto_mask(False)
    var = ds[name]
    values = var[:].astype(float)
    for attr in ("_FillValue", "missing_value"):
        if attr in var.ncattrs():
            values[values == float(var.getncattr(attr))] = np.nan
    return ds, values


def _axis(ds: netCDF4.Dataset, var: str, i: int) -> np.ndarray:
    return np.asarray(ds[ds[var].dimensions[i]][:], float)


def _east(lon: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes into 0..360, ascending."""
    lon = np.mod(lon, 360.0)
    order = np.argsort(lon)
    return lon[order], values[..., order]


def harmonic_fit(monthly: np.ndarray, min_months: int = 9) -> np.ndarray:
    """Annual and semi-annual harmonics ``(4, ...)`` of 12 monthly values ``(12, ...)``.

    Least squares with a mean; points with fewer than ``min_months`` finite months get NaN.
    """
    t = (np.arange(12) + 0.5) / 12.0
    basis = np.stack(
        [np.ones(12), *(f(2 * np.pi * n * t) for n in (1, 2) for f in (np.cos, np.sin))], 1
    )
    flat = monthly.reshape(12, -1)
    out = np.full((4, flat.shape[1]), np.nan)
    ok = np.isfinite(flat)
    full = ok.all(0)
    out[:, full] = (np.linalg.pinv(basis) @ flat[:, full])[1:]
    for j in np.flatnonzero(~full & (ok.sum(0) >= min_months)):
        m = ok[:, j]
        out[:, j] = np.linalg.lstsq(basis[m], flat[m, j], rcond=None)[0][1:]
    return out.reshape(4, *monthly.shape[1:])


def despike(monthly: np.ndarray, n_dev: float = 5.0, floor: float = 0.5) -> np.ndarray:
    """Months more than ``n_dev`` robust deviations (at least ``floor`` °C) from the median: NaN."""
    med = np.nanmedian(monthly, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(monthly - med), axis=0)
    spike = np.abs(monthly - med) > n_dev * np.maximum(mad, floor)
    return np.where(spike, np.nan, monthly)


def sea_fraction(relief_path: Path, lat: np.ndarray, lon: np.ndarray, depth: np.ndarray):
    """Share of each 1° cell deeper than each level, and the cells' mean depth, from ETOPO5."""
    ds, rose = _read(relief_path, "ROSE")
    rlat, rlon = _axis(ds, "ROSE", 0), np.mod(_axis(ds, "ROSE", 1), 360.0)
    step_y, step_x = np.diff(lat).mean(), np.diff(lon).mean()
    iy = np.clip(np.floor((rlat - (lat[0] - step_y / 2)) / step_y).astype(int), 0, lat.size - 1)
    ix = np.floor(np.mod(rlon - (lon[0] - step_x / 2), 360.0) / step_x).astype(int) % lon.size
    cell = (iy[:, None] * lon.size + ix[None, :]).ravel()
    below = np.nan_to_num(-rose, nan=0.0).ravel()
    n = np.bincount(cell, minlength=lat.size * lon.size)
    frac = np.stack(
        [np.bincount(cell, weights=(below > z), minlength=n.size) / n for z in depth]
    ).reshape(depth.size, lat.size, lon.size)
    mean_depth = (np.bincount(cell, weights=np.maximum(below, 0), minlength=n.size) / n).reshape(
        lat.size, lon.size
    )
    return frac, mean_depth


def build(folder: str | Path, levels: np.ndarray | None = None) -> xr.Dataset:
    """The climatology dataset from the Ferret data ``folder`` (see the module docstring)."""
    folder = Path(folder)
    depth = en4_like_levels() if levels is None else np.asarray(levels, float)
    lev, temp = _read(folder / "levitus_climatology.cdf", "TEMP")
    _, salt = _read(folder / "levitus_climatology.cdf", "SALT")
    zl, lat = _axis(lev, "TEMP", 0), _axis(lev, "TEMP", 1)
    lon, temp = _east(_axis(lev, "TEMP", 2), temp)
    _, salt = _east(_axis(lev, "SALT", 2), salt)
    # one standard level down: the sea floor lies somewhere between the deepest value and the
    # next level; deeper cells that ETOPO5 counts as sea take their level's nearest value below
    t_mean = vertical(carry_down(temp, levels=1), zl, depth)
    s_mean = vertical(carry_down(salt, levels=1), zl, depth)

    woa, monthly = _read(folder / "ocean_atlas_subset.nc", "TEMP")
    zw, wlat = _axis(woa, "TEMP", 1), _axis(woa, "TEMP", 2)
    wlon, monthly = _east(_axis(woa, "TEMP", 3), monthly)
    s_woa = _nearest_rows(vertical(carry_down(salt), zl, zw), lat, lon, wlat, wlon)
    p_woa = gsw.p_from_z(-zw[:, None, None], wlat[None, :, None])
    sa_woa = gsw.SA_from_SP(np.nan_to_num(s_woa, nan=34.5), p_woa, wlon, wlat[:, None])
    monthly = np.where(
        np.isfinite(monthly), np.maximum(monthly, gsw.t_freezing(sa_woa, p_woa, 0)), np.nan
    )
    harm = harmonic_fit(despike(monthly))
    harm = fill_from_nearest(harm, True, wlat, wlon)
    harm = _bilinear(harm, wlat, wlon, lat, lon)
    upper = depth <= zw[-1]
    seasonal = np.zeros((4, depth.size, lat.size, lon.size))
    seasonal[:, upper] = np.moveaxis(vertical(np.moveaxis(harm, 1, 0), zw, depth[upper]), 0, 1)
    seasonal *= _taper(depth)[None, :, None, None]

    p = gsw.p_from_z(-depth[:, None, None], lat[None, :, None])
    sa = gsw.SA_from_SP(s_mean, p, lon, lat[:, None])
    theta = gsw.pt0_from_t(sa, t_mean, p)
    slope = gsw.pt0_from_t(sa, t_mean + 0.5, p) - gsw.pt0_from_t(sa, t_mean - 0.5, p)
    seasonal *= np.where(np.isfinite(slope), slope, 1.0)
    freezing = gsw.pt0_from_t(sa, gsw.t_freezing(sa, p, 0), p)

    frac, mean_depth = sea_fraction(folder / "etopo5.cdf", lat, lon, depth)
    wet = frac > 0
    theta = np.where(wet, fill_from_nearest(theta, wet, lat, lon), np.nan)
    freezing = np.where(wet, fill_from_nearest(freezing, wet, lat, lon), np.nan)
    theta = np.maximum(theta, freezing)
    seasonal = np.where(wet[None], np.nan_to_num(seasonal), np.nan)
    return _dataset(theta, seasonal, freezing, frac, mean_depth, depth, lat, lon)


def _nearest_rows(field, lat, lon, wlat, wlon):
    """``field`` on (lat, lon) at the nearest points of the (wlat, wlon) grid."""
    iy = np.abs(lat[:, None] - wlat[None, :]).argmin(0)
    ix = np.abs(np.mod(lon[:, None] - wlon[None, :] + 180, 360) - 180).argmin(0)
    return field[:, iy][:, :, ix]


def _bilinear(field, src_lat, src_lon, lat, lon):
    from ..grid.rectilinear import Regridder

    return Regridder.bilinear(src_lat, src_lon, lat, lon)(field)


def _taper(depth: np.ndarray) -> np.ndarray:
    x = np.clip((depth - SEASONAL_TOP_M) / (SEASONAL_BOTTOM_M - SEASONAL_TOP_M), 0.0, 1.0)
    return np.cos(0.5 * np.pi * x) ** 2


def _dataset(theta, seasonal, freezing, frac, mean_depth, depth, lat, lon) -> xr.Dataset:
    dims = ("depth", "lat", "lon")
    ds = xr.Dataset(
        {
            "thetao_mean": (
                dims,
                theta.astype("f4"),
                {
                    "standard_name": "sea_water_potential_temperature",
                    "units": "degC",
                    "long_name": "annual mean potential temperature (reference 0 dbar)",
                },
            ),
            "thetao_harmonics": (
                ("harmonic", *dims),
                seasonal.astype("f4"),
                {
                    "units": "degC",
                    "long_name": "seasonal cycle: coefficients of cos/sin(n w t), "
                    "w = 2 pi / 365.25 d, t days since 1 January",
                },
            ),
            "thetao_freezing": (
                dims,
                freezing.astype("f4"),
                {"units": "degC", "long_name": "freezing point as potential temperature"},
            ),
            "sea_area_fraction": (
                dims,
                frac.astype("f4"),
                {
                    "standard_name": "sea_area_fraction",
                    "units": "1",
                    "long_name": "share of the cell deeper than the level (ETOPO5)",
                },
            ),
            "deptho": (
                ("lat", "lon"),
                mean_depth.astype("f4"),
                {
                    "standard_name": "sea_floor_depth_below_geoid",
                    "units": "m",
                    "long_name": "mean depth of the cell's sea floor, land as 0 (ETOPO5)",
                },
            ),
        },
        coords={
            "depth": (
                "depth",
                depth,
                {"units": "m", "positive": "down", "axis": "Z", "standard_name": "depth"},
            ),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
            "harmonic": ("harmonic", ["cos1", "sin1", "cos2", "sin2"]),
        },
    )
    ds.attrs = {
        "title": "xdepthdif climatology: monthly-resolved potential temperature, 1 degree",
        "Conventions": "CF-1.8",
        "source": SOURCE,
        "references": "Levitus (1994) World Ocean Atlas; NOAA NGDC ETOPO5; TEOS-10 (gsw)",
        "license": LICENCE,
        "history": f"{dt.date.today().isoformat()}: built by `make climatology` "
        "(python -m xdepthdif.sources.atlas_build)",
        "comment": __doc__.split("Run ``")[0].strip(),
    }
    return ds


def write(ds: xr.Dataset, path: str | Path) -> Path:
    """Write packed (int16/uint8) and compressed."""
    packed = {"zlib": True, "complevel": 9, "shuffle": True}
    enc = {
        "thetao_mean": {
            "dtype": "i2",
            "scale_factor": 0.001,
            "add_offset": 15.0,
            "_FillValue": -32768,
            **packed,
        },
        "thetao_harmonics": {"dtype": "i2", "scale_factor": 0.001, "_FillValue": -32768, **packed},
        "thetao_freezing": {"dtype": "i2", "scale_factor": 0.001, "_FillValue": -32768, **packed},
        "sea_area_fraction": {"dtype": "u1", "scale_factor": 0.01, "_FillValue": 255, **packed},
        "deptho": {"dtype": "i2", "scale_factor": 1.0, "_FillValue": -32768, **packed},
    }
    ds.to_netcdf(path, encoding=enc, engine="netcdf4")
    return Path(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="the ferret-datasets data folder")
    parser.add_argument("out", help="the netCDF file to write")
    args = parser.parse_args(argv)
    path = write(build(args.folder), args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
