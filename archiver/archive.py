"""An archive folder: the catalog, the WARC files, and capture into them.

    snapshots/
      catalog.sqlite     the catalog (derived data, WAL)
      warc/*.warc.gz     the evidence: every response fetched, errors included

`Archive.capture` runs fetch -> warc -> catalog for each URL. Fetching is
concurrent; everything that writes runs in this one process, one capture at a
time (the single writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import CleanOptions, FetchOptions, WarcOptions, archive_dir
from .diff import Diff, diff_snapshots
from .errors import ArchiverError, SnapshotNotFound, StoreError
from .fetch import fetch_urls, utc_now
from .models import Capture, Exchange, Fetched, Snapshot, Verdict
from .payload import decode_payload, looks_like_html
from .snapshot import clean_page
from .reindex import ReindexReport, index_warc_file, rebuild_catalog
from .store import Catalog, read_json, write_json_atomic
from .urls import check_url
from .warc import RecordLocation, WarcWriter, check_record, recover_open_files

__all__ = ["Archive", "Shown"]

log = logging.getLogger(__name__)

WARC_DIR = "warc"
TEXTS_DIR = "texts"
CATALOG = "catalog.sqlite"
SNAPSHOT_FORMAT = "archiver-snapshot-1"


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Archive:
    """An archive folder. `Archive()` uses `$ARCHIVER_HOME` or `./snapshots`."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        fetch_options: FetchOptions | None = None,
        warc_options: WarcOptions | None = None,
        clean_options: CleanOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] | None = None,
    ) -> None:
        self.path = archive_dir(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} exists and is not a folder")
        self.fetch_options = fetch_options or FetchOptions()
        self.warc_options = warc_options or WarcOptions()
        self.clean_options = clean_options or CleanOptions()
        self.clock = clock
        self._make_id = make_id
        self._writer: WarcWriter | None = None  # kept open across captures inside `writing()`
        self._sound: set[str] = set()  # originals read back whole in this process

    @property
    def warc_dir(self) -> Path:
        return self.path / WARC_DIR

    def exists(self) -> bool:
        return (self.path / CATALOG).exists()

    def read_only(self) -> bool:
        """True when this process cannot write the archive (read-only storage or permissions)."""
        where = self.path if self.path.exists() else self.path.parent
        if not os.access(where, os.W_OK):
            return True
        return self.exists() and not os.access(self.path / CATALOG, os.W_OK)

    def catalog(self) -> Catalog:
        """The catalog, for writing (created if new)."""
        if self.read_only():
            raise StoreError(f"{self.path} is read-only: it can be read (history, show, diff, search, export),"
                             " not written")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create archive folder {self.path}: {exc.strerror}") from exc
        return Catalog(self.path / CATALOG)

    def reader(self) -> Catalog:
        """The catalog, for reading; works on read-only storage too."""
        if not self.exists():
            raise StoreError(f"no archive at {self.path} (capture something first, or pass --archive)")
        return Catalog(self.path / CATALOG, readonly=self.read_only())

    # -- WARC files -----------------------------------------------------------

    def _new_writer(self) -> WarcWriter:
        opts = self.fetch_options
        info = {
            "operator": opts.contact,
            "http-header-user-agent": opts.agent,
            "robots": "obey" if opts.obey_robots else "ignore",
            "isPartOf": self.path.name,
        }
        kwargs = {"make_id": self._make_id} if self._make_id else {}
        return WarcWriter(self.warc_dir, self.warc_options, clock=self.clock, info=info, **kwargs)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Keep one WARC file open across `capture` calls (a `run --loop`),
        up to its size and age limits, instead of one file per call."""
        if self._writer is not None:
            yield
            return
        self._writer = self._new_writer()
        try:
            yield
        finally:
            writer, self._writer = self._writer, None
            writer.close()

    def close_old_warc(self) -> None:
        if self._writer is not None:
            self._writer.close_if_old()

    def recover(self, catalog: Catalog) -> None:
        """Finish what a killed process left: cut its WARC file back to the
        last whole record, then list in the catalog what that file holds."""
        for name in recover_open_files(self.warc_dir):
            with catalog.transaction():
                index_warc_file(catalog, self.path, self.warc_dir / name)

    # -- capturing ------------------------------------------------------------

    def capture(self, urls: Iterable[str], *, on_capture: Callable[[Capture], None] | None = None,
                on_record: Callable[[Catalog, Capture], None] | None = None,
                executor: Executor | None = None) -> list[Capture]:
        """Capture each URL once; results come back in the order given, while
        `on_capture` sees each as it finishes. Raises InvalidURL before
        fetching anything if one is malformed; network trouble is a `failed`
        verdict, not an error. `on_record(catalog, capture)` runs inside the
        transaction that records each capture, so whatever it writes (a
        watch's schedule, a notification) is committed with the capture or
        not at all. With an `executor` (a Dask cluster's, a process pool),
        pages are cleaned there while fetching goes on; this process still
        writes every record and row. A full disk stops the run with a
        StoreError; the capture it interrupted leaves nothing behind."""
        checked = [check_url(u) for u in urls]
        results: list[Capture | None] = [None] * len(checked)
        slots: dict[str, list[int]] = {}
        for i, u in enumerate(checked):
            slots.setdefault(u, []).append(i)
        catalog = self.catalog()
        try:
            self.recover(catalog)
        except BaseException:
            catalog.close()
            raise
        writer = self._writer or self._new_writer()

        async def on_done(fetched: Fetched) -> None:
            try:
                judged = self._judge(fetched)
                if isinstance(judged, _ToClean):
                    if executor is not None:
                        snap = await asyncio.wrap_future(executor.submit(
                            clean_page, judged.body, judged.url, options=self.clean_options,
                            status_code=judged.status_code, content_type=judged.content_type))
                    else:
                        snap = clean_page(judged.body, judged.url, options=self.clean_options,
                                          status_code=judged.status_code, content_type=judged.content_type)
                    judged = judge_snapshot(snap, judged.base, judged.reason)
                # No await from here on: one capture's records and rows are
                # written whole before the next one's.
                capture = self._record(fetched, judged, writer, catalog, on_record)
            finally:
                fetched.close()
            results[slots[fetched.url].pop(0)] = capture
            if on_capture is not None:
                on_capture(capture)

        try:
            fetch_urls(checked, on_done, self.fetch_options, clock=self.clock,
                       robots_cache=_CatalogRobots(catalog, self.clock))
        finally:
            try:
                if writer is not self._writer:
                    writer.close()
            finally:
                catalog.close()
        return [c for c in results if c is not None]

    # -- reading the archive ----------------------------------------------

    def history(self, url: str) -> list[Capture]:
        """Every capture of `url`, oldest first."""
        with self.reader() as catalog:
            captures = catalog.captures(url)
            if not captures:
                raise self._not_found(catalog, url)
            return captures

    def resolve(self, url: str, timestamp: str) -> Capture:
        """The one capture of `url` whose timestamp starts with `timestamp`
        (14 digits, or up to 20 with the microseconds of `captured_at`)."""
        with self.reader() as catalog:
            return self._resolve(catalog, url, timestamp)

    def _resolve(self, catalog: Catalog, url: str, timestamp: str) -> Capture:
        found = catalog.find_captures(url, timestamp)
        if not found:
            if not catalog.captures(url):
                raise self._not_found(catalog, url)
            raise SnapshotNotFound(f"no capture of {url} at {timestamp}")
        if len(found) > 1:
            if len({c.timestamp for c in found}) == 1:
                # Two captures in one second: the microseconds tell them apart.
                shown = ", ".join(c.precise_timestamp for c in found[:5])
                raise StoreError(f"{len(found)} captures of {url} at {found[0].timestamp} (the same second):"
                                 f" give the microseconds too, one of {shown}")
            stamps = sorted({c.timestamp for c in found})
            shown = ", ".join(stamps[:5]) + (" …" if len(stamps) > 5 else "")
            raise StoreError(f"timestamp {timestamp} is ambiguous for {url}: {shown}")
        return found[0]

    def show(self, url: str, at: str | None = None) -> Shown:
        """The current snapshot of `url`, or the one in force at `at`: the
        last good text at or before that capture (an error never replaces it)."""
        with self.reader() as catalog:
            asked = self._resolve(catalog, url, at) if at else None
            good = catalog.good_captures(url, up_to=asked)
            if not good:
                if not catalog.captures(url):
                    raise self._not_found(catalog, url)
                raise SnapshotNotFound(f"no good capture of {url}" + (f" at or before {at}" if at else "")
                                       + ": only errors so far (see 'archiver history')")
            shown = good[-1]
            assert shown.snapshot_file is not None
            return Shown(capture=shown, asked=asked or shown, data=read_json(self.path / shown.snapshot_file))

    def diff(self, url: str, a: str | None = None, b: str | None = None) -> Diff:
        """What changed between two snapshots of `url`: by default the last two
        distinct good texts; `a`/`b` pick captures by timestamp prefix."""
        with self.reader() as catalog:
            return self.diff_in(catalog, url, a, b)

    def diff_in(self, catalog: Catalog, url: str, a: str | None = None, b: str | None = None) -> Diff:
        """`diff` through an open catalog (inside a capture's transaction, a
        change can be described before it is committed)."""
        good = catalog.good_captures(url)
        if not good:
            raise self._not_found(catalog, url) if not catalog.captures(url) else SnapshotNotFound(
                f"no good capture of {url} to compare")
        newer = self._good_at(catalog, url, b) if b else good[-1]
        if a:
            older = self._good_at(catalog, url, a)
        else:
            upto = good[: good.index(newer) + 1]
            before = [c for c in upto if c.text_sha256 != newer.text_sha256]
            if not before:
                raise SnapshotNotFound(f"{url} has one distinct text so far: nothing to compare")
            older = before[-1]
        assert older.snapshot_file and newer.snapshot_file
        return diff_snapshots(read_json(self.path / older.snapshot_file), read_json(self.path / newer.snapshot_file),
                              older=older, newer=newer)

    def _good_at(self, catalog: Catalog, url: str, timestamp: str) -> Capture:
        asked = self._resolve(catalog, url, timestamp)
        good = catalog.good_captures(url, up_to=asked)
        if not good:
            raise SnapshotNotFound(f"no good capture of {url} at or before {asked.timestamp}")
        return good[-1]

    def search(self, query: str, limit: int = 20) -> list[dict[str, object]]:
        if limit < 1:
            raise StoreError("limit must be at least 1")
        with self.reader() as catalog:
            return catalog.search(query, limit)

    def reindex(self) -> ReindexReport:
        """Rebuild the captures part of the catalog from the WARC and snapshot
        files. Watches, leases, the notification outbox and the robots.txt
        cache are operational state, not derived data: they are kept."""
        if not self.warc_dir.is_dir():
            raise StoreError(f"{self.path} holds no WARC files to index")
        if self.read_only():
            raise StoreError(f"{self.path} is read-only: reindex writes a new catalog")
        recover_open_files(self.warc_dir)
        return rebuild_catalog(self.path, CATALOG)

    @staticmethod
    def _not_found(catalog: Catalog, url: str) -> SnapshotNotFound:
        near = catalog.similar_url(url)
        hint = f" (did you mean {near}?)" if near else ""
        return SnapshotNotFound(f"{url} is not in the archive{hint}")

    # -- one fetched URL -> WARC records + snapshot + catalog rows ----------

    def _sound_original(self, catalog: Catalog, url: str, digest: str) -> RecordLocation | None:
        """An earlier record of this payload that still reads back whole: a
        revisit must never point at a record a damaged file has lost."""
        while True:
            original = catalog.find_original(url, digest)
            if original is None or original.record_id in self._sound:
                return original
            problem = check_record(self.warc_dir / original.warc_file, original.offset, digest)
            if problem is None:
                self._sound.add(original.record_id)
                return original
            log.warning("%s: record at offset %d is damaged (%s); writing the payload again instead of a revisit",
                        original.warc_file, original.offset, problem)
            catalog.mark_damaged(original.record_id, problem)

    def _write(self, ex: Exchange, writer: WarcWriter, catalog: Catalog) -> RecordLocation:
        original = None
        # Revisits only for whole, non-empty 200 payloads: an empty redirect
        # body or a truncated one is not worth pointing at.
        if ex.status_code == 200 and not ex.truncated and ex.body_length > 0:
            original = self._sound_original(catalog, ex.url, ex.payload_digest)
        request, loc = writer.write_exchange(ex, revisit_of=original)
        timestamp = _timestamp(ex.started)
        catalog.add_record(request, url=ex.url, timestamp=timestamp, status_code=None, content_type=None,
                           payload_digest=None)
        catalog.add_record(loc, url=ex.url, timestamp=timestamp, status_code=ex.status_code,
                           content_type=ex.content_type or None, payload_digest=ex.payload_digest,
                           refers_to=original.record_id if original else None)
        return loc

    def _record(self, fetched: Fetched, judged: _Judged, writer: WarcWriter, catalog: Catalog,
                on_record: Callable[[Catalog, Capture], None] | None = None) -> Capture:
        """Write one capture's records, snapshot file and rows as one unit:
        on any failure (a full disk, a catalog error) the WARC is cut back,
        a snapshot file made for it is removed, and nothing is committed."""
        mark = None
        made: list[Path] = []
        try:
            mark = writer.begin()
            with catalog.transaction():
                for ex in fetched.robots:
                    self._write(ex, writer, catalog)
                final_loc = None
                for ex in fetched.exchanges:
                    final_loc = self._write(ex, writer, catalog)
                capture, meta_id = self._store(judged, final_loc, writer, catalog, made=made)
                capture = replace(capture, id=catalog.add_capture(
                    capture, record_id=final_loc.record_id if final_loc else None, meta_record_id=meta_id))
                if on_record is not None:
                    on_record(catalog, capture)
                # The WARC is durable before the catalog commits that it exists.
                writer.flush()
        except BaseException as exc:
            if mark is not None:
                writer.rollback(mark)
            for path in made:
                path.unlink(missing_ok=True)
            raise write_failure(self.path, fetched.url, exc) from exc
        return capture

    def _judge(self, fetched: Fetched) -> _Judged | _ToClean:
        final = fetched.final
        when = final.started if final else (fetched.started or self.clock())
        base = dict(
            url=fetched.url,
            final_url=final.url if final else None,
            status_code=final.status_code if final else None,
            timestamp=_timestamp(when),
            captured_at=_iso(when),
            content_type=(final.content_type or None) if final else None,
        )
        if fetched.blocked:
            return _Judged(Capture(verdict=Verdict.BLOCKED, reason=fetched.blocked, **base))
        if fetched.error or final is None:
            return _Judged(Capture(verdict=Verdict.FAILED, reason=fetched.error or "no response", **base))
        if final.status_code >= 400:
            return _Judged(Capture(verdict=Verdict.HTTP_ERROR, reason=f"HTTP {final.status_code} {final.reason}".strip(), **base))
        if not 200 <= final.status_code < 300:
            return _Judged(Capture(verdict=Verdict.HTTP_ERROR, reason=f"HTTP {final.status_code} without a usable Location", **base))
        reasons = ["body cut at the size cap"] if final.truncated else []
        # Sniff from the first bytes: a 30 MB PDF is never read into memory.
        head = decode_payload(final, 1024)
        if not looks_like_html(final.header("content-type"), head.data):
            return _Judged(Capture(verdict=Verdict.NOT_HTML, reason="; ".join(reasons) or None, **base))
        payload = decode_payload(final, self.clean_options.max_html_bytes)
        if payload.problem and not payload.data:
            return _Judged(Capture(verdict=Verdict.SOFT_ERROR, reason=f"the body could not be decoded ({payload.problem})",
                                   word_count=0, **base))
        if payload.problem:
            reasons.append(f"cleaned the first {len(payload.data)} bytes: {payload.problem}")
        return _ToClean(body=payload.data, url=final.url, status_code=final.status_code,
                        content_type=final.header("content-type"), base=base, reason="; ".join(reasons) or None)

    def _store(self, judged: _Judged, loc: RecordLocation | None, writer: WarcWriter,
               catalog: Catalog, *, made: list[Path] | None = None) -> tuple[Capture, str]:
        """Decide new/changed/unchanged against the last good text, write the
        text's JSON file (once per distinct text), and the metadata record.
        Files it creates are listed in `made`, for the caller to remove if
        the transaction fails."""
        capture, snap = judged.capture, judged.snapshot
        if snap is not None and capture.text_sha256:
            sha = capture.text_sha256
            current = catalog.current_sha(capture.url)
            verdict = Verdict.NEW if current is None else (Verdict.UNCHANGED if current == sha else Verdict.CHANGED)
            path = catalog.text_path(sha)
            if path is None:
                path = f"{TEXTS_DIR}/{sha[:2]}/{sha}.json"
                target = self.path / path
                if made is not None and not target.exists():
                    made.append(target)
                write_json_atomic(target, _snapshot_json(snap, capture, sha, loc))
                catalog.add_text(sha, path, title=snap.title, word_count=snap.word_count, url=capture.url,
                                 timestamp=capture.timestamp)
            latest = catalog.current_timestamp(capture.url)
            if verdict is Verdict.UNCHANGED:
                catalog.touch_current(capture.url, capture.timestamp)
            elif latest is not None and capture.timestamp < latest:
                pass  # an older capture (ingested late) never replaces a newer current text
            else:
                catalog.set_current(capture.url, sha256=sha, timestamp=capture.timestamp, title=snap.title,
                                    text=snap.text)
            capture = replace(capture, verdict=verdict, snapshot_file=path)
        warc_file = f"{WARC_DIR}/{loc.warc_file}" if loc else None
        meta = writer.write_metadata(capture.url, _metadata_fields(capture, loc), when=_parse_iso(capture.captured_at),
                                     concurrent_to=loc.record_id if loc else None)
        catalog.add_record(meta, url=capture.url, timestamp=capture.timestamp, status_code=None, content_type=None,
                           payload_digest=None)
        return replace(capture, warc_file=warc_file or f"{WARC_DIR}/{meta.warc_file}"), meta.record_id


def write_failure(archive: Path, url: str, exc: BaseException) -> BaseException:
    """What a failed write becomes on its way out: one line that says what
    happened and that the archive is intact (the capture left nothing)."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
        return exc
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, (OSError, sqlite3.Error)):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return exc if isinstance(exc, ArchiverError) else StoreError(f"capturing {url}: {exc}")
    if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why = "the disk is full" if cause.errno != errno.EFBIG else "a file grew past the size this process may write"
    elif isinstance(cause, sqlite3.Error) and "full" in str(cause):
        why = "the disk is full"
    elif isinstance(cause, OSError) and cause.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = f"the archive is not writable ({cause.strerror})"
    else:
        why = str(cause.strerror if isinstance(cause, OSError) and cause.strerror else cause)
    return StoreError(f"cannot write to {archive}: {why}; the capture of {url} was not kept"
                      " (everything archived before it is intact)")


ROBOTS_TTL = 24 * 3600  # RFC 9309 2.4: a robots.txt may be cached for a day


class _CatalogRobots:
    """robots.txt answers kept in the catalog between runs, for a day."""

    def __init__(self, catalog: Catalog, clock: Callable[[], datetime]) -> None:
        self.catalog, self.clock = catalog, clock

    def _now(self) -> float:
        return self.clock().replace(tzinfo=timezone.utc).timestamp()

    def get(self, key: str) -> tuple[int, bytes] | None:
        return self.catalog.robots_get(key, newer_than=self._now() - ROBOTS_TTL)

    def put(self, key: str, status: int, body: bytes) -> None:
        self.catalog.robots_put(key, status, body, now=self._now())


@dataclass
class Shown:
    capture: Capture  # the capture whose text this is
    asked: Capture  # the capture asked for (an error capture shows the text before it)
    data: dict[str, object]  # the snapshot file


@dataclass
class _ToClean:
    """A page to clean before its verdict: plain data, so it can travel."""

    body: bytes
    url: str
    status_code: int
    content_type: str | None
    base: dict[str, Any]
    reason: str | None


@dataclass
class _Judged:
    capture: Capture
    snapshot: Snapshot | None = None


def judge_snapshot(snap: Snapshot, base: dict[str, Any], reason: str | None) -> _Judged:
    """A cleaned 2xx page's verdict before it meets the archive's history
    (`new` stands for "has a text"; the store makes it changed/unchanged)."""
    if snap.status == "not_html":
        return _Judged(Capture(verdict=Verdict.NOT_HTML, reason=reason, **base))
    common = dict(title=snap.title, rule_rot=snap.rule_rot, **base)
    if snap.status == "error_stub":
        verdict = Verdict.BLOCKED if snap.error_kind == "wall" else Verdict.SOFT_ERROR
        return _Judged(Capture(verdict=verdict, reason=snap.error, word_count=0, **common))
    if snap.status == "empty":
        return _Judged(Capture(verdict=Verdict.SOFT_ERROR, reason="no article text found", word_count=0, **common))
    sha = hashlib.sha256(snap.text.encode("utf-8")).hexdigest()
    capture = Capture(verdict=Verdict.NEW, reason=reason, word_count=snap.word_count, text_sha256=sha, **common)
    return _Judged(capture, snap)


def _parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def _snapshot_json(snap: Snapshot, capture: Capture, sha: str, loc: RecordLocation | None) -> dict[str, object]:
    data = snap.to_json()
    data.pop("error", None)
    data.pop("status", None)
    return {
        "format": SNAPSHOT_FORMAT,
        "text_sha256": sha,
        **data,
        "first_captured": {"url": capture.url, "timestamp": capture.timestamp, "captured_at": capture.captured_at,
                           **({"ingested_from": capture.source} if capture.source else {})},
        "warc": None if loc is None else {"file": f"{WARC_DIR}/{loc.warc_file}", "offset": loc.offset,
                                          "length": loc.length, "record_id": loc.record_id, "type": loc.record_type},
    }


def _metadata_fields(capture: Capture, loc: RecordLocation | None) -> dict[str, object]:
    return {
        "url": capture.url,
        "verdict": capture.verdict.value,
        "timestamp": capture.timestamp,
        "captured-at": capture.captured_at,
        "status-code": capture.status_code,
        "final-url": capture.final_url,
        "content-type": capture.content_type,
        "title": capture.title,
        "word-count": capture.word_count,
        "text-sha256": capture.text_sha256,
        "snapshot": capture.snapshot_file,
        "reason": capture.reason,
        "rule-rot": json.dumps(list(capture.rule_rot)) if capture.rule_rot else None,
        "source": capture.source,
        "record-id": loc.record_id if loc else None,
    }
