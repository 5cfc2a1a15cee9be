"""Downloads never record a file that never existed, never write outside the cache, and never
serve an extracted EN4 month that changed on disk. Served by a real HTTP server on 127.0.0.1."""

import hashlib
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import QuietHandler, local_http_server, make_profiles

from xdepthdif.obs import write_en4_months
from xdepthdif.sources.archives import en4_profiles
from xdepthdif.sources.download import DownloadError, cache_dir, fetch
from xdepthdif.sources.extracted import RECORD

OLD = np.random.default_rng(1).bytes(300_000)
NEW = np.random.default_rng(2).bytes(300_000)  # the same size, other bytes


class _CarelessHandler(QuietHandler):
    """Serves byte ranges with an ETag but, like some servers, ignores If-Range (``mode``
    "206": sends the range of whatever the file is now) or ignores ranges altogether ("200")."""

    seen: list
    cut: dict
    mode: dict

    def do_GET(self):
        data = Path(self.translate_path(self.path)).read_bytes()
        etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
        wanted = self.headers.get("Range")
        self.seen.append((wanted, self.headers.get("If-Range")))
        start = 0
        if wanted and self.mode["kind"] == "206":
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        n = self.cut.pop(self.path, None)
        self.wfile.write(body if n is None else body[:n])
        self.wfile.flush()
        self.close_connection = n is not None


@pytest.fixture
def careless(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.bin").write_bytes(OLD)
    seen, cut, mode = [], {}, {"kind": "206"}
    handler = type("C", (_CarelessHandler,), {"seen": seen, "cut": cut, "mode": mode})
    with local_http_server(root, monkeypatch, tmp_path / "cache", handler) as url:
        yield root, url, seen, cut, mode


@pytest.mark.parametrize("kind", ["206", "200"])
def test_a_resumed_first_download_never_records_a_mixed_file(careless, kind):
    root, base, seen, cut, mode = careless
    url = f"{base}/data.bin"
    cut["/data.bin"] = 200_000
    with pytest.raises(DownloadError, match="next call resumes"):
        fetch(url, fname="data.bin")
    (root / "data.bin").write_bytes(NEW)  # changed on the server meanwhile: a new ETag
    mode["kind"] = kind
    assert fetch(url, fname="data.bin").read_bytes() == NEW
    record = json.loads((cache_dir() / "registry.json").read_text())[url]
    assert record["sha256"] == hashlib.sha256(NEW).hexdigest()
    assert seen[1][0].startswith("bytes=") and seen[1][1].startswith('"')  # a resume was tried
    if kind == "206":
        assert seen[-1] == (None, None)  # the answer was dropped and the whole file asked for


def test_a_resume_from_a_careless_server_of_an_unchanged_file_still_resumes(careless):
    _, base, seen, cut, _ = careless
    cut["/data.bin"] = 200_000
    with pytest.raises(DownloadError):
        fetch(f"{base}/data.bin", fname="data.bin")
    assert fetch(f"{base}/data.bin", fname="data.bin").read_bytes() == OLD
    assert len(seen) == 2 and seen[1][0].startswith("bytes=")


@pytest.mark.parametrize(
    "fname", ["../..", "../outside.bin", "sub/../../outside.bin", "/tmp/outside.bin", ""]
)
def test_a_name_escaping_the_cache_is_refused(careless, tmp_path, fname):
    _, base, seen, _, _ = careless
    if fname == "":
        with pytest.raises(DownloadError, match="outside the cache"):
            fetch(f"{base}/data.bin", fname=".")
    else:
        with pytest.raises(DownloadError, match="would write outside the cache folder"):
            fetch(f"{base}/data.bin", fname=fname)
    assert seen == []  # refused before anything was asked for
    assert not (tmp_path / "outside.bin").exists() and not Path("/tmp/outside.bin").exists()


def test_subfolders_inside_the_cache_are_fine(careless):
    _, base, _, _, _ = careless
    assert fetch(f"{base}/data.bin", fname="a/b/data.bin") == cache_dir() / "a" / "b" / "data.bin"


@pytest.fixture
def en4_zip(tmp_path, monkeypatch):
    root = tmp_path / "www"
    written = write_en4_months(make_profiles(n=30, times=("2020-01-15",)), tmp_path / "months")
    zpath = root / "EN.4.2.2" / "EN.4.2.2.profiles.g10.2020.zip"
    zpath.parent.mkdir(parents=True)
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(written[0], written[0].name)
    hits = Counter()

    class Counting(QuietHandler):
        def do_GET(self):
            hits[self.path] += 1
            super().do_GET()

    with local_http_server(root, monkeypatch, tmp_path / "cache", Counting) as url:
        yield url, written[0].read_bytes(), hits


def test_a_changed_float_in_an_extracted_month_is_extracted_again(en4_zip, caplog):
    base, original, hits = en4_zip
    path = en4_profiles(2020, 1, base_url=base)
    record = json.loads((path.parent / RECORD).read_text())
    assert record == {path.name: hashlib.sha256(original).hexdigest()}
    data = bytearray(path.read_bytes())
    data[-8:] = np.float64(12.5).tobytes()  # one float changed, the size kept
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="xdepthdif.sources.download"):
        assert en4_profiles(2020, 1, base_url=base).read_bytes() == original
    assert "differs from what was extracted" in caplog.text
    assert hits["/EN.4.2.2/EN.4.2.2.profiles.g10.2020.zip"] == 1  # from the cached zip


def test_a_month_extracted_without_a_record_is_extracted_again_once(en4_zip):
    base, original, _ = en4_zip
    path = en4_profiles(2020, 1, base_url=base)
    (path.parent / RECORD).unlink()  # as extracted by an older version
    path.write_bytes(b"\0" * len(original))
    assert en4_profiles(2020, 1, base_url=base).read_bytes() == original
    assert (path.parent / RECORD).is_file()
    before = path.stat().st_mtime_ns
    assert en4_profiles(2020, 1, base_url=base).read_bytes() == original
    assert path.stat().st_mtime_ns == before  # checked, not extracted again
