"""A conditional model's members on a target finer than its grid: residuals about the target's OI.

A conditional model whose card says ``"target": "oi_residual"`` draws each member as
``OI + σ_OI r`` on its own grid: the default OI of the time step there, and a residual ``r`` in
units of that OI's error (:func:`xdepthdif.core.conditional.from_target`). Regridded as they
are, the members keep only what the model's cells hold: on a global 1° target a 4° grid misses
0.33 °C however good the model (``docs/model.md``, "The native grid"). Here the residual is
carried instead, and the OI is the target's own:

1. ``r = (member − OI) / max(σ_OI, floor)`` on the model's grid (:func:`residuals`), with the
   floor the model was trained with;
2. ``r`` is interpolated in depth and regridded to the target as members are;
3. the target's member is ``OI_t + σ_t r`` (:func:`about_oi`), with ``OI_t`` and ``σ_t`` the
   default OI of the target's grid from the same profiles
   (:func:`~xdepthdif.analysis.conditional.default_oi`), where it has a value.

The ensemble keeps the target OI's detail, and the model's departures from its own OI and its
spread, in units of the target OI's error. Where the model's residuals are zero the members are
the target's OI; the spread is ``σ_t`` times the residuals' spread, which the model was trained
(and its card calibrated) to make about one on its own grid. On the finer grid the bilinear
interpolation averages neighbouring residuals, and the target OI's error is not the model's
OI's, so the card may carry factors fitted on the finer grid itself
(``spread_scale_downscaled``, by grid spacing and share of the columns observed:
:func:`downscaled_spread_for`, fitted by ``xdepthdif calibrate --downscaled``) by which the
residuals' deviations from their ensemble mean are multiplied at each level
(:func:`scaled_spread`) before step 3.

Examples
--------
>>> members = np.array([[[[11.0]]], [[[9.0]]]])  # two members, one level, one cell
>>> r = residuals(members, np.array([[[10.0]]]), np.array([[[0.5]]]), np.array([[[0.1]]]))
>>> r.ravel().tolist()
[2.0, -2.0]
>>> about_oi(r, np.array([[[12.0]]]), np.array([[[0.25]]])).ravel().tolist()
[12.5, 11.5]
>>> scaled_spread(r, np.array([0.5])).ravel().tolist()
[1.0, -1.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..array_library import to_library
from ..prior.model import nearest_key

__all__ = [
    "about_oi",
    "downscaled_spread_for",
    "observed_share",
    "residuals",
    "scaled_spread",
    "target_oi",
]


def residuals(members: Any, oi_mean: np.ndarray, oi_sd: np.ndarray, floor: np.ndarray) -> Any:
    """``(member − oi_mean) / max(oi_sd, floor)`` of members ``(member, level, lat, lon)`` of
    any array API library (numpy, CuPy...), on their device; ``oi_mean``, ``oi_sd`` and
    ``floor`` are numpy, broadcastable to one member."""
    xp = array_namespace(members)
    mean, sd, floor = (to_library(xp, np.asarray(a, float), like=members)
                       for a in (oi_mean, oi_sd, floor))  # fmt: skip
    return (members - mean) / xp.maximum(sd, floor)


def about_oi(r: np.ndarray, oi_mean: np.ndarray, oi_sd: np.ndarray) -> np.ndarray:
    """Members ``oi_mean + oi_sd · r`` (numpy, a new array); NaN where the OI has none."""
    out = np.multiply(np.asarray(oi_sd, float), np.asarray(r, float))  # one ensemble-sized array
    out += np.asarray(oi_mean, float)
    return out


def downscaled_spread_for(
    normalisation: Mapping[str, Any], spacing: float, share: float
) -> np.ndarray | None:
    """The per-level factors a card gives members downscaled onto a grid of ``spacing``
    degrees in a time step with profiles in ``share`` of its sea columns: of its
    ``spread_scale_downscaled``, the table fitted at the nearest spacing (in ratio; the finer
    on a tie), interpolated linearly in the logarithm of the share between the shares it was
    fitted at, and those of the nearest share beyond them; None without a table.

    Examples
    --------
    >>> norm = {"spread_scale_downscaled": {"1": {"0.02": [1.2], "0.08": [0.8]}, "4": {"0.1": [2]}}}
    >>> [downscaled_spread_for(norm, 1.0, s).round(3).tolist() for s in (0.01, 0.04, 0.2)]
    [[1.2], [1.0], [0.8]]
    >>> downscaled_spread_for({}, 1.0, 0.05) is None
    True
    """
    table = normalisation.get("spread_scale_downscaled")
    if not table:
        return None
    at = table[nearest_key(table, spacing)]
    keys = sorted(at, key=float)
    shares, factors = np.log([float(k) for k in keys]), np.array([at[k] for k in keys], float)
    where = np.log(max(share, 1e-9))
    return np.array([np.interp(where, shares, column) for column in factors.T])


def scaled_spread(r: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Members ``r`` ``(member, level, lat, lon)`` with their deviations from the ensemble
    mean multiplied by ``factor``, one per level (numpy)."""
    r = np.asarray(r, float)
    mean = r.mean(axis=0)
    out = r - mean  # one ensemble-sized array, not three
    out *= np.asarray(factor, float)[:, None, None]
    out += mean
    return out


def target_oi(
    lat: np.ndarray,
    lon: np.ndarray,
    depth: np.ndarray,
    thetao: np.ndarray,
    err: np.ndarray | None,
    levels: np.ndarray,
    grid_lat: np.ndarray,
    grid_lon: np.ndarray,
    ocean: np.ndarray,
    doy: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The default OI (analysis and error sd, °C) of one time step's profiles on the target's
    levels and grid, as :func:`~xdepthdif.analysis.conditional.default_oi` makes it on the
    model's (the arguments as for :func:`~xdepthdif.analysis.native.diffusion_step`), and the
    share of the target's sea columns that hold a profile."""
    from ..obs.binning import bin_on_levels
    from .conditional import default_oi

    b = bin_on_levels(lat, lon, depth, thetao, err, levels, grid_lat, grid_lon)
    _, sea, oi, sd = default_oi(b.mean, b.count, b.err_var, grid_lat, grid_lon, levels, doy, ocean)
    return oi, sd, float(observed_share(sea, b.count))


def observed_share(sea: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The share of sea columns (``sea`` true at some level) that hold a profile (``count``
    above 0 at some level): what the downscaled spread factors are fitted at and looked up by.
    Axes ``(..., depth, lat, lon)``; one share per leading index.

    Examples
    --------
    >>> sea = np.ones((2, 2, 2), bool); sea[:, 0, 0] = False
    >>> count = np.zeros((2, 2, 2), int); count[1, 1, 1] = 1
    >>> float(observed_share(sea, count))
    0.3333333333333333
    """
    columns = np.asarray(sea, bool).any(axis=-3)
    held = columns & (np.asarray(count) > 0).any(axis=-3)
    return held.sum(axis=(-2, -1)) / np.maximum(columns.sum(axis=(-2, -1)), 1)
