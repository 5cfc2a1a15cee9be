"""The training world: monthly 3-D potential temperature on the real planet, with weather.

Each month is the shipped climatology ``T̄`` of its day of year (the real coastline, sea floor
and mean state), displaced the way the ocean's own variability displaces it (DESIGN §6.3):

- **thermocline heave** ``η(x, z, t)``: ``T̄(z − η)``; zero at the surface, largest in the
  upper thermocline, a third of it at depth. Two patterns share it: an upper one and a deep
  one, turning into each other over the top 2000 m, so levels far apart decorrelate and
  the deep ocean can persist longer than the upper;
- **lateral shifts** ``ξ(x, z, t)`` of fronts and eddies: ``T̄ − ξ·∇T̄``, largest where the
  mean state has strong horizontal gradients, fading with depth (to a tenth below ~1500 m);
- **mixed-layer heat content** ``h(x, t)``, confined to the climatological mixed layer (where
  ``T̄`` is within 0.2 °C of its surface value) and fading 20 m below it; the same heat warms
  a deep winter mixed layer less than a shallow one.

``η``, ``ξ`` and ``h`` are random fields with a red spectrum (plane waves on the sphere with
wavelengths from ``min_km`` to ``max_km``, amplitude growing with wavelength by ``slope``),
zonally elongated near the equator (a share of the variance, largest at the equator, comes
from nearly zonal bands), and persistent in time: every wave's coefficients follow an AR(1)
from month to month, started in :data:`EPOCH`, so a month is the same whatever range of
months is asked for. Fields are cell averages at the requested resolution (each cell averages
the waves over sub-cell points): what a cell does not resolve is the observations'
representativeness error, not signal.

Splits (:data:`WORLDS`): ``"train"`` and ``"validation"`` share the knobs and draw from
separate random streams; ``"test"`` is another world, with a shallower spectrum, larger and
more persistent anomalies, and a mean state that departs from the climatology by a fixed
large-scale bias (~0.5–1 °C in the thermocline, less at depth), so a first guess is never
handed the truth's own mean. Each split also has its own waves (directions, wavelengths and
phases, :attr:`WorldConfig.geometry`): with the training world's waves every month of another
split would be a combination of the same few hundred fixed patterns, which a model, or even
the sample covariance of training months, could learn and no real ocean offers (kriging with
the validation world's sample moments beat the OI by 12–15 % on the test world when they
shared the waves, and is 0–11 % worse than it now).

One draw of waves is still one set of patterns, and a model trained on a thousand months of it
learns that set. :attr:`WorldConfig.redraw_months` makes a world that draws its waves afresh
every few months (:func:`train_world`, ``xdepthdif train --redraw-months``), so what carries
from month to month of training is the waves' statistics, which is all an unseen world shares.

Examples
--------
>>> import pandas as pd
>>> times = pd.date_range("2001-01-15", periods=2, freq="MS")
>>> world = world_months(times, 5.0, "train", seed=1)
>>> world.dims, world.shape
(('time', 'depth', 'lat', 'lon'), (2, 42, 36, 72))
>>> from xdepthdif.background import climatology
>>> anomaly = world - climatology(world)
>>> bool(0.05 < float(abs(anomaly.sel(depth=slice(50, 300))).mean()) < 2.0)
True
>>> later = world_months(times[1:], 5.0, "train", seed=1)  # a month does not depend on the range
>>> bool(abs(later - world.isel(time=[1])).max() < 1e-9)
True
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pandas as pd
import xarray as xr

from ..grid.geo import EARTH_RADIUS_KM, unit_vectors

__all__ = ["EPOCH", "WORLDS", "WorldConfig", "train_world", "train_world_label", "world_months"]

EPOCH = pd.Timestamp("1900-01-01")
"""Month where every wave's AR(1) starts (from its stationary distribution)."""
MAX_SUB = 4
"""Most sub-cell points per axis used to average the waves over a cell."""


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """The knobs of a world.

    Attributes
    ----------
    heave_m, shift_km, mixed_layer_c
        Standard deviations of the heave (m, at its largest), the lateral shift (km) and the
        mixed-layer temperature anomaly (°C).
    slope
        Spectral slope: power ∝ k^-slope (2: equal variance per octave; 3: red).
    min_km, max_km
        Shortest and longest wavelength (km).
    zonal_share, zonal_width_deg
        Share of the variance from nearly zonal bands at the equator, and its e-folding
        latitude.
    persistence_upper, persistence_deep, persistence_mixed
        Month-to-month (lag-1) correlation of the upper and deep heave (and shifts) and of the
        mixed-layer anomaly.
    bias_heave_m, bias_shift_km, bias_surface_c
        Standard deviations of a fixed large-scale (2000–12000 km) displacement of the mean
        state: the world's own climate, not the shipped climatology.
    geometry
        Which draw of the waves' directions, wavelengths and phases the world is made of (for
        a given seed): the training world's is 0, and a world meant to be unseen takes its
        own.
    redraw_months
        0: one draw of the waves for all time. Otherwise the world draws new waves every
        ``redraw_months`` months from :data:`EPOCH` (an *era*) and starts every AR(1) afresh
        from its stationary distribution: months of different eras share only the knobs'
        statistics, not a set of patterns (1: every month is an independent draw).
    """

    heave_m: float = 25.0
    shift_km: float = 25.0
    mixed_layer_c: float = 0.4
    slope: float = 3.0
    min_km: float = 150.0
    max_km: float = 8000.0
    zonal_share: float = 0.5
    zonal_width_deg: float = 10.0
    persistence_upper: float = 0.6
    persistence_deep: float = 0.85
    persistence_mixed: float = 0.5
    bias_heave_m: float = 0.0
    bias_shift_km: float = 0.0
    bias_surface_c: float = 0.0
    geometry: int = 0
    redraw_months: int = 0


WORLDS = {
    "train": WorldConfig(),
    "validation": WorldConfig(geometry=1),
    "test": WorldConfig(
        geometry=2,
        heave_m=30.0,
        shift_km=30.0,
        mixed_layer_c=0.5,
        slope=2.5,
        persistence_upper=0.7,
        persistence_deep=0.9,
        persistence_mixed=0.6,
        bias_heave_m=20.0,
        bias_shift_km=20.0,
        bias_surface_c=0.3,
    ),
}
"""The knobs of each split."""


def train_world(redraw_months: int = 0) -> WorldConfig:
    """The training split's knobs, its waves drawn afresh every ``redraw_months`` months (0:
    one draw, the world the shipped models were trained on).

    Examples
    --------
    >>> train_world(12).redraw_months, train_world() == WORLDS["train"]
    (12, True)
    """
    if int(redraw_months) < 0:
        raise ValueError(f"redraw_months must be 0 (never) or positive, got {redraw_months!r}.")
    return dataclasses.replace(WORLDS["train"], redraw_months=int(redraw_months))


def train_world_label(redraw_months: int = 0) -> str:
    """How a model card names the training world of :func:`train_world`."""
    every = f", waves redrawn every {redraw_months} month(s)" if redraw_months else ""
    return f"world_months, split=train, seed=0{every}"


N_WAVES = 96
N_ZONAL = 48


def world_months(
    times,
    resolution: float,
    split: str = "train",
    *,
    seed: int = 0,
    config: WorldConfig | None = None,
) -> xr.DataArray:
    """Monthly potential temperature (°C) of the world of ``split`` on a global grid.

    Parameters
    ----------
    times
        Monthly times (datetime-like); each month is drawn from its own place in the world's
        AR(1) history, so any set of months is consistent with any other.
    resolution
        Grid spacing (degrees, 0.5–5) of the global grid, on the 42 EN4-like levels.
    split
        ``"train"``, ``"validation"`` or ``"test"`` (:data:`WORLDS`).
    seed
        Seed of the random streams (the split is part of every stream's key).
    config
        Knobs instead of the split's.

    Returns
    -------
    xarray.DataArray
        ``thetao(time, depth, lat, lon)``, NaN on land and below the sea floor.
    """
    from ..analysis.oi import freezing_point
    from ..background import climatology
    from .synthetic import en4_like_levels

    if split not in WORLDS:
        raise ValueError(f"split must be one of {sorted(WORLDS)}, got {split!r}.")
    if not 0.5 <= float(resolution) <= 5.0:
        raise ValueError(f"resolution must lie in 0.5..5 degrees, got {resolution!r}.")
    cfg = config or WORLDS[split]
    times = pd.DatetimeIndex(np.atleast_1d(np.asarray(times, "datetime64[ns]")))
    lat = np.arange(-90 + resolution / 2, 90, resolution)
    lon = np.arange(resolution / 2, 360, resolution)
    depth = en4_like_levels()
    clim = climatology(time=times.values, depth=depth, lat=lat, lon=lon).values

    months = np.asarray((times.year - EPOCH.year) * 12 + (times.month - 1))
    span = int(cfg.redraw_months)
    eras = months // span if span > 0 else np.zeros_like(months)
    out = np.empty_like(clim)
    for era in np.unique(eras):
        at = np.flatnonzero(eras == era)
        waves = _Waves(lat, lon, resolution, seed, split, cfg, int(era) if span > 0 else None)
        out[at] = _displace(clim[at], depth, lat, resolution, cfg, waves, months[at] - era * span)
    out = np.maximum(out, freezing_point(depth)[None, :, None, None])
    redraw = f", waves redrawn every {span} month(s)" if span > 0 else ""
    source = (
        f"xdepthdif training world (split={split}, seed={seed}{redraw}): the shipped "
        "climatology displaced by heave, lateral shifts and mixed-layer anomalies"
    )
    return thetao_dataarray(out, times, depth, lat, lon, source)


def _displace(clim, depth, lat, resolution, cfg: WorldConfig, waves: _Waves, months):
    """The months ``months`` (counted from the start of ``waves``' era) of the climatology
    ``clim(month, depth, lat, lon)`` displaced by ``waves``' heave, shifts and mixed layer."""
    from ..analysis.first_guess import carry_down

    heave_amp = cfg.heave_m * (1 - np.exp(-depth / 60.0)) * (1 / 3 + 2 / 3 * np.exp(-depth / 1000))
    shift_amp = cfg.shift_km * (0.1 + 0.9 * np.exp(-depth / 700.0))
    turn = (np.clip(depth / 2000.0, 0.0, 1.0) * np.pi / 2)[:, None, None]
    bias_eta = cfg.bias_heave_m * waves.fixed("bias heave")
    bias_xi = [cfg.bias_shift_km * waves.fixed(f"bias shift {c}") for c in "xy"]
    bias_h = cfg.bias_surface_c * waves.fixed("bias surface")
    upper, deep = waves.series("heave upper", months), waves.series("heave deep", months)
    xi = [waves.series(f"shift {c}", months) for c in "xy"]
    mixed = waves.series("mixed", months, persistence=cfg.persistence_mixed)
    out = np.empty_like(clim)
    for i in range(clim.shape[0]):
        pattern = np.cos(turn) * upper[i] + np.sin(turn) * deep[i]
        eta = heave_amp[:, None, None] * (pattern + bias_eta / max(cfg.heave_m, 1e-9))
        column = carry_down(clim[i])  # heaving near the floor stays finite
        value = sample_depth(column, depth, depth[:, None, None] - eta)
        gy, gx = _gradients(clim[i], lat, resolution)
        amp = shift_amp[:, None, None]
        value -= amp * (xi[0][i] * gx + xi[1][i] * gy) + (bias_xi[0] * gx + bias_xi[1] * gy)
        value += _mixed_layer_weight(clim[i], depth) * (cfg.mixed_layer_c * mixed[i] + bias_h)
        out[i] = np.where(np.isfinite(clim[i]), value, np.nan)
    return out


class _Waves:
    """Random plane waves on the sphere, averaged over each cell of a grid, and their AR(1)
    coefficients in time (see the module docstring)."""

    def __init__(self, lat, lon, resolution, seed, split, cfg: WorldConfig, era=None):
        self.seed, self.split, self.cfg = seed, split, cfg
        # a world of one era keeps the keys it always had, so its months stay as they were
        self.era = () if era is None else ("era", era)
        rng = self._rng("geometry", *([cfg.geometry] if cfg.geometry else []), *self.era)
        iso = rng.normal(size=(N_WAVES, 3))
        zonal = np.column_stack([0.15 * rng.normal(size=(N_ZONAL, 2)), np.ones(N_ZONAL)])
        direction = np.vstack([iso, zonal])
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        lo, hi = np.log(cfg.min_km), np.log(cfg.max_km)
        self.wavelength = np.exp(rng.uniform(lo, hi, direction.shape[0]))
        k = 2 * np.pi * EARTH_RADIUS_KM / self.wavelength
        phase = rng.uniform(0, 2 * np.pi, direction.shape[0])
        sub = int(min(MAX_SUB, max(1, np.ceil(resolution * 111.0 / (cfg.min_km / 2)))))
        offsets = (np.arange(sub) + 0.5) / sub - 0.5
        cos_sum = sin_sum = 0.0
        for dy in offsets:
            for dx in offsets:
                la = np.clip(lat + dy * resolution, -90, 90)
                xyz = unit_vectors(*np.meshgrid(la, lon + dx * resolution, indexing="ij"))
                arg = xyz @ (direction * k[:, None]).T + phase
                cos_sum, sin_sum = cos_sum + np.cos(arg), sin_sum + np.sin(arg)
        # (lat, lon, wave), float32: a 0.5° grid holds two of these
        self.cos = (cos_sum / sub**2).astype(np.float32)
        self.sin = (sin_sum / sub**2).astype(np.float32)
        zonal_weight = cfg.zonal_share * np.exp(-((lat / cfg.zonal_width_deg) ** 2))
        is_zonal = np.arange(direction.shape[0]) >= N_WAVES
        self.weight = np.sqrt(np.where(is_zonal, zonal_weight[:, None], 1 - zonal_weight[:, None]))
        self.is_zonal = is_zonal

    def _rng(self, *key) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(repr(key).encode())])

    def _amplitudes(self, min_km: float) -> np.ndarray:
        """Each wave's amplitude for the spectrum, unit variance within each of the two sets."""
        amp = self.wavelength ** ((self.cfg.slope - 2) / 2) * (self.wavelength >= min_km)
        for group in (self.is_zonal, ~self.is_zonal):
            amp[group] /= max(np.sqrt(np.sum(amp[group] ** 2)), 1e-12)
        return amp

    def _field(self, a: np.ndarray, b: np.ndarray, amp: np.ndarray) -> np.ndarray:
        """``Σ amp (a cos + b sin)``, each set weighted by latitude, ``(lat, lon)``."""
        field = np.zeros(self.cos.shape[:2])
        for group in (self.is_zonal, ~self.is_zonal):
            w = amp[group]
            part = self.cos[..., group] @ (w * a[group]) + self.sin[..., group] @ (w * b[group])
            field += self.weight[:, group][:, :1] * part
        return field

    def fixed(self, name: str) -> np.ndarray:
        """A unit-variance field of the large scales (2000 km and longer), fixed in time."""
        rng = self._rng("fixed", name, *self.era)
        a, b = rng.normal(size=(2, self.wavelength.size))
        return self._field(a, b, self._amplitudes(2000.0))

    def series(self, name: str, months, persistence: float | None = None) -> np.ndarray:
        """Unit-variance fields of ``months`` (counted from :data:`EPOCH`), ``(month, lat,
        lon)``: each wave's two coefficients an AR(1) with lag-1 ``persistence`` (the upper
        or deep heave's, by ``name``)."""
        if persistence is None:
            deep = name.startswith("heave deep")
            persistence = self.cfg.persistence_deep if deep else self.cfg.persistence_upper
        months = np.asarray(months)
        if months.min() < 0:
            raise ValueError(f"the world starts in {EPOCH:%Y-%m}; asked for an earlier month.")
        noise = self._rng("series", self.split, name, *self.era).normal(
            size=(int(months.max()) + 1, 2, self.wavelength.size)
        )
        coef = np.empty_like(noise)
        coef[0] = noise[0]
        w = np.sqrt(1 - persistence**2)
        for t in range(1, noise.shape[0]):
            coef[t] = persistence * coef[t - 1] + w * noise[t]
        amp = self._amplitudes(self.cfg.min_km)
        return np.stack([self._field(*coef[m], amp) for m in months])


def _gradients(field: np.ndarray, lat: np.ndarray, resolution: float):
    """Northward and eastward gradients (°C per km) of ``field(depth, lat, lon)``, periodic in
    longitude, one-sided beside land, 0 where a neighbour is missing on both sides."""
    step_y = np.deg2rad(resolution) * EARTH_RADIUS_KM
    step_x = step_y * np.maximum(np.cos(np.deg2rad(lat)), 0.05)[None, :, None]
    north = np.concatenate([field[:, 1:], field[:, -1:]], axis=1)
    south = np.concatenate([field[:, :1], field[:, :-1]], axis=1)
    east, west = np.roll(field, -1, axis=2), np.roll(field, 1, axis=2)
    gy = _centred(north, south, field) / step_y
    gx = _centred(east, west, field) / step_x
    return gy, gx


def _centred(plus: np.ndarray, minus: np.ndarray, here: np.ndarray) -> np.ndarray:
    both = (plus - minus) / 2
    out = np.where(np.isfinite(both), both, np.where(np.isfinite(plus), plus - here, here - minus))
    return np.nan_to_num(out)


def _mixed_layer_weight(field: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The temperature anomaly of one unit of mixed-layer heat content: ``50 m / MLD`` (at
    most 1) within the climatological mixed layer (``T̄`` within 0.2 °C of its top value),
    fading with an e-folding depth of 20 m below it. A deep winter mixed layer spreads the same
    heat over more water."""
    below = np.nan_to_num(np.abs(field[0] - field), nan=np.inf) > 0.2
    first = np.where(below.any(0), below.argmax(0), depth.size - 1)
    mld = np.maximum(depth[np.maximum(first - 1, 0)], depth[0])
    fade = np.exp(-np.maximum(depth[:, None, None] - mld[None], 0.0) / 20.0)
    return np.minimum(1.0, 50.0 / mld)[None] * fade


def sample_depth(column: np.ndarray, depth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``column(level, y, x)`` at depths ``at`` (same shape), clamped
    to the top and bottom levels.

    Examples
    --------
    >>> col = np.array([20.0, 10.0])[:, None, None]
    >>> sample_depth(col, np.array([0.0, 100.0]), np.array([25.0, 500.0])[:, None, None]).ravel()
    array([17.5, 10. ])
    """
    at = np.clip(at, depth[0], depth[-1])
    k = np.clip(np.searchsorted(depth, at) - 1, 0, depth.size - 2)
    z0, z1 = depth[k], depth[k + 1]
    v0 = np.take_along_axis(column, k, axis=0)
    v1 = np.take_along_axis(column, k + 1, axis=0)
    return v0 + (v1 - v0) * (at - z0) / (z1 - z0)


def thetao_dataarray(values, times, depth, lat, lon, source: str) -> xr.DataArray:
    """Monthly ``thetao(time, depth, lat, lon)`` (°C) with CF coordinates and ``source``."""
    coords = {
        "time": ("time", times.values, {"standard_name": "time"}),
        "depth": ("depth", depth, {"units": "m", "positive": "down", "standard_name": "depth"}),
        "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    attrs = {"standard_name": "sea_water_potential_temperature", "units": "degC"}
    return xr.DataArray(
        values,
        dims=("time", "depth", "lat", "lon"),
        coords=coords,
        name="thetao",
        attrs=attrs | {"source": source},
    )
