"""The archive's SQLite catalog: one file, one connection, one migration list.

`Catalog` is three parts over that connection, split along DESIGN.md's
line: the derived index that `reindex` rebuilds from the WARC and snapshot
files (index.py), the evidence tables `verify` checks against the files
(evidence_tables.py), and operational state no file holds (operations.py).
WAL mode lets readers work while one writer appends; the schema is
versioned by `PRAGMA user_version` and migrated forward on open.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from .cjk import index_terms
from .crawls import CrawlTables
from .evidence_tables import EvidenceTables
from .index import IndexTables
from .operations import OperationalTables
from ..errors import StoreError
from ..urls import canonical_url, site_key

__all__ = ["Catalog", "SCHEMA_VERSION", "catalog_error", "make_private"]


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
    """
    ALTER TABLE watches ADD COLUMN problem TEXT;            -- why it cannot be scheduled; skipped while set
    ALTER TABLE records ADD COLUMN damaged TEXT;            -- why the record can no longer be read back
    """,
    """
    -- Chinese, Japanese and Korean text as character pairs (see archiver/archive/cjk.py),
    -- rowid = current.rowid like search; only rows whose text has any.
    CREATE VIRTUAL TABLE search_cjk USING fts5(title, text, tokenize = 'unicode61');
    INSERT INTO search_cjk (rowid, title, text)
        SELECT rowid, cjk_terms(title), cjk_terms(text) FROM search WHERE cjk_terms(title || ' ' || text) != '';
    -- Each URL's title as its page gave it, to learn the site-name suffix a host
    -- puts on all its titles. Kept by reindex, like the operational tables.
    CREATE TABLE page_titles (
        url TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        title TEXT NOT NULL
    );
    CREATE INDEX page_titles_host ON page_titles(host);
    """,
    """
    ALTER TABLE captures ADD COLUMN via TEXT;               -- "browser": rendered in Chromium; NULL: plain HTTP
    ALTER TABLE watches ADD COLUMN browser INTEGER NOT NULL DEFAULT 0;  -- capture it in the browser
    """,
    """
    ALTER TABLE current ADD COLUMN changed TEXT;            -- 14 digits: when this text became current
    UPDATE current SET changed = (SELECT min(c.timestamp) FROM captures AS c
                                  WHERE c.url = current.url AND c.text_sha256 = current.text_sha256);
    -- Every new text of a URL with the words it added and removed, worked out once
    -- when it was recorded (feeds and dashboards read them, never recompute).
    -- Kept by reindex: the words come from texts the files still hold, but
    -- working them out again is the work this table exists to save.
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        timestamp TEXT NOT NULL,                            -- the capture that brought the text
        captured_at TEXT NOT NULL,
        verdict TEXT NOT NULL,                              -- new | changed
        title TEXT,
        previous TEXT,                                      -- timestamp of the text it replaced
        added TEXT,                                         -- words added, in order, "…" between runs
        removed TEXT,
        words_added INTEGER,
        words_removed INTEGER,
        UNIQUE (url, timestamp)
    );
    CREATE INDEX changes_time ON changes(timestamp);
    INSERT OR IGNORE INTO changes (url, timestamp, captured_at, verdict, title)
        SELECT url, timestamp, captured_at, verdict, title FROM captures WHERE verdict IN ('new', 'changed');
    """,
    """
    -- Each URL's latest capture, and the key the dashboard sorts by (its last
    -- text change, else its last capture): one indexed read instead of a
    -- scan of every capture. Derived: kept by add_capture.
    CREATE TABLE latest (
        url TEXT PRIMARY KEY,
        capture_id INTEGER NOT NULL,
        timestamp TEXT NOT NULL,
        sort_key TEXT NOT NULL
    );
    CREATE INDEX latest_sort ON latest(sort_key);
    INSERT INTO latest (url, capture_id, timestamp, sort_key)
        SELECT l.url, (SELECT id FROM captures WHERE url = l.url ORDER BY timestamp DESC, id DESC LIMIT 1), l.ts,
               coalesce((SELECT changed FROM current WHERE url = l.url), l.ts)
        FROM (SELECT url, max(timestamp) AS ts FROM captures GROUP BY url) AS l;
    """,
    """
    -- Fixity: each closed WARC file's SHA-256 and size, as also written to
    -- manifest-sha256.txt. Evidence, not derived data: reindex keeps it.
    CREATE TABLE warc_files (
        name TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        size INTEGER,
        closed_at TEXT
    );
    """,    """
    -- Monitoring: where each watch's messages go, which credential set it
    -- uses (a name only: the secrets stay in their file), when it may run;
    -- delivery backoff; runners' heartbeats. Operational state: kept by reindex.
    ALTER TABLE watches ADD COLUMN notify TEXT;               -- JSON list of Apprise URLs
    ALTER TABLE watches ADD COLUMN auth TEXT;                 -- credential set name
    ALTER TABLE watches ADD COLUMN active_hours TEXT;         -- "08:00-20:00"
    ALTER TABLE watches ADD COLUMN tz TEXT;                   -- IANA zone of active_hours
    ALTER TABLE notifications ADD COLUMN next_try REAL;       -- unix time of the next attempt
    CREATE TABLE heartbeats (
        runner TEXT PRIMARY KEY,
        host TEXT,
        pid INTEGER,
        mode TEXT,                                            -- loop | once
        started REAL NOT NULL,
        beat REAL NOT NULL,
        stopped REAL
    );
    """,
    """
    -- A watch's own request headers (never Cookie or Authorization: those
    -- come from credential sets) and the path of its cookies.txt (not its content).
    ALTER TABLE watches ADD COLUMN headers TEXT;              -- JSON list of "Name: value"
    ALTER TABLE watches ADD COLUMN cookies TEXT;              -- a cookies.txt path
    """,
    """
    -- The digest of each snapshot file's whole content (snapshot_digest), as
    -- also written in the metadata record of the capture that made it: the
    -- title, authors and dates a snapshot shows are evidence too.
    ALTER TABLE texts ADD COLUMN snapshot_sha256 TEXT;
    """,
    """
    -- The lines of each distinct text, and which pages of a site hold each
    -- line (significance.line_key): what tells an edit of the article from
    -- lines that come and go and from the site's template. Derived data.
    CREATE TABLE text_lines (
        sha256 TEXT NOT NULL,
        line INTEGER NOT NULL,
        PRIMARY KEY (sha256, line)
    ) WITHOUT ROWID;
    CREATE TABLE site_lines (
        site TEXT NOT NULL,
        line INTEGER NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (site, line, url)
    ) WITHOUT ROWID;
    -- A watch's --ignore, --trigger and --min-words (JSON), and whether it is
    -- paused (kept, not captured). Operational state.
    ALTER TABLE watches ADD COLUMN change_rules TEXT;
    ALTER TABLE watches ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Every distinct text of every URL, searchable (search --all-versions,
    -- /search?versions=all), with the first capture that had it. Derived data:
    -- the current texts are indexed now; 'archiver reindex' adds the older ones.
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        title TEXT,
        UNIQUE (url, text_sha256)
    );
    CREATE VIRTUAL TABLE search_versions USING fts5(title, text, tokenize = 'unicode61 remove_diacritics 2');
    CREATE VIRTUAL TABLE search_versions_cjk USING fts5(title, text, tokenize = 'unicode61');
    INSERT INTO versions (id, url, text_sha256, timestamp, title)
        SELECT rowid, url, text_sha256, changed, title FROM current WHERE changed IS NOT NULL;
    INSERT INTO search_versions (rowid, title, text) SELECT s.rowid, s.title, s.text FROM search AS s
        WHERE s.rowid IN (SELECT id FROM versions);
    INSERT INTO search_versions_cjk (rowid, title, text) SELECT k.rowid, k.title, k.text FROM search_cjk AS k
        WHERE k.rowid IN (SELECT id FROM versions);
    """,
    """
    -- Captures asked for through the web interface, run in the background:
    -- their progress, for /jobs/ID. Operational state.
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        urls TEXT NOT NULL,                                   -- JSON list
        browser INTEGER NOT NULL DEFAULT 0,
        total INTEGER NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,                                  -- queued | running | done | failed
        error TEXT,
        captures TEXT NOT NULL DEFAULT '[]',                  -- JSON list of capture objects, as recorded
        finished REAL
    );
    -- The dashboard's order, whole: a page of it read from the index, ties and all.
    CREATE INDEX latest_order ON latest(sort_key, url);
    """,
    """
    -- What the dashboard filters on, beside each URL's latest capture: a
    -- filter reads one table instead of joining three for every URL.
    ALTER TABLE latest ADD COLUMN verdict TEXT;
    ALTER TABLE latest ADD COLUMN title TEXT;
    ALTER TABLE latest ADD COLUMN changed TEXT;
    UPDATE latest SET verdict = (SELECT verdict FROM captures WHERE id = latest.capture_id),
        title = coalesce((SELECT title FROM current WHERE url = latest.url),
                         (SELECT title FROM captures WHERE id = latest.capture_id)),
        changed = (SELECT changed FROM current WHERE url = latest.url);
    ALTER TABLE latest ADD COLUMN site TEXT;
    UPDATE latest SET site = site_key(url);
    CREATE INDEX latest_captured ON latest(timestamp, url);
    CREATE INDEX latest_verdict ON latest(verdict, sort_key);
    CREATE INDEX latest_site ON latest(site);
    """,
    """
    -- Crawls (operational: not in the WARC files; reindex keeps them). A
    -- crawl's frontier is every in-scope URL it found: queued until its
    -- capture is recorded (in the same transaction), or stopped by a bound.
    CREATE TABLE crawls (
        id TEXT PRIMARY KEY,
        created TEXT NOT NULL,                  -- ISO 8601 UTC
        seeds TEXT NOT NULL,                    -- JSON list
        settings TEXT NOT NULL,                 -- JSON: scope, depth, limit, include, exclude, browser
        state TEXT NOT NULL,                    -- running | done | stopped
        note TEXT,                              -- why it stopped
        finished TEXT,
        capture_mark INTEGER NOT NULL DEFAULT 0  -- the newest capture row when its last run began
    );
    CREATE TABLE crawl_urls (
        crawl TEXT NOT NULL,
        url TEXT NOT NULL,
        depth INTEGER NOT NULL,
        parent TEXT,
        state TEXT NOT NULL,                    -- queued | done | failed | blocked | bounded | skipped
        reason TEXT,                            -- a failure's, or the bound that stopped it
        run INTEGER NOT NULL DEFAULT 0,         -- links in a row that differ from their parent only in digits
        seq INTEGER NOT NULL,                   -- the order it was found in
        capture_id INTEGER,
        PRIMARY KEY (crawl, url)
    ) WITHOUT ROWID;
    CREATE INDEX crawl_queue ON crawl_urls(crawl, state, depth, seq);
    CREATE INDEX crawl_order ON crawl_urls(crawl, seq);  -- the order found: the last number, the pages listed
    -- A section watch: {"scope": ..., "watch_new": "1d" | null}; its new in-scope links are captured once.
    ALTER TABLE watches ADD COLUMN follow TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class Catalog(IndexTables, EvidenceTables, OperationalTables, CrawlTables):
    """One SQLite file. Not shared between threads; open one per process.

    `readonly=True` opens an archive on read-only storage (a mount, a folder
    without write permission): nothing is created or migrated on disk; an
    older schema is migrated in a private in-memory copy instead."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                self.db = self._open_readonly()
            else:
                make_private(self.path)
                self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                self.db.row_factory = sqlite3.Row
                self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._open_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.create_function("cjk_terms", 1, _cjk_terms, deterministic=True)
            self.db.create_function("canonical_url", 1, _canonical, deterministic=True)
            self.db.create_function("site_key", 1, _site_key, deterministic=True)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise catalog_error(exc, self.path) from exc

    def _open_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # A WAL catalog needs its -shm file to be writable; on storage
            # nobody can write, reading it as immutable is exact.
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            memory = sqlite3.connect(":memory:", isolation_level=None)
            db.backup(memory)
            db.close()
            db = memory
        db.row_factory = sqlite3.Row
        return db

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
        if self.readonly:
            # Only ever the private in-memory copy of a read-only catalog.
            for step in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[step]):
                    self.db.execute(statement)
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

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _canonical(url: object) -> object:
    return canonical_url(url) if isinstance(url, str) else url


def _site_key(url: object) -> str:
    return site_key(url) if isinstance(url, str) else ""


def _cjk_terms(text: object) -> str:
    return index_terms(text) if isinstance(text, str) else ""


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


def catalog_error(exc: sqlite3.Error, path: Path | None = None) -> StoreError:
    """The one place an SQLite error becomes archiver's: one line in the
    user's words (a full disk, a read-only or damaged catalog, a query that
    failed), with what to do about it."""
    reason = str(exc)
    where = path or Path("catalog.sqlite")
    if "full" in reason or "disk I/O" in reason:
        why = "the disk is full" if _disk_full(where.parent) else "the disk failed"
        return StoreError(f"cannot write to {where.parent}: {why} ({reason}); nothing was changed")
    if "readonly" in reason or "read-only" in reason:
        return StoreError(f"{where}: the catalog is read-only ({reason})")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in reason or "not a database" in reason
                                                   or path is not None):
        return StoreError(f"{where}: not a usable catalog ({reason}); if it is damaged,"
                          " 'archiver reindex' rebuilds it from the WARC files")
    return StoreError(f"the catalog could not answer: {reason}")


def _disk_full(directory: Path) -> bool:
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 256 * 1024




def make_private(path: Path) -> None:
    """The catalog holds secrets (notification URLs with their tokens, the
    outbox): it and its -wal and -shm files (SQLite gives those the
    database's mode) are readable by their owner only."""
    try:
        if not path.exists() and path.parent.is_dir():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                st = p.stat()
                if st.st_mode & 0o077 and st.st_uid == os.getuid():
                    os.chmod(p, 0o600)
    except OSError:
        pass  # read-only storage or another owner's archive: opening says what is wrong, if anything
