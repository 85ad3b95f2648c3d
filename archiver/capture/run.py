"""A capture run: the event loop only fetches, processes clean, one thread records.

    asyncio loop  ──Fetched──▶  recording thread  ──CleanJob──▶  executor
    (fetch only)                judge, record    ◀──Cleaned───  (process pool,
                                (group commits)                  Dask, or inline)

The loop never waits for CPU or a disk: it hands each fetched URL to the
recording thread and goes on. That thread judges what needs no cleaning,
sends pages to the executor, and records whatever is ready in one
transaction with one fsync (each capture durable before it is reported).
Backpressure: at most `max_pending` URLs are fetched and not yet recorded,
so memory stays bounded when fetching outruns cleaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import BrowserOptions, CleanOptions, FetchOptions
from ..errors import StoreError
from .fetch import Fetcher, first_error
from ..verdict import Observation, judge_fetched, judge_response, observe, verdict_of
from ..significance import ChangeRules
from ..models import Capture, Fetched, Verdict
from ..cleaning.payload import decode_payload, document_kind
from ..evidence.provenance import capture_settings, provenance_fields, software
from .recorder import Entry, OnRecord, Recorder
from .jobs import Cleaned, CleanJob, clean_job
from ..archive.catalog import Catalog
from ..timeutil import to_epoch
from .warc import WarcWriter

__all__ = ["CaptureRun", "ROBOTS_TTL"]

log = logging.getLogger(__name__)

ROBOTS_TTL = 24 * 3600  # RFC 9309 2.4: a robots.txt may be cached for a day
GROUP_LINGER = 0.05  # seconds a recorded capture may wait for others to share its commit
GROUP_MAX = 32  # captures in one commit at most
RAW_MARGIN = 64 * 1024  # read this much past the cleaning cap, so a stream's end is seen when it is there


class _Stopped(Exception):
    """Fetching stops: the recording thread failed (its error is the one raised)."""


@dataclass
class _Waiting:
    """A fetched URL whose page is being cleaned."""

    fetched: Fetched
    obs: Observation
    reasons: tuple[str, ...]
    kind: str  # "html" | "pdf" | "text"


def _naming_the_rest(error: BaseException, urls: list[str], results: list[Capture | None]) -> BaseException:
    """A failed write (a full disk) stops the run: its message names the
    URL being recorded; the other URLs left without a capture are named too."""
    if not isinstance(error, StoreError):
        return error
    said = str(error)
    rest = [u for u in dict.fromkeys(u for u, c in zip(urls, results) if c is None) if u not in said]
    if not rest:
        error.not_captured = rest  # type: ignore[attr-defined]
        return error
    shown = ", ".join(rest[:5]) + (f" and {len(rest) - 5} more" if len(rest) > 5 else "")
    named = StoreError(f"{said}; not captured either: {shown}")
    named.not_captured = rest  # type: ignore[attr-defined]
    return named


class CaptureRun:
    """One call of `Archive.capture`: fetch `urls`, clean, record."""

    def __init__(self, *, root: Path, catalog_path: Path, writer: WarcWriter, fetch_options: FetchOptions,
                 clean_options: CleanOptions, clock: Callable[[], datetime], executor: Executor | None,
                 on_capture: Callable[[Capture], None] | None = None, on_record: OnRecord | None = None,
                 max_pending: int = 64, browser_options: BrowserOptions | None = None,
                 use_browser: Callable[[str], bool] | None = None,
                 credentials: Callable[[str], Any] | None = None, change_rules: ChangeRules | None = None,
                 collect_links: bool = False) -> None:
        self.root = root
        self.collect_links = collect_links  # each cleaned page's links on its Capture (a crawl follows them)
        self.change_rules = change_rules  # the command line's --ignore, --trigger, --min-words
        self.credentials = credentials  # the credential set each URL is fetched with (capture/credentials.py)
        self.catalog_path = catalog_path
        self.writer = writer
        self.fetch_options = fetch_options
        self.clean_options = clean_options
        self.clock = clock
        self.executor = executor
        self.on_capture = on_capture
        self.on_record = on_record
        self.max_pending = max_pending
        self.browser_options = browser_options or BrowserOptions()
        # Provenance: the same for every capture of this run.
        self._settings = capture_settings(fetch_options, self.browser_options)
        self._software = software()
        self.use_browser = use_browser  # which URLs are loaded in Chromium (None: none)
        self.inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        # Set when the recording thread is done. Waited on instead of
        # Thread.join: a join that Ctrl-C interrupted leaves the thread
        # marked as ended while it still runs (CPython 3.11), so a second
        # join returned at once while the recorder still wrote.
        self._recorded = threading.Event()
        self.error: BaseException | None = None
        self.recorder: Recorder | None = None  # the recording thread's, once it runs
        self._release: Callable[[int], None] = lambda n: None
        self._wake_all: Callable[[], None] = lambda: None

    # -- the caller's thread: the event loop ------------------------------------

    def run(self, urls: list[str]) -> list[Capture]:
        results: list[Capture | None] = [None] * len(urls)
        slots: dict[str, list[int]] = {}
        for i, u in enumerate(urls):
            slots.setdefault(u, []).append(i)

        def place(capture: Capture) -> None:
            results[slots[capture.url].pop(0)] = capture

        reader = Catalog(self.catalog_path)  # for robots.txt answers kept from earlier runs
        thread = threading.Thread(target=self._record_loop, args=(place,), name="archiver-recorder", daemon=True)
        thread.start()
        try:
            try:
                asyncio.run(self._fetch(urls, reader))
            except BaseExceptionGroup as group:
                raise first_error(group) from None
            finally:
                reader.close()
            self.inbox.put(("end",))
            self._recorded.wait()
        except BaseException as exc:
            # Interrupted (while fetching, or once only cleaning was left), or
            # the recording thread failed: it records what is already cleaned,
            # drops the rest, and stops; this returns only once it has (the
            # caller closes the files it writes to).
            self.inbox.put(("stop",))
            self._recorded.wait()
            if self.error is not None and not isinstance(exc, KeyboardInterrupt):
                raise _naming_the_rest(self.error, urls, results) from None
            raise
        if self.error is not None:
            raise _naming_the_rest(self.error, urls, results)
        return [c for c in results if c is not None]

    async def _fetch(self, urls: list[str], reader: Catalog) -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.max_pending)

        def release(n: int) -> None:
            for _ in range(n):
                gate.release()

        def wake_all() -> None:
            release(len(urls) + self.max_pending)

        def threadsafe(fn: Callable[..., None], *args: Any) -> None:
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:
                pass  # the loop is done fetching: nothing waits on it any more

        self._release = lambda n: threadsafe(release, n)
        self._wake_all = lambda: threadsafe(wake_all)

        async def admit() -> None:
            await gate.acquire()
            if self.error is not None:
                raise _Stopped()

        async def hand_over(fetched: Fetched) -> None:
            if self.error is not None:
                fetched.close()
                raise _Stopped()
            self.inbox.put(("fetched", fetched))

        robots = _RobotsCache(reader, self.inbox, self.clock)
        wanted = self.use_browser
        async with contextlib.AsyncExitStack() as stack:
            browser = None
            if wanted is not None and any(wanted(u) for u in urls):
                from .browser import BrowserSession  # Playwright only when a page needs it

                browser = await stack.enter_async_context(
                    BrowserSession(self.browser_options, self.fetch_options, clock=self.clock))
            fetcher = await stack.enter_async_context(
                Fetcher(self.fetch_options, clock=self.clock, robots_cache=robots, browser=browser, use_browser=wanted,
                        credentials=self.credentials))
            await fetcher.fetch_all(urls, hand_over, admit=admit)

    # -- the recording thread ---------------------------------------------------

    def _record_loop(self, place: Callable[[Capture], None]) -> None:
        catalog = None
        waiting = 0
        feeding = True
        stopped = False
        ready: list[tuple[Fetched, Entry]] = []

        def take(message: tuple[Any, ...]) -> None:
            nonlocal waiting, feeding, stopped
            kind = message[0]
            if stopped and kind in ("fetched", "cleaned"):
                # Dropped, as the stop said; and not counted against `waiting`
                # (a cleaned page arriving just after the stop, as Dask's come
                # in bursts, once made it negative: the loop waited forever).
                (message[1] if kind == "fetched" else message[1].fetched).close()
                return
            if kind == "fetched":
                item = self._prepare(message[1])
                if isinstance(item, Entry):
                    ready.append((message[1], item))
                elif self.executor is None:
                    ready.append((item.fetched, self._entry(item, self._clean_here(item))))
                else:
                    waiting += 1
                    self._submit(item)
            elif kind == "cleaned":
                waiting -= 1
                item, future = message[1], message[2]
                ready.append((item.fetched, self._entry(item, self._result(item, future))))
            elif kind == "robots":
                _, key, status, body, now = message
                catalog.robots_put(key, status, body, now=now)
            elif kind == "end":
                feeding = False
            elif kind == "stop":
                stopped, feeding, waiting = True, False, 0  # cleaning still under way is dropped

        try:
            catalog = Catalog(self.catalog_path)
            recorder = self.recorder = Recorder(self.root, catalog, self.writer, on_record=self.on_record,
                                                change_rules=self.change_rules)
            while feeding or waiting:
                take(self.inbox.get())
                # Then whatever else has arrived. Pages come back from the
                # workers one at a time: while others are being cleaned, a
                # capture ready now waits a moment for the next ones, to
                # share their commit and fsync (a commit each costs more
                # than cleaning gains on a small machine).
                deadline = time.monotonic() + GROUP_LINGER
                while True:
                    linger = ready and waiting and len(ready) < GROUP_MAX
                    left = deadline - time.monotonic() if linger else 0.0
                    try:
                        take(self.inbox.get(timeout=left) if left > 0 else self.inbox.get_nowait())
                    except queue.Empty:
                        break
                if ready:
                    group, ready[:] = list(ready), []
                    self._record(recorder, group, place)
        except BaseException as exc:
            self.error = exc
            self._wake_all()
        finally:
            try:
                if catalog is not None:
                    catalog.close()
                for fetched, _ in ready:
                    fetched.close()
                self._drain()
            finally:
                self._recorded.set()  # whatever happened: the capture waits for this

    def _record(self, recorder: Recorder, ready: list[tuple[Fetched, Entry]],
                place: Callable[[Capture], None]) -> None:
        try:
            captures = recorder.record([entry for _, entry in ready])
        finally:
            for fetched, _ in ready:
                fetched.close()
        self._release(len(ready))
        for capture in captures:
            assert capture is not None
            place(capture)
            if self.on_capture is not None:
                self.on_capture(capture)

    def _drain(self) -> None:
        """Close what is left in the inbox (after a failure or a stop)."""
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if message[0] == "fetched":
                message[1].close()
            elif message[0] == "cleaned":
                message[1].fetched.close()

    def _prepare(self, fetched: Fetched) -> Entry | _Waiting:
        """Judge what needs no cleaning; the rest waits for its page to be cleaned."""
        obs = observe(fetched, self.clock())
        entry = _entry_of(fetched, self._settings, self._software)
        judged = judge_fetched(fetched, obs)
        if judged is not None:
            entry.capture = judged
            return entry
        final = fetched.final
        assert final is not None
        reasons = ("body cut at the size cap",) if final.truncated else ()
        # Sniff from the first bytes: a 30 MB video is never read into memory.
        head = decode_payload(final, 1024).data
        judged = judge_response(obs, head, reasons=reasons)
        if judged is not None:
            if self.collect_links and judged.verdict is Verdict.NOT_HTML and _may_list(head):
                judged = replace(judged, links=self._listed(final))
            entry.capture = judged
            return entry
        kind = document_kind(final.header("content-type"), head) or "html"
        if kind == "pdf" and (final.truncated or final.body_length > self.clean_options.max_document_bytes):
            entry.capture = verdict_of(obs, Verdict.NOT_HTML, reason="a PDF too large (or cut at the size cap) to"
                                       " clean: archived whole, not cleaned")
            return entry
        return _Waiting(fetched=fetched, obs=obs, reasons=reasons, kind=kind)

    @staticmethod
    def _listed(final: Any) -> tuple[Any, ...]:
        """What a sitemap or feed (kept whole, not cleaned) lists, for a crawl."""
        from ..cleaning.listings import MAX_LISTING_BYTES, listed_links

        return listed_links(decode_payload(final, MAX_LISTING_BYTES).data, final.header("content-type"), final.url)

    def _job(self, item: _Waiting) -> CleanJob:
        final = item.fetched.final
        assert final is not None
        body = final.body
        body.seek(0)
        opts = self.clean_options
        suffixes = self.recorder.title_suffixes(final.url) if self.recorder else ()
        if item.fetched.rendered is not None and item.kind == "html":
            # A browser capture: the DOM as the page's scripts left it.
            return CleanJob(url=final.url, body=item.fetched.rendered[: opts.max_html_bytes],
                            content_type="text/html; charset=utf-8", kind="html", status_code=final.status_code,
                            headers=tuple(final.response_headers), title_suffixes=suffixes, links=self.collect_links)
        raw = body.read((opts.max_document_bytes if item.kind == "pdf" else opts.max_html_bytes) + RAW_MARGIN)
        body.seek(0)
        return CleanJob(url=final.url, body=raw, content_encoding=final.header("content-encoding"),
                        content_type=final.header("content-type"), kind=item.kind, status_code=final.status_code,
                        headers=tuple(final.response_headers), cut=len(raw) < final.body_length,
                        title_suffixes=suffixes, links=self.collect_links)

    def _submit(self, item: _Waiting) -> None:
        assert self.executor is not None
        try:
            future = self.executor.submit(clean_job, self._job(item), self.clean_options)
        except Exception as exc:  # no worker left to take it: the page is kept, its cleaning failed
            future = Future()
            future.set_exception(exc)
        future.add_done_callback(lambda f: self.inbox.put(("cleaned", item, f)))

    def _clean_here(self, item: _Waiting) -> Cleaned:
        return clean_job(self._job(item), self.clean_options)

    def _result(self, item: _Waiting, future: Future[Cleaned]) -> Cleaned | BaseException:
        try:
            return future.result()
        except Exception as exc:  # a worker died (killed, out of memory): this page, not the run
            log.info("cleaning %s failed: %s", item.obs.url, exc)  # its capture's reason says so
            return exc

    def _entry(self, item: _Waiting, cleaned: Cleaned | BaseException) -> Entry:
        return _entry_of(item.fetched, self._settings, self._software).judged(item.obs, cleaned, item.reasons)


def _may_list(head: bytes) -> bool:
    """A response's first bytes could be a sitemap or a feed (XML, JSON, or gzipped)."""
    start = head[:2] == b"\x1f\x8b" or head.lstrip()[:1] in (b"<", b"{")
    return start and (head[:2] == b"\x1f\x8b" or any(k in head.lower() for k in (
        b"<urlset", b"<sitemapindex", b"<rss", b"<feed", b"<rdf:rdf", b'"items"', b"jsonfeed")))


def _entry_of(fetched: Fetched, settings: tuple[str, str], software_line: str) -> Entry:
    return Entry(records=list(fetched.exchanges), robots=list(fetched.robots), resources=list(fetched.resources),
                 attachments=list(fetched.attachments), browser=fetched.browser,
                 provenance=provenance_fields(fetched, settings, software_line))


class _RobotsCache:
    """robots.txt answers kept in the catalog between runs, for a day: read
    here (a read never waits on the writer), written by the recording thread."""

    def __init__(self, catalog: Catalog, inbox: queue.Queue[tuple[Any, ...]], clock: Callable[[], datetime]) -> None:
        self.catalog, self.inbox, self.clock = catalog, inbox, clock

    def get(self, key: str) -> tuple[int, bytes] | None:
        return self.catalog.robots_get(key, newer_than=to_epoch(self.clock()) - ROBOTS_TTL)

    def put(self, key: str, status: int, body: bytes) -> None:
        self.inbox.put(("robots", key, status, body, to_epoch(self.clock())))
