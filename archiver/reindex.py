"""Rebuild the catalog from the evidence: WARC records and snapshot files.

The catalog's captures part is derived data. Every capture leaves a WARC `metadata` record
with its verdict and what cleaning made of it, every response or revisit its
own record, and every distinct text its JSON file; from those the catalog
can always be made again (`archiver reindex`), and the tail of a WARC file
left by a killed process can be added to it (`index_warc_file`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from warcio.timeutils import iso_date_to_datetime

from .errors import StoreError
from .models import GOOD_VERDICTS, Capture, Verdict
from .store import Catalog, read_json
from .warc import RecordLocation, decode_fields, iter_complete_records

__all__ = ["ReindexReport", "index_warc_file", "rebuild_catalog"]

log = logging.getLogger(__name__)

@dataclass
class ReindexReport:
    warc_files: int = 0
    records: int = 0
    captures: int = 0
    texts: int = 0


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def index_warc_file(catalog: Catalog, archive: Path, path: Path, report: ReindexReport | None = None) -> ReindexReport:
    """Add what one WARC file holds to the catalog (records and captures it
    does not list yet). Runs inside the caller's transaction, if any."""
    report = report or ReindexReport()
    report.warc_files += 1
    rel = f"warc/{path.name}"
    for offset, length, record, body in iter_complete_records(path):
        rtype = record.rec_type  # type: ignore[attr-defined]
        headers = record.rec_headers  # type: ignore[attr-defined]
        url = headers.get_header("WARC-Target-URI") or ""
        date = headers.get_header("WARC-Date") or ""
        record_id = headers.get_header("WARC-Record-ID") or ""
        if rtype != "warcinfo" and record_id:
            http = record.http_headers if rtype in ("response", "revisit") else None  # type: ignore[attr-defined]
            ctype = (http.get_header("Content-Type") or "").split(";")[0].strip().lower() if http else None
            loc = RecordLocation(warc_file=path.name, offset=offset, length=length, record_id=record_id,
                                 warc_date=date, record_type=rtype)
            try:
                timestamp = iso_date_to_datetime(date).strftime("%Y%m%d%H%M%S")
            except (TypeError, ValueError):
                timestamp = "00000000000000"
            catalog.add_record(loc, url=url, timestamp=timestamp,
                               status_code=_int(http.get_statuscode()) if http else None, content_type=ctype or None,
                               payload_digest=headers.get_header("WARC-Payload-Digest") if http else None,
                               refers_to=headers.get_header("WARC-Refers-To"))
            report.records += 1
        if rtype == "metadata":
            fields = decode_fields(body or b"")
            if "verdict" not in fields:
                continue  # another tool's metadata record
            try:
                verdict = Verdict(fields["verdict"])
            except ValueError:
                continue
            response_file = rel
            response_id = fields.get("record-id")
            found = catalog.find_record(response_id) if response_id else None
            if found is not None:
                response_file = f"warc/{found.warc_file}"
            capture = Capture(
                url=fields.get("url") or url, final_url=fields.get("final-url"),
                status_code=_int(fields.get("status-code")), verdict=verdict,
                timestamp=fields.get("timestamp", ""), captured_at=fields.get("captured-at", ""),
                title=fields.get("title"), word_count=_int(fields.get("word-count")), warc_file=response_file,
                content_type=fields.get("content-type"), reason=fields.get("reason"),
                text_sha256=fields.get("text-sha256"), snapshot_file=fields.get("snapshot"),
                rule_rot=tuple(json.loads(fields["rule-rot"])) if fields.get("rule-rot") else (),
                source=fields.get("source"),
            )
            if catalog.add_capture(capture, record_id=response_id, meta_record_id=record_id):
                report.captures += 1
                _index_text(catalog, archive, capture, report)
    return report


def _index_text(catalog: Catalog, archive: Path, capture: Capture, report: ReindexReport) -> None:
    sha, rel = capture.text_sha256, capture.snapshot_file
    if not sha or not rel or capture.verdict not in GOOD_VERDICTS:
        return
    if catalog.text_path(sha) is None:
        try:
            data = read_json(archive / rel)
        except StoreError as exc:
            log.warning("capture %s %s: %s", capture.url, capture.timestamp, exc)
            return
        catalog.add_text(sha, rel, title=data.get("title"), word_count=int(data.get("word_count") or 0),
                         url=capture.url, timestamp=capture.timestamp)
        report.texts += 1
    latest = catalog.current_timestamp(capture.url)
    if latest is None or capture.timestamp >= latest:
        if catalog.current_sha(capture.url) == sha:
            catalog.touch_current(capture.url, capture.timestamp)
        else:
            data = read_json(archive / rel)
            catalog.set_current(capture.url, sha256=sha, timestamp=capture.timestamp, title=data.get("title"),
                                text=str(data.get("text") or ""))


# The catalog's derived part: what `reindex` makes anew from the files.
# Everything else in it (watches and their leases, the notification outbox,
# the robots.txt cache) is operational state that no file holds: kept.
DERIVED_TABLES = ("search", "current", "texts", "captures", "records")


def rebuild_catalog(archive: Path, catalog_name: str = "catalog.sqlite") -> ReindexReport:
    """Make the captures part of the catalog anew from every WARC file, in
    one transaction (readers see the old catalog or the whole new one).
    A catalog too damaged to open is set aside (never deleted) and replaced."""
    target = archive / catalog_name
    try:
        catalog = Catalog(target)
    except StoreError as exc:
        if not target.exists():
            raise
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        aside = target.with_name(f"{catalog_name}.unreadable-{stamp}")
        log.warning("%s: %s; kept as %s, and a new catalog is built", target, exc, aside.name)
        os.replace(target, aside)
        for stale in (Path(str(target) + "-wal"), Path(str(target) + "-shm")):
            if stale.exists():
                os.replace(stale, Path(str(aside) + stale.name[len(target.name):]))
        catalog = Catalog(target)
    report = ReindexReport()
    try:
        with catalog.transaction():
            for table in DERIVED_TABLES:
                catalog.db.execute(f"DELETE FROM {table}")
            # Oldest file first, so "current" ends on the newest capture.
            for path in sorted((archive / "warc").glob("*.warc.gz")):
                index_warc_file(catalog, archive, path, report)
    finally:
        catalog.close()
    return report
