"""A crawl: seeds, a scope, and a frontier kept in the catalog, captured in
batches through `Archive.capture` (robots.txt, politeness, WARC, cleaning,
verdicts as in `archiver capture`). Each capture and the links it adds to
the frontier are committed together, so a crawl killed at any moment resumes
(`resume_crawl`) without fetching a recorded page again or losing a link."""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ..archive.archive import Archive
from ..archive.catalog import Catalog
from ..errors import ConfigError, SnapshotNotFound
from ..models import Capture, Verdict
from ..timeutil import iso_seconds, timestamp_of_w3c
from ..urls import check_url
from ..cleaning.listings import Link
from .scope import Scope, link_target
from .traps import TrapBounds, digits_only_step

__all__ = ["BATCH", "CrawlReport", "CrawlSettings", "find_crawl", "resume_crawl", "start_crawl"]

BATCH = 200  # frontier URLs handed to one capture call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrawlSettings:
    """How far a crawl goes. `scope`: page, prefix, host, domain or a regular
    expression (Scope); `depth`: links followed from a seed; `limit`: pages
    captured at most; `include`/`exclude`: regular expressions a followed
    URL must match / must not match."""

    scope: str = "prefix"
    depth: int = 5
    limit: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    browser: bool = False
    sitemap: bool = False  # also read the seeds' sites' robots.txt Sitemap lines and /sitemap.xml
    delay: float | None = None  # seconds between requests to one host, kept for --resume (None: the archive's)
    bounds: TrapBounds = field(default_factory=TrapBounds)

    def __post_init__(self) -> None:
        if self.depth < 0 or (self.limit is not None and self.limit < 1):
            raise ConfigError("--depth is 0 or more and --limit 1 or more")
        for flag, patterns in (("--include", self.include), ("--exclude", self.exclude)):
            for p in patterns:
                try:
                    re.compile(p)
                except re.error as exc:
                    raise ConfigError(f"{flag} {p!r} is not a regular expression: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["include"], data["exclude"] = list(self.include), list(self.exclude)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlSettings:
        return cls(scope=data["scope"], depth=data["depth"], limit=data.get("limit"),
                   include=tuple(data.get("include") or ()), exclude=tuple(data.get("exclude") or ()),
                   browser=bool(data.get("browser")), sitemap=bool(data.get("sitemap")), delay=data.get("delay"),
                   bounds=TrapBounds(**(data.get("bounds") or {})))


@dataclass
class CrawlReport:
    """Where a crawl stands: its row in the catalog, and what this run recorded
    (counted, not kept: a crawl of 50,000 pages would hold them all;
    `on_capture` sees each one)."""

    id: str
    seeds: list[str]
    settings: CrawlSettings
    state: str  # running | done | stopped
    note: str | None
    counts: dict[str, int]  # frontier rows by state: queued, done, failed, blocked, bounded
    bounded: dict[str, int] = field(default_factory=dict)  # the bounds that stopped URLs, and how many each
    captured: int = 0  # captures this run recorded
    failed: int = 0  # of them, `failed` (the network, a worker)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seeds": self.seeds, "settings": self.settings.to_json(), "state": self.state,
                "note": self.note, "counts": self.counts, "bounded": self.bounded,
                "captured": self.captured, "failed": self.failed}


def start_crawl(archive: Archive, seeds: list[str], settings: CrawlSettings, *,
                on_capture: Callable[[Capture], None] | None = None, executor: Any = None) -> CrawlReport:
    """A new crawl from `seeds`, run until its frontier is empty or its limit reached."""
    checked = list(dict.fromkeys(check_url(s) for s in seeds))
    if not checked:
        raise ConfigError("no seed URL given")
    Scope(settings.scope, tuple(checked))  # a bad regular expression is an error before anything is written
    crawl_id = uuid.uuid4().hex[:12]
    first = list(checked)
    if settings.sitemap:
        for origin in dict.fromkeys(_origin(s) for s in checked):
            first += [f"{origin}/robots.txt", f"{origin}/sitemap.xml"]
    with archive.catalog() as catalog, catalog.transaction():
        catalog.add_crawl(crawl_id, created=iso_seconds(archive.clock()),
                          seeds=checked, settings=settings.to_json())
        catalog.add_frontier(crawl_id, [(s, 0, None, "queued", None, 0) for s in dict.fromkeys(first)])
    return _run(archive, crawl_id, on_capture, executor)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def resume_crawl(archive: Archive, crawl_id: str, *, on_capture: Callable[[Capture], None] | None = None,
                 executor: Any = None, limit: int | None = None, delay: float | None = None) -> CrawlReport:
    """Go on with a crawl that was stopped (killed, interrupted, or at its
    limit): its queued URLs, none it has recorded. `limit` and `delay` replace
    the crawl's own (its per-host delay is kept from its start)."""
    if not archive.exists():
        raise SnapshotNotFound(f"no crawl {crawl_id}: there is no archive at {archive.path}")
    with archive.catalog() as catalog:
        row = find_crawl(catalog, crawl_id)
        if limit is not None or delay is not None:
            settings = CrawlSettings.from_json(row["settings"])
            settings = replace(settings, limit=settings.limit if limit is None else limit,
                               delay=settings.delay if delay is None else delay)
            with catalog.transaction():
                catalog.set_crawl_settings(crawl_id, settings.to_json())
    return _run(archive, crawl_id, on_capture, executor)


def find_crawl(catalog: Catalog, crawl_id: str) -> dict[str, Any]:
    """A crawl's row, or a one-line error naming the latest crawls there are."""
    row = catalog.crawl(crawl_id)
    if row is None:
        known = ", ".join(c["id"] for c in catalog.crawls(limit=5)) or "none yet"
        raise SnapshotNotFound(f"no crawl {crawl_id} in this archive (the latest: {known})")
    return row


def crawl_report(catalog: Catalog, crawl_id: str, captured: int = 0, failed: int = 0) -> CrawlReport:
    row = find_crawl(catalog, crawl_id)
    bounded: dict[str, int] = {}
    for r in catalog.db.execute("SELECT reason, count(*) FROM crawl_urls WHERE crawl = ? AND state = 'bounded'"
                                " GROUP BY reason ORDER BY count(*) DESC", (crawl_id,)):
        bounded[r[0]] = r[1]
    return CrawlReport(id=crawl_id, seeds=row["seeds"], settings=CrawlSettings.from_json(row["settings"]),
                       state=row["state"], note=row["note"], counts=row["counts"], bounded=bounded,
                       captured=captured, failed=failed)


def _run(archive: Archive, crawl_id: str, on_capture: Callable[[Capture], None] | None,
         executor: Any) -> CrawlReport:
    with archive.catalog() as catalog:
        row = catalog.crawl(crawl_id)
        assert row is not None
        settings = CrawlSettings.from_json(row["settings"])
    if settings.delay is not None and archive.fetch_options.host_delay != settings.delay:
        archive = archive.fetching_with(host_delay=settings.delay)  # the crawl's own politeness
    follow = _Follower(crawl_id, Scope(settings.scope, tuple(row["seeds"])), settings)
    _adopt_recovered(archive, crawl_id, follow)
    captured = failed = 0
    state, note = "done", None
    with archive.writing(), _stopped_on_interrupt(archive, crawl_id):
        while True:
            with archive.reader() as reader:
                taken = reader.frontier_count(crawl_id, "done", "failed", "blocked")
                room = BATCH if settings.limit is None else min(BATCH, settings.limit - taken)
                batch = reader.queued(crawl_id, room) if room > 0 else []
                left = reader.frontier_count(crawl_id, "queued")
            if not batch:
                if left:
                    state, note = "stopped", f"--limit {settings.limit} reached; {left} URL(s) still queued" \
                                             " (crawl --resume ID --limit N goes on)"
                break
            got = archive.capture([u.url for u in batch], on_record=follow, links=settings.depth > 0,
                                  browser=settings.browser, on_capture=on_capture, executor=executor)
            captured += len(got)
            failed += sum(c.verdict is Verdict.FAILED for c in got)
    with archive.catalog() as catalog:
        with catalog.transaction():
            catalog.set_crawl_state(crawl_id, state, note=note,
                                    finished=iso_seconds(archive.clock()))
        return crawl_report(catalog, crawl_id, captured, failed)


@contextlib.contextmanager
def _stopped_on_interrupt(archive: Archive, crawl_id: str) -> Iterator[None]:
    """A crawl interrupted (Ctrl-C, an error) says so rather than "running"."""
    try:
        yield
    except BaseException as exc:
        with archive.catalog() as catalog, catalog.transaction():
            catalog.set_crawl_state(crawl_id, "stopped", note=f"interrupted ({type(exc).__name__});"
                                    " crawl --resume ID goes on", finished=iso_seconds(archive.clock()))
        raise


def _adopt_recovered(archive: Archive, crawl_id: str, follow: _Follower) -> None:
    """Captures a killed crawl wrote to its WARC file but had not committed are
    listed by recovery, without their frontier rows: settle those rows now,
    with the links read back from the recorded page, so none is fetched again."""
    from ..capture.warc import read_record_at
    from ..cleaning.links import document_links

    with archive.catalog() as catalog:
        archive.recover(catalog)
        with catalog.transaction():
            since = catalog.mark_crawl_run(crawl_id)
            catalog.set_crawl_state(crawl_id, "running")
            # Captures since the last run began, of URLs still queued: the ones recovery listed.
            found = catalog.db.execute(
                "SELECT c.id FROM crawl_urls AS f JOIN captures AS c ON c.url = f.url WHERE f.crawl = ?"
                " AND f.state = 'queued' AND c.id > ? ORDER BY c.id", (crawl_id, since)).fetchall()
            for (capture_id,) in found:
                got = catalog.capture_by_id(capture_id)
                assert got is not None
                capture, record_id = got
                links: tuple[str, ...] = ()
                loc = catalog.record(record_id) if record_id else None
                if loc is not None and follow.settings.depth > 0:
                    try:
                        _http, body = read_record_at(archive.warc_dir / loc.warc_file, loc.offset,
                                                     archive.clean_options.max_html_bytes, record_id=loc.record_id)
                        links = document_links(body, capture.content_type, capture.final_url or capture.url)
                    except Exception as exc:  # a damaged record: the page is kept, its links are not followed
                        log.warning("%s: links of %s not read: %s", loc.warc_file, capture.url, exc)
                follow(catalog, replace(capture, links=links))


class _Follower:
    """Runs inside the transaction that records each capture: settles its
    frontier row and adds the links it found that are in scope, each either
    queued or stopped by a bound (which it names)."""

    def __init__(self, crawl_id: str, scope: Scope, settings: CrawlSettings) -> None:
        self.crawl_id = crawl_id
        self.scope = scope
        self.settings = settings
        self.include = [re.compile(p) for p in settings.include]
        self.exclude = [re.compile(p) for p in settings.exclude]

    def __call__(self, catalog: Catalog, capture: Capture) -> None:
        row = catalog.frontier_row(self.crawl_id, capture.url)
        if row is None:  # not this crawl's (cannot happen: it captures only its frontier)
            return
        state = {Verdict.BLOCKED: "blocked", Verdict.FAILED: "failed", Verdict.HTTP_ERROR: "failed"}.get(
            capture.verdict, "done")
        catalog.settle_frontier(self.crawl_id, capture.url, state,
                                reason=capture.reason if state != "done" else None, capture_id=capture.id)
        found: list[tuple[str, int, str | None, str, str | None, int]] = []
        if capture.final_url and capture.final_url != capture.url:
            # Where it redirected to is captured too: never queued again.
            found.append((capture.final_url, row.depth, capture.url, "done", "the target of a redirect", row.run))
        depth = row.depth + 1
        if depth <= self.settings.depth:
            variants: dict[str, int] = {}  # query variants of a path found on this page, not in the catalog yet
            for link in capture.links:
                queued = self._judge(catalog, link, capture.url, depth, row.run, variants)
                if queued is not None:
                    found.append(queued)
        if found:
            catalog.add_frontier(self.crawl_id, found)

    def _judge(self, catalog: Catalog, link: Link, parent: str, depth: int, run: int,
               variants: dict[str, int]) -> tuple[str, int, str | None, str, str | None, int] | None:
        url = link_target(link) if link.listing else self.scope.takes(link, depth)
        if url is None:
            return None
        if link.listing:  # a sitemap a robots.txt or sitemap index names: read whatever the scope
            return url, depth, parent, "queued", None, 0
        if self.include and not any(p.search(url) for p in self.include):
            return None
        if any(p.search(url) for p in self.exclude):
            return None
        if link.lastmod:
            last = catalog.current_timestamp(url)
            changed = timestamp_of_w3c(link.lastmod)
            if last and changed and last >= changed:
                return (url, depth, parent, "skipped",
                        f"unchanged since its capture at {last} (the sitemap's lastmod {link.lastmod[:25]})", 0)
        steps = run + 1 if digits_only_step(parent, url) else 0
        path, query = url.split("?", 1)[0], "?" in url
        known = catalog.query_variants(self.crawl_id, path) + variants.get(path, 0) if query else 0
        if query and catalog.frontier_row(self.crawl_id, url) is None:
            variants[path] = variants.get(path, 0) + 1
        why = self.settings.bounds.stops(url, steps, known)
        return url, depth, parent, "bounded" if why else "queued", why, steps
