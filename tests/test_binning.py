"""Binning profiles into grid cells, whatever the longitude convention or axis order."""

import numpy as np
import pytest

from xdepthdif.grid.geo import axis_bounds
from xdepthdif.obs.binning import bin_profiles, locate_cells


@pytest.mark.parametrize(
    "grid_lon",
    [np.arange(0.5, 360.0, 1.0), np.arange(-179.5, 180.0, 1.0), np.arange(359.5, 0.0, -1.0)],
)
def test_global_grid_any_convention_or_order(grid_lon):
    lat = np.array([0.2, 0.2, 0.2, 0.2])
    lon = np.array([0.3, 359.7, -0.3, 180.0])
    _, ix, inside = locate_cells(lat, lon, np.array([-0.5, 0.5]), grid_lon)
    assert inside.all()
    np.testing.assert_allclose(grid_lon[ix] % 360, [0.5, 359.5, 359.5, 180.5])


def test_regional_grid_crossing_greenwich_in_file_order():
    grid_lon = np.array([0.5, 325.5, 330.5, 335.5, 340.5, 345.5, 350.5, 355.5])  # as stored
    lon = np.array([2.9, -2.0, 324.0, 3.1, 322.9, 180.0])
    _, ix, inside = locate_cells(np.zeros(6), lon, np.array([-1.0, 1.0]), grid_lon)
    np.testing.assert_array_equal(inside, [True, True, True, False, False, False])
    np.testing.assert_array_equal(grid_lon[ix[inside]], [0.5, 0.5, 325.5])


def test_descending_latitude_and_the_edges():
    grid_lat = np.array([10.0, 5.0, 0.0])
    iy, _, inside = locate_cells(
        np.array([11.0, 7.6, 7.4, -2.4, -2.6, 12.6]), np.zeros(6), grid_lat, np.array([0.0])
    )
    np.testing.assert_array_equal(inside, [True, True, True, True, False, False])
    np.testing.assert_array_equal(grid_lat[iy[inside]], [10.0, 10.0, 5.0, 0.0])


def test_counts_means_spread_and_error_variance_per_level():
    values = np.array([[10.0, 1.0], [14.0, np.nan], [20.0, 3.0], [99.0, 99.0]])
    errors = np.array([[0.1], [0.3], [0.2], [0.2]])
    b = bin_profiles(
        lat=np.array([0.1, -0.1, 0.1, 40.0]),
        lon=np.array([0.1, 0.2, 2.1, 0.0]),
        values=values,
        grid_lat=np.array([0.0]),
        grid_lon=np.array([0.0, 2.0]),
        errors=errors,
    )
    np.testing.assert_array_equal(b.inside, [True, True, True, False])
    np.testing.assert_array_equal(b.count[:, 0, :], [[2, 1], [1, 1]])
    np.testing.assert_allclose(b.mean[:, 0, :], [[12.0, 20.0], [1.0, 3.0]])
    np.testing.assert_allclose(b.spread[:, 0, :], [[2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(b.err_var[0, 0, 0], (0.01 + 0.09) / 2)


def test_bounds_follow_each_axis_convention():
    np.testing.assert_allclose(axis_bounds(np.array([-0.5, 0.5]), "lon"), [[-1, 0], [0, 1]])
    np.testing.assert_allclose(axis_bounds(np.array([359.5, 0.5]), "lon"), [[359, 360], [0, 1]])
    np.testing.assert_allclose(axis_bounds(np.array([5.0, 15.0, 30.0]), "depth")[0], [0, 10])
    np.testing.assert_allclose(axis_bounds(np.array([89.5, 88.5]), "lat")[0], [89, 90])
