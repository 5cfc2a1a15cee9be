"""Regridding between rectilinear grids, against references computed independently here."""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from xdepthdif.errors import GridError
from xdepthdif.grid.axes import cell_edges, is_global_lon, lon_layout, native_axes
from xdepthdif.grid.fill import fill_from_nearest
from xdepthdif.grid.rectilinear import Regridder


def axis(start, stop, step):
    """Cell centres start, start + step, ... up to stop (inclusive)."""
    return start + step * np.arange(round((stop - start) / step) + 1)


def smooth(lat, lon):
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.cos(la) * np.sin(lo) + 0.5 * np.sin(2 * la) * np.cos(2 * lo) + 0.3 * la


def grid_field(fun, lat, lon):
    return fun(*np.meshgrid(lat, lon, indexing="ij"))


def areas(lat_edges, lon_edges):
    """Cell areas on the unit sphere from explicit edges (the sin formula)."""
    dsin = np.abs(np.diff(np.sin(np.deg2rad(lat_edges))))
    dlon = np.abs(np.diff(np.deg2rad(lon_edges)))
    return np.outer(dsin, dlon)


def periodic_reference(lat, lon, field, dst_lat, dst_lon):
    """Bilinear through RegularGridInterpolator, with the longitude padding done by hand."""
    lon_p = np.r_[lon[-1] - 360.0, lon, lon[0] + 360.0]
    f_p = np.concatenate([field[:, -1:], field, field[:, :1]], axis=1)
    interp = RegularGridInterpolator((lat, lon_p), f_p, method="linear")
    la, lo = np.meshgrid(np.clip(dst_lat, lat[0], lat[-1]), dst_lon, indexing="ij")
    lo = lon[0] + np.mod(lo - lon[0], 360.0)
    return interp(np.stack([la, lo], axis=-1))


def mid(edges):
    return 0.5 * (edges[1:] + edges[:-1])


SRC4_LAT, SRC4_LON = axis(-88.0, 88.0, 4.0), axis(2.0, 358.0, 4.0)


# --- axes ---------------------------------------------------------------------------------


def test_cell_edges_mirrors_and_clips():
    np.testing.assert_allclose(cell_edges(np.array([0.0, 1.0, 3.0])), [-0.5, 0.5, 2.0, 4.0])
    np.testing.assert_allclose(
        cell_edges(np.array([80.0, 85.0, 90.0]), -90, 90), [77.5, 82.5, 87.5, 90.0]
    )
    np.testing.assert_allclose(cell_edges(np.array([10.0, 5.0])), [12.5, 7.5, 2.5])


def test_is_global_lon():
    assert is_global_lon(axis(0.5, 359.5, 1.0))
    assert is_global_lon(axis(-178.75, 178.75, 2.5))
    assert is_global_lon(np.r_[axis(180.5, 359.5, 1.0), axis(0.5, 179.5, 1.0)])
    assert not is_global_lon(axis(0.5, 358.5, 1.0))
    assert not is_global_lon(np.r_[axis(0.0, 100.0, 1.0), axis(102.0, 360.0, 2.0)])
    # float32 longitudes of a global 0.05° grid (OSTIA stores them so) are still global, and
    # bilinear weights wrap across the seam
    fine = (-179.975 + 0.05 * np.arange(7200)).astype(np.float32)
    assert is_global_lon(fine)
    seam = Regridder.bilinear(np.array([-0.025, 0.025]), fine, np.array([0.0]),
                              np.array([179.99, -179.99]))  # fmt: skip
    np.testing.assert_allclose(seam(np.ones((2, fine.size))), [[1.0, 1.0]])


def test_a_single_row_or_unsorted_latitudes_are_typed_grid_errors():
    one_row = np.array([0.0])
    with pytest.raises(GridError, match=r"at least two latitudes.*bilinear"):
        Regridder.conservative(axis(-9.5, 9.5, 1.0), axis(0.5, 19.5, 1.0), one_row, axis(1, 19, 2))
    with pytest.raises(GridError, match=r"strictly increasing or decreasing.*sortby"):
        Regridder.bilinear(np.array([0.0, 2.0, 1.0]), axis(0.5, 9.5, 1.0), one_row, one_row)


@pytest.mark.parametrize("first", [0.5, -179.5])
def test_native_axes_global(first):
    lat, lon = native_axes(axis(-89.5, 89.5, 1.0), axis(first, first + 359.0, 1.0), 4.0)
    assert lat.shape == (45,) and lon.shape == (90,)
    np.testing.assert_allclose(lat, axis(-88.0, 88.0, 4.0))
    np.testing.assert_allclose(lon, axis(first + 1.5, first + 357.5, 4.0))
    assert is_global_lon(lon)


def test_native_axes_regional_across_dateline():
    target_lon = np.r_[axis(170.5, 179.5, 1.0), axis(-179.5, -170.5, 1.0)]  # 170°E..170°W
    lat, lon = native_axes(axis(-9.5, 9.5, 1.0), target_lon, 3.0)
    assert lon.size == 7  # ceil(20 / 3)
    assert np.all((lon >= -180) & (lon < 180))
    # centred on the 20° extent: 21° of cells starting at 169.5
    np.testing.assert_allclose(np.mod(lon - 171.0, 360.0), 3.0 * np.arange(7), atol=1e-12)
    np.testing.assert_allclose(lat, axis(-9.0, 9.0, 3.0), atol=1e-12)  # 21° centred on 20°
    assert lat.size == 7


def test_native_axes_latitude_clipped():
    lat, _ = native_axes(np.array([80.0, 85.0, 90.0]), axis(0.0, 10.0, 5.0), 5.0)
    # edges 77.5..90 once the northern one is clipped: 12.5° → 3 cells centred on it
    np.testing.assert_allclose(lat, [78.75, 83.75, 88.75])
    # a region narrower than a cell still gets two (edges are needed), none beyond the pole
    lat, lon = native_axes(np.array([89.0, 89.5]), np.array([10.0, 10.5]), 4.0)
    np.testing.assert_allclose(lat, [86.0, 90.0])
    np.testing.assert_allclose(lon, [8.25, 12.25])
    lat, _ = native_axes(axis(-89.0, 89.0, 2.0), axis(0.0, 10.0, 5.0), 7.0)
    assert lat.size == 26 and lat.min() > -90 and lat.max() < 90


# Regions crossing 0° and the dateline, eastward; each variant gives the same cells in another
# order or convention: (longitudes, the permutation of the eastward cells they list).
ACROSS_ZERO = axis(325.5, 360.5, 5.0)  # the South Atlantic cube: 323°E..3°E, 40° wide
ACROSS_DATELINE = axis(170.5, 189.5, 1.0)  # 170°E..170°W, 20° wide
REGION_LAT = axis(-9.5, -0.5, 1.0)


def _variants(east):
    n = east.size
    rolled = np.roll(np.arange(n), 1)  # the last cell first, as the cube's file has it
    shuffled = np.random.default_rng(0).permutation(n)
    return {
        "eastward, 0..360": (np.mod(east, 360.0), np.arange(n)),
        "eastward, -180..180": (np.mod(east + 180.0, 360.0) - 180.0, np.arange(n)),
        "sorted, 0..360": (np.sort(np.mod(east, 360.0)), np.argsort(np.mod(east, 360.0))),
        "sorted, -180..180": (
            np.sort(np.mod(east + 180.0, 360.0) - 180.0),
            np.argsort(np.mod(east + 180.0, 360.0) - 180.0),
        ),
        "last cell first": (np.mod(east[rolled], 360.0), rolled),
        "shuffled": (np.mod(east[shuffled] + 180.0, 360.0) - 180.0, shuffled),
    }


REGIONS = [
    (name, east, variant, *lon_perm)
    for name, east in (("0°", ACROSS_ZERO), ("dateline", ACROSS_DATELINE))
    for variant, lon_perm in _variants(east).items()
]
REGION_IDS = [f"{name}: {variant}" for name, _, variant, _, _ in REGIONS]


def test_the_variants_list_the_same_cells():
    for _, east, _, lon, perm in REGIONS:
        np.testing.assert_allclose(np.mod(lon - east[perm], 360.0), 0.0, atol=1e-12)
    assert REGIONS[2][3][0] == 0.5  # the cube's own order: 0.5, 325.5, ..., 355.5


@pytest.mark.parametrize(("name", "east", "variant", "lon", "perm"), REGIONS, ids=REGION_IDS)
def test_lon_layout_starts_east_of_the_widest_gap(name, east, variant, lon, perm):
    order, centres = lon_layout(lon)
    np.testing.assert_array_equal(perm[order], np.arange(east.size))
    np.testing.assert_allclose(centres - centres[0], east - east[0], atol=1e-12)
    assert np.mod(centres[0] - east[0], 360.0) == 0.0


@pytest.mark.parametrize(("name", "east", "variant", "lon", "perm"), REGIONS, ids=REGION_IDS)
def test_native_axes_of_a_region_span_the_region(name, east, variant, lon, perm):
    """A region crossing 0° or the dateline gets a native window as wide as itself (40° or
    20°), whatever the order and convention of its longitudes, not one around the globe."""
    _, expected = native_axes(REGION_LAT, east, 4.0)
    width = east[-1] - east[0] + (east[1] - east[0])
    assert expected.size == int(np.ceil(width / 4.0))  # 10 and 5 cells
    lat, got = native_axes(REGION_LAT, lon, 4.0)
    assert lat.size == 3 and got.size == expected.size
    np.testing.assert_allclose(np.mod(got - expected, 360.0), 0.0, atol=1e-9)
    lo = -180.0 if np.any(lon < 0) else 0.0  # in the target's convention
    assert np.all((got >= lo) & (got < lo + 360.0))


@pytest.mark.parametrize(("name", "east", "variant", "lon", "perm"), REGIONS, ids=REGION_IDS)
@pytest.mark.parametrize("method", ["bilinear", "conservative"])
def test_regridding_a_region_does_not_depend_on_its_longitudes_order(
    name, east, variant, lon, perm, method
):
    """To and from a region in any order or convention: the eastward result, permuted alike."""
    make = getattr(Regridder, method)
    field = grid_field(smooth, SRC4_LAT, SRC4_LON)
    to_east = make(SRC4_LAT, SRC4_LON, REGION_LAT, east)(field)
    to_lon = make(SRC4_LAT, SRC4_LON, REGION_LAT, lon)(field)
    np.testing.assert_allclose(to_lon, to_east[:, perm], rtol=0, atol=1e-12)
    assert np.isfinite(to_lon).all()
    native_lat, native_lon = native_axes(REGION_LAT, east, 2.0)
    regional = grid_field(smooth, REGION_LAT, east)
    from_east = make(REGION_LAT, east, native_lat, native_lon)(regional)
    from_lon = make(REGION_LAT, lon, native_lat, native_lon)(regional[:, perm])
    np.testing.assert_allclose(from_lon, from_east, rtol=0, atol=1e-12)
    assert np.isfinite(from_east[:, 1:-1]).all()


def test_lon_layout_keeps_a_global_axis_in_its_own_order():
    for lon in (axis(0.5, 359.5, 1.0), np.r_[axis(180.5, 359.5, 1.0), axis(0.5, 179.5, 1.0)]):
        order, centres = lon_layout(lon)
        np.testing.assert_array_equal(order, np.arange(360))
        np.testing.assert_allclose(centres, lon[0] + np.arange(360.0))
    shuffled = np.random.default_rng(1).permutation(axis(-179.5, 179.5, 1.0))
    assert is_global_lon(shuffled)
    assert native_axes(REGION_LAT, shuffled, 4.0)[1].size == 90


def test_lon_layout_refuses_the_same_meridian_twice():
    with pytest.raises(GridError, match="same meridian"):
        lon_layout(np.array([10.0, 20.0, 370.0]))


# --- bilinear -----------------------------------------------------------------------------


def test_bilinear_global_to_regional_across_seam():
    field = grid_field(smooth, SRC4_LAT, SRC4_LON)
    dst_lat = axis(-30.0, 30.0, 2.5)
    dst_lon = axis(-20.0, 20.0, 2.5)  # crosses 0°, source is 2..358
    out = Regridder.bilinear(SRC4_LAT, SRC4_LON, dst_lat, dst_lon)(field)
    ref = periodic_reference(SRC4_LAT, SRC4_LON, field, dst_lat, dst_lon)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_bilinear_global_to_shifted_convention():
    field = grid_field(smooth, SRC4_LAT, SRC4_LON)
    dst_lat = axis(-88.75, 88.75, 2.5)  # the end rows lie beyond ±88: clamped
    dst_lon = axis(-178.75, 178.75, 2.5)
    regrid = Regridder.bilinear(SRC4_LAT, SRC4_LON, dst_lat, dst_lon)
    out = regrid(field)
    ref = periodic_reference(SRC4_LAT, SRC4_LON, field, dst_lat, dst_lon)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    row = Regridder.bilinear(SRC4_LAT, SRC4_LON, [-88.0], dst_lon)(field)
    np.testing.assert_allclose(out[0], row[0], rtol=0, atol=1e-12)  # the nearest source row
    # the same destination written 0..360 gives the same values
    out360 = Regridder.bilinear(SRC4_LAT, SRC4_LON, dst_lat, np.mod(dst_lon, 360.0))(field)
    np.testing.assert_allclose(out360, out, rtol=0, atol=1e-12)
    # source in -180..180, destination in 0..360
    src_lon = np.mod(SRC4_LON + 180.0, 360.0) - 180.0
    order = np.argsort(src_lon)
    out_b = Regridder.bilinear(SRC4_LAT, src_lon[order], dst_lat, np.mod(dst_lon, 360))(
        field[:, order]
    )
    np.testing.assert_allclose(out_b, out, rtol=0, atol=1e-12)


def test_bilinear_exact_for_linear_field_in_regional_source():
    def linear(la, lo):
        return 3.0 * la - 2.0 * np.mod(lo - 160.0, 360.0) + 5.0

    src_lat = axis(10.0, 40.0, 2.0)
    src_lon = np.mod(axis(170.0, 190.0, 2.5) + 180.0, 360.0) - 180.0  # 170..180, -177.5..-170
    field = grid_field(linear, src_lat, src_lon)
    dst_lat = np.array([5.0, 8.5, 10.0, 11.3, 27.77, 40.0, 42.0, 45.0])
    dst_lon = np.array([165.0, 170.0, 171.1, 179.9, -179.2, -170.0, -169.0])
    out = Regridder.bilinear(src_lat, src_lon, dst_lat, dst_lon)(field)
    inside = (slice(1, 7), slice(1, 6))
    expected = grid_field(linear, np.clip(dst_lat, 10, 40), dst_lon)  # edge rows clamped
    np.testing.assert_allclose(out[inside], expected[inside], rtol=0, atol=1e-10)
    assert np.isnan(out[:, [0, 6]]).all()  # outside the regional source's longitudes
    assert np.isnan(out[[0, 7]]).all()  # more than one source spacing beyond its latitudes


def test_bilinear_nan_renormalises_over_remaining_corners():
    lat, lon = axis(0.0, 3.0, 1.0), axis(0.0, 3.0, 1.0)
    field = np.arange(16.0).reshape(4, 4) + 1.0
    field[1, 1] = np.nan
    out = Regridder.bilinear(lat, lon, [1.25, 2.5], [1.5, 2.5])(field)
    # at (1.25, 1.5): corners (1,1) nan, (1,2), (2,1), (2,2) with weights .375, .125, .125
    w = np.array([0.375, 0.125, 0.125])
    v = np.array([field[1, 2], field[2, 1], field[2, 2]])
    np.testing.assert_allclose(out[0, 0], (w * v).sum() / w.sum())
    np.testing.assert_allclose(out[1, 1], field[2:4, 2:4].mean())
    field[:2, :3] = np.nan
    assert np.isnan(Regridder.bilinear(lat, lon, [0.5], [1.0])(field)).all()


# --- conservative -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dst",
    [
        (axis(-87.5, 87.5, 5.0), axis(-177.5, 177.5, 5.0)),
        (axis(-20.5, 30.5, 1.5), axis(350.25, 370.0, 0.75) % 360),
    ],
)
def test_conservative_constant(dst):
    out = Regridder.conservative(SRC4_LAT, SRC4_LON, *dst)(np.full((45, 90), 7.25))
    np.testing.assert_allclose(out, 7.25, rtol=1e-13)


@pytest.mark.parametrize(("src_res", "dst_res"), [(4.0, 5.0), (2.0, 3.0)])
def test_conservative_preserves_global_integral(src_res, dst_res):
    rng = np.random.default_rng(1)
    s_edges_lat = np.linspace(-90, 90, round(180 / src_res) + 1)
    s_edges_lon = np.linspace(0, 360, round(360 / src_res) + 1)
    d_edges_lat = np.linspace(-90, 90, round(180 / dst_res) + 1)
    d_edges_lon = np.linspace(-180, 180, round(360 / dst_res) + 1)  # another convention
    field = rng.normal(size=(s_edges_lat.size - 1, s_edges_lon.size - 1))
    out = Regridder.conservative(
        mid(s_edges_lat), mid(s_edges_lon), mid(d_edges_lat), mid(d_edges_lon)
    )(field)
    total_src = (field * areas(s_edges_lat, s_edges_lon)).sum()
    total_dst = (out * areas(d_edges_lat, d_edges_lon)).sum()
    assert (
        abs(total_dst - total_src) <= 1e-10 * np.abs(field * areas(s_edges_lat, s_edges_lon)).sum()
    )
    np.testing.assert_allclose(areas(d_edges_lat, d_edges_lon).sum(), 4 * np.pi)


def block_mean(field, lat_edges, lon_edges, k):
    a = areas(lat_edges, lon_edges)
    ny, nx = field.shape
    num = (field * a).reshape(ny // k, k, nx // k, k).sum(axis=(1, 3))
    return num / a.reshape(ny // k, k, nx // k, k).sum(axis=(1, 3))


def test_conservative_integer_coarsening_is_block_mean():
    rng = np.random.default_rng(2)
    field = rng.normal(size=(180, 360))
    src_lat, src_lon = axis(-89.5, 89.5, 1.0), axis(0.5, 359.5, 1.0)
    out = Regridder.conservative(src_lat, src_lon, axis(-88.5, 88.5, 3.0), axis(1.5, 358.5, 3.0))(
        field
    )
    ref = block_mean(field, np.linspace(-90, 90, 181), np.linspace(0, 360, 361), 3)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    # the same destination in -180..180 convention: the same cells, rolled by half a turn
    out2 = Regridder.conservative(
        src_lat, src_lon, axis(-88.5, 88.5, 3.0), axis(-178.5, 178.5, 3.0)
    )(field)
    np.testing.assert_allclose(out2, np.roll(ref, 60, axis=1), rtol=0, atol=1e-12)


def test_conservative_regional_across_zero_meridian():
    rng = np.random.default_rng(3)
    field = rng.normal(size=(10, 20))
    src_lat = axis(30.5, 39.5, 1.0)
    lon_neg = axis(-9.5, 9.5, 1.0)
    lon_360 = np.mod(lon_neg, 360.0)  # 350.5..359.5, 0.5..9.5
    dst_lat, dst_neg = axis(31.0, 39.0, 2.0), axis(-9.0, 9.0, 2.0)
    out_neg = Regridder.conservative(src_lat, lon_neg, dst_lat, dst_neg)(field)
    out_360 = Regridder.conservative(src_lat, lon_360, dst_lat, np.mod(dst_neg, 360.0))(field)
    np.testing.assert_allclose(out_360, out_neg, rtol=0, atol=1e-13)
    ref = block_mean(field, np.linspace(30, 40, 11), np.linspace(-10, 10, 21), 2)
    np.testing.assert_allclose(out_neg, ref, rtol=0, atol=1e-13)
    # a mixed request: source in 0..360, destination in -180..180
    out_mix = Regridder.conservative(src_lat, lon_360, dst_lat, dst_neg)(field)
    np.testing.assert_allclose(out_mix, ref, rtol=0, atol=1e-13)


def test_conservative_partial_coverage_of_regional_source():
    src_lat, src_lon = axis(0.5, 9.5, 1.0), axis(0.5, 9.5, 1.0)
    dst_lat, dst_lon = axis(1.0, 9.0, 2.0), axis(0.0, 10.0, 2.0)  # end columns half outside
    out = Regridder.conservative(src_lat, src_lon, dst_lat, dst_lon)(np.ones((10, 10)))
    np.testing.assert_allclose(out, 1.0)
    out = Regridder.conservative(src_lat, src_lon, dst_lat, dst_lon)(
        np.ones((10, 10)), min_weight=0.6
    )
    assert np.isnan(out[:, [0, -1]]).all() and np.isfinite(out[:, 1:-1]).all()


# --- missing values -----------------------------------------------------------------------


def test_land_is_never_zero_and_min_weight_rule():
    src_lat, src_lon = axis(0.5, 7.5, 1.0), axis(0.5, 7.5, 1.0)
    dst_lat, dst_lon = axis(1.0, 7.0, 2.0), axis(1.0, 7.0, 2.0)
    lat_e, lon_e = np.linspace(0, 8, 9), np.linspace(0, 8, 9)
    rng = np.random.default_rng(4)
    field = rng.uniform(1.0, 2.0, size=(8, 8))
    field[0:2, 0:2] = np.nan  # destination (0, 0) fully land
    field[2:4, 2] = np.nan  # destination (1, 1): its western column, exactly half the area
    field[4:6, 4:6] = np.nan
    field[5, 5] = 1.5  # destination (2, 2): one of four left, about a quarter of the area
    regrid = Regridder.conservative(src_lat, src_lon, dst_lat, dst_lon)
    assert regrid.min_weight == 0.5
    out = regrid(field)
    assert not np.any(out == 0)
    assert np.isnan(out[0, 0])
    a = areas(lat_e, lon_e)
    np.testing.assert_allclose(out[1, 1], np.average(field[2:4, 3], weights=a[2:4, 3]))
    assert np.isnan(out[2, 2])
    np.testing.assert_allclose(regrid(field, min_weight=0.2)[2, 2], 1.5)
    assert np.isnan(regrid(field, min_weight=0.51)[1, 1])
    finite = np.ones((4, 4), bool)
    finite[[0, 2], [0, 2]] = False
    assert np.isfinite(out[finite]).all()
    ref = block_mean(np.where(np.isnan(field), 0, field), lat_e, lon_e, 2)
    np.testing.assert_allclose(out[3, :], ref[3, :])


@pytest.mark.parametrize("method", ["bilinear", "conservative"])
def test_leading_dims_match_loop(method):
    rng = np.random.default_rng(5)
    src_lat, src_lon = axis(-30.0, 30.0, 4.0), axis(2.0, 358.0, 4.0)
    field = rng.normal(size=(3, 2, src_lat.size, src_lon.size))
    field[rng.uniform(size=field.shape) < 0.3] = np.nan
    field = field.astype(np.float32)
    make = getattr(Regridder, method)
    regrid = make(src_lat, src_lon, axis(-25.0, 25.0, 5.0), axis(-177.5, 177.5, 5.0))
    out = regrid(field)
    assert out.shape == (3, 2, 11, 72) and out.dtype == np.float32
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(out[i, j], regrid(field[i, j]), rtol=1e-6, atol=0)
    assert np.isnan(out).any() and np.isfinite(out).any()


def test_wrong_shape_raises():
    regrid = Regridder.bilinear(SRC4_LAT, SRC4_LON, [0.0], [0.0])
    with pytest.raises(ValueError, match="source grid"):
        regrid(np.zeros((45, 89)))


# --- nearest fill -------------------------------------------------------------------------


def test_fill_from_nearest_small_example_across_seam():
    lat = np.array([0.0, 10.0])
    lon = axis(0.0, 350.0, 10.0)
    field = np.full((2, lat.size, lon.size), np.nan)
    field[0, 0, 35] = 7.0  # at 350°E on the equator
    field[0, 0, 10] = 3.0  # at 100°E
    field[1, 1, 18] = -1.0  # the second leading index has a single finite cell
    where = np.zeros((lat.size, lon.size), bool)
    where[0, [0, 1, 4, 7]] = True  # 0°, 10°, 40°, 70°
    where[1, 5] = True
    where[0, 35] = True  # finite already: left alone
    out = fill_from_nearest(field, where, lat, lon)
    assert out is not field and np.isnan(field[0, 0, 0])
    np.testing.assert_array_equal(out[0, 0, [0, 1, 4, 7]], [7.0, 7.0, 7.0, 3.0])
    assert out[0, 1, 5] == 3.0  # 50°E, 10°N: 60° of longitude from 350°E, 50° from 100°E
    assert out[0, 0, 35] == 7.0 and out[0, 0, 10] == 3.0
    assert np.isnan(out[0][~where & np.isnan(field[0])]).all()
    np.testing.assert_array_equal(out[1, 0, [0, 1, 4, 7]], -1.0)
    assert out[1, 1, 5] == -1.0
    assert np.isnan(out[1][~where & np.isnan(field[1])]).all()


def test_fill_from_nearest_full_mask_and_all_nan():
    lat, lon = np.array([-1.0, 1.0]), np.array([359.0, 1.0, 179.0])
    field = np.array([[[np.nan, 5.0, np.nan], [np.nan, np.nan, np.nan]], np.full((2, 3), np.nan)])
    where = np.ones((2, 2, 3), bool)
    out = fill_from_nearest(field, where, lat, lon)
    np.testing.assert_array_equal(out[0], [[5.0, 5.0, 5.0], [5.0, 5.0, 5.0]])
    assert np.isnan(out[1]).all()


def test_fill_from_nearest_searches_once_per_level_for_an_ensemble(monkeypatch):
    """The members of one level share their holes: one neighbour search per level, and the
    same values as filling each member alone."""
    import xdepthdif.grid.fill as rect

    rng = np.random.default_rng(0)
    lat, lon = np.linspace(-80, 80, 17), np.arange(0.0, 360.0, 20.0)
    members = rng.normal(size=(8, 3, lat.size, lon.size))
    holes = rng.random((3, lat.size, lon.size)) < 0.3  # different holes on each level
    members[:, holes] = np.nan
    searches = []

    class CountingTree(rect.cKDTree):
        def query(self, *args, **kwargs):
            searches.append(1)
            return super().query(*args, **kwargs)

    monkeypatch.setattr(rect, "cKDTree", CountingTree)
    out = fill_from_nearest(members, True, lat, lon)
    assert len(searches) == 3
    alone = [fill_from_nearest(members[m, z], True, lat, lon) for m in range(8) for z in range(3)]
    np.testing.assert_array_equal(out.reshape(24, lat.size, lon.size), np.stack(alone))


def test_fill_from_nearest_members_with_their_own_holes_are_filled_each_alone():
    """Members whose holes differ (no shared pattern to gather by) get what each slice gets
    alone, and a level without any finite cell is left as it is."""
    rng = np.random.default_rng(2)
    lat, lon = np.linspace(-80, 80, 9), np.arange(0.0, 360.0, 30.0)
    members = rng.normal(size=(4, 3, lat.size, lon.size)).astype(np.float32)
    members[rng.random(members.shape) < 0.3] = np.nan
    members[:, 2] = np.nan
    where = rng.random(members.shape[1:]) < 0.7
    out = fill_from_nearest(members, where, lat, lon)
    assert out.dtype == np.float32
    alone = [
        fill_from_nearest(members[m, z], where[z], lat, lon) for m in range(4) for z in range(3)
    ]
    np.testing.assert_array_equal(out.reshape(12, lat.size, lon.size), np.stack(alone))
    assert np.isnan(out[:, 2]).all() and (np.isnan(out) < np.isnan(members)).any()


def test_regridding_a_few_fields_at_a_time_gives_the_same_numbers(monkeypatch):
    """Large ensembles are regridded in chunks of fields on numpy: bit for bit what regridding
    all at once or each field alone gives (each field is its own column of the product)."""
    import xdepthdif.grid.rectilinear as rect

    rng = np.random.default_rng(3)
    src_lat, src_lon = np.arange(-60.0, 61.0, 10.0), np.arange(0.0, 360.0, 10.0)
    dst_lat, dst_lon = np.arange(-58.0, 59.0, 4.0), np.arange(1.0, 360.0, 4.0)
    regridder = Regridder.bilinear(src_lat, src_lon, dst_lat, dst_lon)
    fields = rng.normal(size=(5, 3, src_lat.size, src_lon.size)).astype(np.float32)
    fields[rng.random(fields.shape) < 0.2] = np.nan
    whole = regridder(fields)
    monkeypatch.setattr(rect, "CHUNK_VALUES", 4 * dst_lat.size * dst_lon.size)  # 4 of 15
    chunked = regridder(fields)
    alone = np.stack([regridder(f) for f in fields.reshape(15, *fields.shape[2:])])
    assert chunked.dtype == whole.dtype == np.float32
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(chunked.reshape(alone.shape), alone)
    assert np.isnan(whole).any() and np.isfinite(whole).any()
