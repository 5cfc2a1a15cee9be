"""Latitude/longitude axes on the sphere: cell edges, longitude wrapping, and the native axes of a
model at a given resolution over a target's region.

Longitudes are in degrees east, in either convention and any order (:func:`lon_layout` lays
them out eastward from the widest gap); differences of longitude are taken modulo 360.
Latitudes may increase or decrease.

Examples
--------
>>> import numpy as np
>>> dst_lat, dst_lon = native_axes(np.arange(-88.0, 89.0, 4.0), np.arange(2.0, 360.0, 4.0), 6.0)
>>> dst_lat.size, dst_lon.size, float(dst_lon[0])
(30, 60, 3.0)
"""

from __future__ import annotations

import numpy as np

from ..errors import GridError


def cell_edges(centres: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Cell edges from cell centres: midpoints between neighbours, end cells mirrored.

    Parameters
    ----------
    centres : numpy.ndarray
        One-dimensional, strictly monotonic cell centres, at least two of them.
    lo, hi : float, optional
        Clip the edges to ``[lo, hi]`` (for latitude: ``-90, 90``).

    Returns
    -------
    numpy.ndarray
        The ``n + 1`` edges, in the order of ``centres``.

    Examples
    --------
    >>> cell_edges(np.array([-85.0, -75.0, 85.0]), -90, 90).tolist()
    [-90.0, -80.0, 5.0, 90.0]
    """
    c = np.asarray(centres, dtype=float)
    if c.ndim != 1 or c.size < 2:
        raise ValueError("cell_edges needs a one-dimensional axis of at least two centres")
    edges = np.empty(c.size + 1)
    edges[1:-1] = 0.5 * (c[1:] + c[:-1])
    edges[0] = c[0] - 0.5 * (c[1] - c[0])
    edges[-1] = c[-1] + 0.5 * (c[-1] - c[-2])
    if lo is not None or hi is not None:
        edges = np.clip(edges, lo, hi)
    return edges


def lon_layout(lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes laid out eastward in one increasing run, whatever their order or convention.

    A regional axis starts east of its widest gap, so a region crossing 0° or the dateline
    spans its own width, not the rest of the circle. An axis whose widest gap (to within 1 % of
    a typical spacing) lies just west of its first longitude, a global one among them, starts
    at that first longitude.

    Parameters
    ----------
    lon : numpy.ndarray
        One-dimensional cell centres in degrees east, distinct modulo 360, in any order.

    Returns
    -------
    order : numpy.ndarray
        Indices that sort ``lon`` eastward from the start.
    centres : numpy.ndarray
        ``lon[order]`` unwrapped: strictly increasing, spanning less than 360°, the first one
        in the convention of its value in ``lon``.

    Raises
    ------
    GridError
        If the axis is empty or not one-dimensional, or two longitudes are the same meridian.

    Examples
    --------
    >>> order, centres = lon_layout(np.array([0.5, 325.5, 345.5, 355.5]))
    >>> order.tolist(), centres.tolist()
    ([1, 2, 3, 0], [325.5, 345.5, 355.5, 360.5])
    >>> lon_layout(np.array([-170.0, 175.0, 170.0]))[1].tolist()
    [170.0, 175.0, 190.0]
    """
    lon = np.asarray(lon, dtype=float)
    if lon.ndim != 1 or lon.size == 0:
        raise GridError("The longitude must be a non-empty one-dimensional axis.")
    offsets = np.mod(lon - lon[0], 360.0)
    order = np.argsort(offsets, kind="stable")
    gaps = np.diff(np.r_[offsets[order], 360.0])
    if np.any(gaps <= 1e-9):
        raise GridError("The longitude has the same meridian twice; drop the duplicate.")
    if gaps[-1] < gaps.max() - 0.01 * np.median(gaps):  # the widest gap is inside: start east
        order = np.roll(order, -(int(np.argmax(gaps)) + 1))
    start = lon[order[0]]
    return order, start + np.mod(lon[order] - start, 360.0)


def is_global_lon(lon: np.ndarray) -> bool:
    """Whether longitudes, in any order, are uniformly spaced once around the sphere.

    Parameters
    ----------
    lon : numpy.ndarray
        Cell centres in degrees east, in any convention.

    Returns
    -------
    bool
        ``True`` if, sorted around the circle, every spacing is ``360 / n`` (to within 1 % of
        it, so that float32 longitudes of a fine global grid count).

    Examples
    --------
    >>> is_global_lon(np.arange(-179.5, 180.0)), is_global_lon(np.arange(0.0, 300.0))
    (True, False)
    """
    lon = np.asarray(lon, dtype=float)
    if lon.ndim != 1 or lon.size < 2:
        return False
    s = np.sort(np.mod(lon, 360.0))
    step = np.diff(np.r_[s, s[0] + 360.0])
    # 1 % of a cell: float32 longitudes of a 0.05° grid are off by some 1e-5°
    return bool(np.all(np.abs(step - 360.0 / lon.size) < 0.01 * 360.0 / lon.size))


def _wrap_like(values: np.ndarray, target_lon: np.ndarray) -> np.ndarray:
    """Bring longitudes into the convention of ``target_lon``: -180..180 if it has negative
    values, else 0..360."""
    if np.any(np.asarray(target_lon) < 0):
        return np.mod(values + 180.0, 360.0) - 180.0
    return np.mod(values, 360.0)


def _centred_axis(
    start: float, stop: float, resolution: float, bounds: tuple[float, float] | None = None
) -> np.ndarray:
    """At least two cells (so that they have edges), centred on ``start..stop``, moved so
    that no centre lies beyond ``bounds``."""
    extent = stop - start
    n = max(int(np.ceil(extent / resolution - 1e-9)), 2)
    first_edge = 0.5 * (start + stop) - 0.5 * n * resolution
    centres = first_edge + resolution * (np.arange(n) + 0.5)
    if bounds is not None:
        centres = centres + max(bounds[0] - centres[0], 0.0) - max(centres[-1] - bounds[1], 0.0)
    return centres


def native_axes(
    lat: np.ndarray, lon: np.ndarray, resolution: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a grid of spacing ``resolution`` covering the region of a target grid.

    Parameters
    ----------
    lat, lon : numpy.ndarray
        The target's cell centres, in degrees (at least two of each).
    resolution : float
        The spacing of the new grid, in degrees.

    Returns
    -------
    lat, lon : numpy.ndarray
        Latitude covers the target's southern to northern cell edge (edges clipped to ±90);
        longitude covers the target's western to eastern edge (west and east of its widest
        gap, whatever the order of its longitudes), or, for a global target, goes once around
        from the western edge of its first cell. Each axis has
        ``ceil(extent / resolution)`` cells, at least two, and is centred on the target's
        extent (moved so that no latitude lies beyond a pole). Longitudes
        are in the target's convention (-180..180 if it has negative values, else 0..360).

    Examples
    --------
    >>> lat, lon = native_axes(np.arange(-89.5, 90.0), np.arange(-179.5, 180.0), 4.0)
    >>> lat.size, lon.size, float(lat[0]), float(lon[0])
    (45, 90, -88.0, -178.0)
    """
    if not resolution > 0:
        raise ValueError(f"resolution must be positive, not {resolution!r}")
    lat_edges = cell_edges(np.asarray(lat, dtype=float), -90.0, 90.0)
    new_lat = _centred_axis(
        float(lat_edges.min()), float(lat_edges.max()), resolution, (-90.0, 90.0)
    )
    lon = np.asarray(lon, dtype=float)
    _, unwrapped = lon_layout(lon)
    if is_global_lon(lon):
        west = unwrapped[0] - 0.5 * (unwrapped[1] - unwrapped[0])
        east = west + 360.0
    else:
        edges = cell_edges(unwrapped)
        west, east = float(edges[0]), float(min(edges[-1], edges[0] + 360.0))
    new_lon = _wrap_like(_centred_axis(west, east, resolution), lon)
    return new_lat, new_lon


def _lat_order(lat: np.ndarray) -> np.ndarray:
    lat = np.asarray(lat, dtype=float)
    if lat.ndim != 1 or lat.size == 0:
        raise GridError("The latitude must be a non-empty one-dimensional axis.")
    if lat.size > 1 and not (np.all(np.diff(lat) > 0) or np.all(np.diff(lat) < 0)):
        raise GridError(
            "The latitudes must be strictly increasing or decreasing to regrid: sort them "
            "(e.g. ds.sortby('lat')) and drop any latitude given twice."
        )
    return np.argsort(lat, kind="stable")
