"""Met Office EN4 profile files: the file schema, file names, and reading with quality control.

The writer (:func:`~xdepthdif.obs.write_en4`) is in :mod:`xdepthdif.obs.en4_write`; it uses the
schema and constants defined here.

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
``utc``, so JULD is decoded here instead (:func:`~xdepthdif.obs.units.decode_time`).

Examples
--------
>>> en4_filename(2021, 3)
'EN.4.2.2.f.profiles.g10.202103.nc'
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from xdepthdif.errors import FileFormatError, InputError, XDepthDifWarning

from .layout import concat_profiles, drop_duplicate_profiles, validate_profiles, with_tally
from .units import decode_time

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
_LEVEL_VARS = ("DEPH_CORRECTED", "POTM_CORRECTED", "POTM_CORRECTED_QC", "QC_FLAGS_LEVELS")
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

    Uses ``POTM_CORRECTED`` (potential temperature) on ``DEPH_CORRECTED`` (depth), in the
    ``units`` (and ``positive``) their attributes give, else EN4's °C and m positive down;
    ``(N_PROF, N_LEVELS)`` variables may be stored in either order. A ``JULD`` of 99999 is a
    missing time, with or without a ``_FillValue``. A profile is rejected when ``POSITION_QC``
    is '4', when ``PROFILE_POTM_QC`` is '4' or when bit 0 of ``QC_FLAGS_PROFILES`` is set
    (counted in that order, once each); a level when ``POTM_CORRECTED_QC`` is '4' or bit 0 of
    ``QC_FLAGS_LEVELS`` is set. The generic checks of
    :func:`~xdepthdif.obs.validate_profiles` follow, and, when several files are read,
    profiles that repeat an earlier one exactly (the same file named twice) are dropped and
    counted as ``rejected_duplicate``.

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
    >>> from xdepthdif.obs import tally, write_en4
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
    if len(files) > 1:
        out = drop_duplicate_profiles(out, stacklevel=3)  # e.g. the same file named twice
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


_LEVEL_DIMS = ("N_PROF", "N_LEVELS")


def _per_level(raw: xr.Dataset, name: str, path: Path) -> np.ndarray:
    """``name`` as an ``(N_PROF, N_LEVELS)`` array, whichever order the file stores it in."""
    da = raw[name]
    if set(da.dims) != set(_LEVEL_DIMS) or da.ndim != 2:
        raise FileFormatError(
            f"{path.name}: {name} has dims {da.dims}; expected {_LEVEL_DIMS} (in either "
            "order) as in EN4 profile files. Rename its dims or rewrite the file with them."
        )
    return np.transpose(np.asarray(da.values), [da.dims.index(d) for d in _LEVEL_DIMS])


def _per_profile(raw: xr.Dataset, name: str, path: Path) -> np.ndarray:
    """``name`` as an ``(N_PROF,)`` array (strings of characters already joined by xarray)."""
    da = raw[name]
    if da.dims[:1] != ("N_PROF",) or (da.ndim > 1 and name != "PLATFORM_NUMBER"):
        raise FileFormatError(
            f"{path.name}: {name} has dims {da.dims}; expected ('N_PROF',) as in EN4 profile "
            "files. Rename its dims or rewrite the file with them."
        )
    return np.asarray(da.values)


def _units_attrs(attrs: dict, default_units: str, **defaults: str) -> dict:
    """The file's ``units`` (and other keys of ``defaults``) where given, else EN4's."""
    out = {"units": default_units, **defaults}
    for key in out:
        value = attrs.get(key)
        if value is not None and str(value).strip():
            out[key] = str(value)
    return out


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
        n = raw.sizes["N_PROF"]
        names = (*_REQUIRED, *_QC, "PLATFORM_NUMBER")
        get = {
            v: (_per_level if v in _LEVEL_VARS else _per_profile)(raw, v, path)
            for v in names
            if v in raw.variables
        }
        juld_attrs = dict(raw["JULD"].attrs)
        theta_attrs = _units_attrs(raw["POTM_CORRECTED"].attrs, "degC")
        depth_attrs = _units_attrs(raw["DEPH_CORRECTED"].attrs, "m", positive="down")
    none = np.zeros(n, dtype=bool)
    theta = np.asarray(get["POTM_CORRECTED"], dtype=np.float64)
    depth = np.asarray(get["DEPH_CORRECTED"], dtype=np.float64)
    juld = np.asarray(get["JULD"], dtype=np.float64)
    juld[np.abs(juld) >= EN4_FILL] = np.nan  # missing even where no _FillValue says so
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
        {"thetao": (("profile", "level"), theta[keep], theta_attrs)},
        coords={
            "depth": (("profile", "level"), depth[keep], depth_attrs),
            "time": ("profile", decode_time(juld, juld_attrs)[keep]),
            "lat": ("profile", np.asarray(get["LATITUDE"], dtype=np.float64)[keep]),
            "lon": ("profile", np.asarray(get["LONGITUDE"], dtype=np.float64)[keep]),
            "platform": ("profile", platform[keep]),
        },
    )
    return validate_profiles(with_tally(ds, counts))
