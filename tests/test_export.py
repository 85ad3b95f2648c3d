"""WACZ export and CDXJ index: validated by `wacz validate`, replayed by pywb."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from siteserver import article

from archiver import Archive
from archiver.cli import cli


def wacz_validate(path: Path) -> None:
    exe = Path(sys.executable).parent / "wacz"
    proc = subprocess.run([str(exe), "validate", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and "Validation succeeded" in proc.stdout, proc.stdout + proc.stderr


@pytest.fixture
def archive(site, tmp_path, fast_options, clock):
    a = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    a.capture([site.url("/gzip.html"), site.url("/page.html"), site.url("/redirect/1"), site.url("/404")])
    clock.advance(hours=1)
    a.capture([site.url("/gzip.html")])  # a revisit of the gzip page
    return a


def test_export_everything_validates_and_replays(archive, tmp_path, site, wayback):
    out = tmp_path / "all.wacz"
    res = CliRunner().invoke(cli, ["--archive", str(archive.path), "export", "--wacz", str(out)])
    assert res.exit_code == 0, res.output
    wacz_validate(out)
    with zipfile.ZipFile(out) as z:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        names = z.namelist()
        pages = [json.loads(x) for x in z.read("pages/pages.jsonl").decode().splitlines()]
        index = z.read("indexes/index.cdxj").decode().splitlines()
    assert pages[0]["format"] == "json-pages-1.0"
    assert {"url": site.url("/gzip.html"), "title": "Gzipped"}.items() <= pages[1].items() or any(
        p.get("url") == site.url("/gzip.html") and p.get("title") == "Gzipped" for p in pages)
    assert index == sorted(index) and any('"mime": "warc/revisit"' in line for line in index)
    client = replay_from_wacz(out, tmp_path / "pywb", wayback)
    [gz] = [c for c in archive.history(site.url("/gzip.html"))][-1:]
    resp = client.get(f"/coll/{gz.timestamp}id_/{site.url('/gzip.html')}")
    assert resp.status_code == 200 and resp.content == article("Gzipped")
    assert "datapackage-digest.json" in names


def test_export_some_urls_brings_revisit_originals(archive, tmp_path, site, wayback):
    out = tmp_path / "one.wacz"
    [first, second] = archive.history(site.url("/gzip.html"))
    res = CliRunner().invoke(cli, ["--archive", str(archive.path), "export", "--wacz", str(out), site.url("/gzip.html")])
    assert res.exit_code == 0, res.output
    wacz_validate(out)
    with zipfile.ZipFile(out) as z:
        index = z.read("indexes/index.cdxj").decode()
    assert site.url("/page.html") not in index  # only what was asked for
    client = replay_from_wacz(out, tmp_path / "pywb", wayback)
    # the revisit replays on its own: its original came along
    resp = client.get(f"/coll/{second.timestamp}id_/{site.url('/gzip.html')}")
    assert resp.status_code == 200 and resp.content == article("Gzipped")


def test_export_bad_input(archive, tmp_path):
    run = lambda *a: CliRunner().invoke(cli, ["--archive", str(archive.path), "export", *a])  # noqa: E731
    assert run("--wacz", str(tmp_path / "x.zip")).exit_code == 2
    assert run("--wacz", str(tmp_path / "nope" / "x.wacz")).exit_code == 2
    missing = run("--wacz", str(tmp_path / "x.wacz"), "http://not.archived/")
    assert missing.exit_code == 2 and "not in the archive" in missing.stderr
    assert not (tmp_path / "x.wacz").exists()


def test_index_command_writes_a_sorted_cdxj(archive, site):
    res = CliRunner().invoke(cli, ["--archive", str(archive.path), "index"])
    assert res.exit_code == 0
    lines = (archive.path / "index.cdxj").read_text().splitlines()
    assert lines == sorted(lines) and len(lines) >= 5
    first = json.loads(lines[0].split(" ", 2)[2])
    assert {"url", "mime", "status", "digest", "length", "offset", "filename"} <= set(first)


def replay_from_wacz(wacz: Path, root: Path, wayback):
    """A pywb collection made from the package's own WARCs and index."""
    coll = root / "collections" / "coll"
    (coll / "archive").mkdir(parents=True)
    (coll / "indexes").mkdir()
    with zipfile.ZipFile(wacz) as z:
        for name in z.namelist():
            if name.startswith("archive/"):
                (coll / "archive" / Path(name).name).write_bytes(z.read(name))
        (coll / "indexes" / "index.cdxj").write_bytes(z.read("indexes/index.cdxj"))
    return wayback(root)


def test_a_damaged_record_is_named_in_one_printable_line(site, tmp_path):
    """warcio's error quotes a damaged record's bytes as its "first line":
    export's refusal and verify's findings show them as one short,
    printable line each (the error was a screenful of binary)."""
    import re

    arch = tmp_path / "arch"
    res = CliRunner().invoke(cli, ["--archive", str(arch), "capture", "--delay", "0", site.url("/page.html")])
    assert res.exit_code == 0, res.output
    [warc] = (arch / "warc").glob("*.warc.gz")
    data = bytearray(warc.read_bytes())
    members = [m.start() for m in re.finditer(rb"\x1f\x8b\x08", bytes(data))]
    for i in range(members[2] + 10, members[2] + 40):  # the start of a record's compressed data
        data[i] ^= 0x5A
    warc.write_bytes(bytes(data))
    for args in (["export", "--wacz", str(tmp_path / "out.wacz")], ["verify"]):
        res = CliRunner().invoke(cli, ["--archive", str(arch), *args])
        assert res.exit_code != 0
        lines = res.stderr.splitlines() + res.stdout.splitlines()
        assert lines and all(line.isprintable() and len(line) < 400 for line in lines), lines
    assert not (tmp_path / "out.wacz").exists()


def _shorten_content_length(warc: Path, url_part: bytes, by: int) -> None:
    """Rewrite the response record of `url_part` with a Content-Length `by`
    bytes short (its bytes unchanged): its own gzip member, recompressed."""
    import re
    import zlib

    data, out, pos = warc.read_bytes(), [], 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        member = d.decompress(data[pos:])
        pos = len(data) - len(d.unused_data)
        head, sep, rest = member.partition(b"\r\n\r\n")
        if b"WARC-Type: response" in head and url_part in head:
            n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % (n - by), head)
        c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        out.append(c.compress(head + sep + rest) + c.flush())
    warc.write_bytes(b"".join(out))


def test_a_record_whose_content_length_is_wrong_is_named_by_each_reader(site, tmp_path):
    """warcio reads on past a record whose Content-Length is short (bytes
    where its closing blank lines should be), printing three lines of its
    own with the file's bytes quoted. verify names it, export refuses it
    (the package had it, and its index), reindex warns and keeps the rest;
    warcio's own lines reach no output."""
    arch = tmp_path / "arch"
    res = CliRunner().invoke(cli, ["--archive", str(arch), "capture", "--delay", "0",
                                   site.url("/page.html"), site.url("/gzip.html")])
    assert res.exit_code == 0, res.output
    [warc] = (arch / "warc").glob("*.warc.gz")
    _shorten_content_length(warc, b"/page.html", 5)

    outputs = []
    res = CliRunner().invoke(cli, ["--archive", str(arch), "verify"])
    outputs.append(res)
    assert res.exit_code == 1
    assert "bytes follow it where its end should be (its Content-Length is wrong" in res.output

    out = tmp_path / "all.wacz"
    res = CliRunner().invoke(cli, ["--archive", str(arch), "export", "--wacz", str(out)])
    outputs.append(res)
    assert res.exit_code == 2 and not out.exists()
    assert "not exporting a package that would not replay" in res.stderr
    assert "bytes follow it where its end should be" in res.stderr
    res = CliRunner().invoke(cli, ["--archive", str(arch), "export", "--wacz", str(out), site.url("/page.html")])
    outputs.append(res)
    assert res.exit_code == 2 and not out.exists()
    res = CliRunner().invoke(cli, ["--archive", str(arch), "export", "--wacz", str(out), site.url("/gzip.html")])
    outputs.append(res)
    assert res.exit_code == 0 and out.exists()  # the sound page's records still package

    res = CliRunner().invoke(cli, ["--archive", str(arch), "reindex"])
    outputs.append(res)
    assert res.exit_code == 0, res.output
    [warning] = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert f"{warc.name}: offset " in warning and "its Content-Length is wrong" in warning
    assert "indexed 2 captures" in res.stdout
    for res in outputs:
        assert "Record not followed by newline" not in res.output + res.stderr


@pytest.mark.parametrize("damage", ["inside", "at its start"])
def test_a_warning_met_while_reading_is_one_printable_line_on_stderr(site, tmp_path, damage):
    """The package only logs what it meets and goes on (here: `show` finds
    the capture's metadata record damaged, and shows the text without its
    provenance); the command line prints it as one `warning:` line. Before,
    nothing was configured to show it: it went nowhere. A gzip member
    damaged at its very start is read by warcio as an ARC record of
    garbage, without a word: that was shown as a provenance of nothing (one
    run of the first case in 30 damaged it so)."""
    import re

    arch = tmp_path / "arch"
    res = CliRunner().invoke(cli, ["--archive", str(arch), "capture", "--delay", "0", site.url("/page.html")])
    assert res.exit_code == 0, res.output
    [warc] = (arch / "warc").glob("*.warc.gz")
    data = bytearray(warc.read_bytes())
    last = [m.start() for m in re.finditer(rb"\x1f\x8b\x08", bytes(data))][-1]  # the metadata record
    if damage == "inside":
        for i in range(last + 10, last + 40):
            data[i] ^= 0x5A
    else:
        # Not deflate data, and a first line of five fields: read raw, it is an ARC header.
        data[last + 10:last + 20] = b"x x x x x\n"
    warc.write_bytes(bytes(data))
    res = CliRunner().invoke(cli, ["--archive", str(arch), "show", "--json", site.url("/page.html")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["text"]
    [line] = res.stderr.splitlines()
    assert line.startswith(f"warning: {warc.name}: the metadata record at {last} is unreadable: ")
    assert line.isprintable()
    # The Python API stays quiet: a library does not print.
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        Archive(arch).show(site.url("/page.html"))
    assert err.getvalue() == ""


def test_export_refuses_when_warc_files_are_missing_unless_told_to_leave_their_captures_out(site, tmp_path,
                                                                                            fast_options, clock):
    """A WARC file deleted (verify names it): export exited 0 and listed
    pages whose records were gone."""
    from archiver.config import WarcOptions

    a = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, warc_options=WarcOptions(max_size=4096),
                workers=0)
    urls = [site.url("/page.html"), site.url("/gzip.html"), site.url("/http10.html")]
    for url in urls:  # a file each (a small size limit rolls them over)
        a.capture([url])
        clock.advance(minutes=1)
    files = sorted(a.warc_dir.glob("*.warc.gz"))
    assert len(files) >= 2
    gone = files[0]
    with a.reader() as catalog:
        lost = [c for c in catalog.all_captures() if c.warc_file == f"warc/{gone.name}"]
    assert lost
    gone.unlink()
    out = tmp_path / "all.wacz"
    run = lambda *x: CliRunner().invoke(cli, ["--archive", str(a.path), "export", "--wacz", str(out), *x])  # noqa: E731
    res = run()
    assert res.exit_code == 2 and not out.exists()
    assert f"warc/{gone.name}" in res.stderr and "--skip-missing" in res.stderr and len(res.stderr.splitlines()) == 1
    res = run(lost[0].url)  # the URL asked for is in the missing file
    assert res.exit_code == 2 and f"warc/{gone.name}" in res.stderr
    res = run("--skip-missing")
    assert res.exit_code == 0, res.output
    assert f"left out {len(lost)} capture(s)" in res.stderr and gone.name in res.stderr
    wacz_validate(out)
    with zipfile.ZipFile(out) as z:
        pages = [json.loads(x) for x in z.read("pages/pages.jsonl").decode().splitlines()[1:]]
        assert not any(n.endswith(gone.name) for n in z.namelist())
    assert {p["url"] for p in pages}.isdisjoint({c.url for c in lost})
    assert pages  # the others are there
