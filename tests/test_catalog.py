"""intake 2 catalogs: the offline sample catalog and EN4 from a local server."""

import socket
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import local_http_server, make_profiles

from xdepthdif.catalog import CatalogError, catalog, catalog_names
from xdepthdif.obs import read_en4, write_en4_months

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
    assert catalog_names() == ["en4", "sample"]
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
    with pytest.raises(OSError):
        cat["ostia_monthly"].read()


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
        "from xdepthdif.catalog import catalog\n"
        "catalog('sample'); catalog('en4')\n"
    )
    env = {"XDEPTHDIF_CACHE": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert not (tmp_path / "c").exists()
