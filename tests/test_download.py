"""Downloads: cache, recorded and known hashes, typed errors, EN4 months from a yearly zip.

Everything is served by a local HTTP server on 127.0.0.1, so pooch's real HTTP path runs and
no test touches the network.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import QuietHandler, local_http_server, make_profiles

from xdepthdif.obs import read_en4, write_en4_months
from xdepthdif.sources import archives, download
from xdepthdif.sources.archives import en4_profiles, en4_profiles_months, en4_url
from xdepthdif.sources.download import DownloadError, cache_dir, fetch, set_cache_dir

DATA = b"temperature,depth\n" + b"12.5,5\n" * 500
BIG = np.random.default_rng(0).bytes(300_000)  # several 64 KiB chunks


class _Handler(QuietHandler):
    hits: Counter
    short: set

    def do_GET(self):
        self.hits[self.path] += 1
        if self.path in self.short:  # announce the full size, send half, hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA[: len(DATA) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A folder served on 127.0.0.1; yields (folder, base URL, hit counter, short paths)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.csv").write_bytes(DATA)
    hits, short = Counter(), set()
    handler = type("H", (_Handler,), {"hits": hits, "short": short})
    with local_http_server(root, monkeypatch, tmp_path / "cache", handler) as url:
        yield root, url, hits, short


def cached_files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name != "registry.json")


def test_cache_dir_env_and_override(tmp_path, monkeypatch):
    monkeypatch.setenv("XDEPTHDIF_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    try:
        assert set_cache_dir(tmp_path / "set") == tmp_path / "set"
        assert cache_dir() == tmp_path / "set"
    finally:
        set_cache_dir(None)
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("XDEPTHDIF_CACHE")
    assert cache_dir().name == "xdepthdif"
    assert not (tmp_path / "env").exists()  # asking creates nothing


def test_first_fetch_downloads_and_records_then_cache_is_used(server):
    _, base, hits, _ = server
    url = f"{base}/data.csv"
    path = fetch(url)
    assert path.read_bytes() == DATA and path.parent == cache_dir()
    assert hits["/data.csv"] == 1
    record = json.loads((cache_dir() / "registry.json").read_text())[url]
    assert record["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert record["size"] == len(DATA) and record["date"][:2] == "20"
    assert fetch(url) == path
    assert hits["/data.csv"] == 1  # second call: from the cache, no request


def test_known_hash_right_and_wrong(server):
    root, base, _, _ = server
    good = "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert fetch(f"{base}/data.csv", good, fname="d.csv").read_bytes() == DATA
    (root / "other.csv").write_bytes(DATA)
    with pytest.raises(DownloadError, match="hash") as err:
        fetch(f"{base}/other.csv", "sha256:" + "0" * 64)
    assert f"{base}/other.csv" in str(err.value)
    assert cached_files(cache_dir()) == ["d.csv"]  # nothing of the bad download, no temp file
    assert f"{base}/other.csv" not in json.loads((cache_dir() / "registry.json").read_text())
    with pytest.raises(DownloadError, match="known_hash"):
        fetch(f"{base}/data.csv", "nope:123")


def test_http_error_and_connection_refused_name_the_url(server):
    _, base, _, _ = server
    with pytest.raises(DownloadError, match="404") as err:
        fetch(f"{base}/missing.nc")
    assert f"{base}/missing.nc" in str(err.value) and "Check the URL" in str(err.value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}/x.nc"):
        fetch(f"http://127.0.0.1:{port}/x.nc")
    assert not cache_dir().exists() or cached_files(cache_dir()) == []


def test_file_changed_on_disk_is_detected_and_downloaded_again(server, caplog):
    _, base, hits, _ = server
    path = fetch(f"{base}/data.csv")
    path.write_bytes(b"edited by hand")
    with caplog.at_level("WARNING", logger="xdepthdif.sources.download"):
        assert fetch(f"{base}/data.csv").read_bytes() == DATA
    assert hits["/data.csv"] == 2 and "changed on disk" in caplog.text


def test_file_changed_on_server_is_refused_until_forgotten(server):
    root, base, _, _ = server
    url = f"{base}/data.csv"
    path = fetch(url)
    path.write_bytes(b"stale")
    (root / "data.csv").write_bytes(b"a new version")
    with pytest.raises(DownloadError, match="not the one first downloaded") as err:
        fetch(url)
    assert "forget" in str(err.value) and not path.exists()
    assert download.forget(url) and not download.forget(url)
    assert fetch(url).read_bytes() == b"a new version"


def test_truncated_or_leftover_files_are_not_trusted(server):
    _, base, hits, _ = server
    url = f"{base}/data.csv"
    path = fetch(url)
    path.write_bytes(DATA[:100])  # truncated under the final name, hash recorded
    assert fetch(url).read_bytes() == DATA and hits["/data.csv"] == 2
    download.forget(url)
    path.write_bytes(DATA[:100])  # truncated, nothing recorded: not trusted either
    assert fetch(url).read_bytes() == DATA and hits["/data.csv"] == 3
    (cache_dir() / "tmpabc123").write_bytes(DATA[:50])  # a killed run's temp file
    assert fetch(f"{base}/data.csv", fname="again.csv").read_bytes() == DATA


def test_interrupted_download_leaves_nothing_under_the_final_name(server):
    _, base, _, short = server
    short.add("/data.csv")
    with pytest.raises(DownloadError, match=r"data\.csv"):
        fetch(f"{base}/data.csv", fname="data.csv")
    assert not (cache_dir() / "data.csv").exists()
    assert cached_files(cache_dir()) == []  # the temp file is gone too
    short.clear()
    assert fetch(f"{base}/data.csv", fname="data.csv").read_bytes() == DATA


class _RangeHandler(QuietHandler):
    """Serves byte ranges with a strong ETag (honouring If-Range), and can hang up once."""

    seen: list
    cut: dict

    def do_GET(self):
        data = Path(self.translate_path(self.path)).read_bytes()
        etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
        wanted = self.headers.get("Range")
        self.seen.append((self.path, wanted, self.headers.get("If-Range")))
        start = 0
        if wanted and self.headers.get("If-Range", etag) == etag:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        n = self.cut.pop(self.path, None)
        self.wfile.write(body if n is None else body[:n])
        self.wfile.flush()
        self.close_connection = n is not None


@pytest.fixture
def range_server(tmp_path, monkeypatch):
    """Like ``server`` with range requests; yields (folder, base URL, requests seen, cuts)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.csv").write_bytes(BIG)
    seen, cut = [], {}
    handler = type("R", (_RangeHandler,), {"seen": seen, "cut": cut})
    with local_http_server(root, monkeypatch, tmp_path / "cache", handler) as url:
        yield root, url, seen, cut


def test_interrupted_download_resumes_where_it_stopped(range_server):
    _, base, seen, cut = range_server
    url = f"{base}/data.csv"
    cut["/data.csv"] = 200_000
    with pytest.raises(DownloadError, match=r"bytes received are kept in data\.csv\.part"):
        fetch(url, fname="data.csv")
    assert not (cache_dir() / "data.csv").exists()
    held = (cache_dir() / "data.csv.part").read_bytes()
    assert 0 < len(held) <= 200_000 and BIG.startswith(held)
    path = fetch(url, fname="data.csv")
    assert path.read_bytes() == BIG
    assert [r[1] for r in seen] == [None, f"bytes={len(held)}-"] and seen[1][2].startswith('"')
    assert cached_files(cache_dir()) == ["data.csv"]  # no part file or validator left
    record = json.loads((cache_dir() / "registry.json").read_text())[url]
    assert record["sha256"] == hashlib.sha256(BIG).hexdigest()


def test_resume_of_a_file_changed_on_the_server_starts_over(range_server):
    root, base, seen, cut = range_server
    cut["/data.csv"] = 200_000
    with pytest.raises(DownloadError):
        fetch(f"{base}/data.csv", fname="data.csv")
    new = BIG[::-1]
    (root / "data.csv").write_bytes(new)  # a new ETag: If-Range fails, the whole file comes
    assert fetch(f"{base}/data.csv", fname="data.csv").read_bytes() == new
    assert seen[-1][1].startswith("bytes=")


def test_a_server_that_ignores_ranges_sends_the_whole_file(server):
    _, base, hits, _ = server
    part = cache_dir() / "data.csv.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage that is not the start of the file")
    record = {"url": f"{base}/data.csv", "validator": '"x"'}  # a range request will be sent
    (cache_dir() / "data.csv.part.json").write_text(json.dumps(record))
    assert fetch(f"{base}/data.csv", fname="data.csv").read_bytes() == DATA
    assert hits["/data.csv"] == 1 and cached_files(cache_dir()) == ["data.csv"]


def test_a_part_longer_than_the_file_or_a_wrong_hash_keeps_nothing(range_server):
    _, base, seen, _ = range_server
    part = cache_dir() / "data.csv.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BIG + b"more")  # 416 from the server: start over
    etag = f'"{hashlib.sha256(BIG).hexdigest()[:16]}"'
    record = {"url": f"{base}/data.csv", "validator": etag}
    (cache_dir() / "data.csv.part.json").write_text(json.dumps(record))
    assert fetch(f"{base}/data.csv", fname="data.csv").read_bytes() == BIG
    assert [r[1] for r in seen] == [f"bytes={len(BIG) + 4}-", None]
    (cache_dir() / "data.csv").unlink()
    part.write_bytes(BIG[:1000])  # held for another URL: not resumed
    (cache_dir() / "data.csv.part.json").write_text(json.dumps(record | {"url": "http://x/y"}))
    assert fetch(f"{base}/data.csv", fname="data.csv").read_bytes() == BIG
    assert seen[-1][1] is None
    with pytest.raises(DownloadError, match="hash"):
        fetch(f"{base}/data.csv", "sha256:" + "0" * 64, fname="other.csv")
    assert cached_files(cache_dir()) == ["data.csv"]


def test_en4_zip_download_resumes(range_server, tmp_path):
    root, base, seen, cut = range_server
    written = write_en4_months(make_profiles(n=200, times=("2020-03-15",)), tmp_path / "m")
    zpath = root / "EN.4.2.2" / "EN.4.2.2.profiles.g10.2020.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(written[0], written[0].name)
    assert zpath.stat().st_size > 3 * 65536
    cut["/EN.4.2.2/EN.4.2.2.profiles.g10.2020.zip"] = zpath.stat().st_size - 1000
    with pytest.raises(DownloadError, match="next call resumes"):
        en4_profiles(2020, 3, base_url=base)
    path = en4_profiles(2020, 3, base_url=base)
    assert path.read_bytes() == written[0].read_bytes()
    assert seen[-1][1] not in (None, "bytes=0-")


@pytest.fixture
def en4_server(server, tmp_path):
    root, base, hits, _ = server
    prof = make_profiles(n=12, times=("2020-01-15", "2020-02-15"))
    written = write_en4_months(prof, tmp_path / "months")
    assert [p.name[-9:-3] for p in written] == ["202001", "202002"]
    zpath = root / "EN.4.2.2" / "EN.4.2.2.profiles.g10.2020.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in written:
            zf.write(p, p.name)
    return prof, written, base, hits


def test_en4_month_from_yearly_zip_reads_back(en4_server):
    prof, written, base, hits = en4_server
    path = en4_profiles(2020, 2, base_url=base)
    assert path.name == "EN.4.2.2.f.profiles.g10.202002.nc"
    assert path.read_bytes() == written[1].read_bytes()
    back = read_en4(path)
    feb = prof.isel(profile=np.flatnonzero(prof.time.dt.month.values == 2))
    assert back.sizes["profile"] == feb.sizes["profile"] > 0
    np.testing.assert_allclose(back.thetao.values, feb.thetao.values, rtol=1e-6)
    np.testing.assert_allclose(back.depth.values, feb.depth.values, rtol=1e-6)
    np.testing.assert_allclose(back.lat.values, feb.lat.values, atol=1e-12)
    np.testing.assert_allclose(back.lon.values, feb.lon.values, atol=1e-12)
    assert en4_profiles(2020, 2, base_url=base) == path
    assert hits["/EN.4.2.2/EN.4.2.2.profiles.g10.2020.zip"] == 1


def test_en4_month_range_and_cut_extraction(en4_server):
    prof, written, base, hits = en4_server
    paths = en4_profiles_months("2020-01", (2020, 2), base_url=base)
    assert [p.name[-9:-3] for p in paths] == ["202001", "202002"]
    assert read_en4(paths).sizes["profile"] == prof.sizes["profile"]
    paths[0].write_bytes(paths[0].read_bytes()[:200])  # an extraction cut short
    assert en4_profiles(2020, 1, base_url=base).read_bytes() == written[0].read_bytes()
    assert hits["/EN.4.2.2/EN.4.2.2.profiles.g10.2020.zip"] == 1
    with pytest.raises(DownloadError, match="202003"):
        en4_profiles(2020, 3, base_url=base)
    with pytest.raises(DownloadError, match="404"):
        en4_profiles(2021, 1, base_url=base)
    with pytest.raises(DownloadError, match="before start"):
        en4_profiles_months("2020-02", "2020-01", base_url=base)


def test_en4_and_ostia_urls():
    assert en4_url(2020, base_url="http://m/").endswith(
        "/m/EN.4.2.2/EN.4.2.2.profiles.g10.2020.zip"
    )
    assert en4_url(2021, base_url="http://m") == "http://m/EN.4.2.2.profiles.g10.2021.zip"
    assert en4_url(2020, kind="analyses").endswith("/EN.4.2.2/EN.4.2.2.analyses.g10.2020.zip")
    with pytest.raises(DownloadError, match="kind"):
        en4_url(2020, kind="analysis")
    assert archives.ostia_url("2020-12-31", base_url="h").startswith("h/2020/366/20201231120000-")
    with pytest.raises(DownloadError, match="not a day"):
        archives.ostia_url("yesterday")
    with pytest.raises(DownloadError, match="before start"):
        archives.ostia_l4("2020-01-02", "2020-01-01")
    with pytest.raises(DownloadError, match="month=13"):
        en4_profiles(2020, 13)


def test_import_downloads_nothing(tmp_path):
    cache = tmp_path / "cache"
    code = (
        "import socket, pooch\n"
        "def boom(*a, **k): raise AssertionError('network or download at import')\n"
        "pooch.retrieve = boom\n"
        "socket.socket.connect = boom\n"
        "import xdepthdif, xdepthdif.sources.download, xdepthdif.obs\n"
        "print(xdepthdif.sources.download.cache_dir())\n"
    )
    env = {**os.environ, "XDEPTHDIF_CACHE": str(cache)}
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(cache)
    assert not cache.exists()
