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

__all__ = ["MISFIT", "misfits", "reader"]

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
