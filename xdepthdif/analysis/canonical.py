"""One canonical order of a grid's axes, so that results do not depend on the order given.

Examples
--------
>>> oy, ox = canonical_order([10.0, 0.0], [350.0, 10.0, 0.0])
>>> oy.tolist(), ox.tolist()
([1, 0], [0, 2, 1])
"""

from __future__ import annotations

import numpy as np


def canonical_order(lat, lon, *, from_dateline: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Index orders that sort latitudes ascending and longitudes ascending from their widest gap.

    Among equal widest gaps (a global grid) the first one from 0° east is taken, or, with
    ``from_dateline``, the one across the dateline, so that a global grid runs from −180°.
    """
    order_y = np.argsort(np.asarray(lat, float), kind="stable")
    origin = 180.0 if from_dateline else 0.0
    wrapped = np.mod(np.asarray(lon, float) + origin, 360.0) - origin
    order_x = np.argsort(wrapped, kind="stable")
    if wrapped.size > 1:
        s = wrapped[order_x]
        gaps = np.diff(np.concatenate([s, [s[0] + 360.0]]))
        # np.argmax takes the first of equals; reversed, the last (the gap across the origin)
        widest = (
            gaps.size - 1 - int(np.argmax(gaps[::-1])) if from_dateline else int(np.argmax(gaps))
        )
        order_x = np.roll(order_x, -(widest + 1))
    return order_y, order_x


def canonical_axes(lat, lon):
    """The orders of :func:`canonical_order`, their inverses, and the sorted axes (longitudes
    in 0..360)."""
    oy, ox = canonical_order(lat, lon)
    lat_c = np.asarray(lat, float)[oy]
    lon_c = np.mod(np.asarray(lon, float), 360.0)[ox]
    return oy, ox, np.argsort(oy), np.argsort(ox), lat_c, lon_c
