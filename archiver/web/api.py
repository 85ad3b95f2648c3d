"""The JSON API: reads whose answers are the CLI's `--json`, and writes
(add a watch, capture now) that need the server's token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ArchiverError, ConfigError, SnapshotNotFound
from ..significance import ChangeRules
from ..models import Capture, Watch
from ..schedule.runner import add_watch, edit_watch, remove_watch
from .jobs import MAX_JOB_URLS
from .site import Site

__all__ = ["add_watch_from", "capture_urls", "captures", "diff", "post_captures", "post_watches", "search",
           "snapshot", "watches"]


# -- reads (run by Site.route) ---------------------------------------------------

def captures(site: Site, request: Request) -> Response:
    found = site.archive.history(site.need(request, "url"), catalog=site.reads.catalog())
    return JSONResponse([c.history_json() for c in found])


def snapshot(site: Site, request: Request) -> Response:
    shown = site.archive.show(site.need(request, "url"), request.query_params.get("at") or None,
                              catalog=site.reads.catalog())
    return JSONResponse(shown.to_json())


def diff(site: Site, request: Request) -> Response:
    """= diff --format json; with view=visual, the two screenshots compared."""
    url, a, b = site.need(request, "url"), request.query_params.get("from") or None, request.query_params.get("to") or None
    if request.query_params.get("view") == "visual":
        older, newer, v = site.archive.visual_diff(url, a, b, catalog=site.reads.catalog())
        return JSONResponse({"url": url, "from": {"timestamp": older.timestamp, "captured_at": older.captured_at},
                             "to": {"timestamp": newer.timestamp, "captured_at": newer.captured_at}, **v.to_json()})
    d = site.archive.diff(url, a, b, catalog=site.reads.catalog())
    return JSONResponse(d.to_json())


def search(site: Site, request: Request) -> Response:
    versions = request.query_params.get("versions", "current")
    if versions not in ("current", "all"):
        raise ConfigError("versions is current or all")
    hits = site.reads.catalog().search(site.need(request, "q"), site.number(request, "limit", 20, high=1000),
                                       versions=versions == "all")
    return JSONResponse([h.to_json() for h in hits])


def watches(site: Site, request: Request) -> Response:
    return JSONResponse([w.to_json() for w in site.reads.catalog().watches()])


# -- writes: only with a token -------------------------------------------------------

def add_watch_from(site: Site, data: dict[str, Any]) -> Watch:
    """A watch from a JSON object or a form's fields (public addresses only, unless allowed)."""
    tags = data.get("tags", data.get("tag"))
    if isinstance(tags, list):
        tags = ",".join(str(t) for t in tags) or None
    if tags is not None and not isinstance(tags, str):
        raise ConfigError("tags must be a string or a list of strings")
    for key in ("url", "every", "cron"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"{key} must be a string")
    rules = ChangeRules.from_json({k: data.get(k) for k in ("ignore", "trigger", "min_words")})
    return add_watch(site.archive, site.public_only(data.get("url") or ""), every=data.get("every"),
                     cron=data.get("cron"), tag=tags, browser=bool(data.get("browser", False)), change_rules=rules)


def checked_urls(site: Site, urls: Any) -> list[str]:
    """The URLs of a capture request, each one a URL of a public address (unless allowed)."""
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls) or len(urls) > MAX_JOB_URLS:
        raise ConfigError(f"urls must be a list of 1 to {MAX_JOB_URLS} URLs")
    return [site.public_only(u) for u in urls]


def capture_urls(site: Site, urls: Any, *, browser: bool = False) -> list[Capture]:
    """Capture now, answering when done (a request that says "wait": true)."""
    return site.capturer.capture(checked_urls(site, urls), browser=browser)


def start_job(site: Site, data: dict[str, Any]) -> str:
    """A background capture job for a request's URLs (checked before it starts); its ID."""
    browser = data.get("browser", False)
    if not isinstance(browser, bool):
        raise ConfigError("browser is true or false")
    return site.jobs.submit(checked_urls(site, data.get("urls")), browser=browser)


def job(site: Site, request: Request) -> Response:
    found = site.reads.catalog().job(request.path_params["job"])
    if found is None:
        raise SnapshotNotFound(f"no job {request.path_params['job']} on this server")
    return JSONResponse(found)


def crawls(site: Site, request: Request) -> Response:
    """A crawl with its frontier counts (?id=ID; &pages=STATE lists its URLs in that
    state, &limit=, &offset=), or the latest crawls."""
    cat = site.reads.catalog()
    crawl_id = request.query_params.get("id", "").strip()
    if not crawl_id:
        return JSONResponse(cat.crawls(limit=site.number(request, "limit", 50, high=1000)))
    found = cat.crawl(crawl_id)
    if found is None:
        raise SnapshotNotFound(f"no crawl {crawl_id} in this archive")
    state = request.query_params.get("pages", "").strip()
    if state:
        if state not in found["counts"]:
            raise ConfigError(f"pages is one of {', '.join(found['counts'])}")
        found["pages"] = [{"url": r["url"], "depth": r["depth"], "parent": r["parent"], "state": r["state"],
                           "reason": r["reason"], "capture_id": r["capture_id"]}
                          for r in cat.frontier(crawl_id, state=state,
                                                limit=site.number(request, "limit", 100, high=10000),
                                                offset=site.number(request, "offset", 0, low=0, high=10**9))]
    return JSONResponse(found)


def _refused(site: Site, request: Request) -> Response | None:
    if site.token is None:
        return JSONResponse({"error": "this server is read-only (start it with --token to allow writes)"},
                            status_code=403)
    value = request.headers.get("authorization", "")
    if not site.allowed(value[7:].strip() if value[:7].lower() == "bearer " else None):
        return JSONResponse({"error": "a valid 'Authorization: Bearer TOKEN' header is needed"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return None


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ConfigError("send JSON (Content-Type: application/json)")
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise ConfigError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("the body must be a JSON object")
    return data


async def _write(site: Site, request: Request, work: Callable[[dict[str, Any]], Any], status: int = 200, *,
                 body: bool = True) -> Response:
    """A JSON API write: the token checked, the body read (when the method
    has one), `work` done off the event loop; its result answered as JSON
    with `status`, or as it is when it is a Response."""
    refused = _refused(site, request)
    if refused is not None:
        return refused
    try:
        data = await _json_body(request) if body else {}
        result = await run_in_threadpool(work, data)
    except ArchiverError as exc:
        return site.fail(request, exc, api=True)
    return result if isinstance(result, Response) else JSONResponse(result, status_code=status)


async def post_watches(site: Site, request: Request) -> Response:
    return await _write(site, request, lambda data: add_watch_from(site, data).to_json(), status=201)


async def patch_watches(site: Site, request: Request) -> Response:
    url = request.query_params.get("url", "")
    return await _write(site, request, lambda data: edit_watch(site.archive, _watched(url), data).to_json())


async def delete_watches(site: Site, request: Request) -> Response:
    """A watch removed; its captures are kept. Answers 204."""
    url = request.query_params.get("url", "")

    def remove(_data: dict[str, Any]) -> Response:
        remove_watch(site.archive, _watched(url))
        return Response(status_code=204)

    return await _write(site, request, remove, body=False)


def _watched(url: str) -> str:
    if not url:
        raise ConfigError("say which watch: ?url=URL")
    return url


async def post_captures(site: Site, request: Request) -> Response:
    """202 and a job to follow at /jobs/ID; with "wait": true, 200 and the captures when they are done."""

    def start(data: dict[str, Any]) -> Response:
        if data.get("wait") is True:
            done = capture_urls(site, data.get("urls"), browser=data.get("browser") is True)
            return JSONResponse([c.to_json() for c in done])
        job_id = start_job(site, data)
        return JSONResponse({"job": job_id, "url": f"{site.root}/jobs/{job_id}", "api": f"{site.root}/api/jobs/{job_id}"},
                            status_code=202)

    return await _write(site, request, start)
