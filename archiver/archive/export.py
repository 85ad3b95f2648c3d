"""The archive in the ecosystem's formats: a CDXJ index and WACZ packages.

The CDXJ lines come from webrecorder's cdxj-indexer (SURT keys and fields as
pywb reads them); the WACZ 1.1.1 zip is written here: WARC files, the sorted
index, pages.jsonl with titles, datapackage.json with sha256 hashes and
datapackage-digest.json, every member stored uncompressed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cdxj_indexer.main import CDXJIndexer

from .archive import Archive
from ..config import VERSION, WarcOptions
from ..errors import ConfigError, SnapshotNotFound, StoreError
from ..models import Capture
from ..evidence.fixity import sha256_file
from ..evidence.signing import Signer, sign_package_digest
from .snapshots import temp_file
from .layout import WARC_DIR
from ..timeutil import iso_seconds, utc_now
from ..urls import canonical_url
from ..capture.warc import OPEN_SUFFIX, WARC_SUFFIX, WarcWriter, check_files, iter_complete_records

__all__ = ["ExportReport", "export_wacz", "write_cdxj", "write_index"]

WACZ_VERSION = "1.1.1"


def write_cdxj(warcs: list[Path], out: Path) -> int:
    """A sorted CDXJ index of `warcs` (filenames relative to their folder)
    at `out`, written atomically. Returns the number of lines."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_file(out.parent, ".cdxj")
    except OSError as exc:
        raise StoreError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if warcs:
                CDXJIndexer(f, [str(p) for p in warcs], sort=True, records="response,revisit",
                            dir_root=str(warcs[0].parent)).process_all()
        lines = sum(1 for _ in open(tmp, encoding="utf-8"))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return lines


def write_index(archive: Archive) -> tuple[Path, int, int]:
    """`archiver index`: the archive's sorted CDXJ index, as pywb reads it.
    Returns (path, lines, WARC files)."""
    warcs = sorted(archive.warc_dir.glob("*.warc.gz"))
    if not warcs:
        raise ConfigError(f"{archive.path} holds no WARC files to index")
    if archive.read_only():
        raise StoreError(f"{archive.path} is read-only: cannot write its index.cdxj")
    out = archive.path / "index.cdxj"
    return out, write_cdxj(warcs, out), len(warcs)


@dataclass
class ExportReport:
    path: Path
    warc_files: int
    records: int
    pages: int
    index_lines: int
    signed_by: str | None = None  # the signing key's SHA-256 fingerprint
    timestamped: bool = False
    left_out: int = 0  # captures whose WARC file is missing (--skip-missing)
    missing_files: tuple[str, ...] = ()


def _sha256(path: Path) -> str:
    return "sha256:" + sha256_file(path)[0]


def _subset(archive: Archive, urls: set[str], work: Path) -> tuple[list[Path], int]:
    """Copy the records of `urls` (and the originals their revisits point to)
    into one WARC file of their own."""
    with archive.reader() as catalog:
        wanted_ids = catalog.revisit_originals(urls)
    writer = WarcWriter(work, WarcOptions(max_size=1 << 62, prefix="export"), clock=archive.clock,
                        info={"description": "records exported by archiver"})
    copied = 0
    try:
        for path in sorted(archive.warc_dir.glob("*.warc.gz")):
            for offset, length, record, _ in iter_complete_records(path, resync=True):  # past damage, said
                headers = record.rec_headers
                target = headers.get_header("WARC-Target-URI") or ""
                rid = headers.get_header("WARC-Record-ID") or ""
                concurrent = headers.get_header("WARC-Concurrent-To") or ""
                if record.rec_type == "warcinfo":
                    continue
                if target in urls or rid in wanted_ids or concurrent in wanted_ids:
                    writer.copy_record(path, offset, length, gzipped=True, record_id=rid,
                                       warc_date=headers.get_header("WARC-Date") or "", record_type=record.rec_type)
                    copied += 1
    finally:
        writer.close()
    return [work / name for name in writer.closed_files], copied


def export_wacz(archive: Archive, out: str | Path, urls: list[str] | None = None, *, signer: Signer | None = None,
                tsa_url: str | None = None, skip_missing: bool = False, seeds: Collection[str] = ()) -> ExportReport:
    """Write a WACZ package of the whole archive, or of `urls` only (with
    what their redirects led to, and the originals of their revisits).
    With `signer`, datapackage-digest.json is signed (evidence/signing.py); with
    `tsa_url` too, the signature gets an RFC 3161 timestamp. A WARC file
    the catalog points into that is gone refuses the export, naming it,
    unless `skip_missing`: then the captures recorded in it are left out
    (and counted). Pages of `seeds` (a crawl's) say `"seed": true` in pages.jsonl."""
    if tsa_url and signer is None:
        raise ConfigError("--tsa timestamps a signature: give --sign too")
    out = Path(out)
    urls = [canonical_url(u) for u in urls] if urls else urls
    if not out.name.endswith(".wacz"):
        raise ConfigError(f"{out}: a WACZ file name ends in .wacz")
    if not out.parent.is_dir():
        raise ConfigError(f"{out.parent} is not a folder")
    if not archive.warc_dir.is_dir():
        raise StoreError(f"{archive.path} holds no WARC files to export")
    with tempfile.TemporaryDirectory(prefix="wacz-") as tmpdir:
        work = Path(tmpdir)
        with archive.reader() as catalog:
            if urls:
                selected = set()
                for url in urls:
                    caps = catalog.captures(url)
                    if not caps:
                        raise SnapshotNotFound(f"{url} is not in the archive")
                    selected.add(url)
                    selected.update(c.final_url for c in caps if c.final_url)
                page_rows = [c for u in urls for c in catalog.captures(u)]
            else:
                selected = set()
                page_rows = catalog.all_captures()
            on_disk = {p.name for p in archive.warc_dir.glob("*" + WARC_SUFFIX)}
            on_disk |= {p.name.removesuffix(OPEN_SUFFIX) for p in archive.warc_dir.glob("*" + WARC_SUFFIX + OPEN_SUFFIX)}
            missing = set(catalog.record_files()) - on_disk
        kept: list[Capture] = []
        lost: list[Capture] = []
        for c in page_rows:
            (lost if c.warc_file and Path(c.warc_file).name in missing else kept).append(c)
        # Of a URL subset, only the files its own captures were recorded in matter.
        gone = sorted({Path(c.warc_file).name for c in lost if c.warc_file} if urls else missing)
        if gone and not skip_missing:
            names = ", ".join(f"{WARC_DIR}/{n}" for n in gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
            raise StoreError(f"{len(gone)} WARC file(s) the catalog points into are missing ({names}): {len(lost)}"
                             " capture(s) would be listed without their records. Restore the files, or export with"
                             " --skip-missing to leave those captures out")
        page_rows = kept
        if urls:
            (work / "archive").mkdir()
            warcs, records = _subset(archive, selected, work / "archive")
        else:
            warcs = sorted(archive.warc_dir.glob("*.warc.gz"))
            records = 0
        problems = check_files(warcs)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise StoreError(f"not exporting a package that would not replay: {problems[0]}{more}")
        index_lines = write_cdxj(warcs, work / "indexes" / "index.cdxj")
        pages = [{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}]
        seed_set = {canonical_url(u) for u in seeds}
        for c in page_rows:
            if c.status_code and 200 <= c.status_code < 300 and (c.text_sha256 or (c.content_type or "").endswith("html")):
                pages.append({"id": hashlib.sha1(f"{c.url} {c.timestamp}".encode()).hexdigest()[:16], "url": c.url,
                              "ts": c.captured_at, "title": c.title or c.url, **({"seed": True} if c.url in seed_set
                                                                                 else {})})
        (work / "pages").mkdir()
        (work / "pages" / "pages.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages),
                                                    encoding="utf-8")
        members: list[tuple[str, Path]] = [(f"archive/{p.name}", p) for p in warcs]
        members += [("indexes/index.cdxj", work / "indexes" / "index.cdxj"), ("pages/pages.jsonl", work / "pages" / "pages.jsonl")]
        package = {
            "profile": "data-package",
            "resources": [{"name": Path(name).name, "path": name, "hash": _sha256(path), "bytes": path.stat().st_size}
                          for name, path in members],
            "wacz_version": WACZ_VERSION,
            "software": f"archiver {VERSION}",
            "created": iso_seconds(utc_now()),
            "title": archive.path.name,
        }
        (work / "datapackage.json").write_text(json.dumps(package, indent=2), encoding="utf-8")
        digest: dict[str, object] = {"path": "datapackage.json", "hash": _sha256(work / "datapackage.json")}
        if signer is not None:
            digest["signedData"] = sign_package_digest(str(digest["hash"]), str(package["created"]), signer,
                                                       tsa_url=tsa_url)
        (work / "datapackage-digest.json").write_text(json.dumps(digest, indent=2), encoding="utf-8")
        members += [("datapackage.json", work / "datapackage.json"), ("datapackage-digest.json", work / "datapackage-digest.json")]
        fd, tmp = temp_file(out.parent, ".wacz")
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
                for name, path in members:
                    z.write(path, name)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return ExportReport(path=out, warc_files=len(warcs), records=records, pages=len(pages) - 1, index_lines=index_lines,
                        signed_by=signer.fingerprint if signer else None, timestamped=bool(tsa_url),
                        left_out=len(lost), missing_files=tuple(gone))
