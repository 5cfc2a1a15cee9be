"""Known truths to score analyses against.

- :func:`atlantic_snapshot`: the real 3-D temperature cube of ``iris-sample-data`` (tropical
  South Atlantic, a monthly mean of December 1984, 40 levels to 4478 m, 6 × 8 columns, stored in
  kelvin), the skill benchmark's real case; :func:`atlantic_truth`: the same cube repeated as
  the truth of several months, for the demo and the OI evidence's independent samplings;
- :func:`synthetic_truth`: months of the synthetic ocean the default model was trained on
  (:mod:`xdepthdif.prior.synthetic`), and :func:`training_climatology`, its climatology from
  training years;
- :func:`displaced_atlas_truth`: months of another ocean on the real planet, the shipped
  climatology displaced by random thermocline heave, with mixed-layer heat anomalies and a
  persistent large-scale bias, so that its mean state is not the climatology a first guess
  starts from.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "atlantic_snapshot",
    "atlantic_truth",
    "displaced_atlas_truth",
    "synthetic_truth",
    "training_climatology",
]


def atlantic_snapshot() -> xr.DataArray:
    """The real 3-D potential temperature cube from ``iris-sample-data``, in °C: the one
    monthly mean it holds (December 1984), timed at the middle of that month.

    Its longitudes keep the file's order (0.5°E first, then 325.5°E–355.5°E): a region
    crossing 0°.

    Examples
    --------
    >>> cube = atlantic_snapshot()
    >>> cube.sizes["time"], str(cube["time"].values[0])[:10], cube["lon"].values[:2].tolist()
    (1, '1984-12-16', [0.5, 325.5])
    """
    theta, start = _atlantic_cube()
    return _as_truth(theta, pd.DatetimeIndex([start + pd.Timedelta(days=15)]).values)


def atlantic_truth(months: int = 6, year: int = 1985) -> xr.DataArray:
    """The real 3-D potential temperature cube from ``iris-sample-data``, in °C, repeated as
    the truth of ``months`` consecutive months (one snapshot: the months are copies of it; see
    :func:`atlantic_snapshot` for the cube at its own time)."""
    from ..timing import mid_months

    theta, _ = _atlantic_cube()
    return _as_truth(theta, mid_months(f"{year}-01", months).values)


def _atlantic_cube() -> tuple[xr.DataArray, pd.Timestamp]:
    """The sample cube's ``theta`` (K, no time) and the first day of the month it averages."""
    try:
        import iris_sample_data
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The demo needs iris-sample-data: pip install 'xdepthdif[demo]'."
        ) from err
    path = Path(iris_sample_data.__file__).parent / "sample_data" / "atlantic_profiles.nc"
    with xr.open_dataset(path) as ds:
        theta = ds["theta"].load()
    if theta.attrs.get("units") != "K":
        raise ValueError(f"Expected the sample cube in kelvin, found {theta.attrs.get('units')}.")
    start = pd.Timestamp(theta["time"].values)
    return theta.drop_vars("time", errors="ignore"), start


def _as_truth(theta: xr.DataArray, times) -> xr.DataArray:
    """``theta`` (K) in °C, copied at each of ``times``, with CF attributes."""
    truth = (theta - 273.15).astype("float64").expand_dims(time=np.asarray(times))
    truth.attrs = {"standard_name": "sea_water_potential_temperature", "units": "degC"}
    truth["lat"].attrs.update(units="degrees_north")
    truth["lon"].attrs.update(units="degrees_east")
    return truth.rename("thetao")


def displaced_atlas_truth(
    times,
    resolution: float = 2.0,
    *,
    seed: int = 0,
    heave_m: float = 25.0,
    mixed_layer_c: float = 0.4,
    bias_heave_m: float = 20.0,
    bias_surface_c: float = 0.3,
    persistence: float = 0.7,
) -> xr.DataArray:
    """Monthly potential temperature (°C) of an ocean on the real planet that is not the
    shipped climatology.

    Each column is the climatology ``T̄`` of its day of year, heaved: ``T(z) = T̄(z − η(z))``,
    plus a mixed-layer anomaly ``h · w(z)`` (``w`` 1 in the top 30 m, decaying with an e-folding
    depth of 30 m below). ``η`` and ``h`` are sums of a basin-scale (2000–12000 km wavelengths)
    and a mesoscale (300–1000 km) random field, an AR(1) in time with lag-one correlation
    ``persistence``, plus a fixed large-scale bias (``bias_heave_m``, ``bias_surface_c``) that
    makes this ocean's mean state depart from the climatology by ~0.5–1 °C in the
    thermocline. ``η``'s amplitude grows from zero at the surface (e-folding 60 m) towards
    ``heave_m`` and falls to a third of it at depth, and its pattern turns between two
    independent fields over the top 2000 m, so levels far apart decorrelate. Land and the sea
    floor are the climatology's; values are floored at the freezing point.

    Parameters
    ----------
    times
        Monthly times (datetime-like), consecutive for the persistence to mean anything.
    resolution
        Grid spacing (degrees) of the global grid, on the 42 EN4-like levels.
    seed
        Seed of the random fields; the bias depends on it too.
    heave_m, mixed_layer_c, bias_heave_m, bias_surface_c, persistence
        Amplitudes (standard deviations) and lag-one correlation, see above.

    Examples
    --------
    >>> truth = displaced_atlas_truth(pd.date_range("2001-01-15", periods=2, freq="MS"), 5.0)
    >>> truth.dims, truth.shape
    (('time', 'depth', 'lat', 'lon'), (2, 42, 36, 72))
    >>> from xdepthdif.background import climatology
    >>> diff = truth - climatology(truth)
    >>> bool(0.1 < float(abs(diff.sel(depth=slice(100, 500))).mean()) < 2.0)
    True
    """
    from ..analysis.first_guess import carry_down
    from ..analysis.oi import freezing_point
    from ..background import climatology
    from ..grid.geo import unit_vectors
    from ..prior.synthetic import en4_like_levels, random_waves
    from ..prior.world import sample_depth, thetao_dataarray

    times = pd.DatetimeIndex(np.atleast_1d(np.asarray(times, "datetime64[ns]")))
    lat = np.arange(-90 + resolution / 2, 90, resolution)
    lon = np.arange(resolution / 2, 360, resolution)
    depth = en4_like_levels()
    clim = climatology(time=times.values, depth=depth, lat=lat, lon=lon).values
    xyz = unit_vectors(*np.meshgrid(lat, lon, indexing="ij"))

    def field(*key, share: float = 0.4) -> np.ndarray:
        rng = np.random.default_rng([seed, zlib.crc32(repr(key).encode())])
        basin = random_waves(rng, xyz, (2000.0, 12000.0), 48)
        meso = random_waves(rng, xyz, (300.0, 1000.0))
        return np.sqrt(1 - share) * basin + np.sqrt(share) * meso

    turn = np.clip(depth / 2000.0, 0.0, 1.0)[:, None, None] * (np.pi / 2)
    # heave grows below the surface layer (the mixed layer is not lifted bodily), then fades
    amp = heave_m * ((1 - np.exp(-depth / 60.0)) * (1 / 3 + 2 / 3 * np.exp(-depth / 1000.0)))
    amp = amp[:, None, None]
    mixed = np.where(depth <= 30.0, 1.0, np.exp(-(depth - 30.0) / 30.0))[:, None, None]
    bias = bias_heave_m * field("bias heave", share=0.0)
    bias_h = bias_surface_c * field("bias surface", share=0.0)
    rho, out = persistence, np.empty_like(clim)
    e1 = e2 = eh = None
    for i in range(times.size):
        n1, n2, nh = (field(name, i) for name in ("heave 1", "heave 2", "surface"))
        if e1 is None:
            e1, e2, eh = n1, n2, nh
        else:
            w = np.sqrt(1 - rho**2)
            e1, e2, eh = rho * e1 + w * n1, rho * e2 + w * n2, rho * eh + w * nh
        eta = amp * (np.cos(turn) * e1 + np.sin(turn) * e2) + bias * (amp / heave_m)
        column = carry_down(clim[i])
        heaved = sample_depth(column, depth, depth[:, None, None] - eta)
        value = heaved + mixed * (mixed_layer_c * eh + bias_h)
        out[i] = np.where(np.isfinite(clim[i]), value, np.nan)
    out = np.maximum(out, freezing_point(depth)[None, :, None, None])
    source = f"displaced_atlas_truth(seed={seed}): the shipped climatology, heaved"
    return thetao_dataarray(out, times, depth, lat, lon, source)


def synthetic_truth(months: Sequence[str], resolution: float, split: str) -> xr.DataArray:
    """The synthetic ocean's ``thetao`` (°C) for ``months`` (``"YYYY-MM"``, timed on the 15th).

    Examples
    --------
    >>> synthetic_truth(["2040-01"], 10.0, "test").dims
    ('time', 'depth', 'lat', 'lon')
    """
    from ..prior.synthetic import synthetic_ocean
    from ..timing import month_times

    return synthetic_ocean(month_times(months), resolution=resolution, split=split)["thetao"]


def training_climatology(
    truth: xr.DataArray, years: Sequence[int], resolution: float
) -> xr.DataArray:
    """Mean over training ``years`` of the synthetic ocean for each month of ``truth``."""
    out = []
    for when in pd.DatetimeIndex(truth["time"].values):
        months = [f"{y}-{when.month:02d}" for y in years]
        out.append(synthetic_truth(months, resolution, "train").mean("time"))
    clim = xr.concat(out, dim=truth["time"]).transpose(*truth.dims)
    return clim.assign_attrs(units="degC")
