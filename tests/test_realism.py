"""The realism statistics on fields with known answers, and the realism report's quick run."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from xdepthdif.evaluation import realism as rs

ROOT = Path(__file__).resolve().parents[1]


def _field(values, lat, lon, depth=None):
    dims = ("time", "lat", "lon") if depth is None else ("time", "depth", "lat", "lon")
    coords = {"time": np.arange(values.shape[0]), "lat": lat, "lon": lon}
    if depth is not None:
        coords["depth"] = depth
    return xr.DataArray(values, dims=dims, coords=coords)


def test_correlation_follows_a_known_exponential_covariance():
    lat, lon = np.arange(-20.0, 21.0, 2.5), np.arange(150.0, 211.0, 2.5)
    la, lo = (a.ravel() for a in np.meshgrid(lat, lon, indexing="ij"))
    xyz = rs._unit(la, lo)
    dist = rs.EARTH_RADIUS_KM * np.arccos(np.clip(xyz @ xyz.T, -1, 1))
    scale = 800.0
    chol = np.linalg.cholesky(np.exp(-dist / scale) + 1e-9 * np.eye(la.size))
    rng = np.random.default_rng(1)
    values = (chol @ rng.standard_normal((la.size, 600))).T.reshape(600, lat.size, lon.size)
    values[:, 0, :3] = np.nan  # "land": left out
    curve = rs.correlation_vs_distance(_field(values, lat, lon), centres=150)
    close = (curve["distance"].values < 2000) & np.isfinite(curve.values)
    expect = np.exp(-curve["distance"].values / scale)
    np.testing.assert_allclose(curve.values[close], expect[close], atol=0.06)
    assert abs(rs.decorrelation_scale(curve) - scale) < 0.12 * scale


def test_zonal_and_meridional_pairs_see_an_elongated_field():
    lat, lon = np.arange(-10.0, 11.0, 2.0), np.arange(120.0, 241.0, 4.0)
    la, lo = (a.ravel() for a in np.meshgrid(lat, lon, indexing="ij"))
    km = np.deg2rad(1.0) * rs.EARTH_RADIUS_KM
    dx, dy = (lo[:, None] - lo[None, :]) * km / 1500.0, (la[:, None] - la[None, :]) * km / 300.0
    chol = np.linalg.cholesky(np.exp(-np.hypot(dx, dy)) + 1e-9 * np.eye(la.size))
    rng = np.random.default_rng(2)
    values = (chol @ rng.standard_normal((la.size, 300))).T.reshape(300, lat.size, lon.size)
    anom = _field(values, lat, lon)
    zonal = rs.correlation_vs_distance(anom, direction="zonal", band="tropics", centres=100)
    merid = rs.correlation_vs_distance(anom, direction="meridional", band="tropics", centres=100)
    # pairs within 30° of east-west still mix in some meridional separation: shorter than 1500
    assert 200 < rs.decorrelation_scale(merid) < 450
    assert rs.decorrelation_scale(zonal) > 2.5 * rs.decorrelation_scale(merid)
    with pytest.raises(ValueError, match="direction"):
        rs.correlation_vs_distance(anom, direction="diagonal")


def test_lag_one_of_an_ar1_series_short_series_bias_corrected():
    rho, n = 0.7, 24
    rng = np.random.default_rng(3)
    x = np.empty((n, 30, 60))
    x[0] = rng.standard_normal((30, 60))
    for t in range(1, n):
        x[t] = rho * x[t - 1] + np.sqrt(1 - rho**2) * rng.standard_normal((30, 60))
    anom = _field(x, np.linspace(-60, 60, 30), np.arange(0.0, 360.0, 6.0))
    corrected = float(rs.lag_correlation(anom).mean())
    raw = float(rs.lag_correlation(anom, bias_correct=False).mean())
    assert abs(corrected - rho) < 0.03
    assert raw < rho - 0.08  # what the correction is for


def test_std_skewness_and_bands():
    lat, lon = np.array([-60.0, -30.0, 0.0, 5.0, 30.0, 60.0]), np.arange(0.0, 360.0, 30.0)
    rng = np.random.default_rng(4)
    amp = np.where(np.abs(lat) < 15, 2.0, 0.5)[None, :, None]
    values = amp * (rng.exponential(1.0, (4000, lat.size, lon.size)) - 1.0)  # skewness 2
    anom = _field(values, lat, lon)
    std = rs.by_band(rs.anomaly_std(anom), how="rms")
    assert abs(float(std.sel(band="tropics")) - 2.0) < 0.1
    assert abs(float(std.sel(band="high latitudes")) - 0.5) < 0.03
    skew = rs.by_band(rs.skewness(anom))
    np.testing.assert_allclose(skew.values, 2.0, atol=0.3)
    gauss = _field(rng.standard_normal((4000, lat.size, lon.size)), lat, lon)
    assert abs(float(rs.by_band(rs.skewness(gauss)).sel(band="global"))) < 0.05
    offset = rs.mean_offset(anom + 1.5)
    assert abs(float(offset.mean()) - 1.5) < 0.1


def test_vertical_modes_recover_two_known_shapes():
    depth = np.array([5.0, 20.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1500.0, 3000.0])
    upper = depth[depth <= 2000]
    bounds = np.concatenate([[0.0], 0.5 * (upper[1:] + upper[:-1]), [upper[-1]]])
    w = np.sqrt(np.diff(bounds))
    q, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((upper.size, 2)))
    shapes = q.T / w  # orthonormal in the thickness-weighted space
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 50, 1, 8, 10))
    cols = a * shapes[0][None, :, None, None] + 0.5 * b * shapes[1][None, :, None, None]
    values = np.concatenate([cols, np.zeros((50, 1, 8, 10))], axis=1)  # the 3000 m level: ignored
    values[:, -3:, 0, 0] = np.nan  # a shallow column: left out
    anom = _field(values, np.linspace(-40, 40, 8), np.arange(0.0, 360.0, 36.0), depth)
    shares, modes = rs.vertical_modes(anom, n_modes=3)
    np.testing.assert_allclose(shares, [0.8, 0.2, 0.0], atol=0.05)
    assert modes.sizes["depth"] == upper.size
    cos = abs(np.dot(modes[0].values * w, shapes[0] * w))
    assert cos > 0.99


def test_by_depth_statistics_keep_the_depth_axis():
    rng = np.random.default_rng(7)
    depth = np.array([5.0, 100.0, 1000.0])
    values = rng.standard_normal((10, 3, 4, 6)) * np.array([1.0, 2.0, 0.1])[None, :, None, None]
    values[:, 2, 0, :] = np.nan  # sea floor at 1000 m in one row
    anom = _field(values, np.linspace(-50, 50, 4), np.arange(0.0, 360.0, 60.0), depth)
    std = rs.by_band(rs.anomaly_std(anom), how="rms")
    assert std.dims == ("depth", "band")
    assert (
        std.sel(band="global").values[1]
        > std.sel(band="global").values[0]
        > std.sel(band="global").values[2]
    )
    assert rs.lag_correlation(anom).dims == ("depth", "lat", "lon")


def test_report_quick_run(tmp_path):
    pytest.importorskip("eofs")
    pytest.importorskip("iris_sample_data")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location(
        "realism_bench", ROOT / "benchmarks" / "realism.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--quick", "--out", str(tmp_path)])
    page = (tmp_path / "realism.md").read_text()
    for heading in (
        "Horizontal scales",
        "Persistence",
        "Vertical modes",
        "Where the world still differs",
    ):
        assert f"## {heading}" in page
    assert (tmp_path / "correlation.png").stat().st_size > 0
    assert (tmp_path / "by_depth.png").stat().st_size > 0
    assert not re.search(r"\bnan\b", page, re.IGNORECASE)
