"""The WARC writer on its own: rollover, recovery of files a killed writer left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from warcutil import read_file, warcio_check

from archiver.capture.warc import OPEN_SUFFIX, recover_open_files


def test_killed_writer_leaves_a_readable_file(site, tmp_path):
    """A capture killed mid-write: the next open cuts the file back to its
    last complete record and names it as a finished WARC."""
    arch = tmp_path / "arch"
    script = textwrap.dedent(f"""
        import sys, os, signal
        sys.path.insert(0, {str(os.path.dirname(__file__))!r})
        from archiver import Archive, FetchOptions
        from archiver.capture import warc
        real = warc.WarcWriter.write_exchange
        count = 0
        def write_then_die(self, ex, **kw):
            global count
            count += 1
            if count == 3:
                # half a record on disk, then the process dies
                self._file.write(b"\\x1f\\x8b\\x08\\x00partial")
                self._file.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, ex, **kw)
        warc.WarcWriter.write_exchange = write_then_die
        Archive({str(arch)!r}, fetch_options=FetchOptions(host_delay=0)).capture(
            [{site.url('/page.html')!r}, {site.url('/gzip.html')!r}, {site.url('/chunked.html')!r}])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    [left] = list((arch / "warc").glob("*" + OPEN_SUFFIX))
    recovered = recover_open_files(arch / "warc")
    assert recovered == [left.name[: -len(OPEN_SUFFIX)]]
    path = arch / "warc" / recovered[0]
    warcio_check(path)
    recs = read_file(path)
    assert recs[0].type == "warcinfo"
    # two exchanges were written whole (robots.txt and pages, in whatever
    # order they finished), each page with its metadata record; the third
    # write died half-way and is gone
    types = [r.type for r in recs[1:]]
    assert types.count("request") == types.count("response") == 2
    responses = {r.h("WARC-Record-ID") for r in recs if r.type == "response"}
    metas = [r for r in recs if r.type == "metadata"]
    assert metas and all(m.h("WARC-Concurrent-To") in responses for m in metas)
    # and the archive carries on: a new capture works and leaves no .open file
    from archiver import Archive, FetchOptions
    Archive(arch, fetch_options=FetchOptions(host_delay=0)).capture([site.url("/http10.html")])
    assert not list((arch / "warc").glob("*" + OPEN_SUFFIX))


def test_live_writer_file_is_left_alone(tmp_path):
    import fcntl
    d = tmp_path / "warc"
    d.mkdir()
    path = d / ("x.warc.gz" + OPEN_SUFFIX)
    with open(path, "wb") as f:
        f.write(b"in progress")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert recover_open_files(d) == []
    assert path.exists()


def test_empty_orphan_is_removed(tmp_path):
    d = tmp_path / "warc"
    d.mkdir()
    (d / ("y.warc.gz" + OPEN_SUFFIX)).write_bytes(b"\x1f\x8b")
    assert recover_open_files(d) == []
    assert list(d.iterdir()) == []


def _members(data: bytes) -> list[bytes]:
    """The gzip members of a WARC.gz file, each inflated."""
    import zlib

    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(data))
        data = d.unused_data
    return out


def test_the_writer_writes_these_bytes(tmp_path):
    """Byte-exact, as warcio's own tests are: a request and response, a
    metadata record and a revisit, with fixed record ids and dates. The
    file holds one gzip member per record; the warcinfo record (which names
    this host and version) is checked by its fields."""
    import base64
    import hashlib
    import io
    import itertools
    from datetime import datetime
    from pathlib import Path

    from archiver.config import VERSION, WarcOptions
    from archiver.models import Exchange
    from archiver.capture.warc import WarcWriter

    ids = (f"<urn:uuid:00000000-0000-0000-0000-{n:012d}>" for n in itertools.count(1))
    when = datetime(2026, 12, 6, 12, 0, 0, 123456)
    writer = WarcWriter(tmp_path, WarcOptions(), clock=lambda: when, make_id=lambda: next(ids))
    body = b"<html><title>A</title><p>Hello</p></html>"

    def exchange() -> Exchange:
        return Exchange(url="http://example.org/a", method="GET", request_target="/a",
                        request_headers=[("Host", "example.org"), ("User-Agent", "archiver/test"), ("Cookie", "s=1")],
                        started=when, http_version="HTTP/1.1", status_code=200, reason="OK",
                        response_headers=[("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"),
                                          ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
                        body=io.BytesIO(body), body_length=len(body), payload_digest="sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode(),
                        ip_address="192.0.2.7")

    _request, response = writer.write_exchange(exchange())
    writer.write_metadata("http://example.org/a", {"verdict": "new", "title": "A  title", "word-count": 1,
                                                   "none": None}, when=when, concurrent_to=response.record_id)
    writer.write_exchange(exchange(), revisit_of=response)
    writer.close()
    [path] = list(tmp_path.glob("*.warc.gz"))
    members = _members(path.read_bytes())
    assert len(members) == 6  # warcinfo, request, response, metadata, request, revisit
    expected = (Path(__file__).parent / "fixtures" / "warc" / "exchange-metadata-revisit.warc").read_bytes()
    assert b"".join(members[1:]) == expected
    info = members[0].decode()
    assert info.startswith("WARC/1.1\r\n") and "WARC-Type: warcinfo\r\n" in info
    assert f"software: archiver/{VERSION}" in info and "format: WARC File Format 1.1" in info
    warcio_check(path)
