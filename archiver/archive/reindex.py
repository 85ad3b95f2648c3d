"""Rebuild the catalog from the evidence: WARC records and snapshot files.

The catalog's captures part is derived data. Every capture leaves a WARC `metadata` record
with its verdict and what cleaning made of it, every response or revisit its
own record, and every distinct text its JSON file; from those the catalog
can always be made again (`archiver reindex`), and the tail of a WARC file
left by a killed process can be added to it (`index_warc_file`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import StoreError, brief
from ..evidence.fixity import read_manifest
from ..models import Capture
from ..capture.recorder import capture_from_fields, update_current
from .layout import CATALOG, WARC_DIR, WATCH_FILE
from .catalog import Catalog
from .snapshots import read_snapshot
from ..timeutil import parse_warc_date, timestamp14, utc_now
from ..urls import canonical_url, host_of
from ..significance import line_keys
from ..capture.warc import RecordLocation, decode_fields, iter_complete_records
from .watchfile import read_watch_file, restore_watches, save_watch_file, watches_in_catalog_file

__all__ = ["ReindexReport", "index_warc_file", "rebuild_catalog"]

log = logging.getLogger(__name__)

@dataclass
class ReindexReport:
    warc_files: int = 0
    records: int = 0
    captures: int = 0
    texts: int = 0
    problems: list[str] = field(default_factory=list)  # damage met, and what was done about it
    watches_kept: int = 0  # in the catalog already
    rekeyed: int = 0  # rows of kept tables moved to a URL's canonical spelling
    restored: dict[str, list[str]] = field(default_factory=dict)  # where from -> watch URLs restored


def index_warc_file(catalog: Catalog, archive: Path, path: Path, report: ReindexReport | None = None) -> ReindexReport:
    """Add what one WARC file holds to the catalog (records and captures it
    does not list yet). Runs inside the caller's transaction, if any."""
    report = report or ReindexReport()
    report.warc_files += 1
    # A damaged record loses itself only: reading goes on at the next whole one.
    for offset, length, record, body in iter_complete_records(path, report.problems, resync=True):
        rtype = record.rec_type  # type: ignore[attr-defined]
        headers = record.rec_headers  # type: ignore[attr-defined]
        # Keys as capture makes them: spellings of one URL from before that are one page now.
        url = canonical_url(headers.get_header("WARC-Target-URI") or "")
        date = headers.get_header("WARC-Date") or ""
        record_id = headers.get_header("WARC-Record-ID") or ""
        if rtype != "warcinfo" and record_id:
            http = record.http_headers if rtype in ("response", "revisit") else None  # type: ignore[attr-defined]
            ctype = (http.get_header("Content-Type") or "").split(";")[0].strip().lower() if http else None
            loc = RecordLocation(warc_file=path.name, offset=offset, length=length, record_id=record_id,
                                 warc_date=date, record_type=rtype)
            try:
                timestamp = timestamp14(parse_warc_date(date))
            except ValueError:
                timestamp = "00000000000000"
            status = http.get_statuscode() if http else None
            catalog.add_record(loc, url=url, timestamp=timestamp,
                               status_code=int(status) if status and status.isdigit() else None,
                               content_type=ctype or None,
                               payload_digest=headers.get_header("WARC-Payload-Digest") if http else None,
                               refers_to=headers.get_header("WARC-Refers-To"))
            report.records += 1
        if rtype != "metadata":
            continue
        response_id = None
        fields = decode_fields(body or b"")
        response_id = fields.get("record-id")
        found = catalog.find_record(response_id) if response_id else None
        capture = capture_from_fields(fields, url=url,
                                      warc_file=f"{WARC_DIR}/{found.warc_file if found else path.name}")
        if capture is None:
            continue  # another tool's metadata record
        capture = replace(capture, url=canonical_url(capture.url),
                          final_url=canonical_url(capture.final_url) if capture.final_url else None)
        if catalog.add_capture(capture, record_id=response_id, meta_record_id=record_id):
            report.captures += 1
            _index_text(catalog, archive, capture, report, fields.get("snapshot-sha256"))
    return report


def _index_text(catalog: Catalog, archive: Path, capture: Capture, report: ReindexReport,
                digest: str | None) -> None:
    sha, rel = capture.text_sha256, capture.snapshot_file
    if not sha or not rel or not capture.verdict.has_text:
        return
    try:
        snap = read_snapshot(archive / rel)
    except StoreError as exc:
        problem = f"capture {capture.url} {capture.timestamp}: {brief(exc)}"
        log.info("%s", problem)  # the report carries it
        report.problems.append(problem)
        return
    if catalog.text_path(sha) is None:
        # The digest the metadata record gives, never one taken from the file
        # as it is now (that would bless an edited file).
        catalog.add_text(sha, rel, title=snap.title, word_count=snap.word_count, url=capture.url,
                         timestamp=capture.timestamp, snapshot_sha256=digest)
        report.texts += 1
    catalog.add_lines(sha, line_keys(snap.text), url=capture.url, site=host_of(capture.url, site=True))
    update_current(catalog, capture, title=snap.title, text=snap.text)
    catalog.add_version(capture.url, sha256=sha, timestamp=capture.timestamp, title=snap.title, text=snap.text)


def rebuild_catalog(archive: Path, catalog_name: str = CATALOG) -> ReindexReport:
    """Make the captures part of the catalog anew from every WARC file, in
    one transaction (readers see the old catalog or the whole new one).
    A catalog too damaged to open is set aside (never deleted) and replaced."""
    target = archive / catalog_name
    try:
        catalog = Catalog(target)
    except StoreError as exc:
        if not target.exists():
            raise
        stamp = timestamp14(utc_now())
        aside = target.with_name(f"{catalog_name}.unreadable-{stamp}")
        set_aside = f"{target.name}: {brief(exc)}; kept as {aside.name}, and a new catalog is built"
        log.info("%s", set_aside)  # the report carries it
        os.replace(target, aside)
        for stale in (Path(str(target) + "-wal"), Path(str(target) + "-shm")):
            if stale.exists():
                os.replace(stale, Path(str(aside) + stale.name[len(target.name):]))
        catalog = Catalog(target)
    else:
        set_aside = None
        aside = None
    report = ReindexReport()
    if set_aside:
        report.problems.append(set_aside)
    try:
        with catalog.transaction():
            catalog.clear_derived()
            report.rekeyed = catalog.canonicalise_kept()
            # Oldest file first, so "current" ends on the newest capture.
            for path in sorted((archive / WARC_DIR).glob("*.warc.gz")):
                index_warc_file(catalog, archive, path, report)
            # Fixity is evidence, kept; lines the catalog lacks come from the manifest.
            entries, _problems = read_manifest(archive)
            for entry in entries.values():
                if entry.path.startswith(f"{WARC_DIR}/"):
                    catalog.add_warc_file(entry.path[len(WARC_DIR) + 1:], entry.sha256, None, None)
        _restore_watches(catalog, archive, aside, report)
    finally:
        catalog.close()
    return report


def _restore_watches(catalog: Catalog, archive: Path, aside: Path | None, report: ReindexReport) -> None:
    """Watches are no derived data: those the catalog lost come back from the
    catalog set aside (as far as it reads), then from the watch file."""
    report.watches_kept = len(catalog.watches())
    now = utc_now().timestamp()
    sources: list[tuple[str, list[dict[str, Any]]]] = []
    if aside is not None:
        sources.append((aside.name, watches_in_catalog_file(aside)))
    try:
        sources.append((WATCH_FILE, read_watch_file(archive)))
    except StoreError as exc:
        report.problems.append(f"{WATCH_FILE}: {brief(exc)}; no watches restored from it")
    for name, entries in sources:
        restored = restore_watches(catalog, entries, now=now)
        if restored:
            report.restored[name] = restored
    if report.restored:
        save_watch_file(archive, catalog.watches())
