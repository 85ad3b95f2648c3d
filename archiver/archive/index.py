"""The catalog's derived index: WARC records, captures, texts, the
current snapshot of each URL and its full-text search, changes, page
titles. `archiver reindex` rebuilds all of it from the WARC and snapshot
files (clear_derived, then the records read again)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable

from ..cleaning.normalize import fold, learned_suffixes
from ..errors import StoreError
from ..timeutil import seconds_between
from ..models import Capture, Change, DashboardRow, RecordLocation, SearchHit, Verdict, schedule_text
from ..urls import site_key
from .cjk import has_cjk, index_terms, query_phrases

__all__ = ["IndexTables", "MAX_QUERY_CHARS", "MAX_QUERY_TERMS"]

# The verdicts of captures with a clean text, as SQL (migrations keep their own words).
_WITH_TEXT = ", ".join(f"'{v.value}'" for v in Verdict if v.has_text)
_VERDICTS = frozenset(v.value for v in Verdict)
MAX_QUERY_CHARS = 4096  # a search query's length
MAX_QUERY_TERMS = 32  # different words in one search query
# A query matching more pages than this ranks the newest this many of them:
# bm25 costs ~2 ms per 1,000 matches, and a word every page has would cost
# a whole archive's worth per query (~200 ms at 100,000 pages).
RANK_WINDOW = 2000
# The dashboard's orders: name -> (column of `latest`, direction); ties by URL.
DASHBOARD_SORTS = {"changed": ("sort_key", "DESC"), "stale": ("sort_key", "ASC"),
                   "captured": ("timestamp", "DESC"), "url": ("url", "ASC")}
# The window as a rowid range, which FTS5 walks instead of every match, and
# as a list (unary + keeps SQLite from looking each rowid up in the index one by one).
_IN_WINDOW = "{col} >= (SELECT min(rowid) FROM win) AND +{col} IN (SELECT rowid FROM win)"


class IndexTables:
    """Derived data (part of `Catalog`, over its connection)."""

    db: sqlite3.Connection

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
            "INSERT INTO latest (url, capture_id, timestamp, sort_key, verdict, title, changed, site)"
            " SELECT ?1, ?2, ?3, coalesce(cur.changed, ?3), ?4, coalesce(cur.title, ?5), cur.changed, ?6"
            " FROM (SELECT 1) LEFT JOIN current AS cur ON cur.url = ?1 WHERE 1"
            " ON CONFLICT(url) DO UPDATE SET capture_id = excluded.capture_id, timestamp = excluded.timestamp,"
            " sort_key = excluded.sort_key, verdict = excluded.verdict, title = excluded.title,"
            " changed = excluded.changed WHERE excluded.timestamp >= latest.timestamp",
            (capture.url, cur.lastrowid, capture.timestamp, capture.verdict.value, capture.title,
             site_key(capture.url)))
        return cur.lastrowid

    def was_captured(self, url: str) -> bool:
        return self.db.execute("SELECT 1 FROM latest WHERE url = ?", (url,)).fetchone() is not None

    def capture_by_id(self, capture_id: int) -> tuple[Capture, str | None] | None:
        """A capture by its row id, and its response record's id."""
        row = self.db.execute("SELECT * FROM captures WHERE id = ?", (capture_id,)).fetchone()
        return (self._capture(row), row["record_id"]) if row else None

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

    def add_version(self, url: str, *, sha256: str, timestamp: str, title: str | None, text: str | Callable[[], str]) -> None:
        """A text of `url` into the every-version index (once per URL and text,
        dated by its first capture). `text` may be a function, to read it only when it is new."""
        row = self.db.execute("SELECT id, timestamp FROM versions WHERE url = ? AND text_sha256 = ?",
                              (url, sha256)).fetchone()
        if row is not None:
            if timestamp < row[1]:  # an older capture of the same text came in (ingest, reindex)
                self.db.execute("UPDATE versions SET timestamp = ? WHERE id = ?", (timestamp, row[0]))
            return
        rowid = self.db.execute("INSERT INTO versions (url, text_sha256, timestamp, title) VALUES (?,?,?,?)",
                                (url, sha256, timestamp, title)).lastrowid
        title, body = fold(title or ""), fold(text() if callable(text) else text)
        self.db.execute("INSERT INTO search_versions (rowid, title, text) VALUES (?,?,?)", (rowid, title, body))
        cjk_title, cjk_text = index_terms(title), index_terms(body)
        if cjk_title or cjk_text:
            self.db.execute("INSERT INTO search_versions_cjk (rowid, title, text) VALUES (?,?,?)",
                            (rowid, cjk_title, cjk_text))

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
               until: str | None = None, offset: int = 0, marks: tuple[str, str] = ("[", "]"),
               versions: bool = False) -> list[SearchHit]:
        """Ranked full-text search over current snapshots, with snippets. Words
        go to the word index; Chinese, Japanese and Korean runs to the pair
        index (archiver/archive/cjk.py); a page must match every term. `site` keeps
        pages of that host (and its subdomains); `since`/`until` (14-digit
        prefixes) bound when the current text was captured. `versions`: every
        text each URL has had (dated by its first capture), not only the current ones.
        Of more than RANK_WINDOW matches, the newest RANK_WINDOW (+ `offset`) are ranked."""
        words_t, cjk_t, rows_t = ("search_versions", "search_versions_cjk", "versions") if versions else \
            ("search", "search_cjk", "current")
        if len(query) > MAX_QUERY_CHARS:
            raise StoreError(f"a search query is at most {MAX_QUERY_CHARS} characters (this one has {len(query)})")
        # A term given twice finds nothing more; FTS5's cost grows with each repeat.
        terms = list(dict.fromkeys(t for t in fold(query).split() if t.strip('"')))
        if not terms:
            raise StoreError("nothing to search for: give one or more words")
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
            window = f"SELECT {words_t}.rowid FROM {words_t} JOIN {rows_t} AS c ON c.rowid = {words_t}.rowid" \
                     f" WHERE {words_t} MATCH ?{where} ORDER BY {words_t}.rowid DESC LIMIT ?"
            ranked = [r[0] for r in self.db.execute(
                f"WITH win AS MATERIALIZED ({window}) SELECT rowid FROM {words_t} WHERE {words_t} MATCH ?"
                f" AND {_IN_WINDOW.format(col='rowid')} ORDER BY bm25({words_t}, 5.0, 1.0) LIMIT ? OFFSET ?",
                (match, *args, RANK_WINDOW + offset, match, limit, offset))]
            if not ranked:
                return []
            marks_at = ",".join("?" * len(ranked))
            rows = {r["rowid"]: r for r in self.db.execute(
                f"SELECT {words_t}.rowid AS rowid, c.url, c.timestamp, c.title,"
                f" snippet({words_t}, 1, ?, ?, '…', 12) AS snippet FROM {words_t} JOIN {rows_t} AS c"
                f" ON c.rowid = {words_t}.rowid"
                f" WHERE {words_t} MATCH ? AND {words_t}.rowid BETWEEN ? AND ? AND +{words_t}.rowid IN ({marks_at})",
                (*marks, match, min(ranked), max(ranked), *ranked))}
            return [SearchHit(url=r["url"], timestamp=r["timestamp"], title=r["title"], snippet=r["snippet"])
                    for r in (rows[i] for i in ranked if i in rows)]
        joined = f" FROM {cjk_t} AS k JOIN {rows_t} AS c ON c.rowid = k.rowid"
        matching = f" WHERE {cjk_t} MATCH ?"
        head: list[object] = [" AND ".join(phrases)]
        if words:
            matching += f" AND k.rowid IN (SELECT rowid FROM {words_t} WHERE {words_t} MATCH ?)"
            head.append(match)
        window = f"SELECT k.rowid{joined}{matching}{where} ORDER BY k.rowid DESC LIMIT ?"
        rows = self.db.execute(
            f"WITH win AS MATERIALIZED ({window}) SELECT c.url, c.timestamp, c.title, s.text{joined}"
            f" JOIN {words_t} AS s ON s.rowid = k.rowid{matching} AND {_IN_WINDOW.format(col='k.rowid')}"
            f" ORDER BY bm25({cjk_t}, 5.0, 1.0) LIMIT ? OFFSET ?",
            (*head, *args, RANK_WINDOW + offset, *head, limit, offset))
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

    def changes(self, *, url: str | None = None, tag: str | None = None, limit: int = 50) -> list[Change]:
        """The newest new texts, of one URL, of the watches with a tag, or of all."""
        if url is not None:
            rows = self.db.execute("SELECT * FROM changes WHERE url = ? ORDER BY timestamp DESC LIMIT ?",
                                   (url, limit)).fetchall()
        elif tag is not None:
            rows = self.db.execute(
                "SELECT ch.* FROM changes AS ch JOIN watches AS w ON w.url = ch.url WHERE w.tag = ?"
                " ORDER BY ch.timestamp DESC LIMIT ?", (tag, limit)).fetchall()
        else:
            rows = self.db.execute("SELECT * FROM changes ORDER BY timestamp DESC LIMIT ?", (limit,)).fetchall()
        return [Change(url=r["url"], timestamp=r["timestamp"], captured_at=r["captured_at"], verdict=Verdict(r["verdict"]),
                       title=r["title"], previous=r["previous"], added=r["added"], removed=r["removed"],
                       words_added=r["words_added"], words_removed=r["words_removed"]) for r in rows]

    def url_rows(self, *, limit: int, offset: int = 0, find: str | None = None, tag: str | None = None,
                 verdict: str | None = None, changed_since: str | None = None, host: str | None = None,
                 after: tuple[str, str] | None = None, sort: str = "changed") -> tuple[list[DashboardRow], int]:
        """The dashboard: every URL captured or watched, in the `sort` order
        (DASHBOARD_SORTS; the latest change first by default, watches not
        captured yet at the end), with its last capture and watch state; and
        how many there are. Filters: `find` in the URL or title (case
        ignored), a watch `tag`, the last capture's `verdict`, a text changed
        at or after `changed_since` (14 digits or a prefix), a `host` (and its
        subdomains). `after` (a row's `cursor`): the rows that come after it,
        found by the index rather than counted past."""
        if sort not in DASHBOARD_SORTS:
            raise StoreError(f"sort is one of {', '.join(DASHBOARD_SORTS)}")
        filters, args = [], []
        if find:
            # LIKE ignores case as lower() does (ASCII letters), at a third of the cost.
            pattern = "%" + find.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            filters.append("(a.url LIKE ? ESCAPE '\\' OR a.title LIKE ? ESCAPE '\\')")
            args += [pattern, pattern]
        if tag:
            filters.append("a.url IN (SELECT url FROM watches WHERE"
                           " instr(',' || coalesce(tag, '') || ',', ',' || ? || ','))")
            args.append(tag)
        if verdict:
            filters.append("a.verdict = ?")
            args.append(verdict)
        if changed_since:
            filters.append("a.changed >= ?")
            args.append(changed_since)
        if host:
            # The site or a subdomain: its key, or a key that goes on after a dot.
            name = site_key(host)
            filters.append("(a.site = ? OR (a.site > ? AND a.site < ?))")
            args += [name, name + ".", name + "/"]
        if not filters and sort == "changed":
            return self._all_url_rows(limit=limit, offset=offset, after=after)
        key, direction = DASHBOARD_SORTS[sort]
        # The captured URLs and the watches not captured yet are each cut to a
        # page before they meet: the captured part can walk its index in order.
        # A filter by text or tag reads every row anyway: then the same pass
        # counts them (a window), instead of a second pass.
        counting = bool(find or tag) and after is None
        waiting = "(SELECT url, NULL AS capture_id, '' AS timestamp, '' AS sort_key, NULL AS verdict, NULL AS title," \
                  " NULL AS changed, site_key(url) AS site FROM watches WHERE url NOT IN (SELECT url FROM latest))"
        counted, count_args = " AND ".join(filters) or "1", list(args)
        total = None if counting else sum(
            self.db.execute(f"SELECT count(*) FROM {table} AS a WHERE {counted}", count_args).fetchone()[0]
            for table in ("latest", waiting))
        if host and total is not None and total > 20 * (limit + offset):
            # Most rows are of this site: reading them in order and skipping the
            # few others beats reading them all by site and sorting them.
            filters = [f.replace("a.site", "+a.site") if "a.site" in f else f for f in filters]
        if after is not None:
            filters.append(f"(a.{key} {'<' if direction == 'DESC' else '>'} ? OR (a.{key} = ? AND a.url > ?))")
            args += [after[0], after[0], after[1]]
            offset = 0
        where = " AND ".join(filters) or "1"
        part = f"SELECT url, capture_id, timestamp, sort_key, {key} AS cursor_key," \
               f" {'count(*) OVER ()' if counting else 'NULL'} AS matched FROM {{}} AS a" \
               f" WHERE {where} ORDER BY a.{key} {direction}, a.url LIMIT ?"
        rows = self.db.execute(
            f"""WITH captured AS MATERIALIZED ({part.format('latest')}),
                     uncaptured AS MATERIALIZED ({part.format(waiting)}),
                     page AS (SELECT * FROM (SELECT * FROM captured UNION ALL SELECT * FROM uncaptured)
                              ORDER BY cursor_key {direction}, url LIMIT ? OFFSET ?)
            SELECT *, (SELECT coalesce(max(matched), 0) FROM captured)
                      + (SELECT coalesce(max(matched), 0) FROM uncaptured) AS total FROM (
            {self._ROW_DETAILS.replace("ORDER BY page.sort_key DESC", f"ORDER BY page.cursor_key {direction}")})
            """, (*args, limit + offset, *args, limit + offset, limit, offset)).fetchall()
        out = [self._dashboard_row(r, r["cursor_key"]) for r in rows]
        if total is None:
            total = rows[0]["total"] if rows and offset == 0 else sum(
                self.db.execute(f"SELECT count(*) FROM {table} AS a WHERE {counted}", count_args).fetchone()[0]
                for table in ("latest", waiting))
        return out, total

    _ROW_DETAILS = """
            SELECT page.*, nullif(page.timestamp, '') AS last_capture, cur.changed, cur.title AS current_title,
                   c.verdict, c.reason, c.title AS capture_title, c.status_code,
                   w.url IS NOT NULL AS watched, w.every_seconds, w.cron, w.tag, w.failures, w.rule_rot,
                   w.problem, w.next_due, w.browser, w.paused,
                   (SELECT count(DISTINCT text_sha256) FROM captures WHERE url = page.url
                    AND text_sha256 IS NOT NULL) AS texts
            FROM page
            LEFT JOIN captures AS c ON c.id = page.capture_id
            LEFT JOIN current AS cur ON cur.url = page.url
            LEFT JOIN watches AS w ON w.url = page.url
            ORDER BY page.sort_key DESC, page.url"""

    def _all_url_rows(self, *, limit: int, offset: int,
                      after: tuple[str, str] | None) -> tuple[list[DashboardRow], int]:
        """The dashboard unfiltered: a page read from the order's index (the
        captured URLs, latest change first), then the watches not captured
        yet; nothing sorted or joined beyond the page."""
        in_latest = self.db.execute("SELECT count(*) FROM latest").fetchone()[0]
        uncaptured = self.db.execute(
            "SELECT count(*) FROM watches WHERE url NOT IN (SELECT url FROM latest)").fetchone()[0]
        latest_where, latest_args, watch_where, watch_args = "", [], "", []
        if after is not None:
            if after[0]:
                latest_where = "WHERE sort_key < ? OR (sort_key = ? AND url > ?)"
                latest_args = [after[0], after[0], after[1]]
            else:  # past every captured URL already: into the watches
                latest_where = "WHERE 0"
                watch_where, watch_args = "AND url > ?", [after[1]]
            offset = 0
        rows = self.db.execute(
            f"""
            WITH page AS (
                SELECT * FROM (SELECT url, capture_id, timestamp, sort_key FROM latest {latest_where}
                               ORDER BY sort_key DESC, url LIMIT ? OFFSET ?)
                UNION ALL
                SELECT * FROM (SELECT url, NULL AS capture_id, NULL AS timestamp, '' AS sort_key FROM watches
                               WHERE url NOT IN (SELECT url FROM latest) {watch_where} ORDER BY url LIMIT ? OFFSET ?))
            {self._ROW_DETAILS} LIMIT ?
            """, (*latest_args, limit, offset, *watch_args, limit, max(0, offset - in_latest), limit)).fetchall()
        return [self._dashboard_row(r) for r in rows], in_latest + uncaptured

    @staticmethod
    def _dashboard_row(r: sqlite3.Row, key: str | None = None) -> DashboardRow:
        return DashboardRow(
            url=r["url"], title=r["current_title"] or r["capture_title"] or r["url"], last_capture=r["last_capture"],
            changed=r["changed"], verdict=Verdict(r["verdict"]) if r["verdict"] in _VERDICTS else None,
            reason=r["reason"], watched=bool(r["watched"]),
            schedule=schedule_text(r["every_seconds"], r["cron"]) if r["watched"] else None, tag=r["tag"],
            failures=r["failures"] or 0, rule_rot=tuple(json.loads(r["rule_rot"] or "[]")), problem=r["problem"],
            browser=bool(r["browser"]), paused=bool(r["paused"]), texts=r["texts"] or 0,
            cursor=f"{r['sort_key'] if key is None else key}|{r['url']}")

    def capture_days(self, url: str) -> list[tuple[str, int, int]]:
        """(YYYYMMDD, captures, of them with a text) for each day `url` was captured."""
        rows = self.db.execute(
            f"SELECT substr(timestamp, 1, 8) AS day, count(*), sum(verdict IN ({_WITH_TEXT}))"
            " FROM captures WHERE url = ? GROUP BY day ORDER BY day", (url,))
        return [(r[0], r[1], r[2]) for r in rows]

    def record(self, record_id: str) -> RecordLocation | None:
        """Any record the catalog lists (request, response, metadata, resource ...)."""
        return _location(self.db.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone())

    def nearest_record(self, url: str, timestamp: str) -> str | None:
        """The timestamp of the response or revisit of `url` nearest to `timestamp` (None: never captured)."""
        before = self.db.execute("SELECT max(timestamp) FROM records WHERE url = ? AND timestamp <= ?"
                                 " AND record_type IN ('response', 'revisit') AND damaged IS NULL", (url, timestamp)).fetchone()[0]
        after = self.db.execute("SELECT min(timestamp) FROM records WHERE url = ? AND timestamp > ?"
                                " AND record_type IN ('response', 'revisit') AND damaged IS NULL", (url, timestamp)).fetchone()[0]
        found = [t for t in (before, after) if t]
        if not found:
            return None
        return min(found, key=lambda t: seconds_between(t, timestamp))

    def record_digest(self, record_id: str) -> str | None:
        """A record's payload digest as its WARC header gives it (None for records without a payload digest)."""
        row = self.db.execute("SELECT payload_digest FROM records WHERE record_id = ?", (record_id,)).fetchone()
        return row[0] if row else None

    def cdxj_rows(self, *, after: int = 0, upto: int | None = None) -> sqlite3.Cursor:
        """The records pywb replays (responses and revisits), for its index;
        those listed after catalog row `after` (and up to `upto`) only."""
        return self.db.execute(
            "SELECT url, timestamp, record_type, status_code, content_type, payload_digest, length, offset, warc_file"
            " FROM records WHERE record_type IN ('response', 'revisit') AND damaged IS NULL AND id > ? AND id <= ?",
            (after, upto if upto is not None else 2**62))

    def last_record_rowid(self) -> int:
        return self.db.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]

    # -- lines of texts, for verdicts (significance.py) ---------------------------

    def add_lines(self, sha256: str, keys: Iterable[int], *, url: str, site: str | None) -> None:
        """Record the line keys of a text, and that `url` (of `site`) holds them."""
        keys = list(keys)
        self.db.executemany("INSERT OR IGNORE INTO text_lines (sha256, line) VALUES (?,?)",
                            ((sha256, k) for k in keys))
        if site:
            self.db.executemany("INSERT OR IGNORE INTO site_lines (site, line, url) VALUES (?,?,?)",
                                ((site, k, url) for k in keys))

    def text_line_keys(self, sha256: str) -> frozenset[int] | None:
        """The line keys of a text; None when they were never recorded."""
        rows = self.db.execute("SELECT line FROM text_lines WHERE sha256 = ?", (sha256,)).fetchall()
        return frozenset(r[0] for r in rows) if rows else None

    def template_lines(self, site: str, keys: Iterable[int], *, url: str, pages: int) -> set[int]:
        """Which of `keys` are on `pages` or more pages of `site` other than `url`."""
        keys = list(set(keys))
        found: set[int] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(
                f"SELECT line FROM site_lines WHERE site = ? AND line IN ({','.join('?' * len(chunk))}) AND url != ?"
                " GROUP BY line HAVING count(*) >= ?", (site, *chunk, url, pages)).fetchall()
            found.update(r[0] for r in rows)
        return found

    def site_pages(self, site: str) -> int:
        """How many pages of `site` the archive holds a text of."""
        return self.db.execute("SELECT count(DISTINCT url) FROM site_lines WHERE site = ?", (site,)).fetchone()[0]

    def distinct_texts(self, url: str, *, limit: int) -> list[str]:
        """The SHA-256 of the page's good texts in the order they were
        captured, a text captured again in a row counted once; the last `limit`."""
        out: list[str] = []
        for capture in self.good_captures(url):
            if capture.text_sha256 and (not out or out[-1] != capture.text_sha256):
                out.append(capture.text_sha256)
        return out[-limit:]

    # -- titles as pages gave them (kept by reindex) ---------------------------

    def put_page_title(self, url: str, host: str, title: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO page_titles (url, host, title) VALUES (?,?,?)", (url, host, title))

    def title_suffixes(self, host: str, *, url: str | None = None, sample: int = 400) -> tuple[str, ...]:
        """Suffixes (" | Site Name") that other pages of `host` put on their
        titles, longest first: see `learned_suffixes`."""
        rows = self.db.execute("SELECT title FROM page_titles WHERE host = ? AND url != ? LIMIT ?",
                               (host, url or "", sample)).fetchall()
        return learned_suffixes([r[0] for r in rows])

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


def _location(row: sqlite3.Row | None) -> RecordLocation | None:
    if row is None:
        return None
    return RecordLocation(warc_file=row["warc_file"], offset=row["offset"], length=row["length"],
                          record_id=row["record_id"], warc_date=row["warc_date"], record_type=row["record_type"])


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
