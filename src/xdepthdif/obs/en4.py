"""Met Office EN4 profile files: reading with quality control, and writing EN4-format files.

What was checked about the real files (``EN.4.2.2.f.profiles.g10.YYYYMM.nc``), and where:

- Variable names and meaning, QC semantics (``POSITION_QC``/``PROFILE_POTM_QC`` '4' rejects the
  profile, ``POTM_CORRECTED_QC`` '4' the level, ``QC_FLAGS_*`` bit fields): the Met Office
  page "EN4.2.0 ... Profile files" (hadleyserver.metoffice.gov.uk/en4/en4-0-2-profile-file-
  format.html). Bit 0 of ``QC_FLAGS_PROFILES``/``QC_FLAGS_LEVELS`` rejects temperature, bit 1
  salinity, bits 2-16 and 20-29 are temperature and salinity reasons: COAsT
  (``coast/data/profile.py``, ``calculate_all_en4_qc_flags``).
- The full variable list of a g10 file: a script reading EN.4.2.2.f.profiles.g10 files that lists
  the 54 variables it keeps or drops. We write all of them except the three g10 XBT
  variables ``instrument_type``, ``thermal_corrections``, ``depth_corrections``, whose dims and
  dtypes we could not confirm.
- ``REFERENCE_DATE_TIME`` is ``char(DATE_TIME=14)`` = ``"19500101000000"``; ``LATITUDE``,
  ``LONGITUDE``, ``DEPH_CORRECTED``, ``POTM_CORRECTED`` carry ``valid_min``, ``valid_max`` and
  ``_FillValue``; depth and temperatures are read as single precision, positions as double:
  LETKF ``read_en4.f90`` and FESOM-PDAF ``write_profiles_pdaf.F90``. ``JULD`` units
  ``"days since 1950-01-01 00:00:00 utc"`` and float32 data / float64 JULD, LAT, LON with
  ``|S1`` QC: DepthDif's EN4 test fixture and DESIGN §4. Fill value 99999: DESIGN §4.
- Not verified (our choice, Argo-format style): attribute texts, the widths of the metadata
  strings, ``N_PARAM = 3``, ``N_CALIB = 1``, and QC ``'0'`` on storage levels holding no data.

Examples
--------
>>> en4_filename(2021, 3)
'EN.4.2.2.f.profiles.g10.202103.nc'
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from xdepthdif.errors import CalendarError, FileFormatError, InputError, XDepthDifWarning

from .layout import (
    concat_profiles,
    decode_time,
    depth_to_metres,
    temperature_to_degc,
    time_missing,
    validate_profiles,
    with_tally,
)

EN4_FILL = 99999.0
JULD_UNITS = "days since 1950-01-01 00:00:00 utc"
_REQUIRED = ("JULD", "LATITUDE", "LONGITUDE", "DEPH_CORRECTED", "POTM_CORRECTED")
_PROFILE_QC = ("POSITION_QC", "JULD_QC", "PROFILE_DEPH_QC", "PROFILE_POTM_QC", "PROFILE_PSAL_QC")
_LEVEL_QC = ("DEPH_CORRECTED_QC", "POTM_CORRECTED_QC", "PSAL_CORRECTED_QC")
_STRINGS = {"STRING256": 256, "STRING64": 64, "STRING32": 32, "STRING16": 16, "STRING8": 8,
            "STRING4": 4, "STRING2": 2, "DATE_TIME": 14}
_P, _L, _CAL, _H = ("N_PROF",), ("N_PROF", "N_LEVELS"), ("N_PROF", "N_CALIB", "N_PARAM"), (
    "N_HISTORY", "N_PROF")
_FILL = {"_FillValue": EN4_FILL}
# name, dtype, dims, attributes (in the order of the real files' variable list)
_SCHEMA: list[tuple[str, str, tuple[str, ...], dict]] = [
    ("DATA_TYPE", "S1", ("STRING16",), {"comment": "Data type"}),
    ("FORMAT_VERSION", "S1", ("STRING4",), {"comment": "File format version"}),
    ("HANDBOOK_VERSION", "S1", ("STRING4",), {"comment": "Data handbook version"}),
    ("REFERENCE_DATE_TIME", "S1", ("DATE_TIME",),
     {"comment": "Date of reference for Julian days", "conventions": "YYYYMMDDHHMISS"}),
    ("DATE_CREATION", "S1", ("DATE_TIME",), {"comment": "Date of file creation"}),
    ("DATE_UPDATE", "S1", ("DATE_TIME",), {"long_name": "Date of update of this file"}),
    ("PLATFORM_NUMBER", "S1", (*_P, "STRING8"), {"long_name": "Float unique identifier"}),
    ("PROJECT_NAME", "S1", (*_P, "STRING64"), {"comment": "Name of the project"}),
    ("PI_NAME", "S1", (*_P, "STRING64"), {"comment": "Name of the principal investigator"}),
    ("STATION_PARAMETERS", "S1", (*_P, "N_PARAM", "STRING16"),
     {"long_name": "List of available parameters for the station"}),
    ("CYCLE_NUMBER", "i4", _P, {"long_name": "Float cycle number", "_FillValue": 99999}),
    ("DIRECTION", "S1", _P, {"long_name": "Direction of the station profiles"}),
    ("DATA_CENTRE", "S1", (*_P, "STRING2"), {"long_name": "Data centre in charge of float data"}),
    ("DC_REFERENCE", "S1", (*_P, "STRING32"), {"long_name": "Station unique identifier"}),
    ("DATA_STATE_INDICATOR", "S1", (*_P, "STRING4"), {"long_name": "Degree of processing"}),
    ("DATA_MODE", "S1", _P, {"long_name": "Delayed mode or real time data"}),
    ("INST_REFERENCE", "S1", (*_P, "STRING64"), {"long_name": "Instrument type"}),
    ("WMO_INST_TYPE", "S1", (*_P, "STRING4"), {"long_name": "Coded instrument type"}),
    ("JULD", "f8", _P, {"long_name": "Julian day (UTC) of the location relative to "
                                     "REFERENCE_DATE_TIME", "units": JULD_UNITS,
                        "conventions": "Relative julian days with decimal part (as parts of day)",
                        **_FILL}),
    ("JULD_QC", "S1", _P, {"long_name": "Quality on Date and Time"}),
    ("JULD_LOCATION", "f8", _P, {"long_name": "Julian day (UTC) of the location relative to "
                                              "REFERENCE_DATE_TIME", "units": JULD_UNITS, **_FILL}),
    ("LATITUDE", "f8", _P, {"long_name": "Latitude of the station, best estimate",
                            "units": "degree_north", "valid_min": -90.0, "valid_max": 90.0,
                            **_FILL}),
    ("LONGITUDE", "f8", _P, {"long_name": "Longitude of the station, best estimate",
                             "units": "degree_east", "valid_min": -180.0, "valid_max": 180.0,
                             **_FILL}),
    ("POSITION_QC", "S1", _P, {"long_name": "Quality on position (latitude and longitude)"}),
    ("POSITIONING_SYSTEM", "S1", (*_P, "STRING8"), {"long_name": "Positioning system"}),
    ("PROFILE_DEPH_QC", "S1", _P, {"long_name": "Global quality flag of DEPH profile"}),
    ("PROFILE_POTM_QC", "S1", _P, {"long_name": "Global quality flag of POTM profile"}),
    ("PROFILE_PSAL_QC", "S1", _P, {"long_name": "Global quality flag of PSAL profile"}),
    ("DEPH_CORRECTED", "f4", _L, {"long_name": "Corrected depth", "units": "metre",
                                  "valid_min": 0.0, "valid_max": 12000.0, **_FILL}),
    ("DEPH_CORRECTED_QC", "S1", _L, {"long_name": "Quality on corrected depth"}),
    ("POTM_CORRECTED", "f4", _L, {"long_name": "Corrected potential temperature",
                                  "units": "degree_Celsius", "valid_min": -3.0,
                                  "valid_max": 40.0, **_FILL}),
    ("POTM_CORRECTED_QC", "S1", _L, {"long_name": "Quality on corrected potential temperature"}),
    ("PSAL_CORRECTED", "f4", _L, {"long_name": "Corrected practical salinity", "units": "psu",
                                  "valid_min": 0.0, "valid_max": 60.0, **_FILL}),
    ("PSAL_CORRECTED_QC", "S1", _L, {"long_name": "Quality on corrected practical salinity"}),
    ("TEMP", "f4", _L, {"long_name": "In situ sea temperature", "units": "degree_Celsius",
                        "valid_min": -3.0, "valid_max": 40.0, **_FILL}),
    ("PARAMETER", "S1", (*_CAL, "STRING16"), {"long_name": "List of parameters with "
                                                           "calibration information"}),
    ("SCIENTIFIC_CALIB_EQUATION", "S1", (*_CAL, "STRING256"), {"long_name": "Calibration equation"}),
    ("SCIENTIFIC_CALIB_COEFFICIENT", "S1", (*_CAL, "STRING256"),
     {"long_name": "Calibration coefficients"}),
    ("SCIENTIFIC_CALIB_COMMENT", "S1", (*_CAL, "STRING256"), {"long_name": "Calibration comment"}),
    ("CALIBRATION_DATE", "S1", (*_CAL, "DATE_TIME"), {"conventions": "YYYYMMDDHHMISS"}),
    ("HISTORY_INSTITUTION", "S1", (*_H, "STRING4"), {"long_name": "Institution"}),
    ("HISTORY_SOFTWARE", "S1", (*_H, "STRING4"), {"long_name": "Name of software"}),
    ("HISTORY_SOFTWARE_RELEASE", "S1", (*_H, "STRING4"), {"long_name": "Software release"}),
    ("HISTORY_DATE", "S1", (*_H, "DATE_TIME"), {"long_name": "Date the history record was created"}),
    ("HISTORY_ACTION", "S1", (*_H, "STRING4"), {"long_name": "Action performed on data"}),
    ("HISTORY_PARAMETER", "S1", (*_H, "STRING16"), {"long_name": "Station parameter action"}),
    ("HISTORY_START_DEPH", "f4", _H, {"long_name": "Start depth action applied on", **_FILL}),
    ("HISTORY_STOP_DEPH", "f4", _H, {"long_name": "Stop depth action applied on", **_FILL}),
    ("HISTORY_PREVIOUS_VALUE", "f4", _H, {"long_name": "Parameter previous value", **_FILL}),
    ("HISTORY_QCTEST", "S1", (*_H, "STRING16"), {"long_name": "Documentation of tests performed"}),
    ("QC_FLAGS_PROFILES", "i4", _P, {"long_name": "Quality control flags: profiles"}),
    ("QC_FLAGS_LEVELS", "i4", _L, {"long_name": "Quality control flags: levels"}),
]


def en4_filename(year: int, month: int) -> str:
    """The Met Office name of the EN4.2.2 g10 profile file of a month."""
    return f"EN.4.2.2.f.profiles.g10.{int(year):04d}{int(month):02d}.nc"


# ---------------------------------------------------------------------------------- reading
def read_en4(paths: str | os.PathLike | Sequence[str | os.PathLike], *, engine: str | None = None
             ) -> xr.Dataset:
    """Read Met Office EN4 profile files into the profile layout, with EN4's quality control.

    Uses ``POTM_CORRECTED`` (potential temperature, °C) on ``DEPH_CORRECTED`` (m). A profile is
    rejected when ``POSITION_QC`` is '4', when ``PROFILE_POTM_QC`` is '4' or when bit 0 of
    ``QC_FLAGS_PROFILES`` is set (counted in that order, once each); a level when
    ``POTM_CORRECTED_QC`` is '4' or bit 0 of ``QC_FLAGS_LEVELS`` is set. The generic checks of
    :func:`~xdepthdif.obs.validate_profiles` follow.

    Parameters
    ----------
    paths : path, glob string or list of them
        EN4 files (netCDF3 or netCDF4); many files are concatenated along ``profile``.
    engine : str, optional
        xarray engine; by default xarray chooses per file.

    Returns
    -------
    xr.Dataset
        Canonical profile layout with a ``platform`` coordinate and the summed tally.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> from xdepthdif.obs import tally
    >>> prof = xr.Dataset(
    ...     {"thetao": (("profile", "level"), [[12.0, 8.0]], {"units": "degC"})},
    ...     coords={"depth": (("profile", "level"), [[5.0, 500.0]], {"units": "m"}),
    ...             "time": ("profile", np.array(["2010-01-15"], "datetime64[ns]")),
    ...             "lat": ("profile", [45.0]), "lon": ("profile", [-20.0])})
    >>> path = write_en4(tempfile.mkdtemp() + "/" + en4_filename(2010, 1), prof, n_levels=400)
    >>> ds = read_en4(path)
    >>> ds.thetao.values.tolist(), tally(ds)["profiles_used"]
    ([[12.0, 8.0]], 1)
    """
    files = _expand(paths)
    out = concat_profiles([_read_one(p, engine) for p in files])
    out.attrs["source"] = "Met Office Hadley Centre EN4 profiles"
    out.attrs["source_files"] = ", ".join(p.name for p in files)
    return out


def _expand(paths) -> list[Path]:
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    for item in items:
        text = os.fspath(item)
        if any(c in text for c in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputError(f"no file matches {text!r}; expected EN4 files such as "
                                 f"{en4_filename(2020, 1)}. Check the directory and pattern.")
            files += [Path(m) for m in matches]
        elif not Path(text).is_file():
            raise InputError(f"EN4 file {text!r} does not exist; check the path.")
        else:
            files.append(Path(text))
    if not files:
        raise InputError("read_en4 got no path; pass a file, a glob string or a list of files.")
    return files


def _flag(values: np.ndarray, code: str) -> np.ndarray:
    """Where single-character QC flags equal ``code`` (bytes, str or numbers)."""
    v = np.asarray(values)
    if v.dtype.kind == "S":
        return v == code.encode()
    if v.dtype.kind == "U":
        return v == code
    if v.dtype.kind in "iuf":
        return v == int(code)
    flat = [(x.decode() if isinstance(x, bytes) else str(x)).strip() == code for x in v.ravel()]
    return np.array(flat, dtype=bool).reshape(v.shape)


def _bit0(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return (np.where(np.isfinite(v), v, 0).astype(np.int64) & 1).astype(bool)


def _read_one(path: Path, engine: str | None) -> xr.Dataset:
    try:
        raw = xr.open_dataset(path, engine=engine, decode_times=False, decode_timedelta=False)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot open {path} as netCDF ({exc}); expected an EN4 file.") from exc
    with raw:
        missing = [v for v in _REQUIRED if v not in raw.variables]
        if missing or "N_PROF" not in raw.dims:
            raise FileFormatError(
                f"{path.name} lacks {missing or ['dim N_PROF']}; found {sorted(raw.variables)}. "
                f"Expected an EN4 profile file ({en4_filename(2020, 1)}) with {list(_REQUIRED)}."
            )
        absent = [v for v in ("POSITION_QC", "PROFILE_POTM_QC", "POTM_CORRECTED_QC",
                              "QC_FLAGS_PROFILES", "QC_FLAGS_LEVELS") if v not in raw.variables]
        if absent:
            warnings.warn(f"{path.name} has no {absent}: those EN4 quality checks are not "
                          "applied.", XDepthDifWarning, stacklevel=3)
        n = raw.sizes["N_PROF"]
        get = {v: raw[v].values for v in (*_REQUIRED, "POSITION_QC", "PROFILE_POTM_QC",
                                           "POTM_CORRECTED_QC", "QC_FLAGS_PROFILES",
                                           "QC_FLAGS_LEVELS", "PLATFORM_NUMBER")
               if v in raw.variables}
        juld_attrs = dict(raw["JULD"].attrs)
    none = np.zeros(n, dtype=bool)
    theta = np.asarray(get["POTM_CORRECTED"], dtype=np.float64).reshape(n, -1)
    depth = np.asarray(get["DEPH_CORRECTED"], dtype=np.float64).reshape(n, -1)
    reasons = {
        "position_qc": _flag(get["POSITION_QC"], "4") if "POSITION_QC" in get else none,
        "profile_potm_qc": _flag(get["PROFILE_POTM_QC"], "4") if "PROFILE_POTM_QC" in get else none,
        "qc_flags_profiles": _bit0(get["QC_FLAGS_PROFILES"]) if "QC_FLAGS_PROFILES" in get else none,
    }
    counts = {"profiles_read": n}
    rejected = none.copy()
    for reason, mask in reasons.items():
        counts[f"rejected_{reason}"] = int((mask & ~rejected).sum())
        rejected |= mask
    keep = ~rejected
    has_data = (np.isfinite(theta) | np.isfinite(depth)) & keep[:, None]
    lvl_qc = _flag(get["POTM_CORRECTED_QC"], "4") if "POTM_CORRECTED_QC" in get else False
    lvl_bits = _bit0(get["QC_FLAGS_LEVELS"]) if "QC_FLAGS_LEVELS" in get else False
    by_qc = has_data & lvl_qc
    by_bits = has_data & lvl_bits & ~by_qc
    counts["levels_rejected_potm_qc"] = int(by_qc.sum())
    counts["levels_rejected_qc_flags_levels"] = int(by_bits.sum())
    drop = by_qc | by_bits
    theta[drop], depth[drop] = np.nan, np.nan
    counts["profiles_used"] = int(keep.sum())
    platform = get.get("PLATFORM_NUMBER", np.full(n, b""))
    platform = np.array([p.decode("ascii", "replace") if isinstance(p, bytes) else str(p)
                         for p in np.asarray(platform).ravel()]).astype(str)
    ds = xr.Dataset(
        {"thetao": (("profile", "level"), theta[keep], {"units": "degC"})},
        coords={
            "depth": (("profile", "level"), depth[keep], {"units": "m", "positive": "down"}),
            "time": ("profile", decode_time(np.asarray(get["JULD"], float), juld_attrs)[keep]),
            "lat": ("profile", np.asarray(get["LATITUDE"], dtype=np.float64)[keep]),
            "lon": ("profile", np.asarray(get["LONGITUDE"], dtype=np.float64)[keep]),
            "platform": ("profile", np.char.strip(platform)[keep]),
        },
    )
    return validate_profiles(with_tally(ds, counts))


# ---------------------------------------------------------------------------------- writing
def write_en4(path: str | os.PathLike, profiles: xr.Dataset, *, format: str = "NETCDF4",
              n_levels: int | None = None, qc: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write profiles as a Met Office EN4 profile file.

    Same dims, variable names, dtypes, single-character QC flags ('1' good, '4' bad, '0' on
    storage levels without data), QC bit fields and fill value 99999 as the real files (see the
    module docstring for what was verified). Levels holding data are packed to the front of
    ``N_LEVELS``, as in EN4. ``TEMP`` (in-situ) is computed from ``thetao`` with gsw, using the
    salinity ``so`` when the profiles have it and 35 otherwise; ``PSAL_CORRECTED`` is ``so`` or
    the fill value. ``thetao_error`` is not written (EN4 has no such variable). Values are written
    as given: nothing is dropped, so tests can inject bad data.

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
    order = np.argsort(~present, axis=1, kind="stable")
    width = int(present.sum(axis=1).max(initial=0))
    n_levels = max(width, 1) if n_levels is None else int(n_levels)
    if n_levels < width:
        raise InputError(f"n_levels={n_levels} but a profile holds {width} levels; "
                         f"expected n_levels >= {width}.")
    pack = _packer(order, n_levels)
    fields = {k: pack(data[k], np.nan) for k in ("depth", "theta", "temp", "psal")}
    has = pack(present, False)
    values = _default_qc(data, has)
    for name, arr in (qc or {}).items():
        values[name] = _injected(name, arr, values, pack, len(data["lat"]))
    path = Path(path)
    with netCDF4.Dataset(path, "w", format=format) as nc:
        _define(nc, len(data["lat"]), n_levels)
        _fill_metadata(nc, data)
        for name, arr in values.items():
            nc[name][:] = arr
        for name, key in (("DEPH_CORRECTED", "depth"), ("POTM_CORRECTED", "theta"),
                          ("TEMP", "temp"), ("PSAL_CORRECTED", "psal")):
            nc[name][:] = np.where(np.isfinite(fields[key]), fields[key], EN4_FILL)
    return path


def _profile_arrays(profiles: xr.Dataset) -> dict[str, np.ndarray]:
    import gsw

    if not {"profile", "level"} <= set(profiles.dims):
        raise InputError(f"write_en4 needs the profile layout; got dims {sorted(profiles.dims)}.")
    p = profiles.transpose("profile", "level", ...)
    theta = temperature_to_degc(p["thetao"].values, p["thetao"].attrs.get("units"))
    depth = depth_to_metres(np.broadcast_to(p["depth"].values, theta.shape), p["depth"].attrs)
    lat = np.asarray(p["lat"].values, dtype=np.float64)
    lon = np.asarray(p["lon"].values, dtype=np.float64)
    so = np.asarray(p["so"].values, dtype=np.float64) if "so" in p else None
    pres = gsw.p_from_z(-depth, lat[:, None])
    sa = gsw.SA_from_SP(35.0 if so is None else so, pres, lon[:, None], lat[:, None])
    temp = gsw.t_from_CT(sa, gsw.CT_from_pt(sa, theta), pres)
    platform = p["platform"].values.astype(str) if "platform" in p else np.full(lat.size, "")
    return {"theta": theta, "depth": depth, "temp": temp, "lat": lat, "lon": lon,
            "psal": np.full(theta.shape, np.nan) if so is None else so, "platform": platform,
            "juld": _juld(p["time"].values, p["time"].attrs), "has_so": np.array(so is not None)}


def _juld(times: np.ndarray, attrs: Mapping) -> np.ndarray:
    times = decode_time(times, attrs)
    missing = time_missing(times)
    if times.dtype.kind == "M":
        days = (times - np.datetime64("1950-01-01", "ns")) / np.timedelta64(1, "D")
    else:
        cal = {getattr(t, "calendar", "standard") for t in times[~missing]}
        if cal - {"standard", "gregorian", "proleptic_gregorian"}:
            raise CalendarError(f"profile times use calendar {sorted(cal)}; EN4 files are "
                                "gregorian. Convert with ds.convert_calendar('standard').")
        import cftime

        days = np.full(times.shape, np.nan)
        days[~missing] = cftime.date2num(list(times[~missing]), "days since 1950-01-01",
                                         calendar="standard")
    return np.where(missing, EN4_FILL, days)


def _packer(order: np.ndarray, n_levels: int):
    def pack(arr: np.ndarray, fill):
        arr = np.take_along_axis(np.asarray(arr), order, axis=1)[:, :n_levels]
        extra = n_levels - arr.shape[1]
        return np.pad(arr, ((0, 0), (0, extra)), constant_values=fill) if extra > 0 else arr
    return pack


def _default_qc(data: dict, has: np.ndarray) -> dict[str, np.ndarray]:
    n = len(data["lat"])
    good, unset = np.full(n, b"1", dtype="S1"), np.full(n, b"0", dtype="S1")
    levels = np.where(has, b"1", b"0").astype("S1")
    psal = levels if data["has_so"] else np.full(has.shape, b"0", dtype="S1")
    return {"POSITION_QC": good, "JULD_QC": good, "PROFILE_DEPH_QC": good,
            "PROFILE_POTM_QC": good, "PROFILE_PSAL_QC": good if data["has_so"] else unset,
            "DEPH_CORRECTED_QC": levels, "POTM_CORRECTED_QC": levels, "PSAL_CORRECTED_QC": psal,
            "QC_FLAGS_PROFILES": np.zeros(n, np.int32),
            "QC_FLAGS_LEVELS": np.zeros(has.shape, np.int32)}


def _injected(name: str, arr, defaults: dict, pack, n: int) -> np.ndarray:
    if name not in defaults:
        raise InputError(f"qc has {name!r}; expected some of {sorted(defaults)}.")
    arr = np.asarray(arr)
    if name.startswith("QC_FLAGS"):
        arr, fill = arr.astype(np.int32), np.int32(0)
    else:
        arr = np.char.encode(arr.astype(str), "ascii") if arr.dtype.kind in "UO" else arr
        arr, fill = arr.astype("S1"), b"0"
    if defaults[name].ndim == 1:
        if arr.shape != (n,):
            raise InputError(f"qc[{name!r}] has shape {arr.shape}; expected ({n},).")
        return arr
    if arr.ndim != 2 or arr.shape[0] != n:
        raise InputError(f"qc[{name!r}] has shape {arr.shape}; expected (profile, level).")
    return pack(arr, fill)


def _define(nc: netCDF4.Dataset, n_prof: int, n_levels: int) -> None:
    for name, size in _STRINGS.items():
        nc.createDimension(name, size)
    for name, size in (("N_PROF", n_prof), ("N_PARAM", 3), ("N_LEVELS", n_levels),
                       ("N_CALIB", 1), ("N_HISTORY", None)):
        nc.createDimension(name, size)
    for name, dtype, dims, attrs in _SCHEMA:
        attrs = dict(attrs)
        fill = attrs.pop("_FillValue", None)
        fill = None if fill is None else np.array(fill, dtype=dtype)
        var = nc.createVariable(name, dtype, dims, fill_value=fill)
        var.setncatts(attrs)
    nc.setncatts({"title": "EN4 quality controlled ocean profiles (EN.4.2.2, g10)",
                  "history": f"written by xdepthdif.obs.write_en4 {datetime.now(UTC):%Y-%m-%d}"})


def _chars(strings, width: int) -> np.ndarray:
    return netCDF4.stringtochar(np.asarray(strings, dtype=f"S{width}"))


def _fill_metadata(nc: netCDF4.Dataset, data: dict) -> None:
    n = len(data["lat"])
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    nc["DATA_TYPE"][:] = _chars(["EN4 profiles"], 16)[0]
    nc["FORMAT_VERSION"][:] = _chars(["2.2"], 4)[0]
    nc["HANDBOOK_VERSION"][:] = _chars(["1.2"], 4)[0]
    nc["REFERENCE_DATE_TIME"][:] = _chars(["19500101000000"], 14)[0]
    nc["DATE_CREATION"][:] = _chars([now], 14)[0]
    nc["DATE_UPDATE"][:] = _chars([now], 14)[0]
    nc["PLATFORM_NUMBER"][:] = _chars([s[:8] for s in data["platform"]], 8)
    params = np.broadcast_to(np.array(["DEPH", "TEMP", "PSAL"]), (n, 3))
    nc["STATION_PARAMETERS"][:] = _chars(params, 16)
    nc["PARAMETER"][:] = _chars(params[:, None, :], 16)
    nc["DIRECTION"][:] = np.full(n, b"A", dtype="S1")
    nc["DATA_MODE"][:] = np.full(n, b"D", dtype="S1")
    nc["JULD"][:] = data["juld"]
    nc["JULD_LOCATION"][:] = data["juld"]
    nc["LATITUDE"][:] = np.where(np.isfinite(data["lat"]), data["lat"], EN4_FILL)
    nc["LONGITUDE"][:] = np.where(np.isfinite(data["lon"]), data["lon"], EN4_FILL)
    nc["CYCLE_NUMBER"][:] = np.zeros(n, np.int32)
    for name, _, dims, _ in _SCHEMA:
        if dims[0] == "N_PROF" and dims[-1] in _STRINGS and name not in (
                "PLATFORM_NUMBER", "STATION_PARAMETERS", "PARAMETER"):
            nc[name][:] = np.full(tuple(nc.dimensions[d].size for d in dims), b" ", dtype="S1")


def write_en4_months(profiles: xr.Dataset, directory: str | os.PathLike, **kw) -> list[Path]:
    """Write one EN4 file per calendar month, named as the Met Office names them.

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
    missing = time_missing(times)
    if missing.any():
        raise InputError(f"{int(missing.sum())} profiles have no time, so no month; expected "
                         "times on every profile. Drop them first (validate_profiles does).")
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
        kw_month = dict(kw)
        if "qc" in kw_month and kw_month["qc"] is not None:
            kw_month["qc"] = {k: np.asarray(v)[sel] for k, v in kw_month["qc"].items()}
        out.append(write_en4(directory / en4_filename(year, month), profiles.isel(profile=sel),
                             **kw_month))
    return out
