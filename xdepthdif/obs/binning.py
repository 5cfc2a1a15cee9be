"""Binning of profiles (already on target levels) into grid cells, on bare numpy arrays.

Each grid cell and level receives the mean of the observations that fall in it, their count, the
spread between them and the mean squared observation error: the "super-observations" that the
analysis methods consume.

Examples
--------
>>> import numpy as np
>>> values = np.array([[10.0, 5.0], [12.0, np.nan], [20.0, 4.0]])
>>> b = bin_profiles(np.array([0.2, -0.3, 5.0]), np.array([0.1, 359.8, 0.0]), values,
...                  grid_lat=np.array([0.0, 5.0]), grid_lon=np.array([0.0, 5.0]))
>>> b.mean[0].tolist(), b.count[0].tolist()
([[11.0, nan], [20.0, nan]], [[2, 0], [1, 0]])
>>> float(b.spread[0, 0, 0])
1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..grid.geo import lat_edges, lon_cells
from .vertical import interpolate_to_levels

SURFACE_DEPTH_M = 20.0
"""A surface field (satellite SST) informs the top level when it lies this close to the surface."""


@dataclass(frozen=True)
class BinnedObs:
    """Super-observations on a ``(level, lat, lon)`` grid.

    ``mean`` is NaN where ``count`` is 0; ``spread`` is the standard deviation between the
    observations of a cell (0 for one); ``err_var`` is the mean squared observation error given
    with the data (NaN when none was given); ``inside`` flags, per profile, whether it fell on the
    grid.
    """

    mean: np.ndarray
    count: np.ndarray
    spread: np.ndarray
    err_var: np.ndarray
    inside: np.ndarray


def locate_cells(
    lat: np.ndarray, lon: np.ndarray, grid_lat: np.ndarray, grid_lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column of the cell holding each point, and whether it lies on the grid at all.

    Latitude cells are bounded by midpoints between centres (ends extended by half a spacing,
    clipped at the poles); longitude cells likewise, on the circle
    (see :func:`xdepthdif.grid.geo.lon_cells`).
    """
    grid_lat = np.asarray(grid_lat, float)
    order = np.argsort(grid_lat)
    edges = lat_edges(grid_lat[order])
    pos = np.searchsorted(edges, np.asarray(lat, float), side="right") - 1
    lat_in = (pos >= 0) & (pos < grid_lat.size)
    lat_in |= np.asarray(lat) == edges[-1]
    iy = order[np.clip(pos, 0, grid_lat.size - 1)]
    ix, lon_in = lon_cells(grid_lon).locate(lon)
    return iy, ix, lat_in & lon_in


def bin_profiles(
    lat: np.ndarray,
    lon: np.ndarray,
    values: np.ndarray,
    grid_lat: np.ndarray,
    grid_lon: np.ndarray,
    errors: np.ndarray | None = None,
) -> BinnedObs:
    """Bin ``values`` shaped ``(profile, level)`` into cells of the ``grid_lat × grid_lon`` grid.

    NaN values are ignored; profiles off the grid are ignored and flagged in ``inside``.
    """
    values = np.asarray(values, float)
    nz = values.shape[1]
    ny, nx = np.size(grid_lat), np.size(grid_lon)
    iy, ix, inside = locate_cells(lat, lon, grid_lat, grid_lon)
    ok = np.isfinite(values) & inside[:, None]
    cell = (iy * nx + ix)[:, None] + (np.arange(nz) * ny * nx)[None, :]
    flat, v = cell[ok], values[ok]
    size = nz * ny * nx
    count = np.bincount(flat, minlength=size)
    total = np.bincount(flat, weights=v, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        # Spread about the cell mean in a second pass: stable whatever the magnitude of the values.
        dev2 = np.bincount(flat, weights=(v - mean[flat]) ** 2, minlength=size)
        spread = np.sqrt(dev2 / count)
        if errors is None:
            err_var = np.full(size, np.nan)
        else:
            e = np.broadcast_to(np.asarray(errors, float), values.shape)[ok]
            err_var = (
                np.bincount(flat, weights=np.where(np.isfinite(e), e**2, 0.0), minlength=size)
                / count
            )
    shape = (nz, ny, nx)
    return BinnedObs(
        mean=mean.reshape(shape),
        count=count.reshape(shape),
        spread=np.where(count > 0, spread, np.nan).reshape(shape),
        err_var=err_var.reshape(shape),
        inside=inside,
    )


def bin_on_levels(
    lat: np.ndarray,
    lon: np.ndarray,
    depth: np.ndarray,
    thetao: np.ndarray,
    err: np.ndarray | None,
    levels: np.ndarray,
    grid_lat: np.ndarray,
    grid_lon: np.ndarray,
) -> BinnedObs:
    """Profiles as arrays of the profile layout (``(profile,)`` positions, ``(profile, level)``
    depths, temperatures and optional error sds) interpolated to ``levels``
    (:func:`~xdepthdif.obs.vertical.interpolate_to_levels`, the errors too) and binned on the
    grid (:func:`bin_profiles`).

    Examples
    --------
    >>> depth = np.array([[40.0, 60.0], [40.0, 60.0]])  # two profiles in the same cell
    >>> b = bin_on_levels(np.array([0.2, 0.4]), np.array([0.3, 0.1]), depth,
    ...                   np.array([[20.0, 10.0], [18.0, 12.0]]), None, np.array([50.0]),
    ...                   np.array([0.0, 2.0]), np.array([0.0, 2.0]))
    >>> b.mean.ravel().tolist()[0], b.count.ravel().tolist()
    (15.0, [2, 0, 0, 0])
    """
    values = interpolate_to_levels(depth, thetao, levels)
    errors = None if err is None else interpolate_to_levels(depth, err, levels)
    return bin_profiles(lat, lon, values, grid_lat, grid_lon, errors)


def with_surface_field(binned: BinnedObs, field: np.ndarray, err_var: float) -> BinnedObs:
    """Add a gridded surface field (e.g. satellite SST, °C) to the top level of ``binned``.

    Each top-level cell without a profile where ``field`` is finite becomes one observation
    of the field's value, with error variance ``err_var`` beyond the method's own observation
    error. Cells holding a profile keep it.

    Examples
    --------
    >>> b = bin_profiles(np.array([0.5]), np.array([0.5]), np.array([[20.0, 10.0]]),
    ...                  np.array([0.5, 1.5]), np.array([0.5]))
    >>> s = with_surface_field(b, np.array([[25.0], [21.0]]), 0.1)
    >>> s.mean[:, :, 0].tolist(), s.count[:, :, 0].tolist()
    ([[20.0, 21.0], [10.0, nan]], [[1, 1], [1, 0]])
    """
    field = np.asarray(field, float)
    add = (binned.count[0] == 0) & np.isfinite(field)
    mean, count, err = binned.mean.copy(), binned.count.copy(), binned.err_var.copy()
    mean[0][add], count[0][add], err[0][add] = field[add], 1, err_var
    spread = binned.spread.copy()
    spread[0][add] = 0.0
    return BinnedObs(mean=mean, count=count, spread=spread, err_var=err, inside=binned.inside)
