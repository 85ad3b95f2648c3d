"""`archiver serve`: the archive in a browser, and its JSON API.

A Starlette app over one archive: server-rendered pages (pages.py; they
work without JavaScript, /static/app.js only adds keyboard navigation and
pickers that submit themselves), Atom feeds of changes, and the JSON API
whose answers are the CLI's `--json` (api.py). Routes are a contract
(DESIGN.md, "Web interface").

Safety, as the careful peers do it: every captured string reaches a page
through Jinja2's autoescaping; every response carries a Content-Security-
Policy that allows no inline script and nothing from elsewhere, and only
requests for this server's names are answered (security.py); archived pages
are replayed by pywb on another origin (replay.py), never here. Writes (add
a watch, capture now) exist only when the server was given a token, which
every write must present (compared in constant time); the HTML forms for
them also carry a per-browser CSRF token and must come from this origin
(forms.py).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles

from ..archive.archive import Archive
from ..archive.catalog import Catalog
from ..archive.layout import Layout
from . import api, forms, pages
from .security import HostCheck, SecurityHeaders
from .viewers import ViewerGate
from .site import Site

__all__ = ["create_app"]

# Threads per server process for the catalog reads and rendering. The work is
# CPU under one GIL: more threads only interleave it. Measured (bench/serve.py
# load, 2 processes, no writer): 6 threads 121 req/s, 2 threads 130, 1 thread
# 164; two keep one slow request (a huge diff) from holding up the rest.
WORKER_THREADS = 2


def create_app(archive: Archive, *, token: str | None = None,
               replay_url: Callable[[str, str], str] | None = None,
               allowed_hosts: tuple[str, ...] = (), allow_private: bool = False,
               base_url: str | None = None, viewer_token: str | None = None) -> Starlette:
    """The web interface over `archive`. `token`: writes allowed to whoever
    presents it. `replay_url(timestamp, url)`: where pywb replays a capture
    (None: replay is off, and pages say so). `allowed_hosts`: host names
    requests may carry besides IP addresses and localhost. Captures and
    watches asked for through it are of public addresses only, unless
    `allow_private`. `base_url`: where people reach the interface (behind
    a reverse proxy, maybe under a path): links and feeds use it, and its
    host name is allowed. `viewer_token`: reads need it too (viewers.py)."""
    if archive.exists() and not archive.read_only():
        Catalog(Layout.of(archive.path).catalog).close()  # migrate once, before the readers open
    site = Site(archive, token=token, replay_url=replay_url, allow_private=allow_private, base_url=base_url,
                viewer_token=viewer_token)

    def write(view: Callable[[Site, Any], Any]) -> Callable[[Any], Any]:
        return functools.partial(view, site)

    routes = [
        Route("/", site.route(pages.dashboard)),
        Route("/timeline", site.route(pages.timeline)),
        Route("/snapshot", site.route(pages.snapshot)),
        Route("/diff", site.route(pages.diff)),
        Route("/search", site.route(pages.search)),
        Route("/feed.atom", site.route(pages.feed)),
        Route("/record", site.route(pages.record)),
        Route("/screenshot", site.route(pages.screenshot)),
        Route("/dom", site.route(pages.dom)),
        Route("/jobs/{job}", site.route(pages.job)),
        Route("/crawl", site.route(pages.crawl)),
        Route("/api/crawls", site.route(api.crawls, api=True)),
        Route("/api/jobs/{job}", site.route(api.job, api=True)),
        Route("/healthz", pages.health),
        Route("/favicon.ico", functools.partial(pages.favicon, site)),
        Route("/api/captures", site.route(api.captures, api=True), methods=["GET"]),
        Route("/api/captures", write(api.post_captures), methods=["POST"]),
        Route("/api/snapshot", site.route(api.snapshot, api=True)),
        Route("/api/diff", site.route(api.diff, api=True)),
        Route("/api/search", site.route(api.search, api=True)),
        Route("/api/watches", site.route(api.watches, api=True), methods=["GET"]),
        Route("/api/watches", write(api.post_watches), methods=["POST"]),
        Route("/api/watches", write(api.patch_watches), methods=["PATCH"]),
        Route("/api/watches", write(api.delete_watches), methods=["DELETE"]),
        Route("/watches", write(forms.post_watch), methods=["POST"]),
        Route("/watches/edit", write(forms.post_watch_edit), methods=["POST"]),
        Route("/watches/bulk", write(forms.post_watch_bulk), methods=["POST"]),
        Route("/captures", write(forms.post_capture), methods=["POST"]),
        Route("/login", write(forms.login_page), methods=["GET"]),
        Route("/login", write(forms.post_login), methods=["POST"]),
        Route("/logout", write(forms.post_logout), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("archiver.web", "static")]), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A few threads, not anyio's forty: with more, they mostly take the
        # GIL from each other, and the slowest request waits longest.
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        try:
            yield
        finally:
            site.jobs.close()

    async def not_here(request: Request, exc: Exception) -> Response:
        """Unknown paths and methods, and what failed unforeseen, in the interface's words."""
        status = getattr(exc, "status_code", 500)
        api = request.url.path.startswith("/api/")
        if status == 404 and api:
            message = f"there is no API endpoint at {request.url.path} (the API: /api/captures, /api/snapshot,"\
                      " /api/diff, /api/search, /api/watches)"
        elif status == 404:
            message = (f"there is no page at {request.url.path}: the dashboard lists every archived URL, and"
                       " search finds them by their words")
        elif status == 405:
            message = f"{request.method} is not how {request.url.path} is used"
        else:
            status, message = 500, "something went wrong on the server; what was archived is untouched"
        if api:
            return JSONResponse({"error": message}, status_code=status)
        return site.page("error.html", request, status=status, message=message)

    if base_url:
        allowed_hosts = (*allowed_hosts, urlsplit(base_url).hostname or "")
    names = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip())
    gate = Middleware(ViewerGate, viewer_token=viewer_token, write_token=token, root=site.root)
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders), Middleware(HostCheck, allowed=names), gate],
                     lifespan=lifespan, exception_handlers={404: not_here, 405: not_here, 500: not_here})
