"""Decoding stored bodies: capped, and honest about what it could not read."""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zlib

from siteserver import BOMB_PLAIN

from archiver import Archive, CleanOptions, Verdict
from archiver.cleaning.payload import decode_stream, looks_like_html


def test_gzip_bomb_inflates_only_to_the_cap(site):
    bomb = site.state.bomb
    tracemalloc.start()
    try:
        payload = decode_stream(io.BytesIO(bomb), "gzip", 4 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(site.state.bomb) < BOMB_PLAIN // 100
    assert len(payload.data) == 4 * 1024 * 1024 and not payload.complete
    assert "inflates past" in payload.problem
    assert peak < 16 * 1024 * 1024


def test_bomb_capture_stays_small_and_is_archived_whole(site, tmp_path, fast_options):
    assert site.state.bomb  # built before measuring
    cap = 2 * 1024 * 1024
    tracemalloc.start()
    try:
        archive = Archive(tmp_path / "a", fetch_options=fast_options, clean_options=CleanOptions(max_html_bytes=cap))
        [c] = archive.capture([site.url("/bomb.html")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * cap  # 200 MB of zeros were never inflated
    assert c.status_code == 200 and c.verdict is Verdict.SOFT_ERROR
    # and why there is no text: only the start of what it inflates to was cleaned
    assert c.reason == f"no article text found; cleaned the first {cap} bytes: body inflates past {cap} bytes"


def test_decode_identity_deflate_raw_deflate_and_broken():
    text = b"hello " * 1000
    assert decode_stream(io.BytesIO(text), None, 10**6) == (text, True, None)
    assert decode_stream(io.BytesIO(zlib.compress(text)), "deflate", 10**6).data == text
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(text) + raw.flush()
    assert decode_stream(io.BytesIO(raw_deflate), "deflate", 10**6).data == text
    cut = gzip.compress(text)[:-30]
    broken = decode_stream(io.BytesIO(cut), "gzip", 10**6)
    assert not broken.complete and broken.problem
    unknown = decode_stream(io.BytesIO(b"xx"), "br", 10**6)
    assert unknown.data == b"" and "unsupported" in unknown.problem
    assert decode_stream(io.BytesIO(text), "identity", 100) == (text[:100], False, "body larger than 100 bytes")


def test_html_sniffing():
    assert looks_like_html("text/html; charset=utf-8", b"")
    assert looks_like_html("application/xhtml+xml", b"")
    assert not looks_like_html("application/pdf", b"<html>")
    assert not looks_like_html("text/plain", b"<html>")
    assert looks_like_html(None, b"\xef\xbb\xbf  <!DOCTYPE html><html>")
    assert looks_like_html("application/octet-stream", b"<html><body>")
    assert not looks_like_html(None, b"%PDF-1.4")


def test_a_stray_nul_in_markup_is_text_not_binary():
    """A page with a NUL in its title (a broken CMS) was judged not HTML;
    a browser shows it. What does not start with markup stays binary."""
    from archiver import clean
    from archiver.cleaning.payload import decode_html, looks_binary

    page = (b"<html><head><title>Nul\x00 title\x1b[2J</title></head><body><article><p>"
            + b"Words of a real article about something that matters. " * 30 + b"</p></article></body></html>")
    assert not looks_binary(page)
    snap = clean(page, "https://site.example/nul")
    assert snap.status == "ok" and snap.title == "Nul title[2J" and "\x00" not in snap.text
    assert looks_binary(b"\x00\x01\x02garbage <html>" + b"x" * 100)
    assert looks_binary(b"<" + bytes(range(32)) * 20)  # markup-looking, but a tenth control bytes
    assert decode_html(b"\x00\x00\x00\x01 not text") is None
