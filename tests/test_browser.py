"""Browser capture: pages that build their text with JavaScript, loaded in a
real Chromium through Playwright, recorded into the same WARC, catalog and
snapshot pipeline as plain capture, and replayed by pywb."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

pytest.importorskip("playwright")

from archiver import Archive, Verdict  # noqa: E402
from archiver.capture.browser import find_chromium  # noqa: E402
from archiver.cli import cli  # noqa: E402
from archiver.config import BrowserOptions  # noqa: E402
from archiver.errors import BrowserUnavailable  # noqa: E402

from chromium import CHROMIUM, needs_chromium  # noqa: E402
from jssite import MORE, PARAS, TITLE, JsServer  # noqa: E402
from warcutil import warc_files  # noqa: E402


FAST = BrowserOptions(idle=1.0, timeout=20.0)


@pytest.fixture(scope="module")
def js():
    server = JsServer().start()
    yield server
    server.stop()


def records(archive: Path) -> list[tuple[str, str, object, bytes]]:
    """(type, target URI, HTTP headers, content) of every record, in order."""
    out = []
    for path in warc_files(archive):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                out.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI") or "", rec.http_headers,
                            rec.content_stream().read()))
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def warcio_check(archive: Path) -> None:
    exe = Path(sys.executable).parent / "warcio"
    for path in warc_files(archive):
        res = subprocess.run([str(exe), "check", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


@needs_chromium
def test_js_article_plain_is_an_empty_shell_browser_gives_the_article(js, tmp_path, fast_options):
    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=fast_options, browser_options=FAST)
    [plain] = archive.capture([js.url("/js/article")])
    assert plain.verdict is Verdict.SOFT_ERROR and "empty shell" in plain.reason and plain.via == "http"
    [twin] = archive.capture([js.url("/static/article")])
    [rendered] = archive.capture([js.url("/js/article")], browser=True)
    assert rendered.verdict is Verdict.NEW and rendered.via == "browser"  # the first text this URL has had
    # The script-built article cleans to exactly the text of its static twin.
    assert rendered.text_sha256 == twin.text_sha256
    shown = archive.show(js.url("/js/article"))
    for para in PARAS:
        assert para in shown.snapshot.text
    assert shown.to_json()["fetched_with"] == "browser"
    # Provenance says a browser loaded it, which one, and with what settings.
    prov = shown.to_json()["provenance"]
    assert prov["fetched_with"] == "browser" and prov["browser"].startswith(("Chromium", "HeadlessChrome"))
    assert prov["options"]["browser"]["timeout"] == FAST.timeout and prov["ip_address"] == "127.0.0.1"
    # One snapshot file per distinct text: the twin, fetched plainly, made it first.
    assert shown.snapshot.first_captured["url"] == js.url("/static/article")
    assert shown.snapshot.first_captured["fetched_with"] == "http"
    assert "Copyright" not in shown.snapshot.text and "Loading" not in shown.snapshot.text

    warcio_check(arch)
    recs = records(arch)
    page = js.url("/js/article")
    kinds = {(t, u) for t, u, _, _ in recs}
    assert ("request", page) in kinds and ("response", page) in kinds
    assert ("response", js.url("/js/app.js")) in kinds  # the script the page ran
    [shot] = [c for t, u, _, c in recs if t == "resource" and u == f"urn:screenshot:{page}"]
    width, height = png_size(shot)
    assert width == 1280 and height >= 300
    [dom] = [c for t, u, _, c in recs if t == "resource" and u == f"urn:dom:{page}"]
    assert PARAS[2].encode() in dom and b"Loading" not in dom
    # The browser hands over decoded bodies: headers that say so, the wire's kept aside.
    [(headers, body)] = [(h, c) for t, u, h, c in recs if t == "response" and u == js.url("/js/app.js")
                         and h.get_header("X-Orig-Content-Encoding")]
    assert headers.get_header("Content-Encoding") is None
    assert headers.get_header("X-Orig-Content-Encoding") == "gzip"
    assert headers.get_header("Content-Length") == str(len(body)) and body.startswith(b"\nfunction render")
    meta = [c for t, u, _, c in recs if t == "metadata" and u == page][-1].decode()
    assert "archiver-fetched-with: browser" in meta and "archiver-screenshot: <urn:uuid:" in meta
    assert "archiver-browser: Chromium" in meta
    # The page was asked for with the browser's User-Agent and our contact suffix.
    assert any("HeadlessChrome" in a and "archiver/" in a for a in js.state.agents)


@needs_chromium
@pytest.mark.parametrize("path, expected, fetched", [
    ("/js/json", PARAS, "/api/article.json"),  # text fetched from a JSON endpoint
    ("/js/lazy", PARAS[:2] + MORE, "/api/more.json"),  # more loaded when scrolled into view
    ("/js/poll", PARAS, "/api/ping"),  # never goes quiet: taken when the idle cap runs out
], ids=["json", "lazy", "polling"])
def test_script_built_pages(js, tmp_path, fast_options, path, expected, fetched):
    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=fast_options, browser_options=FAST)
    [c] = archive.capture([js.url(path)], browser=True)
    assert c.verdict is Verdict.NEW, c.reason
    text = archive.show(js.url(path)).snapshot.text
    for para in expected:
        assert para in text
    warcio_check(arch)
    recs = records(arch)
    assert any(t == "response" and fetched in u for t, u, _, _ in recs)  # the XHR is in the WARC too
    assert any(t == "resource" and u == f"urn:screenshot:{js.url(path)}" for t, u, _, _ in recs)


@needs_chromium
def test_a_page_that_hangs_fails_and_the_run_goes_on(js, tmp_path, fast_options):
    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=fast_options, browser_options=BrowserOptions(idle=1.0, timeout=4.0))
    hang, good = archive.capture([js.url("/js/hang"), js.url("/js/json")], browser=True)
    assert hang.verdict is Verdict.FAILED and "gave up after 4 s in the browser" in hang.reason
    assert good.verdict is Verdict.NEW
    # What the hung page did send is kept.
    assert any(t == "response" and u == js.url("/js/hang") for t, u, _, _ in records(arch))
    warcio_check(arch)


@needs_chromium
def test_the_browser_dying_fails_that_page_and_is_started_again(js, tmp_path, fast_options):
    me = psutil.Process()

    def kill_chromium() -> None:
        for child in me.children(recursive=True):
            try:
                if "chrom" in child.name().lower() or "headless" in child.name().lower():
                    child.kill()
            except psutil.Error:
                pass

    js.state.on_kill = kill_chromium
    try:
        archive = Archive(tmp_path / "arch", fetch_options=fast_options,
                          browser_options=BrowserOptions(idle=1.0, timeout=20.0, pages=1))
        killed, after = archive.capture([js.url("/js/kill"), js.url("/js/json")], browser=True)
    finally:
        js.state.on_kill = None
    assert killed.verdict is Verdict.FAILED and "browser" in killed.reason
    assert after.verdict is Verdict.NEW, after.reason


@needs_chromium
def test_robots_txt_applies_to_browser_capture(js, tmp_path, fast_options):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST)
    before = js.state.hits["/private/js"]
    [c] = archive.capture([js.url("/private/js")], browser=True)
    assert c.verdict is Verdict.BLOCKED
    assert js.state.hits["/private/js"] == before


@needs_chromium
def test_a_rule_file_sends_its_site_to_the_browser(js, tmp_path, fast_options, monkeypatch):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "harbour.toml").write_text('[match]\ndomains = ["127.0.0.1"]\npaths = ["^/js/"]\n[fetch]\nbrowser = true\n')
    monkeypatch.setenv("ARCHIVER_RULES", str(rules))
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST)
    js_page, static = archive.capture([js.url("/js/article"), js.url("/static/article")])
    assert js_page.via == "browser" and js_page.verdict is Verdict.NEW
    assert static.via == "http"


@needs_chromium
def test_cli_capture_and_watch_with_browser(js, tmp_path, monkeypatch):
    arch = str(tmp_path / "arch")
    run = CliRunner().invoke
    res = run(cli, ["capture", "--archive", arch, "--browser", "--delay", "0", "--json", js.url("/js/json")])
    assert res.exit_code == 0, res.output
    line = json.loads(res.stdout.strip().splitlines()[-1])
    assert line["fetched_with"] == "browser" and line["verdict"] == "new"
    res = run(cli, ["watch", "add", "--archive", arch, js.url("/js/lazy"), "--every", "1h", "--browser"])
    assert res.exit_code == 0 and "in the browser" in res.output
    res = run(cli, ["watch", "list", "--archive", arch, "--json"])
    assert json.loads(res.stdout)[0]["browser"] is True
    res = run(cli, ["run", "--archive", arch, "--delay", "0", "--json"])
    assert res.exit_code == 0, res.output
    res = run(cli, ["history", "--archive", arch, js.url("/js/lazy"), "--json"])
    [h] = json.loads(res.stdout)
    assert h["fetched_with"] == "browser" and h["verdict"] == "new"


def test_no_browser_is_one_line_and_exit_2(tmp_path, monkeypatch, site):
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on PATH
    monkeypatch.delenv("ARCHIVER_CHROMIUM", raising=False)
    with pytest.raises(BrowserUnavailable, match="apt-get install chromium"):
        find_chromium(managed=str(tmp_path / "not-there"))
    res = CliRunner().invoke(cli, ["capture", "--archive", str(tmp_path / "arch"), "--browser",
                                   "--browser-path", str(tmp_path / "no-such-chromium"), site.url("/page.html")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error: no browser at") and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


@needs_chromium
def test_pywb_replays_the_script_built_page(js, tmp_path, fast_options, wayback):
    """Replay in pywb, loaded in the same browser: the article's text is
    there, built by its script from the archived responses."""
    from playwright.sync_api import sync_playwright

    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=fast_options, browser_options=FAST)
    [c] = archive.capture([js.url("/js/json")], browser=True)
    root = tmp_path / "pywb"
    root.mkdir()
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "wb-manager"), "init", "coll"], cwd=root, check=True, capture_output=True)
    subprocess.run([str(bindir / "wb-manager"), "add", "coll", *map(str, warc_files(arch))], cwd=root, check=True,
                   capture_output=True)
    client = wayback(root)
    with sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        # pywb's framed replay: its banner on top, the archived page in an iframe.
        page.goto(f"{client.base_url}/coll/{c.timestamp}/{c.url}", wait_until="load")
        replayed = page.frame_locator("iframe").first
        replayed.locator("article p").first.wait_for(timeout=20000)
        text = replayed.locator("article").inner_text()
        browser.close()
    assert TITLE in text
    for para in PARAS:
        assert para in text


@needs_chromium
def test_a_cookie_wall_in_the_browser_with_a_cookies_file(site, tmp_path, fast_options):
    """A credential set's cookies.txt reaches the browser's context (scoped to
    its domain), and the request record keeps no cookie value."""
    from archiver.capture.credentials import inline_set

    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tletmein\n")
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST, workers=0)
    [without] = archive.capture([site.url("/members/cookie")], browser=True)
    assert without.verdict is Verdict.HTTP_ERROR
    archive.credentials = inline_set([], str(cookies))
    [with_it] = archive.capture([site.url("/members/cookie")], browser=True)
    assert with_it.verdict is Verdict.NEW and with_it.title == "Members only" and with_it.via == "browser"
    sent = [r for r in records(tmp_path / "arch") if r[0] == "request" and r[1] == site.url("/members/cookie")]
    headers = {k.lower(): v for k, v in sent[-1][2].headers}
    assert headers.get("cookie") == "[redacted by archiver]"
    assert archive.show(site.url("/members/cookie")).provenance["credentials"] == "command-line"


@needs_chromium
def test_a_credential_sets_headers_go_to_its_host_only_in_the_browser(site, tmp_path, fast_options, monkeypatch):
    """Basic auth and a header from a credential set reach the page's host
    through the browser too; a redirect to another host gets neither."""
    creds = tmp_path / "credentials.toml"
    creds.write_text('[memo]\nbasic = { user = "me", password_env = "MEMO_PASSWORD" }\n'
                     'headers = { "X-Api-Key" = "k-123" }\n')
    monkeypatch.setenv("ARCHIVER_CREDENTIALS", str(creds))
    monkeypatch.setenv("MEMO_PASSWORD", "s3cret-pw")
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST, workers=0)
    basic, away = site.url("/members/basic"), site.url("/members/away")
    first, second = archive.capture([basic, away], browser=True, auth={basic: "memo", away: "memo"})
    assert first.verdict is Verdict.NEW and first.title == "Behind basic auth"
    assert second.final_url.startswith("http://localhost:")
    sent = {path: headers for _, path, headers in list(site.state.log)}
    assert sent["/members/away"].get("x-api-key") == "k-123" and sent["/members/away"].get("authorization")
    assert "x-api-key" not in sent["/page.html"] and "authorization" not in sent["/page.html"]
    # The password is not in the archive (the request records say a header was sent, not what).
    for path in (tmp_path / "arch" / "warc").glob("*.warc.gz"):
        assert b"s3cret-pw" not in gzip.decompress(path.read_bytes())


@needs_chromium
def test_a_playwright_storage_state_from_a_credential_set(site, tmp_path, fast_options, monkeypatch):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"cookies": [{"name": "session", "value": "letmein", "domain": "127.0.0.1",
                                              "path": "/", "expires": -1, "httpOnly": False, "secure": False,
                                              "sameSite": "Lax"}], "origins": []}))
    creds = tmp_path / "credentials.toml"
    creds.write_text(f'[members]\nstorage_state = "{state}"\n')
    monkeypatch.setenv("ARCHIVER_CREDENTIALS", str(creds))
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST, workers=0)
    [c] = archive.capture([site.url("/members/cookie")], browser=True, auth={site.url("/members/cookie"): "members"})
    assert c.verdict is Verdict.NEW and c.title == "Members only"
    assert archive.show(site.url("/members/cookie")).provenance["credentials"] == "members"


def test_a_browser_capture_is_seen_in_the_interface_screenshot_and_records_from_the_warc(js, tmp_path, fast_options):
    from starlette.testclient import TestClient

    from archiver.web.app import create_app

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST)
    [c] = archive.capture([js.url("/js/article")], browser=True)
    [plain] = archive.capture([js.url("/static/article")])
    assert c.verdict is Verdict.NEW and plain.verdict is Verdict.NEW
    stored = [body for rtype, uri, _h, body in records(archive.path) if rtype == "resource" and uri.startswith("urn:screenshot:")]
    with TestClient(create_app(archive, allowed_hosts=("testserver",))) as client:
        shot = client.get("/screenshot", params={"url": js.url("/js/article")})
        assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
        assert shot.content in stored  # the bytes of the WARC's resource record, not a new rendering
        at = client.get("/screenshot", params={"url": js.url("/js/article"), "at": c.precise_timestamp})
        assert at.content == shot.content
        none = client.get("/screenshot", params={"url": js.url("/static/article")})
        assert none.status_code == 404 and "capture --browser" in none.text
        page = client.get("/snapshot", params={"url": js.url("/js/article")}).text
        assert '<figure class="screenshot">' in page and "/screenshot?url=" in page
        for role in ("response", "screenshot", "dom", "metadata"):
            assert f">{role}</a>" in page, role
        assert "HTTP/1.1 200" in page and "Content-Type: text/html" in page  # the response's headers
        plain_page = client.get("/snapshot", params={"url": js.url("/static/article")}).text
        assert '<figure class="screenshot">' not in plain_page and ">response</a>" in plain_page
        timeline = client.get("/timeline", params={"url": js.url("/js/article")}).text
        assert 'class="thumb"' in timeline
        # The DOM, as the WARC holds it, rendered in a sandbox that fetches nothing.
        [stored_dom] = [body for rtype, uri, _h, body in records(archive.path) if uri == f"urn:dom:{js.url('/js/article')}"]
        assert "/dom?url=" in page
        dom = client.get("/dom", params={"url": js.url("/js/article"), "at": c.precise_timestamp})
        assert dom.status_code == 200 and dom.content == stored_dom and b"<script" in dom.content
        csp = dom.headers["content-security-policy"]
        assert csp.startswith("sandbox;") and "default-src 'none'" in csp and "script-src" not in csp
        assert client.get("/dom", params={"url": js.url("/static/article")}).status_code == 404
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        tab = browser.new_page()
        asked: list[str] = []
        tab.on("request", lambda r: asked.append(r.url))
        tab.route("http://interface.test/dom", lambda route: route.fulfill(
            status=200, body=dom.content, headers={k: v for k, v in dom.headers.items() if k != "content-length"}))
        tab.goto("http://interface.test/dom")
        assert PARAS[2] in tab.inner_text("body")  # the text the page's scripts had built
        assert asked == ["http://interface.test/dom"]  # its script, styles and images were not fetched
        browser.close()


def test_two_screenshots_compared_mark_where_the_page_looks_different(fresh_site, tmp_path, fast_options, clock):
    from starlette.testclient import TestClient

    from archiver.web.app import create_app

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST, clock=clock)
    url = fresh_site.url("/page/look")
    body = "<p>The harbour authority kept the night ferry running until the bridge opens in the spring.</p>" * 6
    fresh_site.state.pages["/page/look"] = (f"<html><body style='margin:0;background:#fff'><h1>Ferry</h1>{body}"
                                            "</body></html>").encode()
    archive.capture([url], browser=True)
    clock.advance(hours=1)
    banner = "<div style='background:#c00;color:#fff;height:120px;width:300px'>Service suspended</div>"
    fresh_site.state.pages["/page/look"] = (f"<html><body style='margin:0;background:#fff'><h1>Ferry</h1>{body}"
                                            f"{banner}</body></html>").encode()
    archive.capture([url], browser=True)
    with TestClient(create_app(archive, allowed_hosts=("testserver",))) as client:
        data = client.get("/api/diff", params={"url": url, "view": "visual"}).json()
        assert 0 < data["changed_area"] < 0.5 and data["regions"]
        x, y, w, h = max(data["regions"], key=lambda r: r[2] * r[3])
        assert w >= 250 and h >= 100  # the red block, found where it was drawn (below the text)
        page = client.get("/diff", params={"url": url, "view": "visual"})
        assert page.status_code == 200 and "looks different" in page.text and "marked_from=" in page.text
        plain = client.get("/screenshot", params={"url": url}).content
        marked_url = page.text.split('src="')[2].split('"')[0].replace("&amp;", "&")
        marked = client.get(marked_url)
        assert marked.headers["content-type"] == "image/png" and marked.content != plain
        assert 'view=visual' in client.get("/timeline", params={"url": url}).text


@needs_chromium
def test_a_crawl_in_the_browser_follows_links_the_pages_scripts_made(fresh_site, tmp_path, fast_options):
    from archiver.crawl import CrawlSettings, start_crawl

    script = ("<script>document.body.insertAdjacentHTML('beforeend',"
              " '<a href=\"/page/made-by-script\">more</a>')</script>")
    fresh_site.state.pages["/page/start"] = (
        "<html><head><title>Start</title></head><body><article><h1>Start</h1><p>"
        + "The harbour council met to discuss the winter timetable of the ferry. " * 8
        + f"</p></article>{script}</body></html>").encode()
    fresh_site.state.pages["/page/made-by-script"] = (
        "<html><head><title>Made</title></head><body><article><h1>Made by a script</h1><p>"
        + "Residents asked for the morning sailing to be kept through the winter. " * 8
        + "</p></article></body></html>").encode()
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, browser_options=FAST, workers=0)
    plain = start_crawl(archive, [fresh_site.url("/page/start")], CrawlSettings(scope="host", depth=1))
    assert plain.counts["done"] == 1  # the link is not in the HTML the server sent
    seen: list = []
    rendered = start_crawl(archive, [fresh_site.url("/page/start")], CrawlSettings(scope="host", depth=1,
                                                                                    browser=True), on_capture=seen.append)
    assert rendered.counts["done"] == 2 and rendered.captured == 2 and all(c.via == "browser" for c in seen)
    assert fresh_site.url("/page/made-by-script") in {c.url for c in seen}
