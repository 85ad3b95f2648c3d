"""Read back what the archive wrote, with warcio itself."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator


@dataclass
class Rec:
    file: str
    offset: int
    type: str
    headers: dict[str, str]
    http_protocol: str | None
    http_line: str | None  # the whole first line, e.g. "GET /a HTTP/1.1" or "HTTP/1.0 200 OK"
    http_status: str | None
    http_headers: list[tuple[str, str]]
    raw: bytes  # payload as stored (content-encoding kept)
    content: bytes  # payload decoded by warcio (chunking and gzip undone)

    def h(self, name: str) -> str | None:
        return self.headers.get(name)

    def http(self, name: str) -> str | None:
        for k, v in self.http_headers:
            if k.lower() == name.lower():
                return v
        return None


def warc_files(archive: Path) -> list[Path]:
    return sorted((archive / "warc").glob("*.warc.gz"))


def read_file(path: Path) -> list[Rec]:
    out = []
    # Twice: once for the stored bytes, once for warcio's decoded view.
    with open(path, "rb") as f:
        raws = []
        for r in ArchiveIterator(f):
            raws.append(r.raw_stream.read())
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for i, r in enumerate(it):
            content = r.content_stream().read()
            out.append(Rec(
                file=path.name,
                offset=it.get_record_offset(),
                type=r.rec_type,
                headers=dict(r.rec_headers.headers),
                http_protocol=r.http_headers.protocol if r.http_headers else None,
                http_line=f"{r.http_headers.protocol} {r.http_headers.statusline}" if r.http_headers else None,
                http_status=r.http_headers.get_statuscode() if r.http_headers else None,
                http_headers=list(r.http_headers.headers) if r.http_headers else [],
                raw=raws[i],
                content=content,
            ))
    return out


def read_all(archive: Path) -> list[Rec]:
    return [rec for path in warc_files(archive) for rec in read_file(path)]


def responses_for(archive: Path, url: str) -> list[Rec]:
    return [r for r in read_all(archive) if r.type in ("response", "revisit") and r.h("WARC-Target-URI") == url]


def warcio_check(path: Path) -> str:
    """Run `warcio check -v`; fail the test on a bad digest or a broken file."""
    exe = Path(sys.executable).parent / "warcio"
    proc = subprocess.run([str(exe), "check", "-v", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "digest failed" not in proc.stdout, proc.stdout
    return proc.stdout


def assert_archive_consistent(archive: Path) -> None:
    """Every WARC file reads whole to its end, and the catalog lists exactly
    the records the files hold: nothing half-exists."""
    import sqlite3

    in_files: dict[str, str] = {}
    metadata: set[str] = set()
    for path in warc_files(archive):
        with open(path, "rb") as f:
            it = ArchiveIterator(f)
            end = 0
            for r in it:
                content = r.content_stream().read()
                it.read_to_end(r)
                end = it.get_record_offset() + it.get_record_length()
                if r.rec_type != "warcinfo":
                    in_files[r.rec_headers.get_header("WARC-Record-ID")] = r.rec_type
                if r.rec_type == "metadata" and b"archiver-verdict:" in content:  # a capture's own record
                    metadata.add(r.rec_headers.get_header("WARC-Record-ID"))
        assert end == path.stat().st_size, f"{path.name}: unreadable after offset {end}"
    assert not list((archive / "warc").glob("*.open")), "a WARC file was left open"
    db = sqlite3.connect(archive / "catalog.sqlite")
    listed = dict(db.execute("SELECT record_id, record_type FROM records").fetchall())
    assert listed == in_files, (set(listed) ^ set(in_files))
    captured = {row[0] for row in db.execute("SELECT meta_record_id FROM captures")}
    assert captured == metadata
    for (snap,) in db.execute("SELECT DISTINCT snapshot_file FROM captures WHERE snapshot_file IS NOT NULL"):
        assert (archive / snap).is_file(), snap
    db.close()
