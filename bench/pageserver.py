"""The benchmarks' local page server: bodies from memory at /p/<n>, on one
or more loopback addresses (one host each), threaded, quiet; in this
process (`serve_bodies`) or a process of its own (`start_server`)."""

from __future__ import annotations

import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_bodies(bodies: list[bytes], *, hosts: int = 1, port: int = 0, gzipped: bool = False,
                 delay: float = 0.0) -> list[_Server]:
    """Start one server per address 127.0.0.1 .. 127.0.0.<hosts>; /p/<n>
    answers bodies[n % len(bodies)] as HTML (gzip-encoded when `gzipped`),
    `delay` seconds after the request (a site that far away)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            if delay:
                time.sleep(delay)
            if self.path.startswith("/p/"):
                body = bodies[int(self.path[3:]) % len(bodies)]
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                if gzipped:
                    self.send_header("Content-Encoding", "gzip")
            else:
                body = b"not found"
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = []
    for h in range(1, hosts + 1):
        server = _Server((f"127.0.0.{h}", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


WORDS = ("archive capture page web record digest history change article text source evidence "
         "policy human rights report county budget council meeting minutes library research").split()


def synthetic_page(i: int, size: int) -> bytes:
    """An article page of about `size` bytes of HTML, gzip with mtime 0 (page `i` is always the same)."""
    import gzip
    import io
    import random

    rnd = random.Random(i)
    paras = []
    total = 0
    while total < size:
        p = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(40, 120)))
        paras.append(f"<p>{p}.</p>")
        total += len(p) + 7
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Page {i}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>Page {i}</h1>{''.join(paras)}</article></body></html>")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(html.encode())
    return buf.getvalue()


def _serve(bodies: list[bytes], hosts: int, port: int, delay: float, ready: object) -> None:
    serve_bodies(bodies, hosts=hosts, port=port, gzipped=True, delay=delay)
    ready.set()  # type: ignore[attr-defined]
    while True:
        time.sleep(3600)


def start_server(bodies: list[bytes], hosts: int, port: int, delay: float = 0.0) -> object:
    """The page server (gzip bodies) in a process of its own, so that it does
    not share the measured process's CPU time; `.terminate()` it after."""
    import multiprocessing

    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(bodies, hosts, port, delay, ready), daemon=True)
    server.start()
    if not ready.wait(120):
        raise SystemExit("the page server did not start")
    return server
