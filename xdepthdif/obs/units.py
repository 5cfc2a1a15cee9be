"""Units and times of profile data: conversion to °C and metres, and decoding of times.

Used by the readers and :func:`~xdepthdif.obs.validate_profiles`: temperatures to °C (from
kelvin), depths to metres positive down (from cm or ``positive='up'``), and times to
``datetime64[ns]`` or cftime objects, with missing times as NaT or None.

Examples
--------
>>> import numpy as np
>>> temperature_to_degc(np.array([283.15]), "K").tolist()
[10.0]
>>> time_missing(decode_time(np.array([0.0, np.nan]), {"units": "days since 2000-01-01"}))
array([False,  True])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from xdepthdif.errors import CalendarError, InputError, UnitsError

FILL_THRESHOLD = 99999.0
_DEGC = {"degc", "degreec", "degreesc", "celsius", "degreecelsius", "degreescelsius", "°c"}
_KELVIN = {"k", "kelvin", "kelvins", "degk", "degreek", "degreesk"}
_FAHRENHEIT = {"degf", "degreef", "degreesf", "fahrenheit", "degreefahrenheit", "°f"}
_METRES = {"m", "meter", "metre", "meters", "metres"}
_CENTIMETRES = {"cm", "centimeter", "centimetre", "centimeters", "centimetres"}
_PRESSURE = {"dbar", "decibar", "decibars", "db"}
_DBAR_PER = {"dbar": 1.0, "decibar": 1.0, "decibars": 1.0, "db": 1.0, "kpa": 0.1, "pa": 1e-4}
_DBAR_PER |= {"hpa": 0.01, "mbar": 0.01, "bar": 10.0, "pascal": 1e-4, "kilopascal": 0.1}
FAHRENHEIT_SHARE = 0.5
"""Share of finite temperatures above 40 °C beyond which values labelled °C are refused as °F."""
_STEPS = {
    "days": "D",
    "day": "D",
    "d": "D",
    "hours": "h",
    "hour": "h",
    "h": "h",
    "minutes": "min",
    "minute": "min",
    "seconds": "s",
    "second": "s",
    "s": "s",
}


def _norm_units(units: object) -> str:
    return "".join(str(units).split()).replace("_", "").replace("-", "").lower()


# ----------------------------------------------------------------------------------- units
def is_metres(units: object) -> bool:
    """Whether ``units`` spells metres (``m``, ``meters``, ``metres``, ...).

    >>> is_metres("metres"), is_metres("cm")
    (True, False)
    """
    return _norm_units(units) in _METRES


def celsius_offset(units: object, *, name: str = "thetao") -> float:
    """What to add to temperatures in ``units`` to get °C: 0 for °C, −273.15 for kelvin.

    Fahrenheit needs a scale as well: see :func:`temperature_to_degc`.

    >>> celsius_offset("degree_C"), celsius_offset("K")
    (0.0, -273.15)
    """
    fix = f"set ds.{name}.attrs['units'] = 'degC' (or 'K' for kelvin)"
    if units is None or str(units).strip() == "":
        raise UnitsError(f"{name} has no 'units' attribute; expected °C or kelvin. {fix}.")
    key = _norm_units(units)
    if key in _KELVIN:
        return -273.15
    if key in _FAHRENHEIT:
        raise UnitsError(
            f"{name} is in {units!r}, which needs a scale, not only an offset: convert it with "
            "temperature_to_degc, or to °C yourself ((F - 32) * 5 / 9)."
        )
    if key not in _DEGC:
        raise UnitsError(f"{name} has units {units!r}; expected degC or K. {fix}.")
    return 0.0


def is_fahrenheit(units: object) -> bool:
    """Whether ``units`` spells degrees Fahrenheit.

    >>> is_fahrenheit("degree_F"), is_fahrenheit("degC")
    (True, False)
    """
    return units is not None and _norm_units(units) in _FAHRENHEIT


def temperature_to_degc(
    values: np.ndarray,
    units: object,
    *,
    name: str = "thetao",
    difference: bool = False,
    assumed: bool = False,
) -> np.ndarray:
    """Convert temperatures (or, with ``difference=True``, temperature errors) to °C.

    Kelvin and Fahrenheit are converted. Values labelled °C are refused when they cannot be
    °C: a median above 100 (kelvin) or most values above 40 (Fahrenheit; cold sea water is
    28–40 °F, warmer water 40–90 °F). With ``assumed=True`` the errors say that ``name`` has no
    ``units`` attribute and ``units`` was assumed (a reader's convention).

    >>> temperature_to_degc(np.array([273.15, 283.15]), "K").tolist()
    [0.0, 10.0]
    >>> temperature_to_degc(np.array([32.0, 50.0]), "degF").tolist()
    [0.0, 10.0]
    >>> temperature_to_degc(np.array([0.5]), "kelvin", difference=True).tolist()
    [0.5]
    """
    values = np.asarray(values, dtype=np.float64)
    if is_fahrenheit(units):
        return values * 5.0 / 9.0 if difference else (values - 32.0) * 5.0 / 9.0
    offset = celsius_offset(units, name=name)
    if offset:
        return values if difference else values + offset
    finite = values[np.isfinite(values) & (np.abs(values) < FILL_THRESHOLD)]
    if difference or not finite.size:
        return values
    said = f"{name} has no 'units', so {units!r} was assumed," if assumed else None
    said = said or f"{name} says {units!r}"
    median = float(np.median(finite))
    if median > 100.0:
        raise UnitsError(
            f"{said} but its median is {median:.2f}, which looks "
            f"like kelvin. If the values are kelvin, set ds.{name}.attrs['units'] = 'K'."
        )
    hot = int(np.sum(finite > 40.0))
    if hot > FAHRENHEIT_SHARE * finite.size:
        raise UnitsError(
            f"{said} but {hot} of {finite.size} values lie above 40 °C (range "
            f"{finite.min():.1f}..{finite.max():.1f}): this looks like °F. If the values are "
            f"Fahrenheit, set ds.{name}.attrs['units'] = 'degF'."
        )
    return values


def pressure_to_dbar(values: np.ndarray, units: object, *, name: str = "PRES") -> np.ndarray:
    """Convert sea pressure to decibar from its ``units`` (dbar, kPa, hPa, Pa, bar).

    >>> pressure_to_dbar(np.array([1000.0]), "kPa").tolist()
    [100.0]
    >>> pressure_to_dbar(np.array([1.0e6]), "Pa").tolist()
    [100.0]
    """
    key = _norm_units(units)
    if key not in _DBAR_PER:
        raise UnitsError(
            f"{name} has units {units!r}; expected a sea pressure in dbar, kPa, hPa, Pa or bar. "
            f"Set ds.{name}.attrs['units'] to what the values are."
        )
    return np.asarray(values, dtype=np.float64) * _DBAR_PER[key]


def depth_to_metres(values: np.ndarray, attrs: Mapping, *, name: str = "depth") -> np.ndarray:
    """Convert depths to metres, positive down, from their ``units``/``positive`` attributes.

    >>> depth_to_metres(np.array([500.0, 1000.0]), {"units": "cm"}).tolist()
    [5.0, 10.0]
    >>> depth_to_metres(np.array([-5.0, -10.0]), {"units": "m", "positive": "up"}).tolist()
    [5.0, 10.0]
    """
    values = np.asarray(values, dtype=np.float64)
    units = attrs.get("units")
    if units is None or str(units).strip() == "":
        raise UnitsError(
            f"{name} has no 'units' attribute; expected metres. "
            f"Set ds.{name}.attrs['units'] = 'm' (and 'positive' = 'down' or 'up')."
        )
    key = _norm_units(units)
    if key in _PRESSURE:
        raise UnitsError(
            f"{name} has units {units!r}, a pressure, not a depth; expected metres. Pressure "
            "needs a conversion with gsw: pass Argo-style data (PRES in dbar) to from_argo."
        )
    if key in _CENTIMETRES:
        values = values / 100.0
    elif key not in _METRES:
        raise UnitsError(f"{name} has units {units!r}; expected 'm' or 'cm'. Convert it to metres.")
    positive = str(attrs.get("positive", "down")).strip().lower()
    if positive == "up":
        return -values
    if positive != "down":
        raise UnitsError(f"{name} has positive={positive!r}; expected 'down' or 'up'.")
    ok = values[np.isfinite(values) & (np.abs(values) != FILL_THRESHOLD)]
    if ok.size and np.mean(ok < 0) > 0.5:
        raise UnitsError(
            f"most {name} values are negative but positive='up' is not set; expected depths "
            f"positive down. Set ds.{name}.attrs['positive'] = 'up' or negate the depths."
        )
    return values


# ------------------------------------------------------------------------------------ time
def decode_time(values: np.ndarray, attrs: Mapping) -> np.ndarray:
    """Profile times as ``datetime64[ns]`` (standard calendars) or cftime objects.

    Numeric times are decoded from their ``units`` here, not by xarray: xarray turns a missing
    time into the reference date when the units end in lowercase ``utc`` (EN4 writes
    ``days since 1950-01-01 00:00:00 utc``).

    >>> decode_time(np.array([0.5, np.nan]), {"units": "days since 1950-01-01 00:00:00 utc"})
    array(['1950-01-01T12:00:00.000000000',                           'NaT'],
          dtype='datetime64[ns]')
    """
    values = np.asarray(values)
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]")
    if values.dtype.kind in "fiu":
        units = str(attrs.get("units", ""))
        if " since " not in units:
            raise InputError(
                f"time is numeric with units {units!r}; expected datetimes or CF units such as "
                "'days since 1950-01-01'. Decode it with xr.decode_cf or set its units."
            )
        calendar = str(attrs.get("calendar", "standard")).lower()
        step, ref = units.split(" since ", 1)
        num = values.astype(np.float64)
        if calendar in ("standard", "gregorian", "proleptic_gregorian"):
            unit = _STEPS.get(step.strip().lower())
            if unit is None:
                raise InputError(f"time has units {units!r}; expected days/hours/minutes/seconds.")
            ref_ts = pd.Timestamp(ref.strip().upper().removesuffix("UTC").strip().rstrip("Z"))
            ns = num * pd.Timedelta(1, unit=unit).value
            out = np.full(num.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
            ok = np.isfinite(ns)
            ref_ts = ref_ts.tz_convert(None) if ref_ts.tz is not None else ref_ts
            origin = np.datetime64(ref_ts.as_unit("ns"))
            out[ok] = origin + ns[ok].round().astype("timedelta64[ns]")
            return out
        import cftime

        out = np.full(num.shape, None, dtype=object)
        ok = np.isfinite(num)
        out[ok] = cftime.num2date(num[ok], units, calendar=calendar)
        return out
    if values.dtype.kind == "S":
        values = np.char.decode(values, "ascii", "replace")
    if values.dtype.kind in "OU":
        return _object_times(values.astype(object))
    raise InputError(
        f"time has dtype {values.dtype}; expected datetime64, cftime objects or date strings."
    )


def _object_times(values: np.ndarray) -> np.ndarray:
    items = [v for v in values.ravel() if v is not None and not _is_nan(v)]
    calendars = {getattr(v, "calendar", "standard") or "standard" for v in items}
    if len(calendars) > 1:
        raise CalendarError(f"profile times mix calendars {sorted(calendars)}; expected one.")
    if items and not hasattr(items[0], "calendar"):
        return _parse_dates(values.ravel(), items[0]).reshape(values.shape)
    out = values.copy()
    out[[v is None or _is_nan(v) for v in values.ravel()]] = None
    return out


def _parse_dates(values: np.ndarray, example: object) -> np.ndarray:
    """Datetimes or date strings (one format, else ISO 8601 ones) as ``datetime64[ns]``."""
    for fmt in (None, "ISO8601"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # pandas: format inferred per item
                return pd.to_datetime(values, format=fmt).to_numpy("datetime64[ns]")
        except (ValueError, TypeError) as exc:
            error = exc
    raise InputError(
        f"time holds values such as {example!r} that are not dates; expected "
        "datetime64, cftime objects or ISO 8601 date strings such as '2020-01-15T06:00'."
    ) from error


def _is_nan(v: object) -> bool:
    return isinstance(v, float) and np.isnan(v)


def time_missing(times: np.ndarray) -> np.ndarray:
    """Boolean mask of missing times (NaT or None)."""
    if times.dtype.kind == "M":
        return np.isnat(times)
    return np.array([v is None or _is_nan(v) for v in times.ravel()], bool).reshape(times.shape)
