"""`archiver serve`: the archive in a browser, and its JSON API.

A Starlette app over one archive: server-rendered pages (they work without
JavaScript; /static/app.js only adds keyboard navigation and pickers that
submit themselves), Atom feeds of changes, and the JSON API whose answers are
the CLI's `--json`. Routes are a contract (DESIGN.md, "Web interface").

Safety, as the careful peers do it: every captured string reaches a page
through Jinja2's autoescaping; every response carries a Content-Security-
Policy that allows no inline script and nothing from elsewhere; archived
pages are replayed by pywb on another origin (web/replay.py), never here. Writes
(add a watch, capture now) exist only when the server was given a token,
which every write must present (compared in constant time); the HTML forms
for them also carry a per-browser CSRF token and must come from this origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import hmac
import ipaddress
import json
import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..archive.archive import Archive
from ..archive.layout import Layout
from ..config import VERSION
from ..errors import ArchiverError, ConfigError, SnapshotNotFound, StoreError
from ..models import Capture, Verdict
from ..schedule.runner import add_watch
from ..archive.catalog import Catalog
from ..capture.netpolicy import Origin, PrivateAddress, address_of
from ..urls import canonical_url, check_url
from ..capture.warc import read_record_bytes

__all__ = ["create_app", "run_server", "CSP"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE = 100  # rows per page: dashboard, timeline
SEARCH_PAGE = 20
# Threads per server process for the catalog reads and rendering. The work is
# CPU under one GIL: more threads only interleave it. Measured (bench/serve.py
# load, 2 processes, no writer): 6 threads 121 req/s, 2 threads 130, 1 thread
# 164; two keep one slow request (a huge diff) from holding up the rest.
WORKER_THREADS = 2
# Snippet marks no clean text contains (control characters are cleaned out).
MARKS = ("\x02", "\x03")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
SEEN_COOKIE = "archiver_seen"
CSRF_COOKIE = "archiver_csrf"


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class _Headers:
    """Security headers on every response (plain ASGI: no per-request task)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in _SECURITY_HEADERS if k not in names)]
            await send(message)

        await self.app(scope, receive, sending)


def host_allowed(host_header: str, allowed: frozenset[str]) -> bool:
    """Whether a request's Host header names this server: an IP address
    (no DNS name can be rebound to it), localhost, or a name given with
    --allowed-host. A page elsewhere that points its own name at this
    machine (DNS rebinding) is refused, and so is any name links would
    be built from."""
    host = host_header.strip().lower()
    if host.startswith("["):
        if "]" not in host:
            return False
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.rstrip(".")
    if not name:
        return False
    if name == "localhost" or name in allowed:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _HostCheck:
    """Refuses requests whose Host header is not one this server answers to."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
            if not host_allowed(host, self.allowed):
                body = (b"This server does not answer to that host name. If it is served under that name,"
                        b" start it with --allowed-host NAME.\n")
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _has_text(verdict: str | None) -> bool:
    """A verdict as the catalog stores it: one of a capture with a clean text?"""
    try:
        return Verdict(verdict).has_text
    except ValueError:
        return False


def _ts_text(ts: str | None) -> str:
    """20261129001432 -> 2026-11-29 00:14:32."""
    if not ts or len(ts) < 14 or not ts[:14].isdigit():
        return ts or ""
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]}:{ts[12:14]}"


def _day_bound(value: str | None, *, end: bool = False) -> str | None:
    """YYYY-MM-DD (a date input) -> a 14-digit bound; the day after it for `end`."""
    if not value:
        return None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d")
    except ValueError:
        raise ConfigError(f"not a date (YYYY-MM-DD): {value!r}") from None
    # The end bound is exclusive: hour 24 of the day sorts after all its
    # timestamps, with no date arithmetic to overflow on 9999-12-31.
    return day.strftime("%Y%m%d") + ("240000" if end else "000000")


def _marked(snippet: str) -> Markup:
    """A search snippet, escaped, with its match marks as <mark>."""
    safe = str(escape(snippet))
    return Markup(safe.replace(MARKS[0], "<mark>").replace(MARKS[1], "</mark>"))


QUERY_TIME_LIMIT = 10.0  # seconds any catalog query of the interface may take
_PROGRESS_STEPS = 1000  # SQLite instructions between looks at the time limit
# Set when the server is told to stop: every query under way ends at once.
SHUTTING_DOWN = threading.Event()


class QueryStopped(StoreError):
    """A catalog query of the interface ran past its time limit, or its client left."""


class _Reads:
    """One read-only catalog connection per worker thread (SQLite
    connections are not shared between threads; WAL lets them all read while
    a capture writes). Every query on them stops at the request's time
    limit, when its client leaves, or when the server stops."""

    def __init__(self, archive: Archive, time_limit: float | None = None) -> None:
        self.archive = archive
        self.time_limit = QUERY_TIME_LIMIT if time_limit is None else time_limit
        self.local = threading.local()

    def catalog(self) -> Catalog:
        cat = getattr(self.local, "catalog", None)
        if cat is None:
            cat = Catalog(Layout.of(self.archive.path).catalog, readonly=True)
            cat.db.set_progress_handler(self._over, _PROGRESS_STEPS)
            self.local.catalog = cat
        return cat

    def _over(self) -> int:
        deadline = getattr(self.local, "deadline", None)
        gone = getattr(self.local, "gone", None)
        return int(SHUTTING_DOWN.is_set() or (deadline is not None and time.monotonic() > deadline)
                   or (gone is not None and gone.is_set()))

    def run(self, fn: Callable[[Request], Any], request: Request, gone: threading.Event) -> Any:
        """`fn(request)` in this thread, its queries bounded as above."""
        self.local.deadline, self.local.gone = time.monotonic() + self.time_limit, gone
        try:
            return fn(request)
        except sqlite3.Error:
            # SQLite words an interrupt after the place it stopped in
            # ("interrupted", "vtable constructor failed"): ask why instead.
            if not self._over():
                raise
            why = ("its client left" if gone.is_set() else "the server is stopping" if SHUTTING_DOWN.is_set()
                   else f"it took longer than {self.time_limit:g} s")
            raise QueryStopped(f"the catalog query was stopped: {why}") from None
        finally:
            self.local.deadline = self.local.gone = None


async def _watch_client(request: Request, gone: threading.Event) -> None:
    """Set `gone` when the client of a GET hangs up (its query is then stopped)."""
    while not gone.is_set():
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            gone.set()


def create_app(archive: Archive, *, token: str | None = None,
               replay_url: Callable[[str, str], str] | None = None,
               allowed_hosts: tuple[str, ...] = (), allow_private: bool = False) -> Starlette:
    """The web interface over `archive`. `token`: writes allowed to whoever
    presents it. `replay_url(timestamp, url)`: where pywb replays a capture
    (None: replay is off, and pages say so). `allowed_hosts`: host names
    requests may carry besides IP addresses and localhost. Captures and
    watches asked for through it are of public addresses only, unless
    `allow_private`."""
    if archive.exists() and not archive.read_only():
        Catalog(Layout.of(archive.path).catalog).close()  # migrate once, before the readers open
    reads = _Reads(archive)
    policy = dataclasses.replace(archive.fetch_options.network, mode="any" if allow_private else "public")
    capturer = copy.copy(archive)
    capturer.fetch_options = dataclasses.replace(archive.fetch_options, network=policy)

    def public_only(url: str) -> str:
        """A URL to capture for someone else: its host must not resolve to a private address."""
        url = check_url(url)
        if policy.mode == "public":
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = asyncio.run(address_of(policy, parts.hostname or "", port))
            try:
                Origin(policy).admit(url, address, first=True)
            except PrivateAddress as exc:
                raise ConfigError(str(exc)) from None
        return url

    env = jinja2.Environment(loader=jinja2.PackageLoader("archiver.web", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
                             undefined=jinja2.StrictUndefined,
                             auto_reload=False)  # package files: no stat of each template per request
    env.filters["ts"] = _ts_text
    env.filters["marked"] = _marked
    env.globals.update(version=VERSION, replay=replay_url, writable=token is not None,
                       good=lambda c: c.verdict.has_text, has_text=_has_text, qs=lambda **kw: urlencode(
                           {k: v for k, v in kw.items() if v not in (None, "")}))

    def page(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("csrf", request.cookies.get(CSRF_COOKIE) or "")
        html = env.get_template(name).render(request=request, **context)
        return HTMLResponse(html, status_code=status)

    def fail(request: Request, exc: Exception, *, api: bool) -> Response:
        status = 404 if isinstance(exc, SnapshotNotFound) else 503 if isinstance(exc, QueryStopped) else 400
        if api:
            return JSONResponse({"error": str(exc)}, status_code=status)
        return page("error.html", request, status=status, message=str(exc))

    def need(request: Request, name: str) -> str:
        value = request.query_params.get(name, "").strip()
        if not value:
            raise ConfigError(f"missing ?{name}=")
        return canonical_url(value) if name == "url" else value

    def number(request: Request, name: str, default: int, *, low: int = 1, high: int = 10_000) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"?{name}= must be a whole number") from None
        if not low <= value <= high:
            raise ConfigError(f"?{name}= must be between {low} and {high}")
        return value

    def route(fn: Callable[..., Any], *, api: bool = False) -> Callable[[Request], Any]:
        """A handler run in a worker thread (SQLite and files block), its
        ArchiverErrors answered as 400/404 pages or JSON."""

        async def endpoint(request: Request) -> Response:
            gone = threading.Event()
            watcher = asyncio.ensure_future(_watch_client(request, gone)) if request.method == "GET" else None
            try:
                return await run_in_threadpool(reads.run, fn, request, gone)
            except (ArchiverError, sqlite3.Error) as exc:
                if isinstance(exc, sqlite3.Error):
                    exc = StoreError(f"the catalog could not answer: {exc}")
                return fail(request, exc, api=api)
            finally:
                if watcher is not None:
                    watcher.cancel()

        return endpoint

    # -- pages ------------------------------------------------------------------

    def dashboard(request: Request) -> Response:
        n = number(request, "p", 1)
        cat = reads.catalog()
        rows, total = cat.url_rows(limit=PAGE, offset=(n - 1) * PAGE)
        seen = request.cookies.get(SEEN_COOKIE, "")
        seen = seen if seen.isdigit() and len(seen) == 14 else ""
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        resp = page("dashboard.html", request, rows=rows, total=total, page_no=n,
                    pages=max(1, math.ceil(total / PAGE)), seen=seen, csrf=csrf,
                    rule_rot=lambda raw: len(json.loads(raw or "[]")))
        # Changes newer than this visit are unseen until the next one.
        now = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        if n == 1:
            resp.set_cookie(SEEN_COOKIE, now, max_age=400 * 86400, httponly=True, samesite="strict")
        resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return resp

    def timeline(request: Request) -> Response:
        url = need(request, "url")
        n = number(request, "p", 1)
        cat = reads.catalog()
        captures = archive.history(url, catalog=cat)
        newest = list(reversed(captures))
        days = cat.capture_days(url)
        return page("timeline.html", request, url=url, captures=newest[(n - 1) * PAGE : n * PAGE],
                    total=len(captures), page_no=n, pages=max(1, math.ceil(len(captures) / PAGE)),
                    months=_months(days), watch=cat.watch(url))

    def snapshot(request: Request) -> Response:
        url = need(request, "url")
        at = request.query_params.get("at") or None
        shown = archive.show(url, at, catalog=reads.catalog())
        return page("snapshot.html", request, url=url, shown=shown, snap=shown.snapshot,
                    record=(shown.snapshot.warc or {}).get("record_id"))

    def diff(request: Request) -> Response:
        url = need(request, "url")
        cat = reads.catalog()
        view = request.query_params.get("view", "side")
        unit = request.query_params.get("unit", "words")
        if view not in ("side", "inline") or unit not in ("words", "lines"):
            raise ConfigError("view is side or inline; unit is words or lines")
        ignore = request.query_params.get("ws") == "ignore"
        d = archive.diff(url, request.query_params.get("from") or None, request.query_params.get("to") or None,
                         catalog=cat, ignore_space=ignore)
        choices = [c for c in cat.good_captures(url)]
        return page("diff.html", request, url=url, d=d, view=view, unit=unit, ignore=ignore,
                    choices=list(reversed(choices)))

    def search(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        site = request.query_params.get("site", "").strip() or None
        since, until = request.query_params.get("since", ""), request.query_params.get("until", "")
        n = number(request, "p", 1)
        hits = []
        if q:
            hits = reads.catalog().search(q, SEARCH_PAGE + 1, site=site, since=_day_bound(since),
                                          until=_day_bound(until, end=True), offset=(n - 1) * SEARCH_PAGE,
                                          marks=MARKS)
        return page("search.html", request, q=q, site=site or "", since=since, until=until, page_no=n,
                    hits=hits[:SEARCH_PAGE], more=len(hits) > SEARCH_PAGE)

    def feed(request: Request) -> Response:
        url = canonical_url(request.query_params.get("url") or "") or None
        tag = request.query_params.get("tag") or None
        rows = reads.catalog().changes(url=url, tag=tag, limit=number(request, "limit", 50, high=500))
        base = str(request.base_url).rstrip("/")
        what = f"changes of {url}" if url else f"changes of watches tagged {tag}" if tag else "all changes"
        entries = [{k: (_XML_BAD.sub("", v) if isinstance(v, str) else v) for k, v in dict(r).items()} for r in rows]
        xml = env.get_template("feed.xml").render(
            entries=entries, base=base, what=what, self_url=str(request.url),
            updated=_iso(entries[0]["captured_at"]) if entries else "1970-01-01T00:00:00Z", iso=_iso)
        return Response(xml, media_type="application/atom+xml; charset=utf-8")

    def record(request: Request) -> Response:
        """One WARC record, as the gzip member it is stored as (the evidence, downloadable)."""
        rid = need(request, "id")
        loc = reads.catalog().record(rid)
        if loc is None:
            raise SnapshotNotFound(f"no record {rid} in this archive")
        data = read_record_bytes(archive.warc_dir / loc.warc_file, loc.offset, loc.length)
        name = f"{loc.warc_file.removesuffix('.warc.gz')}-{loc.offset}.warc.gz"
        return Response(data, media_type="application/warc", headers={
            "Content-Disposition": f'attachment; filename="{name}"'})

    # -- the JSON API: the CLI's --json -------------------------------------------

    def api_captures(request: Request) -> Response:
        captures = archive.history(need(request, "url"), catalog=reads.catalog())
        return JSONResponse([c.history_json() for c in captures])

    def api_snapshot(request: Request) -> Response:
        shown = archive.show(need(request, "url"), request.query_params.get("at") or None, catalog=reads.catalog())
        return JSONResponse(shown.to_json())

    def api_diff(request: Request) -> Response:
        d = archive.diff(need(request, "url"), request.query_params.get("from") or None,
                         request.query_params.get("to") or None, catalog=reads.catalog())
        return JSONResponse(d.to_json())

    def api_search(request: Request) -> Response:
        hits = reads.catalog().search(need(request, "q"), number(request, "limit", 20, high=1000))
        return JSONResponse([h.to_json() for h in hits])

    def api_watches(request: Request) -> Response:
        return JSONResponse([w.to_json() for w in reads.catalog().watches()])

    # -- writes: only with a token --------------------------------------------------

    def allowed(presented: str | None) -> bool:
        if token is None or not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), token.encode("utf-8"))

    def bearer(request: Request) -> str | None:
        value = request.headers.get("authorization", "")
        return value[7:].strip() if value[:7].lower() == "bearer " else None

    def write_refused(request: Request) -> Response | None:
        if token is None:
            return JSONResponse({"error": "this server is read-only (start it with --token to allow writes)"},
                                status_code=403)
        if not allowed(bearer(request)):
            return JSONResponse({"error": "a valid 'Authorization: Bearer TOKEN' header is needed"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    async def json_body(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ConfigError("send JSON (Content-Type: application/json)")
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise ConfigError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise ConfigError("the body must be a JSON object")
        return data

    def _watch_from(data: dict[str, Any]) -> Any:
        tags = data.get("tags", data.get("tag"))
        if isinstance(tags, list):
            tags = ",".join(str(t) for t in tags) or None
        if tags is not None and not isinstance(tags, str):
            raise ConfigError("tags must be a string or a list of strings")
        for key in ("url", "every", "cron"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ConfigError(f"{key} must be a string")
        return add_watch(archive, public_only(data.get("url") or ""), every=data.get("every"), cron=data.get("cron"),
                         tag=tags, browser=bool(data.get("browser", False)))

    def _capture(urls: Any) -> list[Capture]:
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls) or len(urls) > 1000:
            raise ConfigError("urls must be a list of 1 to 1000 URLs")
        return capturer.capture([public_only(u) for u in urls])

    async def api_write(request: Request, work: Callable[[dict[str, Any]], Any], status: int = 200) -> Response:
        """A JSON API write: the token checked, the body read, `work` done off
        the event loop; its result (a JSON value) answered with `status`."""
        refused = write_refused(request)
        if refused is not None:
            return refused
        try:
            data = await json_body(request)
            result = await run_in_threadpool(work, data)
        except ArchiverError as exc:
            return fail(request, exc, api=True)
        return JSONResponse(result, status_code=status)

    async def api_add_watch(request: Request) -> Response:
        return await api_write(request, lambda data: _watch_from(data).to_json(), status=201)

    async def api_capture(request: Request) -> Response:
        return await api_write(request, lambda data: [c.to_json() for c in _capture(data.get("urls"))])

    def same_origin(request: Request) -> bool:
        """A form post must come from a page of this server: Sec-Fetch-Site
        or Origin say where the browser sent it from."""
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return origin is None and request.headers.get("referer", "").startswith(str(request.base_url))
        return urlsplit(origin).netloc == request.url.netloc

    async def form_write(request: Request, action: Callable[[Any], Any]) -> Response:
        if token is None:
            return page("error.html", request, status=403, message="this server is read-only")
        form = await _form(request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = str(form.get("csrf", ""))
        if not same_origin(request) or not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
            return page("error.html", request, status=403, message="the form did not come from this site")
        if not allowed(str(form.get("token", ""))):
            return page("error.html", request, status=401, message="wrong token")
        try:
            await run_in_threadpool(action, form)
        except ArchiverError as exc:
            return fail(request, exc, api=False)
        return RedirectResponse("/", status_code=303)

    async def form_watch(request: Request) -> Response:
        return await form_write(request, lambda f: _watch_from(
            {"url": f.get("url"), "every": f.get("every") or None, "cron": f.get("cron") or None,
             "tags": f.get("tag") or None, "browser": f.get("browser") == "on"}))

    async def form_capture(request: Request) -> Response:
        return await form_write(request, lambda f: _capture([str(f.get("url", ""))]))

    def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def favicon(request: Request) -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    routes = [
        Route("/", route(dashboard)),
        Route("/timeline", route(timeline)),
        Route("/snapshot", route(snapshot)),
        Route("/diff", route(diff)),
        Route("/search", route(search)),
        Route("/feed.atom", route(feed)),
        Route("/record", route(record)),
        Route("/healthz", health),
        Route("/favicon.ico", favicon),
        Route("/api/captures", route(api_captures, api=True), methods=["GET"]),
        Route("/api/captures", api_capture, methods=["POST"]),
        Route("/api/snapshot", route(api_snapshot, api=True)),
        Route("/api/diff", route(api_diff, api=True)),
        Route("/api/search", route(api_search, api=True)),
        Route("/api/watches", route(api_watches, api=True), methods=["GET"]),
        Route("/api/watches", api_add_watch, methods=["POST"]),
        Route("/watches", form_watch, methods=["POST"]),
        Route("/captures", form_capture, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("archiver.web", "static")]), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A few threads, not anyio's forty: with more, they mostly take the
        # GIL from each other, and the slowest request waits longest.
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        yield

    names = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip())
    return Starlette(routes=routes, middleware=[Middleware(_Headers), Middleware(_HostCheck, allowed=names)],
                     lifespan=lifespan)


KEEP_ALIVE = 75  # seconds, as nginx
SHUTDOWN_GRACE = 5  # seconds requests under way get when the server is told to stop


def run_server(make_app: Callable[[], Any], *, host: str, port: int, workers: int = 1,
               started: Callable[[], None] | None = None, listening: Callable[[], None] | None = None) -> None:
    """Serve until interrupted: `workers` processes forked after the listening
    socket is made, each with its own app (and its own SQLite connections).
    Forked rather than uvicorn's own workers: those receive the socket
    without its protocol, so asyncio never turns Nagle off on their
    connections and every response waits ~40 ms for a delayed ACK.
    `listening` runs once the port is known to be free (so that "serving
    on" is never printed by a server that cannot listen); `started` once
    the server processes exist (threads are started after a fork, never
    before it)."""
    import multiprocessing
    import signal
    import socket

    import uvicorn

    class _Server(uvicorn.Server):
        """Stops every catalog query under way when told to exit: shutdown
        never waits on one."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            SHUTTING_DOWN.set()
            super().handle_exit(sig, frame)

    def serve_on(sock: socket.socket | None) -> None:
        # Keep-alive past uvicorn's 5 s: a client reusing a connection the
        # server is closing at that moment gets a reset (seen under load).
        config = uvicorn.Config(make_app(), host=host, port=port, log_level="warning", access_log=False,
                                timeout_keep_alive=KEEP_ALIVE, timeout_graceful_shutdown=SHUTDOWN_GRACE)
        _Server(config).run(sockets=[sock] if sock is not None else None)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # A plain bind first: it fails when anyone listens there (SO_REUSEPORT,
        # below, would let this server join another one, another archive's
        # say, and take half its requests), so a taken port is one line here.
        with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = int(probe.getsockname()[1])
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if workers <= 1:  # uvicorn binds the port itself
        if listening is not None:
            listening()
        if started is not None:
            started()
        # uvicorn shuts down gracefully on SIGTERM, then raises it again for
        # the handler it found: a quiet one here, so serving just ends (the
        # CLI's own turns it into a Ctrl-C, which uvicorn has handled already).
        if threading.current_thread() is not threading.main_thread():
            serve_on(None)  # signal handlers are the main thread's (uvicorn sets none either)
            return
        previous = signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            serve_on(None)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return
    # One listening socket per process (SO_REUSEPORT), where the system
    # allows it: the kernel then spreads new connections over them. With one
    # socket shared by all, the process that woke first took nearly every
    # connection (49 of 50 keep-alive clients on one process of two,
    # measured): the other sat idle while requests queued.
    spread = hasattr(socket, "SO_REUSEPORT")
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers if spread else 1):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if spread:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(1024)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if listening is not None:
        listening()

    def serve_own(mine: int) -> None:
        # The parent ends a child with SIGTERM: uvicorn shuts down, then raises
        # it again for the handler it found, which must not be the CLI's own.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for i, other in enumerate(sockets):
            if i != mine:
                other.close()  # else connections hashed to a dead sibling's socket wait in it forever
        serve_on(sockets[mine])

    context = multiprocessing.get_context("fork")
    children = [context.Process(target=serve_own, args=(i % len(sockets),), daemon=True) for i in range(workers)]
    for child in children:
        child.start()
    if started is not None:
        started()
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while all(child.is_alive() for child in children):
            children[0].join(timeout=1.0)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(timeout=10)
        for sock in sockets:
            sock.close()


FORM_BYTES = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind the pages send), first value of each field."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _iso(captured_at: str) -> str:
    return (captured_at or "1970-01-01T00:00:00")[:19] + "Z"


def _months(days: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """The capture calendar: one row per month (the last 24 with captures),
    a cell per day, shaded by how many captures it had, red when any failed."""
    by_month: dict[str, dict[int, tuple[int, int]]] = {}
    for day, count, good in days:
        by_month.setdefault(day[:6], {})[int(day[6:8])] = (count, good)
    rows = []
    for month in sorted(by_month)[-24:]:
        cells = []
        for d in range(1, 32):
            count, good = by_month[month].get(d, (0, 0))
            level = 0 if count == 0 else 1 if count == 1 else 2 if count <= 3 else 3
            cells.append({"day": d, "count": count, "level": level, "errors": count - good})
        rows.append({"label": f"{month[:4]}-{month[4:]}", "cells": cells})
    return rows
