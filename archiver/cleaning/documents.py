"""Documents that are not web pages: PDF and plain text, to snapshots.

A report that changes is as worth keeping as an article. PDF text comes
from pdfminer.six, whose layout analysis reads columns in order (measured in
bench/documents.py: on a two-column page whose content stream runs across
both columns line by line, pypdf's text scores F1 0.61 against the source,
pdfminer's 1.00; pypdf is six times faster, but a snapshot in the wrong order
is no snapshot). Then what a printed page adds is taken away: running
headers and footers (the same line at the top or bottom of most pages,
page numbers aside), page numbers, and line breaks inside paragraphs (with
words hyphenated across lines joined again). Title, author and date come
from the document's own metadata.
"""

from __future__ import annotations

import base64
import binascii
import functools
import heapq
import io
import itertools
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..models import Snapshot
from .normalize import clean_field, drop_repeats, iso_date, normalize_text, split_authors, unspaced_join
from .payload import looks_zlib

__all__ = ["clean_pdf", "clean_text", "looks_like_pdf", "MAX_PDF_PAGES", "MAX_PDF_STREAM_BYTES"]

log = logging.getLogger(__name__)
# pdfminer warns of each quirk of a document ("Refusing to execute circular
# reference to content stream 6"), and with no handler of its own those
# went to stderr raw, from the cleaning processes too, amid a capture's
# output; what became of the document is the snapshot's to say. Like
# trafilatura's own loggers, its warnings now go only where an application
# sends logging (the root logger's handlers, if it configures them).
logging.getLogger("pdfminer").addHandler(logging.NullHandler())

MAX_PDF_PAGES = 2000  # a document longer than this is cleaned in part (the WARC keeps all of it)
# What pdfminer holds for one page, and reads in all, is bounded in things
# drawn (characters, lines, images): a dense page draws 3,000 to 10,000,
# one tall page of a long article 100,000 or so; past these, the rest of a
# page is left out (held, a character took ~700 bytes), and the rest of the
# document (reading it took ~25 microseconds a character).
MAX_PDF_PAGE_ITEMS = 200_000
MAX_PDF_ITEMS = 8_000_000
# Text boxes on one page past which reading order is the simple one (see
# `_layouts`); lines, past which pdfminer's own grouping of them is not used.
MAX_ORDERED_BOXES = 300
_PAGE_NUMBER = re.compile(r"^\s*(?:page|seite|página|pagina|page n°|стр\.?|p\.)?\s*[-–—(]?\s*\d{1,4}\s*[-–—)]?"
                          r"(?:\s*(?:of|/|von|de|di|из)\s*\d{1,4})?\s*$", re.I)
_SENTENCE_END = re.compile(r"[.!?:;…。！？」』\"'”’)\]]\s*$")
_HYPHENATED = re.compile(r"(\w)[-\u00ad]$")


# pdfminer inflates each stream it reads whole, in memory, so a small PDF
# can be a bomb: the streams it reads are measured first (through every
# filter and layer, decrypted when encrypted), never inflating more than this.
MAX_PDF_STREAM_BYTES = 64 << 20
MAX_PDF_INFLATED_BYTES = 256 << 20
_STREAM_START = re.compile(rb"(?<!end)stream\r?\n")
_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")
_OBJECT = re.compile(rb"(\d{1,10})\s+(\d{1,5})\s+obj\b")
_XREF = re.compile(rb"/Type\s*/XRef\b")
# An object's start, at the start of a line (as pdfminer's own scan for
# objects looks for it), and what a cut file is mended by (`_mended_pdf`).
_OBJECT_HEAD = re.compile(rb"(?m)^[ \t\f]*(\d{1,10})[ \t\r\n\f]+(\d{1,5})[ \t\r\n\f]+obj\b")
_OBJECT_STREAM = re.compile(rb"/Type\s*/ObjStm\b")
MAX_MENDED_OBJECTS = 1_000_000  # a cut file of more is not mended (a million took 6 s to mend, 55 s to read)
_CATALOG = re.compile(rb"/Type\s*/Catalog\b")
_FLATE = {b"FlateDecode", b"Fl"}
_ASCII85 = {b"ASCII85Decode", b"A85"}
_ASCII_HEX = {b"ASCIIHexDecode", b"AHx"}
_LZW = {b"LZWDecode", b"LZW"}
_RUN_LENGTH = {b"RunLengthDecode", b"RL"}


class _TooBig(Exception):
    pass


class _TooMuch(Exception):
    """A document that draws more than MAX_PDF_ITEMS things."""


def _filters(head: bytes) -> list[bytes]:
    """The filter names of the stream whose dictionary ends `head`."""
    found = _FILTER.findall(head[head.rfind(b" obj") + 1:])
    return re.findall(rb"/([A-Za-z0-9]+)", found[-1]) if found else []


def _ascii_decoded(raw: bytes, name: bytes) -> bytes | None:
    """`raw` through an ASCII85 or hex filter, or None if it does not decode."""
    try:
        if name in _ASCII85:
            body = raw.split(b"~>", 1)[0]
            body = body[2:] if body.lstrip().startswith(b"<~") else body
            return base64.a85decode(bytes(c for c in body if c > 32))
        digits = bytes(c for c in raw.split(b">", 1)[0] if c > 32)
        return binascii.unhexlify(digits + b"0" * (len(digits) % 2))
    except (ValueError, binascii.Error):
        return None


def _inflated(data: bytes, layers: int, limit: int) -> bytes:
    """`data` through `layers` inflations, at most `limit` bytes (_TooBig past it)."""
    kept: list[bytes] = []
    _inflated_size(data, layers, limit, kept.append)
    return b"".join(kept)


def _inflated_size(data: bytes, layers: int, limit: int, keep: Any = None) -> int:
    """What `data` inflates to through `layers` inflations, read a megabyte
    at a time (the last layer's output handed to `keep`, if given); raises
    _TooBig past `limit` at any layer. Damaged data: as far as it reads
    (pdfminer copes, or says so)."""
    inflaters = [zlib.decompressobj() for _ in range(layers)]
    sizes = [0] * layers

    def feed(level: int, chunk: bytes) -> None:
        inflater, pending = inflaters[level], chunk
        while pending and not inflater.eof:
            out = inflater.decompress(pending, 1 << 20)
            sizes[level] += len(out)
            if sizes[level] > limit:
                raise _TooBig
            if level + 1 < layers and out:
                feed(level + 1, out)
            elif keep is not None and out:
                keep(out)
            if inflater.unconsumed_tail == pending and not out:
                return  # no progress: damaged
            pending = inflater.unconsumed_tail

    try:
        feed(0, data)
    except zlib.error:
        pass
    return sizes[-1]


def _run_length_decoded(data: bytes, limit: int, *, keep: bool = True) -> tuple[bytes, int]:
    """RunLengthDecode (a length byte, then that many bytes plus one, or one
    byte repeated 257 minus it times; 128 ends): the bytes (when `keep`) and
    their count, raising _TooBig past `limit`."""
    out = bytearray()
    size = i = 0
    n = len(data)
    while i < n and data[i] != 128:
        length = data[i]
        if length < 128:
            piece, i = data[i + 1:i + 2 + length], i + 2 + length
        else:
            piece, i = data[i + 1:i + 2] * (257 - length), i + 2
        size += len(piece)
        if size > limit:
            raise _TooBig
        if keep:
            out += piece
    return bytes(out), size


def _lzw_decoded(data: bytes, limit: int, *, keep: bool = True) -> tuple[bytes, int]:
    """LZWDecode as pdfminer reads it (codes of 9 to 12 bits, most
    significant first; 256 starts over, 257 ends; a bad code ends it too):
    the bytes (when `keep`; else only their lengths are followed) and their
    count, raising _TooBig past `limit`."""
    out = bytearray()
    table: list[bytes] = []  # when keeping
    lengths: list[int] = []
    previous, previous_length = b"", 0
    size, nbits, bits, value = 0, 9, 0, 0
    for byte in data:
        value, bits = (value << 8) | byte, bits + 8
        while bits >= nbits:
            bits -= nbits
            code = (value >> bits) & ((1 << nbits) - 1)
            value &= (1 << bits) - 1
            if code == 256:
                lengths = [1] * 256 + [0, 0]
                table = [bytes((c,)) for c in range(256)] + [b"", b""] if keep else []
                previous, previous_length, nbits = b"", 0, 9
                continue
            if code == 257 or not lengths:
                return bytes(out), size
            if not previous_length:
                if code >= len(lengths):
                    return bytes(out), size
                length = lengths[code]
                x = table[code] if keep else b""
            elif code < len(lengths):
                length = lengths[code]
                x = table[code] if keep else b""
                lengths.append(previous_length + 1)
                if keep:
                    table.append(previous + x[:1])
            elif code == len(lengths):
                length = previous_length + 1
                x = previous + previous[:1] if keep else b""
                lengths.append(length)
                if keep:
                    table.append(x)
            else:
                return bytes(out), size  # damaged: pdfminer stops there too
            if previous_length:
                nbits = {511: 10, 1023: 11, 2047: 12}.get(len(lengths), nbits)
            previous, previous_length = x, length
            size += length
            if size > limit:
                raise _TooBig
            if keep:
                out += x
    return bytes(out), size


def _decoded_size(data: bytes, filters: list[bytes], limit: int) -> int:
    """What pdfminer would hold after the stream's filters, as far as they
    are ones that grow data, raising _TooBig past `limit` at any step. An
    image codec, an unknown filter or damaged data ends the measure."""
    i = 0
    while i < len(filters):
        name = filters[i]
        if name in _ASCII85 | _ASCII_HEX:
            decoded = _ascii_decoded(data, name)
            if decoded is None:
                return len(data)
            data = decoded
            i += 1
        elif name in _FLATE:
            j = i
            while j < len(filters) and filters[j] in _FLATE:
                j += 1
            if not looks_zlib(data):
                return len(data)  # no zlib header: left to pdfminer
            if j == len(filters):
                return _inflated_size(data, j - i, limit)  # a megabyte at a time, kept nowhere
            data = _inflated(data, j - i, limit)
            i = j
        elif name in _LZW | _RUN_LENGTH:
            last = i + 1 == len(filters)  # then only the size is wanted
            decode = _lzw_decoded if name in _LZW else _run_length_decoded
            data, size = decode(data, limit, keep=not last)
            if last:
                return size
            i += 1
        else:
            return len(data)
    return len(data)


def _decipher(data: bytes) -> Any:
    """The PDF's stream decryption as pdfminer opens it (the empty
    password), or None: not encrypted after all, or pdfminer cannot open
    it (then it reads nothing from it either). Opening it reads streams as
    written (cross-reference streams; object streams when those are
    damaged): they are to be measured first."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser

    class Key(Exception):
        pass

    class KeyOnly(PDFDocument):
        # Opening goes on to read the catalog, often from an object stream,
        # which is encrypted and not yet measured: stop once the key is known.
        def _initialize_password(self, password: str = "") -> None:
            super()._initialize_password(password)
            raise Key(self.decipher)

    try:
        return KeyOnly(PDFParser(io.BytesIO(data))).decipher
    except Key as key:
        return key.args[0]
    except Exception as exc:  # pdfminer raises many kinds on damaged or hostile files
        log.debug("encrypted PDF not opened: %s", exc)
        return None


def _inflation_problem(data: bytes) -> str | None:
    """Why the PDF's streams are too much to decode, or None. A stream whose
    filters name no growth, or whose data does not decode, is left to pdfminer."""
    problem = _streams_problem(data)  # as written: what opening the document may read so
    if problem is None and b"/Encrypt" in data:
        # Measured as written, an encrypted stream is noise, which stops
        # decoding within bytes (a run-length or LZW end code, a bad zlib
        # header); pdfminer decrypts it first, and so does this measure.
        decipher = _decipher(data)
        if decipher is not None:
            problem = _streams_problem(data, decipher=decipher)
    return problem


def _streams_problem(data: bytes, *, decipher: Any = None) -> str | None:
    """`_inflation_problem` for the streams as written, or as `decipher`
    decrypts them (cross-reference streams, never encrypted, are left out then)."""
    total = 0
    for m in _STREAM_START.finditer(data):
        start = m.end()
        head = data[max(0, m.start() - 4096):m.start()]
        dictionary = head[head.rfind(b" obj") + 1:]
        if _IMAGE.search(dictionary) or (decipher is not None and _XREF.search(dictionary)):
            continue
        end = data.find(b"endstream", start)
        filters = _filters(head) or [b"FlateDecode"]  # unnamed (an indirect /Filter): zlib data is measured
        raw = data[start:end if end > 0 else len(data)]
        if decipher is not None:
            numbers = _OBJECT.findall(head)
            if not numbers:
                continue  # no object to decrypt it as: pdfminer cannot either
            try:
                raw = decipher(int(numbers[-1][0]), int(numbers[-1][1]), raw)
            except Exception:  # noqa: BLE001 - as above: what does not decrypt, pdfminer does not read
                continue
        try:
            total += _decoded_size(raw, filters, MAX_PDF_STREAM_BYTES)
        except _TooBig:
            return (f"its stream at byte {m.start()} decodes past {MAX_PDF_STREAM_BYTES} bytes"
                    " (a decompression bomb, or a document too big to read)")
        if total > MAX_PDF_INFLATED_BYTES:
            return f"its streams decode past {MAX_PDF_INFLATED_BYTES} bytes in all (too big to read)"
    return None


def _cut_short(data: bytes) -> bool:
    """The file ends before its end (a download ended early, a partial
    file): neither `startxref` nor `%%EOF` after its last object."""
    tail = data[max(0, data.rfind(b"endobj")):]
    return b"%%EOF" not in tail and b"startxref" not in tail


def _dictionary_at(data: bytes, start: int, stop: int) -> bytes:
    """The start of the object whose body begins at `start` (the next one
    at `stop`), up to its stream's data or its end: where its type is named."""
    window = data[start:min(stop, start + 1024)]
    for word in (b"stream", b"endobj"):
        cut = window.find(word)
        if cut >= 0:
            window = window[:cut]
    return window


def _mended_pdf(data: bytes) -> bytes | None:
    """A PDF cut short, made whole: its bytes up to its last whole object,
    then a cross-reference stream of the objects found in them (those in
    object streams too) and a trailer naming its catalog. pdfminer's own
    scan for objects, its fallback when the cross-reference is gone, stops
    at the object cut in two, so not one page of such a file was read (a
    12-page report cut at 60%: nothing; mended, 9 pages). The catalog is
    the last object saying it is one; with none left, pdfminer reads every
    page object it finds, in the order of their numbers. None when nothing
    can be mended: no whole object, or an encrypted file (its key is in the
    trailer, which is gone)."""
    end = data.rfind(b"endobj")
    if end < 0 or b"/Encrypt" in data:
        return None
    body = data[:end + len(b"endobj")] + b"\n"
    entries: dict[int, tuple[int, int, int]] = {}  # number: (type, field 2, field 3) of a cross-reference stream
    where: dict[int, int] = {}  # number: where it was defined (a later definition replaces an earlier one)
    object_streams: list[int] = []
    catalog: int | None = None
    heads = list(itertools.islice(_OBJECT_HEAD.finditer(body), MAX_MENDED_OBJECTS + 1))
    if len(heads) > MAX_MENDED_OBJECTS:
        return None
    for i, m in enumerate(heads):
        number, generation = int(m[1]), int(m[2])
        if number >= 1 << 32 or generation >= 1 << 16 or m.start(1) >= 1 << 32:
            continue
        entries[number], where[number] = (1, m.start(1), generation), m.start(1)
        dictionary = _dictionary_at(body, m.end(), heads[i + 1].start() if i + 1 < len(heads) else len(body))
        if _OBJECT_STREAM.search(dictionary):
            object_streams.append(number)
        elif _CATALOG.search(dictionary):
            catalog = number
    if not entries:
        return None
    if object_streams:
        # What an object stream holds is known only once it is decoded:
        # pdfminer decodes it (its streams were measured before).
        found = _object_stream_contents(_with_cross_reference(body, entries, catalog), object_streams)
        for number, (stream, index, is_catalog) in found.items():
            if where.get(number, -1) < where[stream]:
                entries[number], where[number] = (2, stream, index), where[stream]
                if is_catalog and (catalog is None or where.get(catalog, -1) <= where[stream]):
                    catalog = number
    return _with_cross_reference(body, entries, catalog)


def _object_stream_contents(data: bytes, streams: list[int]) -> dict[int, tuple[int, int, bool]]:
    """For each object in the object streams `streams` of `data` (a PDF
    pdfminer opens): its number, the stream's number, its index there, and
    whether it is a catalog."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import PDFStream

    found: dict[int, tuple[int, int, bool]] = {}
    doc = PDFDocument(PDFParser(io.BytesIO(data)))
    for stream_number in streams:
        try:
            stream = doc.getobj(stream_number)
            if not isinstance(stream, PDFStream):
                continue
            content = stream.get_data()
            first = int(stream.get("First", 0))
        except Exception as exc:  # noqa: BLE001 - a damaged object stream: its objects are lost
            log.debug("object stream %d not read: %s", stream_number, exc)
            continue
        numbers = [int(n) for n in re.findall(rb"\d+", content[:first])]
        pairs = list(zip(numbers[::2], numbers[1::2], strict=False))
        for index, (number, offset) in enumerate(pairs):
            if number >= 1 << 32:
                continue
            stop = pairs[index + 1][1] if index + 1 < len(pairs) else len(content) - first
            body = content[first + offset:first + stop]
            found[number] = (stream_number, index, bool(_CATALOG.search(body[:1024])))
    return found


def _with_cross_reference(body: bytes, entries: dict[int, tuple[int, int, int]], catalog: int | None) -> bytes:
    """`body`, then (with no `catalog`, an empty one of its own) a
    cross-reference stream of `entries` and `startxref`."""
    out = [body]
    size = max(entries) + 1
    entries = dict(entries)
    if catalog is None:
        catalog, size = size, size + 1
        entries[catalog] = (1, len(body), 0)
        out.append(b"%d 0 obj\n<< /Type /Catalog >>\nendobj\n" % catalog)
    numbers = sorted(entries)
    runs: list[list[int]] = []  # [first, count] of consecutive numbers
    for number in numbers:
        if runs and runs[-1][0] + runs[-1][1] == number:
            runs[-1][1] += 1
        else:
            runs.append([number, 1])
    rows = b"".join(bytes((kind,)) + second.to_bytes(4, "big") + third.to_bytes(2, "big")
                    for kind, second, third in (entries[n] for n in numbers))
    at = sum(len(part) for part in out)
    index = b" ".join(b"%d %d" % (first, count) for first, count in runs)
    out.append(b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] /Root %d 0 R /Length %d >>\nstream\n"
               % (size, size + 1, index, catalog, len(rows)) + rows + b"\nendstream\nendobj\n")
    out.append(b"startxref\n%d\n%%%%EOF\n" % at)
    return b"".join(out)


def looks_like_pdf(data: bytes) -> bool:
    return data[:1024].lstrip()[:5] == b"%PDF-"


def _shape(text: str) -> str:
    """A line's shape for comparing across pages: digits are not what makes a running header."""
    return re.sub(r"\d+", "#", " ".join(text.split())).lower()


def _join_lines(lines: list[str]) -> str:
    # Pieces joined once at the end, each line judged against the one before
    # (growing one string, and searching all of it for a final hyphen, was
    # quadratic: a text file of 600,000 lines never finished).
    out: list[str] = []
    for line in (" ".join(l.split()) for l in lines):
        if not line:
            continue
        if not out:
            out.append(line)
        elif _HYPHENATED.search(out[-1][-2:]) and line[:1].islower():
            out[-1] = out[-1][:-1]
            out.append(line)  # "infor-" + "mation"
        elif unspaced_join(out[-1], line):
            out.append(line)  # Chinese and Japanese wrap without a space to remove
        else:
            out.append(" " + line)
    return "".join(out)


def _pdf_date(value: str | None) -> str | None:
    """PDF dates look like D:20250304120000Z or D:20250304120000+01'00'."""
    if not value:
        return None
    m = re.match(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?", value.strip())
    if not m:
        return iso_date(value)
    try:
        return datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1)).date().isoformat()
    except ValueError:
        return None


def _blocks(boxes: list[Any]) -> list[tuple[float, str]]:
    """pdfminer's text boxes, with the boxes of one paragraph joined again:
    the layout splits a paragraph when its line spacing is wider than it
    expects. A box joins the one above when it starts at the same left edge,
    in the same type size, and its first line is as far below the other's
    last line as that paragraph's lines are from each other (or, for boxes of
    one line, no more than 1.6 line heights: a paragraph gap is more)."""
    from pdfminer.layout import LTTextLine

    out: list[tuple[float, str]] = []
    prev: tuple[Any, list[Any]] | None = None
    for box in boxes:
        lines = [line for line in box if isinstance(line, LTTextLine)] or [box]
        if prev is not None:
            p_box, p_lines = prev
            size, p_size = lines[0].height, p_lines[-1].height
            pitches = [a.y0 - b.y0 for a, b in zip(p_lines, p_lines[1:])]
            limit = 1.2 * max(pitches) if pitches else 1.6 * p_size
            distance = p_lines[-1].y0 - lines[0].y0
            if (abs(p_box.x0 - box.x0) < 2 and p_size and abs(size - p_size) <= 0.15 * p_size
                    and 0 < distance <= limit):
                top, text = out[-1]
                out[-1] = (top, text + box.get_text())
                prev = (box, p_lines + lines)
                continue
        out.append((box.y1, box.get_text()))
        prev = (box, lines)
    return out


def _info(data: bytes) -> dict[str, str]:
    """The document information dictionary, as text."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    out: dict[str, str] = {}
    try:
        doc = PDFDocument(PDFParser(io.BytesIO(data)))
        for info in doc.info:
            for key, value in info.items():
                value = resolve1(value)
                if isinstance(value, bytes):
                    value = decode_text(value)
                if isinstance(value, str) and value.strip():
                    out[str(key)] = value.strip()
    except Exception as exc:  # metadata is a bonus
        log.debug("PDF metadata unreadable: %s", exc)
    return out


class _Node:
    """One step of pdfminer's grouping of lines into boxes: the line it
    took, and each neighbor with the box that neighbor was in then."""

    __slots__ = ("line", "neighbors")

    def __init__(self, line: Any, neighbors: list[tuple[Any, _Node | None]]) -> None:
        self.line = line
        self.neighbors = neighbors

    def lines(self) -> list[Any]:
        """The box's lines in the order pdfminer adds them: this step's line,
        then each neighbor followed by its box's lines, each line once."""
        out: list[Any] = []
        seen: set[int] = set()
        done: set[int] = set()
        stack = [self._items()]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
            elif isinstance(item, _Node):
                if id(item) not in done:
                    done.add(id(item))
                    stack.append(item._items())
            elif id(item) not in seen:
                seen.add(id(item))
                out.append(item)
        return out

    def _items(self) -> Iterator[Any]:
        yield self.line
        for neighbor, box in self.neighbors:
            yield neighbor
            if box is not None:
                yield box


def _grouped_lines(lines: list[Any], neighbors: list[list[Any]]) -> list[tuple[Any, list[Any]]]:
    """pdfminer's grouping of text lines into boxes (`group_textlines`), the
    same boxes with their lines in the same order, in linear time: it made
    each line's box anew from every line of its neighbors' boxes, so a run
    of n touching lines (one long page of text) cost n squared (6,000
    one-word lines: 23 s). Here each step is recorded (`_Node`) and boxes
    are joined by union-find; each final box is read out once. Each line
    must be among its own neighbors (pdfminer finds it so unless it has no
    width or height). Returns, for each box in pdfminer's order, the line of
    the step that made it last (pdfminer gives the box that line's
    direction) and its lines, in pdfminer's order."""
    parent: dict[int, int] = {}  # union-find over the lines' indexes
    size: dict[int, int] = {}
    box_of: dict[int, _Node] = {}  # a set's root -> its box as last made
    index = {id(line): i for i, line in enumerate(lines)}

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    for i, (line, near) in enumerate(zip(lines, neighbors)):
        steps: list[tuple[Any, _Node | None]] = []
        members: list[int] = []
        for other in near:
            j = index[id(other)]
            if j in parent:
                steps.append((other, box_of[find(j)]))
            else:
                parent[j], size[j] = j, 1
                steps.append((other, None))
            members.append(j)
        root = find(i)
        for j in members:
            a, b = find(j), root
            if a != b:
                if size[a] > size[b]:
                    a, b = b, a
                parent[a], size[b] = b, size[a] + size[b]
                root = b
        box_of[root] = _Node(line, steps)
    out: list[tuple[Any, list[Any]]] = []
    taken: set[int] = set()
    for i in range(len(lines)):
        root = find(i)
        if root not in taken:
            taken.add(root)
            out.append((box_of[root].line, box_of[root].lines()))
    return out


def _inflate_damaged(data: bytes, piece_size: int = 65536) -> bytes:
    """pdfminer's `decompress_corrupted`, which it calls for a stream whose
    zlib data does not inflate whole (cut short, or failing its checksum):
    what inflates before the damage, or zlib's error when the damage is
    before the last 3 bytes. The same bytes and errors, in linear time: it
    fed the data one byte at a time and grew its output by concatenation
    (4 MB of text took 13 s; 64 MB, most of an hour). Here the data goes in
    `piece_size` bytes at a time, and only a piece that fails is gone
    through again byte by byte, from a copy of the inflater made before it."""
    inflater = zlib.decompressobj()
    out = bytearray()
    at, n = 0, len(data)
    while at < n:
        piece = data[at:at + piece_size]
        before = inflater.copy()
        try:
            out += inflater.decompress(piece)
        except zlib.error:
            inflater = before
            for k in range(len(piece)):
                try:
                    out += inflater.decompress(piece[k:k + 1])
                except zlib.error:
                    if at + k < n - 3:
                        raise
                    log.debug("a PDF stream's zlib data is damaged in its last bytes; read up to them")
                    return bytes(out)
        at += len(piece)
    return bytes(out)


def _union(a: Any, b: Any) -> tuple[float, float, float, float]:
    return min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1)


def _spread(a: Any, b: Any) -> float:
    """pdfminer's distance of two boxes: the area of the rectangle around
    both less their own areas (negative when they overlap)."""
    x0, y0, x1, y1 = _union(a, b)
    return (x1 - x0) * (y1 - y0) - a.width * a.height - b.width * b.height


@functools.cache
def _layout_classes() -> tuple[type, type]:
    """pdfminer's LTPage and LTFigure (a form's content), their layout
    analysis as `_layouts` says."""
    from pdfminer.layout import (IndexAssigner, LTFigure, LTPage, LTTextBoxHorizontal, LTTextBoxVertical,
                                 LTTextGroupLRTB, LTTextGroupTBRL, LTTextLineHorizontal)
    from pdfminer.utils import Plane

    class Grouping:
        bbox: Any

        def group_textlines(self, laparams: Any, lines: Any) -> Iterator[Any]:
            lines = list(lines)
            plane: Any = Plane(self.bbox)
            plane.extend(lines)
            near = [line.find_neighbors(plane, laparams.line_margin) for line in lines]
            if not all(any(n is line for n in ns) for line, ns in zip(lines, near)):
                if len(lines) <= MAX_ORDERED_BOXES:
                    yield from super().group_textlines(laparams, lines)  # pdfminer's own, and its way with such lines
                    return
                # A line with no width is not its own neighbor, and pdfminer
                # copies it out of its box rather than join the two; here it
                # joins them (the text is the same, in one box).
                near = [ns if any(n is line for n in ns) else [line, *ns] for line, ns in zip(lines, near)]
            for first, members in _grouped_lines(lines, near):
                box = LTTextBoxHorizontal() if isinstance(first, LTTextLineHorizontal) else LTTextBoxVertical()
                for line in members:
                    box.add(line)
                if not box.is_empty():
                    yield box

        def group_textboxes(self, laparams: Any, boxes: Any) -> Any:
            if len(boxes) > MAX_ORDERED_BOXES:
                vertical = all(isinstance(box, LTTextBoxVertical) for box in boxes)
                return [(LTTextGroupTBRL if vertical else LTTextGroupLRTB)(boxes)]
            return _ordered_groups(Plane(self.bbox), boxes)

    class BoundedPage(Grouping, LTPage):
        def reading_order(self, laparams: Any, boxes: list[Any]) -> list[Any]:
            """`boxes` (of this page and of its forms) in reading order, as
            pdfminer orders a page's own."""
            assigner = IndexAssigner()
            for group in self.group_textboxes(laparams, boxes):
                group.analyze(laparams)
                assigner.run(group)
            return sorted(boxes, key=lambda box: box.index)

    class BoundedFigure(Grouping, LTFigure):
        pass

    def _ordered_groups(plane: Any, boxes: list[Any]) -> list[Any]:
        """pdfminer's `group_textboxes` (boxes joined into groups, the
        closest pair first, a pair with another box between them later),
        its ties broken by the order boxes and groups were made in. pdfminer
        breaks them by id(), a memory address: the same PDF's text came out
        in another order from one process to the next (of 36 random pages,
        5 changed when other objects had been made first), and a capture of
        an unchanged document would be called changed."""
        number: dict[int, int] = {id(box): i for i, box in enumerate(boxes)}
        pairs = [(False, _spread(a, b), i, j, a, b) for i, a in enumerate(boxes) for j, b in enumerate(boxes) if i < j]
        heapq.heapify(pairs)
        plane.extend(boxes)
        joined: set[int] = set()
        while pairs:
            checked, spread, i, j, a, b = heapq.heappop(pairs)
            if i in joined or j in joined:
                continue
            if not checked and any(obj is not a and obj is not b for obj in plane.find(_union(a, b))):
                heapq.heappush(pairs, (True, spread, i, j, a, b))
                continue
            vertical = any(isinstance(x, (LTTextBoxVertical, LTTextGroupTBRL)) for x in (a, b))
            group = (LTTextGroupTBRL if vertical else LTTextGroupLRTB)([a, b])
            plane.remove(a)
            plane.remove(b)
            joined.update((i, j))
            k = number[id(group)] = len(number)
            for other in plane:
                heapq.heappush(pairs, (False, _spread(group, other), k, number[id(other)], group, other))
            plane.add(group)
        return list(plane)

    return BoundedPage, BoundedFigure


def _params(*, all_texts: bool = False) -> Any:
    from pdfminer.layout import LAParams

    # Justified lines space their words widely; at pdfminer's default
    # char_margin a word at the end of one becomes a box of its own.
    return LAParams(char_margin=4.0, all_texts=all_texts)


def _text_boxes(page: Any) -> list[Any]:
    """A page's text boxes in reading order, with the text of the forms it
    draws when those hold more of its text than the page itself: some
    writers put a page's whole content in a form (a Form XObject), often
    with a page number stamped outside it, and pdfminer leaves a form's
    text unanalysed (plain pdfminer's text still had it; the snapshot was
    the page number). A page's chart with a few labels stays out."""
    from pdfminer.layout import LTChar, LTFigure, LTTextBox

    def chars(container: Any) -> int:
        return sum(1 if isinstance(item, LTChar) else chars(item) if isinstance(item, LTFigure) else 0
                   for item in container)

    def boxes_in(container: Any) -> list[Any]:
        return [box for item in container if isinstance(item, (LTTextBox, LTFigure))
                for box in ([item] if isinstance(item, LTTextBox) else boxes_in(item))]

    boxes = [item for item in page if isinstance(item, LTTextBox)]
    figures = [item for item in page if isinstance(item, LTFigure)]
    if not figures or sum(chars(f) for f in figures) <= sum(len(box.get_text()) for box in boxes):
        return boxes
    params = _params(all_texts=True)
    for figure in figures:
        figure.analyze(params)  # its characters into lines and boxes, as the page's were
    return page.reading_order(params, boxes + [box for figure in figures for box in boxes_in(figure)])


def _stand_in_font() -> dict[str, Any]:
    from pdfminer.psparser import LIT

    # WinAnsi: its first 128 codes are ASCII's (the standard encoding's are
    # not all: its quote is a curly one).
    return {"Type": LIT("Font"), "Subtype": LIT("Type1"), "BaseFont": LIT("Helvetica"),
            "Encoding": LIT("WinAnsiEncoding")}


def _layouts(data: bytes, notes: list[str] | None = None) -> Iterator[Any]:
    """Each page's layout, as pdfminer's `extract_pages` makes it, up to
    MAX_PDF_PAGES pages (`notes` gets what was left out, and why), except:
    lines are grouped into boxes in linear time (`_grouped_lines`; the same
    boxes); boxes are put in reading order the same way in every process
    (`_ordered_groups`); and past MAX_ORDERED_BOXES boxes on a page, that
    column-aware order (which compares every pair of boxes: one page of a
    60-by-20 table took 9 s) gives way to pdfminer's top-to-bottom,
    left-to-right one."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.utils import mult_matrix

    page_class, figure_class = _layout_classes()

    class Aggregator(PDFPageAggregator):
        drawn = 0  # items drawn on the pages before this one
        on_page = 0  # on this one
        pages_over: list[int] = []  # pages past MAX_PDF_PAGE_ITEMS, counted from 1

        def begin_page(self, page: Any, ctm: Any) -> None:
            super().begin_page(page, ctm)
            self.cur_item = page_class(self.cur_item.pageid, self.cur_item.bbox)
            self.drawn += self.on_page
            self.on_page = 0

        def _within_budget(self, draw: Any, *args: Any) -> Any:
            container = self.cur_item
            before = len(container._objs)
            result = draw(*args)
            self._count(container, before)
            return result

        def _count(self, container: Any, before: int) -> None:
            # A page's content can draw a form (a Form XObject) again and
            # again: 1 KB of PDF drew a million characters (8 s, 722 MB).
            added = len(container._objs) - before
            self.on_page += added
            if self.drawn + self.on_page > MAX_PDF_ITEMS:
                raise _TooMuch(f"it draws more than {MAX_PDF_ITEMS} characters, lines and images")
            if self.on_page > MAX_PDF_PAGE_ITEMS:
                del container._objs[before:]  # drawn, not kept
                if self.pageno not in self.pages_over[-1:]:
                    self.pages_over.append(self.pageno)

        def begin_figure(self, name: str, bbox: Any, matrix: Any) -> None:
            self._stack.append(self.cur_item)
            self.cur_item = figure_class(name, bbox, mult_matrix(matrix, self.ctm))  # as pdfminer makes one

        def end_figure(self, name: str) -> None:
            super().end_figure(name)
            self._count(self.cur_item, len(self.cur_item._objs) - 1)  # the form just drawn, into what drew it

        def render_char(self, *args: Any) -> Any:
            # One character adds one item: counted without asking (this is
            # called for every character, and costs what little it does).
            advance = super().render_char(*args)
            self.on_page += 1
            if self.on_page > MAX_PDF_PAGE_ITEMS or self.drawn + self.on_page > MAX_PDF_ITEMS:
                self.on_page -= 1
                self._count(self.cur_item, len(self.cur_item._objs) - 1)
            return advance

        def paint_path(self, *args: Any) -> Any:
            return self._within_budget(super().paint_path, *args)

        def render_image(self, *args: Any) -> Any:
            return self._within_budget(super().render_image, *args)

    class Resources(PDFResourceManager):
        # A font the file names but does not hold (cut off with the end of
        # a file cut short, or damaged) is read as Helvetica: pdfminer gave
        # its characters no width, and its page came out a character a line.
        stand_in: Any = None  # made once: a page can name a missing font at every line

        def get_font(self, objid: object, spec: Any) -> Any:
            if spec:
                return super().get_font(objid, spec)
            if self.stand_in is None:
                self.stand_in = super().get_font(None, _stand_in_font())
            return self.stand_in

    resources = Resources()
    device = Aggregator(resources, laparams=_params())
    interpreter = PDFPageInterpreter(resources, device)
    read = 0
    try:
        for number, page in enumerate(PDFPage.get_pages(io.BytesIO(data), maxpages=MAX_PDF_PAGES + 1), 1):
            if number > MAX_PDF_PAGES:
                if notes is not None:
                    notes.append(f"only its first {MAX_PDF_PAGES} pages were read")
                return
            interpreter.process_page(page)
            read = number
            yield device.get_result()
    finally:
        if resources.stand_in is not None and notes is not None:
            notes.append("fonts it uses are missing: their text was read as plain Western text, and some"
                         " characters may be wrong")
        over = [n for n in device.pages_over if n <= read]  # not the page reading stopped in
        if over and notes is not None:
            notes.append(f"{'pages' if len(over) > 1 else 'page'} {', '.join(map(str, over[:10]))}"
                         f"{' and more' if len(over) > 10 else ''} {'draw' if len(over) > 1 else 'draws'}"
                         f" more than {MAX_PDF_PAGE_ITEMS} characters, lines and images: the rest of"
                         f" {'each' if len(over) > 1 else 'it'} was left out")


def clean_pdf(data: bytes, url: str | None = None) -> Snapshot:
    """A PDF's text, in reading order, without its running heads, page
    numbers and line breaks; `not_html` with a reason when it cannot be read."""
    from .speedups import mend_pdfminer

    mend_pdfminer()
    too_big = _inflation_problem(data)
    if too_big:
        return Snapshot(url=url, status="not_html", error=f"PDF not read: {too_big}")
    pages: list[list[tuple[float, str]]] = []  # per page: (top, block text, lines joined by \n)
    # What was left unread, said with the text (it goes into the capture's
    # reason): a snapshot of part of a document must not pass for all of it.
    notes: list[str] = []
    try:
        mended = _mended_pdf(data) if _cut_short(data) else None
    except MemoryError:
        return Snapshot(url=url, status="not_html", error="PDF not read: mending it took more memory than a"
                                                           " cleaning process may take")
    except Exception as exc:  # noqa: BLE001 - pdfminer, on what it was given to mend: left as it was
        log.debug("a PDF cut short not mended: %s", exc)
        mended = None
    if mended is not None:
        notes.append(f"the file is cut short (it ends at byte {len(data)}, its cross-reference missing): what it"
                     " holds whole was read")
        data = mended
    try:
        for page in _layouts(data, notes):
            pages.append(_blocks(_text_boxes(page)))
    except _TooMuch as exc:
        if not pages:
            return Snapshot(url=url, status="not_html", error=f"PDF not read: {exc}")
        notes.append(f"reading stopped after page {len(pages)}: {exc}")
    except MemoryError:  # a cleaning process's ceiling (see workers/pool.py's _MemoryCeiling)
        if not pages:
            return Snapshot(url=url, status="not_html", error="PDF not read: reading it took more memory than a"
                                                               " cleaning process may take")
        notes.append(f"reading stopped after page {len(pages)}: reading on took more memory than a cleaning"
                     " process may take")
    except Exception as exc:  # pdfminer raises many kinds on damaged or hostile files
        if not pages:
            return Snapshot(url=url, status="not_html", error=f"unreadable PDF ({type(exc).__name__}: {exc})"[:300])
        notes.append(f"reading stopped after page {len(pages)}: {type(exc).__name__}: {exc}"[:300])
    if mended is not None and not pages:
        return Snapshot(url=url, status="not_html", error="unreadable PDF: the file is cut short, and not one page of"
                                                           " it is whole")
    # Running heads and feet: the first or last block of a page, when blocks of
    # the same shape stand there on at least half of the pages.
    edge: Counter[str] = Counter()
    for blocks in pages:
        for _, text in {id(b): b for b in blocks[:1] + blocks[-1:]}.values():
            edge[_shape(text)] += 1
    running = {shape for shape, n in edge.items() if len(pages) >= 2 and n >= max(2, len(pages) / 2)}
    paragraphs: list[str] = []
    carry: list[str] = []  # the paragraph being read, in pieces (joined once: a page of them stays linear)
    for blocks in pages:
        kept = [text for _, text in blocks if _shape(text) not in running and not _PAGE_NUMBER.match(text)]
        for block in kept:
            para = _join_lines(block.splitlines())
            if not para:
                continue
            if carry and para[:1].islower():
                # A block that goes on mid-sentence continues the one before
                # it (a wrapped line the layout split off, or a page break).
                if _HYPHENATED.search(carry[-1][-2:]):
                    carry[-1] = carry[-1][:-1]
                else:
                    carry.append(" ")
                carry.append(para)
                continue
            if carry:
                paragraphs.append("".join(carry))
            carry = [para]
    if carry:
        paragraphs.append("".join(carry))
    text = "\n\n".join(drop_repeats(normalize_text("\n".join(paragraphs))))
    info = _info(data)
    title = clean_field(info.get("Title"))
    if not title and paragraphs and len(paragraphs[0].split()) <= 15:
        title = clean_field(paragraphs[0])
    return Snapshot(
        url=url,
        status="ok" if text else "empty",
        title=title,
        authors=split_authors(info.get("Author")),
        published=_pdf_date(info.get("CreationDate")),
        language=None,
        sitename=None,
        canonical_url=url,
        text=text,
        rules=(),
        partial=f"PDF read in part: {'; '.join(notes)}" if notes else None,
    )


def clean_text(text: str, url: str | None = None) -> Snapshot:
    """A plain-text document as it is: paragraphs at blank lines, lines
    wrapped inside a paragraph joined, the first short line as its title."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = [p for p in (_join_lines(b.split("\n")) for b in blocks) if p]
    body = "\n\n".join(drop_repeats(normalize_text("\n".join(paragraphs))))
    first = paragraphs[0] if paragraphs else ""
    return Snapshot(url=url, status="ok" if body else "empty",
                    title=clean_field(first) if first and len(first.split()) <= 15 else None,
                    canonical_url=url, text=body)
