"""Writing Met Office EN4 profile files, for fixtures and tests.

The file layout (dims, variable names, dtypes, attributes, fill value) is the schema of
:mod:`xdepthdif.obs.en4`, whose module docstring says what was verified against the real files;
:func:`write_en4` fills it from the profile layout and :func:`write_en4_months` writes one file
per calendar month, named by :func:`~xdepthdif.obs.en4.en4_filename`.

Examples
--------
>>> import tempfile, numpy as np, xarray as xr
>>> from xdepthdif.obs import read_en4
>>> prof = xr.Dataset(
...     {"thetao": (("profile", "level"), [[12.0, 8.0]], {"units": "degC"})},
...     coords={"depth": (("profile", "level"), [[5.0, 500.0]], {"units": "m"}),
...             "time": ("profile", np.array(["2010-01-15"], "datetime64[ns]")),
...             "lat": ("profile", [45.0]), "lon": ("profile", [-20.0])})
>>> read_en4(write_en4(tempfile.mkdtemp() + "/f.nc", prof)).thetao.values.tolist()
[[12.0, 8.0]]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from xdepthdif.errors import CalendarError, InputError

from .en4 import _FIELDS, _SCHEMA, _STRINGS, EN4_FILL, en4_filename
from .units import decode_time, depth_to_metres, temperature_to_degc, time_missing


def write_en4(
    path: str | os.PathLike,
    profiles: xr.Dataset,
    *,
    format: str = "NETCDF4",
    n_levels: int | None = None,
    qc: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write profiles as a Met Office EN4 profile file.

    Same dims, variable names, dtypes, single-character QC flags ('1' good, '4' bad, '0' on
    storage levels without data), QC bit fields and fill value 99999 as the real files (the
    :mod:`xdepthdif.obs.en4` docstring says what was verified). Levels holding data are packed
    to the front of ``N_LEVELS``, as in EN4. ``TEMP`` (in situ) is computed from ``thetao`` with
    gsw, using the salinity ``so`` when the profiles have it and 35 otherwise;
    ``PSAL_CORRECTED`` is ``so`` or the fill value. ``thetao_error`` is not written (EN4 has no
    such variable). Values are written as given: nothing is dropped, so tests can inject bad data.

    Parameters
    ----------
    path : path
        Output file.
    profiles : xr.Dataset
        Profile layout (``profile``, ``level``) with units on ``thetao`` and ``depth``.
    format : {"NETCDF4", "NETCDF3_CLASSIC"}
        netCDF flavour; EN4 months exist in both.
    n_levels : int, optional
        Width of ``N_LEVELS`` (e.g. 400); by default the most levels any profile holds.
    qc : mapping, optional
        QC to inject: ``POSITION_QC``, ``JULD_QC``, ``PROFILE_*_QC`` and ``QC_FLAGS_PROFILES``
        per profile; ``*_CORRECTED_QC`` and ``QC_FLAGS_LEVELS`` as ``(profile, level)`` arrays
        in the input's level order. Characters as ``b"1"``/``"4"``, bit fields as integers.

    Returns
    -------
    Path
        The file written.
    """
    if format not in ("NETCDF4", "NETCDF4_CLASSIC", "NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET"):
        raise InputError(f"format={format!r}; expected 'NETCDF4' or 'NETCDF3_CLASSIC'.")
    data = _profile_arrays(profiles)
    present = np.isfinite(data["depth"]) | np.isfinite(data["theta"])
    width = int(present.sum(axis=1).max(initial=0))
    n_levels = max(width, 1) if n_levels is None else int(n_levels)
    if n_levels < width:
        raise InputError(
            f"n_levels={n_levels}, but a profile holds {width} levels; expected "
            f"n_levels >= {width}."
        )
    order = np.argsort(~present, axis=1, kind="stable")

    def pack(arr, fill):
        arr = np.take_along_axis(np.asarray(arr), order, axis=1)[:, :n_levels]
        return np.pad(arr, ((0, 0), (0, n_levels - arr.shape[1])), constant_values=fill)

    values = _default_qc(data, pack(present, False))
    for name, arr in (qc or {}).items():
        values[name] = _injected(name, arr, values, pack)
    path = Path(path)
    with netCDF4.Dataset(path, "w", format=format) as nc:
        _define(nc, len(data["lat"]), n_levels)
        _fill_metadata(nc, data)
        for name, arr in values.items():
            nc[name][:] = arr
        for name, key in _FIELDS.items():
            field = pack(data[key], np.nan)
            nc[name][:] = np.where(np.isfinite(field), field, EN4_FILL)
    return path


def _profile_arrays(profiles: xr.Dataset) -> dict[str, np.ndarray]:
    import gsw

    if not {"profile", "level"} <= set(profiles.dims):
        raise InputError(f"write_en4 needs the profile layout; got dims {sorted(profiles.dims)}.")
    p = profiles.transpose("profile", "level", ...)
    theta = temperature_to_degc(p["thetao"].values, p["thetao"].attrs.get("units"))
    depth = depth_to_metres(np.broadcast_to(p["depth"].values, theta.shape), p["depth"].attrs)
    lat, lon = (np.asarray(p[n].values, dtype=np.float64) for n in ("lat", "lon"))
    so = np.asarray(p["so"].values, dtype=np.float64) if "so" in p else None
    pres = gsw.p_from_z(-depth, lat[:, None])
    sa = gsw.SA_from_SP(35.0 if so is None else so, pres, lon[:, None], lat[:, None])
    temp = gsw.t_from_CT(sa, gsw.CT_from_pt(sa, theta), pres)
    platform = p["platform"].values.astype(str) if "platform" in p else np.full(lat.size, "")
    psal = np.full(theta.shape, np.nan) if so is None else so
    juld = _juld(p["time"].values, p["time"].attrs)
    return dict(
        theta=theta,
        depth=depth,
        temp=temp,
        lat=lat,
        lon=lon,
        psal=psal,
        juld=juld,
        platform=platform,
        has_so=so is not None,
    )


def _juld(times: np.ndarray, attrs: Mapping) -> np.ndarray:
    times = decode_time(times, attrs)
    missing = time_missing(times)
    if times.dtype.kind == "M":
        days = (times - np.datetime64("1950-01-01", "ns")) / np.timedelta64(1, "D")
        return np.where(missing, EN4_FILL, days)
    cal = {getattr(t, "calendar", "standard") for t in times[~missing]}
    if cal - {"standard", "gregorian", "proleptic_gregorian"}:
        raise CalendarError(
            f"profile times use calendar {sorted(cal)}; EN4 files are "
            "gregorian. Convert with ds.convert_calendar('standard')."
        )
    import cftime

    days = np.full(times.shape, EN4_FILL)
    days[~missing] = cftime.date2num(list(times[~missing]), "days since 1950-01-01", "standard")
    return days


def _default_qc(data: dict, has: np.ndarray) -> dict[str, np.ndarray]:
    n = len(data["lat"])
    good, unset = np.full(n, b"1", dtype="S1"), np.full(n, b"0", dtype="S1")
    levels = np.where(has, b"1", b"0").astype("S1")
    out = {name: good for name in ("POSITION_QC", "JULD_QC", "PROFILE_DEPH_QC", "PROFILE_POTM_QC")}
    out |= {"DEPH_CORRECTED_QC": levels, "POTM_CORRECTED_QC": levels}
    out["PROFILE_PSAL_QC"] = good if data["has_so"] else unset
    out["PSAL_CORRECTED_QC"] = levels if data["has_so"] else np.full(has.shape, b"0", "S1")
    out["QC_FLAGS_PROFILES"] = np.zeros(n, np.int32)
    out["QC_FLAGS_LEVELS"] = np.zeros(has.shape, np.int32)
    return out


def _injected(name: str, arr, defaults: dict, pack) -> np.ndarray:
    if name not in defaults:
        raise InputError(f"qc has {name!r}; expected some of {sorted(defaults)}.")
    arr, want = np.asarray(arr), defaults[name].shape
    if name.startswith("QC_FLAGS"):
        arr, fill = arr.astype(np.int32), np.int32(0)
    else:
        arr = np.char.encode(arr.astype(str), "ascii") if arr.dtype.kind in "UO" else arr
        arr, fill = arr.astype("S1"), b"0"
    if len(want) == 1 and arr.shape == want:
        return arr
    if len(want) == 2 and arr.ndim == 2 and arr.shape[0] == want[0]:
        return pack(arr, fill)
    raise InputError(
        f"qc[{name!r}] has shape {arr.shape}; expected "
        f"{'(profile,)' if len(want) == 1 else '(profile, level)'} = {want}."
    )


def _define(nc: netCDF4.Dataset, n_prof: int, n_levels: int) -> None:
    sizes = {**_STRINGS, "N_PROF": n_prof, "N_PARAM": 3, "N_LEVELS": n_levels, "N_CALIB": 1}
    for name, size in (*sizes.items(), ("N_HISTORY", None)):
        nc.createDimension(name, size)
    for name, dtype, dims, attrs in _SCHEMA:
        attrs = dict(attrs)
        fill = attrs.pop("_FillValue", None)
        var = nc.createVariable(
            name, dtype, dims, fill_value=None if fill is None else np.array(fill, dtype=dtype)
        )
        var.setncatts(attrs)
    nc.title = "EN4 quality controlled ocean profiles (EN.4.2.2, g10)"
    nc.history = f"written by xdepthdif.obs.write_en4 {datetime.now(UTC):%Y-%m-%d}"


def _chars(strings, width: int) -> np.ndarray:
    return netCDF4.stringtochar(np.asarray(strings, dtype=f"S{width}"))


def _fill_metadata(nc: netCDF4.Dataset, data: dict) -> None:
    n = len(data["lat"])
    for name, _, dims, _ in _SCHEMA:  # blanks first, as in files with no metadata
        if dims[0] == "N_PROF" and dims[-1] in _STRINGS:
            nc[name][:] = np.full(tuple(nc.dimensions[d].size for d in dims), b" ", dtype="S1")
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    for name, text in (
        ("DATA_TYPE", "EN4 profiles"),
        ("FORMAT_VERSION", "2.2"),
        ("HANDBOOK_VERSION", "1.2"),
        ("REFERENCE_DATE_TIME", "19500101000000"),
        ("DATE_CREATION", now),
        ("DATE_UPDATE", now),
    ):
        nc[name][:] = _chars([text], nc[name].shape[0])[0]
    nc["PLATFORM_NUMBER"][:] = _chars([s[:8] for s in data["platform"]], 8)
    params = np.broadcast_to(np.array(["DEPH", "TEMP", "PSAL"]), (n, 3))
    nc["STATION_PARAMETERS"][:] = _chars(params, 16)
    nc["PARAMETER"][:] = _chars(params[:, None, :], 16)
    nc["DIRECTION"][:] = np.full(n, b"A", dtype="S1")
    nc["DATA_MODE"][:] = np.full(n, b"D", dtype="S1")
    nc["JULD"][:] = nc["JULD_LOCATION"][:] = data["juld"]
    nc["LATITUDE"][:] = np.where(np.isfinite(data["lat"]), data["lat"], EN4_FILL)
    nc["LONGITUDE"][:] = np.where(np.isfinite(data["lon"]), data["lon"], EN4_FILL)
    nc["CYCLE_NUMBER"][:] = np.zeros(n, np.int32)


def write_en4_months(profiles: xr.Dataset, directory: str | os.PathLike, **kw) -> list[Path]:
    """Write one EN4 file per calendar month, named as the Met Office names them.

    ``kw`` goes to :func:`write_en4`; per-profile ``qc`` arrays are split with the profiles.

    >>> import tempfile, numpy as np, xarray as xr
    >>> prof = xr.Dataset(
    ...     {"thetao": (("profile", "level"), [[12.0], [11.0]], {"units": "degC"})},
    ...     coords={"depth": (("profile", "level"), [[5.0], [5.0]], {"units": "m"}),
    ...             "time": ("profile", np.array(["2010-01-15", "2010-02-03"], "datetime64[ns]")),
    ...             "lat": ("profile", [45.0, 46.0]), "lon": ("profile", [-20.0, -21.0])})
    >>> [p.name for p in write_en4_months(prof, tempfile.mkdtemp())]
    ['EN.4.2.2.f.profiles.g10.201001.nc', 'EN.4.2.2.f.profiles.g10.201002.nc']
    """
    times = decode_time(profiles["time"].values, profiles["time"].attrs)
    if (missing := time_missing(times)).any():
        raise InputError(
            f"{int(missing.sum())} profiles have no time, so no month; expected a "
            "time on every profile. Drop them first (validate_profiles does)."
        )
    if times.dtype.kind == "M":
        ym = times.astype("datetime64[M]").astype(np.int64)
        keys = np.stack([ym // 12 + 1970, ym % 12 + 1], axis=1)
    else:
        keys = np.array([[t.year, t.month] for t in times], dtype=np.int64).reshape(-1, 2)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for year, month in np.unique(keys, axis=0):
        sel = np.flatnonzero((keys[:, 0] == year) & (keys[:, 1] == month))
        month_kw = dict(kw)
        if month_kw.get("qc") is not None:
            month_kw["qc"] = {k: np.asarray(v)[sel] for k, v in month_kw["qc"].items()}
        part = profiles.isel(profile=sel)
        out.append(write_en4(directory / en4_filename(year, month), part, **month_kw))
    return out
