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


def test_a_section_with_no_profile_of_a_group_keeps_its_layout(tmp_path):
    """A section none of the withheld profiles lies near (seed 1 of the demo): the panels keep
    their size (an empty marker line once collapsed them, with a layout warning)."""
    import warnings

    from matplotlib.image import imread

    from xdepthdif.evaluation.plots import plot_section

    depth, lon = np.array([5.0, 100.0, 1000.0]), np.arange(-30.0, 1.0, 5.0)
    field = xr.DataArray(np.linspace(25, 4, 3)[:, None] + 0 * lon, dims=("depth", "lon"),
                         coords={"depth": depth, "lon": lon})  # fmt: skip
    paths = []
    for withheld in ([-12.0], []):
        path = tmp_path / f"section{len(withheld)}.png"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            profiles = {"used profiles": np.array([-20.0]), "withheld": np.array(withheld)}
            plot_section({"truth": field, "OI": field}, path, profiles=profiles)
        paths.append(imread(path))
    full, empty = paths
    assert full.shape == empty.shape
    # the panels' plotted area (not white) is as large with no withheld profile as with one
    assert abs((empty[..., :3] < 0.99).mean() - (full[..., :3] < 0.99).mean()) < 0.02
