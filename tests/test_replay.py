"""What we write replays in pywb: raw (id_) and rewritten (mp_), revisits too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from siteserver import article
from warcutil import warc_files

from archiver import Archive

pytest.importorskip("pywb")


@pytest.fixture
def replay(tmp_path, wayback):
    """load(archive_dir) -> an httpx client on a real pywb `wayback` server
    over a collection made with pywb's own wb-manager."""

    def load(archive: Path) -> httpx.Client:
        root = tmp_path / "pywb"
        root.mkdir()
        bindir = Path(sys.executable).parent
        subprocess.run([str(bindir / "wb-manager"), "init", "coll"], cwd=root, check=True, capture_output=True)
        subprocess.run([str(bindir / "wb-manager"), "add", "coll", *map(str, warc_files(archive))], cwd=root,
                       check=True, capture_output=True)
        return wayback(root)

    return load


def test_pywb_replays_pages_raw_and_rewritten(site, tmp_path, fast_options, replay):
    arch = tmp_path / "arch"
    a = Archive(arch, fetch_options=fast_options)
    [plain, gz, chunked] = a.capture([site.url("/page.html"), site.url("/gzip.html"), site.url("/chunked-gzip.html")])
    [again] = a.capture([site.url("/gzip.html")])  # a revisit
    client = replay(arch)

    for cap, expected in ((plain, article()), (gz, article("Gzipped")), (chunked, article("Chunked and gzipped"))):
        raw = client.get(f"/coll/{cap.timestamp}id_/{cap.url}")
        assert raw.status_code == 200
        assert raw.content == expected
        rewritten = client.get(f"/coll/{cap.timestamp}mp_/{cap.url}")
        assert rewritten.status_code == 200
        body = rewritten.content
        assert b"wbinfo" in body  # pywb's rewriting inserted its banner script
        assert b"<h1>" in body

    # the revisit resolves to the original payload
    revisit = client.get(f"/coll/{again.timestamp}id_/{again.url}")
    assert revisit.status_code == 200 and revisit.content == article("Gzipped")


def test_pywb_replays_redirect_hops(site, tmp_path, fast_options, replay):
    arch = tmp_path / "arch"
    [cap] = Archive(arch, fetch_options=fast_options).capture([site.url("/redirect/1")])
    client = replay(arch)
    hop = client.get(f"/coll/{cap.timestamp}id_/{site.url('/redirect/1')}", follow_redirects=False)
    assert hop.status_code == 302
    assert hop.headers["Location"].endswith("/redirect/2")
