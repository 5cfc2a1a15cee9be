"""Shared fixtures: a small target grid with non-divisible sizes and profiles sampled from a
known smooth field."""

import contextlib
import http.server
import threading
from functools import partial
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr

DEPTHS = np.array([5.0, 50.0, 150.0, 400.0, 1000.0])


def truth_field(lat, lon, depth, month=1):
    """A smooth temperature with a thermocline, in °C."""
    lat, lon, depth = np.broadcast_arrays(lat, lon, depth)
    surface = 28 - 0.3 * np.abs(lat) + 1.5 * np.sin(np.deg2rad(2 * lon)) + 0.2 * month
    return 4 + (surface - 4) * np.exp(-depth / 300.0)


def make_target(
    lat=None,
    lon=None,
    times=("2020-01-15", "2020-02-15", "2020-03-15"),
    depth=DEPTHS,
    chunks=None,
    mask=True,
):
    lat = np.arange(-10.0, 11.0, 2.0) if lat is None else np.asarray(lat, float)
    lon = np.arange(-30.0, -1.0, 2.0) if lon is None else np.asarray(lon, float)
    ds = xr.Dataset(
        coords={
            "time": ("time", np.array(times, dtype="datetime64[ns]")),
            "depth": ("depth", np.asarray(depth, float), {"units": "m", "positive": "down"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        }
    )
    if mask:
        sea = np.ones((lat.size, lon.size), np.int8)
        sea[:2, :3] = 0  # a corner of land
        ds["sea_mask"] = (("lat", "lon"), sea, {"standard_name": "sea_binary_mask"})
        if chunks:
            ds = ds.chunk(chunks)
    return ds


def make_profiles(
    n=60,
    seed=0,
    times=("2020-01-15", "2020-02-15", "2020-03-15"),
    lat_range=(-10, 10),
    lon_range=(-30, -2),
    noise=0.02,
):
    rng = np.random.default_rng(seed)
    t = np.array(times, dtype="datetime64[ns]")[rng.integers(0, len(times), n)]
    t = t + rng.integers(-10, 10, n).astype("timedelta64[D]")
    lat = rng.uniform(*lat_range, n)
    lon = rng.uniform(*lon_range, n)
    nlev = 30
    depth = np.sort(rng.uniform(0, 1200, (n, nlev)), axis=1)
    depth[:, 0] = rng.uniform(1, 8, n)  # every profile reaches the surface level
    month = (t.astype("datetime64[M]").astype(int) % 12 + 1)[:, None]
    thetao = truth_field(lat[:, None], lon[:, None], depth, month) + rng.normal(
        0, noise, depth.shape
    )
    return xr.Dataset(
        {"thetao": (("profile", "level"), thetao, {"units": "degC"})},
        coords={
            "time": ("profile", t),
            "lat": ("profile", lat, {"units": "degrees_north"}),
            "lon": ("profile", lon, {"units": "degrees_east"}),
            "depth": (("profile", "level"), depth, {"units": "m", "positive": "down"}),
        },
    )


class CountingScheduler:
    """A dask scheduler that counts how often it is asked to compute."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dsk, keys, **kwargs):
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture
def target():
    return make_target()


@pytest.fixture
def profiles():
    return make_profiles()


def sample_file(name: str) -> Path:
    """A file of the iris-sample-data wheel (the test is skipped when it is missing)."""
    iris_sample_data = pytest.importorskip("iris_sample_data")
    path = Path(iris_sample_data.__file__).parent / "sample_data" / name
    if not path.exists():
        pytest.skip(f"iris-sample-data has no {name}")
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder without logging every request."""

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def local_http_server(root: Path, monkeypatch, cache: Path, handler=QuietHandler):
    """Serve ``root`` on 127.0.0.1 (no proxy) with the download cache in ``cache``; yields the
    base URL."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("XDEPTHDIF_CACHE", str(cache))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
