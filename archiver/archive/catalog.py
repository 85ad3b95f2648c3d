"""The archive's SQLite catalog: every capture, and every WARC record it wrote.

The catalog is derived data (the WARC files are the evidence); it exists so
that questions like "was this payload archived before?" or "what happened to
this URL?" are one indexed query. WAL mode lets readers work while one writer
appends; the schema is versioned by `PRAGMA user_version` and migrated
forward on open.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from .cjk import has_cjk, index_terms, query_phrases
from ..errors import StoreError
from ..urls import canonical_url
from ..cleaning.normalize import fold, learned_suffixes
from ..models import Capture, Notification, RecordLocation, SearchHit, StoredSnapshot, Verdict, WarcFileRow, Watch

__all__ = ["Catalog", "SCHEMA_VERSION"]


BUSY_TIMEOUT_MS = 30_000
# The verdicts of captures with a clean text, as SQL (migrations keep their own words).
_WITH_TEXT = ", ".join(f"'{v.value}'" for v in Verdict if v.has_text)
MAX_QUERY_CHARS = 4096  # a search query's length
MAX_QUERY_TERMS = 32  # different words in one search query

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
]
SCHEMA_VERSION = len(MIGRATIONS)


class Catalog:
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
            self._migrate()
        except sqlite3.DatabaseError as exc:
            reason = str(exc)
            if "full" in reason or "disk I/O" in reason:
                why = "the disk is full" if _disk_full(self.path.parent) else "the disk failed"
                raise StoreError(f"cannot write to {self.path.parent}: {why} ({reason}); nothing was changed") from exc
            if "readonly" in reason or "read-only" in reason:
                raise StoreError(f"{self.path}: the catalog is read-only ({reason})") from exc
            raise StoreError(f"{self.path}: not a usable catalog ({reason}); if it is damaged,"
                             " 'archiver reindex' rebuilds it from the WARC files") from exc

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
        """The first full response record of `url` with this payload that is
        not known to be damaged, if any."""
        row = self.db.execute(
            "SELECT * FROM records WHERE url = ? AND payload_digest = ? AND record_type = 'response'"
            " AND damaged IS NULL ORDER BY id LIMIT 1",
            (url, payload_digest),
        ).fetchone()
        return _location(row)

    def mark_damaged(self, record_id: str, reason: str) -> None:
        """A record that no longer reads back: never offered as an original again."""
        self.db.execute("UPDATE records SET damaged = ? WHERE record_id = ?", (reason[:500], record_id))

    def has_record(self, record_id: str) -> bool:
        """Any record the archive holds, of any type (ingest adds nothing twice)."""
        return self.db.execute("SELECT 1 FROM records WHERE record_id = ?", (record_id,)).fetchone() is not None

    def find_record(self, record_id: str) -> RecordLocation | None:
        """A response or revisit record the catalog lists, by its WARC-Record-ID."""
        return _location(self.db.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone())

    def metadata_record(self, capture_id: int) -> RecordLocation | None:
        """Where a capture's WARC metadata record (verdict, provenance) is."""
        row = self.db.execute("SELECT r.* FROM captures c JOIN records r ON r.record_id = c.meta_record_id"
                              " WHERE c.id = ?", (capture_id,)).fetchone()
        return _location(row)

    # -- captures -----------------------------------------------------------

    def add_capture(self, capture: Capture, *, record_id: str | None, meta_record_id: str | None = None) -> int | None:
        """Add a capture row and return its id; None when its metadata record is already listed."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO captures (url, final_url, timestamp, captured_at, status_code, verdict, reason,"
            " title, word_count, content_type, warc_file, record_id, text_sha256, snapshot_file, rule_rot,"
            " meta_record_id, source, via) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (capture.url, capture.final_url, capture.timestamp, capture.captured_at, capture.status_code,
             capture.verdict.value, capture.reason, capture.title, capture.word_count, capture.content_type,
             capture.warc_file, record_id, capture.text_sha256, capture.snapshot_file,
             json.dumps(list(capture.rule_rot)) if capture.rule_rot else None, meta_record_id, capture.source,
             capture.via if capture.via != "http" else None),
        )
        if cur.rowcount != 1:
            return None
        self.db.execute(
            "INSERT INTO latest (url, capture_id, timestamp, sort_key)"
            " VALUES (?1, ?2, ?3, coalesce((SELECT changed FROM current WHERE url = ?1), ?3))"
            " ON CONFLICT(url) DO UPDATE SET capture_id = excluded.capture_id, timestamp = excluded.timestamp,"
            " sort_key = excluded.sort_key WHERE excluded.timestamp >= latest.timestamp",
            (capture.url, cur.lastrowid, capture.timestamp))
        return cur.lastrowid

    @staticmethod
    def _capture(row: sqlite3.Row) -> Capture:
        return Capture(
            url=row["url"], final_url=row["final_url"], status_code=row["status_code"],
            verdict=Verdict(row["verdict"]), timestamp=row["timestamp"], captured_at=row["captured_at"],
            title=row["title"], word_count=row["word_count"], warc_file=row["warc_file"],
            content_type=row["content_type"], reason=row["reason"], text_sha256=row["text_sha256"],
            snapshot_file=row["snapshot_file"], rule_rot=tuple(json.loads(row["rule_rot"] or "[]")),
            source=row["source"], via=row["via"] or "http", id=row["id"],
        )

    def captures(self, url: str) -> list[Capture]:
        """Every capture of `url`, oldest first."""
        rows = self.db.execute("SELECT * FROM captures WHERE url = ? ORDER BY timestamp, id", (url,))
        return [self._capture(r) for r in rows]

    def all_captures(self) -> list[Capture]:
        """Every capture in the archive, oldest first."""
        return [self._capture(r) for r in self.db.execute("SELECT * FROM captures ORDER BY timestamp, id")]

    def revisit_originals(self, urls: set[str]) -> set[str]:
        """Record ids of the originals that the revisits of `urls` point at."""
        out: set[str] = set()
        for url in urls:
            rows = self.db.execute("SELECT refers_to FROM records WHERE url = ? AND refers_to IS NOT NULL", (url,))
            out.update(r[0] for r in rows)
        return out

    def find_captures(self, url: str, prefix: str) -> list[Capture]:
        """Captures of `url` whose timestamp starts with `prefix`: up to 14
        digits of the timestamp, then up to 6 of the capture's microseconds."""
        if not prefix.isdigit() or len(prefix) > 20:
            raise StoreError(f"bad timestamp {prefix!r}: use up to 14 digits, e.g. 20261128223800"
                             " (or 20, with the microseconds)")
        if len(prefix) <= 14:
            rows = self.db.execute(
                "SELECT * FROM captures WHERE url = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp, id",
                (url, prefix, prefix + "~"))
        else:
            rows = self.db.execute(
                "SELECT * FROM captures WHERE url = ? AND timestamp = ? AND substr(captured_at, 21, ?) = ?"
                " ORDER BY timestamp, id", (url, prefix[:14], len(prefix) - 14, prefix[14:]))
        return [self._capture(r) for r in rows]

    def good_captures(self, url: str, *, up_to: Capture | None = None) -> list[Capture]:
        """Captures with a clean text (new, changed, unchanged), oldest first;
        with `up_to`, only those at or before that capture."""
        sql = "SELECT * FROM captures WHERE url = ? AND text_sha256 IS NOT NULL"
        args: list[object] = [url]
        if up_to is not None:
            sql += " AND (timestamp < ? OR (timestamp = ? AND id <= ?))"
            args += [up_to.timestamp, up_to.timestamp, up_to.id if up_to.id is not None else 2**62]
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

    def add_text(self, sha256: str, path: str, *, title: str | None, word_count: int, url: str, timestamp: str,
                 snapshot_sha256: str | None = None) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO texts (sha256, path, title, word_count, first_url, first_timestamp, snapshot_sha256)"
            " VALUES (?,?,?,?,?,?,?)", (sha256, path, title, word_count, url, timestamp, snapshot_sha256),
        )

    def snapshot_digest(self, sha256: str) -> str | None:
        """The recorded digest of the text's snapshot file (None before it was kept)."""
        row = self.db.execute("SELECT snapshot_sha256 FROM texts WHERE sha256 = ?", (sha256,)).fetchone()
        return row[0] if row else None

    def snapshot_digests(self) -> dict[str, str]:
        """text sha256 -> the recorded digest of its snapshot file, where one was kept."""
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT sha256, snapshot_sha256 FROM texts WHERE snapshot_sha256 IS NOT NULL")}

    def current_title(self, url: str) -> str | None:
        """The title of the URL's current text (what a person knows the page by)."""
        row = self.db.execute("SELECT title FROM current WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def current_sha(self, url: str) -> str | None:
        row = self.db.execute("SELECT text_sha256 FROM current WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def set_current(self, url: str, *, sha256: str, timestamp: str, title: str | None, text: str) -> None:
        """The URL's current text (what `show` and `search` see)."""
        self.db.execute(
            "INSERT INTO current (url, text_sha256, timestamp, title, changed) VALUES (?,?,?,?,?)"
            " ON CONFLICT(url) DO UPDATE SET text_sha256 = excluded.text_sha256,"
            " timestamp = excluded.timestamp, title = excluded.title, changed = excluded.changed",
            (url, sha256, timestamp, title, timestamp),
        )
        rowid = self.db.execute("SELECT rowid FROM current WHERE url = ?", (url,)).fetchone()[0]
        # Indexed with compatibility forms folded (the ligature "ﬁ" as "fi",
        # full-width letters as letters); the snapshot file keeps the text as it came.
        title, text = fold(title or ""), fold(text)
        self.db.execute("DELETE FROM search WHERE rowid = ?", (rowid,))
        self.db.execute("INSERT INTO search (rowid, title, text) VALUES (?,?,?)", (rowid, title or "", text))
        self.db.execute("DELETE FROM search_cjk WHERE rowid = ?", (rowid,))
        cjk_title, cjk_text = index_terms(title or ""), index_terms(text)
        if cjk_title or cjk_text:
            self.db.execute("INSERT INTO search_cjk (rowid, title, text) VALUES (?,?,?)", (rowid, cjk_title, cjk_text))

    def touch_current(self, url: str, timestamp: str) -> None:
        self.db.execute("UPDATE current SET timestamp = max(timestamp, ?) WHERE url = ?", (timestamp, url))

    def current_changed(self, url: str) -> str | None:
        """When the URL's current text first came (the capture that brought it)."""
        row = self.db.execute("SELECT changed FROM current WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def current_timestamp(self, url: str) -> str | None:
        row = self.db.execute("SELECT timestamp FROM current WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def search(self, query: str, limit: int, *, site: str | None = None, since: str | None = None,
               until: str | None = None, offset: int = 0, marks: tuple[str, str] = ("[", "]")) -> list[SearchHit]:
        """Ranked full-text search over current snapshots, with snippets. Words
        go to the word index; Chinese, Japanese and Korean runs to the pair
        index (archiver/archive/cjk.py); a page must match every term. `site` keeps
        pages of that host (and its subdomains); `since`/`until` (14-digit
        prefixes) bound when the current text was captured."""
        if len(query) > MAX_QUERY_CHARS:
            raise StoreError(f"a search query is at most {MAX_QUERY_CHARS} characters (this one has {len(query)})")
        # A term given twice finds nothing more; FTS5's cost grows with each repeat.
        terms = list(dict.fromkeys(t for t in fold(query).split() if t.strip('"')))
        if not terms:
            raise StoreError("empty search query")
        if len(terms) > MAX_QUERY_TERMS:
            raise StoreError(f"a search query has at most {MAX_QUERY_TERMS} different words (this one has"
                             f" {len(terms)})")
        phrases: list[str] = []
        words: list[str] = []
        for term in terms:
            cjk, rest = query_phrases(term)
            phrases += cjk
            words += rest
        # Every word quoted: user input is words, not FTS5 syntax.
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        where, args = "", []
        if site:
            host = site.strip().lower().removeprefix("www.")
            where += " AND (instr(c.url, '://' || ?) > 0 OR instr(c.url, '.' || ?) > 0)"
            args += [host, host]
        if since:
            where += " AND c.timestamp >= ?"
            args.append(since)
        if until:
            where += " AND c.timestamp < ?"
            args.append(until)
        if not phrases:
            # Rank first, then make snippets for the page of hits only: in one
            # query SQLite would make a snippet for every match before sorting.
            ranked = [r[0] for r in self.db.execute(
                "SELECT search.rowid FROM search JOIN current AS c ON c.rowid = search.rowid"
                f" WHERE search MATCH ?{where} ORDER BY bm25(search, 5.0, 1.0) LIMIT ? OFFSET ?",
                (match, *args, limit, offset))]
            if not ranked:
                return []
            marks_at = ",".join("?" * len(ranked))
            rows = {r["rowid"]: r for r in self.db.execute(
                "SELECT search.rowid AS rowid, c.url, c.timestamp, c.title,"
                " snippet(search, 1, ?, ?, '…', 12) AS snippet FROM search JOIN current AS c ON c.rowid = search.rowid"
                f" WHERE search MATCH ? AND search.rowid IN ({marks_at})", (*marks, match, *ranked))}
            return [SearchHit(url=r["url"], timestamp=r["timestamp"], title=r["title"], snippet=r["snippet"])
                    for r in (rows[i] for i in ranked if i in rows)]
        sql = ("SELECT c.url, c.timestamp, c.title, s.text FROM search_cjk AS k"
               " JOIN current AS c ON c.rowid = k.rowid JOIN search AS s ON s.rowid = k.rowid"
               " WHERE search_cjk MATCH ?")
        head: list[object] = [" AND ".join(phrases)]
        if words:
            sql += " AND k.rowid IN (SELECT rowid FROM search WHERE search MATCH ?)"
            head.append(match)
        rows = self.db.execute(sql + where + " ORDER BY bm25(search_cjk, 5.0, 1.0) LIMIT ? OFFSET ?",
                               (*head, *args, limit, offset))
        needles = [t for t in terms if has_cjk(t)]
        return [SearchHit(url=r["url"], timestamp=r["timestamp"], title=r["title"],
                          snippet=_snippet(r["text"] or "", needles, marks)) for r in rows]

    # -- what the web interface reads -------------------------------------------

    def add_change(self, *, url: str, timestamp: str, captured_at: str, verdict: str, title: str | None,
                   previous: str | None, added: str | None, removed: str | None, words_added: int | None,
                   words_removed: int | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO changes (url, timestamp, captured_at, verdict, title, previous, added, removed,"
            " words_added, words_removed) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (url, timestamp, captured_at, verdict, title, previous, added, removed, words_added, words_removed))

    def changes(self, *, url: str | None = None, tag: str | None = None, limit: int = 50) -> list[sqlite3.Row]:
        """The newest new texts, of one URL, of the watches with a tag, or of all."""
        if url is not None:
            return self.db.execute("SELECT * FROM changes WHERE url = ? ORDER BY timestamp DESC LIMIT ?",
                                   (url, limit)).fetchall()
        if tag is not None:
            return self.db.execute(
                "SELECT ch.* FROM changes AS ch JOIN watches AS w ON w.url = ch.url WHERE w.tag = ?"
                " ORDER BY ch.timestamp DESC LIMIT ?", (tag, limit)).fetchall()
        return self.db.execute("SELECT * FROM changes ORDER BY timestamp DESC LIMIT ?", (limit,)).fetchall()

    def url_rows(self, *, limit: int, offset: int = 0) -> tuple[list[sqlite3.Row], int]:
        """The dashboard: every URL captured or watched, the latest text change
        first (watches not captured yet at the end), with its last capture and
        watch state; and how many there are."""
        rows = self.db.execute(
            """
            WITH page AS (SELECT url, capture_id, timestamp, sort_key FROM latest
                          UNION ALL SELECT url, NULL, NULL, '' FROM watches WHERE url NOT IN (SELECT url FROM latest)
                          ORDER BY sort_key DESC, url LIMIT ? OFFSET ?)
            SELECT page.url, page.timestamp AS last_capture, cur.changed, cur.title AS current_title,
                   c.verdict, c.reason, c.title AS capture_title, c.status_code,
                   w.url IS NOT NULL AS watched, w.every_seconds, w.cron, w.tag, w.failures, w.rule_rot,
                   w.problem, w.next_due, w.browser
            FROM page
            LEFT JOIN captures AS c ON c.id = page.capture_id
            LEFT JOIN current AS cur ON cur.url = page.url
            LEFT JOIN watches AS w ON w.url = page.url
            ORDER BY page.sort_key DESC, page.url
            """, (limit, offset)).fetchall()
        total = self.db.execute(
            "SELECT (SELECT count(*) FROM latest)"
            " + (SELECT count(*) FROM watches WHERE url NOT IN (SELECT url FROM latest))").fetchone()[0]
        return rows, total

    def capture_days(self, url: str) -> list[tuple[str, int, int]]:
        """(YYYYMMDD, captures, of them with a text) for each day `url` was captured."""
        rows = self.db.execute(
            f"SELECT substr(timestamp, 1, 8) AS day, count(*), sum(verdict IN ({_WITH_TEXT}))"
            " FROM captures WHERE url = ? GROUP BY day ORDER BY day", (url,))
        return [(r[0], r[1], r[2]) for r in rows]

    def record(self, record_id: str) -> RecordLocation | None:
        """Any record the catalog lists (request, response, metadata, resource ...)."""
        return _location(self.db.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone())

    def cdxj_rows(self) -> sqlite3.Cursor:
        """The records pywb replays (responses and revisits), for its index."""
        return self.db.execute(
            "SELECT url, timestamp, record_type, status_code, content_type, payload_digest, length, offset, warc_file"
            " FROM records WHERE record_type IN ('response', 'revisit') AND damaged IS NULL")

    def last_record_rowid(self) -> int:
        return self.db.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]

    # -- titles as pages gave them (kept by reindex) ---------------------------

    def put_page_title(self, url: str, host: str, title: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO page_titles (url, host, title) VALUES (?,?,?)", (url, host, title))

    def title_suffixes(self, host: str, *, url: str | None = None, sample: int = 400) -> tuple[str, ...]:
        """Suffixes (" | Site Name") that other pages of `host` put on their
        titles, longest first: see `learned_suffixes`."""
        rows = self.db.execute("SELECT title FROM page_titles WHERE host = ? AND url != ? LIMIT ?",
                               (host, url or "", sample)).fetchall()
        return learned_suffixes([r[0] for r in rows])

    def robots_get(self, host: str, *, newer_than: float) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT status, body FROM robots WHERE host = ? AND fetched > ?", (host, newer_than)).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def robots_put(self, host: str, status: int, body: bytes, *, now: float) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO robots (host, status, body, fetched) VALUES (?,?,?,?)",
                            (host, status, body, now))

    # The derived part: what `reindex` makes anew from the files. Everything
    # else (watches and their leases, the notification outbox, the robots.txt
    # cache) is operational state that no file holds.
    DERIVED_TABLES = ("search", "search_cjk", "current", "texts", "captures", "latest", "records")

    def canonicalise_kept(self) -> int:
        """Key the tables reindex keeps (watches, changes, page titles) by
        canonical URLs, spellings of one page merged into one row (inside the
        caller's transaction); how many rows were moved."""
        moved = 0
        for table in ("watches", "changes", "page_titles"):
            moved += self.db.execute(f"UPDATE OR IGNORE {table} SET url = canonical_url(url)"
                                     " WHERE url != canonical_url(url)").rowcount
            self.db.execute(f"DELETE FROM {table} WHERE url != canonical_url(url)")  # a second spelling of a kept row
        return moved

    def clear_derived(self) -> None:
        """Empty the derived tables (inside the caller's transaction)."""
        for table in self.DERIVED_TABLES:
            self.db.execute(f"DELETE FROM {table}")

    # -- fixity (evidence: kept by reindex) -------------------------------------

    def add_warc_file(self, name: str, sha256: str, size: int | None, closed_at: str | None) -> None:
        self.db.execute("INSERT OR IGNORE INTO warc_files (name, sha256, size, closed_at) VALUES (?,?,?,?)",
                        (name, sha256, size, closed_at))

    def warc_files(self) -> dict[str, WarcFileRow]:
        return {r["name"]: WarcFileRow(name=r["name"], sha256=r["sha256"], size=r["size"], closed_at=r["closed_at"])
                for r in self.db.execute("SELECT name, sha256, size, closed_at FROM warc_files")}

    def records_in(self, warc_file: str) -> list[tuple[int, int, str, str, str | None]]:
        """(offset, length, record_id, record_type, payload_digest) of each record
        the catalog places in `warc_file`, by offset."""
        return [tuple(r) for r in self.db.execute(
            "SELECT offset, length, record_id, record_type, payload_digest FROM records WHERE warc_file = ?"
            " ORDER BY offset", (warc_file,))]

    def record_files(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT warc_file FROM records")]

    def capture_links(self) -> Iterator[tuple[str, str, str | None, str | None, str | None]]:
        """(url, timestamp, record_id, meta_record_id, text_sha256) of every capture."""
        for r in self.db.execute("SELECT url, timestamp, record_id, meta_record_id, text_sha256 FROM captures"):
            yield tuple(r)

    def capture_facts(self) -> Iterator[sqlite3.Row]:
        """What `history` and `show` print of every capture, with its metadata record's id."""
        yield from self.db.execute("SELECT url, timestamp, meta_record_id, verdict, status_code, title, word_count,"
                                   " text_sha256 FROM captures")

    def text_files(self) -> list[tuple[str, str]]:
        """(sha256, path) of every stored text."""
        return [tuple(r) for r in self.db.execute("SELECT sha256, path FROM texts")]

    # -- watches (operational state: kept by reindex) -------------------------

    @staticmethod
    def _watch(row: sqlite3.Row) -> Watch:
        return Watch(
            url=row["url"], every_seconds=row["every_seconds"], cron=row["cron"], tag=row["tag"],
            added_at=row["added_at"], next_due=row["next_due"], last_capture=row["last_capture"],
            last_verdict=row["last_verdict"], last_good=row["last_good"], failures=row["failures"],
            rule_rot=tuple(json.loads(row["rule_rot"] or "[]")), problem=row["problem"], browser=bool(row["browser"]),
            notify=tuple(json.loads(row["notify"] or "[]")), auth=row["auth"], active_hours=row["active_hours"],
            tz=row["tz"], headers=tuple(json.loads(row["headers"] or "[]")), cookies=row["cookies"],
        )

    def put_watch(self, url: str, *, every_seconds: int | None, cron: str | None, tag: str | None, added_at: str,
                  next_due: float, browser: bool = False, notify: tuple[str, ...] = (), auth: str | None = None,
                  active_hours: str | None = None, tz: str | None = None, headers: tuple[str, ...] = (),
                  cookies: str | None = None) -> Watch:
        """Add a watch (due at `next_due`) or change its schedule; a changed
        schedule clears a scheduling problem."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO watches (url, every_seconds, cron, tag, added_at, next_due, browser, notify, auth,"
                " active_hours, tz, headers, cookies) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(url) DO UPDATE SET every_seconds = excluded.every_seconds, cron = excluded.cron,"
                " tag = coalesce(excluded.tag, watches.tag), problem = NULL, browser = excluded.browser,"
                " notify = excluded.notify, auth = excluded.auth, active_hours = excluded.active_hours,"
                " tz = excluded.tz, headers = excluded.headers, cookies = excluded.cookies,"
                " next_due = CASE WHEN watches.problem IS NULL THEN watches.next_due ELSE excluded.next_due END",
                (url, every_seconds, cron, tag, added_at, next_due, int(browser),
                 json.dumps(list(notify)) if notify else None, auth, active_hours, tz,
                 json.dumps(list(headers)) if headers else None, cookies),
            )
            watch = self.watch(url)
        assert watch is not None
        return watch

    def watch(self, url: str) -> Watch | None:
        row = self.db.execute("SELECT * FROM watches WHERE url = ?", (url,)).fetchone()
        return self._watch(row) if row else None

    def watches(self, *, tag: str | None = None) -> list[Watch]:
        sql, args = "SELECT * FROM watches", ()
        if tag:
            sql, args = sql + " WHERE tag = ?", (tag,)
        return [self._watch(r) for r in self.db.execute(sql + " ORDER BY next_due, url", args)]

    def remove_watch(self, url: str) -> bool:
        with self.transaction():
            return self.db.execute("DELETE FROM watches WHERE url = ?", (url,)).rowcount > 0

    def claim_due(self, now: float, owner: str, until: float) -> list[Watch]:
        """Lease every due watch nobody holds to `owner` until `until`."""
        with self.transaction():
            rows = self.db.execute(
                "SELECT * FROM watches WHERE next_due <= ? AND problem IS NULL"
                " AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_due", (now, now)).fetchall()
            self.db.executemany("UPDATE watches SET lease_owner = ?, lease_until = ? WHERE url = ?",
                                [(owner, until, r["url"]) for r in rows])
        return [self._watch(r) for r in rows]

    def renew_leases(self, owner: str, until: float) -> int:
        with self.transaction():
            return self.db.execute("UPDATE watches SET lease_until = ? WHERE lease_owner = ?", (until, owner)).rowcount

    def release_leases(self, owner: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE watches SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (owner,))

    def settle_watch(self, url: str, owner: str, *, next_due: float, capture: Capture, failures: int,
                     good: bool) -> bool:
        """Record how a leased watch's capture went and when it is due next.
        Only the lease's owner may: False when `owner` no longer holds it.
        Runs inside the caller's transaction (the capture's own)."""
        return self.db.execute(
            "UPDATE watches SET next_due = ?, last_capture = ?, last_verdict = ?, failures = ?,"
            " last_good = CASE WHEN ? THEN ? ELSE last_good END,"
            " rule_rot = CASE WHEN ? THEN ? ELSE rule_rot END,"
            " lease_owner = NULL, lease_until = NULL WHERE url = ? AND lease_owner = ?",
            (next_due, capture.timestamp, capture.verdict.value, failures, good, capture.timestamp, good,
             json.dumps(list(capture.rule_rot)), url, owner),
        ).rowcount == 1

    def mark_watch_problem(self, url: str, owner: str, problem: str) -> None:
        """A watch that cannot be scheduled is set aside (and says why) until
        its schedule is changed; it never stops the other watches."""
        self.db.execute("UPDATE watches SET problem = ?, lease_owner = NULL, lease_until = NULL"
                        " WHERE url = ? AND lease_owner = ?", (problem[:500], url, owner))

    def defer_watches(self, moves: list[tuple[str, float]], owner: str) -> None:
        """Move leased watches to a later due time without capturing them
        (outside their active hours), and let go of them."""
        with self.transaction():
            self.db.executemany("UPDATE watches SET next_due = ?, lease_owner = NULL, lease_until = NULL"
                                " WHERE url = ? AND lease_owner = ?", [(due, url, owner) for url, due in moves])

    def next_due(self) -> float | None:
        row = self.db.execute("SELECT min(next_due) FROM watches WHERE problem IS NULL").fetchone()
        return row[0] if row and row[0] is not None else None

    # -- the notification outbox (operational state) --------------------------

    def queue_notification(self, target: str, payload: str, *, created: float) -> None:
        """Runs inside the caller's transaction: the capture and its message
        are committed together or not at all."""
        self.db.execute("INSERT INTO notifications (created, target, payload) VALUES (?,?,?)",
                        (created, target, payload))

    def pending_notifications(self, max_attempts: int, now: float | None = None) -> list[Notification]:
        """Messages not yet delivered whose next attempt is due (all of them without `now`)."""
        rows = self.db.execute("SELECT * FROM notifications WHERE sent IS NULL AND attempts < ?"
                               " AND (? IS NULL OR next_try IS NULL OR next_try <= ?) ORDER BY id",
                               (max_attempts, now, now))
        return [Notification(id=r["id"], created=r["created"], target=r["target"], payload=r["payload"],
                             attempts=r["attempts"], last_error=r["last_error"]) for r in rows]

    def notification_done(self, id: int, *, sent: float | None, error: str | None,
                          next_try: float | None = None) -> None:
        with self.transaction():
            self.db.execute("UPDATE notifications SET attempts = attempts + 1, sent = ?, last_error = ?, next_try = ?"
                            " WHERE id = ?", (sent, None if error is None else error[:500], next_try, id))

    # -- runners' heartbeats (operational state) ------------------------------

    def heartbeat(self, runner: str, *, host: str, pid: int, mode: str, now: float, stopped: bool = False) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO heartbeats (runner, host, pid, mode, started, beat, stopped) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT(runner) DO UPDATE SET beat = excluded.beat, stopped = excluded.stopped",
                (runner, host, pid, mode, now, now, now if stopped else None))
            # Keep the table small: runners gone for a month are forgotten.
            self.db.execute("DELETE FROM heartbeats WHERE beat < ?", (now - 30 * 86400,))

    def heartbeats(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM heartbeats ORDER BY beat DESC").fetchall()

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


def _cjk_terms(text: object) -> str:
    return index_terms(text) if isinstance(text, str) else ""


def _snippet(text: str, needles: list[str], marks: tuple[str, str] = ("[", "]"), width: int = 40) -> str:
    """A snippet around the first needle found, marked like FTS5's."""
    for needle in needles:
        at = text.find(needle.strip('"'))
        if at >= 0:
            n = len(needle.strip('"'))
            start, end = max(0, at - width), min(len(text), at + n + width)
            snippet = f"{text[start:at]}{marks[0]}{text[at:at + n]}{marks[1]}{text[at + n:end]}".replace("\n\n", " ")
            return ("…" if start else "") + snippet + ("…" if end < len(text) else "")
    return text[: 2 * width].replace("\n\n", " ") + ("…" if len(text) > 2 * width else "")


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


def _disk_full(directory: Path) -> bool:
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 256 * 1024


_UMASK: int | None = None


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


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def temp_file(directory: Path, suffix: str) -> tuple[int, str]:
    """A temp file to write and then rename into place, with the mode a plain
    `open` would give it (mkstemp makes 0600, whatever the umask says)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def snapshot_digest(data: dict[str, Any]) -> str:
    """SHA-256 of a snapshot file's content, every field of it, however the
    file is laid out: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write, fsync, rename: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, ".json")
    try:
        # One top-level key per line, each value by the C encoder (an indented
        # json.dump runs the pure-Python one: several times slower).
        text = "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                                    for k, v in data.items()) + "\n}\n"
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_snapshot(path: Path) -> StoredSnapshot:
    return StoredSnapshot.from_json(read_json(path))


def read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read snapshot file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path}: not a snapshot file")
    return data
