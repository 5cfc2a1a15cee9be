"""intake 2 catalogs of the data xdepthdif works with, opened lazily in the package's forms.

:func:`catalog` loads ``catalogs/<name>.yaml`` shipped with the package (or any intake 2
``version: 2`` YAML file) with :func:`intake.from_yaml_file`. Entries read to xarray objects
backed by dask: gridded temperatures in °C on depth in metres, profiles in the profile layout
of :func:`xdepthdif.obs.read_en4`. The ``sample`` catalog needs no network (the real files of
``iris-sample-data`` and the synthetic ocean). ``en4`` (profiles and objective analyses from
the yearly zips) and ``ostia`` (OSTIA L4 daily SST) download once, hash-checked and cached,
with :mod:`xdepthdif.sources.download`; ``cmip6`` opens ``thetao`` through intake-esm and the
Pangeo collection (:class:`xdepthdif.sources.cmip6_esm.CMIP6Reader`). Nothing is read or
downloaded until an entry's ``read()`` is called.

Examples
--------
>>> from xdepthdif.sources.catalog import catalog
>>> cat = catalog("sample")
>>> sorted(cat.entries)
['atlantic_profiles', 'nemo_sst', 'ostia_monthly', 'synthetic_ocean']
>>> ds = cat["synthetic_ocean"].read(months=1, resolution=10.0)
>>> ds["thetao"].attrs["units"], ds["thetao"].chunks is not None
('degC', True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

import intake
import pandas as pd
import xarray as xr

from ..errors import CatalogError
from ..obs.units import celsius_offset, is_metres
from .entry import ENTRY_KEY, LABEL_KEY, PARAMS_KEY, EntryReader

__all__ = [
    "CatalogError",
    "EN4AnalysesReader",
    "EN4ProfilesReader",
    "NetCDFReader",
    "OSTIAL4Reader",
    "SyntheticOceanReader",
    "catalog",
    "catalog_names",
]

_TEMPERATURE_STANDARD_NAMES = {
    "sea_water_potential_temperature",
    "sea_water_temperature",
    "sea_surface_temperature",
    "surface_temperature",
    "sea_surface_foundation_temperature",
}


def catalog_names() -> list[str]:
    """The catalogs shipped with the package.

    Returns
    -------
    list of str
        Names accepted by :func:`catalog`.

    Examples
    --------
    >>> catalog_names()
    ['cmip6', 'en4', 'ostia', 'sample']
    """
    root = files("xdepthdif.catalogs")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


_INTAKE_OWN = {"CATALOG_DIR", "CATALOG_PATH", "STORAGE_OPTIONS"}  # set by intake itself


def _sample_data_dir() -> str:
    try:
        import iris_sample_data
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise CatalogError(
            "The 'sample' catalog needs iris-sample-data: pip install iris-sample-data."
        ) from err
    return str(Path(iris_sample_data.__file__).parent / "sample_data")


def catalog(name: str | os.PathLike = "sample", **parameters: Any) -> intake.readers.entry.Catalog:
    """Load an intake 2 catalog: one shipped with the package, by name, or a YAML file.

    Parameters
    ----------
    name : str or path
        ``"sample"`` (offline: iris-sample-data files and the synthetic ocean), ``"en4"``
        (EN4 profiles and analyses, downloaded), ``"ostia"`` (OSTIA L4 daily, downloaded),
        ``"cmip6"`` (intake-esm), or the path of a ``version: 2`` intake YAML file.
    **parameters
        Catalog-level user parameters to set, e.g. ``SAMPLE_DATA="/my/copy"``; they fill the
        ``{NAME}`` templates of the entries.

    Returns
    -------
    intake.readers.entry.Catalog
        ``cat["entry"].read(**overrides)`` gives the data; ``cat.entries`` lists them.

    Raises
    ------
    CatalogError
        Unknown name or missing file.

    Examples
    --------
    >>> cat = catalog("en4")
    >>> list(cat.entries)
    ['en4_profiles', 'en4_analyses']
    """
    path = Path(os.fspath(name))
    if path.suffix not in (".yaml", ".yml"):
        if str(name) not in catalog_names():
            raise CatalogError(
                f"No catalog named {name!r}; choose from {catalog_names()} or give a YAML path."
            )
        path = Path(str(files("xdepthdif.catalogs") / f"{name}.yaml"))
    if not path.is_file():
        raise CatalogError(f"Catalog file {str(path)!r} does not exist.")
    cat = intake.from_yaml_file(str(path))
    if "SAMPLE_DATA" in cat.user_parameters and "SAMPLE_DATA" not in parameters:
        parameters["SAMPLE_DATA"] = _sample_data_dir()
    label = str(name) if str(name) in catalog_names() else path.stem
    for key, desc in cat.entries.items():  # readers name their entry in their errors
        desc.metadata = {**desc.metadata, ENTRY_KEY: f"{label}/{key}", LABEL_KEY: label}
        desc.metadata[PARAMS_KEY] = sorted(set(map(str, cat.user_parameters)) - _INTAKE_OWN)
    for key, value in parameters.items():
        if key in cat.user_parameters and hasattr(cat.user_parameters[key], "default"):
            cat.user_parameters[key].default = value
        else:
            cat.user_parameters[key] = value
    return cat


def _open_days_or_months(
    paths: Sequence[Any], chunks: Mapping[str, int], **kwargs: Any
) -> xr.Dataset:
    """Files of one product, one time step each, lazily along time (netcdf4 engine)."""
    for key, value in (("engine", "netcdf4"), ("data_vars", "minimal"), ("coords", "minimal")):
        kwargs.setdefault(key, value)
    kwargs.setdefault("compat", "override")  # depth_bnds etc. are the same in every file
    return xr.open_mfdataset([str(p) for p in paths], chunks=dict(chunks), **kwargs)


def _to_celsius(ds: xr.Dataset) -> xr.Dataset:
    """Kelvin temperature variables to °C (lazily), depth in metres checked."""
    for name, var in ds.data_vars.items():
        if var.attrs.get("standard_name") in _TEMPERATURE_STANDARD_NAMES or name in (
            "theta",
            "thetao",
            "tos",
        ):
            offset = celsius_offset(var.attrs.get("units"), name=str(name))
            if offset:
                attrs = {**var.attrs, "units": "degC"}
                ds[name] = (var + offset).assign_attrs(attrs)
    for name in ("depth", "deptht", "lev"):
        if name in ds.coords and not is_metres(ds[name].attrs.get("units", "m")):
            raise CatalogError(f"{name} is in {ds[name].attrs['units']!r}; expected metres.")
    return ds


class NetCDFReader(EntryReader):
    """netCDF files opened lazily with dask (``engine="netcdf4"``), temperatures in °C.

    Parameters (as reader keyword arguments)
    ----------------------------------------
    paths : str or list of str
        Files or glob patterns, as for :func:`xarray.open_mfdataset`.
    chunks : dict, optional
        dask chunks; ``{}`` (the default) uses the files' own chunking.
    rename : dict, optional
        Variables to rename, e.g. ``{"theta": "thetao"}``.
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"xarray", "dask", "netCDF4"}
    _passes_on: ClassVar[str] = " and the keyword arguments of xarray.open_mfdataset"

    def _read(
        self,
        paths: str | Sequence[str],
        chunks: Mapping[str, int] | None = None,
        rename: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> xr.Dataset:
        kwargs.setdefault("engine", "netcdf4")
        ds = xr.open_mfdataset(self.existing(paths), chunks=self.chunks(chunks), **kwargs)
        if rename:
            ds = ds.rename(dict(rename))
        return _to_celsius(ds)


class SyntheticOceanReader(EntryReader):
    """:func:`xdepthdif.prior.synthetic.synthetic_ocean` for ``months`` months from ``start``.

    Parameters (as reader keyword arguments)
    ----------------------------------------
    start : str
        First month, e.g. ``"2020-01"``; fields are dated the 15th.
    months : int
        Number of months.
    resolution : float
        Grid spacing in degrees.
    split : str
        ``"train"`` or ``"test"`` (independent weather, same world).
    seed : int
        Weather seed.
    chunks : dict, optional
        dask chunks, by default one month per chunk.
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"xarray", "dask"}
    _entry: ClassVar[str] = "sample/synthetic_ocean"
    _passes_on: ClassVar[str] = " and synthetic_ocean's lat_range, levels and config"

    def _read(
        self,
        start: str = "2020-01",
        months: int = 12,
        resolution: float = 1.0,
        split: str = "train",
        seed: int = 0,
        chunks: Mapping[str, int] | None = None,
        **kwargs: Any,
    ) -> xr.Dataset:
        from ..prior.synthetic import SPLITS, synthetic_ocean
        from .params import month, number

        entry = self.entry
        start = month("start", start, entry=entry)
        months = number("months", months, int, low=1, entry=entry)
        resolution = number("resolution", resolution, low=0, high=30, strict=True, entry=entry)
        seed = number("seed", seed, int, low=0, entry=entry)
        split = self.choice("split", split, list(SPLITS))
        chunks = self.chunks(chunks) or {"time": 1}
        times = pd.date_range(start, periods=months, freq="MS") + pd.Timedelta(days=14)
        ds = synthetic_ocean(times, resolution=resolution, split=split, seed=seed, **kwargs)
        return ds.chunk(chunks)


class EN4ProfilesReader(EntryReader):
    """EN4 profiles of one month: the yearly zip downloaded and cached with pooch, then read
    with :func:`xdepthdif.obs.read_en4` (EN4 quality control, profile layout, °C, metres).

    Parameters (as reader keyword arguments)
    ----------------------------------------
    year, month : int
        The month.
    base_url : str, optional
        Server folder (a mirror, or a local server in tests); the Met Office by default.
    version : str
        EN4 version, ``"4.2.2"``.
    known_hash : str, optional
        sha256 of the yearly zip.
    chunks : int
        Profiles per dask chunk.
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"xarray", "dask", "pooch"}
    _entry: ClassVar[str] = "en4/en4_profiles"
    _passes_on: ClassVar[str] = " and the keyword arguments of xdepthdif.obs.read_en4"

    def _read(
        self,
        year: int,
        month: int,
        base_url: str | None = None,
        version: str = "4.2.2",
        known_hash: str | None = None,
        chunks: int = 100_000,
        **kwargs: Any,
    ) -> xr.Dataset:
        from ..obs import read_en4
        from .archives import EN4_BASE_URL, en4_profiles
        from .params import number

        entry = self.entry
        year = number("year", year, int, low=1900, high=2100, entry=entry)
        month = number("month", month, int, low=1, high=12, entry=entry)
        chunks = number("chunks", chunks, int, low=1, entry=entry)
        path = en4_profiles(
            year,
            month,
            version=str(version),
            base_url=base_url or EN4_BASE_URL,
            known_hash=known_hash or None,
        )
        return read_en4(path, **kwargs).chunk({"profile": int(chunks)})


class EN4AnalysesReader(EntryReader):
    """EN4 objective analyses from ``start`` to ``end``: the yearly zips downloaded and cached
    with pooch, the monthly files opened lazily, ``temperature`` (K) as ``thetao`` in °C.

    Parameters (as reader keyword arguments)
    ----------------------------------------
    start, end : str
        First and last month, e.g. ``"2020-01"``; ``end`` defaults to ``start``.
    base_url : str, optional
        Server folder; the Met Office by default.
    version : str
        EN4 version, ``"4.2.2"``.
    chunks : dict, optional
        dask chunks, by default one month per chunk.
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"xarray", "dask", "netCDF4", "pooch"}
    _entry: ClassVar[str] = "en4/en4_analyses"
    _passes_on: ClassVar[str] = " and the keyword arguments of xarray.open_mfdataset"

    def _read(
        self,
        start: str,
        end: str | None = None,
        base_url: str | None = None,
        version: str = "4.2.2",
        chunks: Mapping[str, int] | None = None,
        **kwargs: Any,
    ) -> xr.Dataset:
        from .archives import EN4_BASE_URL, en4_analyses
        from .params import month

        paths = en4_analyses(
            month("start", start, entry=self.entry),
            month("end", end, entry=self.entry) if end else None,
            version=str(version),
            base_url=base_url or EN4_BASE_URL,
        )
        ds = _open_days_or_months(paths, self.chunks(chunks) or {"time": 1}, **kwargs)
        names = {k: v for k, v in {"temperature": "thetao", "salinity": "so"}.items() if k in ds}
        return _to_celsius(ds.rename(names))


class OSTIAL4Reader(EntryReader):
    """OSTIA L4 daily SST from ``start`` to ``end``, downloaded and cached with pooch, opened
    lazily, ``analysed_sst`` in °C; ``mask``, ``sea_ice_fraction`` and ``analysis_error`` kept
    for :func:`xdepthdif.sources.ostia.ostia_sst`.

    Parameters (as reader keyword arguments)
    ----------------------------------------
    start, end : str
        First and last day, e.g. ``"2020-01-01"``; ``end`` defaults to ``start``.
    base_url : str, optional
        Folder of ``YYYY/DDD/`` day folders; NCEI's GHRSST archive by default.
    chunks : dict, optional
        dask chunks; ``{}`` (the default) uses the files' own chunking.
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"xarray", "dask", "netCDF4", "pooch"}
    _entry: ClassVar[str] = "ostia/ostia_l4"
    _passes_on: ClassVar[str] = " and the keyword arguments of xarray.open_mfdataset"

    def _read(
        self,
        start: str,
        end: str | None = None,
        base_url: str | None = None,
        chunks: Mapping[str, int] | None = None,
        **kwargs: Any,
    ) -> xr.Dataset:
        from .archives import OSTIA_BASE_URL, ostia_l4

        start = self.day("start", start)
        end = self.day("end", end) if end else None
        chunks = self.chunks(chunks)
        paths = ostia_l4(start, end, base_url=base_url or OSTIA_BASE_URL)
        return _to_celsius(_open_days_or_months(paths, chunks, **kwargs))
