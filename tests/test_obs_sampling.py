"""Sampling a truth field: determinism per time step, no land, depth limits, splitting."""

import numpy as np
import pytest
import xarray as xr

from xdepthdif.errors import InputError, UnitsError
from xdepthdif.obs import SamplingPlan, sample_profiles, split_profiles, tally
from xdepthdif.obs.binning import locate_cells

DEPTH = np.array([5.0, 100.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0])


def truth(n_time=3, units="degC"):
    lat = np.linspace(-60, 60, 13)
    lon = np.arange(0.0, 360.0, 10.0)
    profile = 4 + 20 * np.exp(-DEPTH / 500)
    field = np.broadcast_to(profile[None, :, None, None], (n_time, DEPTH.size, 13, 36)).copy()
    field[:, :, :, :6] = np.nan  # a continent
    field[:, 3:, 5, 20:30] = np.nan  # a shallow shelf: ocean down to 500 m
    times = np.arange(n_time) * np.timedelta64(31, "D") + np.datetime64("2015-01-16", "ns")
    return xr.DataArray(
        field,
        dims=("time", "depth", "lat", "lon"),
        coords={"time": times, "depth": ("depth", DEPTH, {"units": "m"}), "lat": lat, "lon": lon},
        attrs={"units": units},
    )


def test_time_steps_are_sampled_independently_of_each_other():
    plan = SamplingPlan(fraction=0.1, seed=3)
    full = sample_profiles(truth(3), plan)
    last = sample_profiles(truth(3).isel(time=[2]), plan)
    sel = full.time.values == truth(3).time.values[2]
    np.testing.assert_array_equal(full.lat.values[sel], last.lat.values)
    np.testing.assert_array_equal(full.thetao.values[sel], last.thetao.values)
    again = sample_profiles(truth(3), plan)
    np.testing.assert_array_equal(full.thetao.values, again.thetao.values)
    other = sample_profiles(truth(3), SamplingPlan(fraction=0.1, seed=4))
    assert not np.array_equal(full.lat.values, other.lat.values)


@pytest.mark.parametrize("cluster", [False, True])
def test_no_land_is_sampled_and_levels_respect_bottom_and_max_depth(cluster):
    t = truth(2)
    plan = SamplingPlan(fraction=0.05, cluster=cluster, seed=1)
    obs = sample_profiles(t, plan)
    n_ocean = int(np.isfinite(t.isel(time=0, depth=0)).sum())
    assert obs.sizes["profile"] == 2 * round(0.05 * n_ocean)
    iy, ix, inside = locate_cells(obs.lat.values, obs.lon.values, t.lat.values, t.lon.values)
    assert inside.all() and (ix >= 6).all()  # never on the continent
    assert np.nanmax(obs.depth.values) <= plan.max_depth
    shelf = (iy == 5) & (ix >= 20) & (ix < 30)
    assert np.all(np.isnan(obs.depth.values[shelf]) | (obs.depth.values[shelf] <= 500))
    assert obs.thetao_error.attrs["units"] == "degC"
    np.testing.assert_allclose(obs.thetao_error.values[np.isfinite(obs.thetao.values)], 0.01)
    t_ = tally(obs)
    assert t_["profiles_read"] == t_["profiles_used"] == obs.sizes["profile"]


def test_a_truth_stored_deepest_level_first_is_sampled_the_same():
    """Land is judged at the shallowest level whatever the order of the depth axis: a truth
    stored bottom first gives the same profiles, shelf columns included."""
    plan = SamplingPlan(fraction=0.3, seed=2)
    t = truth(1)
    a = sample_profiles(t, plan)
    b = sample_profiles(t.isel(depth=slice(None, None, -1)), plan)
    assert a.sizes["profile"] == b.sizes["profile"] > 0
    for name in ("lat", "lon", "depth", "thetao"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_noise_thinning_and_clustering():
    t = truth(1)
    obs = sample_profiles(t, SamplingPlan(fraction=0.5, noise_sd=0.05, seed=2))
    exact = 4 + 20 * np.exp(-obs.depth.values / 500)
    resid = (obs.thetao.values - exact)[np.isfinite(obs.thetao.values)]
    assert 0.03 < resid.std() < 0.07
    kept = np.isfinite(obs.thetao.values).mean(axis=0)
    assert kept[0] == 1.0 and kept[obs.depth.values[0].tolist().index(2000.0)] < 0.6
    spread = sample_profiles(t, SamplingPlan(fraction=0.05, seed=2))
    clustered = sample_profiles(t, SamplingPlan(fraction=0.05, seed=2, cluster=True))

    def mean_nearest(ds):
        la, lo = np.deg2rad(ds.lat.values), np.deg2rad(ds.lon.values)
        d = np.hypot(la[:, None] - la, (lo[:, None] - lo) * np.cos(la))
        np.fill_diagonal(d, np.inf)
        return d.min(axis=1).mean()

    assert mean_nearest(clustered) < mean_nearest(spread)


def test_positions_stay_in_their_cell_and_kelvin_truth_is_converted():
    t = truth(1, units="K") + 273.15
    t.attrs["units"] = "K"
    obs = sample_profiles(t, SamplingPlan(fraction=0.2, seed=5))
    assert abs(np.nanmax(obs.thetao.values) - (4 + 20 * np.exp(-5 / 500))) < 0.1
    centred = sample_profiles(t, SamplingPlan(fraction=0.2, seed=5, jitter=False))
    assert np.isin(centred.lat.values, t.lat.values).all()
    with pytest.raises(UnitsError):
        sample_profiles(truth(1, units=None), SamplingPlan())


def test_split_by_profile_is_deterministic_and_order_free():
    obs = sample_profiles(truth(2), SamplingPlan(fraction=0.1, seed=0))
    used, held = split_profiles(obs, withheld_fraction=0.2, seed=7)
    n = obs.sizes["profile"]
    assert (
        held.sizes["profile"] == round(0.2 * n)
        and used.sizes["profile"] + held.sizes["profile"] == n
    )
    t = tally(used)
    assert t["rejected_withheld"] == held.sizes["profile"]
    assert t["profiles_read"] == t["profiles_used"] + t["rejected_withheld"]
    shuffled = obs.isel(profile=np.random.default_rng(1).permutation(n))
    _, held2 = split_profiles(shuffled, withheld_fraction=0.2, seed=7)
    assert sorted(held.lat.values.tolist()) == sorted(held2.lat.values.tolist())
    _, held3 = split_profiles(obs, withheld_fraction=0.2, seed=8)
    assert sorted(held.lat.values.tolist()) != sorted(held3.lat.values.tolist())


def test_plan_and_truth_are_checked():
    with pytest.raises(InputError):
        SamplingPlan(fraction=1.5)
    with pytest.raises(InputError, match="dims"):
        sample_profiles(truth(1).rename(lat="y"), SamplingPlan())
