"""The archive's SQLite catalog: every capture, and every WARC record it wrote.

The catalog is derived data (the WARC files are the evidence); it exists so
that questions like "was this payload archived before?" or "what happened to
this URL?" are one indexed query. WAL mode lets readers work while one writer
appends; the schema is versioned by `PRAGMA user_version` and migrated
forward on open.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

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
    """
    ALTER TABLE captures ADD COLUMN text_sha256 TEXT;
    ALTER TABLE captures ADD COLUMN snapshot_file TEXT;
    ALTER TABLE captures ADD COLUMN rule_rot TEXT;          -- JSON list
    ALTER TABLE captures ADD COLUMN meta_record_id TEXT;    -- the capture's WARC metadata record
    CREATE UNIQUE INDEX captures_meta ON captures(meta_record_id);
    CREATE TABLE texts (
        sha256 TEXT PRIMARY KEY,
        path TEXT NOT NULL,                                   -- relative to the archive folder
        title TEXT,
        word_count INTEGER,
        first_url TEXT,
        first_timestamp TEXT
    );
    CREATE TABLE current (
        url TEXT PRIMARY KEY,
        text_sha256 TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        title TEXT
    );
    -- one row per current snapshot, rowid = current.rowid (so updates are by key, not by scan)
    CREATE VIRTUAL TABLE search USING fts5(title, text, tokenize = 'unicode61 remove_diacritics 2');
    """,
    """
    CREATE TABLE watches (
        url TEXT PRIMARY KEY,
        every_seconds INTEGER,                               -- one of every_seconds / cron
        cron TEXT,
        tag TEXT,
        added_at TEXT NOT NULL,
        next_due REAL NOT NULL,                              -- unix time, UTC
        last_capture TEXT,                                   -- 14-digit timestamps
        last_verdict TEXT,
        last_good TEXT,
        failures INTEGER NOT NULL DEFAULT 0,                 -- consecutive
        lease_owner TEXT,                                    -- the runner capturing it now
        lease_until REAL,
        rule_rot TEXT                                        -- JSON list, from the last good capture
    );
    CREATE INDEX watches_due ON watches(next_due);
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        target TEXT NOT NULL,                                -- "url <address>" or "cmd <command>"
        payload TEXT NOT NULL,                               -- JSON
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent REAL
    );
    CREATE INDEX notifications_pending ON notifications(sent);
    """,
    """
    ALTER TABLE captures ADD COLUMN source TEXT;            -- ingested: "FILE#OFFSET" of the original record
    CREATE TABLE robots (
        host TEXT PRIMARY KEY,                              -- scheme://host:port
        status INTEGER NOT NULL,
        body BLOB NOT NULL,
        fetched REAL NOT NULL                               -- unix time
    );
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
            self._open_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable catalog ({exc})") from exc

    def _open_wal(self) -> None:
        """Switch to WAL once; switching needs a lock SQLite's busy handler
        does not wait for, so a second process opening at the same moment
        retries instead of failing."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

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
        return _location(row)

    def find_record(self, record_id: str) -> RecordLocation | None:
        """A response or revisit record the catalog lists, by its WARC-Record-ID."""
        return _location(self.db.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone())

    # -- captures -----------------------------------------------------------

    def add_capture(self, capture: Capture, *, record_id: str | None, meta_record_id: str | None = None) -> bool:
        """Add a capture row; False when its metadata record is already listed."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO captures (url, final_url, timestamp, captured_at, status_code, verdict, reason,"
            " title, word_count, content_type, warc_file, record_id, text_sha256, snapshot_file, rule_rot,"
            " meta_record_id, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (capture.url, capture.final_url, capture.timestamp, capture.captured_at, capture.status_code,
             capture.verdict.value, capture.reason, capture.title, capture.word_count, capture.content_type,
             capture.warc_file, record_id, capture.text_sha256, capture.snapshot_file,
             json.dumps(list(capture.rule_rot)) if capture.rule_rot else None, meta_record_id, capture.source),
        )
        return cur.rowcount == 1

    @staticmethod
    def _capture(row: sqlite3.Row) -> Capture:
        return Capture(
            url=row["url"], final_url=row["final_url"], status_code=row["status_code"],
            verdict=Verdict(row["verdict"]), timestamp=row["timestamp"], captured_at=row["captured_at"],
            title=row["title"], word_count=row["word_count"], warc_file=row["warc_file"],
            content_type=row["content_type"], reason=row["reason"], text_sha256=row["text_sha256"],
            snapshot_file=row["snapshot_file"], rule_rot=tuple(json.loads(row["rule_rot"] or "[]")),
            source=row["source"],
        )

    def captures(self, url: str) -> list[Capture]:
        """Every capture of `url`, oldest first."""
        rows = self.db.execute("SELECT * FROM captures WHERE url = ? ORDER BY timestamp, id", (url,))
        return [self._capture(r) for r in rows]

    def find_captures(self, url: str, prefix: str) -> list[Capture]:
        """Captures of `url` whose timestamp starts with `prefix`."""
        if not prefix.isdigit() or len(prefix) > 14:
            raise StoreError(f"bad timestamp {prefix!r}: use up to 14 digits, e.g. 20261128223800")
        rows = self.db.execute(
            "SELECT * FROM captures WHERE url = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp, id",
            (url, prefix, prefix + "~"),
        )
        return [self._capture(r) for r in rows]

    def good_captures(self, url: str, *, up_to: str | None = None) -> list[Capture]:
        """Captures with a clean text (new, changed, unchanged), oldest first."""
        sql = "SELECT * FROM captures WHERE url = ? AND text_sha256 IS NOT NULL"
        args: list[object] = [url]
        if up_to is not None:
            sql += " AND timestamp <= ?"
            args.append(up_to)
        rows = self.db.execute(sql + " ORDER BY timestamp, id", args)
        return [self._capture(r) for r in rows]

    def similar_url(self, url: str) -> str | None:
        """The archived URL most like `url` on the same host, for "did you mean"."""
        import difflib
        from urllib.parse import urlsplit

        host = urlsplit(url).netloc
        if not host:
            return None
        rows = self.db.execute("SELECT DISTINCT url FROM captures WHERE url LIKE ? LIMIT 2000", (f"%{host}%",))
        near = difflib.get_close_matches(url, [r[0] for r in rows], n=1, cutoff=0.6)
        return near[0] if near else None

    # -- texts, current snapshot, search ------------------------------------

    def text_path(self, sha256: str) -> str | None:
        row = self.db.execute("SELECT path FROM texts WHERE sha256 = ?", (sha256,)).fetchone()
        return row[0] if row else None

    def add_text(self, sha256: str, path: str, *, title: str | None, word_count: int, url: str, timestamp: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO texts (sha256, path, title, word_count, first_url, first_timestamp)"
            " VALUES (?,?,?,?,?,?)", (sha256, path, title, word_count, url, timestamp),
        )

    def current_sha(self, url: str) -> str | None:
        row = self.db.execute("SELECT text_sha256 FROM current WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def set_current(self, url: str, *, sha256: str, timestamp: str, title: str | None, text: str) -> None:
        """The URL's current text (what `show` and `search` see)."""
        self.db.execute(
            "INSERT INTO current (url, text_sha256, timestamp, title) VALUES (?,?,?,?)"
            " ON CONFLICT(url) DO UPDATE SET text_sha256 = excluded.text_sha256,"
            " timestamp = excluded.timestamp, title = excluded.title",
            (url, sha256, timestamp, title),
        )
        rowid = self.db.execute("SELECT rowid FROM current WHERE url = ?", (url,)).fetchone()[0]
        self.db.execute("DELETE FROM search WHERE rowid = ?", (rowid,))
        self.db.execute("INSERT INTO search (rowid, title, text) VALUES (?,?,?)", (rowid, title or "", text))

    def touch_current(self, url: str, timestamp: str) -> None:
        self.db.execute("UPDATE current SET timestamp = max(timestamp, ?) WHERE url = ?", (timestamp, url))

    def current_timestamp(self, url: str) -> str | None:
        row = self.db.execute("SELECT timestamp FROM current WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def search(self, query: str, limit: int) -> list[dict[str, object]]:
        """Ranked full-text search over current snapshots, with snippets."""
        terms = [t for t in query.split() if t.strip('"')]
        if not terms:
            raise StoreError("empty search query")
        # Every word quoted: user input is words, not FTS5 syntax.
        match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        rows = self.db.execute(
            "SELECT c.url, c.timestamp, c.title, snippet(search, 1, '[', ']', '…', 12) AS snippet"
            " FROM search JOIN current AS c ON c.rowid = search.rowid"
            " WHERE search MATCH ? ORDER BY bm25(search, 5.0, 1.0) LIMIT ?",
            (match, limit),
        )
        return [dict(r) for r in rows]

    def robots_get(self, host: str, *, newer_than: float) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT status, body FROM robots WHERE host = ? AND fetched > ?", (host, newer_than)).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def robots_put(self, host: str, status: int, body: bytes, *, now: float) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO robots (host, status, body, fetched) VALUES (?,?,?,?)",
                            (host, status, body, now))

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


def _location(row: sqlite3.Row | None) -> RecordLocation | None:
    if row is None:
        return None
    return RecordLocation(warc_file=row["warc_file"], offset=row["offset"], length=row["length"],
                          record_id=row["record_id"], warc_date=row["warc_date"], record_type=row["record_type"])


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write, fsync, rename: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read snapshot file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path}: not a snapshot file")
    return data
