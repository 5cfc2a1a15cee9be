"""Monthly climatologies: computed from gridded training data, evaluated at any day and grid.

The diffusion prior models anomalies about a climatology (the residual idea of CorrDiff, Mardani
et al. 2023): the monthly climatology of its training data, stored with its weights, or
xdepthdif's shipped climatology (:func:`model_climatology` evaluates either). The climatology
carries the large, predictable part of the field (latitude, season, basin structure) and the
network the part that observations must decide. Numpy only.

Examples
--------
>>> import numpy as np
>>> doy = np.array([15.0, 46.0, 15.0])  # two Januaries and one February
>>> clim = monthly_climatology(np.array([1.0, 3.0, 5.0])[:, None, None, None], doy)
>>> clim[:3, 0, 0, 0].tolist()  # January's mean; February and March: the overall mean
[3.0, 3.0, 3.0]
>>> month_weights(16.21875)  # the centre of January
((0, 1), (1.0, 0.0))
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "climatology_at",
    "model_climatology",
    "month_of",
    "month_weights",
    "monthly_climatology",
]

MONTH_DAYS = 365.25 / 12


def month_of(doy: np.ndarray) -> np.ndarray:
    """Calendar month index (0–11) of days of year (1-based, as from ``timing.day_of_year``)."""
    return np.clip(((np.asarray(doy, float) - 1.0) // MONTH_DAYS).astype(int), 0, 11)


def monthly_climatology(x: np.ndarray, doy: np.ndarray, min_samples: int = 2) -> np.ndarray:
    """Mean of ``x`` ``(time, ...)`` for each calendar month, NaN ignored: ``(12, ...)``.

    A month with fewer than ``min_samples`` times takes the mean over all times (so data of a
    single year give anomalies about their time mean); points never finite stay NaN.
    """
    x = np.asarray(x, float)
    months = month_of(doy)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = np.nansum(x, axis=0) / np.isfinite(x).sum(axis=0)
        out = np.empty((12, *x.shape[1:]))
        for m in range(12):
            sel = x[months == m]
            n = np.isfinite(sel).sum(axis=0)
            enough = n >= min(min_samples, len(x))
            out[m] = np.where(enough, np.nansum(sel, axis=0) / np.maximum(n, 1), overall)
    return out


def month_weights(doy: float) -> tuple[tuple[int, int], tuple[float, float]]:
    """The two calendar months around day ``doy`` and their linear-interpolation weights.

    Months are centred at ``(m + 0.5) * 365.25 / 12 + 1``; the year wraps around.
    """
    position = (float(doy) - 1.0) / MONTH_DAYS - 0.5
    first = int(np.floor(position))
    frac = round(position - first, 12)
    return (first % 12, (first + 1) % 12), (1.0 - frac, frac)


def climatology_at(
    clim: np.ndarray,
    clim_lat: np.ndarray,
    clim_lon: np.ndarray,
    doy: float,
    lat: np.ndarray,
    lon: np.ndarray,
) -> np.ndarray:
    """The climatology ``(12, level, lat, lon)`` at day ``doy`` on the grid ``lat``, ``lon``.

    Linear in time between months; bilinear in space (periodic when the climatology's grid is
    global). Cells the climatology has as land take the nearest sea value, so every cell of
    the result is finite where any level has data.
    """
    from ..grid.fill import fill_from_nearest
    from ..grid.rectilinear import Regridder

    (m0, m1), (w0, w1) = month_weights(doy)
    field = w0 * np.asarray(clim[m0], float) + w1 * np.asarray(clim[m1], float)
    clim_lat, clim_lon = np.asarray(clim_lat, float), np.asarray(clim_lon, float)
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    same = clim_lat.shape == lat.shape and clim_lon.shape == lon.shape
    if not (same and np.allclose(clim_lat, lat) and np.allclose(clim_lon, lon)):
        field = fill_from_nearest(field, np.ones(field.shape[-2:], bool), clim_lat, clim_lon)
        field = Regridder.bilinear(clim_lat, clim_lon, lat, lon)(field)
    return fill_from_nearest(field, np.ones(field.shape[-2:], bool), lat, lon)


def model_climatology(
    card, stored: dict | None, doy: float, lat: np.ndarray, lon: np.ndarray
) -> np.ndarray | None:
    """The climatology a model's anomalies are about, ``(level, lat, lon)`` in °C, or None.

    Parameters
    ----------
    card : ModelCard
        Its ``normalisation["climatology"]`` says which: ``"monthly"``, the climatology
        ``stored`` with the weights (numpy ``mean`` ``(12, level, lat, lon)``, ``lat``,
        ``lon``) by :func:`climatology_at`; ``"shipped"``, xdepthdif's shipped climatology on
        the model's levels by :meth:`xdepthdif.background.ClimatologySpec.on_grid`, as the
        training world subtracted it; none: None.
    stored : dict or None
    doy : float
        Day of year.
    lat, lon : numpy.ndarray
        The grid (degrees).

    Raises
    ------
    CheckpointError
        When the card says ``"monthly"`` and the weights hold no climatology.
    """
    kind = card.normalisation.get("climatology")
    if kind == "shipped":
        from ..background import ClimatologySpec

        levels = np.asarray(card.levels, float)
        return ClimatologySpec.shipped().on_grid(float(doy), levels, lat, lon)
    if kind == "monthly":
        if not stored:
            from ..errors import CheckpointError

            raise CheckpointError(
                "the model card says the model's anomalies are about the monthly climatology "
                "stored with its weights, but the weights hold no 'climatology/' tensors: the "
                "checkpoint is incomplete; retrain it or restore its weights file"
            )
        return climatology_at(stored["mean"], stored["lat"], stored["lon"], doy, lat, lon)
    return None
