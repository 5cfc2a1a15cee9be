"""The profile layout: validation and the quality-control tally.

Every reader (:func:`~xdepthdif.obs.read_en4`, :func:`~xdepthdif.obs.from_argo`,
:func:`~xdepthdif.obs.from_points`) returns, and :func:`validate_profiles` accepts, one layout:
dims ``("profile", "level")``; ``time``, ``lat``, ``lon`` on ``profile``; ``depth`` (m, positive
down) on ``(profile, level)``; ``thetao`` (°C) and optional ``thetao_error`` on
``(profile, level)``. ``attrs["xdepthdif_qc_tally"]`` is a JSON dict of counts in which
``profiles_read == profiles_used + sum(rejected_*)``: every profile read is used or counted.
Unit conversion and time decoding are in :mod:`xdepthdif.obs.units`.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset(
...     {"thetao": (("profile", "level"), [[285.15, 284.15], [99999.0, np.nan]],
...                 {"units": "K"})},
...     coords={"depth": (("profile", "level"), [[5.0, 50.0], [5.0, np.nan]], {"units": "m"}),
...             "time": ("profile", np.array(["2000-01-15", "2000-01-16"], "datetime64[ns]")),
...             "lat": ("profile", [10.0, 11.0]), "lon": ("profile", [350.0, 20.0])})
>>> out = validate_profiles(ds)
>>> out.thetao.values.round(2).tolist(), out.lon.values.tolist()
([[12.0, 11.0]], [-10.0])
>>> t = tally(out)
>>> t["profiles_read"], t["profiles_used"], t["rejected_no_valid_levels"]
(2, 1, 1)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr

from xdepthdif.errors import CalendarError, InputError, ProfileLayoutError

from .suspicious import (
    DEPTH_RANGE,
    THETAO_RANGE,
    duplicates,
    outside,
    refuse_above_surface,
    warn_bad_positions_and_times,
    warn_duplicates,
    warn_if_suspicious,
)
from .units import (
    FILL_THRESHOLD,
    decode_time,
    depth_to_metres,
    temperature_to_degc,
    time_missing,
)

TALLY_ATTR = "xdepthdif_qc_tally"
REQUIRED = ("thetao", "depth", "time", "lat", "lon")
GENERIC_REASONS = ("bad_position", "bad_time", "no_valid_levels")
GENERIC_LEVEL_REASONS = ("fill_or_nonfinite", "out_of_range")

_ATTRS = {
    "time": {"standard_name": "time"},
    "lat": {"units": "degrees_north", "standard_name": "latitude"},
    "lon": {"units": "degrees_east", "standard_name": "longitude"},
    "depth": {"units": "m", "positive": "down", "standard_name": "depth"},
    "thetao": {"units": "degC", "standard_name": "sea_water_potential_temperature"},
    "thetao_error": {"units": "degC", "long_name": "error (1 sd) of thetao"},
}
_ALIASES = {
    "thetao": ("potential_temperature", "theta", "temperature", "POTM_CORRECTED", "TEMP"),
    "depth": ("DEPTH", "DEPH_CORRECTED", "z", "lev", "PRES"),
    "time": ("TIME", "JULD", "date"),
    "lat": ("latitude", "LATITUDE"),
    "lon": ("longitude", "LONGITUDE"),
}
_READERS = "read_en4(path), from_argo(ds) or from_points(table)"


# ----------------------------------------------------------------------------------- tally
def tally(ds: xr.Dataset) -> dict[str, int]:
    """The quality-control tally of a profile dataset (``{}`` when it has none).

    >>> tally(xr.Dataset(attrs={TALLY_ATTR: '{"profiles_read": 3, "profiles_used": 3}'}))
    {'profiles_read': 3, 'profiles_used': 3}
    """
    raw = ds.attrs.get(TALLY_ATTR)
    if not raw:
        return {}
    return {str(k): int(v) for k, v in json.loads(raw).items()}


def merge_tallies(*tallies: Mapping[str, int]) -> dict[str, int]:
    """Sum tallies key by key (for datasets concatenated along ``profile``).

    >>> merge_tallies({"profiles_read": 2, "rejected_bad_time": 1}, {"profiles_read": 5})
    {'profiles_read': 7, 'rejected_bad_time': 1}
    """
    out: dict[str, int] = {}
    for t in tallies:
        for key, value in t.items():
            out[key] = out.get(key, 0) + int(value)
    return out


def with_tally(ds: xr.Dataset, counts: Mapping[str, int]) -> xr.Dataset:
    """A shallow copy of ``ds`` carrying ``counts`` as its tally (keys sorted, ints)."""
    out = ds.copy()
    out.attrs = dict(ds.attrs)
    out.attrs[TALLY_ATTR] = json.dumps({k: int(counts[k]) for k in sorted(counts)})
    return out


def concat_profiles(datasets: Iterable[xr.Dataset]) -> xr.Dataset:
    """Concatenate canonical profile datasets along ``profile``, padding ``level`` with NaN
    and summing their tallies.

    >>> a = validate_profiles(xr.Dataset(
    ...     {"thetao": (("profile", "level"), [[10.0]], {"units": "degC"})},
    ...     coords={"depth": (("profile", "level"), [[1.0]], {"units": "m"}),
    ...             "time": ("profile", np.array(["2000-01-01"], "datetime64[ns]")),
    ...             "lat": ("profile", [0.0]), "lon": ("profile", [0.0])}))
    >>> both = concat_profiles([a, a])
    >>> both.sizes["profile"], tally(both)["profiles_read"]
    (2, 2)
    """
    items = list(datasets)
    if not items:
        raise InputError("concat_profiles got no dataset; expected at least one profile dataset.")
    kinds = {ds["time"].dtype.kind for ds in items if ds.sizes["profile"]}
    if len(kinds) > 1:
        raise CalendarError(
            "cannot concatenate profiles whose times are partly datetime64 and partly cftime; "
            "expected one calendar. Convert them first (e.g. ds.convert_calendar('standard'))."
        )
    n_levels = max(ds.sizes["level"] for ds in items)
    has_platform = any("platform" in ds.coords for ds in items)
    padded = []
    for ds in items:
        ds = ds.pad(level=(0, n_levels - ds.sizes["level"])) if ds.sizes["level"] < n_levels else ds
        if has_platform and "platform" not in ds.coords:
            ds = ds.assign_coords(platform=("profile", np.full(ds.sizes["profile"], "")))
        padded.append(ds)
    out = xr.concat(
        padded,
        dim="profile",
        data_vars="all",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop_conflicts",
    )
    out.attrs = {k: v for k, v in items[0].attrs.items() if k != TALLY_ATTR}
    return with_tally(out, merge_tallies(*(tally(ds) for ds in items)))


def drop_duplicate_profiles(ds: xr.Dataset, *, stacklevel: int = 2) -> xr.Dataset:
    """Drop profiles of a canonical dataset that repeat an earlier one exactly (time, position
    and every valid level), counting them as ``rejected_duplicate`` with a
    :class:`~xdepthdif.errors.RejectedDataWarning`: for datasets concatenated after validation,
    such as the same file read twice.

    Parameters
    ----------
    ds : xr.Dataset
        A canonical profile dataset (from :func:`validate_profiles` or
        :func:`concat_profiles`).
    stacklevel : int
        As for :func:`warnings.warn`: 2 points the warning at the caller.

    Returns
    -------
    xr.Dataset
        ``ds`` without the repeats, its tally counting them (``ds`` itself when none).

    Examples
    --------
    >>> a = validate_profiles(xr.Dataset(
    ...     {"thetao": (("profile", "level"), [[10.0]], {"units": "degC"})},
    ...     coords={"depth": (("profile", "level"), [[1.0]], {"units": "m"}),
    ...             "time": ("profile", np.array(["2000-01-01"], "datetime64[ns]")),
    ...             "lat": ("profile", [0.0]), "lon": ("profile", [0.0])}))
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     once = drop_duplicate_profiles(concat_profiles([a, a]))
    >>> t = tally(once)
    >>> once.sizes["profile"], t["profiles_read"], t["profiles_used"], t["rejected_duplicate"]
    (1, 2, 1, 1)
    """
    depth = np.asarray(ds["depth"].transpose("profile", "level").values, dtype=np.float64)
    theta = np.asarray(ds["thetao"].transpose("profile", "level").values, dtype=np.float64)
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = np.asarray(ds["lon"].values, dtype=np.float64)  # canonical: already -180..180
    repeat = duplicates(
        ds["time"].values, lat, lon, np.where(np.isfinite(theta), depth, np.nan), theta
    )
    n = int(repeat.sum())
    if not n:
        return ds
    warn_duplicates(n, stacklevel=stacklevel + 1)
    counts = tally(ds) or {"profiles_read": ds.sizes["profile"]}
    counts["rejected_duplicate"] = counts.get("rejected_duplicate", 0) + n
    counts["profiles_used"] = ds.sizes["profile"] - n
    return with_tally(ds.isel(profile=np.flatnonzero(~repeat)), counts)


# ------------------------------------------------------------------------------ validation
def _check_layout(ds: xr.Dataset) -> None:
    if not isinstance(ds, xr.Dataset):
        kind = type(ds).__name__
        hint = " (one variable; profiles need several)" if kind == "DataArray" else ""
        raise ProfileLayoutError(
            f"observations must be an xarray.Dataset in the profile layout, not {kind}{hint}. "
            f"Build one with a reader: {_READERS}."
        )
    dims = set(ds.dims)
    if not {"profile", "level"} <= dims:
        hint = "a reader"
        if "N_PROF" in dims and "POTM_CORRECTED" in ds.variables:
            hint = "read_en4(path) (this looks like a raw EN4 file)"
        elif "N_POINTS" in dims or "PRES" in ds.variables:
            hint = "from_argo(ds) (this looks like Argo data)"
        elif len(dims) == 1:
            hint = "from_points(table) (this looks like a table of points)"
        raise ProfileLayoutError(
            f"observations have dims {sorted(map(str, dims))}; expected ('profile', 'level'). "
            f"Build the profile layout with {hint}; the readers are {_READERS}."
        )
    missing = [n for n in REQUIRED if n not in ds.variables]
    if missing:
        found = sorted(map(str, ds.variables))
        renames = {a: n for n in missing for a in _ALIASES[n] if a in ds.variables}
        hint = f" Rename with ds.rename({renames})." if renames else ""
        raise ProfileLayoutError(
            f"observations lack {missing}; found variables {found}; expected {list(REQUIRED)}."
            f"{hint} Or build the layout with {_READERS}."
        )
    for n in ("time", "lat", "lon"):
        if ds[n].dims != ("profile",):
            raise ProfileLayoutError(f"{n} has dims {ds[n].dims}; expected ('profile',).")
    for n in ("thetao", "depth"):
        if "level" not in ds[n].dims or not set(ds[n].dims) <= {"profile", "level"}:
            raise ProfileLayoutError(
                f"{n} has dims {ds[n].dims}; expected ('profile', 'level') or ('level',)."
            )


def _grid2d(ds: xr.Dataset, name: str) -> np.ndarray:
    da = ds[name]
    if "profile" not in da.dims:
        da = da.expand_dims(profile=ds.sizes["profile"])
    return np.asarray(da.transpose("profile", "level").values, dtype=np.float64)


def _bad(values: np.ndarray, attrs: Mapping | None = None, *, exact: bool = False) -> np.ndarray:
    """Non-finite values, declared fill values, and 99999 (or anything beyond, unless
    ``exact``: depths in cm legitimately exceed 99999)."""
    big = np.abs(values) == FILL_THRESHOLD if exact else np.abs(values) >= FILL_THRESHOLD
    out = ~np.isfinite(values) | big
    for key in ("_FillValue", "missing_value"):
        if attrs is not None and attrs.get(key) is not None:
            out |= np.isin(values, np.asarray(attrs[key], dtype=np.float64).ravel())
    return out


def _error_grid(ds: xr.Dataset, valid: np.ndarray) -> np.ndarray:
    da = ds["thetao_error"]
    if not set(da.dims) <= {"profile", "level"} or "profile" not in da.dims:
        raise ProfileLayoutError(
            f"thetao_error has dims {da.dims}; expected ('profile',) or ('profile', 'level')."
        )
    raw = np.asarray(da.values, dtype=np.float64)
    raw = np.where(_bad(raw, da.attrs), np.nan, raw)
    err = temperature_to_degc(raw, da.attrs.get("units"), name="thetao_error", difference=True)
    if np.any(err[np.isfinite(err)] < 0):
        raise InputError(
            f"thetao_error has {int(np.sum(err < 0))} negative values; expected standard "
            "deviations >= 0 °C. Take the absolute value or drop them."
        )
    if da.dims == ("profile",):
        err = np.broadcast_to(err[:, None], valid.shape)
    elif da.dims == ("level", "profile"):
        err = err.T
    return np.where(valid, err, np.nan)


def validate_profiles(ds: xr.Dataset) -> xr.Dataset:
    """Check a profile dataset and return it in canonical form.

    Converts units (kelvin → °C, cm → m, ``positive='up'`` → down), wraps longitudes into
    [-180, 180), turns fill values (``abs >= 99999``), ±inf and NaN into NaN, drops levels with
    ``thetao`` outside [-2.5, 40] °C or depth outside [0, 12000] m, and drops profiles with a bad
    position, a missing time or no valid level. Every drop is counted in the tally (an existing
    tally is carried on; level counts cover profiles with a good position and time).

    Parameters
    ----------
    ds : xr.Dataset
        Dims ``(profile, level)`` with ``thetao``, ``depth``, ``time``, ``lat``, ``lon``.

    Returns
    -------
    xr.Dataset
        The canonical layout (see the module docstring), trailing empty levels removed.

    Raises
    ------
    ProfileLayoutError, UnitsError, InputError, CalendarError

    Examples
    --------
    >>> bad = xr.Dataset({"thetao": (("profile", "level"), [[10.0]])},
    ...                  coords={"depth": (("profile", "level"), [[1.0]], {"units": "m"}),
    ...                          "time": ("profile", np.array(["2000-01-01"], "datetime64[ns]")),
    ...                          "lat": ("profile", [0.0]), "lon": ("profile", [0.0])})
    >>> validate_profiles(bad)
    Traceback (most recent call last):
    ...
    xdepthdif.errors.UnitsError: thetao has no 'units' attribute; expected °C or kelvin. ...
    """
    _check_layout(ds)
    n = ds.sizes["profile"]
    times = decode_time(ds["time"].values, ds["time"].attrs)
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = np.asarray(ds["lon"].values, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # ±inf stays a bad position
        lon_wrapped = np.mod(lon + 180.0, 360.0) - 180.0  # -20.5 and 339.5 are one place
    theta_raw, depth_raw = _grid2d(ds, "thetao"), _grid2d(ds, "depth")
    pad = np.isnan(theta_raw) & np.isnan(depth_raw)
    fill = ~pad & (
        _bad(theta_raw, ds["thetao"].attrs) | _bad(depth_raw, ds["depth"].attrs, exact=True)
    )
    theta = temperature_to_degc(np.where(fill, np.nan, theta_raw), ds["thetao"].attrs.get("units"))
    depth = depth_to_metres(np.where(fill, np.nan, depth_raw), ds["depth"].attrs)
    fill |= ~pad & (np.abs(depth) >= FILL_THRESHOLD)
    theta, depth = np.where(fill, np.nan, theta), np.where(fill, np.nan, depth)
    refuse_above_surface(depth, ds["depth"].attrs)

    bad_pos = ~np.isfinite(lat) | (np.abs(lat) > 90) | ~np.isfinite(lon) | (np.abs(lon) > 360)
    bad_time = time_missing(times) & ~bad_pos
    row_ok = ~(bad_pos | bad_time)
    oor = ~fill & ~pad & (outside(theta, THETAO_RANGE) | outside(depth, DEPTH_RANGE))
    valid = np.isfinite(theta) & np.isfinite(depth) & ~oor
    no_levels = row_ok & ~valid.any(axis=1)
    duplicate = duplicates(times, lat, lon_wrapped, np.where(valid, depth, np.nan), theta)
    duplicate &= row_ok
    duplicate &= ~no_levels
    keep = row_ok & ~no_levels & ~duplicate
    counts = {
        "rejected_bad_position": int(bad_pos.sum()),
        "rejected_bad_time": int(bad_time.sum()),
        "rejected_no_valid_levels": int(no_levels.sum()),
        "rejected_duplicate": int(duplicate.sum()),
        "levels_rejected_fill_or_nonfinite": int((fill & row_ok[:, None]).sum()),
        "levels_rejected_out_of_range": int((oor & row_ok[:, None]).sum()),
    }
    warn_bad_positions_and_times(lat, lon, bad_pos, bad_time)
    warn_if_suspicious(counts, oor, valid, depth, theta, row_ok)
    error = _error_grid(ds, valid) if "thetao_error" in ds.variables else None

    used_levels = np.flatnonzero(valid[keep].any(axis=0))
    n_lev = int(used_levels[-1]) + 1 if used_levels.size else 0
    sel = (keep, slice(0, n_lev))
    lon_out = lon_wrapped[keep]
    grid = ("profile", "level")
    coords = {
        n: ("profile", v, _ATTRS[n])
        for n, v in (("time", times[keep]), ("lat", lat[keep]), ("lon", lon_out))
    }
    coords["depth"] = (grid, np.where(valid, depth, np.nan)[sel], _ATTRS["depth"])
    if "platform" in ds.variables and ds["platform"].dims == ("profile",):
        coords["platform"] = ("profile", np.asarray(ds["platform"].values).astype(str)[keep])
    data_vars = {"thetao": (grid, np.where(valid, theta, np.nan)[sel], _ATTRS["thetao"])}
    if error is not None:
        data_vars["thetao_error"] = (grid, np.ascontiguousarray(error[sel]), _ATTRS["thetao_error"])
    out = xr.Dataset(data_vars, coords=coords, attrs=dict(ds.attrs))
    return with_tally(out, _carry_tally(tally(ds), counts, n, int(keep.sum())))


def _carry_tally(prior: dict[str, int], counts: dict[str, int], n: int, kept: int) -> dict:
    prior = dict(prior)
    read = prior.pop("profiles_read", n)
    used_before = prior.pop("profiles_used", n)
    if n < used_before:
        counts["rejected_removed_before_validation"] = used_before - n
    elif n > used_before:
        read += n - used_before
    merged = merge_tallies(prior, counts)
    merged.update(profiles_read=read, profiles_used=kept)
    return merged
