"""One canonical order of a grid's axes, so that results do not depend on the order given.

Examples
--------
>>> oy, ox = canonical_order([10.0, 0.0], [350.0, 10.0, 0.0])
>>> oy.tolist(), ox.tolist()
([1, 0], [0, 2, 1])
"""

from __future__ import annotations

import numpy as np


def canonical_order(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """Index orders that sort latitudes ascending and longitudes ascending from their widest gap."""
    order_y = np.argsort(np.asarray(lat, float), kind="stable")
    wrapped = np.mod(np.asarray(lon, float), 360.0)
    order_x = np.argsort(wrapped, kind="stable")
    if wrapped.size > 1:
        s = wrapped[order_x]
        gaps = np.diff(np.concatenate([s, [s[0] + 360.0]]))
        order_x = np.roll(order_x, -(int(np.argmax(gaps)) + 1))
    return order_y, order_x


def canonical_axes(lat, lon):
    """The orders of :func:`canonical_order`, their inverses, and the sorted axes (longitudes
    in 0..360)."""
    oy, ox = canonical_order(lat, lon)
    lat_c = np.asarray(lat, float)[oy]
    lon_c = np.mod(np.asarray(lon, float), 360.0)[ox]
    return oy, ox, np.argsort(oy), np.argsort(ox), lat_c, lon_c
