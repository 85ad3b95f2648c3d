"""The catalog's operational state: watches and their leases, the
notification outbox, runners' heartbeats, the robots.txt cache. No WARC
record holds it: `reindex` keeps it (and watches.json keeps the watch list)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..models import Capture, Notification, Watch

__all__ = ["OperationalTables"]


class OperationalTables:
    """Operational state (part of `Catalog`, over its connection)."""

    db: sqlite3.Connection

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
    DERIVED_TABLES = ("search", "search_cjk", "current", "texts", "captures", "latest", "records", "text_lines",
                      "site_lines", "versions", "search_versions", "search_versions_cjk")

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
            change_rules=json.loads(row["change_rules"] or "{}"), paused=bool(row["paused"]),
            follow=json.loads(row["follow"] or "{}"),
        )

    def put_watch(self, url: str, *, every_seconds: int | None, cron: str | None, tag: str | None, added_at: str,
                  next_due: float, browser: bool = False, notify: tuple[str, ...] = (), auth: str | None = None,
                  active_hours: str | None = None, tz: str | None = None, headers: tuple[str, ...] = (),
                  cookies: str | None = None, change_rules: dict[str, Any] | None = None,
                  follow: dict[str, Any] | None = None) -> Watch:
        """Add a watch (due at `next_due`) or change its schedule; a changed
        schedule clears a scheduling problem."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO watches (url, every_seconds, cron, tag, added_at, next_due, browser, notify, auth,"
                " active_hours, tz, headers, cookies, change_rules, follow) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(url) DO UPDATE SET every_seconds = excluded.every_seconds, cron = excluded.cron,"
                " tag = coalesce(excluded.tag, watches.tag), problem = NULL, browser = excluded.browser,"
                " notify = excluded.notify, auth = excluded.auth, active_hours = excluded.active_hours,"
                " tz = excluded.tz, headers = excluded.headers, cookies = excluded.cookies,"
                " change_rules = excluded.change_rules, follow = excluded.follow,"
                " next_due = CASE WHEN watches.problem IS NULL THEN watches.next_due ELSE excluded.next_due END",
                (url, every_seconds, cron, tag, added_at, next_due, int(browser),
                 json.dumps(list(notify)) if notify else None, auth, active_hours, tz,
                 json.dumps(list(headers)) if headers else None, cookies,
                 json.dumps(change_rules) if change_rules else None, json.dumps(follow) if follow else None),
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

    def clear_watch_tag(self, url: str) -> None:
        """A watch without a tag (put_watch keeps the one it had when given none)."""
        with self.transaction():
            self.db.execute("UPDATE watches SET tag = NULL WHERE url = ?", (url,))

    def pause_watch(self, url: str, paused: bool, *, now: float) -> bool:
        """Pause a watch (kept, not captured) or resume it (due at once if it
        fell due while paused); False when there is no such watch."""
        with self.transaction():
            return self.db.execute(
                "UPDATE watches SET paused = ?, next_due = CASE WHEN ? AND next_due < ? THEN ? ELSE next_due END"
                " WHERE url = ?", (int(paused), not paused, now, now, url)).rowcount > 0

    def remove_watch(self, url: str) -> bool:
        with self.transaction():
            return self.db.execute("DELETE FROM watches WHERE url = ?", (url,)).rowcount > 0

    def claim_due(self, now: float, owner: str, until: float) -> list[Watch]:
        """Lease every due watch nobody holds to `owner` until `until`."""
        with self.transaction():
            rows = self.db.execute(
                "SELECT * FROM watches WHERE next_due <= ? AND problem IS NULL AND NOT paused"
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
        row = self.db.execute("SELECT min(next_due) FROM watches WHERE problem IS NULL AND NOT paused").fetchone()
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

    # -- background captures asked for through the web interface ----------------

    def add_job(self, job_id: str, urls: list[str], *, browser: bool, now: float) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO jobs (id, created, urls, browser, total, state) VALUES (?,?,?,?,?, 'queued')",
                            (job_id, now, json.dumps(urls), int(browser), len(urls)))

    def job(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return {"id": row["id"], "created": row["created"], "urls": json.loads(row["urls"]), "browser": bool(row["browser"]),
                "total": row["total"], "done": row["done"], "state": row["state"], "error": row["error"],
                "captures": json.loads(row["captures"]), "finished": row["finished"]}

    def job_state(self, job_id: str, state: str, *, error: str | None = None, now: float | None = None) -> None:
        with self.transaction():
            self.db.execute("UPDATE jobs SET state = ?, error = coalesce(?, error), finished = coalesce(?, finished)"
                            " WHERE id = ?", (state, error, now, job_id))

    def job_progress(self, job_id: str, capture: dict[str, Any]) -> None:
        with self.transaction():
            self.db.execute("UPDATE jobs SET done = done + 1, captures = json_insert(captures, '$[#]', json(?))"
                            " WHERE id = ?", (json.dumps(capture), job_id))

    def abandon_jobs(self, *, now: float) -> int:
        """Jobs a server that stopped left queued or running: failed, and said why."""
        with self.transaction():
            return self.db.execute(
                "UPDATE jobs SET state = 'failed', finished = ?, error = 'the server stopped before this job ended;"
                " what it had captured is kept' WHERE state IN ('queued', 'running')", (now,)).rowcount

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
