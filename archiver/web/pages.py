"""The interface's HTML pages (and its Atom feed and WARC record downloads):
each a view over the Site, run in a worker thread by `Site.route`."""

from __future__ import annotations

import dataclasses
import math
import secrets
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from ..capture.warc import read_record_bytes
from ..errors import ConfigError, SnapshotNotFound
from ..models import Verdict
from ..urls import canonical_url
from .site import CSRF_COOKIE, MARKS, PAGE, SEARCH_PAGE, SEEN_COOKIE, XML_BAD, Site, day_bound

__all__ = ["crawl", "dashboard", "diff", "dom", "favicon", "feed", "health", "job", "record", "screenshot", "search", "snapshot",
           "timeline"]


# The dashboard's orders (archive/index.py's DASHBOARD_SORTS) as a person reads them.
SORTS = (("changed", "the latest change first"), ("stale", "the longest unchanged first"),
         ("captured", "the latest captured first"), ("url", "by URL"))


def dashboard(site: Site, request: Request) -> Response:
    n = site.number(request, "p", 1)
    cat = site.reads.catalog()
    q = request.query_params
    find = q.get("find", "").strip()[:200] or None
    tag = q.get("tag", "").strip()[:100] or None
    verdict = q.get("verdict", "").strip() or None
    if verdict is not None and verdict not in {v.value for v in Verdict}:
        raise ConfigError(f"verdict is one of {', '.join(v.value for v in Verdict)}")
    since = q.get("since", "").strip() or None
    host = q.get("host", "").strip()[:255] or None
    changed_since = day_bound(since) if since else None
    sort = q.get("sort", "").strip() or "changed"
    if sort not in dict(SORTS):
        raise ConfigError(f"sort is one of {', '.join(dict(SORTS))}")
    filters = {k: v for k, v in (("find", find), ("tag", tag), ("verdict", verdict), ("since", since), ("host", host),
                                 ("sort", sort if sort != "changed" else None)) if v}
    after = None
    if q.get("after"):
        key, sep, last_url = q["after"].partition("|")
        if not sep or len(q["after"]) > 5000:
            raise ConfigError("after is a cursor the dashboard's 'next page' link gives")
        after = (key, last_url)
    rows, total = cat.url_rows(limit=PAGE + 1, offset=(n - 1) * PAGE, find=find, tag=tag, verdict=verdict,
                               changed_since=changed_since, host=host, after=after, sort=sort)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    seen = request.cookies.get(SEEN_COOKIE, "")
    seen = seen if seen.isdigit() and len(seen) == 14 else ""
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = site.page("dashboard.html", request, rows=rows, total=total, page_no=n,
                     pages=max(1, math.ceil(total / PAGE)), seen=seen, csrf=csrf, filters=filters,
                     verdicts=[v.value for v in Verdict], more=more, paged=after is not None or n > 1,
                     sorts=SORTS, order_said=dict(SORTS)[sort], filtered=bool(filters.keys() - {"sort"}))
    # Changes newer than this visit are unseen until the next one.
    now = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    if n == 1:
        resp.set_cookie(SEEN_COOKIE, now, max_age=400 * 86400, httponly=True, samesite="strict")
    resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
    return resp


def timeline(site: Site, request: Request) -> Response:
    url = site.need(request, "url")
    n = site.number(request, "p", 1)
    cat = site.reads.catalog()
    captures = site.archive.history(url, catalog=cat)
    newest = list(reversed(captures))
    texts = len({c.text_sha256 for c in captures if c.text_sha256})
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = site.page("timeline.html", request, url=url, captures=newest[(n - 1) * PAGE : n * PAGE],
                     total=len(captures), page_no=n, pages=max(1, math.ceil(len(captures) / PAGE)),
                     months=_months(cat.capture_days(url)), watch=cat.watch(url), texts=texts, csrf=csrf)
    resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
    return resp


def snapshot(site: Site, request: Request) -> Response:
    url = site.need(request, "url")
    cat = site.reads.catalog()
    shown = site.archive.show(url, request.query_params.get("at") or None, catalog=cat)
    records = site.archive.capture_records(shown.capture, shown.provenance, catalog=cat)
    check = site.archive.replay_check(shown.capture, shown.provenance, catalog=cat) if site.env.globals.get("replay") else None
    return site.page("snapshot.html", request, url=url, shown=shown, snap=shown.snapshot,
                     record=(shown.snapshot.warc or {}).get("record_id"), records=records,
                     screenshot=any(r.role == "screenshot" for r in records),
                     dom=any(r.role == "dom" for r in records), check=check)


def job(site: Site, request: Request) -> Response:
    """A background capture's progress: refreshed every 2 s until it ends."""
    found = site.reads.catalog().job(request.path_params["job"])
    if found is None:
        raise SnapshotNotFound(f"no job {request.path_params['job']} on this server")
    return site.page("job.html", request, job=found, running=found["state"] in ("queued", "running"))


CRAWL_PAGE = 100  # frontier rows a page of /crawl lists


def crawl(site: Site, request: Request) -> Response:
    """A crawl: seeds, scope, progress, its pages (by state), why some failed
    or were stopped; refreshed while it runs. Without ?id=, the latest crawls."""
    cat = site.reads.catalog()
    crawl_id = request.query_params.get("id", "").strip()
    if not crawl_id:
        return site.page("crawls.html", request, crawls=cat.crawls(limit=100))
    found = cat.crawl(crawl_id)
    if found is None:
        raise SnapshotNotFound(f"no crawl {crawl_id} in this archive: /crawl lists the crawls there are")
    state = request.query_params.get("state", "").strip() or None
    if state is not None and state not in found["counts"]:
        raise ConfigError(f"state is one of {', '.join(found['counts'])}")
    n = site.number(request, "p", 1)
    rows = cat.frontier(crawl_id, state=state, limit=CRAWL_PAGE + 1, offset=(n - 1) * CRAWL_PAGE)
    counts = found["counts"]
    return site.page("crawl.html", request, crawl=found, rows=rows[:CRAWL_PAGE], more=len(rows) > CRAWL_PAGE,
                     page_no=n, state=state or "", total=sum(counts.values()),
                     settled=sum(v for k, v in counts.items() if k != "queued"), running=found["state"] == "running")


def screenshot(site: Site, request: Request) -> Response:
    """A browser capture's screenshot, read from the WARC (never the live page);
    with `marked_from=TS`, the regions that changed since that capture outlined."""
    url = site.need(request, "url")
    at = request.query_params.get("at") or None
    since = request.query_params.get("marked_from") or None
    capture, data = site.archive.screenshot(url, at, catalog=site.reads.catalog())
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise SnapshotNotFound(f"the screenshot record of {url} at {capture.timestamp} holds no PNG image")
    if since:
        from ..archive.visual import mark_regions

        _older, _newer, v = site.archive.visual_diff(url, since, at or capture.precise_timestamp,
                                                     catalog=site.reads.catalog())
        data = mark_regions(data, v.regions)
    return Response(data, media_type="image/png", headers={
        "Cache-Control": "private, max-age=86400",  # a capture's screenshot never changes
        "Content-Disposition": f'inline; filename="screenshot-{capture.timestamp}.png"'})


# The archived DOM is a page's own markup: shown in a sandbox (an origin of
# its own, no script, no form, no navigation) that may fetch nothing, so no
# byte of it comes from the live web and none of it can act as this site.
DOM_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:;"
           " form-action 'none'; frame-ancestors 'self'; base-uri 'none'")


def dom(site: Site, request: Request) -> Response:
    """A browser capture's DOM (the HTML after scripts ran), read from the WARC,
    rendered without scripts and without anything fetched."""
    url = site.need(request, "url")
    capture, data = site.archive.dom(url, request.query_params.get("at") or None, catalog=site.reads.catalog())
    return Response(data, media_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": DOM_CSP, "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": f'inline; filename="dom-{capture.timestamp}.html"'})


def diff(site: Site, request: Request) -> Response:
    url = site.need(request, "url")
    cat = site.reads.catalog()
    view = request.query_params.get("view", "side")
    unit = request.query_params.get("unit", "words")
    if view == "visual":
        return _visual_diff(site, request, url)
    if view not in ("side", "inline") or unit not in ("words", "lines"):
        raise ConfigError("view is side, inline or visual; unit is words or lines")
    ignore = request.query_params.get("ws") == "ignore"
    d = site.archive.diff(url, request.query_params.get("from") or None, request.query_params.get("to") or None,
                          catalog=cat, ignore_space=ignore)
    return site.page("diff.html", request, url=url, d=d, view=view, unit=unit, ignore=ignore,
                     choices=list(reversed(cat.good_captures(url))))


def _visual_diff(site: Site, request: Request, url: str) -> Response:
    older, newer, v = site.archive.visual_diff(url, request.query_params.get("from") or None,
                                               request.query_params.get("to") or None,
                                               catalog=site.reads.catalog())
    return site.page("diff_visual.html", request, url=url, older=older, newer=newer, v=v,
                     percent=f"{100 * v.changed_area:.1f}")


def search(site: Site, request: Request) -> Response:
    q = request.query_params.get("q", "").strip()
    where = request.query_params.get("site", "").strip() or None
    since, until = request.query_params.get("since", ""), request.query_params.get("until", "")
    n = site.number(request, "p", 1)
    versions = request.query_params.get("versions", "current")
    if versions not in ("current", "all"):
        raise ConfigError("versions is current (the texts pages have now) or all (every text they have had)")
    hits = []
    if q:
        hits = site.reads.catalog().search(q, SEARCH_PAGE + 1, site=where, since=day_bound(since),
                                           until=day_bound(until, end=True), offset=(n - 1) * SEARCH_PAGE,
                                           marks=MARKS, versions=versions == "all")
    return site.page("search.html", request, q=q, site=where or "", since=since, until=until, page_no=n,
                     hits=hits[:SEARCH_PAGE], more=len(hits) > SEARCH_PAGE,
                     versions="all" if versions == "all" else "")


def feed(site: Site, request: Request) -> Response:
    url = canonical_url(request.query_params.get("url") or "") or None
    tag = request.query_params.get("tag") or None
    rows = site.reads.catalog().changes(url=url, tag=tag, limit=site.number(request, "limit", 50, high=500))
    base = site.public_base(request)
    what = f"changes of {url}" if url else f"changes of watches tagged {tag}" if tag else "all changes"
    # XML 1.0 has no place for some characters a page's title may hold.
    entries = [dataclasses.replace(c, **{k: XML_BAD.sub("", v) for k, v in dataclasses.asdict(c).items()
                                         if isinstance(v, str) and k != "verdict"}) for c in rows]
    xml = site.env.get_template("feed.xml").render(
        entries=entries, base=base, what=what, self_url=str(request.url),
        updated=_iso(entries[0].captured_at) if entries else "1970-01-01T00:00:00Z", iso=_iso)
    return Response(xml, media_type="application/atom+xml; charset=utf-8")


def record(site: Site, request: Request) -> Response:
    """One WARC record, as the gzip member it is stored as (the evidence, downloadable)."""
    rid = site.need(request, "id")
    loc = site.reads.catalog().record(rid)
    if loc is None:
        raise SnapshotNotFound(f"no record {rid} in this archive")
    data = read_record_bytes(site.archive.warc_dir / loc.warc_file, loc.offset, loc.length)
    name = f"{loc.warc_file.removesuffix('.warc.gz')}-{loc.offset}.warc.gz"
    return Response(data, media_type="application/warc", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


def health(request: Request) -> Response:
    return PlainTextResponse("ok\n")


def favicon(site: Site, request: Request) -> Response:
    return RedirectResponse(f"{site.root}/static/favicon.svg", status_code=301)


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
