"""Checksummed, cached downloads with pooch (the EN4 and OSTIA archives on top of them are in
:mod:`xdepthdif.sources.archives`).

Files go to :func:`cache_dir` (``XDEPTHDIF_CACHE`` if set, else the platform's user cache
folder for ``xdepthdif``); :func:`set_cache_dir` changes it at run time. Every file is checked by
sha256: when no ``known_hash`` is given, the hash of the first download is recorded in
``registry.json`` in the cache and checked on every later use, so a file that changed on disk is
re-downloaded and a file that changed on the server is refused. HTTP downloads go to a
``<name>.part`` file that an interrupted download leaves behind and the next call resumes with a
range request (``If-Range`` guards against a file that changed on the server meanwhile); the
complete file is moved in place only once its hash is checked, so a truncated file never sits
under the final name. Nothing is downloaded, and no folder is created, at import.

Examples
--------
>>> from xdepthdif.sources.download import fetch
>>> path = fetch("https://example.org/data.nc")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pooch

from ..errors import XDepthDifError
from .resume import ResumingHTTPDownloader

__all__ = [
    "DownloadError",
    "ResumingHTTPDownloader",
    "cache_dir",
    "fetch",
    "forget",
    "set_cache_dir",
]

REGISTRY = "registry.json"
_CACHE_ENV = "XDEPTHDIF_CACHE"
_cache_override: Path | None = None
_log = logging.getLogger(__name__)


class DownloadError(XDepthDifError, OSError):
    """A file could not be downloaded, failed its hash check, or is not what was expected."""


# ------------------------------------------------------------------------------------ cache
def cache_dir() -> Path:
    """The folder downloads go to (not created until something is downloaded).

    :func:`set_cache_dir` wins, then the ``XDEPTHDIF_CACHE`` environment variable, then
    ``pooch.os_cache("xdepthdif")`` (e.g. ``~/.cache/xdepthdif`` on Linux).

    Returns
    -------
    Path
        The cache folder.

    Examples
    --------
    >>> _ = set_cache_dir("/tmp/xdd-cache")
    >>> str(cache_dir())
    '/tmp/xdd-cache'
    >>> _ = set_cache_dir(None)
    """
    if _cache_override is not None:
        return _cache_override
    env = os.environ.get(_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(pooch.os_cache("xdepthdif"))


def set_cache_dir(path: str | os.PathLike | None) -> Path:
    """Change the cache folder for this session; ``None`` goes back to the default.

    Parameters
    ----------
    path : path or None
        New cache folder (created on the first download).

    Returns
    -------
    Path
        The cache folder now in use.

    Examples
    --------
    >>> str(set_cache_dir("/tmp/xdd-other"))
    '/tmp/xdd-other'
    >>> _ = set_cache_dir(None)
    """
    global _cache_override
    _cache_override = None if path is None else Path(path).expanduser()
    return cache_dir()


def _load_registry(root: Path) -> dict[str, dict[str, Any]]:
    path = root / REGISTRY
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DownloadError(
            f"The download registry {path} cannot be read ({exc}). Delete it: the files in "
            "the cache will then be downloaded again and their hashes recorded anew."
        ) from exc


def _save_registry(root: Path, registry: Mapping[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{REGISTRY}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(registry, indent=1, sort_keys=True))
    os.replace(tmp, root / REGISTRY)  # atomic: a crash never leaves half a registry


def forget(url: str) -> bool:
    """Drop the recorded hash of ``url``, to accept a file that changed on the server.

    Parameters
    ----------
    url : str
        The URL given to :func:`fetch`.

    Returns
    -------
    bool
        Whether a hash was recorded.
    """
    root = cache_dir()
    registry = _load_registry(root)
    if registry.pop(url, None) is None:
        return False
    _save_registry(root, registry)
    return True


# ------------------------------------------------------------------------------------ fetch
def _check_hash_spec(known_hash: str | None) -> None:
    if known_hash is None:
        return
    alg, _, digest = known_hash.rpartition(":")
    alg = alg.lower() or "sha256"
    if not digest or (alg not in hashlib.algorithms_available and not alg.startswith("xxh")):
        raise DownloadError(
            f"known_hash={known_hash!r} is not a hash pooch can check; expected "
            "'sha256:<64 hex digits>' (or 'md5:...', 'sha1:...')."
        )


def _retrieve(
    url: str,
    known_hash: str | None,
    fname: str | None,
    progress: bool,
    processor: Callable[[str, str, Any], Any] | None = None,
) -> Any:
    """pooch.retrieve with the registry, typed errors and cleanup; returns its result."""
    import requests  # pooch's own dependency; imported lazily, as pooch does

    _check_hash_spec(known_hash)
    if progress:
        try:
            import tqdm  # noqa: F401
        except ImportError as exc:
            raise DownloadError("progress=True needs tqdm: pip install tqdm.") from exc
    root = cache_dir()
    fname = _safe_fname(fname or pooch.utils.unique_file_name(url), root)
    path = root / fname
    registry = _load_registry(root)
    record = registry.get(url)
    expected = known_hash or (f"sha256:{record['sha256']}" if record else None)
    if expected is None and path.exists():
        # No hash to check it against: not trusted (could be a leftover of a killed run).
        path.unlink()
    seen: dict[str, str] = {}

    def capture(name: str, action: str, pup: Any) -> Any:
        seen["action"] = action
        if action == "update" and known_hash is None:
            _log.warning("%s changed on disk since it was recorded; downloaded it again.", path)
        return processor(name, action, pup) if processor else name

    partial = root / f"{fname}.part"
    if url.lower().startswith(("http://", "https://")):
        downloader: Any = ResumingHTTPDownloader(partial, progress=progress)
    else:
        downloader = pooch.downloaders.choose_downloader(url, progressbar=progress)
    try:
        out = pooch.retrieve(
            url, expected, fname=fname, path=root, processor=capture, downloader=downloader
        )
    except requests.exceptions.RequestException as exc:
        kept = (
            f"the {partial.stat().st_size} bytes received are kept in {partial.name} and the "
            "next call resumes from there"
            if partial.exists()
            else "nothing was kept in the cache"
        )
        raise DownloadError(
            f"Could not download {url}: {exc}. Check the URL (open it in a browser), that this "
            f"machine can reach the server (network, proxy, firewall) and try again; {kept}."
        ) from exc
    except ValueError as exc:
        path.unlink(missing_ok=True)  # pooch got here only because it did not match
        if known_hash is None and record:
            raise DownloadError(
                f"The file at {url} is not the one first downloaded on {record['date']} "
                f"(sha256 {record['sha256']}): {exc} If the change is expected, call "
                f"xdepthdif.sources.download.forget({url!r}) and fetch again; nothing was kept."
            ) from exc
        raise DownloadError(
            f"The file downloaded from {url} failed its hash check: {exc} The download was "
            "corrupted or the file changed on the server; nothing was kept in the cache. Try "
            "again, and if it fails again, check known_hash against the data provider's."
        ) from exc
    if seen.get("action") != "fetch" or record is None:
        digest = _sha256(path, expected)
        registry = _load_registry(root)  # re-read: keep entries written meanwhile
        registry[url] = {
            "sha256": digest,
            "size": path.stat().st_size,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "fname": fname,
        }
        _save_registry(root, registry)
    return out


def _safe_fname(fname: str, root: Path) -> str:
    """``fname`` checked to name a file inside the cache folder ``root``.

    Examples
    --------
    >>> _safe_fname("en4/file.zip", Path("/cache"))
    'en4/file.zip'
    >>> _safe_fname("../../etc/passwd", Path("/cache"))
    Traceback (most recent call last):
    ...
    xdepthdif.sources.download.DownloadError: fname='../../etc/passwd' would write outside ...
    """
    parts = Path(fname).parts
    inside = (root / fname).resolve().is_relative_to(root.resolve())
    if not parts or Path(fname).is_absolute() or ".." in parts or not inside:
        raise DownloadError(
            f"fname={fname!r} would write outside the cache folder {root}; give a relative "
            "name inside it without '..', e.g. fname='en4/file.zip' (or change the cache "
            "folder with set_cache_dir)."
        )
    return fname


def _sha256(path: Path, checked: str | None) -> str:
    """The sha256 of ``path``, reusing the hash pooch has just checked when it is one."""
    if checked:
        alg, _, digest = checked.rpartition(":")
        if alg.lower() in ("", "sha256"):
            return digest.lower()
    return pooch.file_hash(str(path), alg="sha256")


def fetch(
    url: str, known_hash: str | None = None, *, fname: str | None = None, progress: bool = False
) -> Path:
    """Download ``url`` into the cache once, check its hash, and return the local path.

    Parameters
    ----------
    url : str
        What to download (``https://``, ``http://``, ``ftp://``, ``doi:``).
    known_hash : str, optional
        ``"sha256:<hex>"`` (or ``md5:``/``sha1:``). When given, the file is checked against it;
        when ``None``, the sha256 of the first download is recorded in ``registry.json`` in the
        cache and checked on every later call.
    fname : str, optional
        Name of the file in the cache (may hold sub-folders, but no ``..`` and no absolute
        path: nothing is written outside the cache); by default a name unique to the URL.
    progress : bool
        Show a progress bar (needs ``tqdm``).

    Returns
    -------
    Path
        The checked file in the cache.

    Raises
    ------
    DownloadError
        The download failed (HTTP error, no connection), the file does not match its hash
        (then nothing is left in the cache), or ``fname`` points outside the cache.

    Examples
    --------
    >>> path = fetch("https://example.org/data.nc", "sha256:4b6f...")  # doctest: +SKIP
    """
    return Path(_retrieve(url, known_hash, fname, progress))


# -------------------------------------------------------------------------------------- EN4


# ------------------------------------------------------------------------------------ OSTIA
