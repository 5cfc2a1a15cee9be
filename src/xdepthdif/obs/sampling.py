"""Argo-like sampling of a gridded truth into profiles: fixtures, demos and OSSEs.

Each time step observes a share of the ocean columns as whole profiles: to ``max_depth``
(2000 m, as Argo floats), optionally clustered in space, with levels thinning below 1000 m, at a
random position inside the cell, with Gaussian noise. The random stream of a time step derives
from ``(seed, time)`` alone, so a month's sample does not depend on which other months are drawn.

Examples
--------
>>> import numpy as np, xarray as xr
>>> truth = xr.DataArray(
...     np.full((1, 3, 4, 5), 10.0), dims=("time", "depth", "lat", "lon"),
...     coords={"time": np.array(["2020-01-15"], "datetime64[ns]"), "depth": [5.0, 50.0, 3000.0],
...             "lat": np.arange(4.0), "lon": np.arange(5.0)}, attrs={"units": "degC"})
>>> prof = sample_profiles(truth, SamplingPlan(fraction=0.5, seed=1))
>>> prof.sizes["profile"], bool(np.nanmax(prof.depth.values) <= 2000)
(10, True)
>>> used, withheld = split_profiles(prof, withheld_fraction=0.2, seed=0)
>>> used.sizes["profile"], withheld.sizes["profile"]
(8, 2)
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .layout import TALLY_ATTR


@dataclass(frozen=True)
class SamplingPlan:
    """How to sample a truth field into profiles.

    Parameters
    ----------
    fraction
        Share of the ocean columns observed per time step (at least one column).
    max_depth
        Deepest level sampled (m).
    noise_sd
        Standard deviation of the observation noise (°C); also written as ``thetao_error``.
    thinning_depth
        Below this depth (m) a level is kept with probability ``thinning_depth / depth``.
    clustered
        Draw columns in clusters (a few centres, neighbours around them) rather than uniformly.
    jitter
        Place each profile at a random position inside its cell rather than at the centre.
    seed
        Base seed; each time step's stream derives from ``(seed, time)``.
    """

    fraction: float = 0.03
    max_depth: float = 2000.0
    noise_sd: float = 0.01
    thinning_depth: float = 1000.0
    clustered: bool = False
    jitter: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must lie in (0, 1], got {self.fraction}.")


def _rng(seed: int, key: object) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(str(key).encode())])


def _columns(rng, ocean: np.ndarray, n: int, clustered: bool) -> np.ndarray:
    """Flat indices of ``n`` distinct ocean columns."""
    cells = np.flatnonzero(ocean)
    if not clustered:
        return rng.choice(cells, size=n, replace=False)
    nx = ocean.shape[1]
    centres = rng.choice(cells, size=max(1, n // 5), replace=False)
    cy, cx = np.unravel_index(centres, ocean.shape)
    yy, xx = np.unravel_index(cells, ocean.shape)
    dist = np.min((yy[:, None] - cy) ** 2 + ((xx[:, None] - cx + nx // 2) % nx - nx // 2) ** 2, 1)
    weights = np.exp(-dist / 8.0)
    return rng.choice(cells, size=n, replace=False, p=weights / weights.sum())


def sample_profiles(truth: xr.DataArray, plan: SamplingPlan) -> xr.Dataset:
    """Sample ``truth`` (``time, depth, lat, lon``, °C, NaN on land and below the bottom)."""
    truth = truth.transpose("time", "depth", "lat", "lon")
    depth = np.asarray(truth["depth"].values, float)
    lat = np.asarray(truth["lat"].values, float)
    lon = np.asarray(truth["lon"].values, float)
    dlat = np.median(np.abs(np.diff(np.sort(lat)))) if lat.size > 1 else 1.0
    dlon = np.median(np.abs(np.diff(np.sort(lon % 360)))) if lon.size > 1 else 1.0
    levels = depth <= plan.max_depth
    rows = {"time": [], "lat": [], "lon": [], "depth": [], "thetao": []}
    for t, field in zip(truth["time"].values, truth.values, strict=True):
        rng = _rng(plan.seed, t)
        ocean = np.isfinite(field[0])
        n = max(1, round(plan.fraction * ocean.sum()))
        cols = _columns(rng, ocean, min(n, int(ocean.sum())), plan.clustered)
        iy, ix = np.unravel_index(cols, ocean.shape)
        keep = levels[None, :] & (
            rng.random((cols.size, depth.size))
            < np.minimum(1.0, plan.thinning_depth / np.maximum(depth, 1e-9))[None, :]
        )
        values = field[:, iy, ix].T + rng.normal(0.0, plan.noise_sd, (cols.size, depth.size))
        keep &= np.isfinite(values)
        shift = rng.uniform(-0.5, 0.5, (2, cols.size)) if plan.jitter else np.zeros((2, cols.size))
        rows["time"].append(np.full(cols.size, t))
        rows["lat"].append(np.clip(lat[iy] + shift[0] * dlat, -90, 90))
        rows["lon"].append(lon[ix] + shift[1] * dlon)
        rows["depth"].append(np.where(keep, depth[None, :], np.nan))
        rows["thetao"].append(np.where(keep, values, np.nan))
    cat = {k: np.concatenate(v) for k, v in rows.items()}
    n_prof = cat["lat"].size
    return xr.Dataset(
        {
            "thetao": (
                ("profile", "level"),
                cat["thetao"],
                {"units": "degC", "standard_name": "sea_water_potential_temperature"},
            ),
            "thetao_error": (
                ("profile", "level"),
                np.where(np.isfinite(cat["thetao"]), plan.noise_sd, np.nan),
                {"units": "degC"},
            ),
        },
        coords={
            "time": ("profile", cat["time"]),
            "lat": ("profile", cat["lat"], {"units": "degrees_north"}),
            "lon": (
                "profile",
                np.mod(cat["lon"] + 180.0, 360.0) - 180.0,
                {"units": "degrees_east"},
            ),
            "depth": (
                ("profile", "level"),
                cat["depth"],
                {"units": "m", "positive": "down", "standard_name": "depth"},
            ),
        },
        attrs={TALLY_ATTR: json.dumps({"profiles_read": n_prof, "profiles_used": n_prof})},
    )


def split_profiles(
    profiles: xr.Dataset, withheld_fraction: float = 0.2, seed: int = 0
) -> tuple[xr.Dataset, xr.Dataset]:
    """Split profiles at random, whole profiles at a time, into (used, withheld)."""
    n = profiles.sizes["profile"]
    rng = np.random.default_rng(seed)
    withheld = np.zeros(n, bool)
    withheld[rng.choice(n, size=round(withheld_fraction * n), replace=False)] = True
    used, held = profiles.isel(profile=~withheld), profiles.isel(profile=withheld)
    for part in (used, held):
        m = part.sizes["profile"]
        part.attrs[TALLY_ATTR] = json.dumps({"profiles_read": m, "profiles_used": m})
    return used, held
