"""A local site of pages that need JavaScript, for the browser-capture tests
and bench/browser.py: an article built by a script after load (its script
sent gzip-compressed), one that fetches its text from a JSON endpoint, one
that loads more on scroll, one that never goes quiet (it polls), one whose
script never returns, one during whose load the test kills the browser, and
the static twin of the article. The text is our own."""

from __future__ import annotations

import gzip
import json
import socketserver
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

TITLE = "Harbour Lights Kept Burning"
PARAS = [
    "The harbour office kept its lamps burning through the long winter, and the ferrymen said the light was "
    "the only thing in town that never once failed them.",
    "Each evening the keeper climbed the stairs with a can of oil and a ledger, and wrote down the weather, "
    "the ships in sight and the hour the lamp was lit.",
    "Those ledgers, kept for ninety years, are now the best record of the coast's weather that anyone has, "
    "better than the newspapers and better than the church books.",
    "Historians who read them say the keepers' notes in the margins tell more than the columns of figures: "
    "who came in late, who did not come in at all.",
]
MORE = [
    "When the lamp was finally replaced by an electric beacon, the last keeper carried the ledgers home and "
    "kept them in a trunk under his bed for thirty years.",
    "His granddaughter found them there and gave them to the county archive, where they were copied twice "
    "and sent to two other towns for safe keeping.",
]

SHELL = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script src="{script}"></script></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a></nav><main id="app"><p class="loading">Loading…</p></main>
<footer>Copyright the Harbour Gazette</footer></body></html>"""

STATIC = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a></nav><main id="app"><article><h1>{title}</h1>{paras}</article></main>
<footer>Copyright the Harbour Gazette</footer></body></html>"""

RENDER = """
function render(paras, more) {
  const app = document.getElementById('app');
  app.innerHTML = '';
  const art = document.createElement('article');
  const h = document.createElement('h1'); h.textContent = %s; art.appendChild(h);
  for (const t of paras) { const p = document.createElement('p'); p.textContent = t; art.appendChild(p); }
  app.appendChild(art);
  return art;
}
""" % json.dumps(TITLE)

APP_JS = RENDER + """
document.addEventListener('DOMContentLoaded', () => setTimeout(() => render(%s), 150));
""" % json.dumps(PARAS)

JSON_JS = RENDER + """
document.addEventListener('DOMContentLoaded', async () => {
  const r = await fetch('/api/article.json', {headers: {'Accept': 'application/json'}});
  const data = await r.json();
  render(data.paragraphs);
});
"""

LAZY_JS = RENDER + """
document.addEventListener('DOMContentLoaded', () => {
  const art = render(%s);
  const spacer = document.createElement('div'); spacer.style.height = '3000px'; art.appendChild(spacer);
  const sentinel = document.createElement('div'); sentinel.id = 'more'; art.appendChild(sentinel);
  const seen = new IntersectionObserver(async (entries) => {
    if (!entries.some(e => e.isIntersecting)) return;
    seen.disconnect();
    const data = await (await fetch('/api/more.json')).json();
    spacer.remove();
    for (const t of data.paragraphs) { const p = document.createElement('p'); p.textContent = t; art.insertBefore(p, sentinel); }
  });
  seen.observe(sentinel);
});
""" % json.dumps(PARAS[:2])

POLL_JS = RENDER + """
document.addEventListener('DOMContentLoaded', () => {
  render(%s);
  setInterval(() => fetch('/api/ping?t=' + Date.now()), 150);
});
""" % json.dumps(PARAS)

HANG_JS = "document.addEventListener('DOMContentLoaded', () => { while (true) {} });"


def static_twin() -> bytes:
    paras = "".join(f"<p>{p}</p>" for p in PARAS)
    return STATIC.format(title=TITLE, paras=paras).encode()


class JsState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: dict[str, int] = defaultdict(int)
        self.agents: list[str] = []
        self.on_kill: Callable[[], None] | None = None  # the test's way to kill the browser mid-load
        self.robots = b"User-agent: *\nDisallow: /private/\n"


class JsHandler(BaseHTTPRequestHandler):
    server: JsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send(self, status: int, ctype: str, body: bytes, *, gz: bool = False) -> None:
        if gz:
            body = gzip.compress(body, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: C901 - a routing table
        state = self.server.state
        path = urlsplit(self.path).path
        with state.lock:
            state.hits[path] += 1
            state.agents.append(self.headers.get("User-Agent", ""))
        html = "text/html; charset=utf-8"
        js = "application/javascript"
        shells = {"/js/article": "/js/app.js", "/js/json": "/js/json.js", "/js/lazy": "/js/lazy.js",
                  "/js/poll": "/js/poll.js", "/js/hang": "/js/hang.js", "/private/js": "/js/app.js"}
        scripts = {"/js/app.js": APP_JS, "/js/json.js": JSON_JS, "/js/lazy.js": LAZY_JS, "/js/poll.js": POLL_JS,
                   "/js/hang.js": HANG_JS}
        if path == "/robots.txt":
            self.send(200, "text/plain", state.robots)
        elif path in shells:
            self.send(200, html, SHELL.format(title=TITLE, script=shells[path]).encode(), gz=True)
        elif path in scripts:
            self.send(200, js, scripts[path].encode(), gz=path == "/js/app.js")
        elif path == "/static/article":
            self.send(200, html, static_twin())
        elif path == "/api/article.json":
            self.send(200, "application/json", json.dumps({"paragraphs": PARAS}).encode())
        elif path == "/api/more.json":
            self.send(200, "application/json", json.dumps({"paragraphs": MORE}).encode())
        elif path == "/api/ping":
            self.send(200, "application/json", b'{"ok": true}')
        elif path == "/js/kill":
            if state.on_kill is not None:
                state.on_kill()
            time.sleep(2)  # the browser dies while it waits for this page
            self.send(200, html, SHELL.format(title=TITLE, script="/js/app.js").encode())
        elif path.startswith("/bench/"):
            # bench/browser.py: /bench/js/N (built by a script) and /bench/static/N
            n = path.rsplit("/", 1)[-1]
            if "/js/" in path:
                self.send(200, html, SHELL.format(title=f"{TITLE} {n}", script="/js/app.js").encode(), gz=True)
            else:
                self.send(200, html, STATIC.format(title=f"{TITLE} {n}",
                                                   paras="".join(f"<p>{p}</p>" for p in PARAS)).encode(), gz=True)
        else:
            self.send(404, html, b"<html><body><h1>Not found</h1></body></html>")


class JsServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), JsHandler)
        self.state = JsState()
        self._thread: threading.Thread | None = None

    def start(self) -> JsServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"
