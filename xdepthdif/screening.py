"""What :func:`~xdepthdif.reconstruct.reconstruct` screens: profiles it cannot use, counted by
reason, analysed values outside the range of sea water, warned about where computed, and
ensemble members kept in that range where they are drawn.

Examples
--------
>>> import numpy as np, warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warn_if_implausible(np.array([[4.0, 41.0], [np.nan, -2.5]]), [5.0, 1000.0], "2020-01")
>>> print(caught[0].message)  # doctest: +ELLIPSIS
Time step 2020-01: 0 of 3 analysed thetao values lie below the freezing point ... 1 above 40 °C ...
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import dask.array as da
import numpy as np

from .background import on_land
from .errors import ImplausibleOutputWarning, IncompleteBackgroundWarning, RejectedDataWarning

WARMEST = 40.0
"""Above this (°C) no sea water is: the warmest open ocean (Red Sea, Persian Gulf) reaches 35 °C."""
SALTIEST = 40.0
"""Absolute Salinity (g/kg) of the freezing floor: saltier sea water freezes colder, so the
floor computed with it is below the freezing point of nearly all sea water."""


def freezing_floor(depth: np.ndarray) -> np.ndarray:
    """The freezing point (°C, TEOS-10 via gsw, air-free, Absolute Salinity 40 g/kg) at each
    depth (m): −2.2 °C at the surface, −3.0 °C at 1000 m. The output carries no salinity, so
    this salty bound stands for all water.

    >>> freezing_floor(np.array([0.0, 1000.0])).round(2).tolist()
    [-2.2, -2.99]
    """
    import gsw

    pressure = gsw.p_from_z(-np.asarray(depth, float), 0.0)
    return np.asarray(gsw.CT_freezing(SALTIEST, pressure, 0.0), float)


def warn_if_implausible(
    thetao: np.ndarray, depth: np.ndarray, label: str, what: str = "analysed thetao values"
) -> None:
    """Warn (:class:`~xdepthdif.errors.ImplausibleOutputWarning`), with counts, about values
    ``(level, ...)`` (an analysis ``(level, lat, lon)``, or ensemble members with the level
    first) below the freezing point of their depth (see :func:`freezing_floor`) or above
    :data:`WARMEST`. Nothing is clipped."""
    thetao = np.asarray(thetao, float)
    floor = freezing_floor(depth).reshape(-1, *([1] * (thetao.ndim - 1)))
    finite = np.isfinite(thetao)
    cold = int(np.sum(finite & (thetao < floor)))
    hot = int(np.sum(finite & (thetao > WARMEST)))
    if cold or hot:
        values = thetao[finite]
        message = (
            f"Time step {label}: {cold} of {values.size} {what} lie below the "
            f"freezing point of sea water and {hot} above {WARMEST:g} °C (down to "
            f"{values.min():.2f}, up to {values.max():.2f}); nothing was clipped. Check the "
            "background and the observations' units, or use more diffusion steps."
        )
        warnings.warn(ImplausibleOutputWarning(message, cold, hot, values.size), stacklevel=2)


def warn_if_background_incomplete(
    background: np.ndarray, ocean: np.ndarray | None, count: np.ndarray, label: str
) -> None:
    """Warn (:class:`~xdepthdif.errors.IncompleteBackgroundWarning`), with counts, where a
    first guess ``(level, lat, lon)`` has no value on the sea (``ocean``, or every cell):
    the analysis is NaN there and the observations there (``count`` > 0) are not used.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     bg, count = np.array([[[1.0, np.nan]]]), np.ones((1, 1, 2))
    ...     warn_if_background_incomplete(bg, None, count, "2020-01")
    >>> caught[0].message.cells, caught[0].message.observed
    (1, 1)
    """
    sea = (
        np.ones(background.shape, bool)
        if ocean is None
        else np.broadcast_to(ocean, background.shape)
    )
    gap = sea & ~np.isfinite(background)
    cells = int(gap.sum())
    if cells:
        observed = int((gap & (count > 0)).sum())
        message = (
            f"Time step {label}: the background has no value at {cells} of the target's "
            f"{int(sea.sum())} sea cells, {observed} of them with observations; the analysis is "
            "NaN there and those observations are not used. Give a background that covers the "
            "target's sea at every level, e.g. background.combine_first("
            "xdepthdif.climatology(target))."
        )
        warnings.warn(IncompleteBackgroundWarning(message, cells, observed), stacklevel=2)


def clip_members(members: Any, depth: np.ndarray, xp: ModuleType = np) -> Any:
    """Ensemble members ``(member, level, ...)`` of namespace ``xp`` kept in the range of sea
    water: floored at the freezing point of their depth
    (:func:`xdepthdif.analysis.oi.freezing_point`, salinity 35: the floor of the OI's analysis)
    and capped at :data:`WARMEST`; warns (:class:`~xdepthdif.errors.ImplausibleOutputWarning`),
    with counts, when any value was outside. NaN stays NaN.

    Examples
    --------
    >>> import warnings
    >>> m = np.array([[[-2.5, np.nan]], [[41.0, np.nan]]])  # 2 members, 1 level, sea and land
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clipped = clip_members(m, np.array([0.0]))
    >>> clipped[:, 0, 0].round(3).tolist()
    [-1.919, 40.0]
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    Of 2 ensemble member values, 1 lay below the freezing point of sea water at salinity 35 ...
    """
    from .analysis.oi import freezing_point
    from .array_library import to_library

    shape = (1, -1, *([1] * (members.ndim - 2)))
    floor = to_library(xp, freezing_point(depth).reshape(shape), like=members)
    finite = xp.isfinite(members)
    cold, hot = finite & (members < floor), finite & (members > WARMEST)

    def count(a) -> int:
        return int(xp.sum(xp.astype(a, xp.int64)))

    n_cold, n_hot = count(cold), count(hot)
    if n_cold or n_hot:
        low = float(xp.min(xp.where(finite, members, xp.inf)))
        high = float(xp.max(xp.where(finite, members, -xp.inf)))
        n = count(finite)
        message = (
            f"Of {n} ensemble member values, {n_cold} lay below the freezing point of sea water "
            f"at salinity 35 and {n_hot} above {WARMEST:g} °C (from {low:.2f} to {high:.2f} °C); "
            "they were set to these bounds, as the OI's analysis is floored. The ensemble mean "
            "and spread are those of the clipped members."
        )
        warning = ImplausibleOutputWarning(message, n_cold, n_hot, n, clipped=True)
        warnings.warn(warning, stacklevel=2)
        members = xp.clip(members, floor, WARMEST)  # NaN stays NaN; one new array
    return members


def profiles_on_land(lat, lon, iy, ix, mask) -> np.ndarray:
    """Profiles in a land cell of the target's mask (its top level); without a mask, those
    certainly on land by the shipped climatology (see :func:`xdepthdif.background.on_land`).

    A target's own mask decides where its sea is (a model's or another planet's coastline is
    not the atlas's). A lazy (dask) mask's top level is read now: the one small computation
    before the user computes, so that the profiles used (and the covariance fitted to them) do
    not depend on how the target is chunked.
    """
    if mask is None:
        return on_land(lat, lon)
    top = mask[0].compute() if isinstance(mask, da.Array) else mask[0]
    return ~np.asarray(top, bool)[iy, ix]


def count_rejections(counts: dict, step: np.ndarray, on_grid: np.ndarray, land: np.ndarray) -> None:
    outside_time = int((step < 0).sum())
    outside_grid = int(((step >= 0) & ~on_grid).sum())
    n_land = int(land.sum())
    counts["rejected_outside_time_range"] = outside_time
    counts["rejected_outside_grid"] = outside_grid
    counts["rejected_on_land"] = n_land
    dropped = outside_time + outside_grid + n_land
    counts["profiles_used"] = counts.get("profiles_used", len(step)) - dropped
    counts.setdefault("profiles_read", len(step))
    if dropped:
        warnings.warn(
            f"{outside_time} profile(s) outside the target's time range, {outside_grid} "
            f"outside its grid and {n_land} on land were not used; the tally is in the "
            "result's attributes (profiles_rejected_*).",
            RejectedDataWarning,
            stacklevel=4,
        )
