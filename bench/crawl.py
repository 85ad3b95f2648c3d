"""Crawling a local site: `archiver crawl` (fetch, WARC, clean, catalog)
against `wget --recursive --level N --warc-file` with the same seeds, scope
and depth, in the same run; then the crawl killed (SIGKILL) three times and
resumed.

The site: HOSTS hosts (ports of 127.0.0.1, another origin each) of ARTICLES
article pages each, section listings that page through them, links between
articles across hosts, a sitemap of every article (named by robots.txt) and
a feed of the newest (named by the front page; archiver crawl reads both
with --sitemap, wget neither), a calendar whose every day links to the next
and a listing whose next page always exists (both endless), and links to a
host outside the scope. Each request waits --latency seconds (a site that far
away). The server runs in a process of its own and counts every request.

    python bench/crawl.py
    python bench/crawl.py --articles 300 --hosts 2      # a quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WORDS = ("archive capture page web record digest history change article text source evidence policy human rights"
         " report county budget council meeting minutes library research harbour ferry bridge school").split()
PER_LISTING = 25


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def article_html(host: int, i: int, ports: list[int], articles: int) -> bytes:
    rnd = random.Random(host * 1_000_003 + i)
    paras = "".join("<p>" + " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(40, 110))) + ".</p>"
                    for _ in range(rnd.randint(4, 9)))
    related = []
    for _ in range(3):
        h = rnd.randrange(len(ports))
        related.append(f"<li><a href='http://127.0.0.1:{ports[h]}/a/{rnd.randrange(articles)}.html'>Related story</a></li>")
    section = i // PER_LISTING // 10
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story {host}-{i} | Site {host}"
            f"</title></head><body><nav><a href='/'>Home</a> <a href='/s/{section}/1/'>Section</a>"
            f" <a href='/about/'>About</a></nav><article><h1>Story {host}-{i}</h1>{paras}</article>"
            f"<aside><h2>Related</h2><ul>{''.join(related)}</ul></aside>"
            f"<footer>Share · Subscribe · © Site {host}</footer></body></html>").encode()


def listing_html(title: str, links: list[str], nxt: str | None, feed: str | None = None) -> bytes:
    items = "".join(f"<li><a href='{u}'>{u}</a></li>" for u in links)
    more = f"<a rel='next' href='{nxt}'>Next page</a>" if nxt else ""
    alternate = f"<link rel='alternate' type='application/rss+xml' href='{feed}'>" if feed else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{alternate}</head><body>"
            f"<nav><a href='/'>Home</a></nav><h1>{title}</h1><ul>{items}</ul>{more}</body></html>").encode()


def serve(ports: list[int], outside: int, articles: int, latency: float, hits_file: str, ready: object) -> None:
    hits: dict[str, int] = {}
    lock = threading.Lock()
    sections = max(1, -(-articles // (PER_LISTING * 10)))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, a
        # keep-alive client's delayed ACK holds the second one back ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: C901 - a routing table
            host = self.server.server_address[1]  # type: ignore[attr-defined]
            if self.path == "/__hits":
                with lock:
                    body = json.dumps(hits).encode()
                return self.send(body, "application/json")
            with lock:
                key = f"{host}{self.path}"
                hits[key] = hits.get(key, 0) + 1
            if latency:
                time.sleep(latency)
            h = ports.index(host) if host in ports else -1
            path = self.path
            if path == "/robots.txt":
                return self.send(f"User-agent: *\nDisallow: /private/\nSitemap: http://127.0.0.1:{host}/sitemap.xml\n"
                                 .encode(), "text/plain")
            if path == "/sitemap.xml" and h >= 0:
                entries = "".join(f"<url><loc>http://127.0.0.1:{host}/a/{i}.html</loc><lastmod>2026-11-{1 + i % 28:02d}"
                                  "</lastmod></url>" for i in range(articles))
                return self.send(f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                 f"{entries}</urlset>".encode(), "application/xml")
            if path == "/feed.xml" and h >= 0:
                items = "".join(f"<item><title>Story {i}</title><link>http://127.0.0.1:{host}/a/{i}.html</link></item>"
                                for i in range(max(0, articles - 20), articles))
                return self.send(f"<?xml version='1.0'?><rss version='2.0'><channel><title>Site {h}</title>{items}"
                                 "</channel></rss>".encode(), "application/rss+xml")
            if h < 0:
                return self.send(listing_html("Outside", [], None))
            if path == "/":
                links = [f"/s/{k}/1/" for k in range(sections)] + ["/cal/2026/12/06/", "/list/1/", "/about/",
                         "/private/staff/", f"http://127.0.0.1:{outside}/"]
                links += [f"http://127.0.0.1:{p}/" for p in ports if p != host]
                return self.send(listing_html(f"Site {h}", links, None, feed="/feed.xml"))
            m = re.fullmatch(r"/s/(\d+)/(\d+)/", path)
            if m:
                k, n = int(m.group(1)), int(m.group(2))
                first = (k * 10 + n - 1) * PER_LISTING
                ids = [i for i in range(first, first + PER_LISTING) if i < articles]
                last = n >= 10 or first + PER_LISTING >= articles
                return self.send(listing_html(f"Section {k} page {n}", [f"/a/{i}.html" for i in ids],
                                              None if last else f"/s/{k}/{n + 1}/"))
            m = re.fullmatch(r"/a/(\d+)\.html", path)
            if m and int(m.group(1)) < articles:
                return self.send(article_html(h, int(m.group(1)), ports, articles))
            m = re.fullmatch(r"/cal/(\d+)/(\d+)/(\d+)/", path)
            if m:  # the next day, for ever
                y, mo, d = map(int, m.groups())
                d = d % 28 + 1
                mo, y = (mo % 12 + 1, y + (mo == 12)) if d == 1 else (mo, y)
                return self.send(listing_html(f"Events {m.group(0)}", [f"/cal/{y}/{mo:02d}/{d:02d}/"], None))
            m = re.fullmatch(r"/list/(\d+)/", path)
            if m:  # the next page, for ever
                return self.send(listing_html(f"Listing {m.group(1)}", [], f"/list/{int(m.group(1)) + 1}/"))
            if path == "/about/":
                return self.send(listing_html("About", ["/"], None))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def send(self, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a crawler killed on purpose mid-page

    for port in [*ports, outside]:
        server = Server(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()  # type: ignore[attr-defined]
    while True:
        time.sleep(3600)


class Site:
    def __init__(self, hosts: int, articles: int, latency: float) -> None:
        *self.ports, self.outside = free_ports(hosts + 1)
        self.articles = articles
        ready = multiprocessing.Event()
        self.proc = multiprocessing.Process(target=serve, args=(self.ports, self.outside, articles, latency, "",
                                                                ready), daemon=True)
        self.proc.start()
        if not ready.wait(60):
            raise SystemExit("the site did not start")

    def url(self, h: int, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[h]}{path}"

    def hits(self) -> dict[str, int]:
        import httpx

        return httpx.get(self.url(0, "/__hits"), trust_env=False).json()

    def in_scope_pages(self) -> int:
        """Articles, listings, fronts and about pages (the traps not counted)."""
        sections = max(1, -(-self.articles // (PER_LISTING * 10)))
        listings = sum(1 for k in range(sections) for n in range(1, 11)
                       if (k * 10 + n - 1) * PER_LISTING < self.articles)
        return len(self.ports) * (self.articles + listings + 2)

    def stop(self) -> None:
        self.proc.terminate()


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(seconds, peak RSS in MB of the process and its waited-for children, exit code)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if proc.stderr:
        err = proc.stderr.read().decode(errors="replace").strip()
        if err:
            print("   ", err.splitlines()[-1][:200])
    return wall, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def counted(hits: dict[str, int], before: dict[str, int], ports: list[int]) -> tuple[int, int, int]:
    """(pages of the site's hosts fetched, fetched more than once, trap pages fetched) since `before`;
    robots.txt, sitemaps and feeds not counted (wget reads none of the latter two)."""
    new = {k: v - before.get(k, 0) for k, v in hits.items() if v - before.get(k, 0) > 0}
    pages = {k: v for k, v in new.items() if not k.endswith(("/robots.txt", "/sitemap.xml", "/feed.xml"))
             and int(k.split("/", 1)[0]) in ports}
    traps = sum(1 for k in pages if "/cal/" in k or "/list/" in k)
    return len(pages), sum(1 for v in pages.values() if v > 1), traps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--articles", type=int, default=1250, help="articles per host")
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--latency", type=float, default=0.02, help="seconds each request waits")
    ap.add_argument("--skip-kills", action="store_true")
    ap.add_argument("--archiver-only", action="store_true", help="leave wget out (a big site: wget takes long)")
    ap.add_argument("--keep", type=Path, help="keep the archive here (to time the interface's crawl page after)")
    args = ap.parse_args()
    site = Site(args.hosts, args.articles, args.latency)
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    exe = str(Path(sys.executable).parent / "archiver")
    scope = r"^http://127\.0\.0\.1:(" + "|".join(map(str, site.ports)) + r")/"
    try:
        print(f"a site of {args.hosts} hosts x {args.articles} articles ({site.in_scope_pages():,} pages in scope"
              f" without the traps), {args.latency * 1000:.0f} ms a request, depth {args.depth}")
        print(f"{'tool':<34}{'pages':>7}{'twice':>7}{'traps':>7}{'outside':>8}{'s':>8}{'pages/s':>9}{'peak MB':>9}")
        rows = {}
        wget = shutil.which("wget")
        for name in ("wget --recursive", "archiver crawl"):
            if name.startswith("wget") and args.archiver_only:
                continue
            if name.startswith("wget") and not wget:
                print(f"{name:<34} not installed")
                continue
            before = site.hits()
            out = work / name.split()[0]
            out.mkdir()
            if name.startswith("wget"):
                cmd = [wget, "-q", "--recursive", "--level", str(args.depth), "--warc-file", str(out / "crawl"),
                       "--no-warc-keep-log", "--delete-after", "-P", str(out / "files"), site.url(0)]
            else:
                cmd = [exe, "--archive", str(out / "arch"), "crawl", site.url(0), "--scope", scope, "--depth",
                       str(args.depth), "--delay", "0", "--sitemap"]
            wall, peak, code = measured(cmd)
            after = site.hits()
            pages, twice, traps = counted(after, before, site.ports)
            outside = sum(1 for k, v in after.items() if k.startswith(f"{site.outside}/")
                          and not k.endswith("robots.txt") and v > before.get(k, 0))
            rows[name] = (pages, wall)
            print(f"{name:<34}{pages:>7}{twice:>7}{traps:>7}{outside:>8}{wall:>8.1f}{pages / wall:>9.1f}{peak:>9}"
                  + (f"   (exit {code})" if code not in (0, 8) else ""))
        if len(rows) == 2:
            (wp, ww), (ap_, aw) = rows["wget --recursive"], rows["archiver crawl"]
            print(f"archiver crawl: {(ap_ / aw) / (wp / ww):.2f}x wget's pages/s (cleaning included)")
        if not args.skip_kills:
            kills(exe, work, site, scope, args.depth)
        if args.keep:
            shutil.copytree(work / "archiver" / "arch", args.keep)
    finally:
        site.stop()
        shutil.rmtree(work, ignore_errors=True)


def kills(exe: str, work: Path, site: Site, scope: str, depth: int) -> None:
    """Kill a crawl three times as it goes (at a quarter, a half and three
    quarters of the pages an uninterrupted one captured) and resume it."""
    whole = work / "archiver" / "arch" / "catalog.sqlite"
    with sqlite3.connect(whole) as db:
        expected = {r[0] for r in db.execute("SELECT url FROM crawl_urls WHERE state = 'done'")}
    arch = work / "killed"
    cmd = [exe, "--archive", str(arch), "crawl", site.url(0), "--scope", scope, "--depth", str(depth), "--delay", "0",
           "--sitemap"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    crawl_id = None
    for k, share in enumerate((0.25, 0.5, 0.75), 1):
        while True:
            try:
                with sqlite3.connect(arch / "catalog.sqlite", timeout=10) as db:
                    crawl_id = db.execute("SELECT id FROM crawls").fetchone()[0]
                    done = db.execute("SELECT count(*) FROM crawl_urls WHERE state = 'done'").fetchone()[0]
            except (sqlite3.OperationalError, TypeError):
                done = 0
            if done >= share * len(expected) or proc.poll() is not None:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"kill {k}: SIGKILL at {done:,} pages done")
        proc = subprocess.Popen([exe, "--archive", str(arch), "crawl", "--resume", crawl_id],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = proc.wait()
    with sqlite3.connect(arch / "catalog.sqlite") as db:
        got = {r[0] for r in db.execute("SELECT url FROM crawl_urls WHERE state = 'done'")}
        twice = db.execute("SELECT count(*) FROM (SELECT url FROM captures GROUP BY url HAVING count(*) > 1)"
                           ).fetchone()[0]
    verify = subprocess.run([exe, "--archive", str(arch), "verify"], capture_output=True, text=True)
    print(f"after three kills and resumes (exit {code}): {len(got):,} pages done, the same set as without kills:"
          f" {got == expected} ({len(got - expected)} more, {len(expected - got)} fewer); captured twice: {twice};"
          f" verify: {verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()}")


if __name__ == "__main__":
    main()
