"""The demo end to end on the real sample cube: files, figures, scores."""

import numpy as np
import xarray as xr

from xdepthdif.cli import main
from xdepthdif.evaluation.demo import run_demo
from xdepthdif.obs import read_en4, tally


def test_demo_writes_cf_analysis_figures_and_scores(tmp_path):
    result = run_demo(tmp_path, months=3, verbose=False)
    for path in (result.analysis_path, *result.figures):
        assert path.stat().st_size > 10_000, path
    assert (tmp_path / "scores.md").read_text().strip() == result.table
    en4 = sorted((tmp_path / "en4").glob("EN.4.2.2.f.profiles.g10.1985*.nc"))
    assert [p.name[-9:-3] for p in en4] == ["198501", "198502", "198503"]
    obs = read_en4([str(p) for p in en4])
    counts = tally(obs)
    assert counts["profiles_read"] == counts["profiles_used"] == obs.sizes["profile"]
    with xr.open_dataset(result.analysis_path) as analysis:
        assert analysis.attrs["Conventions"] == "CF-1.8"
        assert analysis.thetao.shape == (3, 40, 6, 8)
    overall = result.scores[result.scores.band == "all (0–2000 m)"].set_index("method")
    # OI must beat both baselines on the real field, at withheld profiles and unobserved points.
    for column in ("rmse_withheld", "rmse_unobserved"):
        assert overall.loc["OI", column] < overall.loc["level mean", column]
        assert overall.loc["OI", column] < overall.loc["climatology", column]
        assert np.isfinite(overall.loc["OI", column])
    assert "| 0–100 m |" in result.table


def test_cli_demo_is_quiet_when_asked(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--months", "1", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "thetao_analysis_oi.nc").exists()
