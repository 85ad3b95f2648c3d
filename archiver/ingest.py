"""Ingest WARC files written by other tools (wget, Heritrix, browsertrix,
Common Crawl): copy their records into the archive's own WARC files, and
clean every HTML response into a snapshot with its verdict.

Records are copied byte for byte (gzip members as they are; an uncompressed
record becomes a gzip member of its own), so digests and record ids stay
valid. A revisit is cleaned from its original's payload. A corrupt or cut
record is skipped with a warning naming the file and offset, and reading
resumes at the next record boundary. Re-ingesting a file adds nothing twice.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import iso_date_to_datetime

from .archive import Archive, _iso, _Judged, _timestamp, judge_snapshot, write_failure
from .errors import ConfigError, WarcError
from .models import Capture, Snapshot, Verdict
from .payload import decode_stream, looks_like_html
from .snapshot import clean_page
from .warc import RecordLocation, WarcWriter, read_record_at

__all__ = ["IngestReport", "ingest_warcs"]

log = logging.getLogger(__name__)

BATCH = 64  # pages cleaned at once (in parallel, with an executor)
_WARC_START = re.compile(rb"WARC/1\.[01]\r?\n")


@dataclass
class IngestReport:
    files: int = 0
    records: int = 0
    copied: int = 0
    skipped_known: int = 0
    captures: list[Capture] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file: offset N: what"


@dataclass
class _Page:
    """One response (or revisit) to clean: plain data, so it can travel."""

    url: str
    status_code: int
    reason: str
    content_type: str | None
    header_content_type: str | None
    body: bytes
    when: str  # WARC-Date
    record_id: str
    truncated: bool
    source: str = ""


def _iter_records(path: Path, report: IngestReport, limit: int) -> Iterator[tuple[int, int, Any, bytes | None, bytes | None]]:
    """(offset, length, record, payload, raw) for each readable record:
    `payload` decoded and capped, for responses and revisits; `raw`, the
    payload as stored, for ARC records only (they are rewritten as WARC).
    On a bad record, warn and resume at the next record boundary."""
    size = path.stat().st_size
    position = 0
    with open(path, "rb") as f:
        # Read ARC only from ARC files: in a WARC file, a damaged stretch
        # read as ARC can swallow the good records after it.
        is_arc = f.read(11) == b"filedesc://" or path.name.endswith((".arc", ".arc.gz"))
        while position < size:
            f.seek(position)
            it = ArchiveIterator(f, check_digests=False, arc2warc=is_arc)  # offsets are f.tell()-based
            next_start = position
            try:
                for record in it:
                    body = raw = None
                    if is_arc and record.rec_type == "response":
                        raw = record.raw_stream.read(limit)
                        coding = record.http_headers.get_header("Content-Encoding") if record.http_headers else None
                        body = decode_stream(io.BytesIO(raw), coding, limit).data
                    elif record.rec_type in ("response", "revisit"):
                        body = record.content_stream().read(limit)
                    it.read_to_end(record)
                    offset = it.get_record_offset()
                    next_start = offset  # where a problem with this record is reported
                    if getattr(record.raw_stream, "limit", 0) > 0:
                        # The file ends inside this record: less than its
                        # Content-Length is there. Never copy half a record.
                        raise ValueError(f"the record is cut short ({record.raw_stream.limit} bytes missing)")
                    next_start = offset + it.get_record_length()
                    yield offset, it.get_record_length(), record, body, raw
                if next_start >= size - 4:
                    return
                # The reader stopped short of the end without a word: what
                # follows the last whole record is damaged.
                raise ValueError("unreadable data after the last whole record")
            except Exception as exc:  # warcio, zlib, EOF: a broken record
                what = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
                problem = f"{path.name}: offset {next_start}: unreadable record skipped ({what})"
                log.warning(problem)
                report.problems.append(problem)
                # Resume past both the last whole record and where this try began.
                nxt = _next_boundary(path, max(next_start, position) + 1)
                if nxt is None:
                    return
                position = nxt


def _next_boundary(path: Path, start: int) -> int | None:
    """The next offset where a WARC record begins: a gzip member that
    inflates to 'WARC/1.', or 'WARC/1.' itself in an uncompressed file."""
    with open(path, "rb") as f:
        pos = start
        while True:
            f.seek(pos)
            chunk = f.read(1 << 20)
            if not chunk:
                return None
            g = chunk.find(b"\x1f\x8b\x08")
            w = _WARC_START.search(chunk)
            hits = sorted(h for h in (g if g >= 0 else None, w.start() if w else None) if h is not None)
            for hit in hits:
                if chunk[hit:hit + 5] == b"WARC/" or _inflates_to_warc(path, pos + hit):
                    return pos + hit
            if hits:
                pos += hits[0] + 1  # a false start: look past it
            elif len(chunk) < (1 << 20):
                return None  # the end of the file, and no record in it
            else:
                pos += len(chunk) - 8  # overlap: a marker may straddle chunks


def _inflates_to_warc(path: Path, offset: int) -> bool:
    with open(path, "rb") as f:
        f.seek(offset)
        head = f.read(4096)
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16).startswith(b"WARC/1.")
    except zlib.error:
        return False


def _clean(page: _Page, options: Any) -> Snapshot:
    """Runs wherever the executor puts it (a Dask worker, a process)."""
    return clean_page(page.body, page.url, options=options, status_code=page.status_code,
                      content_type=page.header_content_type)


@dataclass
class _Record:
    """A record read from a source file, to be copied when its batch is written."""

    path: Path
    offset: int
    length: int
    gzipped: bool
    record_id: str
    rtype: str
    url: str
    date: str
    timestamp: str
    status_code: int | None = None
    content_type: str | None = None
    payload_digest: str | None = None
    refers_to: str | None = None
    arc: tuple[Any, bytes] | None = None  # an ARC record: (HTTP headers, payload), rewritten as WARC
    page: _Page | _Judged | None = None  # the capture it makes, if any


def _arc_record_id(url: str, date: str, payload: bytes) -> str:
    """ARC records have no ids: one made from what the record is, so that
    reading the same ARC file again gives the same id (and adds nothing)."""
    key = f"{url}\n{date}\n{hashlib.sha256(payload).hexdigest()}"
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}>"


def ingest_warcs(archive: Archive, paths: list[str], *, executor: Executor | None = None,
                 on_record: Callable[[int], None] | None = None) -> IngestReport:
    """Ingest WARC/ARC files into `archive`; the caller's process is the one writer.

    Records are read and their pages cleaned in batches (with an executor,
    one batch is cleaned on the workers while the one before it is written).
    Writing a batch copies its records, writes its captures' metadata
    records, fsyncs, and commits every row in one transaction; a failure
    (a full disk) cuts the archive's file back to where the batch began."""
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise ConfigError(f"cannot read {p}: no such file")
    report = IngestReport()
    catalog = archive.catalog()
    try:
        archive.recover(catalog)
    except BaseException:
        catalog.close()
        raise
    writer = WarcWriter(archive.warc_dir, archive.warc_options, clock=archive.clock,
                        info={"operator": archive.fetch_options.contact, "description": "records ingested from other WARC files"})
    limit = archive.clean_options.max_html_bytes
    pending: list[_Record] = []
    in_flight: list[tuple[list[_Record], list[Any]]] = []
    seen: dict[str, _Record] = {}  # record ids read in this run
    by_digest: dict[tuple[str, str], _Record] = {}  # (url, payload digest) -> a response read in this run

    def flush(*, drain: bool = False) -> None:
        if pending:
            batch = list(pending)
            pending.clear()
            pages = [r.page if isinstance(r.page, _Page) else None for r in batch]
            if executor is not None:
                futures = [executor.submit(_clean, p, archive.clean_options) if p else None for p in pages]
            else:
                futures = [_clean(p, archive.clean_options) if p else None for p in pages]
            in_flight.append((batch, futures))
        while in_flight and (drain or executor is None or len(in_flight) > 1):
            batch, futures = in_flight.pop(0)
            write_batch(batch, [f.result() if hasattr(f, "result") else f for f in futures])

    def copy(rec: _Record) -> RecordLocation:
        if rec.arc is not None:
            http, raw = rec.arc
            return writer.write_converted(rec.url, rec.date, http, raw, record_id=rec.record_id,
                                          truncated=len(raw) >= limit)
        return writer.copy_record(rec.path, rec.offset, rec.length, gzipped=rec.gzipped, record_id=rec.record_id,
                                  warc_date=rec.date, record_type=rec.rtype)

    def write_batch(batch: list[_Record], snaps: list[Snapshot | None]) -> None:
        """In file order, in one transaction; the WARC is fsynced before the
        commit that says what it holds."""
        mark = writer.begin()
        try:
            with catalog.transaction():
                for rec, snap in zip(batch, snaps):
                    try:
                        loc = copy(rec)
                    except WarcError as exc:
                        if isinstance(exc.__cause__, OSError):
                            raise
                        problem = f"{exc}; skipped"  # cut or broken inside its gzip member
                        log.warning(problem)
                        report.problems.append(problem)
                        continue
                    report.copied += 1
                    catalog.add_record(loc, url=rec.url, timestamp=rec.timestamp, status_code=rec.status_code,
                                       content_type=rec.content_type, payload_digest=rec.payload_digest,
                                       refers_to=rec.refers_to)
                    if isinstance(rec.page, _Judged):
                        _add(rec.page, loc)
                    elif isinstance(rec.page, _Page):
                        assert snap is not None
                        page = rec.page
                        when = iso_date_to_datetime(page.when)
                        base = dict(url=page.url, final_url=page.url, status_code=page.status_code,
                                    timestamp=_timestamp(when), captured_at=_iso(when), content_type=page.content_type,
                                    source=page.source)
                        _add(judge_snapshot(snap, base, "body cut short in the source WARC" if page.truncated else None),
                             loc)
                writer.flush()
        except BaseException:
            writer.rollback(mark)
            raise

    def _add(judged: _Judged, loc: Any) -> None:
        capture, meta_id = archive._store(judged, loc, writer, catalog)
        catalog.add_capture(capture, record_id=loc.record_id if loc else None, meta_record_id=meta_id)
        report.captures.append(capture)

    def original_payload(record: Any, url: str) -> bytes | None:
        """The payload a revisit stands for: from a record read in this run
        (still in its source file), or from one already in the archive."""
        headers = record.rec_headers
        refers = headers.get_header("WARC-Refers-To")
        target = headers.get_header("WARC-Refers-To-Target-URI") or url
        digest = headers.get_header("WARC-Payload-Digest") or ""
        source = seen.get(refers) if refers else None
        if source is None or source.rtype != "response":
            source = by_digest.get((target, digest))
        try:
            if source is not None:
                return read_record_at(source.path, source.offset, limit)[1]
            original = catalog.find_record(refers) if refers else None
            if original is None or original.record_type != "response":
                original = catalog.find_original(target, digest)
            if original is None:
                return None
            return read_record_at(archive.warc_dir / original.warc_file, original.offset, limit)[1]
        except Exception as exc:  # an original that no longer reads back
            log.warning("%s: the original of a revisit cannot be read: %s", url, exc)
            return None

    try:
        for path in files:
            report.files += 1
            with open(path, "rb") as f:
                head = f.read(16)
            if not head.startswith((b"\x1f\x8b", b"WARC/", b"filedesc://")):
                problem = f"{path.name}: offset 0: not a WARC or ARC file; skipped"
                log.warning(problem)
                report.problems.append(problem)
                continue
            gz = head.startswith(b"\x1f\x8b")
            is_arc = head.startswith(b"filedesc://") or path.name.endswith((".arc", ".arc.gz"))
            for offset, length, record, body, raw in _iter_records(path, report, limit):
                report.records += 1
                if on_record is not None:
                    on_record(1)
                headers = record.rec_headers
                rtype = record.rec_type
                if rtype == "warcinfo":
                    continue  # our files carry their own
                if is_arc and raw is None:
                    continue  # ARC header records and the like: nothing to keep
                url = headers.get_header("WARC-Target-URI") or ""
                date = headers.get_header("WARC-Date") or ""
                try:
                    timestamp = _timestamp(iso_date_to_datetime(date))
                except (TypeError, ValueError):
                    problem = f"{path.name}: offset {offset}: record without a valid WARC-Date skipped"
                    log.warning(problem)
                    report.problems.append(problem)
                    continue
                record_id = _arc_record_id(url, date, raw) if raw is not None else headers.get_header("WARC-Record-ID") or ""
                if record_id in seen or (record_id and catalog.has_record(record_id)):
                    report.skipped_known += 1
                    continue
                http = record.http_headers if rtype in ("response", "revisit") else None
                ctype_header = http.get_header("Content-Type") if http else None
                rec = _Record(path=path, offset=offset, length=length, gzipped=gz, record_id=record_id, rtype=rtype,
                              url=url, date=date, timestamp=timestamp,
                              status_code=int(http.get_statuscode() or 0) if http else None,
                              content_type=(ctype_header or "").split(";")[0].strip().lower() or None,
                              payload_digest=headers.get_header("WARC-Payload-Digest") if raw is None else None,
                              refers_to=headers.get_header("WARC-Refers-To"),
                              arc=(record.http_headers, raw) if raw is not None else None)
                if record_id:
                    seen[record_id] = rec
                if rtype == "response" and rec.payload_digest:
                    by_digest.setdefault((url, rec.payload_digest), rec)
                if http is not None:
                    rec.page = _page_for(original_payload, record, body or b"", rtype, url, rec.status_code or 0,
                                         rec.content_type, ctype_header, date, record_id, source=f"{path.name}#{offset}")
                pending.append(rec)
                if sum(isinstance(r.page, _Page) for r in pending) >= BATCH or len(pending) >= 8 * BATCH:
                    flush()
        flush(drain=True)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            # Stopped part-way by the user: store what was already read.
            try:
                flush(drain=True)
            except Exception as inner:
                log.warning("could not store the last records read: %s", inner)
            raise
        raise write_failure(archive.path, "the ingested records", exc) from exc
    finally:
        writer.close()
        catalog.close()
    return report


def _page_for(original_payload: Callable[[Any, str], bytes | None], record: Any, body: bytes, rtype: str, url: str,
              status: int, ctype: str | None, ctype_header: str | None, date: str, record_id: str, *,
              source: str) -> _Page | _Judged | None:
    """What to do with one response: a page to clean, a verdict without
    cleaning (errors, non-HTML), or nothing (redirect hops)."""
    when = iso_date_to_datetime(date)
    base = dict(url=url, final_url=url, status_code=status, timestamp=_timestamp(when), captured_at=_iso(when),
                content_type=ctype, source=source)
    if 300 <= status < 400 or status == 0:
        return None  # a hop on the way: kept as a record, not a capture
    if status >= 400:
        return _Judged(Capture(verdict=Verdict.HTTP_ERROR, reason=f"HTTP {status}", **base))
    if rtype == "revisit":
        original = original_payload(record, url)
        if original is None:
            return _Judged(Capture(verdict=Verdict.FAILED, reason="revisit whose original is not in the archive", **base))
        body = original
    if not looks_like_html(ctype_header, body[:1024]):
        return _Judged(Capture(verdict=Verdict.NOT_HTML, **base))
    truncated = bool(record.rec_headers.get_header("WARC-Truncated"))
    return _Page(url=url, status_code=status, reason="", content_type=ctype, header_content_type=ctype_header,
                 body=body, when=date, record_id=record_id, truncated=truncated and rtype != "revisit", source=source)
