"""The benchmarks' local page server: bodies from memory at /p/<n>, on one
or more loopback addresses (one host each), threaded, quiet."""

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
