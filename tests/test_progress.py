"""Progress callbacks: the text bar and tqdm's bars, driven through ``report``."""

import io

import pytest

from xdepthdif.progress import TextProgress, report, reporting, tqdm_progress


def test_text_bars_show_only_the_stages_asked_for_and_end_each_with_a_newline():
    out = io.StringIO()
    with reporting(TextProgress(out, width=4, interval=0.0, stages={"sampling"})):
        for i in range(1, 3):
            report("sampling", i, 2)
            report("regridding", i, 2)  # not asked for
    text = out.getvalue()
    assert "regridding" not in text
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.split("\r")[-1].split()[:3] == ["sampling", "[####]", "2/2"]


def test_tqdm_bars_one_per_stage_closed_when_done():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    callback = tqdm_progress(file=out, ascii=True, mininterval=0)
    with reporting(callback):
        report("steps", 1, 4)
        report("members", 1, 2)
        report("steps", 4, 4)
        report("members", 2, 2)
        report("steps", 1, 3)  # a stage that starts again gets a new bar
    text = out.getvalue()
    assert "steps: 100%" in text and "4/4" in text
    assert "members: 100%" in text and "2/2" in text
    assert "1/3" in text
