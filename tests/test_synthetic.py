"""The synthetic ocean: determinism, splits, resolution independence, structure, realism."""

import numpy as np
import pytest

from xdepthdif.evaluation.truth import atlantic_truth
from xdepthdif.prior.synthetic import en4_like_levels, synthetic_ocean


def test_levels_are_en4_like():
    z = en4_like_levels()
    assert z.size == 42 and z[0] == 5.0 and z[1] == 15.0
    assert np.all(np.diff(z) > 0) and 5000 < z[-1] < 5600


def test_same_seed_same_ocean_and_splits_never_share_draws():
    a = synthetic_ocean(["2003-05-15"], resolution=5.0, seed=3)
    b = synthetic_ocean(["2001-01-15", "2003-05-15"], resolution=5.0, seed=3)
    np.testing.assert_array_equal(a.thetao.values[0], b.thetao.values[1])
    test = synthetic_ocean(["2003-05-15"], resolution=5.0, seed=3, split="test")
    assert np.nanmax(np.abs(test.thetao.values - a.thetao.values)) > 0.5
    # The world (land, sea floor) is the same for both splits.
    np.testing.assert_array_equal(test.sea_mask.values, a.sea_mask.values)
    with pytest.raises(ValueError, match="split"):
        synthetic_ocean(["2003-05-15"], resolution=5.0, split="validation")


def test_coarser_grids_sample_the_same_ocean():
    fine = synthetic_ocean(["2002-03-15"], resolution=1.0, seed=2)
    coarse = synthetic_ocean(["2002-03-15"], resolution=3.0, seed=2)
    same = fine.thetao.sel(lat=coarse.lat, lon=coarse.lon)
    np.testing.assert_allclose(same.values, coarse.thetao.values, atol=1e-9)


def test_land_and_sea_floor_are_nan_and_match_the_mask():
    ocean = synthetic_ocean(["2002-03-15"], resolution=2.0, seed=0)
    sea = ocean.sea_mask.values.astype(bool)
    values = ocean.thetao.values[0]
    assert np.isfinite(values[sea]).all() and np.isnan(values[~sea]).all()
    land = 1 - sea[0].mean()
    assert 0.25 < land < 0.45
    assert sea[-1].sum() < 0.5 * sea[0].sum()  # the deepest level reaches fewer columns


def test_seasons_are_opposite_in_the_two_hemispheres():
    ocean = synthetic_ocean(["2002-02-15", "2002-08-15"], resolution=2.0, seed=0)
    sst = ocean.thetao.isel(depth=0)
    north = sst.sel(lat=slice(30, 50)).mean(("lat", "lon"))
    south = sst.sel(lat=slice(-50, -30)).mean(("lat", "lon"))
    assert float(north[1] - north[0]) > 2.0
    assert float(south[0] - south[1]) > 2.0


def test_eddy_variability_peaks_below_the_surface_and_decays_at_depth():
    kw = {"resolution": 2.0, "levels": en4_like_levels()}
    a = synthetic_ocean(["2002-04-15"], seed=0, **kw).thetao
    b = synthetic_ocean(["2002-04-15"], seed=1, **kw).thetao
    band = slice(-50, 50)
    sd = (a - b).sel(lat=band).std(("time", "lat", "lon")).values
    z = a.depth.values
    assert sd[(z > 50) & (z < 400)].max() > 1.5 * sd[0]
    assert sd[np.argmin(np.abs(z - 2000))] < 0.3 * sd.max()


def test_tropical_profile_resembles_the_real_atlantic_cube():
    real = atlantic_truth(1).isel(time=0)
    ocean = synthetic_ocean(["2001-01-15", "2001-07-15"], resolution=1.0, levels=real.depth.values)
    synth = ocean.thetao.sel(lat=slice(-10, -1.5)).mean(("time", "lat", "lon")).values
    observed = real.mean(("lat", "lon")).values
    upper = real.depth.values <= 2000
    rmse = np.sqrt(np.nanmean((synth - observed)[upper] ** 2))
    assert rmse < 1.5  # measured 1.16 °C over 0–2000 m
    # Warm mixed layer over a thermocline: a drop of over 15 °C in the upper 600 m, as observed.
    assert synth[0] - synth[np.argmin(np.abs(real.depth.values - 600))] > 15
