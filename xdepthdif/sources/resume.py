"""A pooch downloader for HTTP(S) that resumes interrupted downloads with range requests.

Used by :func:`xdepthdif.sources.download.fetch` for every ``http://`` and ``https://`` URL.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ResumingHTTPDownloader"]

_log = logging.getLogger("xdepthdif.sources.download")


class ResumingHTTPDownloader:
    """A pooch downloader for HTTP(S) that resumes an interrupted download.

    Bytes are appended to ``partial`` as they arrive. When ``partial`` already holds the start
    of the file, only the rest is requested (``Range: bytes=N-``), guarded by ``If-Range`` with
    the ``ETag`` or ``Last-Modified`` the server sent first, so a file that changed on the
    server is downloaded whole again. A partial answer (206) whose own validator is not the one
    sent shows a server that ignores ``If-Range``: it is dropped and the whole file requested
    again. A server that ignores ranges sends the whole file, which then replaces the partial
    one. Once complete, ``partial`` is moved to pooch's output file
    (pooch then checks the hash). A dropped connection raises and keeps ``partial``.

    Parameters
    ----------
    partial : path
        Where the incomplete download is kept between calls.
    progress : bool
        Show a ``tqdm`` progress bar.
    chunk_size : int
        Bytes read at a time; a dropped connection loses at most the chunk being read.
    timeout : float
        Seconds to wait for the server.

    Examples
    --------
    >>> import pooch
    >>> dl = ResumingHTTPDownloader("/tmp/cache/file.nc.part")
    >>> pooch.retrieve("https://example.org/file.nc", None, downloader=dl)  # doctest: +SKIP
    """

    def __init__(
        self,
        partial: str | os.PathLike,
        *,
        progress: bool = False,
        chunk_size: int = 1 << 16,
        timeout: float = 60.0,
    ) -> None:
        self.partial = Path(partial)
        self.progress = progress
        self.chunk_size = chunk_size
        self.timeout = timeout

    @property
    def _validator_file(self) -> Path:
        return self.partial.with_name(self.partial.name + ".json")

    def _resume_from(self, url: str) -> tuple[int, str | None]:
        """Bytes of ``url`` already held and their validator (0, None: start over)."""
        try:
            size = self.partial.stat().st_size
            record = json.loads(self._validator_file.read_text())
            validator = record["validator"] if record["url"] == url else None
        except (OSError, ValueError, KeyError, TypeError):
            return 0, None
        return (size, validator) if size and validator else (0, None)

    def __call__(self, url: str, output_file: Any, pooch_: Any, check_only: bool = False) -> Any:
        import requests

        if check_only:
            response = requests.head(url, timeout=self.timeout, allow_redirects=True)
            return bool(response.status_code == 200)
        offset, validator = self._resume_from(url)
        # identity: byte ranges must count the bytes as stored, not as compressed in transit
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers |= {"Range": f"bytes={offset}-", "If-Range": str(validator)}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if response.status_code == 416 and offset:  # what is held is not a prefix of it
                self._discard()
                return self(url, output_file, pooch_)
            response.raise_for_status()
            resumed = bool(offset) and response.headers.get("Content-Range", "").startswith(
                f"bytes {offset}-"
            )
            if resumed and validator not in _validators(response.headers):
                # The server ignored If-Range: these are the rest of *another* version of the
                # file, which appended to the held bytes would make a file that never existed.
                _log.info("%s changed on the server (its validator differs); starting over.", url)
                self._discard()
                return self(url, output_file, pooch_)
            offset = offset if resumed else 0
            self._remember(url, response.headers)
            size = int(response.headers.get("Content-Length", 0))
            bar = _progress_bar(self.progress, offset + size if size else None, offset, url)
            try:
                with open(self.partial, "ab" if resumed else "wb") as out:
                    for chunk in response.iter_content(chunk_size=self.chunk_size):
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            except Exception:
                if not self._validator_file.exists():
                    self._discard()  # no way to check a later resume: start over next time
                raise
            finally:
                if bar is not None:
                    bar.close()
        if resumed:
            _log.info("Resumed %s from byte %d.", url, offset)
        self._validator_file.unlink(missing_ok=True)
        os.replace(self.partial, output_file)
        return None

    def _remember(self, url: str, headers: Mapping[str, str]) -> None:
        """Keep the validator a later resume will send as If-Range (strong ones only)."""
        validator = headers.get("ETag") or headers.get("Last-Modified")
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        if validator and not validator.startswith("W/"):
            self._validator_file.write_text(json.dumps({"url": url, "validator": validator}))
        else:
            self._validator_file.unlink(missing_ok=True)

    def _discard(self) -> None:
        self.partial.unlink(missing_ok=True)
        self._validator_file.unlink(missing_ok=True)


def _validators(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    return headers.get("ETag"), headers.get("Last-Modified")


def _progress_bar(show: bool, total: int | None, initial: int, url: str) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=url.rsplit("/")[-1])
