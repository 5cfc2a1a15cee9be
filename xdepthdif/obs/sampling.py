"""Synthetic observing systems: sample Argo-like profiles from a truth field (fixtures, OSSEs).

Each time step draws its own random numbers from ``(plan.seed, time value)``, so the profiles of
one time step do not depend on which other time steps are sampled, nor on their order.

Examples
--------
>>> import numpy as np, xarray as xr
>>> truth = xr.DataArray(
...     np.broadcast_to(np.linspace(20, 4, 5)[None, :, None, None], (2, 5, 10, 20)).copy(),
...     dims=("time", "depth", "lat", "lon"),
...     coords={"time": np.array(["2000-01-15", "2000-02-15"], "datetime64[ns]"),
...             "depth": ("depth", [5.0, 100.0, 500.0, 1500.0, 3000.0], {"units": "m"}),
...             "lat": np.linspace(-45, 45, 10), "lon": np.arange(20) * 18.0},
...     attrs={"units": "degC"})
>>> obs = sample_profiles(truth, SamplingPlan(fraction=0.05, seed=1))
>>> obs.sizes["profile"], obs.sizes["level"]
(20, 4)
>>> used, withheld = split_profiles(obs, withheld_fraction=0.2)
>>> used.sizes["profile"], withheld.sizes["profile"]
(16, 4)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xdepthdif.errors import InputError
from xdepthdif.grid.geo import axis_bounds

from .layout import tally, validate_profiles, with_tally
from .units import decode_time, depth_to_metres, temperature_to_degc


@dataclass(frozen=True)
class SamplingPlan:
    """How to observe a truth field.

    Attributes
    ----------
    fraction : float
        Share of ocean columns observed per time step (e.g. 0.01, 0.03, 0.075).
    max_depth : float
        Deepest level sampled (m); Argo floats profile to 2000 m.
    noise_sd : float
        Standard deviation of the Gaussian observation noise (°C), also written as
        ``thetao_error``.
    thin_start, thin_scale : float
        Below ``thin_start`` (m) a level is kept with probability
        ``exp(-(z - thin_start) / thin_scale)``: deep levels are sparser, as in real profiles.
    cluster : bool
        Draw profiles in spatial clusters of ``cluster_size`` within ``cluster_radius`` cells of
        a random centre (Argo-like patchiness) instead of uniformly.
    jitter : bool
        Place each profile uniformly at random inside its grid cell (else at the cell centre).
    seed : int
        Non-negative base seed.
    """

    fraction: float = 0.03
    max_depth: float = 2000.0
    noise_sd: float = 0.01
    thin_start: float = 1000.0
    thin_scale: float = 1000.0
    cluster: bool = False
    cluster_size: int = 5
    cluster_radius: int = 2
    jitter: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise InputError(f"fraction={self.fraction}; expected a share in [0, 1].")
        if self.noise_sd < 0 or self.max_depth <= 0 or self.thin_scale <= 0:
            raise InputError(
                "noise_sd must be >= 0, max_depth and thin_scale > 0; got "
                f"{self.noise_sd}, {self.max_depth}, {self.thin_scale}."
            )
        if self.cluster_size < 1 or self.cluster_radius < 0 or self.seed < 0:
            raise InputError(
                "cluster_size >= 1, cluster_radius >= 0 and seed >= 0 expected; "
                f"got {self.cluster_size}, {self.cluster_radius}, {self.seed}."
            )


def _time_key(value: object) -> int:
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").astype(np.int64)) + 2**63
    text = f"{getattr(value, 'calendar', '')}:{getattr(value, 'isoformat', lambda: value)()}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _widths(x: np.ndarray, kind: str) -> np.ndarray:
    """Cell widths (degrees) around centres in any order or longitude convention."""
    bounds = axis_bounds(x, kind)
    return np.abs(bounds[:, 1] - bounds[:, 0])


def _choose(rng: np.random.Generator, ocean: np.ndarray, plan: SamplingPlan) -> np.ndarray:
    cells = np.flatnonzero(ocean.ravel())
    n = min(round(plan.fraction * cells.size), cells.size)
    if plan.fraction > 0 and cells.size:
        n = max(n, 1)
    if not plan.cluster:
        return np.sort(rng.choice(cells, n, replace=False))
    ny, nx = ocean.shape
    taken = np.zeros(ocean.size, dtype=bool)
    centres = rng.choice(cells, min(math.ceil(n / plan.cluster_size), cells.size), replace=False)
    r, chosen = plan.cluster_radius, 0
    for c in centres:
        cy, cx = divmod(int(c), nx)
        ys = np.arange(max(cy - r, 0), min(cy + r + 1, ny))
        xs = np.arange(max(cx - r, 0), min(cx + r + 1, nx))
        cand = (ys[:, None] * nx + xs[None, :]).ravel()
        cand = cand[ocean.ravel()[cand] & ~taken[cand]]
        k = min(plan.cluster_size, n - chosen, cand.size)
        taken[rng.choice(cand, k, replace=False)] = True
        chosen += k
    rest = cells[~taken[cells]]
    taken[rng.choice(rest, n - chosen, replace=False)] = True
    return np.flatnonzero(taken)


def sample_profiles(truth: xr.DataArray, plan: SamplingPlan | None = None) -> xr.Dataset:
    """Sample whole-column profiles from a truth field, Argo-like.

    Parameters
    ----------
    truth : xr.DataArray
        Dims ``(time, depth, lat, lon)`` in any order, ``units`` °C or kelvin, ``depth`` with
        units, in any order; NaN on land and below the sea floor (land columns are those NaN at
        the shallowest level; they are never sampled). Loaded one time step at a time
        (dask-friendly).
    plan : SamplingPlan, optional
        The observing system; ``SamplingPlan()`` by default.

    Returns
    -------
    xr.Dataset
        Canonical profile layout: profiles at (or jittered within) the chosen cells, at the truth
        levels down to ``plan.max_depth`` that hold water, thinned with depth, with noise of
        standard deviation ``plan.noise_sd`` and ``thetao_error = plan.noise_sd``.
    """
    plan = plan or SamplingPlan()
    dims = ("time", "depth", "lat", "lon")
    if set(truth.dims) != set(dims):
        raise InputError(f"truth has dims {truth.dims}; expected {dims} (rename them first).")
    truth = truth.transpose(*dims)
    depth = depth_to_metres(truth["depth"].values, truth["depth"].attrs, name="truth.depth")
    order = np.argsort(depth, kind="stable")  # top level first, however the truth is stored
    truth, depth = truth.isel(depth=order), depth[order]
    lat, lon = (np.asarray(truth[n].values, dtype=np.float64) for n in ("lat", "lon"))
    dlat, dlon = _widths(lat, "lat"), _widths(lon, "lon")
    levels = np.flatnonzero(depth <= plan.max_depth)
    z = depth[levels]
    keep_prob = np.where(z > plan.thin_start, np.exp(-(z - plan.thin_start) / plan.thin_scale), 1)
    times = decode_time(truth["time"].values, truth["time"].attrs)
    parts: dict[str, list] = {k: [] for k in ("time", "lat", "lon", "thetao")}
    for t, when in enumerate(times):
        rng = np.random.default_rng(np.random.SeedSequence([plan.seed, _time_key(when)]))
        field = temperature_to_degc(
            truth.isel(time=t).values, truth.attrs.get("units"), name="truth"
        )
        iy, ix = np.unravel_index(_choose(rng, np.isfinite(field[0]), plan), field.shape[1:])
        shift_y = rng.uniform(-0.5, 0.5, iy.size) if plan.jitter else np.zeros(iy.size)
        shift_x = rng.uniform(-0.5, 0.5, ix.size) if plan.jitter else np.zeros(ix.size)
        column = field[levels][:, iy, ix].T
        kept = rng.random(column.shape) < keep_prob
        noise = rng.normal(0.0, plan.noise_sd, column.shape)
        parts["thetao"].append(np.where(kept, column + noise, np.nan))
        parts["lat"].append(np.clip(lat[iy] + shift_y * dlat[iy], -90.0, 90.0))
        parts["lon"].append(lon[ix] + shift_x * dlon[ix])
        parts["time"].append(np.repeat(np.asarray(times[t : t + 1]), iy.size))
    theta = np.concatenate(parts["thetao"]) if parts["thetao"] else np.zeros((0, z.size))
    shape = theta.shape
    ds = xr.Dataset(
        {
            "thetao": (("profile", "level"), theta, {"units": "degC"}),
            "thetao_error": (
                ("profile", "level"),
                np.full(shape, plan.noise_sd),
                {"units": "degC"},
            ),
        },
        coords={
            "depth": (
                ("profile", "level"),
                np.broadcast_to(z, shape).copy(),
                {"units": "m", "positive": "down"},
            ),
            "time": ("profile", np.concatenate(parts["time"]) if parts["time"] else times[:0]),
            "lat": ("profile", np.concatenate(parts["lat"]) if parts["lat"] else np.zeros(0)),
            "lon": ("profile", np.concatenate(parts["lon"]) if parts["lon"] else np.zeros(0)),
        },
        attrs={"source": f"xdepthdif.obs.sample_profiles {plan}"},
    )
    return validate_profiles(ds)


def _profile_hash(profiles: xr.Dataset, seed: int) -> np.ndarray:
    """A 64-bit hash per profile from its time, position and ``seed`` (splitmix64 mixing)."""
    times = profiles["time"].values
    if times.dtype.kind == "M":
        t = times.astype("datetime64[ns]").astype(np.int64).view(np.uint64)
    else:
        t = np.array([_time_key(v) for v in times], dtype=np.uint64)
    lat = np.asarray(profiles["lat"].values, np.float64).view(np.uint64)
    lon = np.asarray(profiles["lon"].values, np.float64).view(np.uint64)
    with np.errstate(over="ignore"):
        x = t ^ (lat * np.uint64(3)) ^ (lon * np.uint64(7))
        x = x + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            x = (x ^ (x >> np.uint64(shift))) * np.uint64(mult)
    return x ^ (x >> np.uint64(31))


def split_profiles(
    profiles: xr.Dataset, withheld_fraction: float = 0.2, seed: int = 0
) -> tuple[xr.Dataset, xr.Dataset]:
    """Split profiles into a used and a withheld set (by whole profiles, for validation).

    The choice depends on each profile's time, position and ``seed`` only, not on the order of
    the profiles. The used set's tally counts the others as ``rejected_withheld``.

    Returns
    -------
    (used, withheld) : tuple of xr.Dataset
    """
    if not 0.0 <= withheld_fraction <= 1.0:
        raise InputError(f"withheld_fraction={withheld_fraction}; expected a share in [0, 1].")
    n = profiles.sizes["profile"]
    k = round(withheld_fraction * n)
    ranked = np.argsort(_profile_hash(profiles, int(seed)), kind="stable")
    withheld, used = np.sort(ranked[:k]), np.sort(ranked[k:])
    counts = tally(profiles) or {"profiles_read": n, "profiles_used": n}
    counts["profiles_used"] = counts.get("profiles_used", n) - k
    counts["rejected_withheld"] = counts.get("rejected_withheld", 0) + k
    return (
        with_tally(profiles.isel(profile=used), counts),
        with_tally(profiles.isel(profile=withheld), {"profiles_read": k, "profiles_used": k}),
    )
