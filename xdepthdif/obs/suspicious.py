"""Suspicious observations: what is refused as certainly wrong, and what is warned about.

Used by :func:`~xdepthdif.obs.validate_profiles`. Refused (:class:`~xdepthdif.errors.InputError`):
depths well above the sea surface. Warned about with counts
(:class:`~xdepthdif.errors.RejectedDataWarning`): exact repeats of a profile (dropped), many
levels out of range (mislabelled units), every profile within 12 m of the surface (km labelled
m), one depth with two values. Warned about but kept
(:class:`~xdepthdif.errors.SuspiciousDataWarning`): levels at the edge of plausibility.

Examples
--------
>>> import numpy as np
>>> outside(np.array([-3.0, 10.0, 41.0]), THETAO_RANGE).tolist()
[True, False, True]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from xdepthdif.errors import InputError, RejectedDataWarning, SuspiciousDataWarning

THETAO_RANGE = (-2.5, 40.0)
DEPTH_RANGE = (0.0, 12000.0)
EDGE_THETAO = (-2.0, 36.0)
"""Kept, but warned about: colder than sea water freezes near the surface, or warmer than the
warmest open ocean (the Red Sea and the Persian Gulf reach about 35 °C)."""
EDGE_DEPTH = 11000.0
"""Kept, but warned about: deeper than the deepest trench (about 10 935 m)."""
ABOVE_SURFACE_M = 2.0
"""Depths (positive down) below ``-ABOVE_SURFACE_M`` are refused: above the sea surface. A
slightly negative depth (a pressure sensor's offset) is dropped as out of range instead."""


def refuse_above_surface(depth: np.ndarray, attrs: Mapping) -> None:
    """Refuse depths (already in metres, positive down) well above the sea surface."""
    above = depth < -ABOVE_SURFACE_M
    if not above.any():
        return
    positive = str(attrs.get("positive", "down")).strip().lower()
    if positive == "up":
        hint = (
            "With positive='up' the values must be heights, negative below the surface. If "
            "they are depths (positive below the surface), set ds.depth.attrs['positive'] = "
            "'down' (or remove it); if they are heights, negate the wrong ones or drop them."
        )
    else:
        hint = (
            "If they are heights (negative below the surface), set "
            "ds.depth.attrs['positive'] = 'up'; otherwise drop those levels."
        )
    raise InputError(
        f"{int(above.sum())} depth value(s) lie above the sea surface (down to "
        f"{float(np.nanmin(depth)):g} m with positive={attrs.get('positive', 'down')!r}); "
        f"expected depths >= 0 m, positive down. {hint}"
    )


def duplicates(times, lat, lon, depth, theta) -> np.ndarray:
    """Profiles that repeat an earlier one exactly (time, position and every valid level): the
    same file read twice."""
    seen: set = set()
    out = np.zeros(lat.size, bool)
    for i in range(lat.size):
        ok = np.isfinite(depth[i])
        key = (
            str(times[i]), float(lat[i]), float(lon[i]),
            depth[i][ok].tobytes(), np.asarray(theta[i][ok], float).tobytes(),
        )  # fmt: skip
        out[i] = key in seen
        seen.add(key)
    return out


def warn_duplicates(n: int, *, stacklevel: int = 3) -> None:
    """Warn that ``n`` profiles repeating an earlier one exactly were dropped."""
    warnings.warn(
        f"{n} profile(s) repeat an earlier one exactly (time, position, every level) and were "
        "dropped (rejected_duplicate): was a file read twice?",
        RejectedDataWarning,
        stacklevel=stacklevel,
    )


def warn_bad_positions_and_times(
    lat: np.ndarray, lon: np.ndarray, bad_pos: np.ndarray, bad_time: np.ndarray
) -> None:
    """Warn, with counts and an example, about profiles dropped for a position that is not
    finite or lies outside lat -90..90 / lon -360..360, or for a missing time."""
    parts = []
    if bad_pos.any():
        i = int(np.flatnonzero(bad_pos)[0])
        parts.append(
            f"{int(bad_pos.sum())} have a position that is not finite or lies outside lat "
            f"-90..90 / lon -360..360 (rejected_bad_position; e.g. lat {lat[i]:g}, "
            f"lon {lon[i]:g})"
        )
    if bad_time.any():
        parts.append(f"{int(bad_time.sum())} have no time (rejected_bad_time)")
    if parts:
        warnings.warn(
            f"Profiles dropped: {'; '.join(parts)}. Check the position and time variables "
            "(fill values, units, swapped lat and lon).",
            RejectedDataWarning,
            stacklevel=3,
        )


SUSPICIOUS_SHARE = 0.1
"""Share of levels out of range (at least ten) above which the units are probably wrong."""


def warn_if_suspicious(counts, oor, valid, depth, theta, row_ok) -> None:
    """Warn, with counts, about input that is probably mislabelled (not certain enough to
    refuse): many levels out of range, all profiles within 12 m of the surface, or one depth
    with two different values in a profile."""
    checked = int(((oor | valid) & row_ok[:, None]).sum())
    if counts["rejected_duplicate"]:
        warn_duplicates(counts["rejected_duplicate"], stacklevel=4)
    n_oor = counts["levels_rejected_out_of_range"]
    if n_oor >= 10 and n_oor > SUSPICIOUS_SHARE * checked:
        warm = int(np.sum(oor & row_ok[:, None] & (theta > THETAO_RANGE[1]) & (theta <= 105.0)))
        hint = (
            f" {warm} of them lie between {THETAO_RANGE[1]:g} and 105: this looks like °F "
            "labelled degC; if so, set ds.thetao.attrs['units'] = 'degF'."
            if warm > n_oor / 2
            else " Check the units attributes (°F labelled degC? pressure or cm labelled m?)."
        )
        warnings.warn(
            f"{n_oor} of {checked} levels lie outside {THETAO_RANGE[0]}..{THETAO_RANGE[1]} °C or "
            f"{DEPTH_RANGE[0]:g}..{DEPTH_RANGE[1]:g} m and were dropped.{hint}",
            RejectedDataWarning,
            stacklevel=3,
        )
    _warn_at_the_edge(theta, depth, valid & row_ok[:, None])
    deep = np.where(valid & row_ok[:, None], depth, np.nan)
    per_profile = (valid & row_ok[:, None]).sum(axis=1)
    if (per_profile > 2).sum() >= 3 and np.nanmax(deep) < 12.0:
        warnings.warn(
            f"Every profile ends above {np.nanmax(deep):g} m although they hold several levels: "
            "are the depths in km labelled m? Set depth.attrs['units'] to what they are.",
            RejectedDataWarning,
            stacklevel=3,
        )
    conflicts = _conflicting_levels(np.where(valid & row_ok[:, None], depth, np.nan), theta)
    if conflicts:
        warnings.warn(
            f"{conflicts} profile level(s) repeat a depth of their profile with another value; "
            "the vertical interpolation uses one of them. Average or clean such profiles first.",
            RejectedDataWarning,
            stacklevel=3,
        )


def _warn_at_the_edge(theta: np.ndarray, depth: np.ndarray, kept: np.ndarray) -> None:
    """Warn, with counts, about kept levels at the edge of plausibility (see ``EDGE_*``)."""
    cold = int(np.sum(kept & (theta < EDGE_THETAO[0])))
    hot = int(np.sum(kept & (theta > EDGE_THETAO[1])))
    deep = int(np.sum(kept & (depth > EDGE_DEPTH)))
    if cold or hot or deep:
        warnings.warn(
            f"Kept, but at the edge of plausibility: {cold} level(s) colder than "
            f"{EDGE_THETAO[0]:g} °C, {hot} warmer than {EDGE_THETAO[1]:g} °C and {deep} deeper "
            f"than {EDGE_DEPTH:g} m. Check their units and quality flags.",
            SuspiciousDataWarning,
            stacklevel=4,
        )


def _conflicting_levels(depth: np.ndarray, theta: np.ndarray) -> int:
    """Levels whose depth occurs earlier in the same profile with a different value."""
    order = np.argsort(np.where(np.isfinite(depth), depth, np.inf), axis=1, kind="stable")
    d = np.take_along_axis(depth, order, axis=1)
    t = np.take_along_axis(theta, order, axis=1)
    same = (d[:, 1:] == d[:, :-1]) & np.isfinite(d[:, 1:])
    return int((same & (t[:, 1:] != t[:, :-1])).sum())


def outside(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Where ``values`` lie outside the closed interval ``bounds``."""
    return (values < bounds[0]) | (values > bounds[1])
