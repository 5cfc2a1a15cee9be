"""The diffusion method end to end with a tiny untrained prior: laziness, seeds, members,
level checks, graph size and guidance."""

import dataclasses
import pickle
from pathlib import Path

import dask
import numpy as np
import pytest
import torch
import xarray as xr
from conftest import DEPTHS, CountingScheduler, make_profiles, make_target

import xdepthdif
from xdepthdif.analysis.diffusion import DiffusionConfig, ModelLevelsError, diffusion_analysis
from xdepthdif.analysis.native import interpolate_levels, native_grid
from xdepthdif.core.network import EDMDenoiser, UNet, UNetConfig
from xdepthdif.errors import EmptyTimeStepWarning, GridError
from xdepthdif.grid.axes import native_axes
from xdepthdif.grid.fill import fill_from_nearest
from xdepthdif.grid.rectilinear import Regridder
from xdepthdif.prior.climatology import month_weights
from xdepthdif.prior.model import ModelCard, clear_cache, load_state_dict, save_checkpoint, verify
from xdepthdif.progress import reporting
from xdepthdif.reconstruct import METHODS

MEAN = [25.0, 22.0, 15.0, 8.0, 5.0, 4.0]
STD = [2.0, 2.0, 3.0, 2.0, 1.0, 0.5]


def make_prior(path_stem, levels=DEPTHS, base_channels=8, seed=0, out_scale=0.05):
    """Save a tiny untrained EDM UNet prior; return the weights path.

    The output convolution is scaled by ``out_scale``: the denoiser is then close to the exact
    denoiser of a unit Gaussian (``F = 0``), a well-behaved prior for guidance, yet not exactly
    it, so the network's weights matter."""
    n = len(levels)
    kwargs = {"levels": n, "base_channels": base_channels, "channel_mult": [1, 2], "cond_dim": 16}
    torch.manual_seed(seed)
    config = UNetConfig(**{**kwargs, "channel_mult": (1, 2)})
    denoiser = EDMDenoiser(UNet(config))
    with torch.no_grad():
        for p in denoiser.net.conv_out.parameters():
            p.mul_(out_scale)
    card = ModelCard(
        {"class": "UNet", "kwargs": kwargs},
        levels=tuple(float(v) for v in levels),
        native_resolution_deg=2.0,
        normalisation={"mean": MEAN[:n], "std": STD[:n]},
        training={"data": "untrained", "command": "test", "steps": 0, "seed": seed, "date": "-"},
        algorithm_version="1",
    )
    return save_checkpoint(path_stem, denoiser.state_dict(), card)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    return make_prior(tmp_path_factory.mktemp("prior") / "prior")


@pytest.fixture(scope="module")
def obs():
    return make_profiles(n=40, seed=3)


def run(target, obs, prior, **kw):
    options = {"model": prior, "members": 3, "steps": 3} | kw
    return target.depthdif.reconstruct(obs=obs, method="diffusion", **options)


def test_diffusion_is_registered_and_configured():
    assert METHODS["diffusion"] is DiffusionConfig
    assert DiffusionConfig().nfe <= 20
    with pytest.raises(ValueError, match="members"):
        DiffusionConfig(members=1)


def test_lazy_finite_on_ocean_nan_on_land_with_spread(target, obs, prior):
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        result = run(target, obs, prior)
        assert counter.calls == 0
        assert result.thetao.chunks[0] == (1, 1, 1)
        values = result.compute()
    assert counter.calls == 1
    ocean = target.sea_mask.values.astype(bool)
    for name in ("thetao", "thetao_sd"):
        assert np.isfinite(values[name].values[:, :, ocean]).all()
        assert np.isnan(values[name].values[:, :, ~ocean]).all()
    assert (values.thetao_sd.values[:, :, ocean] > 0).all()
    assert values.attrs["diffusion_members"] == 3
    assert len(values.attrs["diffusion_sha256"]) == 64
    # the checkpoint by its name, never by a path on this machine, in any attribute
    assert values.attrs["diffusion_model"] == "prior"
    folder = str(Path(prior).parent)
    assert not [k for k, v in values.attrs.items() if folder in str(v)]
    with pytest.raises(xdepthdif.errors.CheckpointError, match="names no checkpoint"):
        run(target, obs, "")
    assert "realization" not in values.dims


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
def test_same_seed_same_answer_whatever_the_time_steps_computed_together(obs, prior):
    full = run(make_target(), obs, prior, seed=7).compute()
    again = run(make_target(), obs, prior, seed=7).compute()
    np.testing.assert_array_equal(full.thetao.values, again.thetao.values)
    for i, t in enumerate(full.time.values):
        alone = run(make_target(times=(str(t)[:10],)), obs, prior, seed=7).compute()
        np.testing.assert_allclose(alone.thetao.values[0], full.thetao.values[i], rtol=1e-6)
    other = run(make_target(), obs, prior, seed=8).compute()
    assert np.nanmax(np.abs(other.thetao.values - full.thetao.values)) > 1e-3


def test_keep_members_adds_a_realization_dimension(target, obs, prior):
    result = run(target, obs, prior, keep_members=True).compute()
    assert result.sizes["realization"] == 3
    members = result.thetao_members
    xr_mean = members.mean("realization")
    np.testing.assert_allclose(xr_mean.values, result.thetao.values, rtol=1e-12)
    np.testing.assert_allclose(
        members.std("realization", ddof=1).values, result.thetao_sd.values, rtol=1e-12
    )


def test_keep_members_is_refused_for_oi(target, obs):
    with pytest.raises(ValueError, match="keep_members"):
        target.depthdif.reconstruct(obs=obs, method="oi", keep_members=True)


def test_target_deeper_than_the_model_is_a_typed_error(tmp_path, target, obs):
    shallow = make_prior(tmp_path / "shallow", levels=(5.0, 50.0, 150.0, 400.0))
    with pytest.raises(ModelLevelsError, match="deepest level") as err:
        run(target, obs, shallow)
    assert isinstance(err.value, GridError)
    assert "1000 m" in str(err.value) and "slice(None, 400)" in str(err.value)


def test_other_target_levels_are_the_model_levels_interpolated(obs, prior):
    """The ensemble is drawn on the model's levels; the target's are interpolated in depth."""
    on_model = run(make_target(), obs, prior, keep_members=True).compute()
    levels = np.array([0.0, 5.0, 100.0, 700.0, 1000.0])
    other = run(make_target(depth=levels), obs, prior, keep_members=True).compute()
    expected = interpolate_levels(on_model.thetao_members.values, DEPTHS, levels)
    np.testing.assert_allclose(other.thetao_members.values, expected, rtol=1e-12)
    np.testing.assert_allclose(other.thetao.values[:, 1], on_model.thetao.values[:, 0])


def test_members_are_kept_in_sea_water_and_the_ensemble_is_of_the_clipped_members(obs, prior):
    """This untrained prior draws water below freezing; by default the members come out
    floored where they are drawn, with a warning that counts them, and the mean and spread are
    theirs; ``clip=False`` gives the network's own members."""
    from xdepthdif.analysis.oi import freezing_point
    from xdepthdif.errors import ImplausibleOutputWarning

    with pytest.warns(
        ImplausibleOutputWarning, match=r"Of \d+ ensemble member values, \d+ lay"
    ) as caught:
        res = run(make_target(), obs, prior, keep_members=True).compute()
    raw = run(make_target(), obs, prior, keep_members=True, clip=False).compute()
    floor = freezing_point(DEPTHS)[None, None, :, None, None]
    assert (raw.thetao_members.values < floor).any()
    clipping = [w.message for w in caught if getattr(w.message, "clipped", False)]
    # the counts of the warnings (one per time step that had any) add up to the members
    # set to the floor; each counts the member values of one time step
    assert sum(w.below for w in clipping) == int((raw.thetao_members.values < floor).sum())
    per_step = np.isfinite(raw.thetao_members.values).sum(axis=(0, 2, 3, 4))
    assert {w.values for w in clipping} == {int(per_step[0])} == set(per_step.tolist())
    np.testing.assert_array_equal(
        res.thetao_members.values, np.where(raw.thetao_members.values < floor, floor,
                                            raw.thetao_members.values)
    )  # fmt: skip
    members = res.thetao_members.values  # (realization, time, depth, lat, lon)
    np.testing.assert_allclose(res.thetao.values, members.mean(axis=0))
    np.testing.assert_allclose(res.thetao_sd.values, members.std(axis=0, ddof=1))
    with pytest.raises(ValueError, match="clip must be True or False"):
        run(make_target(), obs, prior, clip="no")
    with pytest.raises(ValueError, match="downscale must be True or False"):
        run(make_target(), obs, prior, downscale=1)


@pytest.mark.filterwarnings("ignore::xdepthdif.errors.RejectedDataWarning")
@pytest.mark.parametrize("resolution", [1.0, 5.0])
def test_targets_finer_or_coarser_than_the_model_are_regridded(obs, prior, resolution):
    """The model (2°) runs on its native grid over the target's region; the members are then
    regridded: bilinear onto a finer target, conservative onto a coarser one."""
    half = resolution / 2
    lat = np.arange(-11 + half, 11, resolution)
    lon = np.arange(-31 + half, -1, resolution)
    nlat, nlon = native_axes(lat, lon, 2.0)
    native = run(make_target(lat=nlat, lon=nlon, mask=False), obs, prior, keep_members=True)
    native = native.compute()
    result = run(make_target(lat=lat, lon=lon, mask=False), obs, prior, keep_members=True)
    result = result.compute()
    regrid = (Regridder.bilinear if resolution < 2 else Regridder.conservative)(
        native.lat.values, native.lon.values, lat, lon
    )
    # cells beyond the outermost native centres take the nearest native value
    expected = fill_from_nearest(
        regrid(native.thetao_members.values), np.ones((lat.size, lon.size), bool), lat, lon
    )
    np.testing.assert_allclose(result.thetao_members.values, expected, rtol=1e-10)
    assert np.isfinite(result.thetao.values).all()
    masked = run(make_target(lat=lat, lon=lon), obs, prior).compute().thetao.values
    sea = make_target(lat=lat, lon=lon).sea_mask.values.astype(bool)
    assert np.isfinite(masked[:, :, sea]).all() and np.isnan(masked[:, :, ~sea]).all()


@pytest.mark.parametrize("cells", [3, 5], ids=["narrower than a model cell", "2.5 model cells"])
def test_a_small_fine_target_is_analysed_and_its_profiles_used(prior, cells):
    """A 0.5° all-sea target narrower than two of the model's 2° cells: the native grid has at
    least two cells a side (their edges are needed to carry the sea over), and its edge cells,
    mostly outside the target, are sea where the part inside is. Warmer profiles warm the
    analysis where they are (no native cell was land: all NaN, profiles ignored)."""
    lat = lon = -3.0 + 0.5 * np.arange(cells)
    target = make_target(lat=lat, lon=lon, times=("2020-01-15",), mask=False)
    base = make_profiles(n=6, seed=2, times=("2020-01-15",), lat_range=(-3.2, -2.8),
                         lon_range=(-3.2, -2.8))  # fmt: skip
    cold = run(target, base, prior).compute()
    warm = run(target, base.assign(thetao=base.thetao + 5.0), prior).compute()
    assert np.isfinite(cold.thetao.values).all() and cold.attrs["profiles_used"] == 6
    assert float(warm.thetao[0, 0, 0, 0] - cold.thetao[0, 0, 0, 0]) > 2.0


@pytest.mark.parametrize(
    "east",
    [np.arange(325.5, 361.0, 5.0), np.arange(170.5, 191.0, 5.0)],
    ids=["across 0°", "across the dateline"],
)
def test_a_region_across_a_seam_gives_one_analysis_in_any_order(prior, east):
    """A region crossing 0° or the dateline, its longitudes given eastward in -180..180, in
    0..360 with the last cell first (the order of the South Atlantic cube's file) or shuffled:
    the model runs on one native window as wide as the region, and the analyses are the same
    cell for cell."""
    lat = np.arange(-14.0, -1.0, 4.0)
    width = east.size * 5.0
    times = ("2020-01-15",)
    lon_range = (east[0] - 2.5, east[0] - 2.5 + width)
    obs = make_profiles(n=12, seed=4, times=times, lat_range=(-15, -1), lon_range=lon_range)
    obs = obs.assign_coords(lon=np.mod(obs.lon + 180.0, 360.0) - 180.0)
    rolled = np.roll(np.arange(east.size), 1)
    shuffled = np.random.default_rng(0).permutation(east.size)
    orders = [
        (np.mod(east + 180.0, 360.0) - 180.0, np.arange(east.size)),
        (np.mod(east[rolled], 360.0), rolled),
        (np.mod(east[shuffled], 360.0), shuffled),
    ]
    results = []
    for lon, perm in orders:
        nlat, nlon = native_grid(lat, lon, 2.0)
        assert nlon.size == np.ceil(width / 2.0) and nlat.size == 8  # the region, not a strip
        target = make_target(lat=lat, lon=lon, times=times, mask=False)
        res = run(target, obs, prior, keep_members=True).compute()
        results.append(res.thetao_members.values[..., np.argsort(perm)])
    first, *others = results
    assert np.isfinite(first).all()
    for other in others:
        np.testing.assert_allclose(other, first, rtol=1e-6)  # float32 network


def test_a_target_on_the_model_grid_gives_one_analysis_in_any_axis_order(prior, obs):
    """A target on the model's own grid (no regridding), its latitudes flipped by ``isel`` (a
    view with a negative stride, once refused by torch) and its longitudes shuffled and in
    0..360: the members are drawn in one order, so they are the same cell for cell."""
    times = ("2020-01-15",)
    lat, lon = np.arange(-10.0, 11.0, 2.0), np.arange(-30.0, -1.0, 2.0)
    target = make_target(lat=lat, lon=lon, times=times)
    ref = run(target, obs, prior, keep_members=True).compute()
    shuffled = np.random.default_rng(1).permutation(lon.size)
    other = target.isel(lat=slice(None, None, -1), lon=shuffled)
    other = other.assign_coords(lon=np.mod(other.lon, 360.0))
    res = run(other, obs, prior, keep_members=True).compute()
    back = res.isel(lat=slice(None, None, -1), lon=np.argsort(shuffled))
    assert np.isfinite(ref.thetao_members.values).any()
    for name in ("thetao", "thetao_sd", "thetao_members", "obs_count"):
        np.testing.assert_array_equal(back[name].values, ref[name].values)


def test_graph_carries_path_and_sha_not_weights(tmp_path, target, obs):
    sizes, weights = [], []
    for base in (8, 32):
        path = make_prior(tmp_path / f"m{base:02d}", base_channels=base)
        weights.append(path.stat().st_size)
        graph = dict(run(target, obs, path).__dask_graph__())
        sizes.append(len(pickle.dumps(graph)))
    assert weights[1] > 5 * weights[0]
    assert abs(sizes[1] - sizes[0]) < 200
    assert sizes[1] < weights[1] / 4


def test_guidance_pulls_the_analysis_toward_observations(target, obs, prior):
    guided = run(target, obs, prior, obs_error=0.05, steps=8).compute()
    unguided = run(target, obs, prior, obs_error=1e4, steps=8).compute()
    from xdepthdif.obs import bin_profiles, interpolate_to_levels

    sub = obs.where(obs.time.dt.month == 1, drop=True)
    values = interpolate_to_levels(sub.depth.values, sub.thetao.values, DEPTHS)
    binned = bin_profiles(
        sub.lat.values, sub.lon.values, values, target.lat.values, target.lon.values
    )
    seen = (binned.count > 0) & target.sea_mask.values.astype(bool)
    err_guided = np.abs(guided.thetao.values[0] - binned.mean)[seen].mean()
    err_prior = np.abs(unguided.thetao.values[0] - binned.mean)[seen].mean()
    assert err_guided < 0.2 * err_prior


def test_numpy_core_direct_call(prior):
    """diffusion_analysis is numpy in, numpy out, and loads the model once per process."""
    from xdepthdif.prior.model import cache_info, verify

    nz, ny, nx = len(DEPTHS), 6, 9
    obs_mean = np.full((nz, ny, nx), np.nan)
    obs_mean[:, 2, 3] = MEAN[:nz]
    count = np.isfinite(obs_mean).astype(int)
    cfg = DiffusionConfig(model=str(prior), sha256=verify(prior).sha256, members=2, steps=3)
    args = (
        obs_mean,
        count,
        np.full_like(obs_mean, np.nan),
        np.linspace(-5, 5, ny),
        np.linspace(0, 16, nx),
        DEPTHS,
        15.0,
        None,
        cfg,
    )
    mean, sd, members = diffusion_analysis(*args, time_key=1)
    diffusion_analysis(*args, time_key=2)
    assert mean.shape == sd.shape == (nz, ny, nx) and members.shape == (2, nz, ny, nx)
    assert cache_info()["loads"] == 1


def test_threads_and_synchronous_give_identical_results(target, obs, prior):
    lazy = run(target, obs, prior)
    threaded = lazy.compute(scheduler="threads")
    synchronous = lazy.compute(scheduler="synchronous")
    np.testing.assert_array_equal(threaded.thetao.values, synchronous.thetao.values)


def test_empty_time_step_gets_prior_samples_and_says_so(target, obs, prior):
    january = obs.where(obs.time.dt.month == 1, drop=True)
    with pytest.warns(EmptyTimeStepWarning, match="unguided samples"):
        result = run(target, january, prior).compute()
    ocean = target.sea_mask.values.astype(bool)
    assert np.isfinite(result.thetao.values[1:, :, ocean]).all()
    assert (result.obs_count.values[1:] == 0).all()


def test_background_is_refused_for_diffusion(target, obs, prior):
    with pytest.raises(ValueError, match="background"):
        run(target, obs, prior, background=target.sea_mask * 1.0)


@pytest.mark.parametrize("resolution", [2.0, 1.0])
def test_surface_temperature_guides_the_top_level(obs, prior, resolution):
    """The target's SST is regridded to the model's grid and guides its top level."""
    half = resolution / 2
    lat = np.arange(-11 + half, 11, resolution)
    lon = np.arange(-31 + half, -1, resolution)
    target = make_target(lat=lat, lon=lon)
    sst = xr.DataArray(
        np.full((lat.size, lon.size), 29.0),
        dims=("lat", "lon"),
        attrs={"standard_name": "sea_surface_temperature", "units": "degC"},
    )
    plain = run(target, obs, prior, steps=8).compute()
    informed = run(target.assign(sst=sst), obs, prior, steps=8, sst_error=0.1).compute()
    sea = target.sea_mask.values.astype(bool)
    unobserved = (plain.obs_count.values[:, 0] == 0) & sea
    gap_plain = np.abs(plain.thetao.values[:, 0] - 29.0)[unobserved].mean()
    gap_informed = np.abs(informed.thetao.values[:, 0] - 29.0)[unobserved].mean()
    assert gap_informed < 0.3 * gap_plain


def test_a_stored_climatology_is_added_back_at_the_time_of_year(tmp_path):
    """A checkpoint with a monthly climatology samples anomalies about it: with the same
    network and seeds and no observation, members differ by the climatology of that day."""
    plain = make_prior(tmp_path / "plain")
    state, card = load_state_dict(plain)
    lat, lon = np.arange(-12.0, 13.0, 4.0), np.arange(-34.0, 1.0, 4.0)
    clim = np.zeros((12, len(DEPTHS), lat.size, lon.size), np.float32)
    clim += np.arange(12, dtype=np.float32)[:, None, None, None]  # month m: m °C
    clim[:, :, :, 0] = np.nan  # a column of land in the training data
    tensors = dict(state) | {
        "climatology/mean": torch.tensor(clim),
        "climatology/lat": torch.tensor(lat),
        "climatology/lon": torch.tensor(lon),
    }
    norm = dict(card.normalisation) | {"climatology": "monthly"}
    with_clim = save_checkpoint(
        tmp_path / "clim", tensors, dataclasses.replace(card, normalisation=norm)
    )
    nz, ny, nx = len(DEPTHS), 6, 9
    nothing = np.full((nz, ny, nx), np.nan)
    grid = (np.linspace(-10, 10, ny), np.linspace(-30, -2, nx), DEPTHS)
    for doy in (16.21875, 31.0, 360.0):
        out = []
        for path in (plain, with_clim):
            cfg = DiffusionConfig(model=str(path), sha256=verify(path).sha256, members=2, steps=3)
            args = (nothing, np.zeros(nothing.shape, int), nothing, *grid, doy, None, cfg, 1)
            out.append(diffusion_analysis(*args)[2])
        (m0, m1), (w0, w1) = month_weights(doy)
        np.testing.assert_allclose(out[1] - out[0], w0 * m0 + w1 * m1, atol=1e-9)


def test_a_guided_prior_relabelled_conditional_is_refused(tmp_path):
    """A card cannot call a guided prior conditional: it lacks what a conditional model needs
    (sampling conditional models: tests/test_conditional_method.py)."""
    from xdepthdif.errors import ModelCardError
    from xdepthdif.prior.model import update_card

    path = make_prior(tmp_path / "conditional")
    with pytest.raises(ModelCardError, match=r"conditional model: conditioning\.layout_version"):
        update_card(path, kind="conditional")
    assert verify(path).kind == "guided-prior"


def test_missing_torch_is_reported_before_any_work(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    target, obs = make_target(), make_profiles()
    with pytest.raises(ImportError, match=r"xdepthdif\[diffusion\]"):
        target.depthdif.reconstruct(obs=obs, method="diffusion")


def test_each_sampling_step_is_reported(obs, prior):
    seen = []
    target = make_target(times=("2020-01-15", "2020-02-15"))
    with reporting(lambda *event: seen.append(event)):
        run(target, obs, prior, steps=3).compute(scheduler="synchronous")
    assert seen == [("diffusion steps", k, 3) for k in (1, 2, 3)] * 2


def test_speed_options_are_checked_and_off_by_default():
    config = DiffusionConfig()
    assert config.precision == "float32" and config.compile is False
    with pytest.raises(ValueError, match="precision must be one of"):
        DiffusionConfig(precision="half")
    with pytest.raises(ValueError, match="compile must be True or False"):
        DiffusionConfig(compile="yes")
    # refused when the call is made, not inside a task on a worker or when the file is written
    for device in ("gpu", "cuda:x", ""):
        with pytest.raises(ValueError, match="device must be"):
            DiffusionConfig(device=device)
    assert DiffusionConfig(device="cuda:1").device == "cuda:1"
    for seed in (-1, 2**70):
        with pytest.raises(ValueError, match="seed must lie in"):
            DiffusionConfig(seed=seed)


def test_bfloat16_analysis_stays_close_to_float32(target, obs, prior):
    """precision="bfloat16" runs end to end, changes the answer a little, and says so in the
    attributes; booleans are stored as 0/1 (netCDF has no booleans)."""
    reference = run(target, obs, prior).compute()
    fast = run(target, obs, prior, precision="bfloat16").compute()
    assert fast.attrs["diffusion_precision"] == "bfloat16"
    assert fast.attrs["diffusion_compile"] == 0
    diff = np.abs(fast.thetao.values - reference.thetao.values)
    assert 0 < np.nanmax(diff) < 0.1  # °C
    assert np.nanmean(diff) < 0.02
