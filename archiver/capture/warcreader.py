"""warcio's record reader, quiet: one place that opens an ArchiveIterator.

warcio writes a warning of its own to stderr (three lines, the file's bytes
quoted as they are) when a record is not followed by its closing blank lines
(its Content-Length is wrong, or bytes were added after it), then reads on.
Every reader here reports damage itself, on one printable line naming file
and offset; `misfits` tells it that this happened.
"""

from __future__ import annotations

from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator

__all__ = ["METADATA_PREFIX", "MISFIT", "decode_fields", "misfits", "next_whole_record", "reader"]

METADATA_PREFIX = "archiver-"  # of the fields in archiver's metadata records


def decode_fields(body: bytes) -> dict[str, str]:
    """The fields of an archiver metadata record (application/warc-fields)."""
    out: dict[str, str] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.startswith(METADATA_PREFIX):
            out[name[len(METADATA_PREFIX):]] = value.strip()
    return out

# What a reader says about such a record.
MISFIT = "bytes follow it where its end should be (its Content-Length is wrong, or bytes were added)"


def reader(stream: IO[bytes], **options: Any) -> ArchiveIterator:
    """An ArchiveIterator over `stream` (`options` are warcio's) that does
    not print; see `misfits`."""
    it = ArchiveIterator(stream, **options)
    it.INC_RECORD = ""  # the format of the warning it writes: nothing
    return it


def misfits(it: ArchiveIterator) -> int:
    """How many records so far were not followed by their blank lines
    (counted once the record is read to its end)."""
    return int(it.err_count)


_GZIP_MAGIC = b"\x1f\x8b\x08"


def next_whole_record(f: IO[bytes], start: int, size: int) -> int | None:
    """The offset of the next gzip member at or after `start` that is a whole
    WARC record, or None. (The magic bytes turn up inside compressed data
    now and then; reading the record whole tells them apart.)"""
    pos = start
    while pos < size:
        f.seek(pos)
        chunk = f.read(1 << 20)
        if not chunk:
            return None
        at = chunk.find(_GZIP_MAGIC)
        if at < 0:
            pos += max(1, len(chunk) - len(_GZIP_MAGIC) + 1)
            continue
        candidate = pos + at
        f.seek(candidate)
        try:
            record = next(iter(reader(f, check_digests=False)))
            if record.format == "warc" and record.rec_headers.get_header("WARC-Record-ID"):
                while record.content_stream().read(65536):
                    pass
                return candidate
        except Exception:  # not a record's start: look further
            pass
        pos = candidate + 1
    return None
