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


def test_the_replay_index_grows_by_small_files_as_captures_arrive(fresh_site, tmp_path, fast_options, free_port):
    """What is captured while the server runs is indexed by appending a file
    of the new records, not by writing the whole index again; every few
    dozen such files are folded back into one."""
    from archiver.web import replay as replay_module
    from archiver.web.replay import ReplayServer

    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=fast_options, workers=0)
    fresh_site.state.pages["/page/one"] = article("One", "The first page of the index.")
    [one] = archive.capture([fresh_site.url("/page/one")])
    server = ReplayServer(arch, arch / "catalog.sqlite", port=free_port).start(keep_current=False)
    try:
        indexes = server.work / "indexes"
        whole = (indexes / "index.cdxj").read_text()
        fresh_site.state.pages["/page/two"] = article("Two", "The second page, captured later.")
        [two] = archive.capture([fresh_site.url("/page/two")])
        assert server.refresh() and not server.refresh()  # nothing new the second time
        [delta] = sorted(indexes.glob("delta-*.cdxj"))
        assert (indexes / "index.cdxj").read_text() == whole  # the whole index was not written again
        assert "/page/one" not in delta.read_text() and "/page/two" in delta.read_text()
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=20) as client:
            for cap, title in ((one, "One"), (two, "Two")):
                raw = client.get(f"/archive/{cap.timestamp}id_/{cap.url}")
                assert raw.status_code == 200 and f"<title>{title}</title>".encode() in raw.content
        # Past MAX_DELTAS files, one whole index again.
        for n in range(replay_module.MAX_DELTAS):
            fresh_site.state.pages[f"/page/n{n}"] = article(f"N{n}", "Another page.")
            archive.capture([fresh_site.url(f"/page/n{n}")])
            server.refresh()
        assert len(list(indexes.glob("delta-*.cdxj"))) < replay_module.MAX_DELTAS
        assert "/page/n0" in (indexes / "index.cdxj").read_text()
    finally:
        server.stop()


def test_the_replay_banner_links_back_to_the_interface(fresh_site, tmp_path, fast_options, free_port):
    from archiver.web.replay import ReplayServer

    arch = tmp_path / "arch"
    fresh_site.state.pages["/page/one"] = article("One", "A page to replay.")
    [one] = Archive(arch, fetch_options=fast_options, workers=0).capture([fresh_site.url("/page/one")])
    server = ReplayServer(arch, arch / "catalog.sqlite", port=free_port,
                          interface_url="https://archive.example.org/archiver/").start(keep_current=False)
    try:
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=20) as client:
            framed = client.get(f"/archive/{one.timestamp}/{one.url}")
        assert framed.status_code == 200 and 'logoHomeUrl: "https://archive.example.org/archiver/"' in framed.text
    finally:
        server.stop()
