"""Background-error covariances of the optimal interpolation, bare numpy (:func:`correlation`
in any array API library).

One level's covariance between two points ``a`` and ``b`` is

``B(a, b) = σ_b² p_a p_b [(1 − μ) exp(−d²/2L²) + μ exp(−d²/2ℓ²)]``

a basin scale ``L`` and a mesoscale ``ℓ`` sharing the variance ``σ_b²`` in the ratio ``μ``
(the two-scale covariance of DESIGN §6.2), on chord distance ``d`` (a Gaussian of chord distance
is positive definite on the sphere, one of great-circle distance is not). ``p`` is the spatial
pattern of the background error: ``p² = (1 + β ĝ²) / (1 + β)``, where ``ĝ`` is the
background's vertical and horizontal temperature gradient normalised to a mean square of one,
so that error is largest in the thermocline and at fronts, where displacements of the mean state
change the temperature most (DESIGN §6.3). Near the equator scales can be stretched zonally:
the zonal part of ``d`` is divided by ``s(φ) = 1 + (s₀ − 1) exp(−(φ/w)²)`` at the pair's mean
latitude.

Examples
--------
>>> import numpy as np
>>> params = CovParams(sigma_b=1.0, sigma_o=0.1, large_km=2000.0, meso_km=200.0, meso_share=0.5)
>>> d2 = np.array([0.0, 200.0**2, 2000.0**2])
>>> correlation(d2, np.zeros(3), np.zeros(3), params).round(3).tolist()
[1.0, 0.801, 0.303]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace

from ..grid.geo import EARTH_RADIUS_KM

GRADIENT_DEPTH_M = 50.0
"""Vertical displacement (m) that turns the vertical gradient into a temperature change."""
GRADIENT_LATERAL_KM = 50.0
"""Lateral displacement (km) that turns the horizontal gradient into a temperature change."""


@dataclass(frozen=True)
class CovParams:
    """The covariance of one level (or depth band): see the module docstring.

    ``sigma_b`` and ``sigma_o`` are standard deviations (°C) of the background error (its mean
    over the ocean) and of one profile value (instrument and representativeness);
    ``large_km``/``meso_km`` the two Gaussian scales; ``meso_share`` the share ``μ`` of the
    variance at the mesoscale; ``gradient_weight`` ``β``; ``stretch``/``stretch_width_deg`` the
    equatorial zonal stretch ``s₀`` and its e-folding latitude ``w``.
    """

    sigma_b: float
    sigma_o: float
    large_km: float
    meso_km: float
    meso_share: float
    gradient_weight: float = 0.0
    stretch: float = 1.0
    stretch_width_deg: float = 8.0

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def pair_distances(xyz_a, lat_a, xyz_b, lat_b):
    """Squared chord distance (km²) and squared meridional distance (km²) between point sets.

    ``xyz`` are unit vectors ``(..., n, 3)``; the result is ``(..., n_a, n_b)`` twice.
    """
    chord2 = np.maximum(2.0 - 2.0 * np.matmul(xyz_a, np.swapaxes(xyz_b, -1, -2)), 0.0)
    d2 = chord2 * EARTH_RADIUS_KM**2
    dy = np.deg2rad(lat_a[..., :, None] - lat_b[..., None, :]) * EARTH_RADIUS_KM
    return d2, np.minimum(dy * dy, d2)


def correlation(d2, dy2, mean_lat, params: CovParams):
    """The two-scale correlation for squared distances ``d2`` (meridional part ``dy2``).

    Written against the array API: arrays of any compliant library (numpy, CuPy, ...) give an
    array of the same library, on the same device.
    """
    xp = array_namespace(d2)
    if params.stretch != 1.0:
        s = 1.0 + (params.stretch - 1.0) * xp.exp(-((mean_lat / params.stretch_width_deg) ** 2))
        d2 = dy2 + (d2 - dy2) / (s * s)
    mu = params.meso_share
    return (1.0 - mu) * xp.exp(-0.5 * d2 / params.large_km**2) + mu * xp.exp(
        -0.5 * d2 / params.meso_km**2
    )


def gradient_magnitude(background: np.ndarray, depth, lat, lon) -> np.ndarray:
    """Temperature change (°C) a 50 m heave or a 50 km lateral shift of ``background`` makes.

    ``background`` is ``(level, lat, lon)``; NaN (land, below the floor) gives no gradient.
    """
    gz, gy, gx = gradient_components(background, depth, lat, lon)
    g2 = (GRADIENT_DEPTH_M * gz) ** 2 + (GRADIENT_LATERAL_KM**2) * (gx**2 + gy**2)
    return np.sqrt(np.where(np.isfinite(g2), g2, 0.0))


def gradient_components(background: np.ndarray, depth, lat, lon) -> tuple[np.ndarray, ...]:
    """The vertical (°C/m), northward and eastward (°C/km) gradients of ``background``
    ``(level, lat, lon)``: central differences, across the seam of a global grid too; NaN
    where a neighbour is NaN."""
    bg = np.asarray(background, float)
    nz, ny, nx = bg.shape
    filled = np.where(np.isfinite(bg), bg, np.nan)
    gz = np.zeros_like(bg)
    if nz > 1:
        with np.errstate(invalid="ignore"):
            gz = np.gradient(filled, np.asarray(depth, float), axis=0)
    dy_km = np.deg2rad(np.gradient(np.asarray(lat, float))) * EARTH_RADIUS_KM if ny > 1 else None
    gy = np.zeros_like(bg) if dy_km is None else np.gradient(filled, axis=1) / dy_km[:, None]
    if nx > 1:
        lon_r = np.unwrap(np.deg2rad(np.asarray(lon, float)))
        step = np.abs(np.diff(lon_r))
        periodic = nx > 2 and np.allclose(step, 2 * np.pi / nx, rtol=1e-3)
        if periodic:  # a global grid: central differences across the seam too
            dlon = np.full(nx, 2 * np.pi / nx)
            diff_x = 0.5 * (np.roll(filled, -1, axis=2) - np.roll(filled, 1, axis=2))
        else:
            dlon = np.abs(np.gradient(lon_r))
            diff_x = np.gradient(filled, axis=2)
        dx_km = dlon[None, :] * EARTH_RADIUS_KM * np.cos(np.deg2rad(lat))[:, None]
        gx = diff_x / np.maximum(dx_km, 1.0)
    else:
        gx = np.zeros_like(bg)
    return gz, gy, gx


def error_pattern(gradient: np.ndarray, reference: float, weight: float) -> np.ndarray:
    """``p = sqrt((1 + β ĝ²)/(1 + β))`` with ``ĝ = gradient / reference``; uniform (1) where
    the background has no gradient at all (``reference`` 0)."""
    gradient = np.asarray(gradient, float)
    if reference <= 0:
        return np.ones_like(gradient)
    return np.sqrt((1.0 + weight * (gradient / reference) ** 2) / (1.0 + weight))


def gradient_reference(grad: np.ndarray, ocean: np.ndarray) -> np.ndarray:
    """Root-mean-square gradient of each level over ``ocean`` (normalises the error pattern;
    0 for a level without gradient)."""
    ref = [
        float(np.sqrt(np.mean(g[o] ** 2))) if o.any() else 1.0
        for g, o in zip(grad, ocean, strict=True)
    ]
    return np.nan_to_num(np.asarray(ref), nan=0.0)
