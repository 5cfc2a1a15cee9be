"""The ``cmip6`` catalog: CMIP6 thetao through intake-esm, tested offline against a local ESM
collection in the layout of the Pangeo one (JSON + CSV, consolidated zarr stores)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xdepthdif.errors import InputError
from xdepthdif.sources.catalog import catalog
from xdepthdif.sources.cmip6 import prepare_thetao
from xdepthdif.sources.cmip6_esm import (
    PANGEO_CMIP6,
    CMIP6DependencyError,
    CMIP6Error,
    CMIP6Reader,
)

pytest.importorskip("intake_esm")

COLUMNS = [
    "activity_id",
    "institution_id",
    "source_id",
    "experiment_id",
    "member_id",
    "table_id",
    "variable_id",
    "grid_label",
    "zstore",
    "dcpp_init_year",
    "version",
]
NTIME = 6


class GraphRecorder:
    """A dask scheduler that records the names of the arrays each computation touches."""

    def __init__(self) -> None:
        self.names: list[set[str]] = []

    def __call__(self, dsk, keys, **kwargs):
        graph = dsk.__dask_graph__() if hasattr(dsk, "__dask_graph__") else dsk
        self.names.append({str(k[0] if isinstance(k, tuple) else k) for k in graph})
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _time(calendar: str) -> tuple[xr.DataArray, xr.DataArray]:
    """Mid-month times from 2000-01 with CF bounds, as CMIP6 stores them."""
    edges = xr.date_range("2000-01-01", periods=NTIME + 1, freq="MS", calendar=calendar)
    if calendar in ("standard", "gregorian"):
        edges = np.asarray(edges, dtype="datetime64[ns]")
    else:
        edges = np.asarray(edges)
    mid = edges[:-1] + (edges[1:] - edges[:-1]) / 2
    encoding = {"units": "days since 1850-01-01", "calendar": calendar, "dtype": "float64"}
    time = xr.DataArray(mid, dims="time", attrs={"axis": "T", "bounds": "time_bnds"})
    time.encoding = encoding
    bnds = xr.DataArray(np.stack([edges[:-1], edges[1:]], axis=1), dims=("time", "d2"))
    bnds.encoding = dict(encoding)
    return time, bnds


def _field(lat: np.ndarray, depth_m: np.ndarray, seed: int) -> np.ndarray:
    """Warm at the equator and the surface (°C), one value per month, with some land."""
    rng = np.random.default_rng(seed)
    base = 2.0 + (26.0 - 0.25 * np.abs(lat)) * np.exp(-depth_m[:, None, None] / 400.0)
    out = np.stack([base + 0.1 * t for t in range(NTIME)]) + rng.normal(
        0, 0.01, (NTIME, *base.shape)
    )
    out[:, :, 2:4, 3:5] = np.nan
    return out.astype("float32")


def _attrs(source_id: str, member_id: str, grid_label: str) -> dict:
    return {
        "Conventions": "CF-1.7 CMIP-6.2",
        "source_id": source_id,
        "experiment_id": "historical",
        "variant_label": member_id,
        "grid_label": grid_label,
        "table_id": "Omon",
    }


def _cesm2(member_id: str, seed: int) -> xr.Dataset:
    """CESM2 POP layout: ``nlat``/``nlon`` with 2-D ``lat``/``lon``, ``lev`` in centimeters,
    ``lev_bnds``, degC, noleap calendar with ``time_bnds``."""
    nlat, nlon = 8, 12
    j, i = np.meshgrid(np.arange(nlat), np.arange(nlon), indexing="ij")
    lat = -70.0 + 140.0 * j / (nlat - 1) + 1.5 * np.sin(2 * np.pi * i / nlon)
    lon = np.mod(320.5 + 30.0 * i + 2.0 * np.cos(np.pi * j / nlat), 360.0)
    lev_cm = np.array([500.0, 1500.0, 5000.0, 20000.0])
    time, time_bnds = _time("noleap")
    return xr.Dataset(
        {
            "thetao": (
                ("time", "lev", "nlat", "nlon"),
                _field(lat, lev_cm / 100.0, seed),
                {
                    "units": "degC",
                    "standard_name": "sea_water_potential_temperature",
                    "long_name": "Sea Water Potential Temperature",
                },
            ),
            "time_bnds": time_bnds,
            "lev_bnds": (("lev", "d2"), np.stack([lev_cm - 500.0, lev_cm + 500.0], axis=1)),
        },
        coords={
            "time": time,
            "lev": (
                "lev",
                lev_cm,
                {"units": "centimeters", "positive": "down", "axis": "Z", "bounds": "lev_bnds"},
            ),
            "nlat": ("nlat", np.arange(1, nlat + 1, dtype="int32")),
            "nlon": ("nlon", np.arange(1, nlon + 1, dtype="int32")),
            "lat": (("nlat", "nlon"), lat, {"units": "degrees_north"}),
            "lon": (("nlat", "nlon"), lon, {"units": "degrees_east"}),
        },
        attrs=_attrs("CESM2", member_id, "gn"),
    )


def _rectilinear_kelvin() -> xr.Dataset:
    """A regridded (``gr``) product: 1-D ``lat``/``lon``, ``lev`` in m, thetao in kelvin."""
    lat = np.linspace(-75.0, 75.0, 6)
    lon = np.arange(15.0, 360.0, 30.0)
    lev = np.array([5.0, 15.0, 50.0, 200.0])
    time, time_bnds = _time("noleap")
    values = _field(np.broadcast_to(lat[:, None], (6, 12)), lev, 3) + np.float32(273.15)
    return xr.Dataset(
        {
            "thetao": (("time", "lev", "lat", "lon"), values, {"units": "K"}),
            "time_bnds": time_bnds,
        },
        coords={
            "time": time,
            "lev": ("lev", lev, {"units": "m", "positive": "down", "axis": "Z"}),
            "lat": ("lat", lat, {"units": "degrees_north", "axis": "Y"}),
            "lon": ("lon", lon, {"units": "degrees_east", "axis": "X"}),
        },
        attrs=_attrs("CESM2", "r1i1p1f1", "gr"),
    )


def _nemo() -> xr.Dataset:
    """IPSL/NEMO layout: dims ``y``/``x`` with 2-D ``nav_lat``/``nav_lon``, ``olevel`` in m,
    Gregorian calendar."""
    ny, nx = 7, 10
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    nav_lat = -60.0 + 20.0 * j + 0.5 * np.cos(2 * np.pi * i / nx)
    nav_lon = np.mod(-180.0 + 36.0 * i + 1.0, 360.0) - 180.0
    olevel = np.array([0.5, 10.0, 100.0, 1000.0, 4000.0])
    time, time_bnds = _time("standard")
    return xr.Dataset(
        {
            "thetao": (("time", "olevel", "y", "x"), _field(nav_lat, olevel, 4), {"units": "degC"}),
            "time_bounds": time_bnds,
        },
        coords={
            "time": time,
            "olevel": ("olevel", olevel, {"units": "m", "positive": "down", "axis": "Z"}),
            "nav_lat": (("y", "x"), nav_lat, {"units": "degrees_north"}),
            "nav_lon": (("y", "x"), nav_lon, {"units": "degrees_east"}),
        },
        attrs=_attrs("IPSL-CM6A-LR", "r1i1p1f1", "gn"),
    )


STORES = {
    # (activity, institution, source, experiment, member, table, variable, grid): dataset
    ("CMIP", "NCAR", "CESM2", "historical", "r1i1p1f1", "Omon", "thetao", "gn"): lambda: _cesm2(
        "r1i1p1f1", 1
    ),
    ("CMIP", "NCAR", "CESM2", "historical", "r2i1p1f1", "Omon", "thetao", "gn"): lambda: _cesm2(
        "r2i1p1f1", 2
    ),
    (
        "CMIP",
        "NCAR",
        "CESM2",
        "historical",
        "r1i1p1f1",
        "Omon",
        "thetao",
        "gr",
    ): _rectilinear_kelvin,
    ("CMIP", "IPSL", "IPSL-CM6A-LR", "historical", "r1i1p1f1", "Omon", "thetao", "gn"): _nemo,
}
#: rows whose stores are never opened (another variable/table, another experiment, an older
#: version of a store, as pangeo-cmip6.csv has some)
OLD_VERSION = ("CMIP", "IPSL", "IPSL-CM6A-LR", "historical", "r1i1p1f1", "Omon", "thetao", "gn")
OTHER_ROWS = [
    OLD_VERSION,
    ("CMIP", "MIROC", "MIROC6", "historical", "r1i1p1f1", "Amon", "tas", "gn"),
    ("CMIP", "NCAR", "CESM2", "historical", "r1i1p1f1", "Omon", "so", "gn"),
    ("ScenarioMIP", "IPSL", "IPSL-CM6A-LR", "ssp585", "r1i1p1f1", "Omon", "thetao", "gn"),
]


def _pangeo_layout_collection(root: Path) -> Path:
    """Write zarr stores, a CSV and an ESM collection JSON shaped like pangeo-cmip6.json."""
    rows = []
    for n, facets in enumerate([*STORES, *OTHER_ROWS]):
        version = 20180803 if facets == OLD_VERSION and n >= len(STORES) else 20190308
        store = root / "cmip6" / "/".join(facets) / f"v{version}"
        if n < len(STORES):
            STORES[facets]().to_zarr(store, consolidated=True, zarr_format=2)
        rows.append([*facets, str(store), np.nan, version])
    frame = pd.DataFrame(rows, columns=COLUMNS)
    csv = root / "pangeo-cmip6-local.csv"
    frame.to_csv(csv, index=False)
    vocab = "https://raw.githubusercontent.com/WCRP-CMIP/CMIP6_CVs/master/CMIP6_{}.json"
    spec = {
        "esmcat_version": "0.1.0",
        "id": "pangeo-cmip6-local",
        "description": "A local collection in the layout of the Pangeo CMIP6 one",
        "catalog_file": str(csv),
        "attributes": [
            {"column_name": c, "vocabulary": vocab.format(c)}
            for c in COLUMNS
            if c not in ("zstore", "dcpp_init_year", "version")
        ]
        + [{"column_name": "dcpp_init_year", "vocabulary": ""}, {"column_name": "version"}],
        "assets": {"column_name": "zstore", "format": "zarr"},
        "aggregation_control": {
            "variable_column_name": "variable_id",
            "groupby_attrs": [
                "activity_id",
                "institution_id",
                "source_id",
                "experiment_id",
                "table_id",
                "grid_label",
            ],
            "aggregations": [
                {"type": "union", "attribute_name": "variable_id"},
                {
                    "type": "join_new",
                    "attribute_name": "member_id",
                    "options": {"coords": "minimal", "compat": "override"},
                },
                {
                    "type": "join_new",
                    "attribute_name": "dcpp_init_year",
                    "options": {"coords": "minimal", "compat": "override"},
                },
            ],
        },
    }
    path = root / "pangeo-cmip6-local.json"
    path.write_text(json.dumps(spec, indent=1))
    return path


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    return _pangeo_layout_collection(tmp_path_factory.mktemp("esm"))


def _store(collection: Path, facets: tuple[str, ...], version: int = 20190308) -> xr.Dataset:
    row = pd.read_csv(collection.with_suffix(".csv"))
    mask = np.logical_and.reduce(
        [row[c] == v for c, v in zip(COLUMNS[:8], facets, strict=True)] + [row.version == version]
    )
    (path,) = row.loc[mask, "zstore"]
    return xr.open_dataset(path, engine="zarr", chunks={})


CESM2_R1 = ("CMIP", "NCAR", "CESM2", "historical", "r1i1p1f1", "Omon", "thetao", "gn")


@pytest.mark.parametrize("resolution", ["", 30.0])
def test_entry_reads_lazily_offline_as_prepare_thetao(collection, no_network, resolution):
    recorder = GraphRecorder()
    cat = catalog("cmip6")
    unfused = {"scheduler": recorder, "optimization.fuse.active": False}  # keep array names
    with dask.config.set(unfused):
        ds = cat["cmip6_thetao"].read(collection=str(collection), resolution=resolution)
        # no thetao value was read; only regridding loads the 2-D coordinates of the model grid
        assert not any("thetao" in name for names in recorder.names for name in names)
        assert len(recorder.names) == (0 if resolution == "" else 2)
        float(ds["thetao"][0, 0, 0, 0])  # and a value read is seen as such
        assert any("open_dataset-thetao" in name for name in recorder.names[-1])
    assert isinstance(ds["thetao"].data, dask.array.Array)
    expected = prepare_thetao(
        _store(collection, CESM2_R1), resolution=None if resolution == "" else resolution
    )
    xr.testing.assert_allclose(ds, expected)
    assert ds["thetao"].attrs["units"] == "degC" and ds["depth"].attrs["units"] == "m"
    np.testing.assert_allclose(ds["depth"].values, [5.0, 15.0, 50.0, 200.0])  # cm -> m
    assert "member_id" not in ds.dims and "dcpp_init_year" not in ds.dims
    if resolution == "":
        assert ds["thetao"].dims == ("time", "depth", "nlat", "nlon") and ds["lat"].ndim == 2
    else:
        assert ds["thetao"].dims == ("time", "depth", "lat", "lon") and ds.sizes["lat"] == 6
    assert ds.attrs["source_id"] == "CESM2"


def test_catalog_parameters_and_other_layouts(collection, no_network):
    # intake 2's user-parameter overrides: catalog(...) keywords and cat(NAME=...)
    cat = catalog("cmip6", COLLECTION=str(collection))
    gr = cat(GRID_LABEL="gr", MAX_DEPTH="60")["cmip6_thetao"].read()
    expected = prepare_thetao(_store(collection, (*CESM2_R1[:-1], "gr")).load(), max_depth=60.0)
    xr.testing.assert_allclose(gr, expected)
    assert gr["thetao"].dims == ("time", "depth", "lat", "lon") and gr.sizes["depth"] == 3
    assert 0 < float(gr["thetao"].max()) < 35  # kelvin converted
    # the collection lists this store twice; the older version's store does not exist
    ipsl = cat(SOURCE_ID="IPSL-CM6A-LR")["cmip6_thetao"].read()
    assert ipsl.attrs["intake_esm_attrs:version"] == "20190308"
    raw = _store(collection, OLD_VERSION, version=20190308)
    xr.testing.assert_allclose(ipsl, prepare_thetao(raw))
    assert ipsl["thetao"].dims == ("time", "depth", "y", "x") and ipsl["lat"].ndim == 2
    # onto given depths, or onto the default diffusion model's grid and levels
    on = cat(GRID_LABEL="gr", LEVELS="5,20,50")["cmip6_thetao"].read()
    raw_gr = _store(collection, (*CESM2_R1[:-1], "gr")).load()
    xr.testing.assert_allclose(on, prepare_thetao(raw_gr, levels=[5.0, 20.0, 50.0]))
    model = cat(LEVELS="default", RESOLUTION="4")["cmip6_thetao"].read()
    assert (model.sizes["depth"], model.sizes["lat"], model.sizes["lon"]) == (42, 45, 90)
    with pytest.raises(InputError, match="5,10,20"):
        cat(LEVELS="5,deep")["cmip6_thetao"].read()


def test_time_slice(collection, no_network):
    cat = catalog("cmip6", COLLECTION=str(collection))
    ds = cat["cmip6_thetao"].read(start="2000-02", end="2000-04")
    assert ds.sizes["time"] == 3
    assert [str(t)[:7] for t in ds["time"].values] == ["2000-02", "2000-03", "2000-04"]
    full = prepare_thetao(_store(collection, CESM2_R1))
    xr.testing.assert_allclose(ds, full.isel(time=slice(1, 4)))
    ds = cat["cmip6_thetao"].read(start="2000-05")
    assert ds.sizes["time"] == 2
    with pytest.raises(CMIP6Error, match="run from"):
        cat["cmip6_thetao"].read(start="2010-01")


def test_no_match_names_available_values(collection, no_network):
    cat = catalog("cmip6", COLLECTION=str(collection))
    with pytest.raises(CMIP6Error) as info:
        cat["cmip6_thetao"].read(source_id="NOT-A-MODEL")
    message = str(info.value)
    assert isinstance(info.value, InputError)
    assert "source_id='NOT-A-MODEL'" in message
    assert "[CESM2, IPSL-CM6A-LR]" in message  # the models that have thetao: not MIROC6 (tas)
    with pytest.raises(CMIP6Error, match=r"experiment_id='ssp245'.*\[historical, ssp585\]"):
        cat["cmip6_thetao"].read(experiment_id="ssp245")
    with pytest.raises(CMIP6Error, match=r"member_id='r9i1p1f1'.*\[r1i1p1f1, r2i1p1f1\]"):
        cat["cmip6_thetao"].read(member_id="r9i1p1f1")
    with pytest.raises(CMIP6Error, match=r"grid_label='gr'.*\[gn\]"):
        cat["cmip6_thetao"].read(source_id="IPSL-CM6A-LR", grid_label="gr")
    with pytest.raises(CMIP6Error, match="does not exist"):
        cat["cmip6_thetao"].read(collection=str(collection.parent / "missing.json"))


def test_ambiguous_search_names_keys_and_argument(collection, no_network):
    cat = catalog("cmip6", COLLECTION=str(collection))
    with pytest.raises(CMIP6Error) as info:
        cat["cmip6_thetao"].read(grid_label="")
    message = str(info.value)
    assert "CMIP.NCAR.CESM2.historical.Omon.gn" in message
    assert "CMIP.NCAR.CESM2.historical.Omon.gr" in message
    assert "Set grid_label (one of ['gn', 'gr'])" in message
    with pytest.raises(CMIP6Error, match=r"2 members: \['r1i1p1f1', 'r2i1p1f1'\]\. Set member_id"):
        cat["cmip6_thetao"].read(member_id="")
    # the second member reads when chosen
    r2 = cat["cmip6_thetao"].read(member_id="r2i1p1f1")
    raw = _store(collection, (*CESM2_R1[:4], "r2i1p1f1", *CESM2_R1[5:]))
    xr.testing.assert_allclose(r2, prepare_thetao(raw))


def test_default_collection_is_pangeo(no_network):
    cat = catalog("cmip6")
    assert list(cat.entries) == ["cmip6_thetao"]
    entry = cat.entries["cmip6_thetao"]
    assert entry.reader == "xdepthdif.sources.cmip6_esm:CMIP6Reader"
    assert entry.user_parameters["COLLECTION"].default == PANGEO_CMIP6
    assert PANGEO_CMIP6 == "https://storage.googleapis.com/cmip6/pangeo-cmip6.json"
    reader = cat["cmip6_thetao"]
    assert isinstance(reader, CMIP6Reader)
    assert reader.kwargs["collection"] == PANGEO_CMIP6
    assert reader.kwargs["source_id"] == "CESM2"
    assert reader.kwargs["experiment_id"] == "historical"
    assert reader.kwargs["member_id"] == "r1i1p1f1"
    assert reader.kwargs["grid_label"] == "gn" and reader.kwargs["table_id"] == "Omon"
    for name in ("START", "END", "RESOLUTION", "MAX_DEPTH"):
        assert entry.user_parameters[name].default == ""
    for entry in cat.entries.values():
        assert entry.metadata and entry.user_parameters


def test_bad_arguments_are_input_errors(collection, no_network):
    cat = catalog("cmip6", COLLECTION=str(collection))
    with pytest.raises(InputError, match="resolution must be a number"):
        cat["cmip6_thetao"].read(resolution="fine")
    with pytest.raises(CMIP6Error, match="Give source_id"):
        cat["cmip6_thetao"].read(source_id="")


def test_missing_gcsfs_or_aiohttp_is_a_typed_error(collection, tmp_path, no_network, monkeypatch):
    real = importlib.util.find_spec

    def without_cloud(name, *args, **kwargs):
        return None if name in ("gcsfs", "aiohttp") else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_cloud)
    cat = catalog("cmip6")
    # the default (Pangeo, https) collection: refused before any connection is tried
    with pytest.raises(CMIP6DependencyError, match=r'aiohttp.*pip install "xdepthdif\[cmip6\]"'):
        cat["cmip6_thetao"].read()
    # a local collection of gs:// stores, as in pangeo-cmip6.csv
    frame = pd.read_csv(collection.with_suffix(".csv"))
    frame["zstore"] = "gs://cmip6/CMIP/NCAR/CESM2/historical/r1i1p1f1/Omon/thetao/gn/v20190308/"
    frame.to_csv(tmp_path / "gs.csv", index=False)
    spec = json.loads(collection.read_text())
    spec["catalog_file"] = str(tmp_path / "gs.csv")
    (tmp_path / "gs.json").write_text(json.dumps(spec))
    with pytest.raises(CMIP6DependencyError, match=r"gs://.*gcsfs.*pip install") as info:
        cat["cmip6_thetao"].read(collection=str(tmp_path / "gs.json"))
    assert isinstance(info.value, ImportError)


def test_import_does_not_import_intake_esm():
    code = (
        "import sys\n"
        "import xdepthdif, xdepthdif.sources.cmip6, xdepthdif.sources.cmip6_esm\n"
        "from xdepthdif.sources.catalog import catalog\n"
        "catalog('cmip6')['cmip6_thetao']\n"
        "assert 'intake_esm' not in sys.modules, 'intake_esm imported'\n"
        "assert 'gcsfs' not in sys.modules, 'gcsfs imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
