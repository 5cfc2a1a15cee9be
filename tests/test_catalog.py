"""intake 2 catalogs: the offline sample catalog and EN4 from a local server."""

import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from conftest import local_http_server, make_profiles, make_target

import xdepthdif
from xdepthdif.obs import read_en4, write_en4_months
from xdepthdif.prior.synthetic import en4_like_levels
from xdepthdif.sources.catalog import CatalogError, catalog, catalog_names
from xdepthdif.sources.download import DownloadError
from xdepthdif.sources.ostia import ostia_sst

EXPECTED = {
    "atlantic_profiles": ("thetao", "degC"),
    "ostia_monthly": ("surface_temperature", "degC"),
    "nemo_sst": ("tos", "degree_C"),
    "synthetic_ocean": ("thetao", "degC"),
}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_names_and_errors(tmp_path):
    assert catalog_names() == ["cmip6", "en4", "ostia", "sample"]
    with pytest.raises(CatalogError):
        catalog("nope")
    with pytest.raises(CatalogError):
        catalog(tmp_path / "missing.yaml")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("entry", sorted(EXPECTED))
def test_sample_entries_open_offline_lazily(entry, no_network):
    cat = catalog("sample")
    assert sorted(cat.entries) == sorted(EXPECTED)
    kw = {"months": 2, "resolution": 10.0} if entry == "synthetic_ocean" else {}
    ds = cat[entry].read(**kw)
    var, units = EXPECTED[entry]
    assert ds[var].attrs["units"] == units
    assert ds[var].chunks is not None  # dask-backed
    values = ds[var].values
    assert np.nanmin(values) > -3 and np.nanmax(values) < 40  # °C, not kelvin


def test_synthetic_parameters_and_defaults(no_network):
    cat = catalog("sample")
    ds = cat["synthetic_ocean"].read(months=3, resolution=15.0, split="test")
    assert ds.sizes["time"] == 3 and ds["thetao"].data.numblocks[0] == 3
    assert ds["depth"].attrs["units"] == "m"
    assert "split=test" in ds.attrs["source"]
    assert str(ds["time"].values[0])[:10] == "2020-01-15"


def test_catalog_parameter_sets_sample_folder(tmp_path):
    cat = catalog("sample", SAMPLE_DATA=str(tmp_path))
    with pytest.raises(CatalogError) as caught:
        cat["ostia_monthly"].read()
    message = str(caught.value)
    assert message.startswith("sample/ostia_monthly: no file matches ")
    assert str(tmp_path / "ostia_monthly.nc") in message
    assert "catalog('sample', SAMPLE_DATA='/folder/of/the/files')" in message
    with pytest.raises(CatalogError, match=r"sample/nemo_sst: no file matches .*nemo_1m_\*"):
        cat["nemo_sst"].read()


def test_the_synthetic_splits_are_those_the_docs_and_catalog_name(no_network):
    cat = catalog("sample")
    for split in ("train", "test"):
        assert (
            f"split={split}" in cat["synthetic_ocean"].read(months=1, split=split).attrs["source"]
        )
    with pytest.raises(CatalogError, match=r"split='val' is not accepted; it takes train, test"):
        cat["synthetic_ocean"].read(months=1, resolution=10.0, split="val")
    root = Path(__file__).parents[1]
    described = yaml.safe_load((root / "catalogs" / "sample.yaml").read_text())
    split = described["entries"]["synthetic_ocean"]["user_parameters"]["SPLIT"]
    assert split["description"].startswith("train or test")
    docs = (root / "docs" / "catalogs.md").read_text()
    assert 'resolution=2.0, split="test")' in docs and "val or test" not in docs


@pytest.mark.parametrize(
    ("entry", "kwargs", "message"),
    [
        (
            "synthetic_ocean",
            {"monthz": 2},
            "sample/synthetic_ocean: monthz is not a parameter of this entry; it takes start, "
            "months, resolution, split, seed, chunks",
        ),
        ("synthetic_ocean", {"split": "bogus"}, "split='bogus' is not accepted"),
        ("synthetic_ocean", {"chunks": 5}, 'chunks=5 is not a mapping .* chunks={"time": 1}'),
        ("atlantic_profiles", {"monthz": 2}, "sample/atlantic_profiles: monthz is not a param"),
        ("atlantic_profiles", {"chunks": [1]}, "sample/atlantic_profiles: chunks=\\[1\\]"),
    ],
)
def test_entry_parameters_that_do_not_fit_are_catalog_errors(no_network, entry, kwargs, message):
    kwargs = {"months": 1, "resolution": 10.0} | kwargs if entry == "synthetic_ocean" else kwargs
    with pytest.raises(CatalogError, match=message):
        catalog("sample")[entry].read(**kwargs)


@pytest.mark.parametrize("key", ["start", "end"])
def test_ostia_days_that_are_not_dates_are_catalog_errors(no_network, key):
    kwargs = {"start": "2020-01-01", key: "notadate"}
    with pytest.raises(CatalogError, match=f"ostia/ostia_l4: {key}='notadate' is not a date"):
        catalog("ostia")["ostia_l4"].read(**kwargs)


@pytest.fixture
def en4_server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    (root / "EN.4.2.2").mkdir(parents=True)
    prof = make_profiles(n=12, times=("2020-01-15", "2020-02-15"))
    written = write_en4_months(prof, tmp_path / "months")
    with zipfile.ZipFile(root / "EN.4.2.2" / "EN.4.2.2.profiles.g10.2020.zip", "w") as zf:
        for p in written:
            zf.write(p, p.name)
    with local_http_server(root, monkeypatch, tmp_path / "cache") as url:
        yield written, url


def test_en4_entry_from_local_server(en4_server):
    written, base = en4_server
    cat = catalog("en4")
    ds = cat["en4_profiles"].read(year=2020, month=2, base_url=base, chunks=5)
    expected = read_en4(written[1])
    assert ds["thetao"].chunks is not None
    assert ds["thetao"].attrs["units"] == "degC"
    np.testing.assert_array_equal(ds["thetao"].values, expected["thetao"].values)
    np.testing.assert_array_equal(ds["depth"].values, expected["depth"].values)
    np.testing.assert_array_equal(ds["time"].values, expected["time"].values)


def test_import_and_load_download_nothing(tmp_path):
    code = (
        "import socket\n"
        "def boom(*a, **k): raise AssertionError('network at import')\n"
        "socket.socket.connect = boom\n"
        "from xdepthdif.sources.catalog import catalog\n"
        "[catalog(n) for n in ('sample', 'en4', 'ostia', 'cmip6')]\n"
    )
    env = {"XDEPTHDIF_CACHE": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert not (tmp_path / "c").exists()


def write_en4_analysis(folder, year, month):
    """A month in the layout of ``EN.4.2.2.f.analysis.g10.YYYYMM.nc``: 42 depths, 173 x 360
    cells (lat -83..89, lon 1..360), temperature in kelvin, depth and time bounds."""
    depth = en4_like_levels(42).astype(np.float32)
    lat = np.arange(-83.0, 90.0, dtype=np.float32)
    lon = np.arange(1.0, 361.0, dtype=np.float32)
    days = (pd.Timestamp(year, month, 16) - pd.Timestamp(1800, 1, 1)).days
    base = 28.0 * np.cos(np.deg2rad(lat))[None, :, None] * np.exp(-depth / 800.0)[:, None, None]
    theta = (273.15 + 1.0 + base + 0.01 * month + 0 * lon[None, None, :]).astype(np.float32)
    land = (lat[:, None] > 60) & (lon[None, :] < 30)
    theta[:, land] = np.nan
    edges = np.concatenate([[0.0], 0.5 * (depth[1:] + depth[:-1]), [5500.0]])
    dims = ("time", "depth", "lat", "lon")
    ds = xr.Dataset(
        {
            "temperature": (
                dims,
                theta[None],
                {"units": "kelvin", "standard_name": "sea_water_potential_temperature"},
            ),
            "salinity": (dims, np.full_like(theta, 35.0)[None], {"units": "psu"}),
            "temperature_uncertainty": (dims, np.full_like(theta, 0.3)[None], {"units": "kelvin"}),
            "temperature_observation_weights": (dims, np.zeros_like(theta)[None], {}),
            "depth_bnds": (("depth", "bnds"), np.stack([edges[:-1], edges[1:]], 1)),
            "time_bnds": (("time", "bnds"), [[days - 15.0, days + 15.0]]),
        },
        coords={
            "time": (
                "time",
                [float(days)],
                {"units": "days since 1800-01-01 00:00:00", "bounds": "time_bnds"},
            ),
            "depth": (
                "depth",
                depth,
                {"units": "metres", "positive": "down", "bounds": "depth_bnds"},
            ),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    path = folder / f"EN.4.2.2.f.analysis.g10.{year}{month:02d}.nc"
    enc = {v: {"zlib": True, "complevel": 1} for v in ds.data_vars}
    ds.to_netcdf(path, encoding=enc, unlimited_dims=["time"], engine="netcdf4")
    return path


@pytest.fixture
def en4_analyses_server(tmp_path, monkeypatch):
    """2020 in EN.4.2.2/ (Jan, Feb), 2021 in the base folder (Jan), as the Met Office serves."""
    root = tmp_path / "www"
    (root / "EN.4.2.2").mkdir(parents=True)
    months = tmp_path / "months"
    months.mkdir()
    written = {}
    for year, month, folder in ((2020, 1, "EN.4.2.2/"), (2020, 2, "EN.4.2.2/"), (2021, 1, "")):
        written[year, month] = write_en4_analysis(months, year, month)
        zpath = root / f"{folder}EN.4.2.2.analyses.g10.{year}.zip"
        with zipfile.ZipFile(zpath, "a") as zf:
            zf.write(written[year, month], written[year, month].name)
    with local_http_server(root, monkeypatch, tmp_path / "cache") as url:
        yield written, url


def test_en4_analyses_entry_from_local_server(en4_analyses_server):
    written, base = en4_analyses_server
    entry = catalog("en4")["en4_analyses"]
    ds = entry.read(start="2020-01", end="2020-02", base_url=base)
    assert ds["thetao"].chunks is not None and ds["thetao"].data.numblocks[0] == 2
    assert ds["thetao"].attrs["units"] == "degC" and "so" in ds
    assert [str(t)[:7] for t in ds["time"].values] == ["2020-01", "2020-02"]
    later = entry.read(start="2021-01", base_url=base)  # 2021 on: no EN.4.2.2/ folder
    for got, key in ((ds.isel(time=1), (2020, 2)), (later.isel(time=0), (2021, 1))):
        with xr.open_dataset(written[key]) as raw:
            expected = raw["temperature"].isel(time=0).values - 273.15
        np.testing.assert_allclose(got["thetao"].values, expected, rtol=0, atol=1e-4)
    with pytest.raises(DownloadError, match=r"holds no EN\.4\.2\.2\.f\.analysis\.g10\.202003\.nc"):
        entry.read(start="2020-03", base_url=base)
    assert ds["depth"].attrs["units"] == "metres" and ds.sizes["depth"] == 42
    # it is a target the package accepts: an OI analysis on a corner of the grid
    target = ds.isel(time=[1], depth=slice(0, 10), lat=slice(80, 90), lon=slice(300, 315))
    prof = make_profiles(n=20, lat_range=(-3, 6), lon_range=(301, 314), times=("2020-02-16",))
    out = target.depthdif.reconstruct(obs=prof, method="oi")
    assert out["thetao"].shape == (1, 10, 10, 15)
    assert np.isfinite(out["thetao"].values).all()
    np.testing.assert_array_equal(out["lat"].values, target["lat"].values)


def write_ostia_l4(folder, day, sst_c, ice, land):
    """A day in the GHRSST GDS2 OSTIA L4 layout: packed analysed_sst (K), analysis_error,
    sea_ice_fraction (int8, scale 0.01) and the mask bit field, on a 1° subset of lat/lon."""
    lat = np.arange(-9.5, 10.0, 1.0, dtype=np.float32)
    lon = np.arange(-9.5, 10.0, 1.0, dtype=np.float32)
    noon = pd.Timestamp(day) + pd.Timedelta(hours=12)
    seconds = (noon - pd.Timestamp(1981, 1, 1)).total_seconds()
    shape = (1, lat.size, lon.size)
    sst = np.where(land, np.nan, sst_c + 273.15)[None] * np.ones(shape)
    mask = np.where(land, 2, np.where(ice > 0, 9, 1)).astype(np.int8)[None]
    flags = {
        "flag_masks": np.array([1, 2, 4, 8, 16], np.int8),
        "flag_meanings": "water land optional_lake_surface sea_ice optional_river_surface",
    }
    ds = xr.Dataset(
        {
            "analysed_sst": (
                ("time", "lat", "lon"),
                sst,
                {"units": "kelvin", "standard_name": "sea_surface_foundation_temperature"},
            ),
            "analysis_error": (("time", "lat", "lon"), np.full(shape, 0.5), {"units": "kelvin"}),
            "sea_ice_fraction": (
                ("time", "lat", "lon"),
                ice[None] * np.ones(shape),
                {"units": "1", "standard_name": "sea_ice_area_fraction"},
            ),
            "mask": (("time", "lat", "lon"), mask, flags),
        },
        coords={
            "time": (
                "time",
                [np.int32(seconds)],
                {"units": "seconds since 1981-01-01 00:00:00", "standard_name": "time"},
            ),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
    )
    enc = {
        "analysed_sst": {
            "dtype": "int16",
            "scale_factor": 0.01,
            "add_offset": 273.15,
            "_FillValue": np.int16(-32768),
            "zlib": True,
        },
        "analysis_error": {
            "dtype": "int16",
            "scale_factor": 0.01,
            "add_offset": 0.0,
            "_FillValue": np.int16(-32768),
            "zlib": True,
        },
        "sea_ice_fraction": {
            "dtype": "int8",
            "scale_factor": 0.01,
            "add_offset": 0.0,
            "_FillValue": np.int8(-128),
            "zlib": True,
        },
        "mask": {"dtype": "int8", "_FillValue": np.int8(-128), "zlib": True},
    }
    d = pd.Timestamp(day)
    path = folder / f"{d:%Y}" / f"{d.day_of_year:03d}"
    path.mkdir(parents=True)
    name = f"{d:%Y%m%d}120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc"
    ds.to_netcdf(path / name, encoding=enc, unlimited_dims=["time"], engine="netcdf4")
    return path / name


def test_ostia_l4_entry_from_local_server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    lat = np.arange(-9.5, 10.0, 1.0)
    land = (lat[:, None] < -5) & (lat[None, :] < -5)
    ice = np.where((lat[:, None] > 5) & (lat[None, :] > 5), 0.6, 0.0)
    write_ostia_l4(root, "2020-01-31", 26.0, ice, land)
    write_ostia_l4(root, "2020-02-01", 28.0, ice, land)
    with local_http_server(root, monkeypatch, tmp_path / "cache") as base:
        ds = catalog("ostia")["ostia_l4"].read(start="2020-01-31", end="2020-02-01", base_url=base)
        assert ds["analysed_sst"].chunks is not None
        assert ds["analysed_sst"].attrs["units"] == "degC"
        v = ds["analysed_sst"].values
        np.testing.assert_allclose(v[0][~land], 26.0, atol=0.006)  # packed to 0.01 K
        np.testing.assert_allclose(v[1][~land], 28.0, atol=0.006)
        assert np.isnan(v[:, land]).all() and ds["mask"].attrs["flag_meanings"].startswith("water")
        target = make_target(
            lat=np.arange(-9.0, 10.0, 2.0),
            lon=np.arange(-9.0, 10.0, 2.0),
            times=("2020-01-15", "2020-02-15"),
            mask=False,
        )
        sst = ostia_sst(ds, target).values
        np.testing.assert_allclose(sst[0, 4:7, 4:7], 26.0, atol=0.006)  # January day only
        np.testing.assert_allclose(sst[1, 4:7, 4:7], 28.0, atol=0.006)
        assert np.isnan(sst[:, -2:, -2:]).all() and np.isnan(sst[:, :2, :2]).all()  # ice, land


def test_catalog_names_are_public_beside_catalog():

    assert xdepthdif.catalog_names() == catalog_names()
    assert {"catalog", "catalog_names"} <= set(xdepthdif.__all__)
