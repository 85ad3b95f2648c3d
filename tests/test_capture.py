"""Capture against the local server, read back with warcio."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest
from siteserver import BIG_SIZE, SiteServer, article, gzip_fixed
from warcutil import read_all, read_file, responses_for, warc_files, warcio_check

from archiver import Archive, FetchOptions, Verdict, WarcOptions


def capture(tmp_path, urls, options, **kw):
    return Archive(tmp_path / "arch", fetch_options=options, **kw).capture(urls)


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def check_all(tmp_path):
    files = warc_files(tmp_path / "arch")
    assert files, "no WARC file written"
    for f in files:
        warcio_check(f)
    return files


def test_gzip_body_is_stored_as_served(site, tmp_path, fast_options):
    url = site.url("/gzip.html")
    [c] = capture(tmp_path, [url], fast_options)
    assert c.verdict is Verdict.NEW and c.status_code == 200 and c.title == "Gzipped"
    check_all(tmp_path)
    [resp] = [r for r in responses_for(tmp_path / "arch", url)]
    served = gzip_fixed(article("Gzipped"))
    assert resp.type == "response"
    assert resp.raw == served  # content-encoding kept, byte for byte
    assert resp.content == article("Gzipped")
    assert resp.http("Content-Encoding") == "gzip"
    assert resp.http("Content-Length") == str(len(served))
    assert resp.h("WARC-Payload-Digest") == sha1_b32(served)
    assert resp.h("WARC-IP-Address") == "127.0.0.1"
    assert resp.h("WARC-Type") == "response"


def test_records_are_linked_and_file_opens_with_warcinfo(site, tmp_path, fast_options):
    url = site.url("/page.html")
    [c] = capture(tmp_path, [url], fast_options)
    [path] = warc_files(tmp_path / "arch")
    assert c.warc_file == f"warc/{path.name}"
    recs = read_file(path)
    assert recs[0].type == "warcinfo"
    assert b"archiver/" in recs[0].content and b"robots: obey" in recs[0].content
    assert recs[0].h("WARC-Filename") == path.name
    req = [r for r in recs if r.type == "request" and r.h("WARC-Target-URI") == url][0]
    resp = [r for r in recs if r.type == "response" and r.h("WARC-Target-URI") == url][0]
    assert req.h("WARC-Concurrent-To") == resp.h("WARC-Record-ID")
    assert req.h("WARC-Date") == resp.h("WARC-Date")
    assert resp.h("WARC-Date").count(".") == 1  # WARC/1.1 microseconds
    assert req.http_line == "GET /page.html HTTP/1.1"
    assert req.http("User-Agent") == FetchOptions().agent
    assert req.http("Host") == site.url("").split("//")[1]
    assert resp.http_line == "HTTP/1.1 200 OK"
    assert resp.content == article()
    # robots.txt was fetched on the way and kept too
    assert any(r.h("WARC-Target-URI") == site.url("/robots.txt") for r in recs if r.type == "response")


def test_sends_accept_encoding_and_user_agent(fresh_site, tmp_path, fast_options):
    opts = dataclasses.replace(fast_options, contact="mailto:ops@example.org")
    capture(tmp_path, [fresh_site.url("/page.html")], opts)
    [(_, _, headers)] = [e for e in fresh_site.state.log if e[1] == "/page.html"]
    assert headers["accept-encoding"] == "gzip, deflate"
    assert headers["user-agent"].startswith("archiver/") and "mailto:ops@example.org" in headers["user-agent"]


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/chunked.html", article("Chunked")),
        ("/chunked-gzip.html", article("Chunked and gzipped")),
        ("/chunk-lookalike.txt", b"1a\r\nnot a chunk, just text\r\n0\r\n\r\nmore"),
    ],
)
def test_chunked_bodies_are_stored_dechunked(site, tmp_path, fast_options, path, expected):
    url = site.url(path)
    capture(tmp_path, [url], fast_options)
    check_all(tmp_path)
    [resp] = responses_for(tmp_path / "arch", url)
    assert resp.content == expected
    assert resp.http("Transfer-Encoding") is None
    assert resp.http("X-Orig-Transfer-Encoding") == "chunked"
    if "gzip" in path:
        assert resp.raw == gzip_fixed(expected)


def test_http10_status_line_kept(site, tmp_path, fast_options):
    url = site.url("/http10.html")
    [c] = capture(tmp_path, [url], fast_options)
    assert c.verdict is Verdict.NEW
    [resp] = responses_for(tmp_path / "arch", url)
    assert resp.http_line == "HTTP/1.0 200 OK"
    assert resp.content == article("Old server")
    check_all(tmp_path)


def test_redirect_chain_records_every_hop(site, tmp_path, fast_options):
    start = site.url("/redirect/1")
    [c] = capture(tmp_path, [start], fast_options)
    assert c.final_url == site.url("/page.html") and c.status_code == 200
    recs = read_all(tmp_path / "arch")
    hops = [(r.h("WARC-Target-URI"), r.http_status) for r in recs if r.type == "response" and "robots" not in r.h("WARC-Target-URI")]
    assert hops == [(site.url("/redirect/1"), "302"), (site.url("/redirect/2"), "301"), (site.url("/page.html"), "200")]
    assert len([r for r in recs if r.type == "request"]) == len([r for r in recs if r.type == "response"])
    check_all(tmp_path)


def test_redirect_loop_and_bad_redirect_fail(site, tmp_path, fast_options):
    loop, ftp = site.url("/redirect/loop"), site.url("/redirect/ftp")
    by_url = {c.url: c for c in capture(tmp_path, [loop, ftp], dataclasses.replace(fast_options, max_redirects=3))}
    assert by_url[loop].verdict is Verdict.FAILED and "redirects" in by_url[loop].reason
    assert by_url[ftp].verdict is Verdict.FAILED and "ftp" in by_url[ftp].reason
    assert len(responses_for(tmp_path / "arch", loop)) == 4  # every hop kept as evidence


@pytest.mark.parametrize("where", ["javascript", "data", "ipv6"])
def test_a_redirect_httpx_cannot_parse_is_a_bad_redirect_with_its_302_kept(site, tmp_path, fast_options, where):
    """A Location of javascript: (or one httpx refuses to parse) failed the
    capture with httpx's message, and the 302 was not in the WARC."""
    url = site.url(f"/redirect/unparsable/{where}")
    [c] = capture(tmp_path, [url], fast_options)
    assert c.verdict is Verdict.FAILED and c.reason.startswith("bad redirect"), c.reason
    [resp] = responses_for(tmp_path / "arch", url)
    assert resp.http_status == "302" and resp.content == b"moved"
    check_all(tmp_path)


@pytest.mark.parametrize("path,code", [("/404", 404), ("/500", 500)])
def test_http_errors_are_archived(site, tmp_path, fast_options, path, code):
    url = site.url(path)
    [c] = capture(tmp_path, [url], fast_options)
    assert c.verdict is Verdict.HTTP_ERROR and c.status_code == code
    [resp] = responses_for(tmp_path / "arch", url)
    assert resp.http_status == str(code) and b"<html>" in resp.content
    check_all(tmp_path)


def test_slow_server_times_out_as_failed(site, tmp_path, fast_options):
    opts = dataclasses.replace(fast_options, read_timeout=0.5, retries=1)
    [c] = capture(tmp_path, [site.url("/slow")], opts)
    assert c.verdict is Verdict.FAILED and "timeout" in c.reason and c.status_code is None


def test_refused_connection_and_dns_failure_are_failed(tmp_path, fast_options, free_port):
    port = free_port
    refused, nodns = f"http://127.0.0.1:{port}/", "http://no-such-host.invalid/"
    by_url = {c.url: c for c in capture(tmp_path, [refused, nodns], dataclasses.replace(fast_options, retries=1))}
    assert by_url[refused].verdict is Verdict.FAILED and "connection" in by_url[refused].reason
    assert by_url[nodns].verdict is Verdict.FAILED and by_url[nodns].reason == "DNS lookup failed"


def test_30mb_body_streams_in_flat_memory(site, tmp_path, fast_options):
    url = site.url("/big.bin")
    tracemalloc.start()
    try:
        [c] = capture(tmp_path, [url], dataclasses.replace(fast_options, read_timeout=10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert c.verdict is Verdict.NOT_HTML
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {BIG_SIZE / 2**20:.0f} MiB body"
    [path] = warc_files(tmp_path / "arch")
    sha = hashlib.sha1()
    block = bytes(range(256)) * 256
    for _ in range(BIG_SIZE // len(block)):
        sha.update(block)
    out = warcio_check(path)
    assert "digest pass" in out
    recs = [r for r in read_file(path) if r.h("WARC-Target-URI") == url and r.type == "response"]
    assert recs[0].h("WARC-Payload-Digest") == "sha1:" + base64.b32encode(sha.digest()).decode()
    assert len(recs[0].content) == BIG_SIZE


def test_body_over_cap_is_truncated_and_marked(site, tmp_path, fast_options):
    url = site.url("/big.bin")
    [c] = capture(tmp_path, [url], dataclasses.replace(fast_options, max_body=1024 * 1024))
    assert c.reason == "body cut at the size cap"
    [resp] = responses_for(tmp_path / "arch", url)
    assert resp.h("WARC-Truncated") == "length"
    assert len(resp.raw) == 1024 * 1024
    check_all(tmp_path)


def test_robots_disallow_blocks_without_fetching(fresh_site, tmp_path, fast_options):
    secret = fresh_site.url("/private/secret.html")
    via_redirect = fresh_site.url("/redirect/private")
    by_url = {c.url: c for c in capture(tmp_path, [secret, via_redirect], fast_options)}
    assert by_url[secret].verdict is Verdict.BLOCKED and "robots.txt" in by_url[secret].reason
    assert by_url[via_redirect].verdict is Verdict.BLOCKED
    assert fresh_site.state.hits["/private/secret.html"] == 0
    assert fresh_site.state.hits["/robots.txt"] == 1  # cached per host
    # --ignore-robots fetches it
    [c] = capture(tmp_path, [secret], dataclasses.replace(fast_options, obey_robots=False))
    assert c.verdict is Verdict.NEW and fresh_site.state.hits["/private/secret.html"] == 1


def test_robots_5xx_means_disallow_all(fresh_site, tmp_path, fast_options):
    # RFC 9309: a robots.txt that errors server-side means "crawl nothing".
    fresh_site.state.pages["/robots.txt"] = b""
    original = fresh_site.RequestHandlerClass.route

    def route(handler, path, hits):
        if path == "/robots.txt":
            handler.raw("500 Internal Server Error", [("Content-Type", "text/plain")], b"oops")
        else:
            original(handler, path, hits)

    fresh_site.RequestHandlerClass = type("H", (fresh_site.RequestHandlerClass,), {"route": route})
    [c] = capture(tmp_path, [fresh_site.url("/page.html")], dataclasses.replace(fast_options, retries=0))
    assert c.verdict is Verdict.BLOCKED and "HTTP 500" in c.reason
    assert fresh_site.state.hits["/page.html"] == 0


def test_non_html_is_archived(site, tmp_path, fast_options):
    url = site.url("/file.pdf")
    [c] = capture(tmp_path, [url], fast_options)
    assert c.verdict is Verdict.NOT_HTML and c.content_type == "application/pdf"
    [resp] = responses_for(tmp_path / "arch", url)
    assert resp.content.startswith(b"%PDF-1.4")


def test_unchanged_recapture_is_a_revisit(site, tmp_path, fast_options):
    url = site.url("/gzip.html")
    [first] = capture(tmp_path, [url], fast_options)
    [second] = capture(tmp_path, [url], fast_options)
    assert first.verdict is Verdict.NEW and second.verdict is Verdict.UNCHANGED
    files = check_all(tmp_path)
    assert len(files) == 2
    orig, rev = responses_for(tmp_path / "arch", url)
    assert orig.type == "response" and rev.type == "revisit"
    assert rev.h("WARC-Refers-To") == orig.h("WARC-Record-ID")
    assert rev.h("WARC-Refers-To-Target-URI") == url
    assert rev.h("WARC-Refers-To-Date") == orig.h("WARC-Date")
    assert rev.h("WARC-Payload-Digest") == orig.h("WARC-Payload-Digest")
    assert rev.h("WARC-Profile").endswith("/identical-payload-digest")
    assert rev.h("WARC-Truncated") == "length"
    assert rev.raw == b""  # headers only: the payload is not stored twice
    assert rev.http("Content-Encoding") == "gzip"


def test_changed_page_is_stored_again(fresh_site, tmp_path, fast_options):
    url = fresh_site.url("/page/a")
    fresh_site.state.pages["/page/a"] = article("One")
    capture(tmp_path, [url], fast_options)
    fresh_site.state.pages["/page/a"] = article("Two")
    [c] = capture(tmp_path, [url], fast_options)
    assert c.verdict is Verdict.CHANGED and c.title == "Two"
    recs = responses_for(tmp_path / "arch", url)
    assert [r.type for r in recs] == ["response", "response"]
    # Set-Cookie twice, in order, exactly as sent
    assert [v for k, v in recs[1].http_headers if k == "Set-Cookie"] == ["a=1; Path=/", "hit=2; Path=/"]


def test_retries_503_then_succeeds(fresh_site, tmp_path, fast_options):
    [c] = capture(tmp_path, [fresh_site.url("/503-then-ok")], fast_options)
    assert c.verdict is Verdict.NEW and c.title == "Came back"
    assert fresh_site.state.hits["/503-then-ok"] == 2


def test_429_waits_as_asked_then_slows_the_host(fresh_site, tmp_path, fast_options):
    urls = [fresh_site.url("/429-then-ok"), fresh_site.url("/page.html")]
    by_url = {c.url: c for c in capture(tmp_path, urls, dataclasses.replace(fast_options, per_host=1))}
    assert by_url[urls[0]].verdict is Verdict.NEW and by_url[urls[0]].title == "Patience"
    times = {path: t for t, path, _ in fresh_site.state.log}
    first_429 = [t for t, path, _ in fresh_site.state.log if path == "/429-then-ok"]
    assert len(first_429) == 2 and first_429[1] - first_429[0] >= 0.95  # Retry-After: 1
    assert times["/page.html"]  # the other page still came


def test_long_retry_after_is_not_waited_for(fresh_site, tmp_path, fast_options):
    t0 = time.monotonic()
    [c] = capture(tmp_path, [fresh_site.url("/always-503")], fast_options)
    assert c.verdict is Verdict.HTTP_ERROR and c.status_code == 503
    assert fresh_site.state.hits["/always-503"] == 1
    assert time.monotonic() - t0 < 60


def test_at_most_two_connections_per_host(fresh_site, tmp_path, fast_options):
    urls = [fresh_site.url(f"/slowish?n={i}") for i in range(6)]
    capture(tmp_path, urls, dataclasses.replace(fast_options, per_host=2))
    assert fresh_site.state.max_in_flight == 2


def test_hosts_are_fetched_concurrently(tmp_path, fast_options):
    a, b = SiteServer("127.0.0.1").start(), SiteServer("127.0.0.2").start()
    spans: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}
    try:
        urls = [s.url(f"/slowish?n={i}") for s in (a, b) for i in range(3)]
        results = capture(tmp_path, urls, dataclasses.replace(fast_options, per_host=1))
        for name, srv in (("a", a), ("b", b)):
            spans[name] = [t for t, p, _ in srv.state.log if p == "/slowish"]
    finally:
        a.stop()
        b.stop()
    assert all(c.verdict is Verdict.NEW for c in results)
    # one connection per host, yet both hosts were served during the same window
    assert a.state.max_in_flight == 1 and b.state.max_in_flight == 1
    assert min(spans["b"]) < max(spans["a"]) and min(spans["a"]) < max(spans["b"])


def test_warc_files_roll_over_and_sort_by_time(site, tmp_path, fast_options):
    urls = [site.url(p) for p in ("/page.html", "/gzip.html", "/chunked.html", "/http10.html")]
    # A file rolls over between the groups of captures recorded together,
    # never inside a capture: each capture's records share a file. Calls
    # one page at a time into one open file: how one call's pages fall into
    # groups depends on timing (a group shares a file, whatever its size).
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, warc_options=WarcOptions(max_size=1024))
    with archive.writing():
        for url in urls:
            archive.capture([url])
    files = check_all(tmp_path)
    assert len(files) >= 2
    metas = 0
    for f in files:
        recs = read_file(f)
        responses = {r.h("WARC-Record-ID") for r in recs if r.type == "response"}
        for meta in (r for r in recs if r.type == "metadata"):
            metas += 1
            assert meta.h("WARC-Concurrent-To") in responses
    assert metas == 4
    assert [f.name for f in files] == sorted(f.name for f in files)
    for f in files:
        assert read_file(f)[0].type == "warcinfo"
    assert not list((tmp_path / "arch" / "warc").glob("*.open"))


def test_concurrent_captures_into_one_archive(site, tmp_path, fast_options):
    urls = [site.url(f"/page.html?t={i}") for i in range(3)]
    errors: list[BaseException] = []

    def run(u):
        try:
            capture(tmp_path, [u], fast_options)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    check_all(tmp_path)
    assert {r.h("WARC-Target-URI") for r in read_all(tmp_path / "arch") if r.type == "response"} >= set(urls)


def test_robots_txt_is_cached_for_a_day_across_runs(fresh_site, tmp_path, fast_options, clock):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    archive.capture([fresh_site.url("/page.html")])
    clock.advance(hours=1)
    [blocked] = archive.capture([fresh_site.url("/private/x.html")])
    assert blocked.verdict is Verdict.BLOCKED  # the cached rules still apply
    assert fresh_site.state.hits["/robots.txt"] == 1
    clock.advance(hours=24)
    archive.capture([fresh_site.url("/page.html")])
    assert fresh_site.state.hits["/robots.txt"] == 2


def slow_page(site: SiteServer, tmp_path, xs: int) -> str:
    """/page/slow on `site`, and a rules folder (returned) whose rule's regex
    backtracks on it: seconds to clean at 25 x's, hours at 40."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "slow.toml").write_text("[match]\npaths = ['^/page/slow']\n[error]\ntext = ['(x+x+)+y']\n")
    site.state.pages["/page/slow"] = article("Slow to clean", "x" * xs + " and words. " * 30)
    return str(rules)


def test_a_page_slow_to_clean_does_not_hold_up_other_fetches(fresh_site, tmp_path):
    """Cleaning runs off the event loop: while one page takes seconds to
    clean (here a site rule with a regex that backtracks), the other URLs are
    fetched, cleaned and recorded, and nothing times out."""
    from archiver import CleanOptions

    rules = slow_page(fresh_site, tmp_path, 25)
    others = [fresh_site.url(f"/slowish?n={i}") for i in range(4)]
    archive = Archive(tmp_path / "arch", fetch_options=FetchOptions(host_delay=0, read_timeout=1.0, retries=0),
                      clean_options=CleanOptions(rules_dir=rules), workers=2)
    order: list[str] = []
    start = time.monotonic()
    done_at: dict[str, float] = {}

    def seen(c):
        order.append(c.url)
        done_at[c.url] = time.monotonic() - start

    captures = archive.capture([fresh_site.url("/page/slow"), *others], on_capture=seen)
    assert all(c.verdict is Verdict.NEW for c in captures), [(c.url, c.verdict, c.reason) for c in captures]
    slow = fresh_site.url("/page/slow")
    assert order[-1] == slow  # every other URL was recorded while it was being cleaned
    assert max(done_at[u] for u in others) < done_at[slow] - 0.5


def test_a_page_that_would_take_hours_to_clean_fails_in_time(fresh_site, tmp_path):
    """A rule whose regex backtracks for hours on one page: at the time
    limit its cleaning is stopped (in its worker, which goes on; or, stuck
    where no signal is looked at, by stopping the worker), the page is
    recorded `failed` with its WARC records, and the capture ends."""
    from archiver import CleanOptions

    rules = slow_page(fresh_site, tmp_path, 40)
    others = [fresh_site.url(f"/page.html?n={i}") for i in range(4)]
    archive = Archive(tmp_path / "arch", fetch_options=FetchOptions(host_delay=0, retries=0),
                      clean_options=CleanOptions(rules_dir=rules, time_limit=2), workers=2)
    started = time.monotonic()
    captures = archive.capture([fresh_site.url("/page/slow"), *others])
    assert time.monotonic() - started < 30
    slow, *rest = captures
    assert slow.verdict is Verdict.FAILED and "longer than 2 s" in (slow.reason or ""), slow
    assert all(c.verdict is Verdict.NEW for c in rest), [(c.url, c.verdict, c.reason) for c in rest]
    check_all(tmp_path)  # the slow page's records are there, whole
    assert any(r.type == "response" and r.h("WARC-Target-URI") == slow.url
               for f in warc_files(tmp_path / "arch") for r in read_file(f))


@pytest.mark.parametrize("fetching", [True, False], ids=["while-fetching", "after-fetching"])
def test_pages_cleaned_just_after_ctrl_c_do_not_hang_the_recorder(fresh_site, tmp_path, fetching):
    """Ctrl-C while the recorder is busy (while pages are still being
    fetched, or once all are and only cleaning is left), then answers from
    the cleaners arriving right behind it (as Dask's come, in bursts): the
    run stops, keeps what it recorded, and does not wait for ever. Run
    apart, so a hang fails the test instead of stalling it."""
    slow = [fresh_site.url("/slow")] if fetching else []
    for i in range(6):
        fresh_site.state.pages[f"/page/c{i}"] = article(f"Page {i}", f"Words of page {i}. " * 40)
    script = tmp_path / "interrupted.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, threading, time
        from concurrent.futures import Future, ThreadPoolExecutor
        from archiver import Archive, FetchOptions

        class HeldAnswers(ThreadPoolExecutor):
            # Cleans for real; answers after the first are held until released at once.
            def __init__(self):
                super().__init__(max_workers=2)
                self.lock, self.first, self.held = threading.Lock(), True, []

            def submit(self, fn, /, *args, **kwargs):
                out = Future()
                def settle(inner):
                    with self.lock:
                        if not self.first:
                            self.held.append((out, inner))
                            return
                        self.first = False
                    out.set_result(inner.result())
                super().submit(fn, *args, **kwargs).add_done_callback(settle)
                return out

            def release(self):
                with self.lock:
                    held, self.held = self.held, []
                for out, inner in held:
                    out.set_result(inner.result())

        pool = HeldAnswers()
        urls = {[fresh_site.url(f"/page/c{i}") for i in range(6)] + slow!r}
        recorded = []

        def on_capture(capture):
            recorded.append(capture.url)
            if len(recorded) > 1:
                return
            deadline = time.monotonic() + 10
            while len(pool.held) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while this (the recorder) is busy
            time.sleep(0.5)  # the run stops fetching and tells the recorder to stop
            pool.release()  # and the cleaners' answers arrive right behind that
            time.sleep(0.2)

        archive = Archive({str(tmp_path / "arch")!r}, fetch_options=FetchOptions(host_delay=0, retries=0))
        try:
            archive.capture(urls, executor=pool, on_capture=on_capture)
        except KeyboardInterrupt:
            # Not while its recorder still writes to the files it has closed.
            # (Thread.is_alive can't say: the interrupted join marked it ended.)
            time.sleep(0.1)
            assert not [t for t in threading.enumerate() if t.name == "archiver-recorder"]
            print("interrupted after", len(recorded))
            print(recorded[0])
        pool.shutdown()
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    said, kept = out.stdout.splitlines()
    assert said == "interrupted after 1"
    [capture] = Archive(tmp_path / "arch").history(kept)  # what was recorded is kept, and readable
    assert capture.verdict is Verdict.NEW
    check_all(tmp_path)


def test_captures_cleaned_apart_share_commits(fresh_site, tmp_path, monkeypatch):
    """Pages come back from the worker processes one at a time; the recorder
    waits a moment for the next ones, so a run commits (and fsyncs) in
    groups, not once a page, and every capture is still recorded. The
    moment is made long here: with the usual 50 ms, a loaded machine made
    9 groups of 16 pages (the test must not depend on the machine's speed);
    a ready page still waits only while others are being cleaned."""
    from archiver.capture import run as pipeline
    from archiver.capture.recorder import Recorder

    monkeypatch.setattr(pipeline, "GROUP_LINGER", 120.0)
    groups: list[int] = []
    record = Recorder.record

    def counting(self, entries):
        groups.append(len(entries))
        return record(self, entries)

    monkeypatch.setattr(Recorder, "record", counting)
    for i in range(16):  # long enough that cleaning, not fetching, sets the pace
        fresh_site.state.pages[f"/page/long{i}"] = article(f"Long page {i}", f"Sentence {i} of a long article. " * 3000)
    urls = [fresh_site.url(f"/page/long{i}") for i in range(16)]
    archive = Archive(tmp_path / "arch", fetch_options=FetchOptions(host_delay=0, retries=0), workers=2)
    captures = archive.capture(urls)
    assert [c.url for c in captures] == urls and all(c.verdict is Verdict.NEW for c in captures)
    assert sum(groups) == 16
    assert len(groups) <= 8, groups


def test_a_kept_pool_that_lost_its_zygote_is_replaced_between_captures(fresh_site, tmp_path):
    """Inside `writing()` (a `run --loop`) one pool serves every capture. A
    worker lost is replaced by the pool itself; a pool that cannot replace
    them (its zygote killed, and its workers with it) must not leave every
    later capture without cleaning: the next capture starts a whole pool."""
    import os
    import signal

    import psutil

    for i in range(6):
        fresh_site.state.pages[f"/page/k{i}"] = article(f"Kept pool page {i}", f"Sentence {i} of an article. " * 80)
    urls = [fresh_site.url(f"/page/k{i}") for i in range(6)]
    archive = Archive(tmp_path / "arch", fetch_options=FetchOptions(host_delay=0, retries=0), workers=2)
    with archive.writing():
        assert all(c.verdict is Verdict.NEW for c in archive.capture(urls[:3]))
        pool = archive._pool_executor
        workers = [p for p in psutil.Process().children(recursive=True) if p.ppid() != os.getpid()]
        assert len(workers) == 2 and pool.whole
        os.kill(workers[0].ppid(), signal.SIGKILL)  # the zygote
        deadline = time.monotonic() + 20
        while pool.whole and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pool.whole
        later = archive.capture(urls[3:])
        assert all(c.verdict is Verdict.NEW for c in later), [(c.verdict, c.reason) for c in later]
        assert archive._pool_executor is not pool and archive._pool_executor.whole


def test_a_worker_killed_mid_capture_fails_only_its_page(fresh_site, tmp_path):
    """One cleaning worker, killed (out of memory, say) while it cleans a
    page that takes seconds, the other pages queued behind it: that page
    fails with the reason, and a worker forked in its place cleans the
    rest. Before, every later page of the capture was `failed`."""
    import os
    import signal

    import psutil

    from archiver import CleanOptions

    rules = slow_page(fresh_site, tmp_path, 40)
    others = [fresh_site.url(f"/page.html?n={i}") for i in range(6)]
    archive = Archive(tmp_path / "arch", fetch_options=FetchOptions(host_delay=0, retries=0),
                      clean_options=CleanOptions(rules_dir=rules), workers=1)
    killed: list[int] = []

    def kill_the_worker_when_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for p in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if p.ppid() != os.getpid() and p.cpu_times().user > 1.0:  # deep in the slow page
                        os.kill(p.pid, signal.SIGKILL)
                        killed.append(p.pid)
                        return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_worker_when_busy)
    killer.start()
    slow, *rest = archive.capture([fresh_site.url("/page/slow"), *others])
    killer.join()
    assert killed
    assert slow.verdict is Verdict.FAILED and "worker process ended" in (slow.reason or ""), slow
    assert all(c.verdict is Verdict.NEW for c in rest), [(c.url, c.verdict, c.reason) for c in rest]
    check_all(tmp_path)
