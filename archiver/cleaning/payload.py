"""Turn a stored body back into the bytes the page meant, with a hard cap.

The WARC keeps the body content-encoded (gzip stays gzip). Anything that
reads it (robots.txt parsing, cleaning) decodes it here, never fully trusting
the size: a 100 KB gzip can inflate to gigabytes.
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from typing import IO, NamedTuple

from ..models import Exchange

__all__ = ["Payload", "decode_payload", "decode_stream", "document_kind", "looks_like_html", "looks_zlib", "read_payload"]

CHUNK = 64 * 1024
STEP = 256 * 1024


class Payload(NamedTuple):
    data: bytes
    complete: bool  # False when the cap cut it short or the encoding was broken
    problem: str | None = None


def _decoder(coding: str) -> zlib._Decompress | None:
    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj()  # re-made raw below if the stream has no zlib header
    return None


def decode_stream(raw: IO[bytes], content_encoding: str | None, limit: int) -> Payload:
    """Read `raw` and undo its content-encoding, producing at most `limit` bytes."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        data = raw.read(limit + 1)
        if len(data) > limit:
            return Payload(data[:limit], False, f"body larger than {limit} bytes")
        return Payload(data, True)
    if len(codings) > 1 or _decoder(codings[0]) is None:
        # Stacked or unknown codings (br, zstd, compress): hand back nothing
        # rather than bytes we cannot read.
        return Payload(b"", False, f"unsupported content-encoding {content_encoding!r}")
    coding = codings[0]
    decoder = _decoder(coding)
    assert decoder is not None
    out = bytearray()
    first = True
    problem: str | None = None
    while problem is None:
        chunk = raw.read(CHUNK)
        if not chunk:
            break
        if first and coding == "deflate" and not looks_zlib(chunk):
            decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
        first = False
        data = chunk
        # Inflate in small steps so that memory never runs far past the cap.
        while data and not decoder.eof:
            try:
                out += decoder.decompress(data, min(STEP, limit + 1 - len(out)))
            except zlib.error as exc:
                problem = f"broken {coding} stream: {exc}"
                break
            if len(out) > limit:
                problem = f"body inflates past {limit} bytes"
                break
            data = decoder.unconsumed_tail
        if decoder.eof:
            break
    if problem is None and not decoder.eof:
        problem = f"{coding} stream ends early"
    del out[limit:]
    return Payload(bytes(out), problem is None, problem)


def looks_zlib(chunk: bytes) -> bool:
    """`chunk` starts with a zlib header (deflate method, a check that adds up)."""
    return len(chunk) >= 2 and (chunk[0] & 0x0F) == 8 and ((chunk[0] << 8) | chunk[1]) % 31 == 0


def decode_payload(exchange: Exchange, limit: int) -> Payload:
    """The decoded body of an exchange, at most `limit` bytes, and whether it
    decoded whole; the stored stream is rewound afterwards so it can still be
    written to the WARC."""
    body = exchange.body
    pos = body.tell()
    body.seek(0)
    try:
        return decode_stream(body, exchange.header("content-encoding"), limit)
    finally:
        body.seek(pos)


def read_payload(exchange: Exchange, limit: int) -> bytes:
    """The decoded body of an exchange, at most `limit` bytes."""
    return decode_payload(exchange, limit).data


HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title")


TEXT_TYPES = frozenset({"text/plain"})
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})


def document_kind(content_type: str | None, head: bytes) -> str | None:
    """What a body is, for cleaning: "html", "pdf", "text", or None for what
    archiver keeps but does not clean (images, archives, media...)."""
    if looks_like_html(content_type, head):
        return "html"
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    start = head[:1024].lstrip()
    if ctype in PDF_TYPES or (ctype in ("", "application/octet-stream", "binary/octet-stream")
                              and start.startswith(b"%PDF-")):
        return "pdf"
    if ctype in TEXT_TYPES:
        return "text"
    return None


def looks_like_html(content_type: str | None, head: bytes) -> bool:
    """By the declared type when there is one, else by the first bytes."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in HTML_TYPES:
        return True
    if ctype and ctype not in ("application/octet-stream", "binary/octet-stream", "application/unknown"):
        return False  # a declared type is believed, as browsers do
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return any(start.startswith(m) or m in start[:512] for m in _HTML_MARKERS)


_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b", b"RIFF", b"OggS",
                 b"\x00\x00\x01\x00", b"ID3", b"fLaC", b"\x7fELF", b"MZ", b"wOFF", b"wOF2")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]{1,40})", re.I)


_LATIN_SINGLE_BYTE = frozenset({
    "cp1250", "cp1252", "cp1254", "cp1257", "latin-1", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-9",
    "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "mac-roman", "mac-latin2", "cp850",
    "cp437", "ascii",
})


def charset_from_content_type(content_type: str | None) -> str | None:
    m = _HEADER_CHARSET.search(content_type or "")
    return m.group(1) if m else None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().strip("'\"")).name
    except LookupError:
        return None
    # Browsers read latin-1 labels as windows-1252, and so should we.
    return "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec


def looks_binary(data: bytes) -> bool:
    head = data[:1024]
    if any(head.startswith(m) for m in _BINARY_MAGIC):
        return True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        return False
    # NULs in every other byte are UTF-16 without a BOM, not binary.
    nuls = head.count(b"\x00")
    if nuls and (head[1::2].count(b"\x00") > len(head) // 3 or head[0::2].count(b"\x00") > len(head) // 3):
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    if head.lstrip()[:1] == b"<":
        # Markup: a stray NUL or escape in it is the page's own (a browser
        # shows it as U+FFFD), not a sign that this is not text.
        return controls > len(head) // 10
    return nuls > 0 or controls > len(head) // 10


def decode_html(data: bytes, declared: str | None = None) -> str | None:
    """Bytes to text the way a browser would: BOM, then the HTTP header's
    charset, then the page's own <meta>, then a guess. None for binary."""
    if not data:
        return ""
    if looks_binary(data):
        return None
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, "replace")
    head = data[:2048]
    if head[1::2].count(b"\x00") > len(head) // 3:
        return data.decode("utf-16-le", "replace")
    if head[0::2].count(b"\x00") > len(head) // 3:
        return data.decode("utf-16-be", "replace")
    declared_codec = _codec(declared)
    meta = _META_CHARSET.search(data[:8192])
    meta_codec = _codec(meta.group(1).decode("ascii", "replace")) if meta else None
    for codec in (declared_codec, meta_codec):
        if codec and not codec.startswith("utf-16"):  # a page cannot declare itself UTF-16 in ASCII
            return data.decode(codec, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if len(data) < 4096:
        return data.decode("cp1252", "replace")  # too little to guess from: the web's usual legacy codec
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
        if best is not None and best.encoding:
            codec = codecs.lookup(best.encoding).name
            # Among the Latin single-byte code pages a guess is a coin toss;
            # windows-1252 is what browsers fall back to. Trust the detector
            # for scripts it can really tell apart (CJK, Cyrillic, Greek...).
            if codec not in _LATIN_SINGLE_BYTE:
                return data.decode(codec, "replace")
    except Exception:  # detection is best effort
        pass
    return data.decode("cp1252", "replace")


def read_source(path: str, limit: int, *, stdin: IO[bytes] | None = None) -> bytes:
    """The bytes of a saved page: a file, a .gz file (inflated, capped), or
    "-" for stdin. Raises OSError (for the caller to report) when unreadable."""
    if path == "-":
        import sys

        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(limit + 1)
        if data[:2] == b"\x1f\x8b":
            return decode_stream(io.BytesIO(data), "gzip", limit).data
        return data[:limit]
    with open(path, "rb") as f:
        if path.endswith(".gz"):
            payload = decode_stream(f, "gzip", limit)
            if not payload.complete and payload.problem and "broken" in payload.problem:
                raise OSError(f"{path}: {payload.problem}")
            return payload.data
        return f.read(limit)
