"""Targets, synthetic profiles and tiny diffusion priors for the benchmarks (numpy only here;
torch is imported by :func:`make_prior` alone)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

# name: (grid spacing in degrees, depth levels, profiles per time step)
GRIDS = {
    "5deg-10lev": (5.0, 10, 300),
    "4deg-20lev": (4.0, 20, 800),
    "2deg-42lev": (2.0, 42, 2000),
}


def levels(n: int) -> np.ndarray:
    """``n`` depth levels (m) from 5 m to 2000 m, closer together near the surface."""
    return np.round(np.geomspace(5.0, 2000.0, n), 1)


def truth(lat, lon, depth, month):
    """A smooth temperature (°C) with a thermocline."""
    surface = 28 - 0.3 * np.abs(lat) + 1.5 * np.sin(np.deg2rad(2 * lon)) + 0.2 * month
    return 4 + (surface - 4) * np.exp(-depth / 300.0)


def target(resolution: float, n_levels: int, n_times: int = 1) -> xr.Dataset:
    """A global target grid of monthly time steps from January 2020, all ocean."""
    half = resolution / 2
    times = pd.date_range("2020-01-01", periods=n_times, freq="MS") + pd.Timedelta(days=14)
    return xr.Dataset(
        coords={
            "time": ("time", times.values),
            "depth": ("depth", levels(n_levels), {"units": "m", "positive": "down"}),
            "lat": ("lat", np.arange(-90 + half, 90, resolution), {"units": "degrees_north"}),
            "lon": ("lon", np.arange(half, 360, resolution), {"units": "degrees_east"}),
        }
    )


def profiles(grid: xr.Dataset, per_step: int, seed: int = 0, n_levels: int = 30) -> xr.Dataset:
    """``per_step`` random profiles within 10 days of each time step of ``grid``."""
    rng = np.random.default_rng(seed)
    times = grid.time.values
    n = per_step * times.size
    t = np.repeat(times, per_step) + rng.integers(-10, 10, n).astype("timedelta64[D]")
    lat, lon = rng.uniform(-75, 75, n), rng.uniform(0, 360, n)
    depth = np.sort(rng.uniform(0, 2000, (n, n_levels)), axis=1)
    depth[:, 0] = rng.uniform(1, 8, n)
    month = (t.astype("datetime64[M]").astype(int) % 12 + 1)[:, None]
    thetao = truth(lat[:, None], lon[:, None], depth, month) + rng.normal(0, 0.05, depth.shape)
    return xr.Dataset(
        {"thetao": (("profile", "level"), thetao, {"units": "degC"})},
        coords={
            "time": ("profile", t),
            "lat": ("profile", lat, {"units": "degrees_north"}),
            "lon": ("profile", lon, {"units": "degrees_east"}),
            "depth": (("profile", "level"), depth, {"units": "m", "positive": "down"}),
        },
    )


def case(name: str, n_times: int = 1, seed: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """The target and profiles of grid ``name`` (a key of :data:`GRIDS`)."""
    resolution, n_levels, per_step = GRIDS[name]
    grid = target(resolution, n_levels, n_times)
    return grid, profiles(grid, per_step, seed)


def make_prior(stem: Path, resolution: float, n_levels: int, base_channels: int = 8) -> Path:
    """Save an untrained EDM UNet prior on :func:`levels` and return its weights path (its
    weights do not change the cost of a time step, which is what is measured)."""
    import torch

    from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig
    from xdepthdif.prior.model import ModelCard, save_checkpoint

    kwargs = {"levels": n_levels, "base_channels": base_channels, "channel_mult": [1, 2]}
    torch.manual_seed(0)
    denoiser = EDMDenoiser(UNet(UNetConfig(**{**kwargs, "channel_mult": (1, 2)})))
    z = levels(n_levels)
    card = ModelCard(
        {"class": "UNet", "kwargs": kwargs},
        levels=tuple(float(v) for v in z),
        native_resolution_deg=resolution,
        normalisation={"mean": truth(0.0, 0.0, z, 1).tolist(), "std": [1.0] * n_levels},
        training={"data": "untrained", "command": "benchmark", "steps": 0, "seed": 0, "date": "-"},
        algorithm_version="1",
    )
    return save_checkpoint(stem, denoiser.state_dict(), card)
