"""The archives xdepthdif downloads from: EN4 yearly zips (profiles and objective analyses) and
GHRSST L4 OSTIA daily files, their URLs and fetchers on top of
:func:`xdepthdif.sources.download.fetch` (sha256-checked, cached, resumed).

EN4 monthly profile files are extracted from the yearly zips into the cache once; the sha256 of
each is recorded then and checked whenever it is served (:mod:`xdepthdif.sources.extracted`).
Nothing is downloaded at import.

Examples
--------
>>> en4_url(2020)
'https://www.metoffice.gov.uk/hadobs/en4/data/en4-2-1/EN.4.2.2/EN.4.2.2.profiles.g10.2020.zip'
>>> path = en4_profiles(2020, 1)  # doctest: +SKIP
>>> ds = xdepthdif.obs.read_en4(path)  # doctest: +SKIP
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .download import DownloadError, _retrieve, cache_dir, fetch, forget
from .extracted import RecordingUnzip, drop_changed, record_extracted

#: Where the Met Office serves the EN4 yearly profile and analysis zips.
EN4_BASE_URL = "https://www.metoffice.gov.uk/hadobs/en4/data/en4-2-1"


#: NCEI's file server for the GHRSST L4 OSTIA daily files, in ``YYYY/DDD/`` folders.
OSTIA_BASE_URL = "https://www.ncei.noaa.gov/thredds-ocean/fileServer/ghrsst/L4/GLOB/UKMO/OSTIA"


_EN4_KINDS = {"profiles": "profiles", "analyses": "analysis"}  # zip name -> member name


def en4_url(
    year: int, *, version: str = "4.2.2", base_url: str = EN4_BASE_URL, kind: str = "profiles"
) -> str:
    """The URL of the EN4 yearly zip of ``year``: ``kind`` is ``"profiles"`` or ``"analyses"``.

    ``base_url/EN.<version>/EN.<version>.<kind>.g10.<year>.zip`` up to 2020. The zips of 2021
    on, which the Met Office updates as months are added, and all zips of version 4.2.1 sit in
    ``base_url`` itself.

    Examples
    --------
    >>> en4_url(2019, version="4.2.1", base_url="http://mirror")
    'http://mirror/EN.4.2.1.profiles.g10.2019.zip'
    >>> en4_url(2022, kind="analyses", base_url="http://mirror")
    'http://mirror/EN.4.2.2.analyses.g10.2022.zip'
    """
    if kind not in _EN4_KINDS:
        raise DownloadError(f"kind={kind!r}; expected one of {sorted(_EN4_KINDS)}.")
    name = f"EN.{version}.{kind}.g10.{int(year):04d}.zip"
    folder = "" if version == "4.2.1" or int(year) >= 2021 else f"EN.{version}/"
    return f"{base_url.rstrip('/')}/{folder}{name}"


def _en4_member(kind: str, version: str, year: int, month: int) -> str:
    return f"EN.{version}.f.{_EN4_KINDS[kind]}.g10.{int(year):04d}{int(month):02d}.nc"


def _en4_year(
    kind: str,
    year: int,
    months: list[int],
    *,
    version: str,
    base_url: str,
    known_hash: str | None,
    progress: bool,
) -> list[Path]:
    """Fetch one yearly zip and extract the given months (one hash check for all)."""
    url = en4_url(year, version=version, base_url=base_url, kind=kind)
    fname = f"en4/{url.rsplit('/', 1)[1]}"
    members = [_en4_member(kind, version, year, m) for m in months]
    zip_path = cache_dir() / fname
    extract_dir = Path(f"{zip_path}.unzip")
    missing = drop_changed(extract_dir, members)  # cut short or changed since extracted
    unzip = RecordingUnzip(members=members)
    try:
        _retrieve(url, known_hash, fname, progress, processor=unzip)
    except zipfile.BadZipFile as exc:
        zip_path.unlink(missing_ok=True)
        forget(url)
        raise DownloadError(
            f"{url} is not a zip file ({exc}); the server may have sent an error page. Check "
            "the URL and the EN4 version; the file was removed from the cache."
        ) from exc
    fresh = members if unzip.action in ("download", "update") else missing
    record_extracted(extract_dir, members, fresh)
    missing = [m for m in members if not (extract_dir / m).is_file()]
    if missing:
        with zipfile.ZipFile(zip_path) as zf:
            held = sorted(zf.namelist())
        raise DownloadError(
            f"{url} holds no {', '.join(missing)}; it holds {held[:3]}{' ...' * (len(held) > 3)}."
            " Check the year, month and version."
        )
    return [extract_dir / m for m in members]


def _year_month(value: Any) -> tuple[int, int]:
    if isinstance(value, tuple):
        year, month = int(value[0]), int(value[1])
        if not 1 <= month <= 12:
            raise DownloadError(f"month={month}; expected 1 to 12.")
        return year, month
    try:
        ym = np.datetime64(value, "M").astype(np.int64)
    except (ValueError, TypeError) as exc:
        raise DownloadError(
            f"{value!r} is not a month; expected '2020-01', a date or (2020, 1)."
        ) from exc
    return int(ym // 12 + 1970), int(ym % 12 + 1)


def _en4_months(
    kind: str,
    start: Any,
    end: Any,
    *,
    version: str,
    base_url: str,
    known_hashes: Mapping[int, str] | None,
    progress: bool,
) -> list[Path]:
    y0, m0 = _year_month(start)
    y1, m1 = _year_month(end)
    first, last = y0 * 12 + m0 - 1, y1 * 12 + m1 - 1
    if last < first:
        raise DownloadError(f"end {end!r} is before start {start!r}; expected start <= end.")
    by_year: dict[int, list[int]] = {}
    for k in range(first, last + 1):
        by_year.setdefault(k // 12, []).append(k % 12 + 1)
    out: list[Path] = []
    for year, months in by_year.items():
        out += _en4_year(
            kind,
            year,
            months,
            version=version,
            base_url=base_url,
            known_hash=(known_hashes or {}).get(year),
            progress=progress,
        )
    return out


def en4_profiles(
    year: int,
    month: int,
    *,
    version: str = "4.2.2",
    base_url: str = EN4_BASE_URL,
    known_hash: str | None = None,
    progress: bool = False,
) -> Path:
    """The EN4 profile file of a month, from the year's zip (downloaded once, then cached).

    The zip is fetched with :func:`fetch`'s hash checks to ``<cache>/en4/`` and the month's
    ``EN.<version>.f.profiles.g10.YYYYMM.nc`` is extracted with ``pooch.Unzip`` beside it.

    Parameters
    ----------
    year, month : int
        The month.
    version : str
        EN4 version.
    base_url : str
        Server folder (a mirror, or a local server in tests); see :func:`en4_url`.
    known_hash : str, optional
        Hash of the yearly zip; by default the first download's sha256 is recorded and checked.
    progress : bool
        Show a progress bar (needs ``tqdm``).

    Returns
    -------
    Path
        The monthly netCDF file, readable with :func:`xdepthdif.obs.read_en4`.

    Examples
    --------
    >>> from xdepthdif.obs import read_en4
    >>> profiles = read_en4(en4_profiles(2020, 1))  # doctest: +SKIP
    """
    ym = (int(year), int(month))
    hashes = {ym[0]: known_hash} if known_hash else None
    return _en4_months(
        "profiles",
        ym,
        ym,
        version=version,
        base_url=base_url,
        known_hashes=hashes,
        progress=progress,
    )[0]


def en4_profiles_months(
    start: Any,
    end: Any,
    *,
    version: str = "4.2.2",
    base_url: str = EN4_BASE_URL,
    known_hashes: Mapping[int, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """The EN4 profile files of every month from ``start`` to ``end``, both included.

    Each yearly zip is downloaded and checked once.

    Parameters
    ----------
    start, end : str, date or (year, month)
        First and last month, e.g. ``"2019-11"`` and ``"2020-02"``.
    version, base_url, progress
        As in :func:`en4_profiles`.
    known_hashes : mapping, optional
        Hash of each yearly zip, by year.

    Returns
    -------
    list of Path
        Monthly files in time order.

    Examples
    --------
    >>> paths = en4_profiles_months("2019-11", "2020-02")  # doctest: +SKIP
    >>> [p.name[-9:-3] for p in paths]  # doctest: +SKIP
    ['201911', '201912', '202001', '202002']
    """
    return _en4_months(
        "profiles",
        start,
        end,
        version=version,
        base_url=base_url,
        known_hashes=known_hashes,
        progress=progress,
    )


def en4_analyses(
    start: Any,
    end: Any | None = None,
    *,
    version: str = "4.2.2",
    base_url: str = EN4_BASE_URL,
    known_hashes: Mapping[int, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """The EN4 objective analyses (1° monthly gridded fields) from ``start`` to ``end``.

    Each year's ``EN.<version>.analyses.g10.<year>.zip`` is downloaded once with the hash
    checks of :func:`fetch` and the months' ``EN.<version>.f.analysis.g10.YYYYMM.nc`` files are
    extracted beside it.

    Parameters
    ----------
    start, end : str, date or (year, month)
        First and last month, both included; ``end`` defaults to ``start``.
    version, base_url, known_hashes, progress
        As in :func:`en4_profiles_months`.

    Returns
    -------
    list of Path
        Monthly files in time order (``temperature`` in kelvin on 42 depths, 173 × 360 cells);
        open them with ``xdepthdif.catalog("en4")["en4_analyses"]`` to get °C.

    Examples
    --------
    >>> paths = en4_analyses("2020-01", "2020-03")  # doctest: +SKIP
    """
    return _en4_months(
        "analyses",
        start,
        start if end is None else end,
        version=version,
        base_url=base_url,
        known_hashes=known_hashes,
        progress=progress,
    )


def ostia_url(day: Any, *, base_url: str = OSTIA_BASE_URL) -> str:
    """The URL of the OSTIA L4 (GHRSST) daily file of ``day``: ``base_url/YYYY/DDD/<file>``.

    Examples
    --------
    >>> ostia_url("2020-02-01", base_url="http://mirror")
    'http://mirror/2020/032/20200201120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc'
    """
    try:
        d = np.datetime64(day, "D").astype(datetime)
    except (ValueError, TypeError) as exc:
        raise DownloadError(f"{day!r} is not a day; expected '2020-01-31' or a date.") from exc
    name = f"{d:%Y%m%d}120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc"
    return f"{base_url.rstrip('/')}/{d:%Y}/{d.timetuple().tm_yday:03d}/{name}"


def ostia_l4(
    start: Any,
    end: Any | None = None,
    *,
    base_url: str = OSTIA_BASE_URL,
    known_hashes: Mapping[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """The OSTIA L4 daily SST files from ``start`` to ``end`` (both included), cached.

    Parameters
    ----------
    start, end : str or date
        First and last day; ``end`` defaults to ``start``.
    base_url : str
        Folder holding ``YYYY/DDD/`` day folders (see :func:`ostia_url`); NCEI's GHRSST archive
        by default. For PO.DAAC's Earthdata-protected copy, put your login in ``~/.netrc``.
    known_hashes : mapping, optional
        Hash of each file, by ISO day (``"2020-01-31"``).
    progress : bool
        Show a progress bar (needs ``tqdm``).

    Returns
    -------
    list of Path
        One file per day, each about 8 MB (0.05° global: packed ``analysed_sst`` in kelvin,
        ``analysis_error``, ``sea_ice_fraction`` and the ``mask`` bit field).

    Examples
    --------
    >>> paths = ostia_l4("2020-01-01", "2020-01-31")  # doctest: +SKIP
    """
    first = np.datetime64(start, "D")
    last = first if end is None else np.datetime64(end, "D")
    if last < first:
        raise DownloadError(f"end {end!r} is before start {start!r}; expected start <= end.")
    out = []
    for day in np.arange(first, last + 1):
        url = ostia_url(day, base_url=base_url)
        fname = f"ostia/{url.rsplit('/', 1)[1]}"
        out.append(fetch(url, (known_hashes or {}).get(str(day)), fname=fname, progress=progress))
    return out
