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

import io
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import iso_date_to_datetime

from .archive import Archive, _iso, _Judged, _timestamp, judge_snapshot
from .errors import ConfigError
from .models import Capture, Snapshot, Verdict
from .payload import decode_stream, looks_like_html
from .snapshot import clean_page
from .warc import WarcWriter, read_record_at

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
                    next_start = offset + it.get_record_length()
                    yield offset, it.get_record_length(), record, body, raw
                if next_start >= size - 4:
                    return
                # The reader stopped short of the end without a word: what
                # follows the last whole record is damaged.
                raise ValueError("unreadable data after the last whole record")
            except Exception as exc:  # warcio, zlib, EOF: a broken record
                problem = f"{path.name}: offset {next_start}: unreadable record skipped ({type(exc).__name__}: {exc})"
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


def ingest_warcs(archive: Archive, paths: list[str], *, executor: Executor | None = None,
                 on_record: Callable[[int], None] | None = None) -> IngestReport:
    """Ingest WARC/ARC files into `archive`; the caller's process is the one writer."""
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise ConfigError(f"cannot read {p}: no such file")
    report = IngestReport()
    catalog = archive.catalog()
    archive._recover(catalog)
    writer = WarcWriter(archive.warc_dir, archive.warc_options, clock=archive.clock,
                        info={"operator": archive.fetch_options.contact, "description": "records ingested from other WARC files"})
    limit = archive.clean_options.max_html_bytes
    # Entries in file order: a page to clean, or a verdict reached without
    # cleaning (errors, non-HTML). With an executor, one batch is cleaned on
    # the workers while the one before it is written here.
    pending: list[tuple[_Page | _Judged, Any]] = []
    in_flight: list[tuple[list[tuple[_Page | _Judged, Any]], list[Any]]] = []

    def flush(*, drain: bool = False) -> None:
        if pending:
            batch = list(pending)
            pending.clear()
            if executor is not None:
                futures = [executor.submit(_clean, item, archive.clean_options) if isinstance(item, _Page) else None
                           for item, _ in batch]
            else:
                futures = [_clean(item, archive.clean_options) if isinstance(item, _Page) else None for item, _ in batch]
            in_flight.append((batch, futures))
        while in_flight and (drain or executor is None or len(in_flight) > 1):
            batch, futures = in_flight.pop(0)
            write_batch(batch, [f.result() if hasattr(f, "result") else f for f in futures])

    def write_batch(batch: list[tuple[_Page | _Judged, Any]], snaps: list[Snapshot | None]) -> None:
        """Store in file order. One transaction and one fsync for the batch:
        the WARC is still durable before the catalog commits that it exists."""
        with catalog.transaction():
            for (item, loc), snap in zip(batch, snaps):
                if isinstance(item, _Judged):
                    _add(item, loc)
                    continue
                assert snap is not None
                when = iso_date_to_datetime(item.when)
                base = dict(url=item.url, final_url=item.url, status_code=item.status_code, timestamp=_timestamp(when),
                            captured_at=_iso(when), content_type=item.content_type, source=item.source)
                _add(judge_snapshot(snap, base, "body cut short in the source WARC" if item.truncated else None), loc)
            writer.flush()

    def _add(judged: _Judged, loc: Any) -> None:
        capture, meta_id = archive._store(judged, loc, writer, catalog)
        catalog.add_capture(capture, record_id=loc.record_id if loc else None, meta_record_id=meta_id)
        report.captures.append(capture)

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
            for offset, length, record, body, raw in _iter_records(path, report, limit):
                report.records += 1
                if on_record is not None:
                    on_record(1)
                headers = record.rec_headers
                rtype = record.rec_type
                record_id = headers.get_header("WARC-Record-ID") or ""
                if rtype == "warcinfo":
                    continue  # our files carry their own
                if record_id and catalog.find_record(record_id) is not None:
                    report.skipped_known += 1
                    continue
                url = headers.get_header("WARC-Target-URI") or ""
                date = headers.get_header("WARC-Date") or ""
                if raw is not None:  # an ARC record: rewritten as a WARC response
                    loc = writer.write_converted(url, date, record.http_headers, raw, truncated=len(raw) >= limit)
                    record_id = loc.record_id
                elif head.startswith(b"filedesc://") or path.name.endswith((".arc", ".arc.gz")):
                    continue  # ARC header records and the like: nothing to keep
                else:
                    loc = writer.copy_record(path, offset, length, gzipped=gz, record_id=record_id, warc_date=date,
                                             record_type=rtype)
                report.copied += 1
                if rtype not in ("response", "revisit") or not record.http_headers:
                    continue
                http = record.http_headers
                status = int(http.get_statuscode() or 0)
                ctype_header = http.get_header("Content-Type")
                ctype = (ctype_header or "").split(";")[0].strip().lower() or None
                with catalog.transaction():
                    catalog.add_record(loc, url=url, timestamp=_timestamp(iso_date_to_datetime(date)), status_code=status,
                                       content_type=ctype, payload_digest=headers.get_header("WARC-Payload-Digest"),
                                       refers_to=headers.get_header("WARC-Refers-To"))
                page = _page_for(archive, catalog, record, body or b"", rtype, url, status, ctype, ctype_header, date,
                                 record_id, limit, source=f"{path.name}#{offset}")
                if page is None:
                    continue
                pending.append((page, loc))
                if len(pending) >= BATCH:
                    flush()
        flush(drain=True)
    except BaseException:
        # Stopped part-way (Ctrl-C, a full disk): store what was already read,
        # so its copied records do not sit in the archive without captures.
        try:
            flush(drain=True)
        except Exception as exc:
            log.warning("could not store the last pages read: %s", exc)
        raise
    finally:
        writer.close()
        catalog.close()
    return report


def _page_for(archive: Archive, catalog: Any, record: Any, body: bytes, rtype: str, url: str, status: int, ctype: str | None,
              ctype_header: str | None, date: str, record_id: str, limit: int, *, source: str) -> _Page | _Judged | None:
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
        body = _original_payload(archive, catalog, record, url, limit)
        if body is None:
            return _Judged(Capture(verdict=Verdict.FAILED, reason="revisit whose original is not in the archive", **base))
    if not looks_like_html(ctype_header, body[:1024]):
        return _Judged(Capture(verdict=Verdict.NOT_HTML, **base))
    truncated = bool(record.rec_headers.get_header("WARC-Truncated"))
    return _Page(url=url, status_code=status, reason="", content_type=ctype, header_content_type=ctype_header,
                 body=body, when=date, record_id=record_id, truncated=truncated and rtype != "revisit", source=source)


def _original_payload(archive: Archive, catalog: Any, record: Any, url: str, limit: int) -> bytes | None:
    headers = record.rec_headers
    refers = headers.get_header("WARC-Refers-To")
    original = catalog.find_record(refers) if refers else None
    if original is None or original.record_type != "response":
        target = headers.get_header("WARC-Refers-To-Target-URI") or url
        original = catalog.find_original(target, headers.get_header("WARC-Payload-Digest") or "")
    if original is None:
        return None
    _, body = read_record_at(archive.warc_dir / original.warc_file, original.offset, limit)
    return body

