"""The training world: real planet, weather with persistence, splits, the test world's bias."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from xdepthdif.background import climatology
from xdepthdif.prior.world import WORLDS, _Waves, world_months

TIMES = pd.date_range("2011-01-15", periods=8, freq="MS")


@pytest.fixture(scope="module")
def anomalies():
    out = {}
    for split in ("train", "validation", "test"):
        world = world_months(TIMES, 5.0, split, seed=2)
        out[split] = (world, (world - climatology(world)).values)
    return out


def _band(world, values, lo, hi):
    depth = world["depth"].values
    return values[:, (depth >= lo) & (depth < hi)]


def _lag1(x):
    x = x - np.nanmean(x, axis=0)
    return float(np.nanmean(x[1:] * x[:-1]) / np.nanmean(x**2))


def test_the_world_keeps_the_real_coastline_and_sea_floor(anomalies):
    world, _ = anomalies["train"]
    clim = climatology(world)
    assert np.array_equal(np.isnan(world.values), np.isnan(clim.values))


def test_splits_are_separate_streams_and_seeds_reproduce(anomalies):
    (train, a), (_, b) = anomalies["train"], anomalies["validation"]
    assert not np.allclose(a, b, equal_nan=True)
    again = world_months(TIMES[:2], 5.0, "train", seed=2)
    np.testing.assert_array_equal(again.values, train.values[:2])


def test_anomalies_live_in_the_thermocline_and_persist_longer_at_depth(anomalies):
    world, a = anomalies["train"]
    rms = {b: float(np.sqrt(np.nanmean(_band(world, a, *b) ** 2))) for b in
           ((0, 50), (50, 300), (1000, 2000), (2000, 6000))}  # fmt: skip
    assert rms[(50, 300)] > rms[(0, 50)] > rms[(1000, 2000)] > rms[(2000, 6000)]
    assert 0.3 < rms[(50, 300)] < 2.0 and rms[(2000, 6000)] < 0.05
    upper, deep = _lag1(_band(world, a, 50, 300)), _lag1(_band(world, a, 1000, 2000))
    assert 0.3 < upper < deep < 0.95


def test_the_test_world_has_its_own_climate_and_knobs(anomalies):
    assert WORLDS["test"] != WORLDS["train"]
    world, test = anomalies["test"]
    _, train = anomalies["train"]
    bias = {k: np.sqrt(np.nanmean(np.nanmean(_band(world, v, 50, 300), axis=0) ** 2))
            for k, v in (("test", test), ("train", train))}  # fmt: skip
    assert 0.5 < bias["test"] < 2.0 and bias["test"] > 1.5 * bias["train"]


def test_anomalies_are_zonally_elongated_at_the_equator(anomalies):
    world, a = anomalies["train"]
    lat = world["lat"].values
    surface = a[:, :8]  # the top 100 m

    def neighbours(rows, axis):
        x = surface[:, :, rows]
        other = np.roll(x, 1, axis=-1) if axis == "zonal" else np.roll(x, 1, axis=-2)
        ok = np.isfinite(x) & np.isfinite(other)
        return float(np.corrcoef(x[ok], other[ok])[0, 1])

    tropics = np.abs(lat) < 8
    assert neighbours(tropics, "zonal") > neighbours(tropics, "meridional")


def test_the_training_world_is_the_one_the_shipped_models_were_trained_on():
    # values of the training world before the other splits got waves of their own
    world = world_months(pd.DatetimeIndex(["1985-03-15"]), 5.0, "train").values[0]
    assert float(np.nanmean(world)) == pytest.approx(6.853454109233445, rel=1e-10)
    assert world[5, 18, 36] == pytest.approx(26.86460537123287, rel=1e-10)
    assert world[10, 20, 40] == pytest.approx(14.272391384703367, rel=1e-10)


def _unexplained(split: str, config=None) -> float:
    """Share of the variance of a month of ``split``'s lateral-shift field that the span of 400
    months of the training world's does not hold (least squares, 5° grid)."""
    lat, lon = np.arange(-87.5, 90, 5.0), np.arange(2.5, 360, 5.0)
    train = _Waves(lat, lon, 5.0, 0, "train", WORLDS["train"]).series("shift x", range(400))
    other = _Waves(lat, lon, 5.0, 0, split, config or WORLDS[split]).series("shift x", [450])
    basis, y = train.reshape(400, -1).T, other.reshape(-1)
    fit = basis @ np.linalg.lstsq(basis, y, rcond=None)[0]
    return float(np.sum((y - fit) ** 2) / np.sum(y**2))


def test_unseen_worlds_are_not_made_of_the_training_worlds_waves():
    assert _unexplained("validation") > 0.2 and _unexplained("test") > 0.2
    # the control: another random stream on the training world's waves lies in their span
    same_waves = dataclasses.replace(WORLDS["validation"], geometry=0)
    assert _unexplained("validation", same_waves) < 1e-6


def test_a_world_that_redraws_its_waves_teaches_statistics_not_patterns():
    redrawn = dataclasses.replace(WORLDS["train"], redraw_months=12)
    times = pd.date_range("1990-10-01", periods=6, freq="MS")  # two eras: 1990 and 1991
    world = world_months(times, 5.0, "train", config=redrawn)
    later = world_months(times[3:], 5.0, "train", config=redrawn)
    assert np.array_equal(world.values[3:], later.values, equal_nan=True)
    # months of one era persist; the first month of the next starts afresh
    anomaly = (world - climatology(world)).sel(depth=slice(50, 500)).values
    corr = [
        float(np.corrcoef(*(np.nan_to_num(anomaly[i + k].ravel()) for k in (0, 1)))[0, 1])
        for i in range(5)
    ]
    assert min(corr[:2] + corr[3:]) > 0.3 and abs(corr[2]) < 0.1
    # the same size of anomalies as the world of one draw
    one_draw = world_months(times, 5.0, "train")
    ratio = np.nanstd(anomaly) / np.nanstd(
        (one_draw - climatology(one_draw)).sel(depth=slice(50, 500))
    )
    assert 0.6 < float(ratio) < 1.6
    # a month of a later era lies outside the span of an earlier era's waves
    lat, lon = np.arange(-87.5, 90, 5.0), np.arange(2.5, 360, 5.0)
    early = _Waves(lat, lon, 5.0, 0, "train", redrawn, 90).series("shift x", range(400))
    y = _Waves(lat, lon, 5.0, 0, "train", redrawn, 91).series("shift x", [0]).reshape(-1)
    basis = early.reshape(400, -1).T
    fit = basis @ np.linalg.lstsq(basis, y, rcond=None)[0]
    assert float(np.sum((y - fit) ** 2) / np.sum(y**2)) > 0.2


def test_bad_split_or_resolution_is_refused():
    with pytest.raises(ValueError, match="split"):
        world_months(TIMES[:1], 5.0, "holdout")
    with pytest.raises(ValueError, match="resolution"):
        world_months(TIMES[:1], 10.0)
