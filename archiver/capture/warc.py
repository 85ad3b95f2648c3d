"""Write exchanges as WARC/1.1 records, one gzip member per record.

A `WarcWriter` owns one open file at a time, named so that files sort by the
time they were opened. While it is being written the file carries a `.open`
suffix and an exclusive lock; closing renames it. A file left `.open` by a
killed process is cut back to its last complete record and renamed by
`recover_open_files`, so readers never trip on half a record.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import gzip
import hashlib
import io
import logging
import os
import socket
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from ..config import VERSION, WarcOptions
from ..errors import WarcError, brief
from ..evidence.fixity import sha256_state
from ..models import Exchange, RecordLocation
from .warcreader import METADATA_PREFIX, MISFIT, decode_fields, misfits, next_whole_record, reader

__all__ = [
    "OPEN_SUFFIX",
    "read_record_bytes",
    "RecordLocation",
    "WarcWriter",
    "check_files",
    "check_record",
    "decode_fields",
    "encode_fields",
    "iter_complete_records",
    "recover_open_files",
]

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"
WARC_SUFFIX = ".warc.gz"


def _make_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _http_headers(ex: Exchange) -> StatusAndHeaders:
    headers = []
    for name, value in ex.response_headers:
        # The stored body is no longer chunked: a Transfer-Encoding header
        # would make readers de-chunk it and eat lines that look like sizes.
        if name.lower() == "transfer-encoding":
            name = "X-Orig-Transfer-Encoding"
        headers.append((name, value))
    status = f"{ex.status_code} {ex.reason}".strip()
    return StatusAndHeaders(status, headers, protocol=ex.http_version)


REDACTED = "[redacted by archiver]"
AUTH_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})


def _request_headers(ex: Exchange, *, keep_auth: bool = False) -> StatusAndHeaders:
    """The request as sent, with the values of Cookie, Authorization and
    every header the user gave (--header, a credential set: credentials by
    intent) replaced (the header stays, so a reader sees one was sent)
    unless `keep_auth`."""
    line = f"{ex.method} {ex.request_target} HTTP/1.1"
    secret = AUTH_HEADERS | ex.secret_headers
    headers = [(k, REDACTED if not keep_auth and k.lower() in secret else v) for k, v in ex.request_headers]
    return StatusAndHeaders(line, headers, is_http_request=True)


class _DirectFile:
    """A file written straight through to the OS, with no buffer of its own.

    After a failed write (a full disk) a buffered file still holds bytes it
    means to write later; cutting the file back cannot take those back, and
    they would land in it on close. Every write here either reaches the
    file whole or raises, and `truncate` really is the end of the file."""

    mode = "wb"

    def __init__(self, raw: io.FileIO) -> None:
        self.raw = raw
        self.name = raw.name
        # The file's SHA-256, kept as it is written (fixity at close costs no re-read).
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = self.raw.write(view)
            if not n:
                raise OSError(errno.ENOSPC, "short write")
            self.sha256.update(view[:n])
            view = view[n:]
        return len(data)

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def truncate(self, size: int) -> int:
        return self.raw.truncate(size)

    def flush(self) -> None:
        pass  # nothing is held back

    def fileno(self) -> int:
        return self.raw.fileno()

    def close(self) -> None:
        self.raw.close()


# Each record is its own gzip member (so any record reads alone, by offset).
# warcio compresses at level 9; 6 is 1.5x faster for half a percent more
# bytes. A payload the server already compressed goes in stored blocks
# (level 0): deflating gzip again saves nothing and cost 0.65 ms a page,
# twenty times what storing it does (measured on the aeb pages).
GZIP_LEVEL = 6
GZIP_LEVEL_COMPRESSED = 0


class _Members:
    """What warcio writes, each record into a gzip member of its own."""

    def __init__(self, file: _DirectFile) -> None:
        self.file = file
        self._member: Any = None

    def begin(self, level: int) -> None:
        self._member = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)

    def write(self, data: bytes) -> int:
        self.file.write(self._member.compress(data))
        return len(data)

    def end(self) -> None:
        self.file.write(self._member.flush())
        self._member = None

    def tell(self) -> int:
        return self.file.tell()

    def flush(self) -> None:
        pass  # a member ends in `end`


class WarcWriter:
    """Appends records to rolling WARC files in `directory`."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        options: WarcOptions | None = None,
        *,
        clock: Callable[[], datetime],
        make_id: Callable[[], str] = _make_record_id,
        info: dict[str, str] | None = None,
        on_close: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.options = options or WarcOptions()
        self._clock = clock
        self._make_id = make_id
        self._info = info or {}
        self._file: _DirectFile | None = None
        self._records = 0  # records after the warcinfo in the open file
        self._name: str | None = None
        self._writer: WARCWriter | None = None
        self._opened: datetime | None = None
        self._serial = 0
        self._mark_hash: tuple[int, Any] | None = None  # (offset, SHA-256 state there) of the last `begin`
        self._on_close = on_close  # (name, sha256 hex, size) of each file closed, once it has its final name
        self.closed_files: list[str] = []

    # -- files --------------------------------------------------------------

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = self._clock().strftime("%Y%m%d%H%M%S%f")
        self._serial += 1
        host = socket.gethostname().split(".")[0] or "host"
        safe_host = "".join(c if c.isalnum() or c == "-" else "-" for c in host)[:40]
        name = f"{self.options.prefix}-{stamp}-{self._serial:05d}-{safe_host}-{os.getpid()}{WARC_SUFFIX}"
        path = self.directory / (name + OPEN_SUFFIX)
        try:
            f = _DirectFile(io.FileIO(path, "xb"))
        except OSError as exc:
            raise WarcError(f"cannot create WARC file {path}: {exc.strerror}") from exc
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file, self._name, self._opened, self._records = f, name, self._clock(), 0
        self._members = _Members(f)
        self._writer = WARCWriter(self._members, gzip=False, warc_version="1.1")
        try:
            self._write_warcinfo()
            self._records = 0
        except BaseException:
            # Not even its first record made it (a full disk): leave no file behind.
            self._file = self._name = self._writer = None
            f.close()
            path.unlink(missing_ok=True)
            raise

    def _write_warcinfo(self) -> None:
        assert self._writer is not None and self._name is not None
        fields = {
            "software": f"archiver/{VERSION} (warcio, httpx)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "hostname": socket.gethostname(),
        }
        fields.update(self._info)
        body = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v).encode("utf-8")
        record = self._writer.create_warc_record(
            "",
            "warcinfo",
            payload=io.BytesIO(body),
            length=len(body),
            warc_content_type="application/warc-fields",
            warc_headers_dict={
                "WARC-Record-ID": self._make_id(),
                "WARC-Date": datetime_to_iso_date(self._clock(), use_micros=True),
                "WARC-Filename": self._name,
            },
        )
        self._write(record)

    def _ensure_open(self) -> None:
        if self._file is None:
            self._open()

    def _too_old(self) -> bool:
        return self._opened is not None and (self._clock() - self._opened).total_seconds() >= self.options.max_age

    def begin(self) -> tuple[str, int, int]:
        """Start one capture's records: roll over to a new file if this one is
        full or old (never in the middle of a capture, so its records share a
        file), and return the mark `rollback` can cut back to."""
        if self._file is not None and (self._file.tell() >= self.options.max_size or self._too_old()):
            self.close()
        self._ensure_open()
        assert self._file is not None and self._name is not None
        offset = self._file.tell()
        self._mark_hash = (offset, self._file.sha256.copy())
        return self._name, offset, self._records

    def rollback(self, mark: tuple[str, int, int]) -> None:
        """Cut the open file back to `mark`: a capture that could not be
        catalogued (a full disk) leaves no records behind it."""
        name, offset, records = mark
        if self._file is None or self._name != name:
            return
        try:
            self._file.seek(offset)
            self._file.truncate(offset)
            self._records = records
            if self._mark_hash is not None and self._mark_hash[0] == offset:
                self._file.sha256 = self._mark_hash[1].copy()
            else:
                self._file.sha256 = sha256_state(self._file.name, upto=offset)[0]
            os.fsync(self._file.fileno())
        except OSError as exc:
            # Left as it is, the file is recovered on the next open (cut to
            # its last whole record and catalogued): still nothing half-exists.
            log.warning("could not cut %s back to %d: %s", name, offset, exc)

    def close_if_old(self) -> None:
        """Close the open file once it is past its age limit (a long-running loop)."""
        if self._file is not None and self._too_old():
            self.close()

    def close(self) -> None:
        """Finish the current file: flush, sync, drop `.open`."""
        if self._file is None:
            return
        f, name = self._file, self._name
        assert name is not None
        self._file = self._name = self._writer = None
        self._opened = None
        path = self.directory / (name + OPEN_SUFFIX)
        try:
            if self._records == 0:
                # Nothing but its warcinfo (every capture in it was cut back): no file to keep.
                path.unlink()
                return
            os.fsync(f.fileno())
            size, digest = f.tell(), f.sha256.hexdigest()
            os.replace(path, self.directory / name)
        finally:
            f.close()
        self.closed_files.append(name)
        if self._on_close is not None:
            self._on_close(name, digest, size)

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def current_file(self) -> str | None:
        return self._name

    # -- records ------------------------------------------------------------

    def _write(self, record: object, *, level: int = GZIP_LEVEL) -> tuple[int, int]:
        assert self._file is not None and self._writer is not None
        start = self._file.tell()
        try:
            self._members.begin(level)
            self._writer.write_record(record)
            self._members.end()
        except OSError as exc:
            raise WarcError(f"writing {self._name}: {exc}") from exc
        self._records += 1
        return start, self._file.tell() - start

    def write_exchange(self, ex: Exchange, *, revisit_of: RecordLocation | None = None,
                       refers_to_uri: str | None = None) -> tuple[RecordLocation, RecordLocation]:
        """Write a request record and a response (or, when `revisit_of` is
        given, a revisit) record; return where each went (request, response)."""
        self._ensure_open()
        assert self._writer is not None and self._name is not None
        date = datetime_to_iso_date(ex.started, use_micros=True)
        response_id = self._make_id()
        warc_headers = {"WARC-Record-ID": response_id, "WARC-Date": date}
        if ex.ip_address:
            warc_headers["WARC-IP-Address"] = ex.ip_address
        if ex.protocol:
            warc_headers["WARC-Protocol"] = ex.protocol
        if revisit_of is not None:
            warc_headers["WARC-Refers-To"] = revisit_of.record_id
            # The payload is left out on purpose: the identical-digest profile.
            warc_headers["WARC-Truncated"] = "length"
            response = self._writer.create_revisit_record(
                ex.url,
                ex.payload_digest,
                refers_to_uri or ex.url,
                revisit_of.warc_date,
                http_headers=_http_headers(ex),
                warc_headers_dict=warc_headers,
            )
            record_type = "revisit"
        else:
            warc_headers["WARC-Payload-Digest"] = ex.payload_digest
            if ex.truncated:
                warc_headers["WARC-Truncated"] = ex.truncation
            ex.body.seek(0)
            response = self._writer.create_warc_record(
                ex.url,
                "response",
                payload=ex.body,
                length=ex.body_length,
                http_headers=_http_headers(ex),
                warc_headers_dict=warc_headers,
            )
            record_type = "response"
        request_id = self._make_id()
        request = self._writer.create_warc_record(
            ex.url,
            "request",
            payload=io.BytesIO(ex.request_body),
            length=len(ex.request_body),
            http_headers=_request_headers(ex, keep_auth=self.options.keep_auth_headers),
            warc_headers_dict={
                "WARC-Record-ID": request_id,
                "WARC-Date": date,
                "WARC-Concurrent-To": response_id,
            },
        )
        req_offset, req_length = self._write(request)
        encoded = (ex.header("content-encoding") or "identity").strip().lower() not in ("", "identity")
        offset, length = self._write(response, level=GZIP_LEVEL_COMPRESSED if encoded else GZIP_LEVEL)
        return (
            RecordLocation(warc_file=self._name, offset=req_offset, length=req_length, record_id=request_id,
                           warc_date=date, record_type="request"),
            RecordLocation(warc_file=self._name, offset=offset, length=length, record_id=response_id,
                           warc_date=date, record_type=record_type),
        )

    def write_metadata(self, url: str, fields: dict[str, object], *, when: datetime,
                       concurrent_to: str | None = None) -> RecordLocation:
        """A `metadata` record describing one capture (its verdict and what
        cleaning made of it), so the catalog can be rebuilt from WARCs alone."""
        self._ensure_open()
        assert self._writer is not None and self._name is not None
        body = encode_fields(fields)
        headers = {"WARC-Record-ID": self._make_id(), "WARC-Date": datetime_to_iso_date(when, use_micros=True)}
        if concurrent_to:
            headers["WARC-Concurrent-To"] = concurrent_to
        record = self._writer.create_warc_record(
            url, "metadata", payload=io.BytesIO(body), length=len(body),
            warc_content_type="application/warc-fields", warc_headers_dict=headers,
        )
        offset, length = self._write(record)
        return RecordLocation(warc_file=self._name, offset=offset, length=length, record_id=headers["WARC-Record-ID"],
                              warc_date=headers["WARC-Date"], record_type="metadata")

    def write_resource(self, uri: str, content_type: str, data: bytes, *, when: datetime,
                       concurrent_to: str | None = None) -> RecordLocation:
        """A `resource` record: something the capture made (a screenshot, a
        rendered DOM), named by a URI of its own."""
        self._ensure_open()
        assert self._writer is not None and self._name is not None
        headers = {"WARC-Record-ID": self._make_id(), "WARC-Date": datetime_to_iso_date(when, use_micros=True),
                   "WARC-Block-Digest": "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")}
        if concurrent_to:
            headers["WARC-Concurrent-To"] = concurrent_to
        record = self._writer.create_warc_record(
            uri, "resource", payload=io.BytesIO(data), length=len(data),
            warc_content_type=content_type, warc_headers_dict=headers,
        )
        level = GZIP_LEVEL_COMPRESSED if content_type.startswith("image/") else GZIP_LEVEL
        offset, length = self._write(record, level=level)
        return RecordLocation(warc_file=self._name, offset=offset, length=length, record_id=headers["WARC-Record-ID"],
                              warc_date=headers["WARC-Date"], record_type="resource")

    def copy_record(self, source: str | os.PathLike[str], offset: int, length: int, *, gzipped: bool,
                    record_id: str, warc_date: str, record_type: str) -> RecordLocation:
        """Append a record from another WARC file, byte for byte, streaming
        (an uncompressed record becomes one gzip member of its own). A gzip
        member that does not end where it should (a file cut inside the
        record) raises WarcError and leaves nothing of it in our file.
        `length` is what warcio counts: a whole gzip member, or, for an
        uncompressed record, its header and block without the two CRLFs
        that end every record (written here; without them the next record
        ran on from the block, and the file did not read)."""
        self._ensure_open()
        assert self._file is not None and self._name is not None
        start, records = self._file.tell(), self._records
        try:
            with open(source, "rb") as src:
                src.seek(offset)
                out: IO[bytes] = self._file
                member = gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0) if not gzipped else None
                if member is not None:
                    out = member  # type: ignore[assignment]
                # Inflate what is copied, to prove its gzip member(s) are whole.
                check = _GzipCheck() if gzipped else None
                left = length
                while left > 0:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        raise WarcError(f"{Path(source).name}: offset {offset}: the record is cut short")
                    if check is not None:
                        check.feed(chunk, f"{Path(source).name}: offset {offset}")
                    out.write(chunk)
                    left -= len(chunk)
                if check is not None and not check.complete:
                    raise WarcError(f"{Path(source).name}: offset {offset}: the record's gzip member is cut short")
                if member is not None:
                    member.write(b"\r\n\r\n")
                    member.close()  # ends the gzip member; leaves our file open
        except BaseException as exc:
            self.rollback((self._name, start, records))
            if isinstance(exc, OSError):
                raise WarcError(f"copying into {self._name}: {exc}") from exc
            raise
        self._records += 1
        return RecordLocation(warc_file=self._name, offset=start, length=self._file.tell() - start,
                              record_id=record_id, warc_date=warc_date, record_type=record_type)

    def write_converted(self, url: str, warc_date: str, http_headers: StatusAndHeaders, payload: bytes,
                        *, record_id: str, truncated: bool = False) -> RecordLocation:
        """A response record made from another format's record (an ARC
        record): its HTTP headers and payload as they were, in WARC/1.1."""
        self._ensure_open()
        assert self._writer is not None and self._name is not None
        headers = {"WARC-Record-ID": record_id, "WARC-Date": warc_date}
        if truncated:
            headers["WARC-Truncated"] = "length"
        record = self._writer.create_warc_record(url, "response", payload=io.BytesIO(payload), length=len(payload),
                                                 http_headers=http_headers, warc_headers_dict=headers)
        offset, length = self._write(record)
        return RecordLocation(warc_file=self._name, offset=offset, length=length, record_id=headers["WARC-Record-ID"],
                              warc_date=warc_date, record_type="response")

    def flush(self) -> None:
        """Make what was written durable (before the catalog says it exists)."""
        if self._file is not None:
            os.fsync(self._file.fileno())


class _GzipCheck:
    """Inflates a stream of gzip members into nothing, to tell whole members
    from cut or broken ones without keeping what they hold."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, where: str) -> None:
        while data:
            try:
                while data and not self._d.eof:
                    self._d.decompress(data, 1 << 16)
                    data = self._d.unconsumed_tail
            except zlib.error as exc:
                raise WarcError(f"{where}: broken gzip data ({exc})") from None
            if self._d.eof:
                data = self._d.unused_data + data
                if data:
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def complete(self) -> bool:
        return self._d.eof


def encode_fields(fields: dict[str, object]) -> bytes:
    """application/warc-fields: one `name: value` line each, values on one line."""
    lines = []
    for name, value in fields.items():
        if value is None or value == "":
            continue
        text = " ".join(str(value).split())
        lines.append(f"{METADATA_PREFIX}{name}: {text}\r\n")
    return "".join(lines).encode("utf-8")


SMALL_RECORD_TYPES = frozenset({"metadata", "warcinfo", "resource"})
MAX_SMALL_RECORD = 1024 * 1024


class _NotWarc(Exception):
    """What warcio read is not a WARC record: a gzip member that did not
    inflate, read as raw bytes (it says nothing when they pass for an ARC header)."""


READ_ON = "read on from there"  # how a skipped stretch of damage ends its message


def iter_complete_records(path: str | os.PathLike[str], problems: list[str] | None = None, *,
                          resync: bool = False) -> Iterator[tuple[int, int, Any, bytes | None]]:
    """(offset, length, record, body) for each record that reads to its end;
    stops at the first broken or cut-off one, or with `resync` skips the
    damaged bytes to the next record that reads whole (each record is a gzip
    member of its own; a damaged one loses only itself). `body` is the
    content of small record types (metadata, warcinfo), None for the rest.
    What is wrong goes into `problems` when given, else to the log as a warning."""
    name = Path(path).name

    def warn(problem: str) -> None:
        if problems is not None:
            problems.append(problem)
        else:
            log.warning("%s", problem)

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        start = 0
        while True:
            f.seek(start)
            it = reader(f, check_digests=False)
            end = start
            try:
                for record in it:
                    if record.format != "warc":
                        raise _NotWarc("not a WARC record")
                    seen = misfits(it)  # (warcio reads a record's closing lines when asked its offset)
                    body = None
                    if record.rec_type in SMALL_RECORD_TYPES:
                        body = record.content_stream().read(MAX_SMALL_RECORD)
                    # read to the end: proves the record is whole
                    while record.content_stream().read(65536):
                        pass
                    offset = it.get_record_offset()
                    it.read_to_end(record)
                    if misfits(it) > seen:  # still one gzip member: kept, and said
                        warn(f"{name}: offset {offset}: {MISFIT}")
                    yield offset, it.get_record_length(), record, body
                    end = offset + it.get_record_length()
                return
            except Exception as exc:  # ArchiveLoadFailed, zlib.error, EOFError...: a cut or broken part
                if not resync:
                    warn(f"{name}: stops being readable after the last complete record ({brief(exc)})")
                    return
                after = next_whole_record(f, end + 1, size)
                if after is None:
                    warn(f"{name}: unreadable from byte {end} to its end ({brief(exc)})")
                    return
                warn(f"{name}: unreadable from byte {end} to byte {after} ({brief(exc)}); {READ_ON}")
                start = after


def read_record_at(path: str | os.PathLike[str], offset: int, limit: int, *,
                   record_id: str | None = None) -> tuple[Any, bytes]:
    """(http_headers, decoded payload up to `limit` bytes) of the record at
    `offset`; finds the file under its `.open` name while it is being written.
    With `record_id`, raises WarcError unless that WARC record is what is
    there: when a gzip member is damaged at its start, warcio reads its bytes
    as they are, as an ARC record of garbage, and says nothing."""
    if not os.path.exists(path) and os.path.exists(str(path) + OPEN_SUFFIX):
        path = str(path) + OPEN_SUFFIX
    with open(path, "rb") as f:
        f.seek(offset)
        record = next(iter(reader(f, check_digests=False)))
        if record_id is not None and (record.format != "warc"
                                      or record.rec_headers.get_header("WARC-Record-ID") != record_id):
            raise WarcError(f"not the record {record_id}: the file is damaged there")
        return record.http_headers, record.content_stream().read(limit)


def read_record_bytes(path: str | os.PathLike[str], offset: int, length: int) -> bytes:
    """A record exactly as stored (its gzip member); finds the file under its
    `.open` name while it is being written."""
    if not os.path.exists(path) and os.path.exists(str(path) + OPEN_SUFFIX):
        path = str(path) + OPEN_SUFFIX
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as exc:
        raise WarcError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) != length:
        raise WarcError(f"{path}: the record at offset {offset} is cut short")
    return data


def check_files(paths: list[Path]) -> list[str]:
    """What is wrong with a set of WARC files meant to stand on their own (a
    package): a record that does not read back whole, or a revisit whose
    original is not among them. One message per problem, naming file and
    offset; an empty list when they are sound."""
    problems: list[str] = []
    ids: set[str] = set()
    revisits: list[tuple[str, int, str]] = []
    for path in paths:
        size = path.stat().st_size
        end = 0
        try:
            with open(path, "rb") as f:
                it = reader(f, check_digests=False)
                for record in it:
                    seen = misfits(it)  # (warcio reads a record's closing lines when asked its offset)
                    stream = record.raw_stream
                    while stream.read(1 << 16):
                        pass
                    offset = it.get_record_offset()
                    if getattr(stream, "limit", 0) > 0:
                        raise EOFError("the record is cut short")
                    it.read_to_end(record)
                    if misfits(it) > seen:  # its gzip member ends it: the records after it still read
                        problems.append(f"{path.name}: offset {offset}: damaged record ({MISFIT})")
                    end = offset + it.get_record_length()
                    rid = record.rec_headers.get_header("WARC-Record-ID") or ""
                    ids.add(rid)
                    refers = record.rec_headers.get_header("WARC-Refers-To")
                    if record.rec_type == "revisit" and refers:
                        revisits.append((path.name, offset, refers))
        except Exception as exc:  # warcio, zlib, EOF
            problems.append(f"{path.name}: offset {end}: damaged record ({brief(exc)})")
            continue
        if end < size:
            problems.append(f"{path.name}: offset {end}: damaged record (unreadable data to the end of the file)")
    for name, offset, refers in revisits:
        if refers not in ids:
            problems.append(f"{name}: offset {offset}: revisit of {refers}, whose original record is missing")
    return problems


def check_record(path: str | os.PathLike[str], offset: int, payload_digest: str | None = None) -> str | None:
    """None when the record at `offset` reads back whole (and its payload
    has `payload_digest`, when given); else what is wrong with it."""
    if not os.path.exists(path) and os.path.exists(str(path) + OPEN_SUFFIX):
        path = str(path) + OPEN_SUFFIX
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if offset >= f.tell():
                return f"the file ends before offset {offset}"
            f.seek(offset)
            it = reader(f, check_digests=False)
            record = next(iter(it))
            sha1 = hashlib.sha1()
            stream = record.raw_stream
            for chunk in iter(lambda: stream.read(1 << 16), b""):
                sha1.update(chunk)
            if getattr(stream, "limit", 0) > 0:
                return "the record is cut short"
            it.read_to_end(record)
            if misfits(it):
                return MISFIT
    except FileNotFoundError:
        return "its WARC file is missing"
    except StopIteration:
        return "no record at that offset"
    except Exception as exc:  # warcio, zlib, EOF: unreadable
        return f"unreadable ({type(exc).__name__}: {exc})"
    if payload_digest and payload_digest.startswith("sha1:"):
        got = "sha1:" + base64.b32encode(sha1.digest()).decode("ascii")
        if got != payload_digest:
            return "its payload no longer matches its digest"
    return None


def writer_alive(path: str | os.PathLike[str]) -> bool:
    """Whether a process still writes the `.open` WARC file at `path` (a
    writer holds an exclusive lock on it for as long as it lives). Only
    reads: a read-only archive can be asked too."""
    try:
        with open(path, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False  # closed (renamed) meanwhile
    except OSError:
        return True  # cannot tell: say the cautious thing


def recover_open_files(directory: str | os.PathLike[str]) -> list[str]:
    """Close the `.open` WARC files whose writer is gone: cut each back to its
    last complete record and give it its final name. Returns the names."""
    directory = Path(directory)
    recovered: list[str] = []
    if not directory.is_dir():
        return recovered
    for path in sorted(directory.glob("*" + WARC_SUFFIX + OPEN_SUFFIX)):
        with open(path, "r+b") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            # Cut after the file's last whole record: a killed writer leaves a
            # torn tail. Damage before a whole record (not a crash's doing) is
            # left in place, never cut away with the records after it.
            end = 0
            damage: list[str] = []
            for offset, length, _record, _body in iter_complete_records(path, damage, resync=True):
                end = offset + length
            if end == 0:
                path.unlink()  # not even a whole warcinfo record: nothing to keep
                continue
            for problem in damage:
                if problem.endswith(READ_ON):  # the torn tail itself is expected
                    log.warning("%s", problem)
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
            final = path.with_name(path.name[: -len(OPEN_SUFFIX)])
            os.replace(path, final)
            recovered.append(final.name)
            log.warning("%s: left open by a process that ended; closed at its last complete record (%d bytes)",
                        final.name, end)
    return recovered
