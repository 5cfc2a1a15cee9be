"""Figures for analyses: a map at one depth with the observations, a depth section, error by
depth. matplotlib is imported only when a figure is drawn (``pip install xdepthdif[plot]``).

Latitudes read 10°S/10°N and longitudes 30°W/30°E; temperatures are in °C whatever spelling
the data use; land is grey, and ocean cells without an analysis (below the deepest profile with
``background="level_mean"``) are white, so the two are never confused.

Examples
--------
>>> lat_label(-4.8), lat_label(0.0), lon_label(330.0), lon_label(12.5), lon_label(180.0)
('4.8°S', '0°', '30°W', '12.5°E', '180°')
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr

from ..grid.geo import lon_cells


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Figures need matplotlib: pip install 'xdepthdif[plot]'.") from err
    return plt


LAND = "0.82"
"""Grey of land (and of the sea floor) in every figure."""


def lat_label(value: float) -> str:
    """``-4.8`` → ``'4.8°S'``."""
    v = round(float(value), 1)
    return "0°" if v == 0 else f"{abs(v):g}°{'N' if v > 0 else 'S'}"


def lon_label(value: float) -> str:
    """``330`` → ``'30°W'``; ``12.5`` → ``'12.5°E'``."""
    v = round((float(value) + 180.0) % 360.0 - 180.0, 1)
    if v == 0 or v == -180:
        return "0°" if v == 0 else "180°"
    return f"{abs(v):g}°{'E' if v > 0 else 'W'}"


def units_label(attrs: dict) -> str:
    """One spelling of the units: ``°C`` for any Celsius spelling."""
    units = str(attrs.get("units", ""))
    celsius = {"degc", "deg_c", "celsius", "degree_celsius", "degrees_celsius", "°c"}
    return "°C" if units.lower() in celsius else units


def _degree_axes(ax, x: str | None = "lon", y: str | None = "lat") -> None:
    from matplotlib.ticker import FuncFormatter

    formats = {"lon": lon_label, "lat": lat_label}
    if x:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: formats[x](v)))
    if y:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: formats[y](v)))


def _sorted_lon(field: xr.DataArray, lon_name: str) -> xr.DataArray:
    """Longitudes unwrapped into one increasing run (so regional grids crossing 0° plot whole)."""
    cells = lon_cells(field[lon_name].values)
    unwrapped = np.empty(cells.order.size)
    unwrapped[cells.order] = cells.centres
    if unwrapped.max() > 180:
        unwrapped = unwrapped - 360.0
    return field.assign_coords({lon_name: unwrapped}).sortby(lon_name)


def plot_map(
    field: xr.DataArray,
    path: Path,
    *,
    lat: str = "lat",
    lon: str = "lon",
    obs: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    title: str = "",
    label: str | None = None,
    cmap: str = "RdYlBu_r",
) -> Path:
    """Map of a 2-D ``(lat, lon)`` field with observation positions overlaid; land grey."""
    plt = _pyplot()
    field = _sorted_lon(field, lon)
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    ax.set_facecolor(LAND)
    mesh = ax.pcolormesh(field[lon], field[lat], field.values, shading="nearest", cmap=cmap)
    fig.colorbar(mesh, ax=ax, label=label or units_label(field.attrs))
    shift = 0.0 if field[lon].max() <= 180 else 360.0
    for (name, (plat, plon)), style in zip((obs or {}).items(), ("ko", "wx", "k^"), strict=False):
        plon = (np.asarray(plon) + 180.0) % 360.0 - 180.0 + shift
        ax.plot(plon, plat, style, ms=4, mfc="none" if style == "ko" else None, label=name)
    if obs:
        ax.legend(loc="lower left", fontsize=8)
    _degree_axes(ax)
    ax.set(xlabel="longitude", ylabel="latitude", title=title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_section(
    fields: dict[str, xr.DataArray],
    path: Path,
    *,
    lon: str = "lon",
    depth: str = "depth",
    title: str = "",
    ocean: xr.DataArray | None = None,
    profiles: dict[str, np.ndarray] | None = None,
) -> Path:
    """Depth sections ``(depth, lon)`` side by side, sharing one colour scale.

    ``ocean`` (``(depth, lon)``, true in the sea) marks ocean cells a field leaves NaN, drawn
    white; land and the sea floor are grey. ``profiles`` maps a label to the longitudes of
    the profiles near the section, drawn as markers along its top.
    """
    from matplotlib.patches import Patch

    plt = _pyplot()
    fields = {k: _sorted_lon(v, lon) for k, v in fields.items()}
    vmin = min(float(np.nanmin(v)) for v in fields.values())
    vmax = max(float(np.nanmax(v)) for v in fields.values())
    fig, axes = plt.subplots(
        1,
        len(fields),
        figsize=(4.5 * len(fields), 4),
        sharey=True,
        constrained_layout=True,
        squeeze=False,
    )
    sea = None if ocean is None else _sorted_lon(ocean, lon)
    handles = [Patch(facecolor=LAND, label="land, sea floor")]
    for ax, (name, f) in zip(axes[0], fields.items(), strict=True):
        ax.set_facecolor(LAND)
        mesh = ax.pcolormesh(
            f[lon], f[depth], f.values, shading="nearest", cmap="RdYlBu_r", vmin=vmin, vmax=vmax
        )
        if sea is not None:
            missing = np.where(sea.values.astype(bool) & np.isnan(f.values), 1.0, np.nan)
            if np.isfinite(missing).any():
                ax.pcolormesh(
                    f[lon], f[depth], missing, shading="nearest", cmap="Greys", vmin=0, vmax=50
                )  # near white
                if len(handles) == 1:
                    handles.append(
                        Patch(facecolor="white", edgecolor="k", label="ocean, no analysis")
                    )
        for (label, plon), marker in zip((profiles or {}).items(), ("v", "x"), strict=False):
            if np.size(plon) == 0:  # none near the section: an empty line breaks the layout
                continue
            x = (np.asarray(plon) + 180.0) % 360.0 - 180.0
            if f[lon].max() > 180:
                x = np.where(x < 0, x + 360.0, x)
            ax.plot(x, np.full(x.size, float(f[depth].min())), marker, color="k", ms=6,
                    clip_on=False, label=label)  # fmt: skip
        _degree_axes(ax, y=None)
        ax.set(title=name, xlabel="longitude")
    axes[0, 0].set(ylabel="depth (m)", ylim=(float(f[depth].max()), 0))
    axes[0, 0].set_yscale("symlog", linthresh=100.0)
    fig.colorbar(mesh, ax=axes[0, -1], label="°C")
    if profiles:
        handles += axes[0, 0].get_legend_handles_labels()[0]
    axes[0, 0].legend(handles=handles, loc="lower left", fontsize=7)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_error_by_depth(
    depth: np.ndarray,
    curves: dict[str, np.ndarray],
    path: Path,
    *,
    title: str = "",
    xlabel: str = "RMSE (°C)",
) -> Path:
    """Error profiles: one curve per method, depth increasing downwards."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.5), constrained_layout=True)
    styles = itertools.cycle(("o-", "s-", "^--", "v:", "d-."))
    for (name, values), style in zip(curves.items(), styles, strict=False):
        ax.plot(values, depth, style, ms=3, label=name)
    ax.set(xlabel=xlabel, ylabel="depth (m)")
    ax.set_title(title, fontsize=9)
    ax.set_yscale("symlog", linthresh=100.0)
    ax.set_ylim(float(np.max(depth)), 0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_skill_vs_fraction(table, path: Path, *, title: str = "") -> Path:
    """RMSE at unobserved points against the share of columns observed, with 95 % intervals,
    one line per method and one panel per case.

    ``table`` has the columns ``case``, ``fraction``, ``method``, ``rmse_unobserved`` and
    ``rmse_unobserved_lo``/``_hi`` (see :func:`xdepthdif.evaluation.report.score_table`).
    """
    plt = _pyplot()
    from matplotlib.ticker import LogLocator, ScalarFormatter

    cases = list(dict.fromkeys(table["case"]))
    fig, axes = plt.subplots(
        1, len(cases), figsize=(4.6 * len(cases), 4.4), layout="constrained", squeeze=False
    )
    styles = ("o-", "s--", "^-", "v:", "d-.", "x-", "P--", "*-")
    for ax, case in zip(axes[0], cases, strict=True):
        rows = table[table["case"] == case]
        for i, (method, g) in enumerate(rows.groupby("method", sort=False)):
            g = g.sort_values("fraction")
            y = g["rmse_unobserved"].to_numpy()
            err = np.abs(np.stack([g["rmse_unobserved_lo"], g["rmse_unobserved_hi"]]) - y)
            ax.errorbar(
                100 * g["fraction"], y, yerr=np.nan_to_num(err), fmt=styles[i % len(styles)],
                ms=4, capsize=2, label=method,
            )  # fmt: skip
        shares = sorted(100 * rows["fraction"].unique())
        ax.set(xscale="log", yscale="log", xlabel="ocean columns observed (%)", title=case)
        ax.set_xticks(shares, [f"{v:g}" for v in shares])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("RMSE at unobserved points, 0–2000 m (°C)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=7)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
