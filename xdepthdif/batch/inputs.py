"""The inputs of a batch run, as the command line names them: files, globs, zarr stores or
catalog entries for the target and the observations, and ``KEY=VALUE`` options.

Examples
--------
>>> parse_options(["length_scale_km=500", "search_radius=null", "device=cuda"])
{'length_scale_km': 500, 'search_radius': None, 'device': 'cuda'}
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from ..errors import CatalogError, FileFormatError, InputError
from .manifest import BatchError

__all__ = ["from_catalog", "input_paths", "open_inputs", "parse_options"]


def open_inputs(target: str | os.PathLike, obs: str | os.PathLike) -> tuple[xr.Dataset, xr.Dataset]:
    """Open the target grid and the observations named on the command line.

    Parameters
    ----------
    target
        netCDF or zarr path, or a glob of them (several files are combined by coordinates),
        or a catalog entry ``CATALOG/ENTRY?key=value&...`` (see :func:`xdepthdif.catalog`;
        the keys are the entry's reader arguments, e.g.
        ``sample/synthetic_ocean?months=3&resolution=4``).
    obs
        EN4 profile files (path or glob; read with :func:`xdepthdif.obs.read_en4`),
        netCDF/zarr files already in the profile layout (checked with
        :func:`xdepthdif.obs.validate_profiles` and concatenated along ``profile``), or a
        catalog entry that gives profiles (e.g. ``en4/en4_profiles?year=2020&month=1``).

    Returns
    -------
    target, profiles
        The (lazily opened) target dataset and the validated profiles.

    Raises
    ------
    InputError
        When a path or glob matches nothing.
    FileFormatError
        When a file is neither netCDF nor zarr.
    CatalogError
        When a catalog query is not ``key=value&...`` or the entry refuses a parameter.

    Examples
    --------
    >>> open_inputs("no_such_target.nc", "obs.nc")
    Traceback (most recent call last):
    ...
    xdepthdif.errors.InputError: target 'no_such_target.nc' matches no file or zarr store; ...
    """
    from ..obs import concat_profiles, read_en4, validate_profiles

    target_ds = from_catalog(target)
    if target_ds is None:
        target_ds = _open(_expand(target, "target"), "target")
    profiles = from_catalog(obs)
    if profiles is not None:
        return target_ds, validate_profiles(profiles.load())
    obs_paths = _expand(obs, "obs")
    if not _is_zarr(obs_paths[0]) and _is_en4(obs_paths[0], "obs"):
        return target_ds, read_en4(obs_paths)  # validated by read_en4
    parts = [validate_profiles(_open([p], "obs").load()) for p in obs_paths]
    return target_ds, parts[0] if len(parts) == 1 else concat_profiles(parts)


def input_paths(*specs: str | os.PathLike | None) -> list[str]:
    """The existing local paths that ``specs`` (paths or quoted globs, as given to
    :func:`open_inputs`) name; catalog entries and URLs name none.

    Examples
    --------
    >>> input_paths("no_such_file.nc", "en4/en4_profiles?year=2020", None)
    []
    """
    found = []
    for spec in specs:
        if spec is None or "://" in os.fspath(spec):
            continue
        found += [p for p in _matches(os.fspath(spec)) if os.path.exists(p)]
    return found


def _matches(text: str) -> list[str]:
    """An existing path as it is (it may hold ``[``), else the paths its glob matches."""
    if os.path.exists(text) or not any(c in text for c in "*?["):
        return [text]
    return sorted(glob.glob(text))


def from_catalog(spec: str | os.PathLike) -> xr.Dataset | None:
    """The data of a catalog entry named ``CATALOG/ENTRY[?key=value&...]``, or None when
    ``spec`` is not one (an existing path, a URL, or a name no catalog has)."""
    from ..sources.catalog import catalog, catalog_names

    text = os.fspath(spec)
    head, _, query = text.partition("?")  # a query may hold URLs (base_url=https://...)
    name, sep, entry = head.partition("/")
    local = Path(head).exists() or Path(name).is_dir()  # a local folder named like a catalog
    if not sep or "://" in head or name not in catalog_names() or local:
        return None
    if any(c in entry for c in "*?["):
        raise InputError(
            f"{text!r} names catalog {name!r} but its entry {entry!r} is a glob; catalog "
            f"entries are {sorted(catalog(name).entries)}. For local files, give a path that "
            "exists (e.g. ./" + head + ")."
        )
    cat = catalog(name)
    if entry not in cat.entries:
        raise InputError(
            f"catalog {name!r} has no entry {entry!r}; its entries are {sorted(cat.entries)}."
        )
    return cat[entry].read(**_parse_query(query, f"{name}/{entry}"))


def _parse_query(query: str, entry: str) -> dict[str, Any]:
    """The ``key=value&...`` of a catalog entry's query, as :func:`parse_options` reads
    values; an item without ``=`` is a :class:`CatalogError`."""
    pairs = query.split("&") if query else []
    for pair in pairs:
        key, sep, _ = pair.partition("=")
        if not sep or not key.strip():
            raise CatalogError(
                f"{entry}: the catalog query item {pair!r} is not key=value; write e.g. "
                f"{entry}?months=3&resolution=4 (quote it in the shell)."
            )
    return parse_options(pairs)


def parse_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are parsed as JSON when they can be, else kept
    as strings (see the module example).

    Raises
    ------
    BatchError
        When an item has no ``=``.
    """
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise BatchError(
                f"--option {pair!r} is not KEY=VALUE; write e.g. --option length_scale_km=500."
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options[key.strip()] = tuple(value) if isinstance(value, list) else value
    return options


def _expand(path: str | os.PathLike, what: str) -> list[str]:
    text = os.fspath(path)
    found = [p for p in _matches(text) if os.path.exists(p)]
    if not found:
        raise InputError(
            f"{what} {text!r} matches no file or zarr store; check the path (a glob such as "
            "'data/*.nc' must be quoted so that the shell does not expand it)."
        )
    return found


def _is_zarr(path: str) -> bool:
    return path.rstrip("/").endswith(".zarr") or os.path.isdir(path)


def _is_en4(path: str, what: str) -> bool:
    _check_format([path], what)
    with xr.open_dataset(path, decode_times=False, decode_cf=False) as ds:
        return "POTM_CORRECTED" in ds.variables


def _open(paths: list[str], what: str) -> xr.Dataset:
    _check_format(paths, what)
    zarr = any(_is_zarr(p) for p in paths)
    if len(paths) == 1:
        return xr.open_zarr(paths[0]) if zarr else xr.open_dataset(paths[0])
    # Files split along time: variables without the concatenated dimension (a land/sea mask)
    # are taken from the first file, not stacked.
    return xr.open_mfdataset(
        paths,
        engine="zarr" if zarr else None,
        combine="by_coords",
        data_vars="minimal",
        coords="minimal",
        compat="override",
    )


_ZARR_METADATA = (".zgroup", ".zmetadata", "zarr.json")


def _check_format(paths: list[str], what: str) -> None:
    """Refuse a file that no xarray backend reads (by its signature and name) or a folder
    without zarr metadata, naming it.

    Raises
    ------
    FileFormatError
    """
    from xarray.backends.plugins import guess_engine

    for path in paths:
        if _is_zarr(path):
            ok = any(os.path.exists(os.path.join(path, m)) for m in _ZARR_METADATA)
            found = "a folder without zarr metadata (.zgroup or zarr.json)"
        else:
            try:
                guess_engine(path)
                ok = True
            except ValueError:
                ok, found = False, "a file that no installed xarray backend can read"
        if not ok:
            raise FileFormatError(
                f"{what} {path!r} is {found}; give a netCDF (.nc) file, a zarr store, or a "
                "quoted glob of them."
            )
