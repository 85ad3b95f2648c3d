"""Fixity: the SHA-256 and size of every closed WARC file, in a manifest.

`manifest-sha256.txt` sits in the archive folder in BagIt's form, one line
per closed file: `<sha256 hex>  warcs/<name>`. A line is appended (and
synced) when a file is closed, never rewritten, so the manifest is written
at the moment the archive last held the file whole; `archiver verify`
compares every file with it. The catalog keeps the same figures (with the
size and the time) in its `warc_files` table, loaded from the manifest when
it is rebuilt.
"""

from __future__ import annotations

import base64
import bisect
import fcntl
import hashlib
import io
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import StoreError, brief
from ..archive.layout import MANIFEST
from ..capture.warcreader import MISFIT, decode_fields, misfits, next_whole_record, reader

__all__ = ["MANIFEST", "FileFinding", "ManifestEntry", "append_manifest", "check_warc_file", "read_manifest",
           "sha256_file", "sha256_state"]

_LINE = re.compile(r"^([0-9a-f]{64})[ \t]+(\S.*)$")


@dataclass(frozen=True)
class ManifestEntry:
    sha256: str  # hex
    path: str  # relative to the archive folder ("warcs/NAME")
    line: int  # where it is in the manifest (1-based), for messages


def sha256_state(path: str | os.PathLike[str], *, upto: int | None = None) -> tuple[Any, int]:
    """(the SHA-256 object, bytes read) of a file, or of its first `upto`
    bytes; streams. The object can go on hashing what is appended."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            want = 1 << 20 if upto is None else min(1 << 20, upto - size)
            if want <= 0:
                break
            chunk = f.read(want)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h, size


def sha256_file(path: str | os.PathLike[str], *, upto: int | None = None) -> tuple[str, int]:
    """(hex SHA-256, bytes read) of a file, or of its first `upto` bytes; streams."""
    h, size = sha256_state(path, upto=upto)
    return h.hexdigest(), size


def append_manifest(archive: Path, rel_path: str, sha256_hex: str) -> None:
    """Add one line for a closed file, durably (a crash after this leaves the
    line whole or absent, never half of it: each line is one small write)."""
    if not _LINE.match(f"{sha256_hex}  {rel_path}") or "\n" in rel_path:
        raise StoreError(f"not a manifest entry: {rel_path!r}")
    target = archive / MANIFEST
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # two writers never interleave their lines
        line = f"{sha256_hex}  {rel_path}\n".encode("utf-8")
        if os.fstat(fd).st_size:
            # A line cut by a crash mid-write would glue onto ours: start afresh.
            with open(target, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def read_manifest(archive: Path) -> tuple[dict[str, ManifestEntry], list[str]]:
    """The manifest's entries by path, and a message for each line that is not
    one (a damaged manifest is itself a finding). No manifest: none."""
    target = archive / MANIFEST
    entries: dict[str, ManifestEntry] = {}
    problems: list[str] = []
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        return entries, problems
    except OSError as exc:
        return entries, [f"{MANIFEST}: unreadable ({exc.strerror or exc})"]
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{MANIFEST}: line {n}: not UTF-8")
            continue
        m = _LINE.match(text.rstrip("\r"))
        if not m:
            problems.append(f"{MANIFEST}: line {n}: not '<sha256>  <path>'")
            continue
        sha, path = m.group(1), m.group(2)
        old = entries.get(path)
        if old is not None and old.sha256 != sha:
            problems.append(f"{MANIFEST}: line {n}: {path} listed again with another hash (line {old.line})")
            continue
        entries[path] = ManifestEntry(sha256=sha, path=path, line=n)
    return entries, problems


# -- checking one WARC file (runs in a worker process) ---------------------------


@dataclass
class FileFinding:
    """What reading one WARC file end to end found."""

    name: str
    size: int = 0
    sha256: str = ""  # hex, of every byte of the file
    records: int = 0
    record_ids: list[str] = field(default_factory=list)
    revisits: list[tuple[int, str]] = field(default_factory=list)  # (offset, WARC-Refers-To)
    problems: list[tuple[int | None, str]] = field(default_factory=list)  # (offset, what)
    # record id -> what archiver's metadata record of a capture says (FACT_FIELDS)
    facts: dict[str, dict[str, str]] = field(default_factory=dict)


# What verify checks the catalog's captures and snapshot files against: the
# fields of each capture's metadata record that `show` and `history` print.
FACT_FIELDS = ("url", "timestamp", "verdict", "status-code", "title", "word-count", "text-sha256", "snapshot-sha256")
MAX_FACTS_BLOCK = 1 << 20  # bytes of a metadata record read for its fields


class _Inflating(io.RawIOBase):
    """A gzip-member-by-member view of a WARC.gz file: hands the inflated
    bytes to a WARC parser, hashes every raw byte on the way, and notes where
    each member starts, so that damage inside a member (a cut, a bad CRC,
    bytes after the last member) is found by the inflater itself, not
    guessed from what the parser makes of it."""

    def __init__(self, raw: IO[bytes], *, base: int = 0) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.hashing = base == 0  # the file's hash is taken on one pass from its start
        self.size = base  # raw offset reached
        self.starts_out: list[int] = []  # inflated offset where each member starts
        self.starts_raw: list[int] = []  # raw offset where each member starts
        self.damage: tuple[int, str] | None = None  # (raw offset of the member, why)
        self._d: Any = None
        self._pending = b""
        self._pending_at = base  # raw offset of _pending's first byte
        self._out = b""
        self._out_total = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out and not self._done:
            self._step()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _step(self) -> None:
        if not self._pending:
            chunk = self.raw.read(1 << 20)
            if not chunk:
                self._done = True
                if self._d is not None and not self._d.eof:
                    self.damage = (self.starts_raw[-1], "the record's gzip member is cut short")
                return
            if self.hashing:
                self.sha256.update(chunk)
            self._pending, self._pending_at = chunk, self.size
            self.size += len(chunk)
        if self._d is None or self._d.eof:
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self.starts_out.append(self._out_total)
            self.starts_raw.append(self._pending_at)
        try:
            out = self._d.decompress(self._pending, 1 << 20)
        except zlib.error as exc:
            self.damage = (self.starts_raw[-1], f"broken gzip data ({exc})")
            self._done = True
            return
        rest = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
        self._pending_at += len(self._pending) - len(rest)
        self._pending = rest
        self._out += out
        self._out_total += len(out)

    def raw_offset(self, inflated_offset: int) -> int:
        """The raw offset of the member an inflated offset falls in."""
        i = bisect.bisect_right(self.starts_out, inflated_offset) - 1
        return self.starts_raw[max(i, 0)] if self.starts_raw else 0

    def finish(self) -> None:
        """Hash the bytes the parser never asked for (after damage)."""
        while True:
            chunk = self.raw.read(1 << 20)
            if not chunk:
                return
            if self.hashing:
                self.sha256.update(chunk)
            self.size += len(chunk)


def _digester(value: str | None) -> tuple[Any, str, str] | None:
    """(hash object, algorithm, expected value) for a WARC digest header."""
    if not value or ":" not in value:
        return None
    algo, _, expected = value.partition(":")
    algo = algo.strip().lower().replace("-", "")
    if algo not in ("sha1", "sha256", "sha512", "md5"):
        return None
    return hashlib.new(algo), algo, expected.strip()


def _digest_matches(h: Any, expected: str) -> bool:
    raw = h.digest()
    return expected.upper() in (base64.b32encode(raw).decode("ascii"), raw.hex().upper()) or expected == raw.hex()


def check_warc_file(path: str, catalog_rows: list[tuple[int, int, str, str, str | None]] | None = None) -> FileFinding:
    """Read one WARC.gz file end to end: every gzip member whole, every
    record's block and payload digests recomputed on the stored bytes (not
    on what a reader makes of them: warcio issue 74), the SHA-256 and size of
    the file, and each catalog row (offset, length, record id, type, payload
    digest) against the record it points to. Memory stays flat in record size."""
    found = FileFinding(name=os.path.basename(path))
    try:
        raw = open(path, "rb")
    except OSError as exc:
        found.problems.append((None, f"unreadable ({exc.strerror or exc})"))
        return found
    at: dict[int, tuple[str, str, str | None]] = {}  # raw offset -> (record id, type, payload digest)
    starts: list[int] = []  # raw offset of every member read, in order
    whole: _Inflating | None = None  # the pass from the file's start: its hash and size
    with raw:
        base = 0
        while True:
            raw.seek(base)
            inflating = _Inflating(raw, base=base)
            whole = inflating if whole is None else whole
            stream = io.BufferedReader(inflating, 1 << 20)
            broke = False
            try:
                it = reader(stream, no_record_parse=True, check_digests=False)
                for record in it:
                    headers = record.rec_headers
                    rid = headers.get_header("WARC-Record-ID") or ""
                    rtype = record.rec_type
                    payload_header = headers.get_header("WARC-Payload-Digest")
                    kept: list[bytes] | None = [] if rtype == "metadata" else None
                    problem = _check_record(record, rtype, headers, payload_header, kept)
                    seen = misfits(it)
                    it.read_to_end(record)
                    if misfits(it) > seen:
                        problem = f"{problem}; {MISFIT}" if problem else MISFIT
                    # (warcio knows a record's offset only once it is read to its end)
                    offset = inflating.raw_offset(it.get_record_offset())
                    if problem:
                        found.problems.append((offset, f"{rtype} record {rid}: {problem}"))
                    found.records += 1
                    if rid:
                        found.record_ids.append(rid)
                        at[offset] = (rid, rtype, payload_header)
                        if kept and not problem:
                            fields = decode_fields(b"".join(kept))
                            if "verdict" in fields:
                                found.facts[rid] = {k: fields[k] for k in FACT_FIELDS if k in fields}
                    refers = headers.get_header("WARC-Refers-To")
                    if rtype == "revisit" and refers:
                        found.revisits.append((offset, refers))
            except Exception as exc:  # warcio, zlib, EOF: the records stop being readable here
                broke = True
                if inflating.damage is None:
                    where = inflating.starts_raw[-1] if inflating.starts_raw else base
                    found.problems.append((where, f"damaged record ({brief(exc)})"))
            if inflating.damage is not None:
                found.problems.append(inflating.damage)
                broke = True
            starts += inflating.starts_raw
            if inflating is whole:
                inflating.finish()
            # A damaged record loses only itself: read on at the next whole one.
            after = next_whole_record(raw, (starts[-1] if starts else base) + 1, whole.size) if broke else None
            if after is None:
                break
            base = after
    assert whole is not None
    found.size, found.sha256 = whole.size, whole.sha256.hexdigest()
    ends = {s: e for s, e in zip(starts, starts[1:] + [whole.size])}
    for offset, length, rid, rtype, digest in catalog_rows or []:
        where = f"the catalog's {rtype} record {rid}"
        if offset not in at:
            found.problems.append((offset, f"{where} is not at this offset"))
        elif at[offset][0] != rid:
            found.problems.append((offset, f"{where}: the record here is {at[offset][0]}"))
        elif ends.get(offset, offset) - offset != length:
            found.problems.append((offset, f"{where}: its length is {ends.get(offset, offset) - offset},"
                                           f" the catalog says {length}"))
        elif digest and at[offset][2] and digest != at[offset][2]:
            found.problems.append((offset, f"{where}: the catalog's payload digest {digest} is not the record's"))
    return found


def _check_record(record: Any, rtype: str, headers: Any, payload_header: str | None,
                  kept: list[bytes] | None = None) -> str | None:
    """Recompute a record's digests as it streams by; what is wrong, or None.
    `kept` gets the block's first MAX_FACTS_BLOCK bytes."""
    block = _digester(headers.get_header("WARC-Block-Digest"))
    # A revisit's payload digest is its original's; a record without HTTP
    # headers has the block as its payload.
    payload = _digester(payload_header) if rtype != "revisit" else None
    http = rtype in ("response", "request") and "application/http" in (headers.get_header("Content-Type") or "")
    head = b""  # HTTP header bytes seen so far, until the blank line
    in_payload = not http
    stream = record.raw_stream
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        if kept is not None and sum(map(len, kept)) < MAX_FACTS_BLOCK:
            kept.append(chunk)
        if block:
            block[0].update(chunk)
        if payload:
            if in_payload:
                payload[0].update(chunk)
            else:
                head += chunk
                end = head.find(b"\r\n\r\n")
                if end >= 0:
                    in_payload = True
                    payload[0].update(head[end + 4:])
                    head = b""
                elif len(head) > 1 << 20:
                    return "its HTTP headers never end"
    if getattr(stream, "limit", 0) > 0:
        return "the record is cut short"
    wrong = []
    if block and not _digest_matches(block[0], block[2]):
        wrong.append(f"its block no longer matches WARC-Block-Digest {block[1]}:{block[2]}")
    if payload and not _digest_matches(payload[0], payload[2]):
        wrong.append(f"its payload no longer matches WARC-Payload-Digest {payload[1]}:{payload[2]}")
    return "; ".join(wrong) or None
