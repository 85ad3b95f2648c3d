"""Ingesting WARCs written by other tools: wget, and warcio directly."""

from __future__ import annotations

import io
import re
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from siteserver import article
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from warcutil import assert_archive_consistent, read_all, warc_files, warcio_check

from archiver import Archive, SnapshotNotFound, Verdict
from archiver.cli import cli
from archiver.capture.ingest import ingest_warcs

LONG = " ".join(f"Line {i} of a long report on the harbour and its records." for i in range(40))


def body(title: str, extra: str = "") -> bytes:
    return article(title, LONG + extra)


def make_warc(path: Path, *, gz: bool = True, cut_last: bool = False, garbage_after: int | None = None) -> dict[str, str]:
    """A WARC as another tool would write it: two pages, a revisit, a 404,
    a PDF; optionally a corrupt record in the middle and a cut-off last one."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=gz, warc_version="1.0")
    ids = {}

    def response(url: str, payload: bytes, date: str, status: str = "200 OK", ctype: str = "text/html; charset=utf-8"):
        http = StatusAndHeaders(status, [("Content-Type", ctype), ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
        rec = w.create_warc_record(url, "response", payload=io.BytesIO(payload), length=len(payload), http_headers=http,
                                   warc_headers_dict={"WARC-Date": date})
        w.write_record(rec)
        ids[url + date] = rec.rec_headers.get_header("WARC-Record-ID")
        return rec

    first = response("http://old.example/a", body("Harbour records"), "2020-01-01T00:00:00Z")
    response("http://old.example/b", body("Second page"), "2020-01-01T00:00:01Z")
    chunks = [buf.getvalue()]
    if garbage_after is not None:
        chunks.append(b"\x1f\x8b\x08\x00this is not a gzip member at all" * 3)
    buf.seek(0)
    buf.truncate()
    revisit = w.create_revisit_record("http://old.example/a", first.rec_headers.get_header("WARC-Payload-Digest"),
                                      "http://old.example/a", "2020-01-01T00:00:00Z",
                                      http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
                                      warc_headers_dict={"WARC-Date": "2020-02-01T00:00:00Z",
                                                         "WARC-Refers-To": first.rec_headers.get_header("WARC-Record-ID")})
    w.write_record(revisit)
    response("http://old.example/gone", b"<html><title>Not Found</title>gone</html>", "2020-02-01T00:00:02Z", "404 Not Found")
    response("http://old.example/file.pdf", b"%PDF-1.4\n%\xe2\xe3\n", "2020-02-01T00:00:03Z", ctype="application/pdf")
    response("http://old.example/a", body("Harbour records", " A correction was added."), "2020-03-01T00:00:00Z")
    tail = buf.getvalue()
    if cut_last:
        tail = tail[:-40]
    chunks.append(tail)
    path.write_bytes(b"".join(chunks))
    return ids


def history(archive: Archive, url: str) -> list[str]:
    return [c.verdict.value for c in archive.history(url)]


@pytest.mark.parametrize("gz", [True, False])
def test_ingest_warcio_written_file_with_a_revisit(tmp_path, gz):
    src = tmp_path / ("src.warc.gz" if gz else "src.warc")
    make_warc(src, gz=gz)
    archive = Archive(tmp_path / "arch")
    report = ingest_warcs(archive, [str(src)])
    assert report.problems == [] and report.copied == 6
    assert history(archive, "http://old.example/a") == ["new", "unchanged", "changed"]
    assert history(archive, "http://old.example/gone") == ["http_error"]
    assert history(archive, "http://old.example/file.pdf") == ["not_html"]
    shown = archive.show("http://old.example/a")
    assert "A correction was added." in shown.snapshot.text
    # each capture says where in the source file it came from
    sources = [c.source for c in archive.history("http://old.example/a")]
    assert all(s and s.startswith(src.name + "#") for s in sources) and len(set(sources)) == 3
    assert shown.provenance["ingested_from"] == archive.history("http://old.example/a")[-1].source
    d = archive.diff("http://old.example/a")
    assert any(c.op in ("replace", "insert") for h in d.hunks for c in h)
    # the records were copied, and the archive's own files check out
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)
    copied = [r for r in read_all(tmp_path / "arch") if r.h("WARC-Target-URI") == "http://old.example/a"]
    assert [r.type for r in copied if r.type != "metadata"] == ["response", "revisit", "response"]
    # re-ingesting the same file adds nothing
    again = ingest_warcs(archive, [str(src)])
    assert again.copied == 0 and again.skipped_known == 6 and again.captures == []
    assert history(archive, "http://old.example/a") == ["new", "unchanged", "changed"]


def test_corrupt_and_truncated_records_are_skipped_with_a_warning(tmp_path):
    src = tmp_path / "broken.warc.gz"
    make_warc(src, cut_last=True, garbage_after=1)
    archive = Archive(tmp_path / "arch")
    report = ingest_warcs(archive, [str(src)])
    assert report.problems, "the broken parts must be reported"
    assert all("broken.warc.gz: offset " in p for p in report.problems)
    # the records around the damage are still in
    assert history(archive, "http://old.example/b") == ["new"]
    assert history(archive, "http://old.example/gone") == ["http_error"]
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch2"), "ingest", str(src)])
    assert res.exit_code == 0 and "warning: broken.warc.gz: offset" in res.stderr


def test_ingest_bad_input(tmp_path):
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "ingest", str(tmp_path / "missing.warc.gz")])
    assert res.exit_code == 2 and res.stderr.startswith("error: cannot read")
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"not a warc at all\n" * 10)
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "ingest", str(junk)])
    assert res.exit_code == 0 and "warning: junk.warc.gz: offset 0: not a WARC or ARC file" in res.stderr


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget not installed (.ci/run installs it)")
def test_ingest_a_wget_warc(site, tmp_path):
    urls = [site.url("/page.html"), site.url("/gzip.html"), site.url("/chunked.html"), site.url("/404"),
            site.url("/file.pdf"), site.url("/redirect/1")]
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    subprocess.run(["wget", "-q", "--warc-file", str(tmp_path / "wget"), "--no-warc-keep-log", "--delete-after",
                    "-P", str(tmp_path / "files"), "-i", str(tmp_path / "urls.txt")], cwd=tmp_path, timeout=60)
    src = tmp_path / "wget.warc.gz"
    assert src.exists()
    archive = Archive(tmp_path / "arch")
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src), "--json"])
    assert res.exit_code == 0, res.output
    got = {c["url"]: c for c in map(json.loads, res.stdout.splitlines())}
    # /redirect/1 leads wget to /page.html a second time: same text, unchanged
    assert history(archive, site.url("/page.html")) == ["new", "unchanged"]
    assert got[site.url("/page.html")]["title"] == "A test article"
    assert got[site.url("/gzip.html")]["title"] == "Gzipped"
    assert got[site.url("/chunked.html")]["title"] == "Chunked"
    assert got[site.url("/404")]["verdict"] == "http_error"
    assert got[site.url("/file.pdf")]["verdict"] == "not_html"
    assert "A test article" in archive.show(site.url("/page.html")).snapshot.text
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)


def snapshots_of(archive: Archive) -> list[tuple]:
    with archive.catalog() as catalog:
        rows = catalog.db.execute("SELECT url, timestamp, verdict, text_sha256, title FROM captures ORDER BY id").fetchall()
    return [tuple(r) for r in rows]


def test_dask_local_cluster_gives_the_same_snapshots(tmp_path):
    from archiver.workers.cluster import dask_executor

    src = tmp_path / "src.warc.gz"
    make_warc(src)
    single = Archive(tmp_path / "single")
    ingest_warcs(single, [str(src)])
    on_dask = Archive(tmp_path / "dask")
    with dask_executor("local", workers=2) as executor:
        ingest_warcs(on_dask, [str(src)], executor=executor)
    assert snapshots_of(on_dask) == snapshots_of(single)
    assert len(snapshots_of(single)) == 6


def test_dask_scheduler_and_worker_processes(tmp_path):
    src = tmp_path / "src.warc.gz"
    make_warc(src)
    single = Archive(tmp_path / "single")
    ingest_warcs(single, [str(src)])
    bindir = Path(sys.executable).parent
    sched_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(sched_file)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        import time
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.read_text().strip():
            assert time.monotonic() < deadline and scheduler.poll() is None, "scheduler did not start"
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        worker = subprocess.Popen([str(bindir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
                                   "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "remote"), "ingest", str(src), "--dask", address])
        assert res.exit_code == 0, res.output
        assert snapshots_of(Archive(tmp_path / "remote")) == snapshots_of(single)
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def make_arc(path: Path) -> None:
    """An ARC v1 file, as the Internet Archive's older crawlers wrote."""
    html = b"<html><head><title>Old ARC page</title></head><body><article><p>" + LONG.encode() + b"</p></article></body></html>"
    payload = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(html) + html
    header = b"1 0 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    data = b"filedesc://old.arc 0.0.0.0 20050101000000 text/plain %d\n" % len(header) + header + b"\n"
    data += b"http://old.example/arc 127.0.0.1 20050101000000 text/html %d\n" % len(payload) + payload + b"\n"
    path.write_bytes(data)


def test_ingest_an_arc_file(tmp_path):
    src = tmp_path / "old.arc"
    make_arc(src)
    archive = Archive(tmp_path / "arch")
    report = ingest_warcs(archive, [str(src)])
    assert report.problems == []
    [c] = archive.history("http://old.example/arc")
    assert c.verdict is Verdict.NEW and c.title == "Old ARC page" and c.timestamp == "20050101000000"
    # rewritten as a WARC response record, which checks out
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)
    [resp] = [r for r in read_all(tmp_path / "arch") if r.type == "response"]
    assert resp.h("WARC-Target-URI") == "http://old.example/arc" and b"Old ARC page" in resp.content


def make_full_warc(path: Path) -> None:
    """Every record type a crawler writes: warcinfo, request, response,
    metadata, resource, and a revisit; gzip per record."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True, warc_version="1.1")
    w.write_record(w.create_warcinfo_record("crawl.warc.gz", {"software": "a crawler"}))
    for i, url in enumerate(("http://full.example/a", "http://full.example/b")):
        payload = body(f"Page {i}")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(payload)))],
                                protocol="HTTP/1.1")
        resp = w.create_warc_record(url, "response", payload=io.BytesIO(payload), length=len(payload),
                                    http_headers=http, warc_headers_dict={"WARC-Date": f"2021-01-0{i + 1}T00:00:00Z"})
        req = w.create_warc_record(url, "request", payload=io.BytesIO(b""), length=0,
                                   http_headers=StatusAndHeaders("GET / HTTP/1.1", [("Host", "full.example")],
                                                                 is_http_request=True),
                                   warc_headers_dict={"WARC-Date": f"2021-01-0{i + 1}T00:00:00Z"})
        w.write_request_response_pair(req, resp)
        meta = b"outlinks: http://full.example/\r\n"
        w.write_record(w.create_warc_record(url, "metadata", payload=io.BytesIO(meta), length=len(meta),
                                            warc_content_type="application/warc-fields",
                                            warc_headers_dict={"WARC-Date": f"2021-01-0{i + 1}T00:00:01Z"}))
    shot = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    w.write_record(w.create_warc_record("urn:screenshot:http://full.example/a", "resource", payload=io.BytesIO(shot),
                                        length=len(shot), warc_content_type="image/png",
                                        warc_headers_dict={"WARC-Date": "2021-01-01T00:00:02Z"}))
    path.write_bytes(buf.getvalue())


def test_reingest_adds_nothing_of_any_record_type(tmp_path):
    src = tmp_path / "crawl.warc.gz"
    make_full_warc(src)
    archive = Archive(tmp_path / "arch")
    first = ingest_warcs(archive, [str(src)])
    assert first.problems == [] and first.copied == 7  # 2 requests, 2 responses, 2 metadata, 1 resource
    again = ingest_warcs(archive, [str(src), str(src)])
    assert again.copied == 0 and again.skipped_known == 14 and again.captures == []
    types = [r.type for r in read_all(tmp_path / "arch") if r.type != "warcinfo"]
    assert sorted(types).count("request") == 2 and types.count("resource") == 1
    assert_archive_consistent(tmp_path / "arch")
    # an ARC record has no id of its own: it gets the same one each read
    arc = tmp_path / "old.arc"
    make_arc(arc)
    assert ingest_warcs(archive, [str(arc)]).copied == 1
    assert ingest_warcs(archive, [str(arc)]).copied == 0


@pytest.mark.parametrize("cut", [40, 300, 2000])
def test_a_truncated_source_warc_never_puts_half_a_record_in_the_archive(tmp_path, cut):
    """`truncate -s` of a crawl: the cut record is reported by file and
    offset and left out; the archive's own files stay valid."""
    src = tmp_path / "crawl.warc.gz"
    make_full_warc(src)
    data = src.read_bytes()
    with open(src, "r+b") as f:
        f.truncate(len(data) - cut)
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src)])
    assert res.exit_code == 0, res.output
    assert "warning: crawl.warc.gz: offset " in res.stderr
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)
    assert_archive_consistent(tmp_path / "arch")
    archive = Archive(tmp_path / "arch")
    assert history(archive, "http://full.example/a") == ["new"]
    again = ingest_warcs(archive, [str(src)])
    assert again.copied == 0 and again.captures == []
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "reindex"])
    assert res.exit_code == 0 and history(archive, "http://full.example/a") == ["new"]


def test_damage_inside_a_compressed_record_is_one_warning_with_its_offset(tmp_path):
    """Bytes flipped inside one record's gzip member: that record is
    reported once, by file and offset (warcio printed zlib's message on a
    line of its own, and resuming inside the record reported it twice),
    and the records after it are still read."""
    src = tmp_path / "crawl.warc.gz"
    make_full_warc(src)
    data = bytearray(src.read_bytes())
    members = [m.start() for m in re.finditer(rb"\x1f\x8b\x08", bytes(data))]
    response_a = members[1]  # after the warcinfo record
    end = members[2]
    for i in range(response_a + (end - response_a) // 2, response_a + (end - response_a) // 2 + 8):
        data[i] ^= 0xFF
    src.write_bytes(bytes(data))
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src)])
    assert res.exit_code == 0, res.output
    [said] = res.stderr.splitlines()
    assert said.startswith(f"warning: crawl.warc.gz: offset {response_a}: unreadable record skipped"
                           " (damaged compressed data: Error -3 while decompressing data: ")
    archive = Archive(tmp_path / "arch")
    assert history(archive, "http://full.example/b") == ["new"]
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)


def test_a_hostile_record_header_is_warned_about_in_printable_text(tmp_path):
    """warcio quotes a bad record's first line in its error: here escape
    sequences (clear the screen, retitle the terminal) and binary. The
    warning shows none of them, and stays one short line."""
    good = tmp_path / "good.warc"
    make_full_warc(good)  # gzip per record: rewritten uncompressed below
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version="1.1")
    with open(good, "rb") as f:
        records = list(ArchiveIterator(f))
        f.seek(0)
        for i, record in enumerate(ArchiveIterator(f)):
            if i == 2:
                out.write(b"\x1b[2J\x1b]0;owned\x07" + bytes(range(256)) * 4 + b"\r\n\r\n")
            writer.write_record(record)
    assert len(records) > 3
    src = tmp_path / "hostile.warc"
    src.write_bytes(out.getvalue())
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src)])
    assert res.exit_code == 0, res.output
    warnings = res.stderr.splitlines()
    assert warnings and all(w.startswith("warning: hostile.warc: offset ") for w in warnings)
    assert all(w.isprintable() and len(w) < 250 for w in warnings), warnings
    assert history(Archive(tmp_path / "arch"), "http://full.example/b") == ["new"]
    assert_archive_consistent(tmp_path / "arch")


def _plain_warc_of_three(path: Path) -> list[int]:
    """Three pages in an uncompressed WARC (with digests); their offsets."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=False, warc_version="1.1")
    offsets = []
    for i in range(3):
        payload = body(f"Page {i}")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(payload)))],
                                protocol="HTTP/1.1")
        offsets.append(buf.tell())
        w.write_record(w.create_warc_record(f"http://three.example/{i}", "response", payload=io.BytesIO(payload),
                                            length=len(payload), http_headers=http))
    path.write_bytes(buf.getvalue())
    return offsets


def test_an_uncompressed_warc_is_ingested_into_records_that_read(tmp_path):
    """warcio's length of an uncompressed record stops before the blank
    lines that end it: copied as it was, each record ran into the next and
    `verify` found the archive broken (11 problems for three pages)."""
    src = tmp_path / "plain.warc"
    _plain_warc_of_three(src)
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src)])
    assert res.exit_code == 0 and res.stderr == "", res.output
    assert_archive_consistent(tmp_path / "arch")
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "verify"])
    assert res.exit_code == 0 and ": intact;" in res.stdout, res.output


def test_a_record_with_a_short_content_length_is_skipped_not_cut(tmp_path):
    """Copied by its Content-Length, it would lose its end (warcio read on
    and printed a warning of its own, three lines quoting the bytes)."""
    src = tmp_path / "short.warc"
    offsets = _plain_warc_of_three(src)
    data = src.read_bytes()
    length = re.compile(rb"Content-Length: (\d+)\r\n").search(data, offsets[1])
    src.write_bytes(data[:length.start(1)] + str(int(length.group(1)) - 10).encode() + data[length.end(1):])
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src)])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == [f"warning: short.warc: offset {offsets[1]}: unreadable record skipped (bytes"
                                       " follow it where the next record should begin: its Content-Length is short"
                                       " (its digest does not match))"]
    archive = Archive(tmp_path / "arch")
    assert history(archive, "http://three.example/0") == ["new"] and history(archive, "http://three.example/2") == ["new"]
    with pytest.raises(SnapshotNotFound):
        history(archive, "http://three.example/1")
    assert_archive_consistent(tmp_path / "arch")


def test_stray_bytes_after_a_whole_record_are_reported_and_the_record_kept(tmp_path):
    src = tmp_path / "stray.warc"
    offsets = _plain_warc_of_three(src)
    data = src.read_bytes()
    src.write_bytes(data[:offsets[2] - 4] + b"stray bytes" + data[offsets[2] - 4:])  # inside its closing blank lines
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src)])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == [f"warning: stray.warc: offset {offsets[1]}: bytes after the record (its"
                                       " digests match: it is kept) belong to no record; skipped"]
    archive = Archive(tmp_path / "arch")
    assert [history(archive, f"http://three.example/{i}") for i in range(3)] == [["new"]] * 3
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)
    assert_archive_consistent(tmp_path / "arch")


def test_ingest_fsyncs_the_warc_before_each_commit_that_points_into_it(tmp_path, monkeypatch):
    """After a power loss, no catalog row may point past the end of a file:
    every commit that lists records comes after an fsync of the WARC."""
    src = tmp_path / "src.warc.gz"
    make_warc(src)
    events: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    import archiver.archive.catalog as store
    real_connect = sqlite3.connect

    def traced(*a, **kw):
        db = real_connect(*a, **kw)
        db.set_trace_callback(lambda sql: events.append(sql.split()[0].upper() + (
            " records" if "INTO records" in sql else "")))
        return db

    monkeypatch.setattr(store.sqlite3, "connect", traced)
    report = ingest_warcs(Archive(tmp_path / "arch"), [str(src)])
    assert report.copied == 6
    pending_rows = False
    for event in events:
        if event == "INSERT records":
            pending_rows = True
        elif event == "fsync":
            pending_rows = False
        elif event == "COMMIT":
            assert not pending_rows, "a commit listed records before the WARC holding them was fsynced"


def test_a_record_without_a_target_uri_says_so(tmp_path):
    """warcio reads a response's HTTP block against its target URI: without
    one it failed with "AttributeError: 'NoneType' object has no attribute
    'startswith'". The warning names what the record lacks; the records
    around it are ingested."""
    import gzip

    def record(rid: str, uri: str | None, title: str) -> bytes:
        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body(title)
        fields = {"WARC-Type": "response", "WARC-Record-ID": f"<urn:uuid:{rid}>", "WARC-Date": "2026-01-01T00:00:00Z",
                  "Content-Type": "application/http; msgtype=response", "Content-Length": str(len(http))}
        if uri:
            fields["WARC-Target-URI"] = uri
        head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        return gzip.compress(head.encode() + http + b"\r\n\r\n")

    first = record("00000000-0000-0000-0000-000000000001", "http://nouri.example/a", "Before")
    src = tmp_path / "nouri.warc.gz"
    src.write_bytes(first + record("00000000-0000-0000-0000-000000000002", None, "Lost")
                    + record("00000000-0000-0000-0000-000000000003", "http://nouri.example/c", "After"))
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "ingest", str(src)])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == [f"warning: nouri.warc.gz: offset {len(first)}: unreadable record skipped"
                                       " (its WARC header (response record) has no WARC-Target-URI)"]
    archive = Archive(tmp_path / "arch")
    assert history(archive, "http://nouri.example/a") == ["new"] and history(archive, "http://nouri.example/c") == ["new"]


def test_two_ingests_of_one_warc_at_once_copy_it_once(tmp_path):
    """Two ingests of one WARC at the same time duplicated it (3,840
    captures, 11,518 record ids twice) and verify said intact: the
    already-ingested check now holds inside the transaction that records.
    Here the second ingest runs whole while the first has read its first
    record and not yet recorded it."""
    src = tmp_path / "crawl.warc.gz"
    make_full_warc(src)
    first, second = Archive(tmp_path / "arch", workers=0), Archive(tmp_path / "arch", workers=0)
    other = []

    def meanwhile(_n: int) -> None:
        if not other:
            other.append(ingest_warcs(second, [str(src)]))

    report = ingest_warcs(first, [str(src)], on_record=meanwhile)
    assert other[0].copied == 7
    assert report.copied == 0 and report.captures == [] and report.skipped_known == 7
    ids = [r.h("WARC-Record-ID") for r in read_all(tmp_path / "arch") if r.type != "warcinfo"]
    assert len(ids) == len(set(ids)) == 7 + 2  # and the metadata records of its two captures
    assert_archive_consistent(tmp_path / "arch")
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "verify"])
    assert res.exit_code == 0, res.output


def test_verify_names_records_whose_id_is_in_the_archive_twice(tmp_path):
    src = tmp_path / "crawl.warc.gz"
    make_full_warc(src)
    archive = Archive(tmp_path / "arch", workers=0)
    ingest_warcs(archive, [str(src)])
    [warc] = warc_files(tmp_path / "arch")
    # The same records again, in a file of their own (as two writers racing left them).
    twin = warc.with_name(warc.name.replace("archiver-", "archiver-twin-"))
    shutil.copy(warc, twin)
    from archiver.evidence.fixity import append_manifest, sha256_file
    append_manifest(tmp_path / "arch", f"warc/{twin.name}", sha256_file(twin)[0])
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "verify", "--json"])
    assert res.exit_code == 1
    problems = json.loads(res.output)["problems"]
    dup = [p for p in problems if "WARC-Record-ID another record has" in p["problem"]]
    assert len(dup) == 1 and dup[0]["file"] in (f"warc/{twin.name}", f"warc/{warc.name}")
    assert dup[0]["problem"].startswith("10 record(s)")  # 7 copied, 2 metadata records and the warcinfo
