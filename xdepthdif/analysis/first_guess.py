"""The climatological first guess on a target grid, one time step, bare numpy.

The shipped climatology (:mod:`xdepthdif.sources.atlas`) holds an annual mean and the annual and
semi-annual harmonics of the seasonal cycle of potential temperature on a 1° grid. For a day of
year the field is the mean plus the harmonics, floored at the freezing point; each column's
deepest value is carried down one atlas level (the sea floor lies between the two), the field is
interpolated linearly in depth onto the target's levels, regridded onto the target's cells
(bilinear onto grids about as fine as the atlas or finer, cell averages of the sea cells onto
coarser ones), and target sea cells the atlas counts as land take the nearest value of their
level, so the target's sea floor, not the atlas's, decides where the sea ends. Shelf water is
never carried to depth: a deep target cell beside a shelf takes deep water from its level.

Examples
--------
>>> import numpy as np
>>> lat, lon, depth = np.array([-0.5, 0.5]), np.array([0.5, 1.5, 2.5]), np.array([0.0, 100.0])
>>> mean = np.stack([np.full((2, 3), 20.0), np.full((2, 3), 10.0)])
>>> harm = np.zeros((4, 2, 2, 3)); harm[0, 0] = 2.0  # warmest at the start of the year
>>> atlas = Atlas(depth, lat, lon, mean, harm, np.full((2, 2, 3), -1.9))
>>> field = atlas_on_grid(atlas, 1.0, np.array([50.0]), np.array([0.0]), np.array([1.5]))
>>> field.round(2).tolist()
[[[16.0]]]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..grid.fill import fill_from_nearest
from ..grid.rectilinear import Regridder
from .canonical import canonical_axes

YEAR_DAYS = 365.25


@dataclass(frozen=True, eq=False)
class Atlas:
    """A harmonic climatology: ``mean`` and ``freezing`` ``(depth, lat, lon)``, ``harmonics``
    ``(4, depth, lat, lon)`` (cos and sin of the annual, then of the semi-annual cycle)."""

    depth: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    mean: np.ndarray
    harmonics: np.ndarray
    freezing: np.ndarray


def harmonic_basis(doy: float) -> np.ndarray:
    """``[cos ωt, sin ωt, cos 2ωt, sin 2ωt]`` at day of year ``doy`` (1-based)."""
    phase = 2.0 * np.pi * (float(doy) - 1.0) / YEAR_DAYS
    return np.array([np.cos(phase), np.sin(phase), np.cos(2 * phase), np.sin(2 * phase)])


def atlas_at(atlas: Atlas, doy: float) -> np.ndarray:
    """The climatology on its own grid at day of year ``doy``, floored at the freezing point."""
    field = atlas.mean + np.tensordot(harmonic_basis(doy), atlas.harmonics, axes=1)
    return np.maximum(field, atlas.freezing)


def carry_down(field: np.ndarray, levels: int | None = None) -> np.ndarray:
    """Each column's deepest finite value repeated below it (``(depth, ...)``), on at most
    ``levels`` levels (all when None).

    Examples
    --------
    >>> carry_down(np.array([1.0, np.nan, np.nan]), levels=1).tolist()
    [1.0, 1.0, nan]
    """
    out = field.copy()
    run = np.zeros(field.shape[1:], int)
    for k in range(1, out.shape[0]):
        fill = ~np.isfinite(out[k]) & np.isfinite(out[k - 1])
        if levels is not None:
            fill &= run < levels
        run = np.where(fill, run + 1, 0)
        out[k] = np.where(fill, out[k - 1], out[k])
    return out


def vertical(field: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Linear in depth from levels ``src`` onto ``dst``; constant beyond either end."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    pos = np.clip(np.searchsorted(src, dst) - 1, 0, src.size - 2) if src.size > 1 else None
    if pos is None:
        return np.repeat(field[:1], dst.size, axis=0)
    w = np.clip((dst - src[pos]) / (src[pos + 1] - src[pos]), 0.0, 1.0)
    w = w.reshape(-1, *([1] * (field.ndim - 1)))
    return (1 - w) * field[pos] + w * field[pos + 1]


def atlas_on_grid(
    atlas: Atlas,
    doy: float,
    depth: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    ocean: np.ndarray | None = None,
) -> np.ndarray:
    """The climatology at day ``doy`` on a ``(depth, lat, lon)`` target grid.

    Cells of ``ocean`` (or every cell, when it is None) that the atlas counts as land take the
    nearest sea value of the same level; other land cells are NaN.
    """
    oy, ox, iy, ix, lat_c, lon_c = canonical_axes(lat, lon)
    field = vertical(carry_down(atlas_at(atlas, doy), levels=1), atlas.depth, depth)
    out = _regridder(atlas, lat_c, lon_c)(field)
    want = np.ones(out.shape, bool) if ocean is None else np.broadcast_to(ocean, out.shape)
    want = want[..., oy, :][..., ox]
    out = fill_from_nearest(out, want, lat_c, lon_c)
    missing = want & np.isnan(out)
    if missing.any():  # levels without any sea value
        out = np.where(missing, carry_down(out), out)
    return out[..., iy, :][..., ix]


def _regridder(atlas: Atlas, lat: np.ndarray, lon: np.ndarray) -> Regridder:
    return _cached_regridder(atlas.lat.tobytes(), atlas.lon.tobytes(), lat.tobytes(), lon.tobytes())


@lru_cache(maxsize=8)
def _cached_regridder(src_lat: bytes, src_lon: bytes, lat: bytes, lon: bytes) -> Regridder:
    args = (np.frombuffer(src_lat), np.frombuffer(src_lon), np.frombuffer(lat), np.frombuffer(lon))
    return choose_regridder(*args)


def choose_regridder(src_lat, src_lon, lat, lon) -> Regridder:
    """Cell averages onto grids coarser than 1.5 source spacings, else bilinear."""
    src_step = float(np.median(np.abs(np.diff(src_lat))))
    coarse = lat.size > 1 and lon.size > 1
    if coarse and float(np.median(np.abs(np.diff(lat)))) > 1.5 * src_step:
        return Regridder.conservative(src_lat, src_lon, lat, lon)
    return Regridder.bilinear(src_lat, src_lon, lat, lon)


def level_mean_background(obs_mean: np.ndarray, has: np.ndarray) -> np.ndarray:
    """One number per level, the mean of its observations (NaN without any)."""
    out = np.full(obs_mean.shape, np.nan)
    for k in range(obs_mean.shape[0]):
        if has[k].any():
            out[k] = obs_mean[k][has[k]].mean()
    return out
