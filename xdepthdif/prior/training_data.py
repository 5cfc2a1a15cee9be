"""Training data for the diffusion prior: normalised numpy arrays from a CF ``thetao`` dataset.

This is the xarray side of training (``core/train.py`` sees only numpy).
:func:`prepare_training_data` finds potential temperature, converts it to °C, subtracts a
climatology (its own monthly one, for which several years of data make a good one, or
xdepthdif's shipped one), normalises every depth level by its mean and standard deviation over
ocean points, and returns the field, the ocean mask, the axes and the climatology.
:func:`random_patches` draws the ``(time, y0, x0)`` corners of training windows, periodic in
longitude on a global grid, and :func:`take_patch` cuts one out.

Examples
--------
>>> import numpy as np
>>> from xdepthdif.prior.synthetic import synthetic_ocean
>>> ds = synthetic_ocean(["2000-01-15", "2000-02-15"], resolution=10.0,
...                      levels=[5.0, 100.0, 500.0])
>>> data, mask, info = prepare_training_data(ds)
>>> data.shape, mask.shape, data.dtype
((2, 3, 18, 36), (3, 18, 36), dtype('float32'))
>>> bool(info["periodic"]), info["resolution_deg"], info["doy"].tolist()
(True, 10.0, [15.0, 46.0])
>>> np.allclose(data[:, mask].mean(), 0.0, atol=1e-5)
True
>>> w = random_patches(np.random.default_rng(0), 4, (8, 16), data.shape, periodic=True)
>>> w.shape
(4, 3)
>>> take_patch(data, mask, info, w[0], (8, 16))[0].shape
(3, 8, 16)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..grid.target import discover_grid
from ..obs.units import celsius_offset
from ..timing import day_of_year
from .climatology import month_of, monthly_climatology

__all__ = ["find_thetao", "prepare_training_data", "random_patches", "take_patch"]

STANDARD_NAME = "sea_water_potential_temperature"


def find_thetao(ds: xr.Dataset) -> str:
    """Name of the potential-temperature variable: by CF standard name, else ``thetao``.

    Raises
    ------
    KeyError
        When neither is present; the message lists the variables found.
    """
    names = [k for k, v in ds.data_vars.items() if v.attrs.get("standard_name") == STANDARD_NAME]
    if names:
        return str(names[0])
    if "thetao" in ds.data_vars:
        return "thetao"
    raise KeyError(
        f"No potential temperature found: no variable has standard_name '{STANDARD_NAME}' and "
        f"none is named 'thetao' (data variables: {list(ds.data_vars)}). Set the attribute "
        "or rename the variable."
    )


def _is_global(lon: np.ndarray) -> tuple[bool, float]:
    if lon.size < 2:
        return False, float("nan")
    step = np.diff(lon)
    res = float(np.median(np.abs(step)))
    uniform = np.allclose(step, step[0], rtol=1e-3, atol=1e-6)
    return bool(uniform and abs(res * lon.size - 360.0) < 0.5 * res), res


def _anomaly_kind(climatology: bool | str | None) -> str | None:
    """``"monthly"``, ``"shipped"`` or None from what :func:`prepare_training_data` accepts."""
    if climatology is True or climatology == "monthly":
        return "monthly"
    if climatology is False or climatology is None or climatology == "none":
        return None
    if climatology == "shipped":
        return "shipped"
    raise ValueError(
        f"climatology must be True or 'monthly' (the data's own monthly climatology), "
        f"'shipped' (xdepthdif's shipped climatology) or False/'none' (no anomalies), "
        f"got {climatology!r}."
    )


def _shipped_climatology(doy: np.ndarray, depth, lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """The shipped climatology at each distinct day of ``doy`` and each time's index into it."""
    from ..background import ClimatologySpec

    spec = ClimatologySpec.shipped()
    days, which = np.unique(np.asarray(doy, float), return_inverse=True)
    table = np.stack([spec.on_grid(float(d), depth, lat, lon) for d in days])
    return table, which


def prepare_training_data(
    ds: xr.Dataset, description: str | None = None, climatology: bool | str = True
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Normalised ``thetao`` of a CF dataset, its ocean mask and what is needed to undo it.

    Parameters
    ----------
    ds : xarray.Dataset
        Gridded potential temperature (°C or K; NaN on land and below the sea floor) with CF
        time, depth, latitude and longitude axes.
    description : str, optional
        What the data are (goes into the model card); defaults to the ``source`` attribute.
    climatology : bool or str
        What to subtract first; the prior then models anomalies about it:

        - ``True`` or ``"monthly"``: the monthly climatology of the data (see
          :mod:`xdepthdif.prior.climatology`), returned in ``info`` to be stored with the
          weights;
        - ``"shipped"``: xdepthdif's shipped climatology
          (:meth:`xdepthdif.background.ClimatologySpec.on_grid` at each time's day of year,
          on the data's levels and grid), which the sampler evaluates again, so nothing is
          stored;
        - ``False`` or ``"none"``: nothing.

    Returns
    -------
    data : numpy.ndarray
        float32 ``(time, levels, lat, lon)``, ``(T − mean) / std`` per level, where ``T`` is
        the temperature or its anomaly about the climatology; 0 where not ocean.
    mask : numpy.ndarray
        bool ``(levels, lat, lon)``: ``True`` where the field is finite at every time.
    info : dict
        ``mean``, ``std`` (per level, °C), ``depth`` (m), ``lat``, ``lon`` (degrees),
        ``doy`` (day of year per time), ``periodic`` (global in longitude),
        ``resolution_deg``, ``description``, ``anomalies`` (``"monthly"``, ``"shipped"`` or
        None: what was subtracted) and, with ``"monthly"``, ``climatology`` (float32
        ``(12, levels, lat, lon)``, °C, NaN where never ocean).

    Raises
    ------
    ValueError
        For another ``climatology``, or data with no point finite at every time.
    """
    anomalies = _anomaly_kind(climatology)
    name = find_thetao(ds)
    grid = discover_grid(ds)
    var = ds[name]
    offset = celsius_offset(var.attrs.get("units"), name=name)
    var = var.transpose(grid.time_name, grid.depth_name, grid.lat_name, grid.lon_name)
    x = np.array(var.values, dtype=np.float64)  # one copy, changed in place from here on
    x += offset
    lat, lon = grid.lat, grid.lon
    if lat.size > 1 and lat[0] > lat[-1]:  # south to north
        x, lat = x[:, :, ::-1], lat[::-1]
    depth = np.asarray(grid.depth, float)
    down = np.argsort(depth, kind="stable")  # top down
    if np.any(down != np.arange(depth.size)):
        x, depth = x[:, down], depth[down]
    order = np.argsort(lon, kind="stable")
    if np.any(order != np.arange(lon.size)):
        x, lon = x[..., order], lon[order]
    mask = np.isfinite(x).all(axis=0)
    if not mask.any():
        raise ValueError(f"'{name}' has no point that is finite at every time: nothing to learn.")
    doy = day_of_year(grid.time)
    clim = None
    if anomalies == "monthly":
        clim = monthly_climatology(np.where(mask[None], x, np.nan), doy)
        x -= clim[month_of(doy)]
    elif anomalies == "shipped":
        table, which = _shipped_climatology(doy, depth, lat, lon)
        for i, j in enumerate(which):
            x[i] -= table[j]
    nlev = x.shape[1]
    mean, std = np.zeros(nlev), np.ones(nlev)
    data = np.zeros(x.shape, np.float32)
    for k in range(nlev):
        vals = x[:, k][:, mask[k]]
        if vals.size:
            mean[k] = vals.mean()
            std[k] = max(float(vals.std()), 1e-3)
        elif k:
            mean[k], std[k] = mean[k - 1], std[k - 1]
        data[:, k] = np.where(mask[k], (x[:, k] - mean[k]) / std[k], 0.0)
    periodic, res = _is_global(lon)
    if not np.isfinite(res):
        res = float(np.median(np.abs(np.diff(lat)))) if lat.size > 1 else 1.0
    info = {
        "mean": mean,
        "std": std,
        "depth": depth,
        "lat": np.ascontiguousarray(lat, dtype=np.float64),
        "lon": np.ascontiguousarray(lon, dtype=np.float64),
        "doy": doy,
        "periodic": periodic,
        "resolution_deg": res,
        "description": description or str(ds.attrs.get("source", f"variable '{name}'")),
        "anomalies": anomalies,
    }
    if clim is not None:
        info["climatology"] = clim.astype(np.float32)
    return np.ascontiguousarray(data), mask, info


def random_patches(
    rng: np.random.Generator,
    n: int,
    size: tuple[int, int],
    shape: tuple[int, ...],
    periodic: bool = False,
) -> np.ndarray:
    """Draw ``n`` training windows as rows ``(time, y0, x0)``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of windows.
    size : tuple of int
        Window ``(height, width)`` in grid cells.
    shape : tuple of int
        ``(time, levels, lat, lon)`` of the data.
    periodic : bool
        The grid wraps in longitude: ``x0`` is anywhere and windows wrap around.

    Returns
    -------
    numpy.ndarray
        int64 ``(n, 3)``.
    """
    T, H, W = shape[0], shape[-2], shape[-1]
    h, w = size
    if h > H or w > W:
        raise ValueError(f"patch {size} is larger than the grid ({H}, {W}).")
    t = rng.integers(0, T, n)
    y0 = rng.integers(0, H - h + 1, n)
    x0 = rng.integers(0, W if periodic and w < W else W - w + 1, n)
    return np.stack([t, y0, x0], axis=1).astype(np.int64)


def take_patch(
    data: np.ndarray,
    mask: np.ndarray,
    info: Mapping[str, Any],
    window: np.ndarray,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Cut window ``(t, y0, x0)`` of ``size``: field, mask, lat, lon and day of year."""
    t, y0, x0 = (int(v) for v in window)
    h, w = size
    cols = np.arange(x0, x0 + w) % data.shape[-1]
    rows = slice(y0, y0 + h)
    return (
        data[t, :, rows][..., cols],
        mask[:, rows][..., cols],
        np.asarray(info["lat"])[rows],
        np.asarray(info["lon"])[cols],
        float(np.asarray(info["doy"])[t]),
    )
