"""A seeded synthetic ocean: monthly 3-D potential temperature with the structure real oceans
have and Gaussian random fields lack.

Built from physical pieces, each resolution-independent (random fields are sums of plane waves
on the unit sphere, so any grid from 0.5° to 5° samples the same ocean):

- surface temperature falling from ~28 °C at the equator to −1.8 °C at the poles, with a
  seasonal cycle that grows with latitude and has opposite phase in the two hemispheres;
- a mixed layer, shallow in the tropics and deep in high-latitude winters, and a thermocline
  below it whose depth scale varies with latitude and in space;
- meandering fronts (a subpolar front in each hemisphere) and equatorial cold tongues;
- mesoscale eddies (a few hundred km) that heave the thermocline, so their signal is small at
  the surface, largest in the thermocline, and decays below it;
- continents and a sea floor that are fixed for a world (``world_seed``), giving coastlines
  and NaN below the bottom.

Months are drawn independently from ``(seed, split, year, month)``: the ``"train"`` and
``"test"`` splits never share a random stream.

Examples
--------
>>> import numpy as np
>>> ocean = synthetic_ocean(["2001-01-15", "2001-07-15"], resolution=5.0, seed=1)
>>> ocean.thetao.dims, ocean.thetao.shape
(('time', 'depth', 'lat', 'lon'), (2, 42, 36, 72))
>>> surface = ocean.thetao.isel(depth=0)
>>> bool(surface.sel(lat=-2.5).mean() > surface.sel(lat=62.5).mean() + 10)
True
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from ..grid.geo import EARTH_RADIUS_KM, unit_vectors

SPLITS = {"train": 0, "test": 1}


def en4_like_levels(n: int = 42, bottom: float = 5350.0) -> np.ndarray:
    """``n`` depths (m) from 5 m down, stretched like EN4's: 10 m apart at the surface, the
    spacing growing geometrically so that the deepest level lies near ``bottom``."""
    growth = _solve_growth(n, bottom)
    spacing = 10.0 * growth ** np.arange(n - 1)
    return np.round(np.concatenate([[5.0], 5.0 + np.cumsum(spacing)]), 2)


def _solve_growth(n: int, bottom: float) -> float:
    lo, hi = 1.0 + 1e-9, 2.0
    for _ in range(60):  # bisection on the geometric growth of the spacing
        mid = 0.5 * (lo + hi)
        total = 5.0 + 10.0 * (mid ** (n - 1) - 1) / (mid - 1)
        lo, hi = (mid, hi) if total < bottom else (lo, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class OceanConfig:
    """Knobs of the synthetic ocean (defaults chosen to resemble the real ocean's statistics)."""

    eddy_wavelength_km: tuple[float, float] = (250.0, 900.0)
    eddy_heave_m: float = 60.0
    eddy_surface_sd: float = 0.4
    front_jump: float = 4.0
    upwelling: float = 2.0
    land_fraction: float = 0.28
    world_seed: int = 0


def random_waves(
    rng: np.random.Generator, xyz: np.ndarray, wavelengths_km: tuple[float, float], n: int = 96
) -> np.ndarray:
    """A unit-variance isotropic random field on the sphere: a sum of random plane waves."""
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    lo, hi = np.log(wavelengths_km[0]), np.log(wavelengths_km[1])
    k = 2 * np.pi * EARTH_RADIUS_KM / np.exp(rng.uniform(lo, hi, n))
    phase = rng.uniform(0, 2 * np.pi, n)
    field = np.cos(xyz @ (direction * k[:, None]).T + phase).sum(-1)
    return field * np.sqrt(2.0 / n)


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(repr(key).encode())])


def _world(xyz: np.ndarray, lat: np.ndarray, cfg: OceanConfig) -> tuple[np.ndarray, np.ndarray]:
    """Land mask and sea-floor depth (m) of a world, fixed by ``cfg.world_seed``."""
    rng = _rng("world", cfg.world_seed)
    relief = random_waves(rng, xyz, (2500.0, 12000.0), n=48)
    cut = norm.ppf(1 - cfg.land_fraction)  # fixed, not from the grid: any grid, the same world
    land = (relief > cut) | (lat < -78)
    floor = 4800.0 - 1500.0 * random_waves(rng, xyz, (800.0, 4000.0), n=48) / 2
    shelf = np.clip((cut - relief) / 0.35, 0.0, 1.0)  # shallow seas near the coast
    floor = np.clip(200.0 + (floor - 200.0) * shelf, 50.0, 6000.0)
    return land, floor


def _month_fields(
    time: pd.Timestamp, xyz: np.ndarray, lat: np.ndarray, cfg: OceanConfig, seed: int, split: str
):
    rng = _rng("month", seed, SPLITS[split], time.year, time.month)
    season = np.cos(2 * np.pi * (time.day_of_year - 228) / 365.25)  # NH warmest in mid-August
    phi = np.deg2rad(lat)
    sst = -1.8 + 29.8 * np.cos(phi) ** 1.6
    sst = sst + 3.5 * np.sin(phi) * np.abs(np.sin(2 * phi)) * season
    fronts = np.zeros_like(lat)
    for centre, jump in ((-48.0, 1.5 * cfg.front_jump), (42.0, cfg.front_jump)):
        meander = 3.0 * random_waves(
            _rng("front", cfg.world_seed, centre), xyz, (1500.0, 4000.0), 24
        )
        across = (np.sign(centre) * (centre - lat) + meander) / 1.5
        fronts += jump * 0.5 * (np.tanh(across) - 1.0)  # colder poleward of the front
    # Equatorial upwelling: cold tongues where a basin-scale wave is positive, warm pools elsewhere.
    basin = random_waves(_rng("upwelling", cfg.world_seed), xyz, (8000.0, 15000.0), 12)
    sst = sst + fronts - cfg.upwelling * np.exp(-((lat / 5.0) ** 2)) * (basin + 0.3)
    eddies = random_waves(rng, xyz, cfg.eddy_wavelength_km)
    strength = 0.5 + np.exp(-(((np.abs(lat) - 38.0) / 12.0) ** 2))
    sst = np.maximum(
        sst + cfg.eddy_surface_sd * strength * random_waves(rng, xyz, (150.0, 600.0)), -1.8
    )
    winter = np.clip(-np.sign(lat) * season, 0, 1)
    mld = 25.0 + 30.0 * (np.abs(lat) / 60.0) ** 2 + 250.0 * winter * (np.abs(lat) / 70.0) ** 3
    mld = mld * np.exp(0.3 * random_waves(rng, xyz, (1000.0, 3000.0), 24))
    scale = 180.0 + 450.0 * (np.abs(lat) / 90.0) ** 1.5
    heave = cfg.eddy_heave_m * strength * eddies
    return sst, mld, scale, heave


def _column(depth: np.ndarray, sst, mld, scale, heave) -> np.ndarray:
    """Temperature ``(depth, ...)`` from surface value, mixed layer, thermocline and heave."""
    z = depth.reshape((-1,) + (1,) * np.ndim(sst))
    deep = 1.5 + 5.0 * np.exp(-z / 900.0)
    below = np.maximum(z - mld - heave * np.exp(-(((z - mld - scale) / (2 * scale)) ** 2)), 0.0)
    top = 1.5 + 5.0 * np.exp(-mld / 900.0)
    return deep + (sst - top) * np.exp(-below / scale)


def synthetic_ocean(
    times,
    *,
    resolution: float = 1.0,
    lat_range: tuple[float, float] = (-90.0, 90.0),
    levels: np.ndarray | None = None,
    seed: int = 0,
    split: str = "train",
    config: OceanConfig | None = None,
) -> xr.Dataset:
    """Monthly fields ``thetao(time, depth, lat, lon)`` (°C, NaN on land and below the floor)
    and ``sea_mask(depth, lat, lon)`` on a regular global grid of ``resolution`` degrees."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}.")
    cfg = config or OceanConfig()
    depth = en4_like_levels() if levels is None else np.asarray(levels, float)
    lat = np.arange(lat_range[0] + resolution / 2, lat_range[1], resolution)
    lon = np.arange(-180.0 + resolution / 2, 180.0, resolution)
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    xyz = unit_vectors(glat, glon)
    land, floor = _world(xyz, glat, cfg)
    sea = ~land[None] & (depth[:, None, None] <= floor[None])
    times = pd.DatetimeIndex(pd.to_datetime(list(times)))
    fields = np.empty((times.size, depth.size, lat.size, lon.size))
    for i, t in enumerate(times):
        fields[i] = _column(depth, *_month_fields(t, xyz, glat, cfg, seed, split))
    fields[:, ~sea] = np.nan
    return xr.Dataset(
        {
            "thetao": (
                ("time", "depth", "lat", "lon"),
                fields,
                {"standard_name": "sea_water_potential_temperature", "units": "degC"},
            ),
            "sea_mask": (
                ("depth", "lat", "lon"),
                sea.astype(np.int8),
                {"standard_name": "sea_binary_mask", "units": "1"},
            ),
        },
        coords={
            "time": ("time", times.values),
            "depth": ("depth", depth, {"units": "m", "positive": "down", "standard_name": "depth"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={
            "source": f"xdepthdif synthetic ocean (seed={seed}, split={split}, "
            f"world_seed={cfg.world_seed})"
        },
    )
