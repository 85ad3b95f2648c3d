"""`archiver verify`: check an archive end to end.

Every closed WARC file against the manifest (hash and size), every record's
block and payload digests on the stored bytes, every gzip member whole,
every catalog row against the record it points to, every snapshot file
against its hash name, and every revisit against an original that exists.
WARC files are read in worker processes, one file each, streaming; the
catalog and snapshot checks run here meanwhile. Each problem names the file
and, within a WARC file, the offset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .fixity import MANIFEST, FileFinding, append_manifest, check_warc_file, read_manifest
from ..archive.layout import CATALOG, WARC_DIR
from ..archive.catalog import Catalog
from ..archive.snapshots import snapshot_digest
from ..urls import canonical_url
from ..capture.warc import OPEN_SUFFIX, WARC_SUFFIX, writer_alive

__all__ = ["Problem", "VerifyReport", "verify_archive"]

log = logging.getLogger(__name__)

# Below this much WARC data, worker processes cost more than they save.
IN_PROCESS_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    file: str  # relative to the archive folder
    offset: int | None
    what: str

    def __str__(self) -> str:
        where = f"{self.file}: offset {self.offset}" if self.offset is not None else self.file
        return f"{where}: {self.what}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "problem": self.what}


@dataclass
class VerifyReport:
    path: Path
    warc_files: int = 0
    bytes: int = 0
    records: int = 0
    catalog_rows: int = 0
    snapshots: int = 0
    skipped_open: list[str] = field(default_factory=list)  # files still being written
    abandoned_open: list[str] = field(default_factory=list)  # of those, left by a writer that ended (killed)
    added: list[str] = field(default_factory=list)  # unlisted files added to the manifest (--add-unlisted)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"archive": str(self.path), "ok": self.ok, "warc_files": self.warc_files, "bytes": self.bytes,
                "records": self.records, "catalog_rows": self.catalog_rows, "snapshots": self.snapshots,
                "open_files_skipped": self.skipped_open,
                "open_files_abandoned": self.abandoned_open, "added_to_manifest": self.added,
                "problems": [p.to_json() for p in self.problems]}


# Seconds a closed WARC file's manifest line is waited for (its writer
# appends it just after closing the file), when the file was closed (renamed)
# less than UNLISTED_RECENT seconds ago: an older file without a line (one
# copied in, or from before fixity was kept) has no writer to wait for.
UNLISTED_GRACE = 2.0
UNLISTED_RECENT = 10.0


def _just_closed(paths: list[Path]) -> bool:
    """Some of `paths` was renamed to its final name moments ago."""
    now = time.time()
    for path in paths:
        with contextlib.suppress(OSError):
            if now - path.stat().st_ctime < UNLISTED_RECENT:
                return True
    return False


def verify_archive(root: Path, catalog_name: str, *, workers: int | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   add_unlisted: bool = False) -> VerifyReport:
    """Check the archive at `root`; `progress(done_bytes, total_bytes)` as
    files finish. `add_unlisted` records the hash of closed WARC files the
    manifest does not list (an archive made before fixity was kept), after
    they read back whole; anything else is only reported."""
    report = VerifyReport(path=root)
    warc_dir = root / WARC_DIR
    files = sorted(warc_dir.glob("*" + WARC_SUFFIX)) if warc_dir.is_dir() else []
    # Files being written as the check starts (one may close meanwhile: its
    # records were not read, so nothing pointing into it is a finding).
    writing = {p.name[: -len(OPEN_SUFFIX)] for p in warc_dir.glob("*" + WARC_SUFFIX + OPEN_SUFFIX)} if warc_dir.is_dir() else set()
    report.skipped_open = sorted(name + OPEN_SUFFIX for name in writing)
    report.abandoned_open = [name for name in report.skipped_open if not writer_alive(warc_dir / name)]
    catalog_path = root / catalog_name
    if not catalog_path.exists():
        raise StoreError(f"no archive at {root} (no {catalog_name})")
    catalog = Catalog(catalog_path, readonly=not os.access(catalog_path, os.W_OK) or not add_unlisted)
    try:
        rows_by_file = {name: catalog.records_in(name) for name in catalog.record_files()}
        report.catalog_rows = sum(len(r) for r in rows_by_file.values())
        listed = catalog.warc_files()
        sizes = {p.name: p.stat().st_size for p in files}
        total = sum(sizes.values())
        report.warc_files, report.bytes = len(files), total
        findings = _read_files(files, rows_by_file, sizes, workers, progress)
        # The manifest is read after the files: a file closed as this check
        # started has its line by now, written just after the rename. Unless
        # its writer was held up (seen under load): a file not listed yet is
        # given a moment before it is called unlisted.
        entries, manifest_problems = read_manifest(root)
        deadline = time.monotonic() + UNLISTED_GRACE
        while _just_closed([p for p in files if f"{WARC_DIR}/{p.name}" not in entries]) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
            entries, manifest_problems = read_manifest(root)
        report.problems += [Problem(MANIFEST, None, p.split(": ", 1)[1]) for p in manifest_problems]
        ids: set[str] = set()
        facts: dict[str, dict[str, str]] = {}
        first_in: dict[str, str] = {}  # record id -> the file it was first seen in
        for path in files:
            f = findings[path.name]
            twice: list[tuple[str, str]] = []
            for rid in f.record_ids:
                if rid in first_in:
                    twice.append((rid, first_in[rid]))
                else:
                    first_in[rid] = path.name
            if twice:
                rid, other = twice[0]
                more = f" (and {len(twice) - 1} more)" if len(twice) > 1 else ""
                report.problems.append(Problem(f"{WARC_DIR}/{path.name}", None,
                                               f"{len(twice)} record(s) with a WARC-Record-ID another record has:"
                                               f" {rid}, also in {WARC_DIR}/{other}{more}"))
            ids.update(f.record_ids)
            facts.update(f.facts)
            report.records += f.records
        for path in files:
            f = findings[path.name]
            rel = f"{WARC_DIR}/{path.name}"
            for offset, what in f.problems:
                report.problems.append(Problem(rel, offset, what))
            for offset, refers in f.revisits:
                if refers not in ids:
                    report.problems.append(Problem(rel, offset, f"revisit of {refers}, whose original record is"
                                                                " in no WARC file"))
            _check_fixity(report, rel, f, entries.get(rel), listed.get(path.name), add_unlisted, root, catalog)
        # What exists now (files may have been made and closed while this
        # ran). Open files first: one renamed in between is seen closed.
        present: set[str] = set()
        if warc_dir.is_dir():
            present = {p.name[: -len(OPEN_SUFFIX)] for p in warc_dir.glob("*" + WARC_SUFFIX + OPEN_SUFFIX)}
            present |= {p.name for p in warc_dir.glob("*" + WARC_SUFFIX)}
        for rel in sorted(entries):
            if rel.startswith(f"{WARC_DIR}/") and rel[len(WARC_DIR) + 1:] not in present:
                report.problems.append(Problem(rel, None, f"listed in {MANIFEST} (line {entries[rel].line}),"
                                                          " but the file is missing"))
        for name, rows in rows_by_file.items():
            if name not in present:
                report.problems.append(Problem(f"{WARC_DIR}/{name}", None,
                                               f"missing, and {len(rows)} catalog record rows point into it"))
        _check_catalog(report, catalog, ids, {p.name for p in files} - writing)
        _check_facts(report, catalog, facts)
        _check_snapshots(report, root, catalog, facts)
    finally:
        catalog.close()
    return report


def _read_files(files: list[Path], rows_by_file: dict[str, list[Any]], sizes: dict[str, int],
                workers: int | None, progress: Callable[[int, int], None] | None) -> dict[str, FileFinding]:
    """Read every WARC file, biggest first, in worker processes when there
    is enough to read to pay for starting them."""
    total, done = sum(sizes.values()), 0
    order = sorted(files, key=lambda p: -sizes[p.name])
    n = workers if workers is not None else (os.cpu_count() or 1)
    findings: dict[str, FileFinding] = {}
    if n <= 1 or len(files) < 2 or total < IN_PROCESS_BYTES:
        for path in order:
            findings[path.name] = check_warc_file(str(path), rows_by_file.get(path.name))
            done += sizes[path.name]
            if progress:
                progress(done, total)
        return findings
    # spawn: the workers import only what reading a WARC file needs, and no
    # thread of this process (a progress bar's) is copied into them.
    with ProcessPoolExecutor(max_workers=min(n, len(files)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures: dict[Future[FileFinding], Path] = {
            pool.submit(check_warc_file, str(p), rows_by_file.get(p.name)): p for p in order}
        for future in as_completed(futures):
            path = futures[future]
            try:
                findings[path.name] = future.result()
            except Exception as exc:  # a worker died (out of memory): that file is unverified, and says so
                findings[path.name] = FileFinding(name=path.name, problems=[(None, f"could not be read ({exc})")])
            done += sizes[path.name]
            if progress:
                progress(done, total)
    return findings


def _check_fixity(report: VerifyReport, rel: str, found: FileFinding, entry: Any, row: Any, add_unlisted: bool,
                  root: Path, catalog: Catalog) -> None:
    if entry is None:
        # The catalog knew this file when it was closed: a file that no longer
        # matches what was recorded then is never adopted as it is now.
        if row is not None and (row.sha256 != found.sha256 or (row.size is not None and row.size != found.size)):
            report.problems.append(Problem(rel, None, f"not listed in {MANIFEST}, and not the file the catalog"
                                                      f" recorded when it was closed ({row.size} bytes, SHA-256"
                                                      f" {row.sha256[:12]}…; now {found.size} bytes,"
                                                      f" {found.sha256[:12]}…): the file changed after it was"
                                                      " closed; it is not added to the manifest"))
            return
        if add_unlisted and not any(p.file == rel for p in report.problems):
            append_manifest(root, rel, found.sha256)
            with catalog.transaction():
                catalog.add_warc_file(found.name, found.sha256, found.size, None)
            report.added.append(rel)
            return
        report.problems.append(Problem(rel, None, f"not listed in {MANIFEST}: its hash was never recorded"
                                                  " (a file added to the archive by hand, or closed before"
                                                  " fixity was kept; 'archiver verify --add-unlisted' records it)"))
        return
    if row is not None and row.size is not None and found.size < row.size:
        report.problems.append(Problem(rel, found.size, f"the file is {found.size} bytes, shorter than the"
                                                        f" {row.size} recorded when it was closed"))
    elif row is not None and row.size is not None and found.size > row.size:
        report.problems.append(Problem(rel, row.size, f"the file is {found.size} bytes, longer than the"
                                                      f" {row.size} recorded when it was closed"))
    if found.sha256 != entry.sha256:
        report.problems.append(Problem(rel, None, f"its SHA-256 is not the one in {MANIFEST} (line {entry.line}):"
                                                  " the file changed after it was closed"))
    if row is not None and row.sha256 != entry.sha256:
        report.problems.append(Problem(CATALOG, None, f"warc_files row of {found.name} has another"
                                                               f" SHA-256 than {MANIFEST}"))


def _check_catalog(report: VerifyReport, catalog: Catalog, ids: set[str], read: set[str]) -> None:
    """Captures whose records or texts are not where the catalog says. A
    record in a file this check did not read (being written, or begun while
    it ran) is not a finding: verify again once that file is closed."""
    # Captures first, then texts: a capture's text row is committed with it
    # or before it, so every capture read has its text in what is read
    # after. (The other way round, a capture committed in between by a
    # capture running meanwhile pointed at a text not read yet.)
    links = list(catalog.capture_links())
    texts = dict(catalog.text_files())
    for url, timestamp, record_id, meta_id, text_sha in links:
        for rid, what in ((record_id, "response"), (meta_id, "metadata")):
            if not rid or rid in ids:
                continue
            loc = catalog.find_record(rid)
            if loc is not None and loc.warc_file not in read:
                continue
            where = "not in the catalog's records" if loc is None else f"not in {WARC_DIR}/{loc.warc_file}"
            report.problems.append(Problem(CATALOG, None,
                                           f"capture of {url} at {timestamp}: its {what} record {rid} is {where}"))
        if text_sha and text_sha not in texts:
            report.problems.append(Problem(CATALOG, None,
                                           f"capture of {url} at {timestamp}: its text {text_sha[:12]}… is not in"
                                           " the catalog's texts"))


def _one_line(value: object) -> str:
    """A value as a metadata record's field holds it ("" for none)."""
    return "" if value is None else " ".join(str(value).split())


# catalog column -> metadata record field, for what `history` and `show` print
_FACT_COLUMNS = (("url", "url"), ("timestamp", "timestamp"), ("verdict", "verdict"), ("status_code", "status-code"),
                 ("title", "title"), ("word_count", "word-count"), ("text_sha256", "text-sha256"))


def _check_facts(report: VerifyReport, catalog: Catalog, facts: dict[str, dict[str, str]]) -> None:
    """Each capture row says what its WARC metadata record says (the record
    is evidence, its file under the manifest's hash; the row is not)."""
    for row in catalog.capture_facts():
        said = facts.get(row["meta_record_id"] or "")
        if said is None:
            continue  # in a file not read (being written), or a record already reported
        for column, name in _FACT_COLUMNS:
            ours, theirs = _one_line(row[column]), said.get(name, "")
            if column == "url":  # kept in its canonical form since, whatever the record says
                ours, theirs = canonical_url(ours), canonical_url(theirs)
            if ours != theirs:
                report.problems.append(Problem(CATALOG, None, f"capture of {row['url']} at {row['timestamp']}:"
                                                                       f" its {column} is {ours[:80]!r}, but its WARC"
                                                                       f" metadata record says {theirs[:80]!r}"))


def _check_snapshots(report: VerifyReport, root: Path, catalog: Catalog,
                     facts: dict[str, dict[str, str]] | None = None) -> None:
    """Each snapshot file holds the text its name (and catalog row) hashes,
    and every other field (title, authors, dates, ...) as the metadata
    record of the capture that made it says (else as the catalog recorded)."""
    recorded: dict[str, set[str]] = {}
    for said in (facts or {}).values():
        if said.get("text-sha256") and said.get("snapshot-sha256"):
            recorded.setdefault(said["text-sha256"], set()).add(said["snapshot-sha256"])
    kept = catalog.snapshot_digests()
    for sha, rel in catalog.text_files():
        report.snapshots += 1
        path = root / rel
        if not path.exists():
            report.problems.append(Problem(rel, None, "snapshot file missing"))
            continue
        if Path(rel).stem != sha:
            report.problems.append(Problem(rel, None, f"named for another text than the catalog's {sha[:12]}…"))
        try:
            data = json.loads(path.read_bytes())
            text = data.get("text") if isinstance(data, dict) else None
        except (OSError, ValueError) as exc:
            report.problems.append(Problem(rel, None, f"unreadable snapshot file ({exc})"))
            continue
        if not isinstance(text, str):
            report.problems.append(Problem(rel, None, "snapshot file without a text"))
            continue
        got = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if got != sha:
            report.problems.append(Problem(rel, None, f"its text's SHA-256 is {got[:12]}…, not the {sha[:12]}… it"
                                                      " is named for: the file changed"))
            continue
        expected = recorded.get(sha) or ({kept[sha]} if sha in kept else set())
        if expected and snapshot_digest(data) not in expected:
            where = "the WARC metadata record of the capture that made it" if sha in recorded else "the catalog"
            report.problems.append(Problem(rel, None, "its metadata (title, authors, dates, ...) is not what"
                                                      f" {where} recorded: the file changed"))
