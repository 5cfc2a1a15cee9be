"""The accessor end to end: laziness, schedulers, accuracy, grid conventions."""

import warnings

import dask
import numpy as np
import pytest
import xarray as xr
from conftest import CountingScheduler, make_profiles, make_target, truth_field

import xdepthdif
from xdepthdif.background import on_land
from xdepthdif.errors import EmptyTimeStepWarning, RejectedDataWarning, UnitsError


def test_nothing_is_computed_until_the_user_computes(profiles):
    target = make_target(chunks={"lat": 5, "lon": 7})  # dask-backed land mask
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        result = target.depthdif.reconstruct(obs=profiles, method="oi")
        assert counter.calls == 1  # only the land mask's top level, to screen the profiles
        assert isinstance(result.thetao.data, dask.array.Array)
        assert result.thetao.chunks[0] == (1, 1, 1)
        values = result.compute()
    assert counter.calls == 2
    ocean = target.sea_mask.values.astype(bool)
    assert np.isfinite(values.thetao.values[:, :, ocean]).all()
    assert np.isnan(values.thetao.values[:, :, ~ocean]).all()
    assert (values.obs_count.values.sum(axis=(1, 2, 3)) > 0).all()


def test_threaded_and_distributed_give_identical_results(target, profiles):
    distributed = pytest.importorskip("distributed")
    lazy = target.depthdif.reconstruct(obs=profiles)
    threaded = lazy.compute(scheduler="threads")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        on_cluster = lazy.compute()
    xr.testing.assert_identical(threaded, on_cluster)


def test_oi_beats_the_level_mean(target):
    # The truth here is a made-up field, not the real ocean, so the OI starts from the level
    # mean (the shipped climatology is tested on real data in test_climatology_background).
    obs = make_profiles(n=90, seed=5)
    result = target.depthdif.reconstruct(obs=obs, background="level_mean").compute()
    truth = truth_field(
        result.lat.values[None, None, :, None],
        result.lon.values[None, None, None, :],
        result.depth.values[None, :, None, None],
        np.array([1, 2, 3])[:, None, None, None],
    )
    err_oi = result.thetao.values - truth
    level_mean = np.nanmean(result.thetao.values, axis=(2, 3), keepdims=True)
    err_mean = level_mean - truth
    ocean = np.isfinite(err_oi)
    rmse_oi = np.sqrt(np.mean(err_oi[ocean] ** 2))
    rmse_mean = np.sqrt(np.mean(err_mean[ocean] ** 2))
    assert rmse_oi < 0.75 * rmse_mean  # measured: 0.64 with 30 profiles a month
    # The error estimate has the right size, if somewhat small: measured 87 % within 3 sd.
    z = np.abs(err_oi[ocean]) / result.thetao_sd.values[ocean]
    assert np.mean(z < 3) > 0.8
    assert np.mean(z < 0.5) < 0.5


@pytest.mark.parametrize("shift", [360.0, 0.0])
def test_longitude_convention_gives_identical_answers(profiles, shift):
    a = make_target().depthdif.reconstruct(obs=profiles).compute()
    target_b = make_target(lon=np.arange(-30.0, -1.0, 2.0) + 360.0)
    obs_b = profiles.assign_coords(lon=profiles.lon + shift)
    b = target_b.depthdif.reconstruct(obs=obs_b).compute()
    for name in ("thetao", "thetao_sd", "obs_count"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_dateline_and_greenwich_crossing_grids():
    for lons in (np.arange(170.0, 191.0, 2.0), np.arange(-10.0, 11.0, 2.0)):
        obs = make_profiles(n=60, seed=2, lon_range=(lons[0], lons[-1]))
        wrapped = (lons + 180) % 360 - 180
        results = []
        for grid_lon, obs_lon in (
            (lons, obs.lon),
            (wrapped, (obs.lon + 180) % 360 - 180),
            (lons % 360, obs.lon % 360),
        ):
            target = make_target(lon=grid_lon, mask=False)
            out = target.depthdif.reconstruct(obs=obs.assign_coords(lon=obs_lon)).compute()
            results.append(out.thetao.values)
        np.testing.assert_array_equal(results[0], results[1])
        np.testing.assert_array_equal(results[0], results[2])
        assert np.isfinite(results[0]).all()


def test_profiles_outside_grid_or_time_are_counted_and_warned(target, profiles):
    outside = make_profiles(n=7, seed=9, lat_range=(40, 50))
    late = make_profiles(n=4, seed=10, times=("2021-06-15",))
    obs = xr.concat([profiles, outside, late], dim="profile")
    with pytest.warns(RejectedDataWarning, match="7 outside its grid"):
        result = target.depthdif.reconstruct(obs=obs)
    assert result.attrs["profiles_rejected_outside_grid"] == 7
    assert result.attrs["profiles_rejected_outside_time_range"] == 4
    land = result.attrs["profiles_rejected_on_land"]
    assert land > 0  # the fixture's corner of land, and the coast of Africa
    assert result.attrs["profiles_used"] == profiles.sizes["profile"] - land
    assert result.attrs["profiles_read"] == obs.sizes["profile"]


def test_empty_month_warns_and_is_nan_with_the_level_mean(target):
    obs = make_profiles(times=("2020-01-15", "2020-03-15"))
    with pytest.warns(EmptyTimeStepWarning, match="2020-02-15"):
        result = target.depthdif.reconstruct(obs=obs, background="level_mean").compute()
    assert np.isnan(result.thetao.sel(time="2020-02-15").values).all()
    assert (result.obs_count.sel(time="2020-02-15").values == 0).all()
    assert np.isfinite(result.thetao.sel(time="2020-01-15").values[:, 5, 5]).all()


def test_empty_month_is_the_climatology_by_default(target):
    obs = make_profiles(times=("2020-01-15", "2020-03-15"))
    with pytest.warns(EmptyTimeStepWarning, match="2020-02-15"):
        result = target.depthdif.reconstruct(obs=obs).compute()
    ocean = target.sea_mask.values.astype(bool)
    feb = result.thetao.sel(time="2020-02-15").values[:, ocean]
    clim = xdepthdif.climatology(target).sel(time="2020-02-15").values  # on the target's sea
    assert np.isnan(clim[:, ~ocean]).all()
    np.testing.assert_allclose(feb, clim[:, ocean], atol=1e-9)
    assert "climatology" in result.attrs["oi_background"]


@pytest.mark.parametrize("window", ["month", "20D"])
def test_overlapping_windows_each_get_every_profile_they_hold(window):
    """Two times ten days apart, in one calendar month or with 20-day running windows: a
    profile inside both windows serves both time steps, as it would each alone."""
    obs = make_profiles(n=80, times=("2020-01-15",))
    target = make_target(times=("2020-01-10", "2020-01-20"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyTimeStepWarning)
        both = target.depthdif.reconstruct(obs=obs, window=window).obs_count.sum(
            ("depth", "lat", "lon")
        )
    for i in range(2):
        alone = target.isel(time=[i]).depthdif.reconstruct(obs=obs, window=window)
        assert int(alone.obs_count.sum()) == int(both[i]) > 0
    if window == "month":
        assert int(both[0]) == int(both[1])


def empty_months(target, background):
    """February and March of ``target`` with profiles in January only: the first guess there."""
    obs = make_profiles(times=("2020-01-15",))
    with pytest.warns(EmptyTimeStepWarning):
        result = target.depthdif.reconstruct(obs=obs, background=background, background_error=1.0)
    ocean = target.sea_mask.values.astype(bool)
    return result, result.thetao.values[1:][:, :, ocean]


def test_background_field_fills_levels_and_months_without_data(target):
    bg = xr.full_like(target.sea_mask, 288.15, dtype=float).expand_dims(depth=target.depth)
    bg.attrs["units"] = "K"  # converted: 15 °C
    result, later = empty_months(target, bg)
    np.testing.assert_allclose(later[0], 15.0)  # February
    ocean = target.sea_mask.values.astype(bool)
    np.testing.assert_allclose(result.thetao_sd.sel(time="2020-02-15").values[:, ocean], 1.0)


def test_a_monthly_background_gives_each_time_step_its_month(target):
    shape = (12, target.depth.size, target.lat.size, target.lon.size)
    month = np.arange(1.0, 13.0)
    bg = xr.DataArray(
        np.broadcast_to(month[:, None, None, None], shape).copy(),
        dims=("month", "depth", "lat", "lon"),
        coords={"month": month.astype(int), "depth": target.depth, "lat": target.lat,
                "lon": target.lon},
        attrs={"units": "degC"},
    )  # fmt: skip
    result, later = empty_months(target, bg)
    np.testing.assert_allclose(later[0], 2.0)  # February
    np.testing.assert_allclose(later[1], 3.0)  # March
    assert result.attrs["oi_background"] == "DataArray"


def test_a_background_with_time_is_taken_at_the_targets_times(target):
    values = np.array([10.0, 11.0, 12.0])
    bg = (
        xr.ones_like(target.sea_mask, dtype=float)
        * xr.DataArray(values, dims="time", coords={"time": target.time})
    ).expand_dims(depth=target.depth)
    bg = bg.transpose("time", "depth", "lat", "lon").rename("first_guess")  # fmt: skip
    bg.attrs["units"] = "degC"
    result, later = empty_months(target, bg.isel(time=[2, 0, 1]))  # any order of its times
    np.testing.assert_allclose(later[0], 11.0)
    np.testing.assert_allclose(later[1], 12.0)
    assert result.attrs["oi_background"] == "DataArray first_guess"
    with pytest.raises(xdepthdif.errors.UnitsError, match="has no time 2020-03-15"):
        target.depthdif.reconstruct(obs=make_profiles(), background=bg.isel(time=[0, 1]))


def test_a_background_on_another_grid_is_regridded_to_the_target(target):
    """Linear in latitude and in depth, on a finer grid and other levels: the target gets the
    same linear field, linear in depth; conservative onto the coarser cells, whose area-weighted
    means of it lie within 2e-4 °C of their centre values."""
    lat, lon = np.arange(-15.0, 15.1, 1.0), np.arange(-40.0, 5.1, 1.0)
    depth = np.array([0.0, 300.0, 1200.0])

    def field(depth, lat):
        return 20.0 + 0.1 * lat - 0.01 * depth

    bg = xr.DataArray(
        np.broadcast_to(field(depth[:, None, None], lat[None, :, None]),
                        (depth.size, lat.size, lon.size)),
        dims=("z", "latitude", "longitude"),
        coords={"z": ("z", depth, {"axis": "Z", "units": "m", "positive": "down"}),
                "latitude": ("latitude", lat, {"units": "degrees_north"}),
                "longitude": ("longitude", lon, {"units": "degrees_east"})},
        attrs={"units": "degC"},
    )  # fmt: skip
    _, later = empty_months(target, bg)
    ocean = target.sea_mask.values.astype(bool)
    lat2d = np.broadcast_to(target.lat.values[:, None], ocean.shape)[ocean]
    expected = field(target.depth.values[:, None], lat2d[None, :])
    np.testing.assert_allclose(later[0], expected, atol=2e-4)


@pytest.mark.parametrize(
    ("scale", "positive"), [(100.0, "down"), (-1.0, "up")], ids=["cm", "heights"]
)
def test_a_background_in_cm_or_as_heights_is_read_in_metres(target, scale, positive):
    """The background's depth axis is converted as the target's is: in cm, or heights with
    ``positive="up"`` (given top down, so sorted on the way), it is the field in metres."""
    depth = np.array([0.0, 300.0, 1200.0])
    values = np.broadcast_to(
        (20.0 - 0.01 * depth)[:, None, None], (3, target.lat.size, target.lon.size)
    )
    axes = {"lat": target.lat, "lon": target.lon}
    attrs = {"units": "degC"}
    in_m = xr.DataArray(values, dims=("depth", "lat", "lon"), attrs=attrs,
                        coords={"depth": ("depth", depth, {"units": "m"}), **axes})  # fmt: skip
    other = in_m.assign_coords(
        depth=("depth", depth * scale, {"units": "cm" if scale > 1 else "m", "positive": positive})
    )
    _, expected = empty_months(target, in_m)
    _, later = empty_months(target, other)
    np.testing.assert_allclose(later, expected, atol=1e-12)
    np.testing.assert_allclose(later[0][0], 20.0 - 0.01 * target.depth.values[0])


def test_a_background_that_misses_sea_cells_warns_with_counts(target):
    """A background covering part of the target: the analysis is NaN on the sea it misses,
    where the observations are not used, and a warning per time step says how much."""
    bg = xdepthdif.climatology(target).isel(lat=slice(2, 6), lon=slice(3, 8)).compute()
    obs = make_profiles(times=("2020-01-15",))
    with pytest.warns(xdepthdif.errors.IncompleteBackgroundWarning) as caught:
        result = target.depthdif.reconstruct(obs=obs, background=bg).compute()
    jan = result.isel(time=0)
    ocean = np.broadcast_to(target.sea_mask.values.astype(bool), jan.thetao.shape)
    missed = ocean & np.isnan(jan.thetao.values)
    first = [w.message for w in caught if "2020-01-15" in str(w.message)]
    assert len(first) == 1 and first[0].cells == missed.sum() > 0
    assert first[0].observed == (missed & (jan.obs_count.values > 0)).sum() > 0
    assert np.isfinite(jan.thetao.values[:, 2:6, 3:8][ocean[:, 2:6, 3:8]]).all()


def test_a_background_of_another_kind_is_a_type_error(target, profiles):
    with pytest.raises(TypeError, match="background must be 'climatology', 'level_mean'"):
        target.depthdif.reconstruct(obs=profiles, background=15.0)


def test_options_are_checked(target, profiles):
    with pytest.raises(TypeError, match="length_scale_km"):
        target.depthdif.reconstruct(obs=profiles, lenght_scale_km=100)
    with pytest.raises(ValueError, match="Unknown method"):
        target.depthdif.reconstruct(obs=profiles, method="kriging")
    # counts are whole numbers; per-level values are one, or one per level (5 here)
    for option in ({"max_obs": 2.5}, {"tile": "6"}, {"fit_steps": True}):
        with pytest.raises(xdepthdif.errors.InputError, match="must be a whole number"):
            target.depthdif.reconstruct(obs=profiles, **option)
    with pytest.raises(xdepthdif.errors.InputError, match="has 2 values for 5 levels"):
        target.depthdif.reconstruct(obs=profiles, length_scale_km=(500.0, 400.0))
    per_level = target.depthdif.reconstruct(obs=profiles, length_scale_km=[500.0] * 5, max_obs=32)
    assert per_level.attrs["oi_max_obs"] == 32


def test_parameters_and_tally_are_recorded(target, profiles):
    result = target.depthdif.reconstruct(obs=profiles, length_scale_km=250.0)
    assert result.attrs["xdepthdif_method"] == "oi"
    assert result.attrs["oi_length_scale_km"] == 250.0
    assert "length_scale_km=250.0" in result.attrs["history"]
    land = result.attrs["profiles_rejected_on_land"]
    assert result.attrs["profiles_used"] == profiles.sizes["profile"] - land


def test_target_time_bounds_choose_the_observations(profiles):
    target = make_target(mask=False)
    mid = target.time.values
    bounds = np.stack([mid - np.timedelta64(5, "D"), mid + np.timedelta64(5, "D")], axis=1)
    target["time_bnds"] = (("time", "bnds"), bounds)
    target.time.attrs["bounds"] = "time_bnds"
    days = (profiles.time.values - mid[:, None]) / np.timedelta64(1, "D")
    inside = ((days >= -5) & (days < 5)).any(0)  # windows are [start, end)
    inside &= ~on_land(profiles.lat.values, profiles.lon.values)  # West Africa
    with pytest.warns(RejectedDataWarning):
        result = target.depthdif.reconstruct(obs=profiles)
    assert result.attrs["profiles_used"] == int(inside.sum()) < profiles.sizes["profile"]
    assert "window='time_bnds'" in result.attrs["history"]
    np.testing.assert_array_equal(result.time_bnds.values, bounds)


@pytest.mark.parametrize("units", ["degC", "K"])
def test_surface_temperature_of_the_target_informs_the_top_level(units):
    """A target's SST field (°C or K) is one more observation per top-level cell."""
    obs = make_profiles(n=12, seed=5)
    target = make_target()
    sst = np.full((3, target.lat.size, target.lon.size), 29.0)
    sst[:, :2, :3] = np.nan  # land
    offset = 273.15 if units == "K" else 0.0
    with_sst = target.assign(
        sst=(("time", "lat", "lon"), sst + offset, {"standard_name": "sea_surface_temperature",
                                                    "units": units})
    )  # fmt: skip
    plain = target.depthdif.reconstruct(obs=obs).compute()
    informed = with_sst.depthdif.reconstruct(obs=obs, sst_error=0.1).compute()
    sea = target.sea_mask.values.astype(bool)
    unobserved = (plain.obs_count.values[:, 0] == 0) & sea
    gap_plain = np.abs(plain.thetao.values[:, 0] - 29.0)[unobserved].mean()
    gap_informed = np.abs(informed.thetao.values[:, 0] - 29.0)[unobserved].mean()
    assert gap_informed < 0.2 and gap_plain > 1.0
    np.testing.assert_array_equal(informed.obs_count.values, plain.obs_count.values)
    # the surface field informs the top level only when that level is near the surface
    deep = with_sst.assign_coords(depth=with_sst.depth + 30.0)
    a = deep.depthdif.reconstruct(obs=obs).compute()
    b = deep.drop_vars("sst").depthdif.reconstruct(obs=obs).compute()
    np.testing.assert_array_equal(a.thetao.values, b.thetao.values)


def test_surface_temperature_over_the_targets_land_is_not_used():
    """An SST product filled over land (a skin temperature, a fill value) next to a
    ``sea_binary_mask`` that calls those cells land: the values there are not observations."""
    obs = make_profiles(n=12, seed=5)
    target = make_target()
    land = ~target.sea_mask.values.astype(bool)

    def with_sst(over_land):
        sst = np.where(land, over_land, 25.0)[None].repeat(3, axis=0)
        attrs = {"standard_name": "sea_surface_temperature", "units": "degC"}
        return target.assign(sst=(("time", "lat", "lon"), sst, attrs))

    nan = with_sst(np.nan).depthdif.reconstruct(obs=obs).compute()
    hot = with_sst(40.0).depthdif.reconstruct(obs=obs).compute()
    np.testing.assert_array_equal(hot.thetao.values, nan.thetao.values)


def test_surface_temperature_off_the_grid_is_refused():
    target = make_target()
    bad = target.assign(
        sst=(("lon",), np.full(target.lon.size, 20.0), {"standard_name": "sea_surface_temperature",
                                                         "units": "degC"})
    )  # fmt: skip
    with pytest.raises(UnitsError, match="surface temperature"):
        bad.depthdif.reconstruct(obs=make_profiles(n=12, seed=5))


def test_surface_temperature_without_units_names_the_variable_to_fix():
    target = make_target()
    sst = np.full((3, target.lat.size, target.lon.size), 20.0)
    bare = target.assign(
        sst=(("time", "lat", "lon"), sst, {"standard_name": "sea_surface_temperature"})
    )
    with pytest.raises(
        UnitsError, match=r"surface temperature: sst has no 'units'.*ds\.sst\.attrs"
    ):
        bare.depthdif.reconstruct(obs=make_profiles(n=12, seed=5))


def test_background_from_a_catalog_entry():
    from xdepthdif.evaluation.truth import atlantic_truth

    truth = atlantic_truth(2)
    target = xr.Dataset(coords={k: truth[k] for k in ("time", "depth", "lat", "lon")})
    target["depth"].attrs.update(units="m", positive="down")
    target["sea_mask"] = truth.isel(time=0, drop=True).notnull().astype("int8")
    obs = xdepthdif.obs.sample_profiles(
        truth.isel(time=[0]), xdepthdif.obs.SamplingPlan(fraction=0.3, seed=1)
    )
    with pytest.warns(EmptyTimeStepWarning):  # the second month keeps the first guess
        result = target.depthdif.reconstruct(obs=obs, background="sample/atlantic_profiles")
    assert result.attrs["oi_background"] == "catalog entry sample/atlantic_profiles"
    second = result.thetao.isel(time=1).values
    ocean = np.isfinite(truth.isel(time=1).values)
    np.testing.assert_allclose(second[ocean], truth.isel(time=1).values[ocean], atol=1e-4)
    with pytest.warns(EmptyTimeStepWarning), pytest.raises(ValueError, match="catalog entry"):
        target.depthdif.reconstruct(obs=obs, background="sample/nemo_sst")  # no thetao


@pytest.mark.parametrize("window", ["fortnight", "10X", "-5D", "0D"])
def test_unknown_window_is_a_typed_error(target, profiles, window):
    with pytest.raises(xdepthdif.errors.InputError, match="not an analysis window"):
        target.depthdif.reconstruct(obs=profiles, window=window)


def test_the_land_mask_enters_the_graph_once():
    import pickle

    lat, lon = np.arange(-60.0, 61.0, 1.0), np.arange(-90.0, 90.0, 1.0)
    target = make_target(lat=lat, lon=lon)
    result = target.depthdif.reconstruct(obs=make_profiles(n=30))
    graph = dict(result.thetao.data.__dask_graph__())
    mask_bytes = target.sea_mask.values.astype(bool).nbytes * len(target.depth)
    steps = [v for k, v in graph.items() if str(k).startswith("_analyse_step")]
    assert len(steps) == target.sizes["time"]
    assert all(len(pickle.dumps(v)) < mask_bytes / 2 for v in steps)
    holders = [k for k, v in graph.items() if len(pickle.dumps(v)) >= mask_bytes]
    assert len(holders) == 1  # the one node that holds the mask
