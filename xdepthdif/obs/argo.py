"""Argo data (argopy points or ``N_PROF × N_LEVELS`` profiles) into the profile layout.

Per profile, ``<PARAM>_ADJUSTED`` (and its ``_QC``) is used when ``DATA_MODE`` is 'A' or 'D',
the raw parameter otherwise. Levels whose pressure or temperature QC is '3' or '4' are
rejected, profiles whose position or time QC is '3' or '4' too, each counted by reason.
Levels with a negative pressure (above the surface) are dropped and counted too.
Pressure (dbar) becomes depth with ``gsw.z_from_p`` (depth = −z) and in-situ temperature
becomes potential temperature (reference 0 dbar) with ``gsw.pt0_from_t``, using Absolute
Salinity from ``PSAL``; where salinity is absent or flagged bad, a practical salinity of 35 is
assumed (the error that causes is below 0.005 °C in the upper 2000 m).

Examples
--------
>>> import numpy as np, xarray as xr
>>> pts = xr.Dataset({
...     "PRES": ("N_POINTS", [10.0, 1000.0]), "TEMP": ("N_POINTS", [20.0, 5.0]),
...     "PSAL": ("N_POINTS", [35.0, 35.0]), "DATA_MODE": ("N_POINTS", ["R", "R"]),
...     "PLATFORM_NUMBER": ("N_POINTS", [6901234, 6901234]),
...     "CYCLE_NUMBER": ("N_POINTS", [7, 7])},
...     coords={"LATITUDE": ("N_POINTS", [30.0, 30.0]), "LONGITUDE": ("N_POINTS", [-40.0, -40.0]),
...             "TIME": ("N_POINTS", np.array(["2020-03-01T06:00"] * 2, "datetime64[ns]"))})
>>> ds = from_argo(pts)
>>> ds.sizes["profile"], ds.depth.values.round(1).tolist()
(1, [[9.9, 990.8]])
>>> bool(ds.thetao.values[0, 1] < 5.0)
True
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xdepthdif.errors import InputError, ProfileLayoutError

from .layout import validate_profiles, with_tally
from .points import group_points, scatter
from .units import FILL_THRESHOLD, decode_time, pressure_to_dbar, temperature_to_degc

_PARAMS = ("PRES", "TEMP", "PSAL")
_BAD = (3, 4)


def qc_codes(values: np.ndarray) -> np.ndarray:
    """Argo QC flags (bytes, str or numbers) as integers, -1 where blank or missing.

    >>> qc_codes(np.array([b"1", b"4", b" "])).tolist()
    [1, 4, -1]
    """
    v = np.asarray(values)
    if v.dtype.kind in "iu":
        return v.astype(np.int64)
    if v.dtype.kind == "f":
        return np.where(np.isfinite(v), v, -1).astype(np.int64)
    if v.dtype.kind == "O":
        v = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in v.ravel()]).reshape(
            v.shape
        )
    text = np.char.strip(v.astype("U") if v.dtype.kind == "S" else v)
    out = np.full(v.shape, -1, dtype=np.int64)
    for code in range(10):
        out[text == str(code)] = code
    return out


def _text(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values)
    if v.dtype.kind == "S":
        v = np.char.decode(v, "ascii", "replace")
    return np.char.strip(v.astype(str))


def _in_argo_units(ds: xr.Dataset) -> xr.Dataset:
    """``PRES*`` in dbar and ``TEMP*`` in °C, whatever their ``units`` say.

    Without a ``units`` attribute the Argo convention holds (dbar, °C); units that are not a
    pressure or a temperature are refused with a :class:`~xdepthdif.errors.UnitsError`.
    """
    out = ds.copy()
    for name in ds.variables:
        units = ds[name].attrs.get("units")
        if name.endswith("_QC"):
            continue
        if units is None or not str(units).strip():
            _check_assumed_units(ds[name], str(name))
            continue
        values = np.asarray(ds[name].values, dtype=np.float64)
        fill = np.abs(values) == FILL_THRESHOLD  # Argo's fill value stays fill (Pa exceed it)
        values = np.where(fill, np.nan, values)
        if name.startswith("PRES"):
            converted = pressure_to_dbar(values, units, name=str(name))
        elif name.startswith("TEMP"):
            is_error = name.endswith("_ERROR")
            converted = temperature_to_degc(values, units, name=str(name), difference=is_error)
        else:
            continue
        attrs = {k: v for k, v in ds[name].attrs.items() if k != "units"}
        out[name] = ds[name].copy(data=converted).assign_attrs(attrs, units=_ARGO_UNITS[name[:4]])
    return out


_ARGO_UNITS = {"PRES": "dbar", "TEMP": "degC"}


def _check_assumed_units(da: xr.DataArray, name: str) -> None:
    """Refuse a ``TEMP*`` without ``units`` whose values cannot be the assumed °C (kelvin,
    Fahrenheit), naming the variable to label."""
    if not name.startswith("TEMP") or name.endswith("_ERROR") or da.dtype.kind not in "fiu":
        return
    values = np.asarray(da.values, dtype=np.float64)
    temperature_to_degc(values, _ARGO_UNITS["TEMP"], name=name, assumed=True)


def _as_profiles(ds: xr.Dataset) -> tuple[dict, dict, int]:
    """Per-level (``(P, L)``) and per-profile (``(P,)``) arrays of either Argo form."""
    time_name = next((n for n in ("TIME", "JULD") if n in ds.variables), None)
    need = ["LATITUDE", "LONGITUDE", "PRES", "TEMP"]
    missing = [n for n in need if n not in ds.variables] + ([] if time_name else ["TIME/JULD"])
    if missing:
        raise ProfileLayoutError(
            f"Argo data lack {missing}; found {sorted(map(str, ds.variables))}. "
            "Expected argopy points or N_PROF x N_LEVELS profiles."
        )
    level_names = [
        n
        for p in _PARAMS
        for n in (p, f"{p}_QC", f"{p}_ADJUSTED", f"{p}_ADJUSTED_QC")
        if n in ds.variables
    ] + [n for n in ("TEMP_ADJUSTED_ERROR",) if n in ds]
    prof_names = {
        "time": time_name,
        "lat": "LATITUDE",
        "lon": "LONGITUDE",
        "mode": "DATA_MODE",
        "pos_qc": "POSITION_QC",
        "time_qc": "TIME_QC" if "TIME_QC" in ds else "JULD_QC",
        "platform": "PLATFORM_NUMBER",
    }
    prof_names = {k: v for k, v in prof_names.items() if v in ds.variables}
    if "N_POINTS" in ds.dims:
        keys = (
            [
                ds[n].values
                for n in ("PLATFORM_NUMBER", "CYCLE_NUMBER", "DIRECTION")
                if n in ds.variables
            ]
            if {"PLATFORM_NUMBER", "CYCLE_NUMBER"} <= set(ds.variables)
            else [ds[time_name].values, ds["LATITUDE"].values, ds["LONGITUDE"].values]
        )
        pres = np.asarray(ds["PRES"].values, dtype=np.float64)
        if "PRES_ADJUSTED" in ds:
            pres = np.where(np.isfinite(pres), pres, ds["PRES_ADJUSTED"].values)
        prof, lev, n_prof, n_lev, first = group_points(keys, pres)
        levels = {
            n: scatter(
                ds[n].values,
                prof,
                lev,
                (n_prof, n_lev),
                fill=b" "
                if ds[n].dtype.kind == "S"
                else (" " if ds[n].dtype.kind in "UO" else np.nan),
            )
            for n in level_names
        }
        per_prof = {k: np.asarray(ds[v].values)[first] for k, v in prof_names.items()}
        return levels, {**per_prof, "_attrs": ds[time_name].attrs}, n_prof
    if not {"N_PROF", "N_LEVELS"} <= set(ds.dims):
        raise ProfileLayoutError(
            f"Argo data have dims {sorted(map(str, ds.dims))}; expected "
            "N_POINTS (argopy points) or N_PROF and N_LEVELS."
        )
    ds = ds.transpose("N_PROF", "N_LEVELS", ...)
    levels = {n: np.asarray(ds[n].values) for n in level_names}
    per_prof = {k: np.asarray(ds[v].values) for k, v in prof_names.items()}
    return levels, {**per_prof, "_attrs": ds[time_name].attrs}, ds.sizes["N_PROF"]


def from_argo(ds: xr.Dataset) -> xr.Dataset:
    """Turn Argo data into the profile layout (see the module docstring for the rules).

    Parameters
    ----------
    ds : xr.Dataset
        Either argopy's flat points (dim ``N_POINTS``; profiles are grouped by
        ``PLATFORM_NUMBER``/``CYCLE_NUMBER``/``DIRECTION`` when present, else by identical
        time and position) or profiles (dims ``N_PROF``, ``N_LEVELS``). Needs ``PRES`` (dbar,
        or as its ``units`` say: kPa, hPa, Pa, bar), ``TEMP`` (in situ; °C, or as its
        ``units`` say: K, degF), ``LATITUDE``, ``LONGITUDE``, ``TIME`` or ``JULD``; uses
        ``PSAL``, ``*_ADJUSTED``, ``*_QC``, ``DATA_MODE``, ``POSITION_QC``, ``TIME_QC``/
        ``JULD_QC`` and ``TEMP_ADJUSTED_ERROR`` (as ``thetao_error``) when present.

    Returns
    -------
    xr.Dataset
        Canonical profile layout; the tally counts ``rejected_position_qc``,
        ``rejected_time_qc``, ``levels_rejected_pres_qc``, ``levels_rejected_temp_qc`` and
        ``levels_rejected_above_surface`` (negative pressure, a sensor's offset: Argo's
        real-time QC passes down to -2.4 dbar; depth cannot be above the surface, so such
        levels are dropped here rather than refused as a sign mistake).
    """
    import gsw

    levels, prof, n = _as_profiles(_in_argo_units(ds))
    has_adjusted = any(f"{p}_ADJUSTED" in levels for p in _PARAMS)
    if has_adjusted and "mode" not in prof:
        raise InputError(
            "Argo data have *_ADJUSTED variables but no DATA_MODE; expected "
            "DATA_MODE ('R', 'A' or 'D') to choose between raw and adjusted values."
        )
    modes = np.char.upper(_text(prof["mode"])) if "mode" in prof else np.full(n, "R")
    adjusted = np.isin(modes, ["A", "D"])[:, None]

    def pick(param: str, suffix: str = "") -> np.ndarray | None:
        raw, adj = levels.get(param + suffix), levels.get(f"{param}_ADJUSTED{suffix}")
        if raw is None and adj is None:
            return None
        conv = qc_codes if suffix else (lambda a: np.asarray(a, dtype=np.float64))
        raw_v = conv(raw) if raw is not None else None
        adj_v = conv(adj) if adj is not None else None
        if adj_v is None:
            return raw_v
        return np.where(adjusted, adj_v, raw_v if raw_v is not None else -1 if suffix else np.nan)

    pres, temp, psal = pick("PRES"), pick("TEMP"), pick("PSAL")
    pres_qc, temp_qc, psal_qc = pick("PRES", "_QC"), pick("TEMP", "_QC"), pick("PSAL", "_QC")
    lat = np.asarray(prof["lat"], dtype=np.float64)
    lon = np.asarray(prof["lon"], dtype=np.float64)
    pos_bad = np.isin(qc_codes(prof["pos_qc"]), _BAD) if "pos_qc" in prof else np.zeros(n, bool)
    time_bad = (
        np.isin(qc_codes(prof["time_qc"]), _BAD) if "time_qc" in prof else np.zeros(n, bool)
    ) & ~pos_bad
    keep = ~(pos_bad | time_bad)
    has = (np.isfinite(pres) | np.isfinite(temp)) & keep[:, None]
    bad_p = has & (np.isin(pres_qc, _BAD) if pres_qc is not None else False)
    bad_t = has & ~bad_p & (np.isin(temp_qc, _BAD) if temp_qc is not None else False)
    drop = bad_p | bad_t
    pres, temp = np.where(drop, np.nan, pres), np.where(drop, np.nan, temp)
    sp = np.full(pres.shape, 35.0) if psal is None else psal.copy()
    if psal_qc is not None:
        sp[np.isin(psal_qc, _BAD)] = np.nan
    sp = np.where(np.isfinite(sp), sp, 35.0)
    depth = -gsw.z_from_p(pres, lat[:, None])
    above = depth < 0  # PRES < 0 (a sensor's offset; Argo flags only below -2.4 dbar)
    sa = gsw.SA_from_SP(sp, pres, lon[:, None], lat[:, None])
    theta = np.where(above, np.nan, gsw.pt0_from_t(sa, temp, pres))
    depth, drop = np.where(above, np.nan, depth), drop | above
    data_vars = {"thetao": (("profile", "level"), theta[keep], {"units": "degC"})}
    error = levels.get("TEMP_ADJUSTED_ERROR")
    if error is not None and np.any(np.isfinite(np.asarray(error, float)[adjusted[:, 0]])):
        error = np.where(adjusted & ~drop, np.asarray(error, float), np.nan)
        data_vars["thetao_error"] = (("profile", "level"), error[keep], {"units": "degC"})
    coords = {
        "depth": (("profile", "level"), depth[keep], {"units": "m", "positive": "down"}),
        "time": ("profile", decode_time(prof["time"], prof["_attrs"])[keep]),
        "lat": ("profile", lat[keep]),
        "lon": ("profile", lon[keep]),
    }
    if "platform" in prof:
        coords["platform"] = ("profile", _text(prof["platform"])[keep])
    counts = {
        "profiles_read": n,
        "profiles_used": int(keep.sum()),
        "rejected_position_qc": int(pos_bad.sum()),
        "rejected_time_qc": int(time_bad.sum()),
        "levels_rejected_pres_qc": int(bad_p.sum()),
        "levels_rejected_temp_qc": int(bad_t.sum()),
        "levels_rejected_above_surface": int((above & keep[:, None]).sum()),
    }
    return validate_profiles(with_tally(xr.Dataset(data_vars, coords=coords), counts))
