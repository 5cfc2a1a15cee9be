"""Time handling: calendars, analysis windows, and which profiles belong to which time step.

Everything is done in float days since 1950-01-01 in the target's calendar (the EN4 reference),
so numpy ``datetime64`` and cftime objects are handled alike.

Examples
--------
>>> import numpy as np
>>> target_time = np.array(["2020-01-15", "2020-02-15"], dtype="datetime64[ns]")
>>> bounds = window_bounds(target_time, "proleptic_gregorian", "month")
>>> obs_time = np.array(["2020-01-31T23:00", "2020-02-01", "2020-03-01"], dtype="datetime64[ns]")
>>> in_time_steps(obs_time, "proleptic_gregorian", bounds, "proleptic_gregorian").tolist()
[[True, False], [False, True], [False, False]]
"""

from __future__ import annotations

import cftime
import numpy as np
import pandas as pd

from .errors import CalendarError, InputError

REFERENCE = "days since 1950-01-01 00:00:00"
_GREGORIAN = {"standard", "gregorian", "proleptic_gregorian"}


def calendar_of(values: np.ndarray) -> str:
    """The calendar of an array of times: numpy datetimes are proleptic Gregorian."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        return "proleptic_gregorian"
    first = next((v for v in values.ravel() if v is not None), None)
    return getattr(first, "calendar", None) or "proleptic_gregorian"


def check_calendars(obs_calendar: str, target_calendar: str) -> None:
    """Refuse observations and a target whose calendars cannot be compared."""
    if obs_calendar == target_calendar or {obs_calendar, target_calendar} <= _GREGORIAN:
        return
    raise CalendarError(
        f"The observations use the '{obs_calendar}' calendar and the target the "
        f"'{target_calendar}' calendar; dates cannot be matched. Convert one of them, e.g. "
        f"`target = target.convert_calendar('{obs_calendar}', align_on='date')` (or convert the "
        "observations' time to the target's calendar)."
    )


def to_days(values: np.ndarray, calendar: str) -> np.ndarray:
    """Float days since 1950-01-01 (NaN for missing times)."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        days = (
            values.astype("datetime64[ns]") - np.datetime64("1950-01-01", "ns")
        ) / np.timedelta64(1, "D")
        return np.asarray(days, float)
    out = np.full(values.shape, np.nan)
    ok = np.array([v is not None for v in values.ravel()]).reshape(values.shape)
    if ok.any():
        out[ok] = cftime.date2num(list(values[ok]), REFERENCE, calendar=calendar)
    return out


def from_days(days: np.ndarray, calendar: str, like: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_days`, returning the same kind of times as ``like``."""
    days = np.asarray(days, float)
    if np.issubdtype(np.asarray(like).dtype, np.datetime64):
        return np.datetime64("1950-01-01", "ns") + (days * 86400e9).astype("timedelta64[ns]")
    flat = cftime.num2date(days.ravel(), REFERENCE, calendar=calendar)
    return np.asarray(flat, dtype=object).reshape(days.shape)


def day_of_year(times: np.ndarray) -> np.ndarray:
    """Day of year (1-based, float) of each time, numpy datetimes or cftime objects; in a
    360-day calendar (a model's), the day of a 365.25-day year at the same fraction of it, so
    that a seasonal cycle keeps its phase.

    >>> day_of_year(np.array(["2021-02-01"], dtype="datetime64[ns]")).tolist()
    [32.0]
    >>> day_of_year(np.array([cftime.Datetime360Day(2021, 12, 30)])).round(2).tolist()
    [365.24]
    """
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return np.asarray(pd.DatetimeIndex(times.ravel()).day_of_year, float)
    return np.array(
        [
            1.0 + (t.dayofyr - 1.0) * 365.25 / 360.0 if t.calendar == "360_day" else t.dayofyr
            for t in times.ravel()
        ],
        float,
    )


def month_times(months) -> pd.DatetimeIndex:
    """The 15th of each month of ``months`` (``YYYY-MM`` strings).

    Examples
    --------
    >>> [str(t.date()) for t in month_times(["2041-01", "2042-02"])]
    ['2041-01-15', '2042-02-15']
    """
    return pd.DatetimeIndex([pd.Timestamp(f"{m}-15") for m in months])


def mid_months(start: str, months: int) -> pd.DatetimeIndex:
    """``months`` consecutive monthly times from ``start`` (``YYYY-MM``), each on the 15th.

    Examples
    --------
    >>> [str(t.date()) for t in mid_months("1981-11", 3)]
    ['1981-11-15', '1981-12-15', '1982-01-15']
    """
    return pd.date_range(f"{start}-01", periods=months, freq="MS") + pd.Timedelta(14, "D")


def window_bounds(time: np.ndarray, calendar: str, window: str | pd.Timedelta) -> np.ndarray:
    """``(n, 2)`` bounds, in days since 1950, of the analysis window around each target time.

    ``window="month"`` takes the calendar month of each time; a timedelta (or a string such as
    ``"10D"``) takes that length centred on it.
    """
    days = to_days(time, calendar)
    if isinstance(window, str) and window.lower() in {"month", "monthly", "ms", "m"}:
        dates = cftime.num2date(days, REFERENCE, calendar=calendar)
        lo = [cftime.datetime(d.year, d.month, 1, calendar=calendar) for d in dates]
        hi = [
            cftime.datetime(d.year + d.month // 12, d.month % 12 + 1, 1, calendar=calendar)
            for d in dates
        ]
        return np.stack(
            [
                cftime.date2num(lo, REFERENCE, calendar=calendar),
                cftime.date2num(hi, REFERENCE, calendar=calendar),
            ],
            axis=1,
        ).astype(float)
    try:
        half = pd.Timedelta(window) / pd.Timedelta(days=1) / 2.0
    except (ValueError, TypeError):
        half = None
    if half is None or not half > 0:
        raise InputError(
            f"window={window!r} is not an analysis window: use 'month' (the calendar month of "
            "each time) or a positive duration such as '10D' or '12h' centred on each time."
        )
    return np.stack([days - half, days + half], axis=1)


def in_time_steps(
    obs_time: np.ndarray, obs_calendar: str, bounds_days: np.ndarray, target_calendar: str
) -> np.ndarray:
    """Whether each observation lies in each time step's window ``[lo, hi)``: ``(observation,
    time step)`` booleans. Windows may overlap (running windows, repeated times): an
    observation then serves every time step whose window holds it."""
    check_calendars(obs_calendar, target_calendar)
    t = to_days(obs_time, target_calendar if obs_calendar in _GREGORIAN else obs_calendar)
    return (t[:, None] >= bounds_days[None, :, 0]) & (t[:, None] < bounds_days[None, :, 1])
