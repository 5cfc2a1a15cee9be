"""What reconstruct screens: profiles on land rejected and tallied, options refused when the
configuration is built, output outside the range of sea water warned about when computed, and
few-step diffusion runs that stay in that range."""

import warnings

import dask
import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

import xdepthdif  # noqa: F401
from xdepthdif.errors import ImplausibleOutputWarning, InputError, RejectedDataWarning


def _tally_adds_up(attrs):
    rejected = sum(v for k, v in attrs.items() if k.startswith("profiles_rejected_"))
    assert attrs["profiles_read"] == attrs["profiles_used"] + rejected


def test_profiles_in_the_targets_land_cells_are_rejected_and_counted():
    target = make_target()  # land in the corner lat <= -8, lon <= -26
    obs = make_profiles(n=12, seed=3, lat_range=(-10, -7.2), lon_range=(-30, -25.2))
    sea = make_profiles(n=6, seed=4, lat_range=(0, 5), lon_range=(-20, -15))
    both = xr.concat([obs, sea], dim="profile")
    with pytest.warns(RejectedDataWarning, match="12 on land"):
        result = target.depthdif.reconstruct(obs=both)
    assert result.attrs["profiles_rejected_on_land"] == 12
    assert result.attrs["profiles_used"] == 6
    _tally_adds_up(result.attrs)
    alone = target.depthdif.reconstruct(obs=sea).compute()
    xr.testing.assert_allclose(result.thetao.compute(), alone.thetao)


def test_profiles_inland_are_rejected_by_the_climatology_without_a_target_mask():
    target = make_target(lat=np.arange(10.0, 37.0, 2.0), lon=np.arange(0.0, 29.0, 2.0), mask=False)
    sahara = make_profiles(n=5, seed=1, lat_range=(18, 26), lon_range=(5, 25))
    sidra = make_profiles(n=4, seed=2, lat_range=(33, 34), lon_range=(18, 20))  # Gulf of Sidra
    with pytest.warns(RejectedDataWarning, match="5 on land"):
        result = target.depthdif.reconstruct(obs=xr.concat([sahara, sidra], dim="profile"))
    assert result.attrs["profiles_rejected_on_land"] == 5
    assert result.attrs["profiles_used"] == 4
    _tally_adds_up(result.attrs)


def test_a_lazy_land_mask_screens_the_same_profiles():
    obs = make_profiles(n=12, seed=3, lat_range=(-10, -7.2), lon_range=(-30, -25.2))
    obs = xr.concat([obs, make_profiles(n=6, seed=4, lat_range=(0, 5))], dim="profile")
    lazy = make_target(chunks={"lat": 5, "lon": 7}).depthdif.reconstruct(obs=obs)
    eager = make_target().depthdif.reconstruct(obs=obs)
    assert lazy.attrs["profiles_rejected_on_land"] == eager.attrs["profiles_rejected_on_land"]
    assert isinstance(lazy.thetao.data, dask.array.Array)
    xr.testing.assert_allclose(lazy.thetao.compute(), eager.thetao.compute())


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("diffusion", {"obs_error": float("inf")}),
        ("diffusion", {"obs_error": 0.0}),
        ("diffusion", {"sst_error": float("nan")}),
        ("diffusion", {"members": 2.5}),
        ("diffusion", {"steps": 1}),
        ("diffusion", {"steps": 2}),
        ("diffusion", {"device": ""}),
        ("oi", {"length_scale_km": 0.0}),
        ("oi", {"length_scale_km": float("nan")}),
        ("oi", {"search_radius": -1.0}),
        ("oi", {"obs_error": float("inf")}),
        ("oi", {"background_error": 0.0}),
    ],
)
def test_invalid_options_are_refused_when_the_configuration_is_built(method, options):
    target, obs = make_target(), make_profiles(n=10)
    with pytest.raises(InputError):
        target.depthdif.reconstruct(obs=obs, method=method, **options)


def test_output_outside_sea_water_is_warned_about_when_computed_not_before():
    target, obs = make_target(), make_profiles(n=20)
    hot = xr.full_like(target.sea_mask, 45.0, dtype=float).expand_dims(depth=target.depth)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lazy = target.depthdif.reconstruct(obs=obs, background=hot.assign_attrs(units="degC"))
        assert not [w for w in caught if w.category is ImplausibleOutputWarning]
    for scheduler in ("sync", "threads"):
        with pytest.warns(ImplausibleOutputWarning, match=r"Time step 2020-01-15.*above 40 °C"):
            values = lazy.compute(scheduler=scheduler)
        assert float(values.thetao.max()) == pytest.approx(45.0)  # nothing clipped


def test_plausible_output_raises_no_output_warning(target, profiles):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImplausibleOutputWarning)
        warnings.simplefilter("ignore", RejectedDataWarning)
        target.depthdif.reconstruct(obs=profiles).compute()


def test_a_targets_own_mask_decides_where_its_sea_is():
    """A model's sea where the real planet has land (the Sahara): the profiles are used."""
    lat, lon = np.arange(10.0, 37.0, 2.0), np.arange(0.0, 29.0, 2.0)
    target = make_target(lat=lat, lon=lon, mask=False)
    target["sea_mask"] = (("lat", "lon"), np.ones((lat.size, lon.size), "int8"),
                          {"standard_name": "sea_binary_mask"})  # fmt: skip
    sahara = make_profiles(n=5, seed=1, lat_range=(18, 26), lon_range=(5, 25))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RejectedDataWarning)
        result = target.depthdif.reconstruct(obs=sahara)
    assert result.attrs["profiles_rejected_on_land"] == 0
    assert result.attrs["profiles_used"] == 5


def test_ensemble_members_outside_sea_water_are_counted_level_by_level():
    from xdepthdif.screening import freezing_floor, warn_if_implausible

    depth = np.array([5.0, 1000.0])
    members = np.full((3, 2, 4, 5), 10.0)  # (member, level, lat, lon)
    members[1, 1, 0, :2] = freezing_floor(depth)[1] - 0.5  # two cold values at 1000 m
    members[2, 0, 3, 4] = 41.0
    with pytest.warns(
        ImplausibleOutputWarning, match=r"2 of 120 ensemble member values.* 1 above"
    ) as caught:
        warn_if_implausible(np.moveaxis(members, 0, 1), depth, "x", "ensemble member values")
    w = caught[0].message  # the counts, for code that tallies them
    assert (w.below, w.above, w.values, w.clipped) == (2, 1, 120, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImplausibleOutputWarning)
        members[1, 1, 0, :2] = freezing_floor(depth)[1]  # at the floor is sea water
        members[2, 0, 3, 4] = 40.0
        warn_if_implausible(np.moveaxis(members, 0, 1), depth, "x", "ensemble member values")


def test_members_outside_sea_water_are_clipped_with_counts():
    from xdepthdif.analysis.oi import freezing_point
    from xdepthdif.screening import WARMEST, clip_members, freezing_floor

    depth = np.array([5.0, 1000.0])
    rng = np.random.default_rng(0)
    members = 2.0 + rng.standard_normal((4, 2, 3, 5))  # (member, level, lat, lon)
    members[:, :, 2, 4] = np.nan  # land
    members[0, 1, 0, :3] = -3.5  # three values below freezing at 1000 m
    members[2, 0, 1, 1] = 41.5  # one above 40 °C at 5 m
    with pytest.warns(
        ImplausibleOutputWarning, match=r"Of 112 ensemble member values, 3 lay.* 1 above.*-3.50"
    ) as caught:
        clipped = clip_members(members, depth)
    w = caught[0].message
    assert (w.below, w.above, w.values, w.clipped) == (3, 1, 112, True)
    np.testing.assert_array_equal(clipped[0, 1, 0, :3], freezing_point(depth)[1])
    assert clipped[2, 0, 1, 1] == WARMEST
    untouched = np.ones(members.shape, bool)
    untouched[0, 1, 0, :3] = untouched[2, 0, 1, 1] = False
    np.testing.assert_array_equal(clipped[untouched], members[untouched])  # NaN included
    # the floor (salinity 35) lies above reconstruct's check (salinity 40): no member is left
    # for that check to warn about
    assert (freezing_point(depth) > freezing_floor(depth)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImplausibleOutputWarning)
        np.testing.assert_array_equal(clip_members(clipped, depth), clipped)
    # the same on another array library (the members of array_library="cupy" stay on the GPU)
    xp = pytest.importorskip("array_api_strict")
    with pytest.warns(ImplausibleOutputWarning, match=r"Of 112 ensemble member values, 3 lay"):
        other = clip_members(xp.asarray(members), depth, xp)
    np.testing.assert_array_equal(np.asarray(other), clipped)
