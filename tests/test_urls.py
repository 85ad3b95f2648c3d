"""One page is one page: spellings of a URL are canonicalised where they
enter (capture, watch, ingest, lookups, the web interface), and an archive
made before is merged by reindex."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from siteserver import article
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from warcutil import read_all

from archiver import Archive, Verdict
from archiver.cli import cli
from archiver.capture.ingest import ingest_warcs
from archiver.urls import canonical_url


@pytest.mark.parametrize("given,canonical", [
    ("HTTP://Example.COM/a.html", "http://example.com/a.html"),
    ("http://example.com:80/a.html", "http://example.com/a.html"),
    ("https://example.com:443/", "https://example.com/"),
    ("https://example.com:8443/", "https://example.com:8443/"),
    ("http://example.com/./a/../b.html", "http://example.com/b.html"),
    ("http://example.com/a/b/..", "http://example.com/a/"),
    ("http://example.com/a.html#section-2", "http://example.com/a.html"),
    ("http://example.com", "http://example.com/"),
    ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ("http://[::1]:8080/./x", "http://[::1]:8080/x"),
    ("http://example.com/p?b=2&a=1#f", "http://example.com/p?b=2&a=1"),  # the query as it was: servers tell orders apart
    ("http://example.com/%7Euser", "http://example.com/%7Euser"),
    ("urn:screenshot:http://example.com/", "urn:screenshot:http://example.com/"),  # not http(s): as it came
])
def test_canonical_url(given, canonical):
    assert canonical_url(given) == canonical
    assert canonical_url(canonical) == canonical


def test_spellings_of_one_url_are_one_page(fresh_site, tmp_path, fast_options, clock):
    """#fragment, HTTP://HOST, :80 and /./ each gave a new page with its own
    history, search hit and robots.txt fetch."""
    fresh_site.state.pages["/page/one"] = article("One page", "A sentence about the harbour ferry timetable.")
    base = fresh_site.url("/page/one")
    host = base.split("/")[2]
    hostname, port = host.split(":")
    spellings = [base, base + "#comments", f"HTTP://{hostname.upper()}:{port}/page/one",
                 f"http://{host}/./page/one", f"http://{host}/x/../page/one"]
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    for s in spellings:
        archive.capture([s])
        clock.advance(minutes=5)
    history = archive.history(base)
    assert [c.url for c in history] == [base] * 5
    assert [c.verdict for c in history] == [Verdict.NEW] + [Verdict.UNCHANGED] * 4
    assert fresh_site.state.hits["/robots.txt"] == 1
    assert [h.url for h in archive.search("ferry", 10)] == [base]
    for s in spellings:  # any spelling finds it
        assert len(archive.history(s)) == 5
        assert archive.show(s).capture.url == base
    # The WARC keeps the URL as it was requested (what went on the wire).
    targets = {r.h("WARC-Target-URI") for r in read_all(tmp_path / "arch") if r.type in ("response", "revisit")}
    assert targets == {base, fresh_site.url("/robots.txt")}
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "history", spellings[2], "--json"])
    assert res.exit_code == 0 and len(json.loads(res.output)) == 5


def test_a_watch_added_under_two_spellings_is_one_watch(tmp_path):
    arch = tmp_path / "arch"
    invoke = lambda *a: CliRunner().invoke(cli, ["--archive", str(arch), *a])  # noqa: E731
    assert invoke("watch", "add", "HTTPS://Example.org:443/a#top", "--every", "6h").exit_code == 0
    assert invoke("watch", "add", "https://example.org/./a", "--every", "1h").exit_code == 0
    [w] = json.loads(invoke("watch", "list", "--json").stdout)
    assert w["url"] == "https://example.org/a" and w["schedule"] == "every 1h"
    assert invoke("watch", "remove", "https://EXAMPLE.org/a#x").exit_code == 0


def test_ingested_records_are_keyed_canonically_and_copied_as_written(tmp_path):
    src = tmp_path / "other.warc.gz"
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True, warc_version="1.1")
    for i, uri in enumerate(("http://Other.Example:80/doc#x", "http://other.example/./doc")):
        payload = article("Ingested", f"Version {i} of a document about the river crossing and its ferries.")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(uri, "response", payload=io.BytesIO(payload), length=len(payload),
                                            http_headers=http,
                                            warc_headers_dict={"WARC-Date": f"2021-01-0{i + 1}T00:00:00Z"}))
    src.write_bytes(buf.getvalue())
    archive = Archive(tmp_path / "arch", workers=0)
    ingest_warcs(archive, [str(src)])
    assert [c.verdict for c in archive.history("http://other.example/doc")] == [Verdict.NEW, Verdict.CHANGED]
    targets = {r.h("WARC-Target-URI") for r in read_all(tmp_path / "arch") if r.type == "response"}
    assert targets == {"http://Other.Example:80/doc#x", "http://other.example/./doc"}


def test_an_archive_made_before_is_merged_by_reindex(fresh_site, tmp_path, fast_options, clock, monkeypatch):
    """Captured when spellings were kept apart: two pages. reindex makes
    them one history, with one current text, watches and verify agreeing."""
    from archiver import urls

    fresh_site.state.pages["/page/old"] = article("Old", "A sentence about the harbour ferry timetable.")
    base = fresh_site.url("/page/old")
    odd = base + "#frag"
    arch = tmp_path / "arch"
    monkeypatch.setattr(urls, "canonical_url", lambda u: u)  # as archiver did before
    archive = Archive(arch, fetch_options=fast_options, clock=clock)
    archive.capture([base])
    clock.advance(hours=1)
    fresh_site.state.pages["/page/old"] = article("Old", "A sentence about the harbour ferry timetable, amended.")
    archive.capture([odd])
    from archiver.schedule.runner import add_watch
    add_watch(archive, odd, every="1h")
    add_watch(archive, base, every="6h")
    monkeypatch.undo()
    with archive.reader() as catalog:
        assert {c.url for c in catalog.all_captures()} == {base, odd}
    res = CliRunner().invoke(cli, ["--archive", str(arch), "reindex"])
    assert res.exit_code == 0, res.output
    history = archive.history(odd)
    # One history; each capture keeps the verdict its metadata record gave it when it was made.
    assert [c.url for c in history] == [base, base] and [c.verdict for c in history] == [Verdict.NEW, Verdict.NEW]
    assert "amended" in archive.show(base).snapshot.text
    assert [h.url for h in archive.search("ferry", 10)] == [base]
    listed = json.loads(CliRunner().invoke(cli, ["--archive", str(arch), "watch", "list", "--json"]).stdout)
    assert [w["url"] for w in listed] == [base]
    res = CliRunner().invoke(cli, ["--archive", str(arch), "verify"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("url,host,site", [
    ("https://WWW.Example.org./a", "www.example.org", "example.org"),
    ("http://[::1]:8080/", "::1", "::1"),
    ("http://news.example.org/", "news.example.org", "news.example.org"),
    ("not a url", None, None), (None, None, None), ("http://[::1/", None, None),
])
def test_one_host_helper(url, host, site):
    from archiver.urls import host_of

    assert host_of(url) == host and host_of(url, site=True) == site


def test_the_archive_folder_is_named_in_one_place(tmp_path):
    from archiver.archive.layout import Layout, text_file

    layout = Layout.of(tmp_path)
    assert layout.catalog == tmp_path / "catalog.sqlite" and layout.warc_dir == tmp_path / "warc"
    assert layout.manifest.name == "manifest-sha256.txt" and layout.watch_file.name == "watches.json"
    assert text_file("ab" + "0" * 62) == f"texts/ab/ab{'0' * 62}.json"
    archive = Archive(tmp_path)
    assert archive.warc_dir == layout.warc_dir
