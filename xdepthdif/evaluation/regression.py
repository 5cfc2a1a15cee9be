"""SST vertical regression: the subsurface anomaly as a multiple of the surface anomaly, one
coefficient per level and latitude band, fitted by least squares on training data. The
classical way to carry satellite SST below the surface, and a baseline for any method given
SST.

Examples
--------
>>> import numpy as np
>>> lat = np.array([-30.0, 30.0])
>>> reg = SSTRegression(depth_levels=2, lat=lat)
>>> rng = np.random.default_rng(0)
>>> sst = rng.normal(size=(2, 3))
>>> reg.add(np.stack([sst, 0.5 * sst]), sst)  # the second level carries half
>>> np.round(reg.predict(np.ones((2, 3)))[:, 0, 0], 3)
array([1. , 0.5])
"""

from __future__ import annotations

import numpy as np

__all__ = ["SSTRegression"]


class SSTRegression:
    """Least-squares coefficients ``b(z, band)`` of ``anomaly(z) ≈ b · sst_anomaly``, pooled
    over the cells of each latitude band, accumulated one month at a time.

    Parameters
    ----------
    depth_levels
        Number of levels.
    lat
        Latitudes (degrees) of the grid's rows.
    band_deg
        Width of the latitude bands (degrees).
    """

    def __init__(self, depth_levels: int, lat: np.ndarray, band_deg: float = 10.0):
        self.band = np.floor((np.asarray(lat, float) + 90.0) / band_deg).astype(int)
        n_bands = int(self.band.max()) + 1
        self._xy = np.zeros((depth_levels, n_bands))
        self._xx = np.zeros((depth_levels, n_bands))

    def add(self, anomaly: np.ndarray, sst_anomaly: np.ndarray) -> None:
        """Add one month: ``anomaly (depth, lat, lon)`` and ``sst_anomaly (lat, lon)``; cells
        where either is NaN are skipped."""
        ok = np.isfinite(anomaly) & np.isfinite(sst_anomaly)[None]
        a = np.where(ok, anomaly, 0.0)
        s = np.where(ok, sst_anomaly[None], 0.0)
        for band in np.unique(self.band):
            rows = self.band == band
            self._xy[:, band] += (a[:, rows] * s[:, rows]).sum(axis=(1, 2))
            self._xx[:, band] += (s[:, rows] ** 2).sum(axis=(1, 2))

    @property
    def coefficients(self) -> np.ndarray:
        """``(depth, band)``; 0 where a band had no data."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._xx > 0, self._xy / np.where(self._xx > 0, self._xx, 1.0), 0.0)

    def predict(self, sst_anomaly: np.ndarray) -> np.ndarray:
        """The anomaly ``(depth, lat, lon)`` implied by ``sst_anomaly (lat, lon)`` (0 where the
        SST is missing)."""
        coef = self.coefficients[:, self.band]  # (depth, lat)
        return coef[:, :, None] * np.nan_to_num(sst_anomaly, nan=0.0)[None]
