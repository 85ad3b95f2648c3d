"""A small site to crawl, on 127.0.0.1: a section of articles, an about
page, a calendar and a listing that never end, links with session ids, a
robots.txt that keeps /private/ out, and links to another host."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLES = 8


def _page(title: str, links: list[str], body: str = "") -> bytes:
    text = body or (f"{title}. The harbour council met on Tuesday to discuss the ferry timetable for the winter, "
                    "and residents asked for the morning sailing to be kept. ") * 6
    anchors = " ".join(f'<a href="{h}">{h}</a>' for h in links)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<nav>{anchors}</nav><article><h1>{title}</h1><p>{text}</p></article></body></html>").encode()


class CrawlSite(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, other: str = "http://127.0.0.1:9/") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.other = other  # another host's address, linked to but out of a host scope
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.slow = 0.0  # seconds each article takes (a crawl to kill mid-way)
        self.extra: dict[str, list[str]] = {}  # path -> more links it shows (a section that grows)
        self.files: dict[str, tuple[str, bytes]] = {}  # path -> (content type, body): sitemaps, feeds

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-page (a crawl killed on purpose)

    def start(self) -> CrawlSite:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: CrawlSite

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: C901 - a routing table
        site, path = self.server, self.path
        with site.lock:
            site.hits[path] = site.hits.get(path, 0) + 1
        if path in site.files:
            ctype, body = site.files[path]
            return self._send(body, ctype)
        if path == "/robots.txt":
            return self._send(b"User-agent: *\nDisallow: /private/\n", "text/plain")
        if path in ("/", "/index.html"):
            links = [f"/news/a{i}" for i in range(1, ARTICLES + 1)] + [
                "/about", "/cal/2026/12/06/", "/list?page=1", "/news/a1;jsessionid=ABC123",
                "/news/a2?PHPSESSID=f00d", "/private/secret", site.other, "mailto:desk@example.org",
                "/news/a3#comments"] + site.extra.get("/", [])
            return self._send(_page("Front page", links))
        m = re.fullmatch(r"/news/a(\d+)", path)
        if m:
            n = int(m.group(1))
            if site.slow:
                time.sleep(site.slow)
            return self._send(_page(f"Article {n}", ["/", f"/news/a{n % ARTICLES + 1}"]))
        if path == "/about":
            return self._send(_page("About us", ["/", "/about/team"]))
        if path == "/about/team":
            return self._send(_page("The team", ["/about"]))
        m = re.fullmatch(r"/cal/(\d+)/(\d+)/(\d+)/", path)
        if m:  # every day links to the next, for ever
            y, mo, d = map(int, m.groups())
            d += 1
            if d > 28:
                d, mo = 1, mo + 1
            if mo > 12:
                mo, y = 1, y + 1
            return self._send(_page(f"Events {y}-{mo}-{d}", [f"/cal/{y}/{mo:02d}/{d:02d}/"],
                                    body=f"No events on this day of {y}. " * 10))
        m = re.fullmatch(r"/list\?page=(\d+)", path)
        if m:  # a listing whose next page always exists
            n = int(m.group(1))
            return self._send(_page(f"Listing page {n}", [f"/list?page={n + 1}", "/news/a1"],
                                    body=f"Page {n} of the listing. " * 10))
        if path.startswith("/private/"):
            return self._send(_page("Private", []))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
