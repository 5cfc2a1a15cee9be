"""Checks of catalog entry parameters (``CATALOG/ENTRY?key=value``), so that a value out of
range is a :class:`~xdepthdif.errors.CatalogError` naming the parameter and its range,
not a crash (or an empty dataset) deep inside a reader.

Examples
--------
>>> number("months", "3", int, low=1)
3
>>> number("resolution", 0, float, low=0, strict=True, entry="sample/synthetic_ocean")
Traceback (most recent call last):
...
xdepthdif.errors.CatalogError: sample/synthetic_ocean: resolution=0 is out of range: ...
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..errors import CatalogError

__all__ = ["month", "number"]


def _error(entry: str, message: str) -> Exception:
    return CatalogError(f"{entry + ': ' if entry else ''}{message}")


def number(
    name: str,
    value: Any,
    kind: type = float,
    *,
    low: float | None = None,
    high: float | None = None,
    strict: bool = False,
    entry: str = "",
) -> Any:
    """``value`` as ``kind`` (``int`` or ``float``), checked to lie in ``[low, high]`` (or
    ``(low, high]`` when ``strict``)."""
    try:
        out = kind(value)
        ok = math.isfinite(out) and (kind is float or float(value) == out)
    except (TypeError, ValueError):
        ok = False
    rng = _range(low, high, strict)
    if not ok:
        raise _error(
            entry,
            f"{name}={value!r} is not {'an integer' * (kind is int) or 'a number'}"
            f"; give e.g. {name}={low if low is not None and not strict else 1} (it must be{rng}).",
        )
    below = low is not None and (out < low or (strict and out == low))
    if below or (high is not None and out > high):
        raise _error(entry, f"{name}={value!r} is out of range: it must be{rng}.")
    return out


def _range(low: float | None, high: float | None, strict: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if strict else '>='} {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    return (" " + " and ".join(parts)) if parts else " any value"


def month(name: str, value: Any, *, entry: str = "") -> str:
    """``value`` checked to be a month or a date (``"2020-01"``, ``"2020-01-15"``)."""
    try:
        pd.Period(str(value), freq="M")
    except (ValueError, TypeError) as err:
        raise _error(
            entry, f"{name}={value!r} is not a month ({err}); give e.g. {name}=2020-01."
        ) from err
    return str(value)
