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
(and its card calibrated) to make about one.

Examples
--------
>>> members = np.array([[[[11.0]]], [[[9.0]]]])  # two members, one level, one cell
>>> r = residuals(members, np.array([[[10.0]]]), np.array([[[0.5]]]), np.array([[[0.1]]]))
>>> r.ravel().tolist()
[2.0, -2.0]
>>> about_oi(r, np.array([[[12.0]]]), np.array([[[0.25]]])).ravel().tolist()
[12.5, 11.5]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..array_library import to_library

__all__ = ["about_oi", "residuals", "target_oi"]


def residuals(members: Any, oi_mean: np.ndarray, oi_sd: np.ndarray, floor: np.ndarray) -> Any:
    """``(member − oi_mean) / max(oi_sd, floor)`` of members ``(member, level, lat, lon)`` of
    any array API library (numpy, CuPy...), on their device; ``oi_mean``, ``oi_sd`` and
    ``floor`` are numpy, broadcastable to one member."""
    xp = array_namespace(members)
    mean, sd, floor = (to_library(xp, np.asarray(a, float), like=members)
                       for a in (oi_mean, oi_sd, floor))  # fmt: skip
    return (members - mean) / xp.maximum(sd, floor)


def about_oi(r: np.ndarray, oi_mean: np.ndarray, oi_sd: np.ndarray) -> np.ndarray:
    """Members ``oi_mean + oi_sd · r`` (numpy); NaN where the OI has none."""
    return np.asarray(oi_mean, float) + np.asarray(oi_sd, float) * np.asarray(r, float)


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
) -> tuple[np.ndarray, np.ndarray]:
    """The default OI (analysis and error sd, °C) of one time step's profiles on the target's
    levels and grid, as :func:`~xdepthdif.analysis.conditional.default_oi` makes it on the
    model's (the arguments as for :func:`~xdepthdif.analysis.native.diffusion_step`)."""
    from ..obs.binning import bin_on_levels
    from .conditional import default_oi

    b = bin_on_levels(lat, lon, depth, thetao, err, levels, grid_lat, grid_lon)
    _, _, oi, sd = default_oi(b.mean, b.count, b.err_var, grid_lat, grid_lon, levels, doy, ocean)
    return oi, sd
