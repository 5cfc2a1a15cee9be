"""Tests of xdepthdif.sources.cmip6.prepare_thetao (generated CMIP6-like files, the real NEMO ORCA2
field) and xdepthdif.sources.ostia.ostia_sst (the real OSTIA monthly SST, a synthetic L4 file)."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from conftest import CountingScheduler, make_profiles, make_target, sample_file

import xdepthdif  # noqa: F401  (registers the .depthdif accessor)
from xdepthdif.errors import GridError, InputError, UnitsError
from xdepthdif.prior.model import default_model_path, verify
from xdepthdif.prior.training_data import prepare_training_data
from xdepthdif.sources.cmip6 import global_grid, prepare_thetao
from xdepthdif.sources.ostia import ostia_sst

TIMES = np.array(["2000-01-16", "2000-02-15", "2000-03-16"], dtype="datetime64[ns]")


def _raise(block):
    raise AssertionError("data computed")


def _field_degc(lat, depth_m, t):
    """Warm at the equator and the surface; °C."""
    return 2.0 + (26.0 - 0.25 * np.abs(lat)) * np.exp(-depth_m / 400.0) + 0.1 * t


# ------------------------------------------------------------------------------------------
# CMIP6 thetao
# ------------------------------------------------------------------------------------------


def _cesm2_like(tmp_path: Path) -> Path:
    """CESM2 ocean layout: lev in centimeters, 2-D lat/lon on nlat/nlon, bounds, °C."""
    nlat, nlon = 30, 40
    j, i = np.meshgrid(np.arange(nlat), np.arange(nlon), indexing="ij")
    lat = -80.0 + 160.0 * j / (nlat - 1) + 2.0 * np.sin(2 * np.pi * i / nlon)  # distorted
    lon = np.mod(320.0 + 360.0 * i / nlon + 3.0 * np.cos(np.pi * j / nlat), 360.0)
    lev_m = np.array([5.0, 15.0, 50.0, 200.0, 1000.0, 3000.0])
    values = np.stack([_field_degc(lat[None], lev_m[:, None, None], t) for t in range(TIMES.size)])
    values[:, :, 10:14, 5:9] = np.nan  # an island
    values[:, -1, :5] = np.nan  # shallow shelf in the south
    ds = xr.Dataset(
        {
            "thetao": (
                ("time", "lev", "nlat", "nlon"),
                values.astype(np.float32),
                {
                    "units": "degC",
                    "standard_name": STD,
                    "_FillValue": np.float32(1e20),
                },
            ),
            "lev_bnds": (("lev", "d2"), np.c_[lev_m - 1, lev_m + 1] * 100.0),
            "lat_bnds": (("nlat", "nlon", "vertices"), np.repeat(lat[..., None], 4, -1)),
            "lon_bnds": (("nlat", "nlon", "vertices"), np.repeat(lon[..., None], 4, -1)),
            "time_bnds": (("time", "d2"), np.c_[TIMES, TIMES]),
        },
        coords={
            "time": ("time", TIMES, {"axis": "T"}),
            "lev": (
                "lev",
                lev_m * 100.0,
                {"units": "centimeters", "positive": "down", "bounds": "lev_bnds"},
            ),
            "lat": (("nlat", "nlon"), lat, {"units": "degrees_north", "bounds": "lat_bnds"}),
            "lon": (("nlat", "nlon"), lon, {"units": "degrees_east", "bounds": "lon_bnds"}),
        },
        attrs={"source_id": "CESM2-like", "variable_id": "thetao"},
    )
    path = tmp_path / "thetao_Omon_CESM2_fake.nc"
    ds.to_netcdf(path)
    return path


STD = "sea_water_potential_temperature"


def test_cesm2_like_native(tmp_path):
    with xr.open_dataset(_cesm2_like(tmp_path), chunks={"time": 1}) as ds:
        out = prepare_thetao(ds)
        assert out.thetao.chunks is not None  # lazy
        assert out.thetao.dims == ("time", "depth", "nlat", "nlon")
        assert out.lat.dims == ("nlat", "nlon")  # stays curvilinear
        np.testing.assert_allclose(out.depth, [5.0, 15.0, 50.0, 200.0, 1000.0, 3000.0])
        assert out.depth.attrs["units"] == "m" and out.depth.attrs["positive"] == "down"
        assert out.thetao.attrs["units"] == "degC"
        assert out.thetao.attrs["standard_name"] == STD
        assert not any("bnds" in str(v) for v in out.variables)
        got = out.thetao.values
        want = ds.thetao.values
        np.testing.assert_allclose(got, want, equal_nan=True)
        assert np.nanmin(got) > 1.0 and np.nanmax(got) < 30.0
        with pytest.raises(GridError, match="Curvilinear"):
            prepare_training_data(out)  # curvilinear: not trainable without resolution


def test_cesm2_like_regridded_is_trainable(tmp_path):
    with xr.open_dataset(_cesm2_like(tmp_path), chunks={"time": 1}) as ds:
        # the data must not be computed while preparing (the small 2-D coordinates may be)
        lazy_boom = ds.thetao.data.map_blocks(_raise, dtype=np.float32)
        boom = ds.assign(thetao=ds.thetao.copy(data=lazy_boom))
        assert prepare_thetao(boom, resolution=10).thetao.chunks is not None
        out = prepare_thetao(ds, resolution=10, max_depth=1000)
        assert out.thetao.chunks is not None  # still lazy after regridding
        assert out.thetao.dims == ("time", "depth", "lat", "lon")
        np.testing.assert_allclose(out.lat, np.arange(-85.0, 90.0, 10.0))
        np.testing.assert_allclose(out.lon, np.arange(5.0, 360.0, 10.0))
        np.testing.assert_allclose(out.depth, [5.0, 15.0, 50.0, 200.0, 1000.0])
        assert out.thetao.attrs["units"] == "degC"
        vals = out.thetao.values
        # gaussian remap of a smooth field: close to the field at the cell centres
        lat2 = out.lat.values[None, None, :, None]
        ref = _field_degc(
            lat2, out.depth.values[None, :, None, None], np.arange(3)[:, None, None, None]
        )
        ok = np.isfinite(vals)
        assert ok[:, :, 2:-2].mean() > 0.9
        err = np.abs(vals - ref)[:, :, 2:-2]
        assert np.nanmedian(err) < 0.3 and np.nanmax(err) < 2.5
        data, mask, info = prepare_training_data(out.load(), climatology=False)
        assert data.shape == (3, 5, 18, 36) and mask.any()
        assert info["periodic"] and info["resolution_deg"] == pytest.approx(10.0)


def test_onto_given_or_model_levels(tmp_path):
    with xr.open_dataset(_cesm2_like(tmp_path), chunks={"time": 1}) as ds:
        native = prepare_thetao(ds).thetao.load()
        levels = [2.0, 5.0, 10.0, 600.0, 3000.0, 4000.0]
        out = prepare_thetao(ds, levels=levels)
        assert out.thetao.chunks is not None  # still lazy
        np.testing.assert_allclose(out.depth, levels)
        got = out.thetao.values
        col = native.isel(time=1, nlat=20, nlon=30).values
        z = native.depth.values
        want = np.interp([5.0, 5.0, 10.0, 600.0, 3000.0], z, col)  # 2 m takes the top value
        np.testing.assert_allclose(got[1, :5, 20, 30], want, rtol=1e-6)
        assert np.isnan(got[:, 5]).all()  # below the deepest level
        assert np.isnan(got[:, :, 10:14, 5:9]).all()  # the island stays land
        default = prepare_thetao(ds, levels="default", max_depth=1000)
        np.testing.assert_allclose(default.depth, verify(default_model_path()).levels)
        assert np.isnan(default.thetao.sel(depth=slice(1001, None)).values).all()
        with pytest.raises(InputError, match="increasing"):
            prepare_thetao(ds, levels=[10.0, 5.0])


def test_rectilinear_kelvin_olevel():
    lat = np.arange(-60.0, 61.0, 10.0)
    lon = np.arange(-180.0, 180.0, 15.0)
    olevel = np.array([0.5, 10.0, 100.0])
    degc = _field_degc(lat[None, None, :, None], olevel[None, :, None, None], 0) + 0 * lon
    degc = np.broadcast_to(degc, (2, 3, lat.size, lon.size)).copy()
    ds = xr.Dataset(
        {"thetao": (("time", "olevel", "latitude", "longitude"), degc + 273.15, {"units": "K"})},
        coords={
            "time": ("time", TIMES[:2]),
            "olevel": ("olevel", olevel, {"units": "m", "positive": "down"}),
            "latitude": ("latitude", lat, {"units": "degrees_north"}),
            "longitude": ("longitude", lon, {"units": "degrees_east"}),
        },
    ).chunk({"time": 1})
    out = prepare_thetao(ds)
    assert out.thetao.chunks is not None
    assert out.thetao.dims == ("time", "depth", "lat", "lon")
    np.testing.assert_allclose(out.thetao.values, degc, atol=1e-9)
    np.testing.assert_allclose(out.depth, olevel)
    np.testing.assert_allclose(out.lon, lon)
    assert out.thetao.attrs["units"] == "degC"
    # positive up and max_depth
    up = ds.assign_coords(olevel=("olevel", -olevel, {"units": "m", "positive": "up"}))
    out = prepare_thetao(up, max_depth=20)
    np.testing.assert_allclose(out.depth, olevel[:2])
    np.testing.assert_allclose(out.thetao.values, degc[:, :2], atol=1e-9)
    # stored bottom first (heights): top down on the way out, values with their levels
    out = prepare_thetao(up.isel(olevel=slice(None, None, -1)))
    np.testing.assert_allclose(out.depth, olevel)
    np.testing.assert_allclose(out.thetao.values, degc, atol=1e-9)
    # regridded to 30 degrees (conservative: coarser); the zonally uniform field is kept
    out = prepare_thetao(ds, resolution=30)
    assert out.thetao.attrs["regrid_method"] == "conservative"
    assert out.lat.size == 6 and out.lon.size == 12
    mid = out.thetao.sel(lat=[-45.0, -15.0, 15.0, 45.0]).values
    assert np.isfinite(mid).all() and (np.ptp(mid, axis=-1) < 1e-4).all()  # zonally uniform
    np.testing.assert_allclose(mid[..., 1, :], mid[..., 2, :], atol=1e-4)  # symmetric


def test_cmip6_errors():
    ds = xr.Dataset(
        {"tos": (("time", "lev", "lat", "lon"), np.zeros((1, 1, 2, 2)), {"units": "K"})},
        coords={
            "time": TIMES[:1],
            "lev": ("lev", [5.0], {"units": "m"}),
            "lat": [0, 1],
            "lon": [0, 1],
        },
    )
    with pytest.raises(InputError, match="thetao"):
        prepare_thetao(ds)
    ds = ds.rename(tos="thetao")
    with pytest.raises(UnitsError, match="units"):
        prepare_thetao(ds.assign_coords(lev=("lev", [5.0], {"units": "furlong"})))
    with pytest.raises(UnitsError, match="degC"):
        prepare_thetao(ds.assign(thetao=ds.thetao.assign_attrs(units="F")))
    with pytest.raises(InputError, match="max_depth"):
        prepare_thetao(ds, max_depth=1.0)
    with pytest.raises(InputError, match="resolution"):
        global_grid(0)


def test_real_nemo_orca2_renamed():
    """The real ORCA2 votemper (one level, curvilinear), renamed to CMIP6 names."""
    with xr.open_dataset(sample_file("orca2_votemper.nc")) as raw:
        ds = raw.load()
    deptht = float(ds.deptht)
    ds = (
        ds.drop_vars("deptht")
        .rename(votemper="thetao")
        .expand_dims(olevel=[deptht], time=TIMES[:1])
    )
    ds["olevel"].attrs = {"units": "m", "positive": "down"}
    ds = ds.chunk({"time": 1})
    out = prepare_thetao(ds, resolution=5)
    assert out.thetao.dims == ("time", "depth", "lat", "lon")
    assert out.thetao.chunks is not None
    np.testing.assert_allclose(out.depth, [deptht])
    vals = out.thetao.values
    assert np.isnan(vals).any() and np.isfinite(vals).mean() > 0.5
    assert np.nanmin(vals) > -3.0 and np.nanmax(vals) < 33.0
    assert np.isnan(out.thetao.sel(lat=22.5, lon=17.5).values).all()  # Sahara
    data, _, _ = prepare_training_data(out.load(), climatology=False)
    assert data.shape == (1, 1, 36, 72)


# ------------------------------------------------------------------------------------------
# OSTIA
# ------------------------------------------------------------------------------------------

OSTIA_TIMES = ("2006-04-15", "2006-05-15", "2006-06-15")


@pytest.fixture(scope="module")
def ostia() -> xr.Dataset:
    with xr.open_dataset(sample_file("ostia_monthly.nc")) as ds:
        return ds.isel(time=slice(0, 6)).load()


def _ostia_target(**kw) -> xr.Dataset:
    # 2-degree cells over the Gulf of Guinea and the African coast (5S-5N, 20W-15E)
    return make_target(
        lat=np.arange(-4.0, 5.0, 2.0), lon=np.arange(-19.0, 16.0, 2.0), times=OSTIA_TIMES, **kw
    )


def test_ostia_real_degc_land_and_months(ostia):
    target = _ostia_target(mask=False)
    sst = ostia_sst(ostia, target)
    assert sst.dims == ("time", "lat", "lon")
    assert sst.attrs["standard_name"] == "sea_surface_temperature"
    assert sst.attrs["units"] == "degC"
    assert sst.attrs["regrid_method"] == "conservative"
    np.testing.assert_array_equal(sst.time.values, target.time.values)
    vals = sst.values
    assert np.nanmin(vals) > 20.0 and np.nanmax(vals) < 32.0
    # land: Gabon / Cameroon interior at ~1N, 13E is NaN; open ocean at 1S, 19W is not
    assert np.isnan(sst.sel(lat=0.0, lon=13.0).values).all()
    assert np.isfinite(sst.sel(lat=0.0, lon=-19.0).values).all()
    # months matched: April's field is the file's April, not May's
    src = ostia.surface_temperature.sel(latitude=slice(-1.2, 1.2), longitude=slice(340, 342))
    ref = src.groupby("time.month").mean(...) - 273.15
    near = sst.sel(lat=0.0, lon=-19.0)
    assert abs(float(near[0]) - float(ref.sel(month=4))) < 0.6
    assert float(near[0]) != pytest.approx(float(near[1]), abs=1e-4)
    # lazy in, lazy out
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        lazy = ostia_sst(ostia.chunk({"time": 1}), target)
    assert counter.calls == 0
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, vals, equal_nan=True)


def test_ostia_feeds_reconstruct(ostia):
    target = _ostia_target(mask=False)
    profiles = make_profiles(n=40, times=OSTIA_TIMES, lat_range=(-4, 4), lon_range=(-19, -3))
    without = target.depthdif.reconstruct(obs=profiles, method="oi").thetao.values
    sst = ostia_sst(ostia, target)
    with_sst = target.assign(sst=sst)
    got = with_sst.depthdif.reconstruct(obs=profiles, method="oi").thetao.values
    top = np.isfinite(got[:, 0]) & np.isfinite(without[:, 0])
    assert top.any()
    assert np.abs(got[:, 0][top] - without[:, 0][top]).max() > 0.05  # SST was used
    # land of the OSTIA field is land of the analysis
    land = np.isnan(sst.values).all(axis=0)
    assert land.any() and np.isnan(got[:, :, land]).all()


FLAG_MEANINGS = "water land optional_lake_surface sea_ice optional_river_surface"


def _synthetic_l4() -> xr.Dataset:
    lat = np.arange(-9.975, 10.0, 0.05)[::8]
    lon = np.arange(-9.975, 10.0, 0.05)[::8]
    sst_k = np.full((2, lat.size, lon.size), 300.15)
    corner_ne = (lat[:, None] > 5) & (lon[None, :] > 5)
    corner_sw = (lat[:, None] < -5) & (lon[None, :] < -5)
    ice = np.broadcast_to(np.where(corner_ne, 0.6, 0.0), sst_k.shape).copy()
    mask = np.broadcast_to(np.where(corner_sw, 2, 1), sst_k.shape).astype(np.int8)
    sst_k = np.where(mask == 2, np.nan, sst_k)
    packed = np.where(np.isnan(sst_k), -32768, np.round((sst_k - 273.15) / 0.01)).astype(np.int16)
    times = np.array(["2020-01-01T12", "2020-01-02T12"], dtype="datetime64[ns]")
    ds = xr.Dataset(
        {
            "analysed_sst": (
                ("time", "lat", "lon"),
                packed,
                {
                    "units": "kelvin",
                    "scale_factor": 0.01,
                    "add_offset": 273.15,
                    "_FillValue": np.int16(-32768),
                },
            ),
            "sea_ice_fraction": (("time", "lat", "lon"), ice),
            "mask": (
                ("time", "lat", "lon"),
                mask,
                {
                    "flag_masks": np.array([1, 2, 4, 8, 16], np.int8),
                    "flag_meanings": FLAG_MEANINGS,
                },
            ),
        },
        coords={"time": times, "lat": lat, "lon": lon},
    )
    return xr.decode_cf(ds)


def test_synthetic_l4_ice_and_land():
    ds = _synthetic_l4()
    assert ds.analysed_sst.dtype.kind == "f"  # decoded from packed int16
    target = make_target(
        lat=np.arange(-9.0, 10.0, 2.0),
        lon=np.arange(-9.0, 10.0, 2.0),
        times=("2020-01-15",),
        mask=False,
    )
    sst = ostia_sst(ds, target)
    v = sst.isel(time=0)
    assert np.isnan(v.sel(lat=slice(7, 9), lon=slice(7, 9))).all()  # ice
    assert np.isnan(v.sel(lat=slice(-9, -7), lon=slice(-9, -7))).all()  # land
    np.testing.assert_allclose(v.sel(lat=slice(-3, 3), lon=slice(-3, 3)), 27.0, atol=1e-4)
    loose = ostia_sst(ds, target, max_ice=0.7)
    assert np.isfinite(loose.isel(time=0).sel(lat=slice(7, 9), lon=slice(7, 9))).all()
    with pytest.raises(InputError, match="2020-02"):
        ostia_sst(ds, make_target(lat=[0.0], lon=[0.0], times=("2020-02-15",), mask=False))
    with pytest.raises(InputError, match="max_ice"):
        ostia_sst(ds, target, max_ice=2)
