"""The catalog's crawls and their frontiers (archiver/crawl/ runs them)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["CrawlTables", "FrontierURL"]

# What a frontier row can be; "queued" ones are still to be captured.
STATES = ("queued", "done", "failed", "blocked", "bounded", "skipped")


class FrontierURL(NamedTuple):
    url: str
    depth: int
    run: int  # links in a row that differ from their parent only in digits


class CrawlTables:
    """Crawls and their frontiers. The methods that write do not open a
    transaction of their own: the frontier moves with the capture that moved
    it (the recorder's transaction), or in the caller's."""

    db: sqlite3.Connection

    def add_crawl(self, crawl_id: str, *, created: str, seeds: list[str], settings: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO crawls (id, created, seeds, settings, state, capture_mark) VALUES (?,?,?,?,"
                        " 'running', (SELECT coalesce(max(id), 0) FROM captures))",
                        (crawl_id, created, json.dumps(seeds), json.dumps(settings)))

    def crawl(self, crawl_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM crawls WHERE id = ?", (crawl_id,)).fetchone()
        if row is None:
            return None
        counts = dict(self.db.execute("SELECT state, count(*) FROM crawl_urls WHERE crawl = ? GROUP BY state",
                                      (crawl_id,)).fetchall())
        return {"id": row["id"], "created": row["created"], "seeds": json.loads(row["seeds"]),
                "settings": json.loads(row["settings"]), "state": row["state"], "note": row["note"],
                "finished": row["finished"], "counts": {s: counts.get(s, 0) for s in STATES}}

    def crawls(self, *, limit: int = 50) -> list[dict[str, Any]]:
        ids = [r[0] for r in self.db.execute("SELECT id FROM crawls ORDER BY created DESC, id LIMIT ?", (limit,))]
        return [c for c in (self.crawl(i) for i in ids) if c is not None]

    def set_crawl_state(self, crawl_id: str, state: str, *, note: str | None = None,
                        finished: str | None = None) -> None:
        self.db.execute("UPDATE crawls SET state = ?, note = ?, finished = ? WHERE id = ?",
                        (state, note, finished, crawl_id))

    def mark_crawl_run(self, crawl_id: str) -> int:
        """Note where the catalog's captures stand as a run of the crawl begins;
        the mark the run before it left."""
        before = self.db.execute("SELECT capture_mark FROM crawls WHERE id = ?", (crawl_id,)).fetchone()[0]
        self.db.execute("UPDATE crawls SET capture_mark = (SELECT coalesce(max(id), 0) FROM captures) WHERE id = ?",
                        (crawl_id,))
        return before

    def set_crawl_settings(self, crawl_id: str, settings: dict[str, Any]) -> None:
        self.db.execute("UPDATE crawls SET settings = ? WHERE id = ?", (json.dumps(settings), crawl_id))

    def add_frontier(self, crawl_id: str, rows: Iterable[tuple[str, int, str | None, str, str | None, int]]) -> int:
        """(url, depth, parent, state, reason, run) rows a crawl found; a URL it
        already has keeps its row. How many were new."""
        start = self.db.execute("SELECT coalesce(max(seq), 0) FROM crawl_urls WHERE crawl = ?",
                                (crawl_id,)).fetchone()[0]
        added = 0
        for url, depth, parent, state, reason, run in rows:
            added += self.db.execute(
                "INSERT OR IGNORE INTO crawl_urls (crawl, url, depth, parent, state, reason, run, seq)"
                " VALUES (?,?,?,?,?,?,?,?)", (crawl_id, url, depth, parent, state, reason, run, start + added + 1)
            ).rowcount
        return added

    def queued(self, crawl_id: str, limit: int) -> list[FrontierURL]:
        """The next URLs to capture: the shallowest first, in the order found."""
        return [FrontierURL(*r) for r in self.db.execute(
            "SELECT url, depth, run FROM crawl_urls WHERE crawl = ? AND state = 'queued' ORDER BY depth, seq LIMIT ?",
            (crawl_id, limit))]

    def frontier_row(self, crawl_id: str, url: str) -> FrontierURL | None:
        r = self.db.execute("SELECT url, depth, run FROM crawl_urls WHERE crawl = ? AND url = ?",
                            (crawl_id, url)).fetchone()
        return FrontierURL(*r) if r else None

    def settle_frontier(self, crawl_id: str, url: str, state: str, *, reason: str | None = None,
                        capture_id: int | None = None) -> None:
        self.db.execute("UPDATE crawl_urls SET state = ?, reason = ?, capture_id = ? WHERE crawl = ? AND url = ?",
                        (state, reason, capture_id, crawl_id, url))

    def frontier_count(self, crawl_id: str, *states: str) -> int:
        marks = ",".join("?" * len(states))
        return self.db.execute(f"SELECT count(*) FROM crawl_urls WHERE crawl = ? AND state IN ({marks})",
                               (crawl_id, *states)).fetchone()[0]

    def query_variants(self, crawl_id: str, prefix: str) -> int:
        """How many URLs of the crawl start with `prefix` + "?" (one path's query variants)."""
        return self.db.execute("SELECT count(*) FROM crawl_urls WHERE crawl = ? AND url > ? AND url < ?",
                               (crawl_id, prefix + "?", prefix + "@")).fetchone()[0]

    def frontier(self, crawl_id: str, *, state: str | None = None, limit: int = 100,
                 offset: int = 0) -> list[sqlite3.Row]:
        where, args = "crawl = ?", [crawl_id]
        if state:
            where += " AND state = ?"
            args.append(state)
        return self.db.execute(f"SELECT * FROM crawl_urls WHERE {where} ORDER BY seq LIMIT ? OFFSET ?",
                               (*args, limit, offset)).fetchall()

    def crawl_pages(self, crawl_id: str) -> list[dict[str, Any]]:
        """Every URL of a crawl's frontier in the order found, with its capture's verdict where it has one."""
        rows = self.db.execute(
            "SELECT f.url, f.depth, f.parent, f.state, f.reason, c.timestamp, c.verdict, c.status_code, c.title"
            " FROM crawl_urls AS f LEFT JOIN captures AS c ON c.id = f.capture_id WHERE f.crawl = ? ORDER BY f.seq",
            (crawl_id,))
        return [dict(r) for r in rows]
