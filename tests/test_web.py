"""archiver serve: routes, JSON API, feeds, writes and their guards, escaping.

The app is driven with httpx (Starlette's TestClient) over an archive made
in the test: a page captured, changed, turned into an error stub, and
changed back; a second page whose title is a script."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from warcio.archiveiterator import ArchiveIterator

from archiver import Archive, Verdict
from archiver.cli import cli
from archiver.web.app import create_app
from archiver.web.security import CSP
from ferrypages import FERRY, LONG, page

TOKEN = "a-test-token-that-is-long-enough"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The archive: /page/ferry new -> changed -> error stub -> changed back; /page/evil titled with a script."""
    from conftest import FakeClock
    from siteserver import SiteServer

    from archiver import FetchOptions

    server = SiteServer().start()
    clock = FakeClock()
    opts = FetchOptions(host_delay=0.0, backoff=0.01, read_timeout=2.0, connect_timeout=2.0, total_timeout=20.0)
    arch = tmp_path_factory.mktemp("web") / "arch"
    archive = Archive(arch, fetch_options=opts, clock=clock)
    url = server.url("/page/ferry")
    evil = server.url("/page/evil")
    steps = []
    for body in FERRY:
        clock.advance(hours=6)
        server.state.pages["/page/ferry"] = body
        [c] = archive.capture([url])
        steps.append(c)
    server.state.pages["/page/evil"] = page(EVIL, LONG + " Evil page words here.",
                                            extra="<script>window.__pwned = true; alert(2)</script>")
    clock.advance(hours=1)
    archive.capture([evil])
    with archive.catalog() as cat:
        cat.put_watch(url, every_seconds=21600, cron=None, tag="local", added_at="2026-01-01T00:00:00Z",
                      next_due=0)
    yield archive, url, evil, steps
    server.stop()


@pytest.fixture
def client(made):
    archive = made[0]
    with TestClient(create_app(archive, replay_url=lambda ts, u: f"http://127.0.0.1:9/archive/{ts}/{u}",
                                allowed_hosts=("testserver",))) as c:
        yield c


@pytest.fixture
def writer(made):
    # The test sites are on loopback: private addresses, which the interface refuses without this.
    with TestClient(create_app(made[0], token=TOKEN, allowed_hosts=("testserver",), allow_private=True)) as c:
        yield c


def test_the_archive_is_as_the_tests_expect(made):
    _, _, _, steps = made
    assert [c.verdict for c in steps] == [Verdict.NEW, Verdict.CHANGED, Verdict.SOFT_ERROR, Verdict.CHANGED]


def test_dashboard_lists_urls_with_verdicts_and_unseen_changes(client, made):
    _, url, evil, steps = made
    first = client.get("/")
    assert first.status_code == 200
    html = first.text
    assert url in html and evil in html
    assert "Ferry to keep running for now" in html  # the current title
    assert "v-changed" in html and "every 6h" in html and "local" in html
    assert 'action="/search"' in html  # a search box
    # No cookie yet: nothing is marked unseen; the visit is remembered.
    assert 'class="unseen"' not in html
    seen = first.cookies.get("archiver_seen")
    assert seen and len(seen) == 14
    # A visit before the last change: that change is unseen (bold).
    client.cookies.set("archiver_seen", "20000101000000")
    assert 'class="unseen"' in client.get("/").text


def test_timeline_shows_every_capture_and_errors_never_as_text(client, made):
    _, url, _, steps = made
    r = client.get("/timeline", params={"url": url})
    assert r.status_code == 200
    html = r.text
    for c in steps:
        assert c.timestamp[:8] in html.replace("-", "")
    assert "The website encountered an unexpected error" in html  # the error's reason is listed ...
    assert html.count('class="reason"') >= 1  # ... as a reason
    assert 'class="calendar"' in html  # density: a cell a day, its captures counted
    assert sum(int(n) for n in re.findall(r": (\d+) capture\(s\)", html)) == len(steps)
    assert f"http://127.0.0.1:9/archive/{steps[0].timestamp}/{url}" in html  # replay links, other origin
    assert client.get("/timeline", params={"url": "http://nowhere.example/"}).status_code == 404
    assert client.get("/timeline").status_code == 400


def test_snapshot_shows_text_metadata_replay_and_record(client, made):
    archive, url, _, steps = made
    r = client.get("/snapshot", params={"url": url})
    assert r.status_code == 200
    assert "Sentence five of" in r.text and "Ferry to keep running for now" in r.text
    assert f"http://127.0.0.1:9/archive/{steps[3].timestamp}/{url}" in r.text
    # How it was captured: provenance from the capture's metadata record.
    assert "How this was captured" in r.text and "127.0.0.1" in r.text.split("How this was captured")[1]
    # At the error capture: the text in force then, with a note, never the error's words.
    at_error = client.get("/snapshot", params={"url": url, "at": steps[2].timestamp})
    assert "has no text" in at_error.text and "Sentence 20, amended, of" in at_error.text
    assert "unexpected error. Please try again" not in at_error.text.split('class="text"')[1]
    # The WARC record link downloads the record as stored, readable by warcio.
    rid = re.search(r'/record\?id=([^"]+)"', r.text).group(1)
    rec = client.get("/record?id=" + rid.replace("&amp;", "&"))
    assert rec.status_code == 200 and rec.headers["content-type"] == "application/warc"
    [record] = list(ArchiveIterator(io.BytesIO(rec.content)))
    assert record.rec_type == "response" and record.rec_headers.get_header("WARC-Target-URI") == url
    assert client.get("/record", params={"id": "<urn:uuid:nope>"}).status_code == 404


def test_diff_pages(client, made):
    _, url, _, steps = made
    r = client.get("/diff", params={"url": url})
    assert r.status_code == 200
    html = r.text
    assert "<del>5</del>" in html and "<ins>five</ins>" in html  # word marks
    assert "title:" in html and "Ferry to keep running for now" in html  # metadata change
    assert 'class="diff side"' in html
    assert html.count("<option") >= 6  # from/to pickers over the good captures
    inline = client.get("/diff", params={"url": url, "view": "inline"}).text
    assert 'class="diff inline"' in inline and "<ins>five</ins>" in inline
    lines = client.get("/diff", params={"url": url, "unit": "lines"}).text
    assert "<del>5</del>" not in lines and "<del>Sentence 0 of" in lines
    chosen = client.get("/diff", params={"url": url, "from": steps[0].timestamp, "to": steps[1].timestamp}).text
    assert "<ins>, amended,</ins>" in chosen or "amended" in chosen.split("<ins>")[1]
    assert client.get("/diff", params={"url": url, "view": "sideways"}).status_code == 400
    assert client.get("/diff", params={"url": url, "ws": "ignore"}).status_code == 200


def test_search_with_snippets_and_filters(client, made):
    _, url, evil, _ = made
    r = client.get("/search", params={"q": "ferry"})
    assert r.status_code == 200 and url in r.text and "<mark>ferry</mark>" in r.text.lower()
    only = client.get("/search", params={"q": "Evil"}).text
    assert evil in only and url not in only.split('class="hits"')[1]
    assert "Nothing found" in client.get("/search", params={"q": "ferry", "site": "example.com"}).text
    assert url in client.get("/search", params={"q": "ferry", "site": "127.0.0.1"}).text
    assert "Nothing found" in client.get("/search", params={"q": "ferry", "since": "2100-01-01"}).text
    assert client.get("/search", params={"q": "ferry", "since": "yesterday"}).status_code == 400


def test_search_dates_at_the_ends_of_the_calendar_answer_and_never_500(client, made):
    """until=9999-12-31 overflowed the day after it: a bare 500 without the
    interface's page or headers."""
    _, url, _, _ = made
    r = client.get("/search", params={"q": "ferry", "until": "9999-12-31"})
    assert r.status_code == 200 and url in r.text
    assert "Nothing found" in client.get("/search", params={"q": "ferry", "since": "9999-12-31"}).text
    assert url in client.get("/search", params={"q": "ferry", "since": "0001-01-01"}).text
    for bad in ("10000-01-01", "9999-12-32", "-1-01-01", "2026-02-30"):
        r = client.get("/search", params={"q": "ferry", "until": bad})
        assert r.status_code == 400, bad
        assert "not a date" in r.text and "Content-Security-Policy" in r.headers


def test_a_host_header_the_server_does_not_answer_to_is_refused(made):
    """Any Host header was accepted: DNS rebinding could read the archive
    through a browser, and feed links took the attacker's host."""
    with TestClient(create_app(made[0], token=TOKEN, allowed_hosts=("archive.example.org",))) as c:
        for host in ("attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example", "", "[::1",
                     "localhost.attacker.example", "archive.example.org.evil"):
            for path in ("/", "/api/watches", "/feed.atom"):
                r = c.get(path, headers={"Host": host})
                assert r.status_code == 400 and "--allowed-host" in r.text, (host, path)
        r = c.post("/api/watches", headers={"Host": "attacker.example", "Authorization": f"Bearer {TOKEN}"},
                   json={"url": "https://example.org/x", "every": "1h"})
        assert r.status_code == 400
        for host in ("127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "localhost:8080", "LOCALHOST",
                     "archive.example.org", "Archive.Example.Org:443", "192.0.2.7:8080"):
            assert c.get("/api/watches", headers={"Host": host}).status_code == 200, host
        feed = c.get("/feed.atom", headers={"Host": "archive.example.org"}).text
        assert "http://archive.example.org/" in feed and "attacker" not in feed


def test_a_word_repeated_in_a_query_is_searched_once_and_long_queries_are_refused(client, made):
    """`ferry` 500 times took 190 s on 100,000 captures, and four such
    requests stalled the server: terms are folded, queries capped."""
    archive, url, _, _ = made
    assert [h.url for h in archive.search("ferry " * 500, 10)] == [h.url for h in archive.search("ferry", 10)]
    assert url in [h.url for h in archive.search("ferry", 10)]
    r = client.get("/search", params={"q": "ferry " * 500})
    assert r.status_code == 200 and url in r.text
    r = client.get("/search", params={"q": "ferry " * 1000})
    assert r.status_code == 400 and "at most 4096 characters" in r.text
    many = " ".join(f"word{i}" for i in range(40))
    r = client.get("/api/search", params={"q": many})
    assert r.status_code == 400 and "at most 32 different words" in r.json()["error"]
    res = CliRunner().invoke(cli, ["--archive", str(archive.path), "search", many])
    assert res.exit_code == 2 and "at most 32 different words" in res.stderr


def test_a_catalog_query_past_its_time_limit_is_stopped_not_waited_for(made, monkeypatch):
    from archiver.web import reads as web

    monkeypatch.setattr(web, "QUERY_TIME_LIMIT", 0.0)
    monkeypatch.setattr(web, "_PROGRESS_STEPS", 1)  # the time looked at after every instruction
    with TestClient(create_app(made[0], allowed_hosts=("testserver",))) as c:
        r = c.get("/search", params={"q": "ferry"})
        assert r.status_code == 503 and "took longer than 0 s" in r.text
        assert "Content-Security-Policy" in r.headers
        assert c.get("/api/captures", params={"url": made[1]}).status_code == 503


def _endless_search(stopped: list):
    def search(self, *args, **kwargs):
        try:
            self.db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
                            " SELECT count(*) FROM c").fetchone()
        except Exception as exc:
            stopped.append(str(exc))
            raise
        return []
    return search


def test_a_query_whose_client_left_or_whose_server_stops_is_stopped(made, free_port, monkeypatch):
    """A request whose client left kept its CPU, and SIGTERM waited on it."""
    import socket

    import uvicorn

    from archiver.archive.catalog import Catalog
    from archiver.web import reads as web

    stopped: list[str] = []
    monkeypatch.setattr(Catalog, "search", _endless_search(stopped))
    monkeypatch.setattr(web, "QUERY_TIME_LIMIT", 600.0)
    server = uvicorn.Server(uvicorn.Config(create_app(made[0]), host="127.0.0.1", port=free_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until_serving(free_port)

        def ask() -> socket.socket:
            s = socket.create_connection(("127.0.0.1", free_port))
            s.sendall(f"GET /search?q=ferry HTTP/1.1\r\nHost: 127.0.0.1:{free_port}\r\n\r\n".encode())
            return s

        def wait_for(n: int) -> None:
            deadline = time.monotonic() + 120  # far below the 600 s limit
            while len(stopped) < n:
                assert time.monotonic() < deadline, "the query was not stopped"
                time.sleep(0.05)

        s = ask()
        time.sleep(0.5)
        assert not stopped  # still running while its client waits
        s.close()  # the client leaves
        wait_for(1)
        assert "interrupted" in stopped[0]
        s = ask()
        time.sleep(0.5)
        web.SHUTTING_DOWN.set()  # as the server's exit handler does on SIGTERM
        wait_for(2)
        assert s.recv(65536).startswith(b"HTTP/1.1 503")
        s.close()
    finally:
        web.SHUTTING_DOWN.clear()
        server.should_exit = True
        thread.join(30)


def test_feeds_carry_words_added_and_removed(client, made):
    _, url, _, steps = made
    for params in ({}, {"url": url}, {"tag": "local"}):
        r = client.get("/feed.atom", params=params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        root = ET.fromstring(r.content)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        entries = root.findall("a:entry", ns)
        assert entries
    entries = ET.fromstring(client.get("/feed.atom", params={"url": url}).content).findall(
        "{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 3  # new, changed, changed (the error is no change)
    latest = entries[0]
    content = latest.find("{http://www.w3.org/2005/Atom}content").text
    # Against the text before it (the amended one): the heading grew, 5 became five, the amendment went.
    assert "Added: for now … five" in content and "Removed: 5 … , amended," in content
    assert "+3 words, −2 words" in latest.find("{http://www.w3.org/2005/Atom}summary").text


def test_feed_words_are_stored_at_capture_time(made):
    archive, url, _, steps = made
    with archive.reader() as cat:
        rows = cat.changes(url=url)
    assert rows[0].timestamp == steps[3].timestamp
    assert rows[0].added == "for now … five" and rows[0].removed == "5 … , amended,"
    assert (rows[0].words_added, rows[0].words_removed) == (3, 2)
    assert rows[0].previous == steps[1].timestamp


def test_api_answers_are_the_clis_json(client, made):
    archive, url, _, _ = made
    run = CliRunner().invoke
    arch = str(archive.path)

    def cli_json(*args: str):
        res = run(cli, ["--archive", arch, *args])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    assert client.get("/api/captures", params={"url": url}).json() == cli_json("history", url, "--json")
    assert client.get("/api/snapshot", params={"url": url}).json() == cli_json("show", url, "--json")
    assert client.get("/api/diff", params={"url": url}).json() == cli_json("diff", url, "--format", "json")
    assert client.get("/api/search", params={"q": "ferry"}).json() == cli_json("search", "ferry", "--json")
    assert client.get("/api/watches").json() == cli_json("watch", "list", "--json")
    missing = client.get("/api/snapshot", params={"url": "http://nowhere.example/"})
    assert missing.status_code == 404 and "error" in missing.json()
    # Not found is said the same way by every reader (the API re-implemented history with its own words).
    for api, command in (("/api/captures", "history"), ("/api/snapshot", "show"), ("/api/diff", "diff")):
        said = client.get(api, params={"url": "http://nowhere.example/x"}).json()["error"]
        res = run(cli, ["--archive", arch, command, "http://nowhere.example/x"])
        assert res.exit_code == 2 and res.stderr.strip() == f"error: {said}", (api, said, res.stderr)


def test_writes_need_a_token(client, writer, made, site):
    # Started without a token: every write is refused.
    r = client.post("/api/watches", json={"url": site.url("/page.html"), "every": "1h"})
    assert r.status_code == 403
    assert client.post("/api/captures", json={"urls": [site.url("/page.html")]}).status_code == 403
    # With a token: a wrong or missing one is refused, the right one writes.
    body = {"url": site.url("/page.html"), "every": "1h", "tags": ["press"]}
    assert writer.post("/api/watches", json=body).status_code == 401
    assert writer.post("/api/watches", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = writer.post("/api/watches", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 201 and ok.json()["url"] == site.url("/page.html") and ok.json()["tag"] == "press"
    bad = writer.post("/api/watches", json={"url": "not a url", "every": "1h"},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 400 and "invalid URL" in bad.json()["error"]
    form = writer.post("/api/watches", data={"url": site.url("/page.html")}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert form.status_code == 400  # JSON only: a cross-site form cannot send it
    done = writer.post("/api/captures", json={"urls": [site.url("/page.html")], "wait": True},
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert done.status_code == 200 and done.json()[0]["verdict"] in ("new", "unchanged")


def test_html_forms_are_guarded_against_cross_site_requests(writer, made, site):
    writer.get("/")  # sets the CSRF cookie
    csrf = writer.cookies.get("archiver_csrf")
    assert csrf
    dash = writer.get("/").text
    assert f'name="csrf" value="{csrf}"' in dash
    fields = {"url": site.url("/page/form"), "every": "2h", "token": TOKEN, "csrf": csrf}
    # From another site (the browser says so): refused, whatever the form holds.
    assert writer.post("/watches", data=fields, headers={"Origin": "http://evil.example"},
                       follow_redirects=False).status_code == 403
    assert writer.post("/watches", data=fields, headers={"Sec-Fetch-Site": "cross-site"},
                       follow_redirects=False).status_code == 403
    # Without the CSRF token: refused.
    assert writer.post("/watches", data={**fields, "csrf": "guess"}, headers={"Origin": "http://testserver"},
                       follow_redirects=False).status_code == 403
    # Wrong token: refused.
    assert writer.post("/watches", data={**fields, "token": "nope"}, headers={"Origin": "http://testserver"},
                       follow_redirects=False).status_code == 401
    ok = writer.post("/watches", data=fields, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert ok.status_code == 303
    assert any(w["url"] == site.url("/page/form") for w in writer.get("/api/watches").json())


def test_captured_strings_are_escaped_and_pages_are_locked_down(client, made):
    _, url, evil, _ = made
    pages = [client.get("/"), client.get("/timeline", params={"url": evil}), client.get("/snapshot", params={"url": evil}),
             client.get("/search", params={"q": "Evil"}), client.get("/diff", params={"url": url})]
    for r in pages:
        assert r.status_code == 200
        assert EVIL not in r.text and "alert(2)" not in r.text
        assert r.headers["content-security-policy"] == CSP and "unsafe-inline" not in CSP
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        # No inline scripts at all: the only script is the app's own file.
        assert re.findall(r"<script[^>]*>", r.text) == ['<script src="/static/app.js" defer>']
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
    feed = client.get("/feed.atom").text
    assert EVIL not in feed and "&lt;script&gt;alert(1)&lt;/script&gt;" in feed


def test_static_files_and_health(client):
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/../web.py").status_code == 404
    assert client.get("/healthz").text == "ok\n"


def test_serve_warns_when_it_binds_beyond_this_machine_without_a_token(made, free_port):
    archive = made[0]
    exe = [sys.executable, "-m", "archiver", "serve", "--archive", str(archive.path), "--host", "0.0.0.0",
           "--port", str(free_port), "--no-replay"]
    proc = subprocess.Popen(exe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        line = proc.stdout.readline()
        assert line.startswith("serving ") and f":{free_port}/" in line
        import httpx

        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{free_port}/healthz", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "warning: serving on 0.0.0.0" in err and "readable" in err


def test_serve_refuses_bad_setups(made, tmp_path):
    run = CliRunner().invoke
    arch = str(made[0].path)
    short = run(cli, ["serve", "--archive", arch, "--token", "short"])
    assert short.exit_code == 2 and "at least 16 characters" in short.output
    same = run(cli, ["serve", "--archive", arch, "--port", "9000", "--replay-port", "9000"])
    assert same.exit_code == 2 and "origin of its own" in same.output
    empty = run(cli, ["serve", "--archive", str(tmp_path / "none")])
    assert empty.exit_code == 2 and "holds no archive" in empty.output


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_stops_quietly_on_sigterm(made, free_port, workers):
    """`systemctl stop` (SIGTERM to the whole group): every server process
    shuts down, nothing is printed, nothing is left, exit 0."""
    import signal

    from procutil import descendants, still_running, stop_group

    exe = [sys.executable, "-m", "archiver", "serve", "--archive", str(made[0].path), "--port", str(free_port),
           "--no-replay", "--workers", str(workers)]
    proc = subprocess.Popen(exe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("serving ")
        wait_until_serving(free_port)
        kids = descendants(proc.pid)
    finally:
        out, err = stop_group(proc, signal.SIGTERM, timeout=30)
    assert proc.returncode == 0 and err == "", err
    assert not still_running(kids, within=1)


def wait_until_serving(port: int) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)


def test_serve_spreads_connections_over_its_processes_and_refuses_a_taken_port(made, free_port):
    import socket

    import psutil

    archive = made[0]
    exe = [sys.executable, "-m", "archiver", "serve", "--archive", str(archive.path), "--port", str(free_port),
           "--no-replay", "--workers", "2"]
    proc = subprocess.Popen(exe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conns: list[socket.socket] = []
    try:
        assert proc.stdout.readline().startswith("serving ")
        wait_until_serving(free_port)
        # 24 keep-alive clients: each server process must get its share (with
        # one shared socket, one process took nearly all of them).
        for _ in range(24):
            s = socket.create_connection(("127.0.0.1", free_port))
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{free_port}\r\n\r\n".encode())
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            conns.append(s)
        servers = psutil.Process(proc.pid).children()
        assert len(servers) == 2
        held = [sum(1 for c in p.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED
                    and c.laddr.port == free_port) for p in servers]
        assert sum(held) == 24 and min(held) >= 2, held  # hashed: 12 each on average
        # Another server on the same port is refused, not let in to take half the requests.
        again = CliRunner().invoke(cli, ["serve", "--archive", str(archive.path), "--port", str(free_port),
                                         "--no-replay", "--workers", "2"])
        assert again.exit_code == 2 and "cannot listen" in again.output, again.output
        assert "serving" not in again.output  # never announced
        alone = CliRunner().invoke(cli, ["serve", "--archive", str(archive.path), "--port", str(free_port),
                                         "--no-replay", "--workers", "1"])
        assert alone.exit_code == 2 and "cannot listen" in alone.output and "serving" not in alone.output
    finally:
        for s in conns:
            s.close()
        proc.terminate()
        proc.communicate(timeout=20)
