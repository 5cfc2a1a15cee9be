"""Tables of points (CTD casts, glider dives, hand-made fixtures) into the profile layout.

Points that share ``(time, lat, lon)`` become one profile, their levels sorted by depth.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({
...     "time": pd.to_datetime(["2001-05-01"] * 3), "lat": [10.0] * 3, "lon": [200.0] * 3,
...     "depth": [100.0, 5.0, 50.0], "thetao": [15.0, 25.0, 20.0]})
>>> ds = from_points(table, units={"thetao": "degC", "depth": "m"})
>>> ds.depth.values.tolist(), ds.thetao.values.tolist(), ds.lon.values.tolist()
([[5.0, 50.0, 100.0]], [[25.0, 20.0, 15.0]], [-160.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from xdepthdif.errors import InputError, ProfileLayoutError, UnitsError

from .layout import validate_profiles, with_tally
from .units import decode_time

_COLUMNS = ("time", "lat", "lon", "depth", "thetao")


def group_points(
    keys: Sequence[np.ndarray], order_by: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """Group points into profiles by equal keys and rank them within each profile.

    Returns ``(profile, level, n_profiles, n_levels, first)``: the profile and level index of
    every point, the array sizes, and the index of the first point (smallest ``order_by``,
    NaN last) of each profile.

    >>> p, lv, n_p, n_l, first = group_points([np.array([1, 2, 1])], np.array([9.0, 1.0, 3.0]))
    >>> p.tolist(), lv.tolist(), n_p, n_l, first.tolist()
    ([0, 1, 0], [1, 0, 0], 2, 2, [2, 1])
    """
    n = len(order_by)
    if n == 0:
        return np.zeros(0, int), np.zeros(0, int), 0, 0, np.zeros(0, int)
    codes = np.stack([pd.factorize(np.asarray(k), use_na_sentinel=False)[0] for k in keys], 1)
    _, profile = np.unique(codes, axis=0, return_inverse=True)
    profile = profile.ravel()
    sort_key = np.where(np.isfinite(order_by), order_by, np.inf)
    order = np.lexsort((sort_key, profile))
    sorted_prof = profile[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_prof)) + 1]
    sizes = np.diff(np.r_[start, n])
    level = np.empty(n, dtype=int)
    level[order] = np.arange(n) - np.repeat(start, sizes)
    return profile, level, start.size, int(sizes.max()), order[start]


def scatter(
    values: np.ndarray, profile: np.ndarray, level: np.ndarray, shape: tuple[int, int], fill=np.nan
) -> np.ndarray:
    """Place point values into a ``(profile, level)`` array."""
    values = np.asarray(values)
    dtype = np.float64 if values.dtype.kind in "fiub" else values.dtype
    out = np.full(shape, fill, dtype=dtype)
    out[profile, level] = values
    return out


def _columns(table, units: Mapping[str, str] | None) -> tuple[dict, dict]:
    if isinstance(table, pd.DataFrame):
        cols = {str(c): table[c].to_numpy() for c in table.columns}
        attrs: dict[str, dict] = {c: {} for c in cols}
    elif isinstance(table, xr.Dataset):
        if len(table.dims) != 1:
            raise ProfileLayoutError(
                f"from_points needs a 1-D table; got dims {dict(table.sizes)}. A dataset with "
                "dims (profile, level) is already in the profile layout: use validate_profiles."
            )
        cols = {str(n): table[n].values for n in table.variables if table[n].ndim == 1}
        attrs = {str(n): dict(table[n].attrs) for n in table.variables}
    else:
        raise InputError(
            f"from_points got {type(table).__name__}; expected a pandas DataFrame "
            "or a 1-D xarray Dataset of points."
        )
    missing = [c for c in _COLUMNS if c not in cols]
    if missing:
        raise InputError(
            f"the table lacks columns {missing}; found {sorted(cols)}; expected "
            f"{list(_COLUMNS)} (and optionally thetao_error)."
        )
    for name in ("thetao", "depth", "thetao_error"):
        if name in cols and units and name in units:
            attrs[name] = {**attrs.get(name, {}), "units": units[name]}
        if name in cols and not attrs.get(name, {}).get("units"):
            raise UnitsError(
                f"no units for {name!r}; expected them in the Dataset attrs or as "
                f"from_points(table, units={{'thetao': 'degC', 'depth': 'm'}})."
            )
    return cols, attrs


def from_points(
    table: pd.DataFrame | xr.Dataset, *, units: Mapping[str, str] | None = None
) -> xr.Dataset:
    """Turn a table of points into the profile layout.

    Parameters
    ----------
    table : pandas.DataFrame or xr.Dataset
        Columns (or 1-D variables) ``time``, ``lat``, ``lon``, ``depth``, ``thetao`` and
        optionally ``thetao_error``; one row per observation.
    units : mapping, optional
        Units of ``thetao``, ``depth`` (and ``thetao_error``), e.g.
        ``{"thetao": "degC", "depth": "m"}``. Required for DataFrames (there is no default);
        for Datasets it overrides the variables' ``units`` attributes.

    Returns
    -------
    xr.Dataset
        Canonical profile layout: points with identical ``(time, lat, lon)`` form one profile,
        sorted by depth.

    Examples
    --------
    >>> import pandas as pd
    >>> from_points(pd.DataFrame({"time": pd.to_datetime(["2001-05-01"]), "lat": [1.0],
    ...                           "lon": [2.0], "depth": [5.0], "thetao": [290.0]}))
    Traceback (most recent call last):
    ...
    xdepthdif.errors.UnitsError: no units for 'thetao'; ...
    """
    cols, attrs = _columns(table, units)
    times = decode_time(cols["time"], attrs.get("time", {}))
    lat = np.asarray(cols["lat"], dtype=np.float64)
    lon = np.asarray(cols["lon"], dtype=np.float64)
    depth = np.asarray(cols["depth"], dtype=np.float64)
    prof, lev, n_prof, n_lev, first = group_points([times, lat, lon], depth)
    shape = (n_prof, n_lev)
    data_vars = {
        "thetao": (("profile", "level"), scatter(cols["thetao"], prof, lev, shape), attrs["thetao"])
    }
    if "thetao_error" in cols:
        data_vars["thetao_error"] = (
            ("profile", "level"),
            scatter(cols["thetao_error"], prof, lev, shape),
            attrs["thetao_error"],
        )
    coords = {
        "depth": (("profile", "level"), scatter(depth, prof, lev, shape), attrs["depth"]),
        "time": ("profile", times[first]),
        "lat": ("profile", lat[first]),
        "lon": ("profile", lon[first]),
    }
    ds = xr.Dataset(data_vars, coords=coords)
    return validate_profiles(with_tally(ds, {"profiles_read": n_prof, "profiles_used": n_prof}))
