"""Crawling (#31): links followed within a scope, through the capture path,
a frontier in the catalog that survives a kill, and traps bounded. Against
tests/crawlsite.py, a small site on 127.0.0.1 whose calendar and listing
never end."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from crawlsite import ARTICLES, CrawlSite

from archiver import Archive
from archiver.cli import cli
from archiver.crawl import CrawlSettings, Scope, TrapBounds, resume_crawl, start_crawl
from archiver.crawl.traps import digits_only_step, without_session_ids


@pytest.fixture
def crawlsite():
    other = CrawlSite().start()
    site = CrawlSite(other=other.url("/elsewhere")).start()
    yield site
    site.stop()
    other.stop()


def captures_per_url(archive: Archive) -> dict[str, int]:
    with sqlite3.connect(archive.path / "catalog.sqlite") as db:
        return dict(db.execute("SELECT url, count(*) FROM captures GROUP BY url"))


def frontier(archive: Archive, crawl_id: str) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(archive.path / "catalog.sqlite") as db:
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT url, state, reason FROM crawl_urls WHERE crawl = ?",
                                                       (crawl_id,))}


def test_a_crawl_captures_every_page_in_scope_once_and_stops_its_traps(crawlsite, tmp_path, fast_options):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    settings = CrawlSettings(scope="host", depth=40, bounds=TrapBounds(digit_steps=4))
    report = start_crawl(archive, [crawlsite.url("/")], settings)
    assert report.state == "done" and report.counts["queued"] == 0
    seen = frontier(archive, report.id)
    u = crawlsite.url
    articles = {u(f"/news/a{i}") for i in range(1, ARTICLES + 1)}
    assert articles | {u("/"), u("/about"), u("/about/team")} <= {k for k, v in seen.items() if v[0] == "done"}
    # A calendar and a listing that never end: four steps that differ only in numbers, then a bound that says so.
    days = sorted(k for k in seen if "/cal/" in k)
    assert [seen[d][0] for d in days] == ["done"] * 5 + ["bounded"]
    assert "differ only in their numbers" in seen[days[-1]][1]
    pages = sorted((k for k in seen if "/list?" in k), key=lambda k: int(k.rsplit("=", 1)[1]))
    assert [seen[p][0] for p in pages] == ["done"] * 5 + ["bounded"]
    assert report.bounded == {seen[days[-1]][1]: 2}
    # Session ids and fragments name the same page; robots.txt is obeyed; another host is out of scope.
    assert not any("jsessionid" in k.lower() or "phpsessid" in k.lower() or "#" in k for k in seen)
    assert seen[u("/private/secret")][0] == "blocked" and crawlsite.hits.get("/private/secret") is None
    assert not any(k.startswith(crawlsite.other.rsplit("/", 1)[0]) for k in seen)
    # Every page once: in the catalog, and on the wire.
    assert set(captures_per_url(archive).values()) == {1}
    assert all(n == 1 for path, n in crawlsite.hits.items() if path != "/robots.txt"), crawlsite.hits
    assert report.counts["done"] == len(captures_per_url(archive)) - 1  # all but the robots-blocked one
    assert archive.verify().ok


def test_each_scope_and_the_include_and_exclude_patterns(crawlsite, tmp_path, fast_options):
    seed = crawlsite.url("/news/a1")
    assert Scope("page", (seed,)).allows(seed, 0) and not Scope("page", (seed,)).allows(crawlsite.url("/news/a2"), 1)
    prefix = Scope("prefix", (seed,))
    assert prefix.allows(crawlsite.url("/news/a5"), 1) and not prefix.allows(crawlsite.url("/about"), 1)
    host = Scope("host", ("https://www.example.org/a",))
    assert host.allows("https://example.org/b", 1) and not host.allows("https://news.example.org/b", 1)
    assert not host.allows("https://example.org:8443/b", 1)  # another port is another server
    domain = Scope("domain", ("https://www.news.example.co.uk/a",))
    assert domain.allows("https://sport.example.co.uk/x", 1) and not domain.allows("https://other.co.uk/", 1)
    pattern = Scope(r"/news/a[1-3]$", (seed,))
    assert pattern.allows(crawlsite.url("/news/a2"), 1) and not pattern.allows(crawlsite.url("/news/a4"), 1)
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    report = start_crawl(archive, [crawlsite.url("/")], CrawlSettings(scope="host", depth=1, include=(r"/news/",),
                                                                      exclude=(r"/a[5-8]$",)))
    done = {k for k, v in frontier(archive, report.id).items() if v[0] == "done"}
    assert done == {crawlsite.url("/")} | {crawlsite.url(f"/news/a{i}") for i in range(1, 5)}
    only = start_crawl(archive, [crawlsite.url("/about")], CrawlSettings(scope="page"))
    assert only.counts == {"queued": 0, "done": 1, "failed": 0, "blocked": 0, "bounded": 0, "skipped": 0}


def test_depth_and_limit_and_a_raised_limit_on_resume(crawlsite, tmp_path, fast_options):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    shallow = start_crawl(archive, [crawlsite.url("/about")], CrawlSettings(scope="host", depth=1))
    assert {k for k, v in frontier(archive, shallow.id).items() if v[0] == "done"} == {
        crawlsite.url("/about"), crawlsite.url("/"), crawlsite.url("/about/team")}
    limited = start_crawl(archive, [crawlsite.url("/")], CrawlSettings(scope="host", depth=1, limit=4))
    assert limited.state == "stopped" and limited.counts["done"] == 4 and "--limit 4 reached" in limited.note
    again = resume_crawl(archive, limited.id)
    assert again.state == "stopped" and again.counts["done"] == 4 and again.captured == 0  # the limit holds
    # A page the crawl had recorded in its WARC file when it was killed, listed by recovery but not in the
    # frontier: adopted on resume, not fetched again.
    queued = [k for k, v in frontier(archive, limited.id).items()
              if v[0] == "queued" and k.removeprefix(crawlsite.base) not in crawlsite.hits]
    path = queued[0].removeprefix(crawlsite.base)
    archive.capture([queued[0]])
    assert crawlsite.hits[path] == 1
    more = resume_crawl(archive, limited.id, limit=1000)
    assert more.state == "done" and more.counts["queued"] == 0 and more.counts["done"] > 4
    assert crawlsite.hits[path] == 1 and frontier(archive, limited.id)[queued[0]][0] == "done"


def test_crawl_on_the_command_line_and_its_errors(crawlsite, tmp_path):
    arch = str(tmp_path / "arch")
    run = lambda *a: CliRunner().invoke(cli, ["--archive", arch, "crawl", "--delay", "0", "--workers", "0", *a])  # noqa: E731
    res = run(crawlsite.url("/about"), "--scope", "host", "--depth", "1", "--json")
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    summary = lines[-1]
    assert summary["state"] == "done" and summary["counts"]["done"] == 3 == summary["captured"]
    assert {x["url"] for x in lines[:-1]} == {crawlsite.url(p) for p in ("/about", "/", "/about/team")}
    hist = CliRunner().invoke(cli, ["--archive", arch, "history", "--crawl", summary["id"]])
    assert hist.exit_code == 0 and f"crawl {summary['id']}" in hist.stdout and "scope host" in hist.stdout
    assert crawlsite.url("/about/team") in hist.stdout and "new The team" in hist.stdout
    data = json.loads(CliRunner().invoke(cli, ["--archive", arch, "history", "--crawl", summary["id"], "--json"]).stdout)
    assert {p["url"]: p["verdict"] for p in data["pages"]}[crawlsite.url("/about")] == "new"
    assert CliRunner().invoke(cli, ["--archive", arch, "history", "--crawl", "nope"]).exit_code == 2
    text = run("--resume", summary["id"])
    assert text.exit_code == 0 and f"crawl {summary['id']}" in text.stdout and "3 captured" in text.stdout
    assert "this run recorded 0" in text.stdout
    for args, says in ((["--scope", "(unclosed", crawlsite.url("/")], "--scope is page, prefix, host, domain"),
                       (["--exclude", "[bad", crawlsite.url("/")], "--exclude '[bad' is not a regular expression"),
                       (["--resume", "nosuchcrawl"], "no crawl nosuchcrawl"),
                       (["--resume", summary["id"], crawlsite.url("/")], "not both"),
                       (["not a url"], "not a url")):
        res = run(*args)
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, (args, res.output)


def test_a_crawl_killed_three_times_resumes_to_the_same_pages_each_captured_once(crawlsite, tmp_path):
    crawlsite.slow = 0.4
    arch = tmp_path / "arch"
    exe = [sys.executable, "-m", "archiver", "--archive", str(arch), "crawl", "--delay", "0", "--workers", "0"]
    proc = subprocess.Popen([*exe, crawlsite.url("/"), "--scope", "host", "--depth", "40", "--max-digit-steps", "4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    crawl_id = None
    for kill in range(3):
        deadline = time.monotonic() + 120
        while True:  # until it has recorded some more pages
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                with sqlite3.connect(arch / "catalog.sqlite", timeout=5) as db:
                    crawl_id = db.execute("SELECT id FROM crawls").fetchone()[0]
                    done = db.execute("SELECT count(*) FROM crawl_urls WHERE state = 'done'").fetchone()[0]
            except (sqlite3.OperationalError, TypeError):
                done = 0
            if done >= 2 + 3 * kill:
                break
            assert time.monotonic() < deadline, "the crawl made no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = subprocess.Popen([*exe, "--resume", crawl_id], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode() if proc.stderr else ""
    archive = Archive(arch)
    seen = frontier(archive, crawl_id)
    expected = {crawlsite.url(f"/news/a{i}") for i in range(1, ARTICLES + 1)} | {crawlsite.url(p) for p in (
        "/", "/about", "/about/team")}
    assert expected <= {k for k, v in seen.items() if v[0] == "done"}
    assert not [k for k, v in seen.items() if v[0] == "queued"]
    assert set(captures_per_url(archive).values()) == {1}  # nothing recorded twice
    assert archive.verify().ok


def test_trap_bounds_session_ids_and_numbered_steps():
    bounds = TrapBounds()
    assert bounds.stops("https://x.example/news/2026/12/06/story", 0, 0) is None
    assert "repeated 3 times" in bounds.stops("https://x.example/a/b/a/b/a/c", 0, 0)
    assert "deeper than 16" in bounds.stops("https://x.example/" + "/".join(f"s{i}" for i in range(17)), 0, 0)
    assert "query variants" in bounds.stops("https://x.example/search?q=1", 0, 1000)
    assert bounds.stops("https://x.example/search", 0, 5000) is None  # no query: not a variant
    assert "numbers" in bounds.stops("https://x.example/cal/2027/01/01/", 51, 0)
    assert digits_only_step("https://x.example/cal/2026/12/06/", "https://x.example/cal/2026/12/07/")
    assert digits_only_step("https://x.example/l?page=9", "https://x.example/l?page=10")
    assert not digits_only_step("https://x.example/news/a1", "https://x.example/news/b1")
    assert not digits_only_step(None, "https://x.example/")
    assert without_session_ids("https://x.example/a;jsessionid=A1B2?x=1") == "https://x.example/a?x=1"
    assert without_session_ids("https://x.example/a?PHPSESSID=1&id=7&sid=9") == "https://x.example/a?id=7"
    assert without_session_ids("https://x.example/a?sessions=2026&side=2") == "https://x.example/a?sessions=2026&side=2"


def test_the_interface_shows_a_crawl_its_progress_pages_and_why_some_stopped(crawlsite, tmp_path, fast_options):
    from starlette.testclient import TestClient

    from archiver.web.app import create_app

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    report = start_crawl(archive, [crawlsite.url("/")], CrawlSettings(scope="host", depth=40,
                                                                      bounds=TrapBounds(digit_steps=2)))
    with TestClient(create_app(archive, allowed_hosts=("testserver",))) as client:
        listing = client.get("/crawl").text
        assert f"/crawl?id={report.id}" in listing and "scope host" in listing
        page = client.get("/crawl", params={"id": report.id}).text
        assert crawlsite.url("/") in page and f"{report.counts['done']} done" in page
        assert "differ only in their numbers" in page and "robots.txt" not in page.split("<main>")[0]
        bounded = client.get("/crawl", params={"id": report.id, "state": "bounded"}).text
        assert "/cal/" in bounded and "/news/a1" not in bounded
        blocked = client.get("/crawl", params={"id": report.id, "state": "blocked"}).text
        assert "/private/secret" in blocked
        data = client.get("/api/crawls", params={"id": report.id, "pages": "bounded"}).json()
        assert data["counts"] == report.counts and {p["state"] for p in data["pages"]} == {"bounded"}
        assert all("numbers" in p["reason"] for p in data["pages"])
        assert [c["id"] for c in client.get("/api/crawls").json()] == [report.id]
        missing = client.get("/crawl", params={"id": "nope"})
        assert missing.status_code == 404 and "no crawl nope" in missing.text and "<!DOCTYPE html>" in missing.text
        assert client.get("/crawl", params={"id": report.id, "state": "sideways"}).status_code == 400


def test_seeds_from_robots_sitemaps_indexes_gzip_and_lastmod(crawlsite, tmp_path, fast_options):
    import gzip

    u = crawlsite.url
    crawlsite.files["/robots.txt"] = ("text/plain", f"User-agent: *\nDisallow: /private/\nSitemap: {u('/maps/index.xml')}\n"
                                                    .encode())
    crawlsite.files["/maps/index.xml"] = ("application/xml", (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{u('/maps/news.xml.gz')}</loc></sitemap></sitemapindex>").encode())
    urls = "".join(f"<url><loc>{u(f'/news/a{i}')}</loc><lastmod>2020-01-0{i}</lastmod></url>" for i in (1, 2, 3))
    crawlsite.files["/maps/news.xml.gz"] = ("application/gzip", gzip.compress(
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()))
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    first = start_crawl(archive, [u("/about")], CrawlSettings(scope="host", depth=3, sitemap=True))
    seen = frontier(archive, first.id)
    for path in ("/robots.txt", "/maps/index.xml", "/maps/news.xml.gz", "/news/a1", "/news/a2", "/news/a3"):
        assert seen[u(path)][0] == "done", (path, seen.get(u(path)))
    assert seen[u("/sitemap.xml")][0] == "failed"  # the site has none: said, not hidden
    # Recrawled: the pages whose lastmod is older than their capture are skipped, a newer lastmod is fetched.
    crawlsite.files["/maps/news.xml.gz"] = ("application/gzip", gzip.compress(
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}'
        f"<url><loc>{u('/news/a4')}</loc><lastmod>2999-01-01</lastmod></url></urlset>".encode()))
    hits = dict(crawlsite.hits)
    again = start_crawl(archive, [u("/about")], CrawlSettings(scope="page", depth=3, sitemap=True))
    seen = frontier(archive, again.id)
    assert [seen[u(f"/news/a{i}")][0] for i in (1, 2, 3)] == ["skipped"] * 3
    assert "the sitemap's lastmod 2020-01-01" in seen[u("/news/a1")][1]
    assert crawlsite.hits["/news/a1"] == hits["/news/a1"] and seen[u("/news/a4")][0] == "done"


def test_feeds_rss_atom_and_json_list_their_items(crawlsite, tmp_path, fast_options):
    u = crawlsite.url
    crawlsite.files["/feed.rss"] = ("application/rss+xml", (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>News</title><link>/</link>"
        f"<item><title>One</title><link>{u('/news/a1')}</link></item>"
        "<item><title>Two</title><link>/news/a2</link></item></channel></rss>").encode())
    crawlsite.files["/feed.atom"] = ("application/atom+xml", (
        "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>News</title>"
        f"<link rel='self' href='{u('/feed.atom')}'/><entry><title>Three</title>"
        f"<link href='{u('/news/a3')}'/></entry></feed>").encode())
    crawlsite.files["/feed.json"] = ("application/feed+json", json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "News",
        "items": [{"id": "4", "url": u("/news/a4")}, {"id": "x", "url": 7}, "junk"]}).encode())
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    report = start_crawl(archive, [u("/feed.rss"), u("/feed.atom"), u("/feed.json")],
                         CrawlSettings(scope="host", depth=1))
    done = {k for k, v in frontier(archive, report.id).items() if v[0] == "done"}
    assert {u(f"/news/a{i}") for i in (1, 2, 3, 4)} <= done
    assert u("/news/a5") not in done  # depth 1: the articles' own links are not followed


def test_listings_are_read_as_hostile_input():
    import gzip

    from archiver.cleaning.listings import MAX_LISTING_BYTES, listed_links

    base = "https://example.org/sitemap.xml"
    xxe = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://example.org/&x;</loc>'
           b"</url><url><loc>https://example.org/ok</loc></url></urlset>")
    found = [link.url for link in listed_links(xxe, "application/xml", base)]
    assert "https://example.org/ok" in found and not any("root:" in x for x in found)
    bomb = gzip.compress(b"<urlset>" + b" " * (MAX_LISTING_BYTES * 2) + b"</urlset>")
    assert listed_links(bomb, "application/gzip", base) == ()  # inflated only to the cap
    deep = b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert listed_links(deep, "application/json", "https://example.org/feed.json") == ()
    assert listed_links(b"<urlset><url><loc>javascript:alert(1)</loc></url></urlset>", None, base) == ()
    assert listed_links(b"<html><body>not a listing</body></html>", "text/html", base) == ()
    from archiver.archive.embeds import embedded_urls
    from archiver.cleaning.links import page_links

    html = ('<base href="/sub/"><a href="http://[::1">bad</a><a href="b">b</a><a href="mailto:x">m</a>'
            '<img src="http://[::1"><img src="c.png"><script src="javascript:x"></script>')
    assert [x.url for x in page_links(html, "https://example.org/d/p")] == ["https://example.org/sub/b"]
    assert embedded_urls(html, "https://example.org/d/p") == ["https://example.org/sub/c.png"]
    robots = b"User-agent: *\nSitemap: /maps/a.xml\nsitemap:https://other.example/b.xml\n"
    assert [(x.url, x.listing) for x in listed_links(robots, "text/plain", "https://example.org/robots.txt")] == [
        ("https://example.org/maps/a.xml", True), ("https://other.example/b.xml", True)]


BOOKMARKS = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE><H1>Bookmarks</H1>
<DL><p>
  <DT><H3>Harbour</H3>
  <DL><p>
    <DT><A HREF="{a1}" ADD_DATE="1700000000" TAGS="ferry,council">Article one</A>
    <DT><A HREF="{a2}">Article <b>two</b></A>
    <DT><A HREF="javascript:alert(1)">a bookmarklet</A>
    <DT><A HREF="place:sort=8&maxResults=10">Recent tags</A>
    <DT><A HREF="{a1}">Article one again</A>
  </DL><p>
</DL><p>
"""


def test_imports_from_bookmarks_opml_and_plain_lists(crawlsite, tmp_path, fast_options):
    from archiver.crawl.imports import read_url_file

    u = crawlsite.url
    marks = tmp_path / "bookmarks.html"
    marks.write_text(BOOKMARKS.format(a1=u("/news/a1"), a2=u("/news/a2")))
    found = read_url_file(marks)
    assert found.kind == "bookmarks" and found.urls == [u("/news/a1"), u("/news/a2")]
    assert found.titles[u("/news/a2")] == "Article two" and found.tags[u("/news/a1")] == "ferry,council"
    assert len(found.problems) == 2 and all("no web page" in p for p in found.problems)
    opml = tmp_path / "feeds.opml"
    opml.write_text(f'<?xml version="1.0"?><!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml version="2.0">'
                    f'<body><outline text="News"><outline type="rss" text="Feed &x;" xmlUrl="{u("/feed.rss")}"/>'
                    f'<outline text="Site" htmlUrl="{u("/")}"/><outline text="Broken" xmlUrl="ftp://x/"/></outline>'
                    "</body></opml>")
    found = read_url_file(opml)
    assert found.kind == "opml" and found.urls == [u("/feed.rss"), u("/")] and len(found.problems) == 1
    assert "root:" not in "".join(found.titles.values())
    plain = tmp_path / "urls.txt"
    plain.write_bytes(f"# harbour\n{u('/about')}\nnot a url\n\xff\n".encode("latin-1"))
    found = read_url_file(plain)
    assert found.kind == "list" and found.urls == [u("/about")] and len(found.problems) == 2
    arch = str(tmp_path / "arch")
    res = CliRunner().invoke(cli, ["--archive", arch, "import", str(marks), "--delay", "0", "--workers", "0"])
    assert res.exit_code == 0 and "warning:" in res.stderr and u("/news/a2") in res.stdout, res.output
    res = CliRunner().invoke(cli, ["--archive", arch, "import", str(marks), "--watch", "1d", "--json"])
    watches = [json.loads(x) for x in res.stdout.splitlines()]
    assert [(w["url"], w["tag"]) for w in watches] == [(u("/news/a1"), "ferry,council"), (u("/news/a2"), None)]
    res = CliRunner().invoke(cli, ["--archive", arch, "crawl", "-i", str(plain), "--scope", "page", "--delay", "0",
                                   "--workers", "0", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout.splitlines()[-1])["seeds"] == [u("/about")]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    res = CliRunner().invoke(cli, ["--archive", arch, "import", str(empty)])
    assert res.exit_code == 2 and "no URL" in res.output


def test_a_crawl_is_exported_as_wacz_with_its_seeds_marked(crawlsite, tmp_path, fast_options):
    import zipfile

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    archive.capture([crawlsite.url("/news/a5")])  # in the archive, not in the crawl
    report = start_crawl(archive, [crawlsite.url("/about")], CrawlSettings(scope="host", depth=1))
    out = tmp_path / "crawl.wacz"
    res = CliRunner().invoke(cli, ["--archive", str(archive.path), "export", "--wacz", str(out), "--crawl", report.id])
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as z:
        pages = [json.loads(x) for x in z.read("pages/pages.jsonl").decode().splitlines()[1:]]
    assert {p["url"] for p in pages} == {crawlsite.url(p) for p in ("/about", "/", "/about/team")}
    assert [p["url"] for p in pages if p.get("seed")] == [crawlsite.url("/about")]
    from test_export import wacz_validate

    wacz_validate(out)
    bad = CliRunner().invoke(cli, ["--archive", str(archive.path), "export", "--wacz", str(out), "--crawl", "nope"])
    assert bad.exit_code == 2 and "no crawl nope" in bad.output


def test_a_section_watch_captures_its_new_pages_once_over_three_runs_and_says_so(crawlsite, tmp_path, fast_options,
                                                                                  clock):
    from siteserver import SiteServer

    from archiver.schedule.runner import NotifyOptions, run_due

    hook = SiteServer().start()
    try:
        archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)
        u = crawlsite.url
        crawlsite.files["/reports/"] = ("text/html", b"")

        def section(*n: int) -> None:
            links = "".join(f"<li><a href='/reports/r{i}'>Report {i}</a></li>" for i in n)
            crawlsite.files["/reports/"] = ("text/html; charset=utf-8", (
                "<html><head><title>Reports</title></head><body><nav><a href='/about'>About</a></nav>"
                f"<h1>Reports</h1><ul>{links}</ul></body></html>").encode())
            for i in n:
                crawlsite.files[f"/reports/r{i}"] = ("text/html; charset=utf-8", (
                    f"<html><head><title>Report {i}</title></head><body><article><h1>Report {i}</h1><p>"
                    + f"Report {i} on the harbour council's ferry budget and the winter timetable. " * 8
                    + "</p></article></body></html>").encode())

        res = CliRunner().invoke(cli, ["--archive", str(archive.path), "watch", "add", u("/reports/"), "--every", "1h",
                                       "--follow", "--watch-new", "1d"])
        assert res.exit_code == 0 and "following new links within scope prefix" in res.stdout, res.output
        with sqlite3.connect(archive.path / "catalog.sqlite") as db:  # added on the real clock; the test's is earlier
            db.execute("UPDATE watches SET next_due = 0")
        target = NotifyOptions(apprise=(f"json://127.0.0.1:{hook.server_port}/notify",))
        section(1, 2)
        first = run_due(archive, notify=target)
        assert first.new_pages == {u("/reports/"): [u("/reports/r1"), u("/reports/r2")]}
        assert u("/about") not in {c.url for c in first.captures}  # outside the section's folder
        section(1, 2, 3)
        clock.advance(hours=2)
        second = run_due(archive, notify=target)
        assert second.new_pages == {u("/reports/"): [u("/reports/r3")]}
        # r1 and r2 are watched (--watch-new 1d) from their first capture on: not due again two hours later
        assert {c.url for c in second.captures} == {u("/reports/"), u("/reports/r3")}
        section(1, 2, 3, 4, 5)
        clock.advance(hours=2)
        with sqlite3.connect(archive.path / "catalog.sqlite") as db:  # the CLI's run, on the real clock
            db.execute("UPDATE watches SET next_due = 0")
        ran = CliRunner().invoke(cli, ["--archive", str(archive.path), "run", "--delay", "0", "--workers", "0"])
        assert ran.exit_code == 0 and f"2 new page(s) in {u('/reports/')}:" in ran.stdout, ran.output
        section(1, 2, 3, 4, 5, 6, 7)
        with sqlite3.connect(archive.path / "catalog.sqlite") as db:
            db.execute("UPDATE watches SET next_due = 0 WHERE url = ?", (u("/reports/"),))
        third = run_due(archive, notify=target)
        assert third.new_pages == {u("/reports/"): [u("/reports/r6"), u("/reports/r7")]}
        assert captures_per_url(archive)[u("/reports/r6")] == 1
        sent = [json.loads(body) for path, body in hook.state.posts if path == "/notify"]
        titles = [m["title"] for m in sent]
        assert titles == ["2 new pages in Reports", "1 new page in Reports", "2 new pages in Reports"], titles
        assert u("/reports/r7") in sent[-1]["message"]
        with sqlite3.connect(archive.path / "catalog.sqlite") as db:
            watched = {r[0] for r in db.execute("SELECT url FROM watches")}
        assert watched == {u("/reports/")} | {u(f"/reports/r{i}") for i in range(1, 8)}  # --watch-new
        assert '"follow"' in (archive.path / "watches.json").read_text()
    finally:
        hook.stop()


def test_an_interrupted_crawl_says_so_and_resumes(crawlsite, tmp_path, fast_options):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)

    def stop(capture) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        start_crawl(archive, [crawlsite.url("/")], CrawlSettings(scope="host", depth=1), on_capture=stop)
    with archive.reader() as catalog:
        [crawl] = catalog.crawls()
    assert crawl["state"] == "stopped" and "interrupted (KeyboardInterrupt)" in crawl["note"]
    done = resume_crawl(archive, crawl["id"])
    assert done.state == "done" and done.note is None and done.counts["queued"] == 0
    assert set(captures_per_url(archive).values()) == {1}


def test_query_variants_deep_paths_and_looping_paths_are_bounded_in_a_crawl(crawlsite, tmp_path, fast_options):
    page = b"<html><head><title>A page</title></head><body><p>" + b"Words of a page about the ferry. " * 20 + b"</p></body></html>"
    paths = [f"/search?q={i}" for i in range(1, 7)] + ["/d/1/2/3/4/5/6/", "/d/1/2/", "/a/x/a/y/a/"]
    crawlsite.extra["/"] = paths
    for path in paths:
        crawlsite.files[path] = ("text/html; charset=utf-8", page)
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    report = start_crawl(archive, [crawlsite.url("/")], CrawlSettings(
        scope="host", depth=1, bounds=TrapBounds(query_variants=3, path_segments=5)))
    seen = frontier(archive, report.id)
    states = {p: seen[crawlsite.url(p)] for p in paths}
    assert [states[f"/search?q={i}"][0] for i in range(1, 7)] == ["done"] * 3 + ["bounded"] * 3
    assert "3 query variants of /search already" in states["/search?q=4"][1]
    assert states["/d/1/2/3/4/5/6/"] == ("bounded", "path deeper than 5 segments (--max-path-segments)")
    assert states["/d/1/2/"][0] == "done"
    assert states["/a/x/a/y/a/"][0] == "bounded" and "repeated 3 times" in states["/a/x/a/y/a/"][1]
    assert "/search?q=5" not in crawlsite.hits and "/d/1/2/3/4/5/6/" not in crawlsite.hits


def test_a_crawl_cleans_on_a_dask_cluster(crawlsite, tmp_path, fast_options):
    from archiver.workers.cluster import dask_executor

    archive = Archive(tmp_path / "arch", fetch_options=fast_options)
    with dask_executor("local", workers=1) as executor:
        report = start_crawl(archive, [crawlsite.url("/about")], CrawlSettings(scope="host", depth=1),
                             executor=executor)
    assert report.counts["done"] == 3 and report.captured == 3
    assert {k for k, v in frontier(archive, report.id).items() if v[0] == "done"} == {
        crawlsite.url(p) for p in ("/about", "/", "/about/team")}  # the links came back from the cluster
