"""Tests of xdepthdif.grid.regrid: rectilinear and curvilinear (real NEMO ORCA2) sources, the real
OSTIA monthly SST, laziness, land handling and reusable weights.

References are computed here independently: haversine distances to every source point for the
curvilinear methods, explicit area overlaps and block averages for the conservative one.
"""

from __future__ import annotations

import importlib
from typing import ClassVar

import numpy as np
import pytest
import xarray as xr
from conftest import sample_file

from xdepthdif.errors import GridError, InputError
from xdepthdif.grid.rectilinear import Regridder
from xdepthdif.grid.regrid import RegridWeights, make_weights, regrid

EARTH_KM = 6371.0
xesmf_engine = importlib.import_module("xdepthdif.grid.xesmf_engine")


def _global_2deg() -> xr.Dataset:
    return xr.Dataset(
        coords={
            "lat": ("lat", np.arange(-89.0, 90.0, 2.0), {"units": "degrees_north"}),
            "lon": ("lon", np.arange(1.0, 360.0, 2.0), {"units": "degrees_east"}),
        }
    )


# ------------------------------------------------------------------------------------------
# 1. rectilinear sources (synthetic, only to test the wrapper against the numpy core)
# ------------------------------------------------------------------------------------------


@pytest.fixture
def rect_source() -> xr.DataArray:
    lat = np.arange(-59.5, 60.0, 1.0)
    lon = np.arange(-179.5, 180.0, 1.0)
    rng = np.random.default_rng(0)
    values = (
        15.0
        + 10 * np.cos(np.deg2rad(lat))[None, None, :, None]
        + rng.normal(0, 0.5, (3, 2, lat.size, lon.size))
    )
    values[..., 40:70, 100:160] = np.nan  # a continent
    return xr.DataArray(
        values.astype(np.float32),
        dims=("time", "depth", "latitude", "longitude"),
        coords={
            "time": np.array(["2020-01-15", "2020-02-15", "2020-03-15"], dtype="datetime64[ns]"),
            "depth": [5.0, 50.0],
            "latitude": ("latitude", lat, {"standard_name": "latitude"}),
            "longitude": ("longitude", lon, {"standard_name": "longitude"}),
        },
        name="thetao",
        attrs={"units": "degC", "long_name": "temperature"},
    )


@pytest.mark.parametrize(
    ("method", "res"), [("bilinear", 0.75), ("conservative", 4.0), ("conservative", 2.0)]
)
def test_rectilinear_matches_numpy_core(rect_source, method, res):
    target = xr.Dataset(
        coords={"lat": np.arange(-58.0, 58.1, res), "lon": np.arange(0.5 * res, 360.0, res)}
    )
    out = regrid(rect_source, target, method, engine="xdepthdif")
    by_hand = getattr(Regridder, method)(
        rect_source.latitude.values,
        rect_source.longitude.values,
        target.lat.values,
        target.lon.values,
    )(rect_source.values)
    assert out.dims == ("time", "depth", "lat", "lon")
    np.testing.assert_array_equal(out.values, by_hand)
    assert out.dtype == np.float32
    assert out.attrs["units"] == "degC" and out.attrs["regrid_method"] == method
    assert out.lat.attrs["standard_name"] == "latitude" and out.lon.attrs["units"] == (
        "degrees_east"
    )
    np.testing.assert_array_equal(out.time.values, rect_source.time.values)


def test_rectilinear_lazy_and_land(rect_source):
    target = xr.Dataset(coords={"lat": np.arange(-58.0, 58.1, 4.0), "lon": np.arange(2, 360, 4)})
    lazy_in = rect_source.chunk({"time": 1, "latitude": 40, "longitude": 90})
    lazy = regrid(lazy_in, target, engine="xdepthdif")
    assert lazy.chunks is not None and lazy.chunks[0] == (1, 1, 1)
    assert lazy.attrs["regrid_method"] == "conservative"  # 4x coarser
    eager = regrid(rect_source, target, engine="xdepthdif")
    np.testing.assert_array_equal(lazy.compute().values, eager.values)
    # land: destination cells inside the continent are NaN, never 0
    inside = eager.sel(lat=slice(-15, 5), lon=slice(285, 335))  # continent: 280-340 E
    assert inside.isnull().all()
    assert float(eager.min()) > 10.0
    # finer destination: auto picks bilinear
    fine = xr.Dataset(coords={"lat": np.arange(-50.0, 50.0, 0.9), "lon": np.arange(0, 360, 0.9)})
    assert regrid(rect_source, fine, engine="xdepthdif").attrs["regrid_method"] == "bilinear"


def test_dataset_and_errors(rect_source):
    ds = rect_source.to_dataset()
    ds["label"] = ("time", ["a", "b", "c"])
    target = xr.Dataset(coords={"lat": np.arange(-58.0, 58.1, 4.0), "lon": np.arange(2, 360, 4)})
    out = regrid(ds, target, "bilinear", engine="xdepthdif")
    assert set(out.data_vars) == {"thetao", "label"}
    assert out.thetao.dims == ("time", "depth", "lat", "lon")
    with pytest.raises(InputError, match="Unknown regridding method"):
        regrid(ds, target, "cubic")
    with pytest.raises(GridError, match="No latitude"):
        regrid(ds, xr.Dataset(coords={"lon": [1.0, 2.0]}))
    with pytest.raises(InputError, match="Unknown engine"):
        regrid(ds, target, engine="cdo")


def test_xesmf_engine_requested_but_missing(rect_source):
    if xesmf_engine._xesmf_available():
        pytest.skip("xesmf is importable here")
    target = xr.Dataset(coords={"lat": np.arange(-58.0, 58.1, 4.0), "lon": np.arange(2, 360, 4)})
    with pytest.raises(ImportError, match="conda-forge esmpy"):
        regrid(rect_source, target, "bilinear", engine="xesmf")
    # "auto" falls back to the numpy implementation
    assert regrid(rect_source, target, "bilinear").attrs["regrid_method"] == "bilinear"


# ------------------------------------------------------------------------------------------
# 2. curvilinear: the real NEMO ORCA2 potential temperature from iris-sample-data
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orca2() -> xr.DataArray:
    with xr.open_dataset(sample_file("orca2_votemper.nc")) as ds:
        return ds.votemper.load()


def _haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dphi, dlam = p2 - p1, np.deg2rad(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _sphere_quad_area(lat_b: np.ndarray, lon_b: np.ndarray) -> np.ndarray:
    """Areas (steradians) of quadrilaterals given their 4 corners, as two spherical triangles
    (Van Oosterom & Strackee)."""
    la, lo = np.deg2rad(lat_b), np.deg2rad(lon_b)
    v = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)

    def tri(a, b, c):
        num = np.abs(np.einsum("...i,...i", a, np.cross(b, c)))
        den = 1 + np.einsum("...i,...i", a, b) + np.einsum("...i,...i", b, c)
        den = den + np.einsum("...i,...i", c, a)
        return 2 * np.arctan2(num, den)

    a, b, c, d = (v[..., k, :] for k in range(4))
    return tri(a, b, c) + tri(a, c, d)


@pytest.mark.parametrize("method", ["nearest", "gaussian"])
def test_orca2_against_brute_force(orca2, method):
    target = _global_2deg()
    out = regrid(orca2, target, method, engine="xdepthdif")
    assert out.dims == ("lat", "lon") and out.attrs["regrid_method"] == method
    assert out.attrs["units"] == "degC"
    radius = 1.5 * 2.0 * 111.195  # documented default: 1.5 x the 2-degree cell size
    src_lat = orca2.nav_lat.values.ravel().astype(float)
    src_lon = orca2.nav_lon.values.ravel().astype(float)
    src_val = orca2.values.ravel().astype(float)
    valid = np.isfinite(src_val)
    rng = np.random.default_rng(1)
    ii = rng.integers(0, target.lat.size, 300)
    jj = rng.integers(0, target.lon.size, 300)
    n_nan = 0
    for i, j in zip(ii, jj, strict=True):
        d = _haversine_km(target.lat.values[i], target.lon.values[j], src_lat, src_lon)
        near = valid & (d <= radius)
        got = float(out.values[i, j])
        if not near.any():
            assert np.isnan(got), (i, j)
            n_nan += 1
            continue
        if method == "nearest":
            dmin = d[near].min()
            allowed = src_val[near & (d <= dmin + 1e-3)]
            assert np.isclose(allowed, got, rtol=0, atol=1e-5).any(), (i, j, got, allowed)
        else:
            w = np.exp(-0.5 * (d[near] / (radius / 2)) ** 2)
            expected = np.sum(w * src_val[near]) / np.sum(w)
            np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
    assert n_nan > 20  # the sample hits land
    # land stays NaN (Sahara, Antarctica, central Asia), nothing averaged as 0
    for lat, lon in ((25.0, 15.0), (-85.0, 1.0), (45.0, 85.0)):
        assert np.isnan(out.sel(lat=lat, lon=lon).item())
    assert float(out.min()) >= float(orca2.min()) - 1e-6
    assert float(out.max()) <= float(orca2.max()) + 1e-6


@pytest.mark.parametrize("method", ["nearest", "gaussian"])
def test_orca2_global_mean_conserved(orca2, method):
    with xr.open_dataset(sample_file("orca2_votemper.nc")) as ds:
        area = _sphere_quad_area(ds.nav_lat_bnds.values, ds.nav_lon_bnds.values)
    val = orca2.values.astype(float)
    ok = np.isfinite(val) & np.isfinite(area)
    src_mean = np.sum(area[ok] * val[ok]) / np.sum(area[ok])
    out = regrid(orca2, _global_2deg(), method, engine="xdepthdif")
    w = np.cos(np.deg2rad(out.lat)) * out.notnull()
    dst_mean = float((out.fillna(0) * w).sum() / w.sum())
    assert abs(dst_mean - src_mean) < 0.5, (src_mean, dst_mean)


def test_nemo_dataset_lazy():
    """The eORCA1 monthly file as a Dataset, opened lazily: bounds dropped, tos regridded."""
    ds = xr.open_dataset(sample_file("NEMO/nemo_1m_20150101-20150201_grid-T.nc"), chunks={})
    out = regrid(ds, _global_2deg(), "gaussian", engine="xdepthdif")
    assert "bounds_lat" not in out and "nav_lat" not in out.coords
    assert out.tos.dims == ("time_counter", "lat", "lon")
    assert out.tos.chunks is not None
    eager = regrid(ds.tos.load(), _global_2deg(), "gaussian", engine="xdepthdif")
    np.testing.assert_array_equal(out.tos.values, eager.values)
    with pytest.raises(InputError, match="rectilinear source"):
        regrid(ds, _global_2deg(), "bilinear", engine="xdepthdif")


# ------------------------------------------------------------------------------------------
# 3. the real OSTIA monthly SST (rectilinear, kelvin, land NaN) from iris-sample-data
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ostia() -> xr.DataArray:
    with xr.open_dataset(sample_file("ostia_monthly.nc")) as ds:
        sst = ds.surface_temperature.isel(time=slice(0, 12)).load()
    assert sst.attrs["units"] == "K" and np.isnan(sst.values).any()
    return sst


def _src_edges(centres: np.ndarray) -> np.ndarray:
    c = centres.astype(float)
    step = np.median(np.diff(c))
    return np.r_[c - 0.5 * step, c[-1] + 0.5 * step]


def test_ostia_conservative_block_average(ostia):
    """A 5-degree target whose cells hold exactly 9 x 6 source cells: independent block mean."""
    lat_e = _src_edges(ostia.latitude.values)  # 19 edges, -5.28 .. 4.72
    lon_e = _src_edges(ostia.longitude.values)  # 433 edges, -0.42 .. 359.58
    dst_lat = 0.5 * (lat_e[0:10:9] + lat_e[9:19:9])
    dst_lon = 0.5 * (lon_e[0:432:6] + lon_e[6:433:6])
    target = xr.Dataset(coords={"lat": dst_lat, "lon": dst_lon})
    out = regrid(ostia, target, "conservative", engine="xdepthdif")
    assert out.attrs["units"] == "K"
    v = ostia.values.astype(float)
    area_row = np.diff(np.sin(np.deg2rad(lat_e)))  # per source row
    a = np.broadcast_to(area_row[:, None], v.shape[1:])
    blocks_v = v.reshape(v.shape[0], 2, 9, 72, 6)
    blocks_a = a.reshape(2, 9, 72, 6)
    ok = np.isfinite(blocks_v)
    wa = np.where(ok, blocks_a, 0.0)
    num = np.sum(np.where(ok, blocks_v, 0.0) * wa, axis=(2, 4))
    den = np.sum(wa, axis=(2, 4))
    frac = den / np.sum(blocks_a, axis=(1, 3))
    expected = np.where(frac >= 0.5, num / np.where(den > 0, den, 1), np.nan)
    assert np.isnan(expected).any() and np.isfinite(expected).any()
    np.testing.assert_allclose(out.values, expected, rtol=0, atol=2e-4)  # float32 output, K


def test_ostia_conservative_2deg_overlap(ostia):
    """2-degree target (not nesting): brute-force overlap areas for a sample of cells."""
    target = xr.Dataset(
        coords={"lat": np.arange(-4.0, 4.1, 2.0), "lon": np.arange(1.0, 360.0, 2.0)}
    )
    out = regrid(ostia, target, "conservative", engine="xdepthdif")
    lat_e, lon_e = _src_edges(ostia.latitude.values), _src_edges(ostia.longitude.values)
    v = ostia.values.astype(float)
    rng = np.random.default_rng(2)
    cells = [(0, 0), (4, 179), (2, 90)] + [
        (int(i), int(j))
        for i, j in zip(rng.integers(0, 5, 40), rng.integers(0, 180, 40), strict=True)
    ]
    checked = 0
    for i, j in cells:
        lat0, lat1 = target.lat.values[i] - 1, target.lat.values[i] + 1
        lon0, lon1 = target.lon.values[j] - 1, target.lon.values[j] + 1
        num = np.zeros(v.shape[0])
        den = np.zeros(v.shape[0])
        for r in range(lat_e.size - 1):
            s_lo, s_hi = max(lat_e[r], lat0), min(lat_e[r + 1], lat1)
            if s_hi <= s_lo:
                continue
            dsin = np.sin(np.deg2rad(s_hi)) - np.sin(np.deg2rad(s_lo))
            for c in range(lon_e.size - 1):
                best = 0.0
                for shift in (-360.0, 0.0, 360.0):
                    lo = max(lon_e[c] + shift, lon0)
                    hi = min(lon_e[c + 1] + shift, lon1)
                    best += max(hi - lo, 0.0)
                if best <= 0:
                    continue
                a = dsin * best
                ok = np.isfinite(v[:, r, c])
                num += np.where(ok, v[:, r, c], 0.0) * a * ok
                den += a * ok
        total = (np.sin(np.deg2rad(lat1)) - np.sin(np.deg2rad(lat0))) * 2.0
        expected = np.where(den / total >= 0.5, num / np.where(den > 0, den, 1), np.nan)
        np.testing.assert_allclose(out.values[:, i, j], expected, rtol=0, atol=2e-4)
        checked += np.isfinite(expected).sum()
    assert checked > 100


# ------------------------------------------------------------------------------------------
# 4. reusable weights
# ------------------------------------------------------------------------------------------


def test_weights_reuse(orca2, rect_source):
    target = _global_2deg()
    w = make_weights(orca2, target, "gaussian")
    assert isinstance(w, RegridWeights) and w.weights.shape == (90 * 180, orca2.size)
    np.testing.assert_array_equal(
        regrid(orca2, target, weights=w).values,
        regrid(orca2, target, "gaussian", engine="xdepthdif").values,
    )
    wn = make_weights(orca2, target, "nearest", radius_km=500.0)
    np.testing.assert_array_equal(
        regrid(orca2, target, weights=wn).values,
        regrid(orca2, target, "nearest", radius_km=500.0, engine="xdepthdif").values,
    )
    with pytest.raises(GridError, match="another target grid"):
        regrid(orca2, target.isel(lon=slice(0, 90)), weights=w)
    moved = target.assign_coords(lon=target.lon + 0.5)
    with pytest.raises(GridError, match="another target grid"):
        regrid(orca2, moved, weights=w)
    with pytest.raises(GridError, match="another source grid"):
        regrid(orca2.isel(dim0=slice(1, None)), target, weights=w)
    with pytest.raises(InputError, match="built for method"):
        regrid(orca2, target, "nearest", weights=w)
    # rectilinear weights, applied to a lazy field
    coarse = xr.Dataset(coords={"lat": np.arange(-58.0, 58.1, 4.0), "lon": np.arange(2, 360, 4)})
    wr = make_weights(rect_source, coarse, "conservative")
    lazy = regrid(rect_source.chunk({"time": 1}), coarse, weights=wr)
    np.testing.assert_array_equal(
        lazy.values, regrid(rect_source, coarse, "conservative", engine="xdepthdif").values
    )
    with pytest.raises(GridError, match="another source grid"):
        regrid(orca2, coarse, weights=wr)


class _FakeXesmf:
    """Stands in for xesmf (ESMPy is not on PyPI) to check the arguments we pass it."""

    calls: ClassVar[list] = []

    class Regridder:
        def __init__(self, grid_in, grid_out, method, periodic, unmapped_to_nan):
            _FakeXesmf.calls.append((grid_in, grid_out, method, periodic, unmapped_to_nan))
            self.grid_out = grid_out

        def __call__(self, data, skipna, na_thres, keep_attrs):
            _FakeXesmf.calls.append((skipna, na_thres, keep_attrs))
            shape = (self.grid_out.lat.size, self.grid_out.lon.size)
            return xr.DataArray(np.zeros(shape), dims=("lat", "lon"), attrs=data.attrs)


@pytest.mark.parametrize(
    ("method", "expected"),
    [("bilinear", "bilinear"), ("conservative", "conservative"), ("nearest", "nearest_s2d")],
)
def test_xesmf_path_with_stand_in(monkeypatch, rect_source, method, expected):
    import sys

    _FakeXesmf.calls.clear()
    monkeypatch.setitem(sys.modules, "xesmf", _FakeXesmf)
    target = xr.Dataset(coords={"lat": np.arange(-58.0, 58.1, 4.0), "lon": np.arange(2, 360, 4)})
    out = regrid(rect_source.isel(time=0, depth=0), target, method, engine="xesmf")
    grid_in, grid_out, name, periodic, unmapped = _FakeXesmf.calls[0]
    assert name == expected and periodic and unmapped
    assert ("lat_b" in grid_in.coords) == (method == "conservative")
    assert ("lon_b" in grid_out.coords) == (method == "conservative")
    assert _FakeXesmf.calls[1] == (True, 0.5 if method == "conservative" else 1.0, True)
    assert out.attrs["regrid_method"] == method and out.lat.attrs["units"] == "degrees_north"
    # gaussian is ours even when xesmf imports; explicitly asking xesmf for it is refused
    assert regrid(rect_source, target, "gaussian").attrs["regrid_method"] == "gaussian"
    with pytest.raises(InputError, match="cannot apply method 'gaussian'"):
        regrid(rect_source, target, "gaussian", engine="xesmf")


def test_auto_regrids_onto_a_single_row_bilinearly():
    """A section (one latitude) has no cell edges across it: ``auto`` interpolates rather than
    failing in a conservative remapping."""
    lat, lon = np.arange(-9.75, 10.0, 0.5), np.arange(-9.75, 10.0, 0.5)
    src = xr.DataArray(20.0 + 0.1 * lon[None, :] + 0.0 * lat[:, None], dims=("lat", "lon"),
                       coords={"lat": lat, "lon": lon})  # fmt: skip
    section = xr.Dataset(coords={"lat": [0.0], "lon": np.arange(-8.0, 9.0, 4.0)})
    out = regrid(src, section, engine="xdepthdif")
    np.testing.assert_allclose(out.values, [20.0 + 0.1 * section.lon.values], atol=1e-12)
