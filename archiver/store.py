"""The archive's SQLite catalog: every capture, and every WARC record it wrote.

The catalog is derived data (the WARC files are the evidence); it exists so
that questions like "was this payload archived before?" or "what happened to
this URL?" are one indexed query. WAL mode lets readers work while one writer
appends; the schema is versioned by `PRAGMA user_version` and migrated
forward on open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .errors import StoreError
from .models import Capture, Verdict
from .warc import RecordLocation

__all__ = ["Catalog", "SCHEMA_VERSION"]

BUSY_TIMEOUT_MS = 30_000

# Each entry moves the schema from version i to i+1. Never edit a released
# step; append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        record_id TEXT NOT NULL UNIQUE,
        record_type TEXT NOT NULL,          -- response | revisit
        url TEXT NOT NULL,
        warc_date TEXT NOT NULL,
        timestamp TEXT NOT NULL,            -- 14 digits
        warc_file TEXT NOT NULL,
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL,
        status_code INTEGER,
        content_type TEXT,
        payload_digest TEXT,
        refers_to TEXT                      -- record_id of the original, for revisits
    );
    CREATE INDEX records_url_digest ON records(url, payload_digest);
    CREATE INDEX records_url_time ON records(url, timestamp);
    CREATE TABLE captures (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        final_url TEXT,
        timestamp TEXT NOT NULL,
        captured_at TEXT NOT NULL,
        status_code INTEGER,
        verdict TEXT NOT NULL,
        reason TEXT,
        title TEXT,
        word_count INTEGER,
        content_type TEXT,
        warc_file TEXT,
        record_id TEXT                      -- the final response/revisit record
    );
    CREATE INDEX captures_url_time ON captures(url, timestamp);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class Catalog:
    """One SQLite file. Not shared between threads; open one per process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable catalog ({exc})") from exc

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: catalog schema {version} is newer than this archiver ({SCHEMA_VERSION}); upgrade archiver"
            )
        if version == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[step]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {step + 1}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records ------------------------------------------------------------

    def add_record(self, loc: RecordLocation, *, url: str, timestamp: str, status_code: int | None,
                   content_type: str | None, payload_digest: str | None, refers_to: str | None = None) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO records (record_id, record_type, url, warc_date, timestamp, warc_file, offset, length,"
            " status_code, content_type, payload_digest, refers_to) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (loc.record_id, loc.record_type, url, loc.warc_date, timestamp, loc.warc_file, loc.offset, loc.length,
             status_code, content_type, payload_digest, refers_to),
        )

    def find_original(self, url: str, payload_digest: str) -> RecordLocation | None:
        """The first full response record of `url` with this payload, if any."""
        row = self.db.execute(
            "SELECT * FROM records WHERE url = ? AND payload_digest = ? AND record_type = 'response'"
            " ORDER BY id LIMIT 1",
            (url, payload_digest),
        ).fetchone()
        if row is None:
            return None
        return RecordLocation(warc_file=row["warc_file"], offset=row["offset"], length=row["length"],
                              record_id=row["record_id"], warc_date=row["warc_date"], record_type=row["record_type"])

    # -- captures -----------------------------------------------------------

    def add_capture(self, capture: Capture, *, record_id: str | None) -> None:
        self.db.execute(
            "INSERT INTO captures (url, final_url, timestamp, captured_at, status_code, verdict, reason, title,"
            " word_count, content_type, warc_file, record_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (capture.url, capture.final_url, capture.timestamp, capture.captured_at, capture.status_code,
             capture.verdict.value, capture.reason, capture.title, capture.word_count, capture.content_type,
             capture.warc_file, record_id),
        )

    def captures(self, url: str) -> Iterator[Capture]:
        for row in self.db.execute("SELECT * FROM captures WHERE url = ? ORDER BY timestamp, id", (url,)):
            yield Capture(
                url=row["url"], final_url=row["final_url"], status_code=row["status_code"],
                verdict=Verdict(row["verdict"]), timestamp=row["timestamp"], captured_at=row["captured_at"],
                title=row["title"], word_count=row["word_count"], warc_file=row["warc_file"],
                content_type=row["content_type"], reason=row["reason"],
            )

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _statements(script: str) -> list[str]:
    parts, buf = [], []
    for line in script.splitlines():
        line = line.split("--", 1)[0].rstrip()
        if not line:
            continue
        buf.append(line)
        if line.endswith(";"):
            parts.append("\n".join(buf))
            buf = []
    if buf:
        parts.append("\n".join(buf))
    return parts
