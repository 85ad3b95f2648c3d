"""A local HTTP server for the tests: every awkward thing a real site does.

Responses are written as raw bytes so a test controls exactly what crosses
the wire (chunking, HTTP/1.0, gzip with a fixed mtime, slow starts).
"""

from __future__ import annotations

import base64
import gzip
import io
import socketserver
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

ARTICLE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><nav><a href="/">Home</a></nav>
<article><h1>{title}</h1><p>{body}</p></article>
</body></html>
"""


def article(title: str = "A test article", body: str = "Some words of the article.") -> bytes:
    return ARTICLE.format(title=title, body=body).encode("utf-8")


def gzip_fixed(data: bytes) -> bytes:
    """gzip with mtime 0, so the same page always has the same digest."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


BIG_SIZE = 30 * 1024 * 1024
BOMB_PLAIN = 200 * 1024 * 1024


def _bomb() -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as f:
        block = b"\0" * (1024 * 1024)
        for _ in range(BOMB_PLAIN // len(block)):
            f.write(block)
    return buf.getvalue()


class SiteState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages: dict[str, bytes] = {}  # path -> HTML body for /page/<name>
        self.hits: dict[str, int] = defaultdict(int)
        self.redirects: dict[str, str] = {}  # /goto/NAME -> Location
        self.log: list[tuple[float, str, dict[str, str]]] = []  # (time, path, headers)
        self.posts: list[tuple[str, bytes]] = []  # (path, body) of every POST
        self.in_flight = 0
        self.gate = threading.Event()  # /held answers once it is set
        self.max_in_flight = 0
        self._bomb: bytes | None = None

    @property
    def bomb(self) -> bytes:
        if self._bomb is None:
            self._bomb = _bomb()
        return self._bomb


class Handler(BaseHTTPRequestHandler):
    server: SiteServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    # -- raw writers ---------------------------------------------------------

    def raw(self, status: str, headers: list[tuple[str, str]], body: bytes = b"", *, chunked: bool = False,
            version: str = "HTTP/1.1", chunk_size: int = 7) -> None:
        out = [f"{version} {status}\r\n".encode()]
        hdrs = list(headers)
        if chunked:
            hdrs.append(("Transfer-Encoding", "chunked"))
        elif version == "HTTP/1.1":
            hdrs.append(("Content-Length", str(len(body))))
        for k, v in hdrs:
            out.append(f"{k}: {v}\r\n".encode("latin-1"))
        out.append(b"\r\n")
        self.wfile.write(b"".join(out))
        if chunked:
            for i in range(0, len(body), chunk_size):
                piece = body[i : i + chunk_size]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()
        if version == "HTTP/1.0":
            self.close_connection = True

    def html(self, body: bytes, status: str = "200 OK", extra: list[tuple[str, str]] | None = None) -> None:
        self.raw(status, [("Content-Type", "text/html; charset=utf-8"), *(extra or [])], body)

    # -- routes --------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: C901 - a routing table
        state = self.server.state
        path = urlsplit(self.path).path
        with state.lock:
            state.hits[path] += 1
            hits = state.hits[path]
            state.log.append((time.monotonic(), path, {k.lower(): v for k, v in self.headers.items()}))
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            self.route(path, hits)
        finally:
            with state.lock:
                state.in_flight -= 1

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with self.server.state.lock:
            self.server.state.posts.append((urlsplit(self.path).path, body))
        self.raw("204 No Content", [])

    def route(self, path: str, hits: int) -> None:
        state = self.server.state
        if path == "/robots.txt":
            robots = state.pages.get("/robots.txt", b"User-agent: *\nDisallow: /private/\n")
            self.raw("200 OK", [("Content-Type", "text/plain")], robots)
        elif path == "/page.html":
            self.html(article())
        elif path.startswith("/page/"):
            body = state.pages.get(path)
            if body is None:
                self.html(b"<html><body>no such page</body></html>", "404 Not Found")
            elif body.startswith(b"HTTP "):  # a test asks for an error status: b"HTTP 500 ..."
                self.html(b"<html><head><title>Server error</title></head><body>down</body></html>", body[5:].decode())
            else:
                self.html(body, extra=[("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", f"hit={hits}; Path=/")])
        elif path == "/gzip.html":
            self.raw("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")],
                     gzip_fixed(article("Gzipped")))
        elif path == "/chunked.html":
            self.raw("200 OK", [("Content-Type", "text/html; charset=utf-8")], article("Chunked"), chunked=True)
        elif path == "/chunked-gzip.html":
            self.raw("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")],
                     gzip_fixed(article("Chunked and gzipped")), chunked=True, chunk_size=50)
        elif path == "/chunk-lookalike.txt":
            # The body's first line looks like a chunk size: de-chunking it twice eats it.
            self.raw("200 OK", [("Content-Type", "text/plain")], b"1a\r\nnot a chunk, just text\r\n0\r\n\r\nmore",
                     chunked=True, chunk_size=5)
        elif path == "/http10.html":
            self.raw("200 OK", [("Content-Type", "text/html")], article("Old server"), version="HTTP/1.0")
        elif path == "/redirect/1":
            self.raw("302 Found", [("Location", "/redirect/2")], b"moved")
        elif path == "/redirect/2":
            self.raw("301 Moved Permanently", [("Location", f"http://127.0.0.1:{self.server.server_port}/page.html")])
        elif path == "/redirect/loop":
            self.raw("302 Found", [("Location", "/redirect/loop")])
        elif path == "/redirect/ftp":
            self.raw("302 Found", [("Location", "ftp://example.invalid/file")])
        elif path.startswith("/goto/"):
            # A redirect to wherever the test says (state.redirects), e.g. another server's address.
            self.raw("302 Found", [("Location", state.redirects[path])], b"moved")
        elif path.startswith("/redirect/unparsable/"):
            # Locations httpx itself refuses to build a request for.
            where = {"javascript": "javascript:alert(1)", "data": "data:text/html,hi", "ipv6": "http://[::1"}
            self.raw("302 Found", [("Location", where[path.rsplit("/", 1)[1]])], b"moved")
        elif path == "/redirect/private":
            self.raw("302 Found", [("Location", "/private/secret.html")])
        elif path == "/404":
            self.html(b"<html><head><title>Not Found</title></head><body>gone</body></html>", "404 Not Found")
        elif path == "/500":
            self.html(b"<html><head><title>Error</title></head><body>broken</body></html>", "500 Internal Server Error")
        elif path == "/503-then-ok":
            if hits == 1:
                self.raw("503 Service Unavailable", [("Retry-After", "0"), ("Content-Type", "text/plain")], b"busy")
            else:
                self.html(article("Came back"))
        elif path == "/429-then-ok":
            if hits == 1:
                self.raw("429 Too Many Requests", [("Retry-After", "1"), ("Content-Type", "text/plain")], b"slow down")
            else:
                self.html(article("Patience"))
        elif path == "/always-503":
            self.raw("503 Service Unavailable", [("Retry-After", "3600"), ("Content-Type", "text/plain")], b"busy")
        elif path == "/slow":
            time.sleep(3)
            self.html(article("Slow"))
        elif path == "/held":
            # Answers once the test opens the gate: a capture that is under way for as long as a test needs.
            state.gate.wait(60)
            self.html(article("Held", "A page that answered when it was let go."))
        elif path == "/slowish":
            time.sleep(0.3)
            self.html(article("Slowish"))
        elif path == "/big.bin":
            self.raw_stream_big()
        elif path == "/bomb.html":
            self.raw("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], state.bomb)
        elif path == "/file.pdf":
            self.raw("200 OK", [("Content-Type", "application/pdf")], b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
        elif path == "/cut-short":
            # Promises 100,000 bytes, sends the start of a page, and hangs up.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
                             + (article("Cut short") * 2)[:400])
            self.wfile.flush()
            self.close_connection = True
        elif path == "/drip":
            # A slow-drip server: a byte every 0.2 s, forever (until the client gives up).
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
            self.wfile.flush()
            try:
                for _ in range(100000):
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        elif path == "/broken-gzip.html":
            good = gzip_fixed(article("Broken"))
            self.raw("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                     good[:10] + b"\x00garbage that is not deflate data" * 20)
        elif path == "/big-article.html":
            # A long page (about 400 KB): enough to fill a small disk quickly.
            paras = "".join(f"<p>Paragraph {i} of a long report, with words enough to count as text.</p>"
                            for i in range(5000))
            self.html(f"<html><head><title>Long report</title></head><body><article>{paras}</article></body></html>".encode())
        elif path.startswith("/doc/"):
            body = state.pages.get(path)
            ctype = "application/pdf" if path.endswith(".pdf") else "text/plain; charset=utf-8"
            if body is None:
                self.html(b"<html><body>no such document</body></html>", "404 Not Found")
            else:
                self.raw("200 OK", [("Content-Type", ctype)], body)
        elif path == "/challenge":
            self.raw("200 OK", [("Content-Type", "text/html"), ("cf-mitigated", "challenge")],
                     b"<html><head><title>One moment</title></head><body><div id='c'></div></body></html>")
        elif path == "/busy":
            self.raw("200 OK", [("Content-Type", "text/html"), ("Retry-After", "30")],
                     b"<html><head><title>Busy</title></head><body><p>Please come back later.</p></body></html>")
        elif path.startswith("/private/"):
            self.html(article("Secret"))
        elif path == "/members/cookie":
            # A cookie wall: the article only with the session cookie.
            if "session=letmein" in (self.headers.get("Cookie") or ""):
                self.html(article("Members only", "The members' newsletter says the vote moved to Thursday."))
            else:
                self.html(b"<html><head><title>Forbidden</title></head><body>log in first</body></html>",
                          "403 Forbidden")
        elif path == "/members/basic":
            if self.headers.get("Authorization") == "Basic " + base64.b64encode(b"me:s3cret-pw").decode():
                self.html(article("Behind basic auth", "The internal memo lists the three options considered."))
            else:
                self.raw("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="members"'),
                                              ("Content-Type", "text/plain")], b"who are you?")
        elif path == "/members/away":
            # A redirect to another host name of this server: credentials must not follow.
            self.raw("302 Found", [("Location", f"http://localhost:{self.server.server_port}/page.html")])
        else:
            self.html(b"<html><head><title>Not Found</title></head><body>nothing here</body></html>", "404 Not Found")

    def raw_stream_big(self) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {BIG_SIZE}\r\n\r\n"
        self.wfile.write(head.encode())
        block = bytes(range(256)) * 256  # 64 KiB, a known pattern
        for _ in range(BIG_SIZE // len(block)):
            self.wfile.write(block)
        self.wfile.flush()


class SiteServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up early (timeouts, size caps) are part of the tests

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SiteState()
        super().__init__((host, port), Handler)

    @property
    def server_port(self) -> int:
        return self.server_address[1]

    @property
    def base(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> SiteServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
