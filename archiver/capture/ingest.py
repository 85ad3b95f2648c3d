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

import contextlib
import hashlib
import io
import logging
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from warcio.bufferedreaders import DecompressingBufferedReader

from ..archive.archive import Archive
from ..errors import ConfigError, brief
from ..verdict import Observation, judge_response, verdict_of
from ..models import Capture, Verdict
from ..cleaning.payload import decode_stream, document_kind
from .recorder import Entry, Recorder, SourceRecord
from .jobs import Cleaned, CleanJob, clean_job
from ..archive.catalog import Catalog
from ..timeutil import parse_warc_date, timestamp14
from .warc import read_record_at
from ..urls import canonical_url
from .warcreader import misfits, reader

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

    def warn(self, problem: str) -> None:
        """Log `problem` and keep it for the caller (the CLI prints them)."""
        log.info("%s", problem)  # the report carries it (the CLI prints it)
        self.problems.append(problem)


class _StrictReader(DecompressingBufferedReader):
    """warcio's reader, except that a damaged gzip member raises, to be
    reported with the file and offset. warcio, when a member breaks part of
    the way through, writes zlib's message to stderr (a stray line with no
    file or offset) and reads on as if the record ended there; when it
    breaks in its first block, it takes the file for an uncompressed one
    and reports the compressed bytes as an invalid WARC header. In a file
    known to be compressed (`gzipped`), neither guess is made."""

    gzipped = False

    def _decompress(self, data: bytes) -> bytes:
        if self.decompressor is not None and data and (self.num_block_read or self.gzipped):
            try:
                return self.decompressor.decompress(data)
            except zlib.error as exc:
                raise ValueError(f"damaged compressed data: {exc}") from None
        return super()._decompress(data)


def _iter_records(path: Path, report: IngestReport, limit: int, document_limit: int, *, gzipped: bool,
                  is_arc: bool) -> Iterator[tuple[int, int, Any, bytes | None, bytes | None]]:
    """(offset, length, record, payload, raw) for each readable record:
    `payload` decoded and capped, for responses and revisits; `raw`, the
    payload as stored, for ARC records only (they are rewritten as WARC).
    On a bad record, warn and resume at the next record boundary."""
    size = path.stat().st_size
    position = 0
    with open(path, "rb") as f:
        while position < size:
            f.seek(position)
            # Digests are checked (and kept, not raised or printed): they
            # tell a record cut short by a wrong Content-Length from a
            # whole one with stray bytes after it.
            it = reader(f, check_digests=True, arc2warc=is_arc)  # offsets are f.tell()-based
            it.reader.__class__ = _StrictReader
            it.reader.gzipped = gzipped
            next_start = position
            try:
                for record in it:
                    body = raw = None
                    if is_arc and record.rec_type == "response":
                        raw = record.raw_stream.read(limit)
                        coding = record.http_headers.get_header("Content-Encoding") if record.http_headers else None
                        body = decode_stream(io.BytesIO(raw), coding, limit).data
                    elif record.rec_type in ("response", "revisit"):
                        ctype = (record.http_headers.get_header("Content-Type") or "") if record.http_headers else ""
                        # A PDF is only read whole; a page only as far as cleaning goes.
                        body = record.content_stream().read(max(limit, document_limit) if "pdf" in ctype.lower()
                                                            else limit)
                    seen = misfits(it)
                    it.read_to_end(record)
                    offset = it.get_record_offset()
                    next_start = offset  # where a problem with this record is reported
                    if misfits(it) > seen:
                        # Bytes follow it where its blank lines should be.
                        checker = getattr(record, "digest_checker", None)
                        if checker is None or checker.passed is not True:
                            # Its Content-Length may be short: copied by
                            # that length, the record would lose its end.
                            raise ValueError("bytes follow it where the next record should begin: its"
                                             " Content-Length is short" + (
                                                 " (its digest does not match)" if checker is not None
                                                 and checker.passed is False else
                                                 ", or they are stray (it has no digest to tell which)"))
                        report.warn(f"{path.name}: offset {offset}: bytes after the record (its digests"
                                    " match: it is kept) belong to no record; skipped")
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
                missing = None if isinstance(exc, ValueError) else _missing_field(path, next_start, gzipped)
                what = missing or brief(str(exc) if isinstance(exc, ValueError) else exc)
                report.warn(f"{path.name}: offset {next_start}: unreadable record skipped ({what})")
                # Resume past both the last whole record and where this try began.
                nxt = _next_boundary(path, max(next_start, position) + 1, gzipped)
                if nxt is None:
                    return
                position = nxt


# The WARC header fields without which a record of each type cannot be read
# as what it claims to be (WARC 1.1, section 5; the target URI is what the
# HTTP block is read against).
_REQUIRED = ("WARC-Type", "WARC-Record-ID", "WARC-Date", "Content-Length")
_TARGETED = ("response", "request", "revisit", "resource")


def _missing_field(path: Path, offset: int, gzipped: bool) -> str | None:
    """What the record's WARC header at `offset` lacks, in words ("its WARC
    header has no WARC-Target-URI"), when that is why a reader failed on it:
    the reader's own message names its internals, not the record."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(1 << 16)
        if gzipped:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 1 << 16)
    except (OSError, zlib.error):
        return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
    if not head or not head[0].startswith("WARC/"):
        return None
    fields = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    lacks = [n for n in _REQUIRED if not fields.get(n.lower())]
    if fields.get("warc-type") in _TARGETED and not fields.get("warc-target-uri"):
        lacks.append("WARC-Target-URI")
    if not lacks:
        return None
    kind = fields.get("warc-type") or "a"
    return f"its WARC header ({kind} record) has no {' and no '.join(lacks)}"


def _next_boundary(path: Path, start: int, gzipped: bool) -> int | None:
    """The next offset where a WARC record begins: in a compressed file, a
    gzip member that inflates to 'WARC/1.'; in an uncompressed one,
    'WARC/1.' itself. (Not both: a compressed record can hold its header
    as it is, in a stored deflate block, and resuming there reported the
    one damaged record twice.)"""
    with open(path, "rb") as f:
        pos = start
        while True:
            f.seek(pos)
            chunk = f.read(1 << 20)
            if not chunk:
                return None
            if gzipped:
                hit = chunk.find(b"\x1f\x8b\x08")
            else:
                found = _WARC_START.search(chunk)
                hit = found.start() if found else -1
            if hit >= 0:
                if not gzipped or _inflates_to_warc(path, pos + hit):
                    return pos + hit
                pos += hit + 1  # a false start: look past it
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


def _arc_record_id(url: str, date: str, payload: bytes) -> str:
    """ARC records have no ids: one made from what the record is, so that
    reading the same ARC file again gives the same id (and adds nothing)."""
    key = f"{url}\n{date}\n{hashlib.sha256(payload).hexdigest()}"
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}>"


@dataclass
class _Item:
    """A record read, waiting for its batch to be written; `job` is its page to clean."""

    record: SourceRecord
    capture: Capture | None = None  # judged without cleaning
    job: CleanJob | None = None
    obs: Observation | None = None
    reasons: tuple[str, ...] = ()


def ingest_warcs(archive: Archive, paths: list[str], *, executor: Executor | None = None,
                 on_record: Callable[[int], None] | None = None) -> IngestReport:
    """Ingest WARC/ARC files into `archive`; the caller's process is the one writer.

    Records are read and their pages cleaned in batches (one batch cleaned
    on the workers while the one before it is written). A batch is
    recorded like captures are (capture/recorder.py): its records copied, its
    captures' metadata records written, one fsync, one transaction; a
    failure (a full disk) cuts the archive's file back to where it began."""
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise ConfigError(f"cannot read {p}: no such file")
    report = IngestReport()
    limit = archive.clean_options.max_html_bytes
    with contextlib.ExitStack() as stack:
        catalog = stack.enter_context(archive.catalog())
        archive.recover(catalog)
        writer = archive.new_writer({"operator": archive.fetch_options.contact,
                                     "description": "records ingested from other WARC files"})
        stack.callback(writer.close)
        recorder = Recorder(archive.path, catalog, writer, change_rules=archive.change_rules)
        if executor is None and archive.workers > 0:
            executor = stack.enter_context(archive.cleaning_pool())
        pending: list[_Item] = []
        in_flight: list[tuple[list[_Item], list[Any]]] = []
        seen: dict[str, SourceRecord] = {}  # record ids read in this run
        by_digest: dict[tuple[str, str], SourceRecord] = {}  # (url, payload digest) -> a response read in this run

        def flush(*, drain: bool = False) -> None:
            if pending:
                batch = list(pending)
                pending.clear()
                for i in batch:
                    if i.job is not None:
                        i.job = replace(i.job, title_suffixes=recorder.title_suffixes(i.job.url))
                if executor is not None:
                    results = [executor.submit(clean_job, i.job, archive.clean_options) if i.job else None
                               for i in batch]
                else:
                    results = [clean_job(i.job, archive.clean_options) if i.job else None for i in batch]
                in_flight.append((batch, results))
            while in_flight and (drain or executor is None or len(in_flight) > 1):
                batch, results = in_flight.pop(0)
                write(batch, [_outcome(r) for r in results])

        def write(batch: list[_Item], cleaned: list[Cleaned | BaseException | None]) -> None:
            entries = []
            for item, done in zip(batch, cleaned):
                entry = Entry(records=[item.record], capture=item.capture)
                if done is not None:
                    assert item.obs is not None
                    entry.judged(item.obs, done, item.reasons)
                entries.append(entry)
            for capture in recorder.record(entries):
                if capture is not None:
                    report.captures.append(capture)

        def original_payload(record: Any, url: str) -> bytes | None:
            """The payload a revisit stands for: from a record read in this run
            (still in its source file), or from one already in the archive."""
            headers = record.rec_headers
            refers = headers.get_header("WARC-Refers-To")
            target = headers.get_header("WARC-Refers-To-Target-URI") or url
            digest = headers.get_header("WARC-Payload-Digest") or ""
            source = seen.get(refers) if refers else None
            if source is None or source.record_type != "response":
                source = by_digest.get((target, digest))
            try:
                if source is not None:
                    return read_record_at(source.path, source.offset, limit)[1]
                original = catalog.find_record(refers) if refers else None
                if original is None or original.record_type != "response":
                    original = catalog.find_original(target, digest)
                if original is None:
                    return None
                return read_record_at(archive.warc_dir / original.warc_file, original.offset, limit,
                                      record_id=original.record_id)[1]
            except Exception as exc:  # an original that no longer reads back
                log.warning("%s: the original of a revisit cannot be read: %s", url, exc)
                return None

        try:
            for path in files:
                report.files += 1
                with open(path, "rb") as f:
                    head = f.read(16)
                if not head.startswith((b"\x1f\x8b", b"WARC/", b"filedesc://")):
                    report.warn(f"{path.name}: offset 0: not a WARC or ARC file; skipped")
                    continue
                # Compressed or not is the whole file's (the WARC standard). Read
                # ARC only from ARC files: in a WARC file, a damaged stretch
                # read as ARC can swallow the good records after it.
                gz = head.startswith(b"\x1f\x8b")
                is_arc = head.startswith(b"filedesc://") or path.name.endswith((".arc", ".arc.gz"))
                for offset, length, record, body, raw in _iter_records(
                        path, report, limit, archive.clean_options.max_document_bytes, gzipped=gz, is_arc=is_arc):
                    report.records += 1
                    if on_record is not None:
                        on_record(1)
                    item = _read(record, body, raw, path=path, offset=offset, length=length, gz=gz, is_arc=is_arc,
                                 limit=limit, report=report, seen=seen, catalog=catalog,
                                 original_payload=original_payload)
                    if item is None:
                        continue
                    seen[item.record.record_id] = item.record
                    if item.record.record_type == "response" and item.record.payload_digest:
                        by_digest.setdefault((item.record.url, item.record.payload_digest), item.record)
                    pending.append(item)
                    if sum(1 for i in pending if i.job) >= BATCH or len(pending) >= 8 * BATCH:
                        flush()
            flush(drain=True)
        except KeyboardInterrupt:
            # Stopped part-way by the user: store what was already read.
            try:
                flush(drain=True)
            except Exception as inner:
                log.warning("could not store the last records read: %s", inner)
            raise
        finally:
            report.problems.extend(recorder.problems)
            report.copied = recorder.copied
            report.skipped_known += recorder.known
    return report


def _outcome(result: Future[Cleaned] | Cleaned | None) -> Cleaned | BaseException | None:
    """A page's cleaning, or why it failed (a worker lost: that page's capture, not the ingest)."""
    if not isinstance(result, Future):
        return result
    try:
        return result.result()
    except Exception as exc:
        log.info("cleaning failed: %s", exc)  # its capture's reason says so
        return exc


def _read(record: Any, body: bytes | None, raw: bytes | None, *, path: Path, offset: int, length: int, gz: bool,
          is_arc: bool, limit: int, report: IngestReport, seen: dict[str, SourceRecord], catalog: Catalog,
          original_payload: Callable[[Any, str], bytes | None]) -> _Item | None:
    """One record read: what to copy, and the capture it makes (judged now,
    or after its page is cleaned). None for records to leave out."""
    headers = record.rec_headers
    rtype = record.rec_type
    if rtype == "warcinfo":
        return None  # our files carry their own
    if is_arc and raw is None:
        return None  # ARC header records and the like: nothing to keep
    # The catalog's key; the record is copied with its own Target-URI as written.
    url = canonical_url(headers.get_header("WARC-Target-URI") or "")
    date = headers.get_header("WARC-Date") or ""
    try:
        when = parse_warc_date(date)
    except ValueError:
        report.warn(f"{path.name}: offset {offset}: record without a valid WARC-Date skipped")
        return None
    record_id = _arc_record_id(url, date, raw) if raw is not None else headers.get_header("WARC-Record-ID") or ""
    if record_id in seen or (record_id and catalog.has_record(record_id)):
        report.skipped_known += 1
        return None
    http = record.http_headers if rtype in ("response", "revisit") else None
    ctype_header = http.get_header("Content-Type") if http else None
    status_text = http.get_statuscode() if http else None
    status = int(status_text) if status_text and status_text.isdigit() else None
    source = SourceRecord(path=path, offset=offset, length=length, gzipped=gz, record_id=record_id, record_type=rtype,
                          url=url, date=date, timestamp=timestamp14(when), status_code=status,
                          content_type=(ctype_header or "").split(";")[0].strip().lower() or None,
                          payload_digest=headers.get_header("WARC-Payload-Digest") if raw is None else None,
                          refers_to=headers.get_header("WARC-Refers-To"),
                          arc=(record.http_headers, raw, len(raw) >= limit) if raw is not None else None)
    item = _Item(record=source)
    if http is None or status is None or 300 <= status < 400:
        return item  # a request, a metadata record, a hop on the way: kept as a record, not a capture
    statusline = http.statusline or ""
    obs = Observation(url=url, when=when, final_url=url, status_code=status,
                      reason_phrase=statusline.split(" ", 1)[1] if " " in statusline else "",
                      content_type_header=ctype_header, source=f"{path.name}#{offset}")
    payload = body or b""
    if rtype == "revisit" and status < 400:
        original = original_payload(record, url)
        if original is None:
            item.capture = verdict_of(obs, Verdict.FAILED, reason="revisit whose original is not in the archive")
            return item
        payload = original
    item.capture = judge_response(obs, payload[:1024])
    if item.capture is None:
        truncated = bool(headers.get_header("WARC-Truncated")) and rtype != "revisit"
        item.obs = obs
        item.reasons = ("body cut short in the source WARC",) if truncated else ()
        item.job = CleanJob(url=url, body=payload, content_type=ctype_header, status_code=status,
                            kind=document_kind(ctype_header, payload[:1024]) or "html",
                            headers=tuple(http.headers))
    return item
