"""What the views of the interface share: the archive, its reads, the
templates, the write token and the network policy of captures asked for
here, and the helpers that turn a request's parameters and an error into
an answer."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import re
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ..archive.archive import Archive
from ..archive.catalog import catalog_error
from ..capture.netpolicy import Origin, PrivateAddress
from ..config import VERSION
from ..errors import ArchiverError, ConfigError, SnapshotNotFound
from ..urls import canonical_url, check_url
from .reads import QueryStopped, Reads, watch_client

__all__ = ["CSRF_COOKIE", "MARKS", "PAGE", "SEARCH_PAGE", "SEEN_COOKIE", "Site", "View"]

PAGE = 100  # rows per page: dashboard, timeline
SEARCH_PAGE = 20
# Snippet marks no clean text contains (control characters are cleaned out).
MARKS = ("\x02", "\x03")
XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
SEEN_COOKIE = "archiver_seen"
CSRF_COOKIE = "archiver_csrf"
FORM_BYTES = 64 * 1024

View = Callable[["Site", Request], Response]


_WHAT_TO_GIVE = {"url": ": give the page's address, e.g. ?url=https://example.org/news/story (the dashboard links"
                         " every archived page)",
                 "q": ": give the words to look for, e.g. ?q=ferry timetable",
                 "id": ": give the id its link or the API gave"}


class Site:
    """One interface over one archive."""

    def __init__(self, archive: Archive, *, token: str | None, replay_url: Callable[[str, str], str] | None,
                 allow_private: bool, base_url: str | None = None, viewer_token: str | None = None) -> None:
        self.archive = archive
        self.viewer_token = viewer_token  # reads need it (viewers.py), when set
        # Where people reach the interface (a reverse proxy, maybe under a path): links and feeds use it.
        self.base_url = base_url.rstrip("/") if base_url else None
        self.root = urlsplit(self.base_url).path if self.base_url else ""
        self.token = token
        self.reads = Reads(archive)
        self.policy = dataclasses.replace(archive.fetch_options.network, mode="any" if allow_private else "public")
        # Captures asked for here run under that policy.
        self.capturer = archive.fetching_with(network=self.policy)
        from .jobs import JobRunner

        self.jobs = JobRunner(self)
        self.env = jinja2.Environment(loader=jinja2.PackageLoader("archiver.web", "templates"),
                                      autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
                                      undefined=jinja2.StrictUndefined,
                                      auto_reload=False)  # package files: no stat of each template per request
        self.env.filters["ts"] = ts_text
        self.env.filters["marked"] = marked
        self.env.globals.update(version=VERSION, replay=replay_url, writable=token is not None, root=self.root,
                                login=viewer_token is not None,
                                good=lambda c: c.verdict.has_text,
                                qs=lambda **kw: urlencode({k: v for k, v in kw.items() if v not in (None, "")}))

    # -- answers ------------------------------------------------------------

    def page(self, name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("csrf", request.cookies.get(CSRF_COOKIE) or "")
        html = self.env.get_template(name).render(request=request, **context)
        return HTMLResponse(html, status_code=status)

    def public_base(self, request: Request) -> str:
        """The interface's address as people reach it: --base-url, else the request's own."""
        return self.base_url or str(request.base_url).rstrip("/")

    def fail(self, request: Request, exc: Exception, *, api: bool) -> Response:
        status = 404 if isinstance(exc, SnapshotNotFound) else 503 if isinstance(exc, QueryStopped) else 400
        if api:
            return JSONResponse({"error": str(exc)}, status_code=status)
        return self.page("error.html", request, status=status, message=str(exc))

    def route(self, view: View, *, api: bool = False) -> Callable[[Request], Any]:
        """A read view run in a worker thread (SQLite and files block), its
        queries bounded (reads.py), its ArchiverErrors answered as 400/404
        pages or JSON."""
        bound = functools.partial(view, self)

        async def endpoint(request: Request) -> Response:
            gone = threading.Event()
            watcher = asyncio.ensure_future(watch_client(request, gone)) if request.method == "GET" else None
            try:
                return await run_in_threadpool(self.reads.run, bound, request, gone)
            except (ArchiverError, sqlite3.Error) as exc:
                if isinstance(exc, sqlite3.Error):
                    exc = catalog_error(exc)
                return self.fail(request, exc, api=api)
            finally:
                if watcher is not None:
                    watcher.cancel()

        return endpoint

    # -- a request's parameters ---------------------------------------------------

    @staticmethod
    def need(request: Request, name: str) -> str:
        value = request.query_params.get(name, "").strip()
        if not value:
            raise ConfigError(f"missing ?{name}=" + _WHAT_TO_GIVE.get(name, ""))
        return canonical_url(value) if name == "url" else value

    @staticmethod
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

    # -- writes -----------------------------------------------------------------

    def allowed(self, presented: str | None) -> bool:
        """Whether `presented` is the write token (compared in constant time)."""
        if self.token is None or not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.token.encode("utf-8"))

    def public_only(self, url: str) -> str:
        """A URL to capture for someone else: its host must not resolve to a private address."""
        url = check_url(url)
        try:
            asyncio.run(Origin(self.policy).admit_url(url, first=True))
        except PrivateAddress as exc:
            raise ConfigError(str(exc)) from None
        return url


async def read_form(request: Request) -> dict[str, str]:
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


def ts_text(ts: str | None) -> str:
    """20261129001432 -> 2026-11-29 00:14:32."""
    if not ts or len(ts) < 14 or not ts[:14].isdigit():
        return ts or ""
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]}:{ts[12:14]}"


def day_bound(value: str | None, *, end: bool = False) -> str | None:
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


def marked(snippet: str) -> Markup:
    """A search snippet, escaped, with its match marks as <mark>."""
    safe = str(escape(snippet))
    return Markup(safe.replace(MARKS[0], "<mark>").replace(MARKS[1], "</mark>"))
