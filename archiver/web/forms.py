"""The dashboard's HTML forms (add a watch, capture now): writes that need
the server's token, a per-browser CSRF token, and a post from this origin."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import ArchiverError
from ..errors import ConfigError
from ..schedule.runner import edit_watch, remove_watch
from .api import add_watch_from, start_job
from .site import CSRF_COOKIE, Site, read_form
from .viewers import SESSION_COOKIE, SESSION_SECONDS, make_session, safe_next

__all__ = ["login_page", "post_capture", "post_login", "post_logout", "post_watch", "post_watch_bulk", "post_watch_edit",
           "same_origin"]


def same_origin(request: Request, base_url: str | None = None) -> bool:
    """A form post must come from a page of this server: Sec-Fetch-Site
    or Origin say where the browser sent it from (the request's own host,
    or the public `base_url` in front of it)."""
    fetched_from = request.headers.get("sec-fetch-site")
    if fetched_from is not None:
        return fetched_from in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer", "")
        return origin is None and (referer.startswith(str(request.base_url))
                                   or (base_url is not None and referer.startswith(base_url + "/")))
    netloc = urlsplit(origin).netloc
    return netloc == request.url.netloc or (base_url is not None and netloc == urlsplit(base_url).netloc)


async def _write(site: Site, request: Request, action: Callable[[Any], Any],
                 done: Callable[[Any], str] = lambda form: "") -> Response:
    if site.token is None:
        return site.page("error.html", request, status=403, message="this server is read-only")
    form = await read_form(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get("csrf", ""))
    if not same_origin(request, site.base_url) or not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        return site.page("error.html", request, status=403, message="the form did not come from this site")
    if not site.allowed(str(form.get("token", ""))):
        return site.page("error.html", request, status=401, message="wrong token")
    try:
        await run_in_threadpool(action, form)
    except ArchiverError as exc:
        return site.fail(request, exc, api=False)
    return RedirectResponse(f"{site.root}/{done(form).lstrip('/')}", status_code=303)


async def post_watch(site: Site, request: Request) -> Response:
    return await _write(site, request, lambda f: add_watch_from(site, {
        "url": f.get("url"), "every": f.get("every") or None, "cron": f.get("cron") or None,
        "tags": f.get("tag") or None, "browser": f.get("browser") == "on"}))


async def post_capture(site: Site, request: Request) -> Response:
    """Capture now, in the background: answered with the job's page."""
    started: dict[str, str] = {}

    def start(f: Any) -> None:
        started["job"] = start_job(site, {"urls": [str(f.get("url", ""))], "browser": f.get("browser") == "on"})

    return await _write(site, request, start, done=lambda f: f"jobs/{started.get('job', '')}")


def _patterns(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(" | ") if part.strip()]


def _edit(site: Site, form: Any) -> None:
    url, action = str(form.get("url", "")), str(form.get("action", "save"))
    if action == "delete":
        remove_watch(site.archive, url)
    elif action in ("pause", "resume"):
        edit_watch(site.archive, url, {"paused": action == "pause"})
    elif action == "save":
        try:
            min_words = int(str(form.get("min_words") or 0))
        except ValueError:
            raise ConfigError("min. words is a whole number") from None
        every, cron = str(form.get("every") or "").strip() or None, str(form.get("cron") or "").strip() or None
        edit_watch(site.archive, url, {"every": every if not cron else None, "cron": cron,
                                       "tag": str(form.get("tag") or "").strip() or None,
                                       "browser": form.get("browser") == "on", "ignore": _patterns(form.get("ignore")),
                                       "trigger": _patterns(form.get("trigger")), "min_words": min_words,
                                       "notify": str(form.get("notify") or "").splitlines(),
                                       "auth": str(form.get("auth") or "").strip(),
                                       "between": str(form.get("between") or "").strip(),
                                       "tz": str(form.get("tz") or "").strip()})
    else:
        raise ConfigError(f"unknown action {action!r}")


async def post_watch_edit(site: Site, request: Request) -> Response:
    """Change, pause, resume or stop a watch from its timeline."""
    return await _write(site, request, lambda f: _edit(site, f),
                        done=lambda f: "timeline?" + urlencode({"url": str(f.get("url", ""))}))


async def login_page(site: Site, request: Request) -> Response:
    return site.page("login.html", request, next=safe_next(request.query_params.get("next"), site.root), failed=False)


async def post_login(site: Site, request: Request) -> Response:
    """The viewer token once, for a session cookie (30 days, or until the token changes)."""
    form = await read_form(request)
    target = safe_next(str(form.get("next", "")), site.root)
    given = str(form.get("token", ""))
    if not same_origin(request, site.base_url):
        return site.page("error.html", request, status=403, message="the form did not come from this site")
    tokens = [t for t in (site.viewer_token, site.token) if t is not None]
    if site.viewer_token is None or not any(hmac.compare_digest(given.encode(), t.encode()) for t in tokens):
        return site.page("login.html", request, status=401, next=target, failed=True)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(SESSION_COOKIE, make_session(site.viewer_token), max_age=SESSION_SECONDS, httponly=True,
                    samesite="lax", secure=(site.base_url or "").startswith("https:"), path=(site.root or "/"))
    return resp


async def post_logout(site: Site, request: Request) -> Response:
    resp = RedirectResponse(f"{site.root}/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path=(site.root or "/"))
    return resp


MAX_BULK_URLS = 1000


def _bulk(site: Site, form: Any) -> None:
    """Watches for a pasted list of URLs, one a line, all on one schedule:
    the good lines are added; the others are said, with their line numbers."""
    lines = [(n, line.strip()) for n, line in enumerate(str(form.get("urls", "")).splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise ConfigError("paste one URL a line")
    if len(lines) > MAX_BULK_URLS:
        raise ConfigError(f"at most {MAX_BULK_URLS} URLs at a time")
    problems = []
    for n, line in lines:
        try:
            add_watch_from(site, {"url": line, "every": str(form.get("every") or "") or None,
                                  "cron": str(form.get("cron") or "") or None, "tags": str(form.get("tag") or "") or None})
        except ArchiverError as exc:
            problems.append(f"line {n}: {exc}")
    if problems:
        added = len(lines) - len(problems)
        raise ConfigError(f"{added} of {len(lines)} watched; not added: " + "; ".join(problems[:20])
                          + (" …" if len(problems) > 20 else ""))


async def post_watch_bulk(site: Site, request: Request) -> Response:
    return await _write(site, request, lambda f: _bulk(site, f))
