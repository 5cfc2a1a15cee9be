"""Monthly climatologies: months of days, interpolation in time and space."""

import numpy as np
import pandas as pd
import pytest

from xdepthdif.prior.climatology import climatology_at, month_of, month_weights
from xdepthdif.timing import day_of_year


@pytest.mark.parametrize("year", [2020, 2021])
def test_month_of_matches_the_calendar_for_monthly_data(year):
    """Monthly fields are stamped mid-month: those days always fall in their month (months
    of 365.25 / 12 days are off by up to two days near month ends)."""
    for day in (10, 15, 20):
        days = pd.DatetimeIndex([pd.Timestamp(year, m, day) for m in range(1, 13)])
        assert (month_of(day_of_year(days.values)) == np.arange(12)).all()


@pytest.mark.parametrize("doy", [1.0, 16.21875, 100.0, 200.5, 365.9])
def test_month_weights_interpolate_between_neighbouring_centres(doy):
    (m0, m1), (w0, w1) = month_weights(doy)
    assert m1 == (m0 + 1) % 12 and w0 + w1 == pytest.approx(1.0) and 0 <= w1 < 1
    centre = (m0 + 0.5) * 365.25 / 12 + 1
    distance = (doy - centre) % 365.25
    assert w1 == pytest.approx(distance / (365.25 / 12))


def test_climatology_at_regrids_bilinearly_and_fills_land():
    lat, lon = np.arange(-40.0, 41.0, 10.0), np.arange(0.0, 360.0, 10.0)
    field = np.broadcast_to(lat[:, None] * 0.1 + 20.0, (lat.size, lon.size)).copy()
    clim = np.broadcast_to(field, (12, 2, lat.size, lon.size)).copy()
    clim[:, :, 4, 5] = np.nan  # a land cell
    same = climatology_at(clim, lat, lon, 100.0, lat, lon)
    assert same[0, 4, 5] == pytest.approx(20.0)  # nearest sea value (lat 0)
    new_lat, new_lon = np.array([-35.0, 2.5, 33.0]), np.array([355.0, 5.0, 182.0])
    other = climatology_at(clim, lat, lon, 100.0, new_lat, new_lon)
    expected = new_lat[:, None] * 0.1 + 20.0
    np.testing.assert_allclose(other[1], np.broadcast_to(expected, (3, 3)), atol=1e-12)


def test_the_atlas_is_read_safely_by_many_threads_at_once():
    """The threads of a dask worker all ask for the climatology when its first tasks start;
    HDF5 is not thread-safe (this crashed the process before the read was locked)."""
    from concurrent.futures import ThreadPoolExecutor

    from xdepthdif.sources import atlas

    for _ in range(3):
        atlas._read.cache_clear()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: atlas.read_atlas(), range(16)))
        assert all(r is results[0] for r in results)  # read once, shared


@pytest.mark.parametrize("doy", [1.0, 200.5])
def test_the_shipped_climatology_has_a_value_everywhere_even_below_its_deepest_level(doy):
    """Inland, under ice shelves and below 5500 m: a first guess on any grid has no holes, so
    the OI of any target has a value on all of its sea (the downscaled members rely on it)."""
    from xdepthdif.background import ClimatologySpec

    spec = ClimatologySpec.shipped()
    depth = np.array([0.0, 1000.0, 5500.0, 6500.0, 10900.0])
    lat, lon = np.arange(-89.0, 90.0, 2.0), np.arange(-179.0, 180.0, 2.0)
    bg = spec.on_grid(doy, depth, lat, lon)
    assert bg.shape == (depth.size, lat.size, lon.size) and np.isfinite(bg).all()
    assert bg.min() > -2.5 and bg.max() < 35  # the range of sea water


def test_climatology_takes_any_datetime_like_and_refuses_what_is_not_a_date():
    import datetime

    from xdepthdif import climatology
    from xdepthdif.errors import InputError

    axes = {"depth": [5.0], "lat": [0.5], "lon": [200.5]}
    ref = climatology(time=np.array(["2020-07-15"], "datetime64[ns]"), **axes).values
    for time in ([datetime.datetime(2020, 7, 15)], [pd.Timestamp("2020-07-15")], ["2020-07-15"]):
        np.testing.assert_array_equal(climatology(time=time, **axes).values, ref)
    with pytest.raises(InputError, match="'mid-July' that are not dates"):
        climatology(time=["mid-July"], **axes)


@pytest.mark.parametrize(
    ("axes", "match"),
    [
        (
            {"depth": [5.0], "lat": [95.0], "lon": [0.0]},
            r"lat must be degrees within ±90; got \[95.0\]",
        ),
        ({"depth": [-5.0], "lat": [5.0], "lon": [0.0]}, "depth must be m below the surface"),
        ({"depth": [5.0], "lat": [5.0], "lon": [np.nan]}, "lon must be degrees"),
    ],
)
def test_climatology_refuses_axes_off_the_planet(axes, match):
    from xdepthdif import climatology
    from xdepthdif.errors import GridError

    with pytest.raises(GridError, match=match):
        climatology(time=["2020-01-15"], **axes)


def test_a_360_day_calendar_keeps_the_seasonal_phase():
    """A 360-day model year's days map onto a 365.25-day year at the same fraction of it:
    mid-months within 2.5 days of the same dates (the raw day of year ran up to five days
    early by December)."""
    import cftime

    model = day_of_year(np.array([cftime.Datetime360Day(2021, m, 15) for m in range(1, 13)]))
    real = day_of_year(np.array([f"2021-{m:02d}-15" for m in range(1, 13)], "datetime64[ns]"))
    assert np.abs(model - real).max() < 2.5
    last = day_of_year(np.array([cftime.Datetime360Day(2021, 12, 30)]))[0]
    assert last == pytest.approx(365.24, abs=0.01)  # the year's last day, not 26 December
