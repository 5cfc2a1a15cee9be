"""CMIP6 ``thetao`` through intake-esm (the Pangeo collection, or any ESM collection in its
layout), lazily, in the form of :func:`xdepthdif.sources.cmip6.prepare_thetao`.

:class:`CMIP6Reader` is the reader of the ``cmip6`` catalog's ``cmip6_thetao`` entry. intake-esm
(and gcsfs for the ``gs://`` stores of the Pangeo collection) are imported only when an entry is
read: ``pip install "xdepthdif[cmip6]"``.

Examples
--------
>>> from xdepthdif.sources.catalog import catalog
>>> entry = catalog("cmip6")["cmip6_thetao"]
>>> ds = entry.read(source_id="CESM2", experiment_id="historical", resolution=2)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd
import xarray as xr
from intake.readers.readers import BaseReader

from ..errors import GridError, InputError, XDepthDifError
from .cmip6 import prepare_thetao

__all__ = ["PANGEO_CMIP6", "CMIP6DependencyError", "CMIP6Error", "CMIP6Reader"]

#: The Pangeo CMIP6 collection on Google Cloud Storage (intake-esm JSON; zarr stores on gs://).
PANGEO_CMIP6 = "https://storage.googleapis.com/cmip6/pangeo-cmip6.json"


class CMIP6Error(InputError):
    """A CMIP6 search that finds nothing, or finds more than one dataset."""


class CMIP6DependencyError(XDepthDifError, ImportError):
    """An optional package needed to read CMIP6 through intake-esm is not installed."""


_INSTALL = 'pip install "xdepthdif[cmip6]"'
#: Search facets in the order they narrow a search, for explaining an empty result.
_FACET_ORDER = (
    "variable_id",
    "table_id",
    "experiment_id",
    "source_id",
    "member_id",
    "grid_label",
)


def _require(module: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise CMIP6DependencyError(f"{why} needs the package {module!r}: {_INSTALL}")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _levels(value: Sequence[float] | str | None) -> Sequence[float] | str | None:
    """``levels`` as given in a catalog: empty, a model name or path, or "5,10,20" (metres)."""
    if _blank(value) or not isinstance(value, str):
        return None if _blank(value) else value
    parts = [p.strip() for p in value.split(",")]
    try:
        return [float(p) for p in parts]
    except ValueError:
        if len(parts) > 1:
            raise InputError(
                f"levels={value!r}: expected depths in metres like '5,10,20'."
            ) from None
        return value


def _optional_float(value: Any, name: str) -> float | None:
    if _blank(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"{name} must be a number (or empty to keep the native grid/depths); got {value!r}."
        ) from err


_REMOTE_CACHE: dict[str, Any] = {}


def _open_collection(collection: str, storage_options: Mapping[str, Any]) -> Any:
    """The intake-esm datastore of ``collection``; remote collections are cached per process."""
    try:
        import intake_esm
    except ImportError as err:
        raise CMIP6DependencyError(
            f"Reading CMIP6 through an ESM collection needs intake-esm: {_INSTALL}"
        ) from err
    remote = "://" in collection and not collection.startswith("file://")
    if collection.startswith(("http://", "https://")):
        _require("aiohttp", f"Opening the collection {collection!r} over HTTP")
    if collection.startswith("gs://"):
        _require("gcsfs", f"Opening the collection {collection!r} on Google Cloud Storage")
    if remote and collection in _REMOTE_CACHE:
        return _REMOTE_CACHE[collection]
    if not remote and not os.path.isfile(collection.removeprefix("file://")):
        raise CMIP6Error(
            f"The ESM collection {collection!r} does not exist; give the path or URL of an "
            f"intake-esm collection JSON (the Pangeo one is {PANGEO_CMIP6!r})."
        )
    cat_options = dict(storage_options) if collection.startswith("gs://") else {}
    datastore = intake_esm.esm_datastore(collection, storage_options=cat_options)
    if remote:
        _REMOTE_CACHE[collection] = datastore
    return datastore


def _explain_no_match(datastore: Any, query: Mapping[str, Any]) -> str:
    """Narrow the search facet by facet; name the first facet that empties it, with the values
    that the search up to then does have."""
    order = [f for f in _FACET_ORDER if f in query] + [f for f in query if f not in _FACET_ORDER]
    done: dict[str, Any] = {}
    for facet in order:
        trial = {**done, facet: query[facet]}
        if len(datastore.search(**trial).df) == 0:
            if done:
                have = datastore.search(**done).df[facet]
                within = ", ".join(f"{k}={v!r}" for k, v in done.items())
            else:
                have = datastore.df[facet]
                within = "the collection"
            values = sorted({str(v) for v in have.dropna().unique()})
            shown = ", ".join(values[:60]) + (
                f", … ({len(values)} in all)" if len(values) > 60 else ""
            )
            return (
                f"No CMIP6 dataset with {facet}={query[facet]!r} among those with {within}. "
                f"Available {facet} values there: [{shown}]. Set {facet} to one of them."
            )
        done = trial
    return f"No CMIP6 dataset matches {dict(query)!r}."  # pragma: no cover - defensive


class CMIP6Reader(BaseReader):
    """CMIP6 ``thetao`` through intake-esm, lazily, in the form of :func:`prepare_thetao`.

    The collection is searched for exactly one dataset (one model, experiment, member, table
    and grid), opened with :meth:`intake_esm.core.esm_datastore.to_dataset_dict` (dask-backed:
    nothing is read but metadata), cut to ``start``–``end`` and passed to
    :func:`prepare_thetao` (°C, depth in metres, CF names; regridded if ``resolution`` is set).

    Parameters (as reader keyword arguments)
    ----------------------------------------
    collection : str
        Path or URL of an intake-esm collection JSON; by default the Pangeo CMIP6 collection
        :data:`PANGEO_CMIP6` (network; ``gs://`` zarr stores read anonymously with gcsfs).
    source_id, experiment_id : str
        Model and experiment, e.g. ``"CESM2"``, ``"historical"``.
    member_id : str, optional
        Ensemble member, e.g. ``"r1i1p1f1"``; empty or None accepts any, which is an error if
        there are several.
    table_id : str
        CMIP6 table, ``"Omon"`` (monthly ocean) by default.
    grid_label : str, optional
        ``"gn"`` (native grid, the default) or ``"gr"`` (regridded by the modelling centre);
        empty or None accepts any.
    variable_id : str
        ``"thetao"``.
    start, end : str, optional
        Time range kept (inclusive), e.g. ``"2000-01"``, ``"2014-12"``; empty keeps all.
    resolution : float, optional
        Regrid onto the global grid of this spacing in degrees (:func:`global_grid`); empty
        keeps the model grid.
    levels : str or sequence of float, optional
        Depths (m; a list, or ``"5,10,20"``) or a diffusion model (``"default"`` or a
        ``.safetensors`` path) whose levels the result is interpolated onto; see
        :func:`~xdepthdif.sources.cmip6.prepare_thetao`. Empty keeps the model's own levels.
    max_depth : float, optional
        Keep levels down to this depth in metres; empty keeps all.
    chunks : dict, optional
        dask chunks for :func:`xarray.open_dataset`; ``{}`` (the default) keeps the stores' own.
    storage_options : dict, optional
        fsspec options for the assets; ``{"token": "anon"}`` for ``gs://`` stores by default.
    facets : dict, optional
        Further search facets, e.g. ``{"institution_id": "NCAR"}``.
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"xarray", "dask", "intake_esm"}
    optional_imports: ClassVar[set[str]] = {"gcsfs", "aiohttp"}

    def _read(
        self,
        collection: str | os.PathLike = PANGEO_CMIP6,
        source_id: str | None = None,
        experiment_id: str | None = None,
        member_id: str | None = None,
        table_id: str = "Omon",
        grid_label: str | None = "gn",
        variable_id: str = "thetao",
        start: str | None = None,
        end: str | None = None,
        resolution: float | str | None = None,
        max_depth: float | str | None = None,
        levels: Sequence[float] | str | None = None,
        chunks: Mapping[str, int] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        facets: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> xr.Dataset:
        res = _optional_float(resolution, "resolution")
        depth = _optional_float(max_depth, "max_depth")
        collection = os.fspath(collection) if not _blank(collection) else PANGEO_CMIP6
        wanted = {
            "variable_id": variable_id,
            "table_id": table_id,
            "experiment_id": experiment_id,
            "source_id": source_id,
            "member_id": member_id,
            "grid_label": grid_label,
            **dict(facets or {}),
        }
        query = {k: v for k, v in wanted.items() if not _blank(v)}
        for needed in ("variable_id", "source_id", "experiment_id"):
            if needed not in query:
                raise CMIP6Error(
                    f"Give {needed} (e.g. source_id='CESM2', experiment_id='historical'); "
                    "searching the whole collection would match thousands of datasets."
                )
        options = dict(storage_options) if storage_options is not None else {"token": "anon"}
        datastore = _open_collection(collection, options)

        found = datastore.search(**query)
        if len(found.df) == 0:
            raise CMIP6Error(
                f"In the collection {collection!r}: " + _explain_no_match(datastore, query)
            )
        found = self._one_dataset(found, query)

        path_column = found.esmcat.assets.column_name
        assets = found.df[path_column].astype(str)
        open_options: dict[str, Any] | None = None
        if assets.str.startswith("gs://").any():
            _require("gcsfs", "Reading CMIP6 zarr stores on Google Cloud Storage (gs://)")
            open_options = options
        elif storage_options is not None:
            open_options = dict(storage_options)
        open_kwargs: dict[str, Any] = {"chunks": {} if chunks is None else dict(chunks), **kwargs}
        backend = dict(open_kwargs.pop("backend_kwargs", None) or {})
        # intake-esm hands zarr ``storage_options={}`` even for local stores, which zarr 3
        # refuses ("provided but unused"): give it None for local paths
        remote_assets = assets.str.contains("://").any()
        backend.setdefault("storage_options", open_options if remote_assets else None)
        open_kwargs["backend_kwargs"] = backend
        dsets = found.to_dataset_dict(
            xarray_open_kwargs=open_kwargs,
            storage_options=open_options,
            progressbar=False,
            threaded=False,
        )
        (key, ds), *_ = dsets.items()

        # join_new aggregations (member_id) add a length-1 dimension: drop it, keep the value
        control = found.esmcat.aggregation_control
        for agg in control.aggregations if control else []:
            dim = agg.attribute_name
            if agg.type.value == "join_new" and dim in ds.dims and ds.sizes[dim] == 1:
                ds = ds.isel({dim: 0}, drop=True)
        record = found.df.iloc[0]
        for facet in ("source_id", "experiment_id", "member_id", "table_id", "grid_label"):
            if facet in record and not pd.isna(record[facet]):
                ds.attrs.setdefault(facet, str(record[facet]))
        ds.attrs["intake_esm_dataset_key"] = key

        if not (_blank(start) and _blank(end)):
            if "time" not in ds.dims:
                raise GridError(
                    f"{key} has no 'time' dimension (dims {tuple(ds.dims)}); drop start/end."
                )
            first, last = ds["time"].values[[0, -1]] if ds.sizes["time"] else (None, None)
            ds = ds.sel(
                time=slice(None if _blank(start) else str(start), None if _blank(end) else str(end))
            )
            if ds.sizes["time"] == 0:
                raise CMIP6Error(
                    f"No time step of {key} between start={start!r} and end={end!r}; the data "
                    f"run from {first} to {last}."
                )
        return prepare_thetao(ds, resolution=res, max_depth=depth, levels=_levels(levels))

    @staticmethod
    def _one_dataset(found: Any, query: Mapping[str, Any]) -> Any:
        """The search result if it holds one dataset of one member (the latest version of each
        store); a :class:`CMIP6Error` naming the arguments to set otherwise."""
        df = found.df
        control = found.esmcat.aggregation_control
        keys = sorted(found.keys())
        if len(keys) > 1:
            groupby = control.groupby_attrs if control else [c for c in _FACET_ORDER if c in df]
            varying = [c for c in groupby if c in df and df[c].nunique() > 1]
            choices = "; ".join(f"{c} (one of {sorted(map(str, df[c].unique()))})" for c in varying)
            raise CMIP6Error(
                f"The search {dict(query)!r} matches {len(keys)} datasets: {keys}. Set "
                f"{choices or 'more search facets'} to choose one (facets other than the "
                "reader's arguments go in facets={...})."
            )
        if "member_id" in df and df["member_id"].nunique() > 1:
            members = sorted(map(str, df["member_id"].unique()))
            raise CMIP6Error(
                f"The dataset {keys[0]} has {len(members)} members: {members}. Set member_id to "
                "one of them."
            )
        # the same store in several versions (it happens in pangeo-cmip6.csv): keep the latest
        variable = control.variable_column_name if control else "variable_id"
        same = [c for c in (variable, "member_id") if c in df]
        if "version" in df and same and df.duplicated(subset=same).any():
            found = found.search(version=df["version"].max())
        return found
