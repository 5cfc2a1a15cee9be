"""Vertical interpolation to model levels: max(0.1 z, 10 m) between observations, 10 m beyond
them, hand-computed."""

import numpy as np
import pytest

from xdepthdif.errors import InputError
from xdepthdif.obs import interpolate_to_levels, level_tolerance

nan = np.nan


def test_tolerance():
    np.testing.assert_allclose(
        level_tolerance(np.array([0.0, 50.0, 100.0, 2000.0])), [10.0, 10.0, 10.0, 200.0]
    )


@pytest.mark.parametrize(
    ("level", "want"),
    [
        (0.0, 20.0),  # above the shallowest (5 m), 5 m away <= 10: nearest
        (15.0, 18.0),  # bracketed by 5 and 25, nearer 10 m away <= 10: 20 + (10/20)(16-20)
        (26.0, 15.8),  # bracketed by 25 and 35, 1 m away: 16 + (1/10)(14-16)
        (100.0, nan),  # bracketed by 35 and 300, nearer 65 m away > 10
        (280.0, 14.0 + (245 / 265) * (5.5 - 14.0)),  # bracketed, nearer (300) 20 m <= 28
        (308.0, 5.5),  # below the deepest (300), 8 m away <= 10
        (320.0, nan),  # below the deepest, 20 m away > 10 (no copying down)
        (-20.0, nan),  # above the shallowest, 25 m away > 10
    ],
)
def test_single_profile_cases(level, want):
    depth = np.array([5.0, 25.0, 35.0, 300.0])
    values = np.array([20.0, 16.0, 14.0, 5.5])
    got = interpolate_to_levels(depth, values, np.array([level]))
    np.testing.assert_allclose(got, [want], equal_nan=True)


def test_unsorted_input_nan_gaps_and_many_profiles_match_one_by_one():
    depth = np.array(
        [[300.0, 5.0, nan, 35.0, 25.0], [nan, nan, nan, nan, nan], [10.0, 10.0, 60.0, nan, 1000.0]]
    )
    values = np.array(
        [[5.5, 20.0, 99.0, 14.0, 16.0], [1.0, 2.0, 3.0, 4.0, 5.0], [7.0, 7.0, 6.0, 5.0, nan]]
    )  # last level: value missing
    levels = np.array([0.0, 15.0, 55.0, 100.0, 320.0, 1000.0])
    got = interpolate_to_levels(depth, values, levels)
    assert got.shape == (3, 6)
    np.testing.assert_allclose(got[0], [20.0, 18.0, nan, nan, nan, nan], equal_nan=True)
    assert np.isnan(got[1]).all()
    # profile 3: 10 m (twice), 60 m; the 1000 m observation has no value, so 100 m and
    # deeper lie below the deepest observation (60 m) by more than their tolerance
    want3 = [7.0, 6.9, 6.1, nan, nan, nan]
    np.testing.assert_allclose(got[2], want3, equal_nan=True)
    for p in range(3):
        np.testing.assert_array_equal(interpolate_to_levels(depth[p], values[p], levels), got[p])


def test_exact_hits_and_two_dimensional_shapes():
    depth = np.tile([10.0, 20.0, 30.0], (4, 1))
    values = np.arange(12.0).reshape(4, 3)
    got = interpolate_to_levels(depth, values, np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(got, values)


def reference(depth, values, levels):
    """The rule written out, one profile and one level at a time."""
    ok = np.isfinite(depth) & np.isfinite(values)
    d, v = depth[ok], values[ok]
    out = []
    for z in levels:
        tol = max(0.1 * z, 10.0)
        above, below = d[d <= z], d[d > z]
        if above.size and below.size:
            a, b = above.max(), below.min()
            va, vb = v[d == a][-1], v[d == b][0]
            near = min(z - a, b - z)
            out.append(va + (z - a) / (b - a) * (vb - va) if near <= tol else nan)
        elif above.size:
            a = above.max()
            out.append(v[d == a][-1] if z - a <= 10.0 else nan)
        elif below.size:
            b = below.min()
            out.append(v[d == b][0] if b - z <= 10.0 else nan)
        else:
            out.append(nan)
    return np.array(out)


def test_large_random_input_matches_the_rule_written_out():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0, 2000, (20000, 60))  # unsorted
    depth[rng.random(depth.shape) < 0.3] = nan
    values = 20 - depth / 100 + rng.normal(0, 0.1, depth.shape)
    levels = np.linspace(5, 1900, 42)
    got = interpolate_to_levels(depth, values, levels)
    assert got.shape == (20000, 42) and 0.3 < np.isfinite(got).mean() < 1
    for p in rng.choice(20000, 100, replace=False):
        np.testing.assert_allclose(
            got[p], reference(depth[p], values[p], levels), equal_nan=True, rtol=1e-12
        )


def test_bad_shapes_are_refused():
    with pytest.raises(InputError):
        interpolate_to_levels(np.zeros((2, 3)), np.zeros((2, 4)), np.array([1.0]))
    with pytest.raises(InputError):
        interpolate_to_levels(np.zeros(3), np.zeros(3), np.array([[1.0]]))
    with pytest.raises(InputError):
        interpolate_to_levels(np.zeros(3), np.zeros(3), np.array([nan]))
