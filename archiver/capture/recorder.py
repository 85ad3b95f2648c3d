"""The one way a capture is recorded: WARC records, snapshot file, metadata
record and catalog rows, together or not at all.

`Recorder.record` takes a group of entries (a capture's exchanges, or
records copied from another WARC file) and writes them in one transaction
with one fsync: the WARC data is durable before the commit that says it
exists, and a failure (a full disk) cuts the WARC file back and removes the
snapshot files the group made, so nothing half-exists. Capture, ingest and
the scheduler all record through here; reindex reads back what it writes
(`metadata_fields` / `capture_from_fields`).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ArchiverError, StoreError, WarcError
from ..models import Attachment, Capture, Exchange, Snapshot, StoredSnapshot, Verdict
from ..verdict import Observation, against_history, judge_cleaned, verdict_of
from ..significance import HISTORY_TEXTS, TEMPLATE_PAGES, ChangeRules, Significance, judge_change, line_keys
from .jobs import Cleaned
from ..archive.diff import ChangeSummary, summarize_change
from ..archive.catalog import Catalog
from ..archive.snapshots import read_snapshot, snapshot_digest, write_json_atomic
from ..archive.layout import WARC_DIR, text_file
from ..timeutil import parse_iso, timestamp14, utc_now
from ..urls import host_of
from .warc import RecordLocation, WarcWriter, check_record

__all__ = ["Entry", "Recorder", "SourceRecord", "capture_from_fields", "metadata_fields", "update_current",
           "write_failure"]

log = logging.getLogger(__name__)



@dataclass(frozen=True, kw_only=True)
class SourceRecord:
    """A record of another WARC (or ARC) file, to be copied into the archive."""

    path: Path
    offset: int
    length: int
    gzipped: bool
    record_id: str
    record_type: str
    url: str
    date: str  # WARC-Date as written
    timestamp: str  # 14 digits
    status_code: int | None = None
    content_type: str | None = None
    payload_digest: str | None = None
    refers_to: str | None = None
    arc: tuple[Any, bytes, bool] | None = None  # an ARC record: (HTTP headers, payload, cut short), rewritten as WARC


@dataclass(kw_only=True)
class Entry:
    """What to record: records to write (robots.txt exchanges first, then the
    hops of the fetch, or one copied record), and the capture they make, if
    any. The capture points at the last record of `records`."""

    records: list[Exchange | SourceRecord]
    robots: list[Exchange] = field(default_factory=list)
    capture: Capture | None = None  # judged: `new` means "has a text"
    snapshot: Snapshot | None = None
    resources: list[Exchange] = field(default_factory=list)  # a browser page's other exchanges
    attachments: list[Attachment] = field(default_factory=list)  # its screenshot and rendered DOM
    browser: str | None = None  # "Chromium 150...", when a browser fetched it
    provenance: dict[str, str | None] = field(default_factory=dict)  # how it was fetched (evidence/provenance.py)

    def judged(self, obs: Observation, cleaned: Cleaned | BaseException, reasons: tuple[str, ...] = ()) -> Entry:
        """This entry with the verdict of a cleaned response, the one stage
        capture and ingest share: the text kept when it has one, and a
        cleaning that failed (a worker lost) a `failed` capture of this page."""
        if isinstance(cleaned, BaseException):
            why = f"{type(cleaned).__name__}: {cleaned}" if str(cleaned) else type(cleaned).__name__
            self.capture = verdict_of(obs, Verdict.FAILED, reason=f"cleaning failed ({why})")
            return self
        self.capture = judge_cleaned(obs, cleaned.snapshot, problem=cleaned.problem, reasons=reasons)
        if cleaned.links:
            self.capture = replace(self.capture, links=cleaned.links)
        self.snapshot = cleaned.snapshot if self.capture.text_sha256 else None
        return self


OnRecord = Callable[[Catalog, Capture], None]


class Recorder:
    """The single writer of an archive's WARC records, snapshot files and catalog rows."""

    def __init__(self, root: Path, catalog: Catalog, writer: WarcWriter, *, on_record: OnRecord | None = None,
                 change_rules: ChangeRules | None = None) -> None:
        self.root = root
        self.change_rules = change_rules or ChangeRules()  # the command line's; a watch's own are added to them
        self.catalog = catalog
        self.writer = writer
        self.on_record = on_record
        self.problems: list[str] = []  # copied records that could not be copied, "FILE: offset N: why; skipped"
        self.copied = 0  # records copied from other files
        self.known = 0  # records to copy that the archive already had when their turn came
        self._sound: set[str] = set()  # originals read back whole in this process
        self._suffixes: dict[str, tuple[str, ...]] = {}  # host -> learned title suffixes

    def title_suffixes(self, url: str | None) -> tuple[str, ...]:
        """The site-name endings the host's other pages share (for `CleanJob`)."""
        host = host_of(url, site=True)
        if not host:
            return ()
        if host not in self._suffixes:
            self._suffixes[host] = self.catalog.title_suffixes(host, url=url)
        return self._suffixes[host]

    @property
    def warc_dir(self) -> Path:
        return self.root / WARC_DIR

    def record(self, entries: Sequence[Entry]) -> list[Capture | None]:
        """Write `entries` in one transaction and one fsync; the recorded
        capture of each (None for entries without one, or skipped)."""
        made: list[Path] = []
        mark = None
        out: list[Capture | None] = []
        try:
            mark = self.writer.begin()
            with self.catalog.transaction():
                for entry in entries:
                    out.append(self._one(entry, made))
                # The WARC is durable before the catalog commits that it exists.
                self.writer.flush()
        except BaseException as exc:
            if mark is not None:
                self.writer.rollback(mark)
            for path in made:
                path.unlink(missing_ok=True)
            url = next((e.capture.url for e in entries if e.capture is not None), "the records")
            raise write_failure(self.root, url, exc) from exc
        return out

    # -- one entry --------------------------------------------------------------

    def _one(self, entry: Entry, made: list[Path]) -> Capture | None:
        for ex in entry.robots:
            self._write_exchange(ex)
        loc = None
        for item in entry.records:
            if isinstance(item, Exchange):
                loc = self._write_exchange(item)
            else:
                loc = self._copy(item)
                if loc is None:
                    return None  # a broken source record: reported, and no capture from it
        for ex in entry.resources:
            self._write_exchange(ex)
        made_by: dict[str, str] = {}
        when = parse_iso(entry.capture.captured_at) if entry.capture else utc_now()
        for att in entry.attachments:
            res = self.writer.write_resource(att.uri, att.content_type, att.data, when=when,
                                             concurrent_to=loc.record_id if loc else None)
            self.catalog.add_record(res, url=att.uri, timestamp=timestamp14(when), status_code=None,
                                    content_type=att.content_type, payload_digest=None)
            made_by[att.uri.split(":", 2)[1]] = res.record_id  # "screenshot", "dom"
        if entry.capture is None:
            return None
        extra = {**entry.provenance, "browser": entry.browser, **made_by}
        capture, meta_id = self._store(entry.capture, entry.snapshot, loc, made, extra)
        capture = replace(capture, id=self.catalog.add_capture(
            capture, record_id=loc.record_id if loc else None, meta_record_id=meta_id))
        if self.on_record is not None:
            self.on_record(self.catalog, capture)
        return capture

    def _sound_original(self, url: str, digest: str) -> RecordLocation | None:
        """An earlier record of this payload that still reads back whole: a
        revisit must never point at a record a damaged file has lost."""
        while True:
            original = self.catalog.find_original(url, digest)
            if original is None or original.record_id in self._sound:
                return original
            problem = check_record(self.warc_dir / original.warc_file, original.offset, digest)
            if problem is None:
                self._sound.add(original.record_id)
                return original
            log.warning("%s: record at offset %d is damaged (%s); writing the payload again instead of a revisit",
                        original.warc_file, original.offset, problem)
            self.catalog.mark_damaged(original.record_id, problem)

    def _write_exchange(self, ex: Exchange) -> RecordLocation:
        original = None
        # Revisits only for whole, non-empty 200 payloads: an empty redirect
        # body or a truncated one is not worth pointing at.
        if ex.status_code == 200 and not ex.truncated and ex.body_length > 0:
            original = self._sound_original(ex.url, ex.payload_digest)
        request, loc = self.writer.write_exchange(ex, revisit_of=original)
        timestamp = timestamp14(ex.started)
        self.catalog.add_record(request, url=ex.url, timestamp=timestamp, status_code=None, content_type=None,
                                payload_digest=None)
        self.catalog.add_record(loc, url=ex.url, timestamp=timestamp, status_code=ex.status_code,
                                content_type=ex.content_type or None, payload_digest=ex.payload_digest,
                                refers_to=original.record_id if original else None)
        return loc

    def _copy(self, rec: SourceRecord) -> RecordLocation | None:
        # Checked again here, inside the transaction that records it: another
        # ingest of the same file may have recorded it since it was read.
        if rec.record_id and self.catalog.has_record(rec.record_id):
            self.known += 1
            return None
        try:
            if rec.arc is not None:
                http, raw, truncated = rec.arc
                loc = self.writer.write_converted(rec.url, rec.date, http, raw, record_id=rec.record_id,
                                                  truncated=truncated)
            else:
                loc = self.writer.copy_record(rec.path, rec.offset, rec.length, gzipped=rec.gzipped,
                                              record_id=rec.record_id, warc_date=rec.date,
                                              record_type=rec.record_type)
        except WarcError as exc:
            if isinstance(exc.__cause__, OSError):
                raise
            problem = f"{exc}; skipped"  # cut or broken inside its gzip member
            log.info("%s", problem)  # reported with the recorder's problems
            self.problems.append(problem)
            return None
        self.catalog.add_record(loc, url=rec.url, timestamp=rec.timestamp, status_code=rec.status_code,
                                content_type=rec.content_type, payload_digest=rec.payload_digest,
                                refers_to=rec.refers_to)
        self.copied += 1
        return loc

    def _note_change(self, capture: Capture, snap: Snapshot, old_path: str | None, previous: str | None) -> None:
        """The change's words, worked out once, for feeds and the dashboard."""
        s = _summary(self.root, old_path, snap.text)
        self.catalog.add_change(url=capture.url, timestamp=capture.timestamp, captured_at=capture.captured_at,
                                verdict=capture.verdict.value, title=snap.title, previous=previous,
                                added=s.added if s else None, removed=s.removed if s else None,
                                words_added=s.words_added if s else snap.word_count,
                                words_removed=s.words_removed if s else None)

    def _store(self, capture: Capture, snap: Snapshot | None, loc: RecordLocation | None,
               made: list[Path], extra: dict[str, str | None]) -> tuple[Capture, str]:
        """Decide new/changed/unchanged against the last good text, write the
        text's JSON file (once per distinct text), and the metadata record."""
        catalog = self.catalog
        if snap is not None and capture.text_sha256:
            sha = capture.text_sha256
            current = catalog.current_sha(capture.url)
            verdict = against_history(current, sha)
            why = None
            if verdict is Verdict.CHANGED and current is not None:
                significance = self._significance(capture.url, current, snap.text)
                if significance is not None and not significance.changed:
                    verdict = Verdict.UNCHANGED
                why = significance.reason if significance is not None else None
            path = catalog.text_path(sha)
            if path is None:
                path = text_file(sha)
                target = self.root / path
                if not target.exists():
                    made.append(target)
                data = _snapshot_json(snap, capture, sha, loc)
                write_json_atomic(target, data)
                digest = snapshot_digest(data)
                catalog.add_text(sha, path, title=snap.title, word_count=snap.word_count, url=capture.url,
                                 timestamp=capture.timestamp, snapshot_sha256=digest)
            else:
                digest = catalog.snapshot_digest(sha)
            extra = {**extra, "snapshot-sha256": digest}
            catalog.add_lines(sha, line_keys(snap.text), url=capture.url, site=host_of(capture.url, site=True))
            reason = "; ".join(r for r in (capture.reason, why) if r) or None
            capture = replace(capture, verdict=verdict, snapshot_file=path, reason=reason)
            previous = catalog.current_changed(capture.url) if verdict is Verdict.CHANGED else None
            old_path = catalog.text_path(current) if verdict is Verdict.CHANGED and current else None
            update_current(catalog, capture, title=snap.title, text=snap.text)
            catalog.add_version(capture.url, sha256=sha, timestamp=capture.timestamp, title=snap.title, text=snap.text)
            if verdict in (Verdict.NEW, Verdict.CHANGED):
                self._note_change(capture, snap, old_path, previous)
            host = host_of(capture.url, site=True)
            if host and snap.page_title:
                catalog.put_page_title(capture.url, host, snap.page_title)
                self._suffixes.pop(host, None)
        warc_file = f"{WARC_DIR}/{loc.warc_file}" if loc else None
        meta = self.writer.write_metadata(capture.url, {**metadata_fields(capture, loc), **extra},
                                          when=parse_iso(capture.captured_at),
                                          concurrent_to=loc.record_id if loc else None)
        catalog.add_record(meta, url=capture.url, timestamp=capture.timestamp, status_code=None, content_type=None,
                           payload_digest=None)
        return replace(capture, warc_file=warc_file or f"{WARC_DIR}/{meta.warc_file}"), meta.record_id


    def _lines_of(self, sha: str) -> frozenset[int] | None:
        """A text's line keys, from the catalog, else from its file (texts stored before lines were kept)."""
        keys = self.catalog.text_line_keys(sha)
        if keys is None:
            path = self.catalog.text_path(sha)
            try:
                keys = line_keys(read_snapshot(self.root / path).text) if path else None
            except StoreError:
                return None
            if keys:
                self.catalog.add_lines(sha, keys, url="", site=None)
        return keys

    def _significance(self, url: str, current: str, new_text: str) -> Significance | None:
        """Whether a text that differs from the current one is a change of
        the article (significance.py); None when the current text cannot be read."""
        old_path = self.catalog.text_path(current)
        try:
            old_text = read_snapshot(self.root / old_path).text if old_path else None
        except StoreError as exc:
            log.warning("%s: the current text cannot be read (%s); judged changed", url, exc)
            return None
        if old_text is None:
            return None
        shas = self.catalog.distinct_texts(url, limit=HISTORY_TEXTS + 1)
        if shas and shas[-1] == current:
            shas = shas[:-1]
        earlier = [keys for keys in (self._lines_of(s) for s in shas) if keys is not None]
        site = host_of(url, site=True)
        watch = self.catalog.watch(url)
        rules = self.change_rules
        if watch is not None and watch.change_rules:
            try:
                rules = rules.merged(ChangeRules.from_json(watch.change_rules))
            except ArchiverError as exc:
                log.warning("%s: the watch's change rules are not usable (%s); left out", url, exc)

        def template(keys: set[int]) -> set[int]:
            return self.catalog.template_lines(site, keys, url=url, pages=TEMPLATE_PAGES) if site else set()

        return judge_change(old_text, new_text, earlier=earlier, template=template, rules=rules)


def _summary(root: Path, old_path: str | None, new_text: str) -> ChangeSummary | None:
    if old_path is None:
        return None
    try:
        return summarize_change(read_snapshot(root / old_path).text, new_text)
    except (OSError, ValueError, StoreError) as exc:  # an unreadable old text: the change is still a change
        log.warning("words of the change unknown: %s", exc)
        return None


def update_current(catalog: Catalog, capture: Capture, *, title: str | None, text: str | Callable[[], str]) -> None:
    """Move the URL's current text forward to this good capture's. An older
    capture (ingested or reindexed late) never replaces a newer current
    text; an unchanged one only moves its time. `text` may be a function, to
    read it only when it is needed."""
    assert capture.text_sha256
    latest = catalog.current_timestamp(capture.url)
    if latest is not None and capture.timestamp < latest:
        return
    if catalog.current_sha(capture.url) == capture.text_sha256:
        catalog.touch_current(capture.url, capture.timestamp)
        return
    catalog.set_current(capture.url, sha256=capture.text_sha256, timestamp=capture.timestamp, title=title,
                        text=text() if callable(text) else text)


def _snapshot_json(snap: Snapshot, capture: Capture, sha: str, loc: RecordLocation | None) -> dict[str, object]:
    first = {"url": capture.url, "timestamp": capture.timestamp, "captured_at": capture.captured_at,
             "fetched_with": capture.via, **({"ingested_from": capture.source} if capture.source else {})}
    warc = None if loc is None else {"file": f"{WARC_DIR}/{loc.warc_file}", "offset": loc.offset,
                                     "length": loc.length, "record_id": loc.record_id, "type": loc.record_type}
    return StoredSnapshot.made(snap, sha=sha, first_captured=first, warc=warc).to_json()


def metadata_fields(capture: Capture, loc: RecordLocation | None) -> dict[str, object]:
    """What a capture's WARC metadata record says (`capture_from_fields` reads it back)."""
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
        "fetched-with": capture.via if capture.via != "http" else None,
        "record-id": loc.record_id if loc else None,
    }


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def capture_from_fields(fields: dict[str, str], *, url: str, warc_file: str) -> Capture | None:
    """The capture a metadata record describes; None for another tool's
    metadata record (or one too damaged to read)."""
    try:
        verdict = Verdict(fields["verdict"])
        rule_rot = tuple(json.loads(fields["rule-rot"])) if fields.get("rule-rot") else ()
    except (KeyError, ValueError):
        return None
    return Capture(
        url=fields.get("url") or url, final_url=fields.get("final-url"), status_code=_int(fields.get("status-code")),
        verdict=verdict, timestamp=fields.get("timestamp", ""), captured_at=fields.get("captured-at", ""),
        title=fields.get("title"), word_count=_int(fields.get("word-count")), warc_file=warc_file,
        content_type=fields.get("content-type"), reason=fields.get("reason"), text_sha256=fields.get("text-sha256"),
        snapshot_file=fields.get("snapshot"), rule_rot=rule_rot, source=fields.get("source"),
        via=fields.get("fetched-with") or "http",
    )


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
