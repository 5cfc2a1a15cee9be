"""Statistics of monthly temperature anomalies, to compare a synthetic world with the real ocean.

Every function takes an anomaly field, ``(time, depth, lat, lon)`` or ``(time, lat, lon)``
(a surface field), with land as NaN, and works on each grid point's time series after removing
its time mean, so a constant bias of the mean state does not enter (see :func:`mean_offset`
for that). Points that are not finite at every time are left out.

- :func:`correlation_vs_distance`: the correlation of two points' series against their
  great-circle distance, binned, from a subsample of centre points, optionally only for
  zonal or meridional pairs; :func:`decorrelation_scale` reads its 1/e distance.
- :func:`lag_correlation`: the lag-one autocorrelation of each series, corrected for the
  bias of short series.
- :func:`anomaly_std`, :func:`skewness`: per point; :func:`by_band` averages any per-point
  statistic over latitude bands with area weights.
- :func:`vertical_modes`: the share of variance of the leading vertical EOFs of the columns.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> anom = xr.DataArray(
...     rng.standard_normal((24, 10, 20)),
...     dims=("time", "lat", "lon"),
...     coords={"lat": np.linspace(-45, 45, 10), "lon": np.arange(0, 360, 18.0)},
... )
>>> curve = correlation_vs_distance(anom, centres=20)
>>> bool(abs(float(curve.sel(distance=1125.0))) < 0.1)
True
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = [
    "DISTANCE_BINS_KM",
    "LAT_BANDS",
    "anomaly_std",
    "by_band",
    "correlation_vs_distance",
    "decorrelation_scale",
    "lag_correlation",
    "mean_offset",
    "skewness",
    "vertical_modes",
]

EARTH_RADIUS_KM = 6371.0
#: Latitude bands by absolute latitude (degrees): lower edge inclusive, upper exclusive.
LAT_BANDS: dict[str, tuple[float, float]] = {
    "tropics": (0.0, 15.0),
    "mid-latitudes": (15.0, 45.0),
    "high latitudes": (45.0, 90.01),
}
#: Default distance bins (km) of :func:`correlation_vs_distance`.
DISTANCE_BINS_KM = np.arange(0.0, 3001.0, 250.0)
_CONE = np.tan(np.deg2rad(30.0))  # a pair is zonal (meridional) within 30° of east (north)


def _series(anom: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The columns of a ``(time, lat, lon)`` field that are finite at every time, with their
    time mean removed: ``(values (time, n), lat (n,), lon (n,))``."""
    anom = anom.transpose("time", "lat", "lon")
    lat2, lon2 = np.meshgrid(anom["lat"].values, anom["lon"].values, indexing="ij")
    values = np.asarray(anom.values, float).reshape(anom.sizes["time"], -1)
    keep = np.all(np.isfinite(values), axis=0)
    values = values[:, keep] - values[:, keep].mean(axis=0)
    return values, lat2.ravel()[keep], lon2.ravel()[keep]


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _in_band(lat: np.ndarray, band: str | None) -> np.ndarray:
    if band is None:
        return np.ones(lat.shape, bool)
    lo, hi = LAT_BANDS[band]
    return (np.abs(lat) >= lo) & (np.abs(lat) < hi)


def correlation_vs_distance(
    anom: xr.DataArray,
    *,
    bins_km: np.ndarray = DISTANCE_BINS_KM,
    band: str | None = None,
    direction: str = "all",
    centres: int = 300,
    seed: int = 0,
) -> xr.DataArray:
    """Mean correlation of anomaly time series against great-circle distance.

    Parameters
    ----------
    anom
        Anomalies ``(time, lat, lon)``, NaN on land; at least three times.
    bins_km
        Edges of the distance bins (km). Pairs at distance zero (a point with itself) are
        left out.
    band
        A key of :data:`LAT_BANDS`: only centre points in that band (their partners may lie
        anywhere); ``None`` for all.
    direction
        ``"all"``, ``"zonal"`` (pairs within 30° of east-west) or ``"meridional"`` (within 30°
        of north-south).
    centres
        Number of centre points drawn at random (all points are partners).
    seed
        Seed of the draw.

    Returns
    -------
    xarray.DataArray
        ``correlation(distance)`` at the bin centres (NaN where a bin has no pair), with the
        number of pairs per bin as coordinate ``pairs``.
    """
    if direction not in ("all", "zonal", "meridional"):
        raise ValueError(f"direction must be 'all', 'zonal' or 'meridional', not {direction!r}")
    values, lat, lon = _series(anom)
    norm = np.sqrt(np.sum(values**2, axis=0))
    ok = norm > 0
    values, lat, lon = values[:, ok] / norm[ok], lat[ok], lon[ok]
    pool = np.flatnonzero(_in_band(lat, band))
    rng = np.random.default_rng(seed)
    pick = rng.choice(pool, size=min(centres, pool.size), replace=False) if pool.size else pool
    xyz = _unit(lat, lon)
    edges = np.asarray(bins_km, float)
    sums, counts = np.zeros(edges.size - 1), np.zeros(edges.size - 1, int)
    for start in range(0, pick.size, 64):
        c = pick[start : start + 64]
        cosang = np.clip(xyz[c] @ xyz.T, -1.0, 1.0)
        dist = EARTH_RADIUS_KM * np.arccos(cosang)
        corr = values[:, c].T @ values
        use = (dist > 1e-3) & (dist < edges[-1])
        if direction != "all":
            dy = np.abs(lat[None, :] - lat[c][:, None])
            dlon = np.abs((lon[None, :] - lon[c][:, None] + 180.0) % 360.0 - 180.0)
            dx = dlon * np.cos(np.deg2rad(0.5 * (lat[None, :] + lat[c][:, None])))
            use &= (dy <= _CONE * dx) if direction == "zonal" else (dx <= _CONE * dy)
        k = np.digitize(dist[use], edges) - 1
        sums += np.bincount(k, weights=corr[use], minlength=edges.size - 1)
        counts += np.bincount(k, minlength=edges.size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    centre = 0.5 * (edges[:-1] + edges[1:])
    return xr.DataArray(
        mean,
        dims="distance",
        coords={"distance": centre, "pairs": ("distance", counts)},
        name="correlation",
        attrs={"units": "1", "distance_units": "km", "band": str(band), "direction": direction},
    )


def decorrelation_scale(curve: xr.DataArray, level: float = float(np.exp(-1.0))) -> float:
    """Distance (km) where a correlation curve first falls below ``level`` (1/e by default),
    interpolated linearly from a correlation of 1 at zero distance; NaN if it never does."""
    d = np.concatenate([[0.0], curve["distance"].values])
    c = np.concatenate([[1.0], curve.values])
    good = np.isfinite(c)
    d, c = d[good], c[good]
    below = np.flatnonzero(c < level)
    if below.size == 0:
        return float("nan")
    i = below[0]
    return float(d[i - 1] + (d[i] - d[i - 1]) * (c[i - 1] - level) / (c[i - 1] - c[i]))


def _per_point(anom: xr.DataArray, fn) -> xr.DataArray:
    """Apply ``fn(values (time, n)) -> (n,)`` to every column of every level."""
    levels = (
        [anom]
        if "depth" not in anom.dims
        else [anom.isel(depth=k) for k in range(anom.sizes["depth"])]
    )
    out = []
    for field in levels:
        field = field.transpose("time", "lat", "lon")
        values = np.asarray(field.values, float).reshape(field.sizes["time"], -1)
        keep = np.all(np.isfinite(values), axis=0)
        result = np.full(values.shape[1], np.nan)
        if keep.any():
            v = values[:, keep]
            result[keep] = fn(v - v.mean(axis=0))
        out.append(result.reshape(field.sizes["lat"], field.sizes["lon"]))
    dims = ("depth", "lat", "lon") if "depth" in anom.dims else ("lat", "lon")
    data = np.stack(out) if "depth" in anom.dims else out[0]
    coords = {d: anom[d] for d in dims}
    return xr.DataArray(data, dims=dims, coords=coords)


def lag_correlation(anom: xr.DataArray, *, lag: int = 1, bias_correct: bool = True) -> xr.DataArray:
    """Lag-``lag`` autocorrelation of each point's anomaly series, per point.

    With ``bias_correct`` (lag one only) the estimate ``r`` of a series of ``n`` values is
    corrected for the first-order bias of the sample autocorrelation of an AR(1) process with
    an unknown mean, ``E[r] ≈ ρ − (1 + 4ρ)/n`` (Marriott & Pope 1954), as
    ``(n·r + 1)/(n − 4)``: short series (two years of months) otherwise understate persistence
    by about 0.1–0.15.
    """
    n = anom.sizes["time"]

    def fn(v: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.sum(v[lag:] * v[:-lag], axis=0) / np.sum(v**2, axis=0)
        if bias_correct and lag == 1 and n > 5:
            r = (n * r + 1.0) / (n - 4.0)
        return np.clip(r, -1.0, 1.0)

    return _per_point(anom, fn).rename("lag_correlation")


def anomaly_std(anom: xr.DataArray) -> xr.DataArray:
    """Standard deviation over time (``ddof=1``) of each point's anomaly, °C."""
    n = anom.sizes["time"]
    return _per_point(anom, lambda v: np.sqrt(np.sum(v**2, axis=0) / (n - 1))).rename("std")


def skewness(anom: xr.DataArray) -> xr.DataArray:
    """Sample skewness ``g1`` over time of each point's anomaly (NaN where it is constant)."""

    def fn(v: np.ndarray) -> np.ndarray:
        m2 = np.mean(v**2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(m2 > 1e-20, np.mean(v**3, axis=0) / m2**1.5, np.nan)

    return _per_point(anom, fn).rename("skewness")


def mean_offset(anom: xr.DataArray) -> xr.DataArray:
    """Time mean of each point's anomaly: the departure of the mean state (°C)."""
    return anom.mean("time", skipna=False).rename("mean_offset")


def by_band(stat: xr.DataArray, *, how: str = "mean", bands: dict | None = None) -> xr.DataArray:
    """Area-weighted (cos latitude) average of a per-point statistic over latitude bands.

    Parameters
    ----------
    stat
        ``(..., lat, lon)``, NaN where undefined.
    how
        ``"mean"``, ``"rms"`` (root of the mean square: for standard deviations) or
        ``"absmean"``.
    bands
        ``{name: (lo, hi)}`` of absolute latitude; :data:`LAT_BANDS` plus ``"global"`` by
        default.

    Returns
    -------
    xarray.DataArray
        ``(..., band)``.
    """
    bands = bands or {**LAT_BANDS, "global": (0.0, 90.01)}
    values = {"mean": stat, "rms": stat**2, "absmean": abs(stat)}[how]
    weight = np.cos(np.deg2rad(stat["lat"])) * xr.ones_like(stat["lon"], dtype=float)
    out = []
    for lo, hi in bands.values():
        inside = (abs(stat["lat"]) >= lo) & (abs(stat["lat"]) < hi)
        w = weight.where(inside, 0.0).where(np.isfinite(values), 0.0)
        total = w.sum(("lat", "lon"))
        mean = (values.fillna(0.0) * w).sum(("lat", "lon")) / total.where(total > 0)
        out.append(np.sqrt(mean) if how == "rms" else mean)
    return xr.concat(out, dim="band").assign_coords(band=list(bands)).transpose(..., "band")


def vertical_modes(
    anom: xr.DataArray,
    *,
    max_depth: float = 2000.0,
    n_modes: int = 3,
    max_columns: int = 2000,
    seed: int = 0,
) -> tuple[np.ndarray, xr.DataArray]:
    """Leading vertical EOFs of the anomaly columns over ``0..max_depth``.

    Columns deep enough to be finite at every level down to ``max_depth`` at every time are
    drawn (at most ``max_columns``), their time means removed, and each level weighted by the
    square root of its layer thickness, so that the modes describe the water column rather than
    the spacing of its levels.

    Returns
    -------
    shares : numpy.ndarray
        Share of the variance of each of the ``n_modes`` leading modes.
    modes : xarray.DataArray
        ``(mode, depth)``, unit-norm in the weighted space, sign such that the largest value is
        positive.
    """
    field = anom.sel(depth=anom["depth"] <= max_depth).transpose("time", "depth", "lat", "lon")
    depth = field["depth"].values
    t, nz = field.sizes["time"], depth.size
    values = np.asarray(field.values, float).reshape(t, nz, -1)
    keep = np.flatnonzero(np.all(np.isfinite(values), axis=(0, 1)))
    rng = np.random.default_rng(seed)
    if keep.size > max_columns:
        keep = rng.choice(keep, size=max_columns, replace=False)
    v = values[:, :, keep]
    v = v - v.mean(axis=0)
    bounds = np.concatenate([[0.0], 0.5 * (depth[1:] + depth[:-1]), [depth[-1]]])
    w = np.sqrt(np.diff(bounds))
    x = (v * w[None, :, None]).transpose(0, 2, 1).reshape(-1, nz)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    shares = s**2 / np.sum(s**2)
    modes = vt[:n_modes] / w
    modes *= np.sign(modes[np.arange(n_modes), np.argmax(np.abs(modes), axis=1)])[:, None]
    out = xr.DataArray(
        modes, dims=("mode", "depth"), coords={"mode": np.arange(1, n_modes + 1), "depth": depth}
    )
    return shares[:n_modes], out
