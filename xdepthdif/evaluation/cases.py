"""The skill benchmark's case files: one gzipped JSON record per case (grid or real field) and
share of observed columns, under ``OUT/cases/``, written whole or not at all.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp())
>>> path = case_path(out, "global 4°", 0.075)
>>> path.name
'global-4-7.5pct.json.gz'
>>> write_case(path, {"case": "global 4°", "rows": [{"tallies": {"w": [[0.1234567891]]}}]})
>>> read_case(path)["rows"][0]["tallies"]["w"]
[[0.1234568]]
>>> [p.name for p in case_files(out)]
['global-4-7.5pct.json.gz']
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

__all__ = ["case_files", "case_path", "read_case", "write_case"]

DIGITS = 7
"""Significant digits kept of each tally: sums whose last digits are noise anyway."""


def case_path(out: Path, case: str, fraction: float) -> Path:
    """Where the record of ``case`` at ``fraction`` lives in the run folder ``out``."""
    slug = "".join(c if c.isalnum() else "-" for c in case).strip("-")
    return Path(out) / "cases" / f"{slug}-{fraction * 100:g}pct.json.gz"


def case_files(out: Path) -> list[Path]:
    """The case records of the run folder ``out``, by name."""
    return sorted((Path(out) / "cases").glob("*.json.gz"))


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.{DIGITS}g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def write_case(path: Path, record: dict) -> None:
    """Write ``record`` (floats to :data:`DIGITS` significant digits) to ``path``, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(_rounded(record), f)
    tmp.replace(path)


def read_case(path: Path) -> dict:
    """The record in ``path`` (the settings of a case written when they still listed the
    shares run, which its numbers do not depend on, without that list)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        record = json.load(f)
    if isinstance(record.get("config"), dict):
        record["config"].pop("fractions", None)
    return record
