"""Met Office EN4 profile files: reading with quality control, and writing EN4-format files.

What was checked about the real files (``EN.4.2.2.f.profiles.g10.YYYYMM.nc``), and where:

- Names, meanings and QC rules ('4' in ``POSITION_QC``/``PROFILE_POTM_QC`` rejects the profile,
  in ``POTM_CORRECTED_QC`` the level): the Met Office page "EN4.2.0 ... Profile files"
  (hadleyserver.metoffice.gov.uk/en4/en4-0-2-profile-file-format.html). Bits of
  ``QC_FLAGS_PROFILES``/``QC_FLAGS_LEVELS``: 0 rejects temperature, 1 salinity, 2-16 and 20-29
  are the reasons: COAsT ``coast/data/profile.py`` (``calculate_all_en4_qc_flags``).
- The variable list: a script reading EN.4.2.2.f.profiles.g10 files lists the 54 variables it
  keeps or drops. We write them all but the g10 XBT variables ``instrument_type``,
  ``thermal_corrections`` and ``depth_corrections``, whose dims and dtypes we could not confirm.
- ``REFERENCE_DATE_TIME`` is ``char(DATE_TIME=14)`` ``"19500101000000"``; positions, depth and
  potential temperature carry ``valid_min``/``valid_max``/``_FillValue``; depth and temperatures
  are single precision, positions double (LETKF ``read_en4.f90``, FESOM-PDAF
  ``write_profiles_pdaf.F90``). ``JULD`` units ``"days since 1950-01-01 00:00:00 utc"``,
  ``|S1`` QC: DepthDif's EN4 test fixture and DESIGN §4 (also the fill value 99999).
- Our choice, not verified (Argo-format style): attribute texts, metadata string contents,
  ``N_PARAM = 3``, ``N_CALIB = 1``, no ``_FillValue`` on characters, QC '0' on empty levels.

xarray (2026.9) decodes a missing ``JULD`` as 1950-01-01 when the units end in lowercase
``utc``, so JULD is decoded here instead (:func:`~xdepthdif.obs.layout.decode_time`).

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
_QC = (
    "POSITION_QC",
    "PROFILE_POTM_QC",
    "POTM_CORRECTED_QC",
    "QC_FLAGS_PROFILES",
    "QC_FLAGS_LEVELS",
)
_FIELDS = {
    "DEPH_CORRECTED": "depth",
    "POTM_CORRECTED": "theta",
    "TEMP": "temp",
    "PSAL_CORRECTED": "psal",
}
_STRINGS = {f"STRING{n}": n for n in (256, 64, 32, 16, 8, 4, 2)} | {"DATE_TIME": 14}
_F = "_FillValue=99999"
_YMD = "conventions=YYYYMMDDHHMISS"
_JULD = f"units={JULD_UNITS}|{_F}"
_JUL = "long_name=Julian day (UTC) of the"
_REL = "relative to REFERENCE_DATE_TIME"
# The file layout as data: name, dtype, dims, attributes (key=value|...), in the real files'
# order. P = (N_PROF,), L = (N_PROF, N_LEVELS), C = (N_PROF, N_CALIB, N_PARAM),
# H = (N_HISTORY, N_PROF); a trailing STRINGn/DATE_TIME is the character dimension; an
# indented line continues the attributes of the line above.
_CDL = f"""
DATA_TYPE S1 STRING16 comment=Data type
FORMAT_VERSION S1 STRING4 comment=File format version
HANDBOOK_VERSION S1 STRING4 comment=Data handbook version
REFERENCE_DATE_TIME S1 DATE_TIME comment=Date of reference for Julian days|{_YMD}
DATE_CREATION S1 DATE_TIME comment=Date of file creation|{_YMD}
DATE_UPDATE S1 DATE_TIME long_name=Date of update of this file|{_YMD}
PLATFORM_NUMBER S1 P,STRING8 long_name=Float unique identifier
PROJECT_NAME S1 P,STRING64 comment=Name of the project
PI_NAME S1 P,STRING64 comment=Name of the principal investigator
STATION_PARAMETERS S1 P,N_PARAM,STRING16 long_name=List of available parameters for the station
CYCLE_NUMBER i4 P long_name=Float cycle number|{_F}
DIRECTION S1 P long_name=Direction of the station profiles|conventions=A: ascending, D: descending
DATA_CENTRE S1 P,STRING2 long_name=Data centre in charge of float data processing
DC_REFERENCE S1 P,STRING32 long_name=Station unique identifier in data centre
DATA_STATE_INDICATOR S1 P,STRING4 long_name=Degree of processing the data have passed through
DATA_MODE S1 P long_name=Delayed mode or real time data|conventions=R: real time, D: delayed mode
INST_REFERENCE S1 P,STRING64 long_name=Instrument type
WMO_INST_TYPE S1 P,STRING4 long_name=Coded instrument type
JULD f8 P {_JUL} station {_REL}|{_JULD}
JULD_QC S1 P long_name=Quality on Date and Time
JULD_LOCATION f8 P {_JUL} location {_REL}|{_JULD}
LATITUDE f8 P long_name=Latitude of the station, best estimate|units=degree_north|{_F}
  valid_min=-90|valid_max=90
LONGITUDE f8 P long_name=Longitude of the station, best estimate|units=degree_east|{_F}
  valid_min=-180|valid_max=180
POSITION_QC S1 P long_name=Quality on position (latitude and longitude)
POSITIONING_SYSTEM S1 P,STRING8 long_name=Positioning system
PROFILE_DEPH_QC S1 P long_name=Global quality flag of DEPH profile
PROFILE_POTM_QC S1 P long_name=Global quality flag of POTM profile
PROFILE_PSAL_QC S1 P long_name=Global quality flag of PSAL profile
DEPH_CORRECTED f4 L long_name=Corrected sea water depth|units=metre|{_F}
  valid_min=0|valid_max=12000
DEPH_CORRECTED_QC S1 L long_name=Quality on corrected depth
POTM_CORRECTED f4 L long_name=Corrected sea potential temperature|units=degree_Celsius|{_F}
  valid_min=-3|valid_max=40
POTM_CORRECTED_QC S1 L long_name=Quality on corrected potential temperature
PSAL_CORRECTED f4 L long_name=Corrected practical salinity|units=psu|{_F}
  valid_min=0|valid_max=60
PSAL_CORRECTED_QC S1 L long_name=Quality on corrected practical salinity
TEMP f4 L long_name=Sea temperature in-situ ITS-90 scale|units=degree_Celsius|{_F}
  valid_min=-3|valid_max=40
PARAMETER S1 C,STRING16 long_name=List of parameters with calibration information
SCIENTIFIC_CALIB_EQUATION S1 C,STRING256 long_name=Calibration equation for this parameter
SCIENTIFIC_CALIB_COEFFICIENT S1 C,STRING256 long_name=Calibration coefficients for this equation
SCIENTIFIC_CALIB_COMMENT S1 C,STRING256 long_name=Comment applying to this parameter calibration
CALIBRATION_DATE S1 C,DATE_TIME {_YMD}
HISTORY_INSTITUTION S1 H,STRING4 long_name=Institution which performed action
HISTORY_SOFTWARE S1 H,STRING4 long_name=Name of software which performed action
HISTORY_SOFTWARE_RELEASE S1 H,STRING4 long_name=Version/release of software which performed action
HISTORY_DATE S1 H,DATE_TIME long_name=Date the history record was created|{_YMD}
HISTORY_ACTION S1 H,STRING4 long_name=Action performed on data
HISTORY_PARAMETER S1 H,STRING16 long_name=Station parameter action is performed on
HISTORY_START_DEPH f4 H long_name=Start depth action applied on|{_F}
HISTORY_STOP_DEPH f4 H long_name=Stop depth action applied on|{_F}
HISTORY_PREVIOUS_VALUE f4 H long_name=Parameter/flag previous value before action|{_F}
HISTORY_QCTEST S1 H,STRING16 long_name=Documentation of tests performed, tests failed (in hex form)
QC_FLAGS_PROFILES i4 P long_name=Quality control flags: profiles
QC_FLAGS_LEVELS i4 L long_name=Quality control flags: levels
"""
_SHORT = {
    "P": ("N_PROF",),
    "L": ("N_PROF", "N_LEVELS"),
    "C": ("N_PROF", "N_CALIB", "N_PARAM"),
    "H": ("N_HISTORY", "N_PROF"),
}


def _attr(value: str) -> str | float:
    try:
        return float(value)
    except ValueError:
        return value


def _parse_schema(cdl: str) -> list[tuple[str, str, tuple[str, ...], dict]]:
    schema = []
    for line in cdl.strip().replace("\n  ", "|").splitlines():
        name, dtype, dims, attrs = line.split(" ", 3)
        dims = tuple(d for part in dims.split(",") for d in _SHORT.get(part, (part,)))
        pairs = (a.split("=", 1) for a in attrs.split("|"))
        schema.append((name, dtype, dims, {k: _attr(v) for k, v in pairs}))
    return schema


_SCHEMA = _parse_schema(_CDL)


def en4_filename(year: int, month: int) -> str:
    """The Met Office name of the EN4.2.2 g10 profile file of a month."""
    return f"EN.4.2.2.f.profiles.g10.{int(year):04d}{int(month):02d}.nc"


# ---------------------------------------------------------------------------------- reading
def read_en4(
    paths: str | os.PathLike | Sequence[str | os.PathLike], *, engine: str | None = None
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


def _expand(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    for text in map(os.fspath, items):
        if any(c in text for c in "*?["):
            files += [Path(m) for m in sorted(glob.glob(text))] or _none_match(text)
        elif not Path(text).is_file():
            raise InputError(f"EN4 file {text!r} does not exist; check the path.")
        else:
            files.append(Path(text))
    if not files:
        raise InputError("read_en4 got no path; pass a file, a glob string or a list of files.")
    return files


def _none_match(pattern: str) -> list[Path]:
    raise InputError(
        f"no file matches {pattern!r}; expected EN4 files such as {en4_filename(2020, 1)}. "
        "Check the directory and the pattern."
    )


def _flag(values: np.ndarray, code: str) -> np.ndarray:
    """Where single-character QC flags equal ``code`` (bytes, str or numbers)."""
    v = np.asarray(values)
    if v.dtype.kind in "iuf":
        return v == int(code)
    if v.dtype == np.dtype("S1"):
        return v == code.encode()
    if v.dtype.kind == "O":
        v = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in v.ravel()])
    text = np.char.decode(v, "ascii", "replace") if v.dtype.kind == "S" else v.astype(str)
    return (np.char.strip(text) == code).reshape(np.shape(values))


def _bit0(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return (np.where(np.isfinite(v), v, 0).astype(np.int64) & 1).astype(bool)


def _read_one(path: Path, engine: str | None) -> xr.Dataset:
    try:
        raw = xr.open_dataset(path, engine=engine, decode_times=False, decode_timedelta=False)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot open {path} as netCDF ({exc}); expected EN4.") from exc
    with raw:
        missing = [v for v in _REQUIRED if v not in raw.variables]
        if missing or "N_PROF" not in raw.dims:
            raise FileFormatError(
                f"{path.name} lacks {missing or ['dim N_PROF']}; found {sorted(raw.variables)}. "
                f"Expected an EN4 profile file ({en4_filename(2020, 1)}) with {list(_REQUIRED)}."
            )
        if absent := [v for v in _QC if v not in raw.variables]:
            msg = f"{path.name} has no {absent}: those EN4 quality checks are not applied."
            warnings.warn(msg, XDepthDifWarning, stacklevel=3)
        n, n_lev = raw.sizes["N_PROF"], raw.sizes.get("N_LEVELS", 0)
        names = (*_REQUIRED, *_QC, "PLATFORM_NUMBER")
        get = {v: raw[v].values for v in names if v in raw.variables}
        juld_attrs = dict(raw["JULD"].attrs)
    none = np.zeros(n, dtype=bool)
    theta = np.asarray(get["POTM_CORRECTED"], dtype=np.float64).reshape(n, n_lev)
    depth = np.asarray(get["DEPH_CORRECTED"], dtype=np.float64).reshape(n, n_lev)
    reasons = {
        "position_qc": _flag(get.get("POSITION_QC", none), "4"),
        "profile_potm_qc": _flag(get.get("PROFILE_POTM_QC", none), "4"),
        "qc_flags_profiles": _bit0(get.get("QC_FLAGS_PROFILES", none)),
    }
    counts = {"profiles_read": n}
    rejected = none.copy()
    for reason, mask in reasons.items():
        counts[f"rejected_{reason}"] = int((mask & ~rejected).sum())
        rejected |= mask
    keep = ~rejected
    has_data = (np.isfinite(theta) | np.isfinite(depth)) & keep[:, None]
    by_qc = has_data & _flag(get.get("POTM_CORRECTED_QC", np.zeros_like(has_data)), "4")
    by_bits = has_data & _bit0(get.get("QC_FLAGS_LEVELS", np.zeros_like(has_data))) & ~by_qc
    counts["levels_rejected_potm_qc"] = int(by_qc.sum())
    counts["levels_rejected_qc_flags_levels"] = int(by_bits.sum())
    counts["profiles_used"] = int(keep.sum())
    theta[by_qc | by_bits], depth[by_qc | by_bits] = np.nan, np.nan
    used = np.flatnonzero((np.isfinite(theta) | np.isfinite(depth))[keep].any(axis=0))
    width = int(used[-1]) + 1 if used.size else 0  # drop the empty storage width early
    theta, depth = theta[:, :width], depth[:, :width]
    platform = np.asarray(get.get("PLATFORM_NUMBER", np.full(n, b""))).astype("S")
    platform = np.char.strip(np.char.decode(platform, "ascii", "replace"))
    ds = xr.Dataset(
        {"thetao": (("profile", "level"), theta[keep], {"units": "degC"})},
        coords={
            "depth": (("profile", "level"), depth[keep], {"units": "m", "positive": "down"}),
            "time": ("profile", decode_time(np.asarray(get["JULD"], float), juld_attrs)[keep]),
            "lat": ("profile", np.asarray(get["LATITUDE"], dtype=np.float64)[keep]),
            "lon": ("profile", np.asarray(get["LONGITUDE"], dtype=np.float64)[keep]),
            "platform": ("profile", platform[keep]),
        },
    )
    return validate_profiles(with_tally(ds, counts))


# ---------------------------------------------------------------------------------- writing
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
    storage levels without data), QC bit fields and fill value 99999 as the real files (see the
    module docstring for what was verified). Levels holding data are packed to the front of
    ``N_LEVELS``, as in EN4. ``TEMP`` (in situ) is computed from ``thetao`` with gsw, using the
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
