"""The OI evidence benchmark and its real-planet truth, on a coarse grid."""

import numpy as np
import pandas as pd
import pytest

import xdepthdif
from xdepthdif.evaluation.oi_evidence import EvidenceConfig, markdown, run_evidence, targets
from xdepthdif.evaluation.truth import displaced_atlas_truth


def test_displaced_truth_departs_from_the_climatology_and_persists():
    times = pd.date_range("2001-01-15", periods=4, freq="MS")
    truth = displaced_atlas_truth(times, 6.0, seed=3)
    clim = xdepthdif.climatology(truth).values
    anomaly = truth.values - clim
    ocean = np.isfinite(clim)
    assert np.array_equal(np.isfinite(truth.values), ocean)  # the climatology's land and floor
    depth = truth["depth"].values
    thermocline = np.sqrt(np.nanmean(anomaly[:, (depth > 100) & (depth < 500)] ** 2))
    deep = np.sqrt(np.nanmean(anomaly[:, depth > 2000] ** 2))
    assert 0.3 < thermocline < 2.0 and deep < 0.1 * thermocline
    # month to month the anomaly persists (AR(1) with 0.7), yet it changes
    k = int(np.argmin(np.abs(depth - 300)))
    a, b = anomaly[0, k][ocean[0, k]], anomaly[1, k][ocean[0, k]]
    assert 0.5 < np.corrcoef(a, b)[0, 1] < 0.95
    again = displaced_atlas_truth(times[:1], 6.0, seed=3)
    np.testing.assert_array_equal(again.values[0], truth.values[0])  # seeded
    assert not np.allclose(displaced_atlas_truth(times[:1], 6.0, seed=4).values, again.values,
                           equal_nan=True)  # fmt: skip


@pytest.fixture(scope="module")
def table():
    cfg = EvidenceConfig(
        fractions=(0.2,), months=2, resolution=8.0, multipliers=(0.7,), cases=("real planet",)
    )
    return cfg, run_evidence(cfg, log=lambda _: None)


def test_rows_ceiling_and_targets(table):
    cfg, rows = table
    assert list(rows["method"]) == ["level-mean OI", "climatology", "default OI", "truth-tuned OI"]
    r = rows.set_index("method")
    # the ceiling searches from the default's own covariance too: never worse than it
    assert r.loc["truth-tuned OI", "rmse_unobserved"] <= r.loc["default OI", "rmse_unobserved"]
    assert r.loc["default OI", "rmse_unobserved"] < r.loc["climatology", "rmse_unobserved"]
    assert r.loc["default OI", "rmse_unobserved"] < r.loc["level-mean OI", "rmse_unobserved"]
    assert np.isnan(r.loc["climatology", "spread_skill"])  # no error estimate of its own
    assert 0.5 < r.loc["default OI", "spread_skill_withheld"] < 2.0
    checks = targets(rows)
    assert len(checks) == 3 and all(met in (True, False, None) for *_, met in checks)
    text = markdown(rows, cfg)
    assert "## real planet" in text and "| target | measured | met |" in text


def test_the_default_oi_on_a_global_grid_is_plausible():
    from xdepthdif.evaluation.plausibility import plausibility

    check = plausibility(resolution=5.0)
    assert check["profiles"] > 50
    assert check["min_above_freezing_c"] >= -1e-6 and check["max_c"] <= 40.0
    # the prior is recomputed from the output's parameters, rounded to 4 decimals
    assert check["max_sd_over_prior"] <= 1.0 + 2e-3
    assert check["median_surface_sd_c"] < check["median_surface_prior_sd_c"]
