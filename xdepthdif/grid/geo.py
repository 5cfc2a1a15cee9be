"""Spherical geometry on bare numpy arrays: cell edges, unit vectors, distances.

Longitudes may be given in any convention (−180..180, 0..360, or a regional grid that crosses
0° or the dateline in any order): everything here works with angles modulo 360°, so the answer
never depends on the convention.

Examples
--------
>>> import numpy as np
>>> round(float(great_circle_km(0.0, 179.5, 0.0, -179.5)), 1)
111.2
>>> lon_cells(np.array([0.5, 355.5, 350.5])).edges.round(1).tolist()
[348.0, 353.0, 358.0, 363.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_KM = 6371.0


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Cartesian unit vectors, shape ``lat.shape + (3,)``, of points given in degrees.

    Longitudes are wrapped into [−180, 180) first, so that 330° and −30° give the same bits.
    """
    lon = np.mod(np.asarray(lon, float) + 180.0, 360.0) - 180.0
    la, lo = np.deg2rad(np.asarray(lat, float)), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def chord_to_km(chord: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) from the chord length between unit vectors."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0))


def km_to_chord(km: float) -> float:
    """Chord length between unit vectors that lie ``km`` apart on the sphere."""
    return float(2.0 * np.sin(min(km / EARTH_RADIUS_KM, np.pi) / 2.0))


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (broadcasting)."""
    d = unit_vectors(lat1, lon1) - unit_vectors(lat2, lon2)
    return chord_to_km(np.sqrt((d**2).sum(-1)))


def lat_edges(lat: np.ndarray) -> np.ndarray:
    """Edges of latitude cells around sorted centres (midpoints; ends clipped to ±90)."""
    lat = np.asarray(lat, float)
    if lat.size == 1:
        return np.array([max(lat[0] - 0.5, -90.0), min(lat[0] + 0.5, 90.0)])
    mid = 0.5 * (lat[1:] + lat[:-1])
    edges = np.concatenate([[2 * lat[0] - mid[0]], mid, [2 * lat[-1] - mid[-1]]])
    return np.clip(edges, -90.0, 90.0)


@dataclass(frozen=True)
class LonCells:
    """Longitude cells laid out on the circle, whatever the order or convention of the centres.

    ``start`` is the longitude where the unwrapped axis begins, ``order`` sorts the original
    centres along it, ``centres`` are the sorted unwrapped centres (degrees from ``start`` plus
    ``start``) and ``edges`` their cell edges, ``len(order) + 1`` values. ``periodic`` is true when
    the cells close around the globe.
    """

    start: float
    order: np.ndarray
    centres: np.ndarray
    edges: np.ndarray
    periodic: bool

    def locate(self, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index (into the original centres) of the cell holding each longitude, and a flag
        telling whether it lies inside the grid at all."""
        u = np.mod(np.asarray(lon, float) - self.start, 360.0) + self.start
        lo = self.edges[0]
        u = np.where(u >= lo + 360.0, u - 360.0, u)
        u = np.where(u < lo, u + 360.0, u)
        pos = np.searchsorted(self.edges, u, side="right") - 1
        inside = (pos >= 0) & (pos < self.order.size)
        if self.periodic:
            inside = np.ones_like(inside)
            pos = np.mod(pos, self.order.size)
        idx = self.order[np.clip(pos, 0, self.order.size - 1)]
        return idx, inside


def lon_cells(lon: np.ndarray) -> LonCells:
    """Lay longitude centres out on the circle (see :class:`LonCells`)."""
    lon = np.mod(np.asarray(lon, float), 360.0)
    n = lon.size
    if n == 1:
        return LonCells(
            lon[0] - 0.5, np.array([0]), lon.copy(), lon[0] + np.array([-0.5, 0.5]), False
        )
    srt = np.sort(lon)
    gaps = np.diff(np.concatenate([srt, [srt[0] + 360.0]]))
    k = int(np.argmax(gaps))
    start = srt[(k + 1) % n]
    unwrapped = np.mod(lon - start, 360.0) + start
    order = np.argsort(unwrapped, kind="stable")
    centres = unwrapped[order]
    spacing = np.diff(centres)
    typical = float(np.median(spacing))
    periodic = bool(gaps[k] <= 1.5 * typical)
    mid = 0.5 * (centres[1:] + centres[:-1])
    if periodic:
        half_gap = 0.5 * gaps[k]
        edges = np.concatenate([[centres[0] - half_gap], mid, [centres[-1] + half_gap]])
    else:
        edges = np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])
    return LonCells(float(start), order, centres, edges, periodic)


def axis_bounds(values: np.ndarray, kind: str) -> np.ndarray:
    """``(n, 2)`` cell bounds for 1-D centres in their original order.

    ``kind`` is ``"lat"``, ``"lon"`` (bounds in the centres' own convention) or ``"depth"``
    (the top bound of the first level is 0 m, never negative).
    """
    values = np.asarray(values, float)
    if kind == "lon":
        cells = lon_cells(values)
        bnds = np.empty((values.size, 2))
        bnds[cells.order, 0] = cells.edges[:-1]
        bnds[cells.order, 1] = cells.edges[1:]
        shift = values - np.mod(values - cells.start, 360.0) - cells.start
        return bnds + shift[:, None]
    order = np.argsort(values)
    edges = lat_edges(values[order]) if kind == "lat" else _depth_edges(values[order])
    bnds = np.empty((values.size, 2))
    bnds[order, 0] = edges[:-1]
    bnds[order, 1] = edges[1:]
    return bnds


def _depth_edges(depth: np.ndarray) -> np.ndarray:
    if depth.size == 1:
        return np.array([0.0, 2 * depth[0]])
    mid = 0.5 * (depth[1:] + depth[:-1])
    return np.concatenate([[max(0.0, 2 * depth[0] - mid[0])], mid, [2 * depth[-1] - mid[-1]]])
