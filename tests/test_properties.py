"""Property-based tests: random layouts, units, axis orders and values through the readers and
``reconstruct``. Invariants: every profile is used or rejected by a reason, the order of the
profiles and of the target's axes changes nothing, output stays in the range of sea water, and
anything raised is an xdepthdif error. Derandomized, so CI sees the same examples every run."""

import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import truth_field
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import xdepthdif  # noqa: F401
from xdepthdif.errors import XDepthDifError, XDepthDifWarning
from xdepthdif.obs import tally, validate_profiles

settings.register_profile(
    "xdepthdif",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROPS = settings.get_profile("xdepthdif")
TIME = np.datetime64("2020-01-15", "ns")
LEVELS = np.array([5.0, 100.0, 500.0])


def adds_up(counts: dict) -> bool:
    rejected = sum(v for k, v in counts.items() if "rejected_" in k and "levels" not in k)
    return counts["profiles_read"] == counts["profiles_used"] + rejected


@st.composite
def profile_sets(draw, units=True):
    """Profiles off West Africa (some may fall on land), in random units and level order."""
    n = draw(st.integers(3, 8))
    nlev = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-9.5, 9.5, n)
    lon = rng.uniform(-29.5, -2.5, n)
    depth = np.sort(rng.uniform(1.0, 800.0, (n, nlev)), axis=1)
    theta = truth_field(lat[:, None], lon[:, None], depth)
    theta += draw(st.floats(-1.0, 1.0)) * rng.standard_normal(theta.shape)
    if draw(st.booleans()):  # levels in any order within a profile
        order = rng.permuted(np.tile(np.arange(nlev), (n, 1)), axis=1)
        depth, theta = np.take_along_axis(depth, order, 1), np.take_along_axis(theta, order, 1)
    t_units, d_units = "degC", "m"
    if units:
        t_units = draw(st.sampled_from(["degC", "K", "degF"]))
        d_units = draw(st.sampled_from(["m", "cm", "dbar"]))
    theta = {"K": theta + 273.15, "degF": theta * 9 / 5 + 32}.get(t_units, theta)
    depth = depth * 100 if d_units == "cm" else depth
    if draw(st.booleans()):
        lon = np.mod(lon, 360.0)
    return xr.Dataset(
        {"thetao": (("profile", "level"), theta, {"units": t_units})},
        coords={
            "time": ("profile", np.full(n, TIME) + rng.integers(-5, 5, n).astype("m8[D]")),
            "lat": ("profile", lat),
            "lon": ("profile", lon),
            "depth": (("profile", "level"), depth, {"units": d_units, "positive": "down"}),
        },
    )


def make_target(lon_360: bool, reverse_lat: bool, reverse_lon: bool, order: tuple) -> xr.Dataset:
    lat = np.arange(-9.0, 10.0, 3.0)
    lon = np.arange(-29.0, -1.0, 4.0)
    sea = np.ones((lat.size, lon.size), np.int8)
    sea[0, 0] = 0
    ds = xr.Dataset(
        {"sea_mask": (("lat", "lon"), sea, {"standard_name": "sea_binary_mask"})},
        coords={
            "time": ("time", [TIME]),
            "depth": ("depth", LEVELS, {"units": "m", "positive": "down"}),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    if lon_360:
        ds = ds.assign_coords(lon=np.mod(ds.lon, 360.0).assign_attrs(units="degrees_east"))
    if reverse_lat:
        ds = ds.isel(lat=slice(None, None, -1))
    if reverse_lon:
        ds = ds.isel(lon=slice(None, None, -1))
    return ds.transpose(*order)


def analyse(target, obs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XDepthDifWarning)
        return target.depthdif.reconstruct(obs=obs, fit_steps=1).compute(scheduler="sync")


def canonical(result):
    """The analysis with lon in -180..180, axes sorted and in (time, depth, lat, lon) order."""
    out = result.thetao.assign_coords(lon=(np.mod(result.lon + 180.0, 360.0) - 180.0))
    return out.sortby(["lat", "lon"]).transpose("time", "depth", "lat", "lon")


@PROPS
@given(obs=profile_sets())
def test_readers_count_every_profile_or_raise_a_typed_error(obs):
    try:
        out = validate_profiles(obs)
    except Exception as err:  # only our own, typed errors
        assert isinstance(err, XDepthDifError), repr(err)
        event(f"refused: {type(err).__name__}")
        assert obs.depth.attrs["units"] == "dbar"  # the one refusal this strategy provokes
        return
    counts = tally(out)
    assert counts["profiles_read"] == obs.sizes["profile"] and adds_up(counts)
    assert np.nanmin(out.thetao) >= -2.5 and np.nanmax(out.thetao) <= 40.0
    assert np.nanmin(out.depth) >= 0.0


@PROPS
@given(obs=profile_sets(units=False), data=st.data())
def test_reconstruct_counts_profiles_and_ignores_their_order(obs, data):
    target = make_target(False, False, False, ("time", "depth", "lat", "lon"))
    try:
        first = analyse(target, obs)
    except Exception as err:
        assert isinstance(err, XDepthDifError), repr(err)
        event(f"refused: {type(err).__name__}")
        return
    event("analysed")
    assert adds_up({k: v for k, v in first.attrs.items() if k.startswith("profiles_")})
    perm = data.draw(st.permutations(range(obs.sizes["profile"])))
    second = analyse(target, obs.isel(profile=list(perm)))
    np.testing.assert_allclose(second.thetao.values, first.thetao.values, rtol=0, atol=1e-9)
    finite = first.thetao.values[np.isfinite(first.thetao.values)]
    assert finite.size and finite.min() > -3.0 and finite.max() < 40.0


@PROPS
@given(
    obs=profile_sets(units=False),
    lon_360=st.booleans(),
    reverse_lat=st.booleans(),
    reverse_lon=st.booleans(),
    order=st.permutations(["time", "depth", "lat", "lon"]),
)
def test_target_layout_changes_nothing(obs, lon_360, reverse_lat, reverse_lon, order):
    plain = make_target(False, False, False, ("time", "depth", "lat", "lon"))
    other = make_target(lon_360, reverse_lat, reverse_lon, tuple(order))
    try:
        a = analyse(plain, obs)
    except XDepthDifError:
        event("refused")
        with pytest.raises(XDepthDifError):
            analyse(other, obs)
        return
    b = analyse(other, obs)
    assert a.attrs["profiles_used"] == b.attrs["profiles_used"]
    np.testing.assert_allclose(canonical(b).values, canonical(a).values, rtol=0, atol=1e-6)
