"""Watch lists: URLs captured on a schedule, with backoff and notifications.

All state lives in the catalog (`watches`, `notifications`), so a runner
can stop and start without losing a schedule or firing everything at once.
A runner claims the watches it captures with a lease, so two runners never
capture the same watch twice; a dead runner's leases run out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import time
import tomllib
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from croniter import croniter

from .archive import Archive
from .errors import ConfigError, SnapshotNotFound, StoreError
from .models import GOOD_VERDICTS, Capture, Verdict
from .store import Catalog
from .urls import check_url

__all__ = [
    "NotifyOptions",
    "RunSummary",
    "Watch",
    "add_watch",
    "import_watches",
    "list_watches",
    "parse_duration",
    "remove_watch",
    "run_due",
    "run_loop",
]

log = logging.getLogger(__name__)

LEASE_SECONDS = 15 * 60  # a runner that died holds its watches this long at most
BACKOFF_BASE = 5 * 60  # first retry after a failed capture
BACKOFF_CAP = 24 * 3600
MAX_JITTER = 300.0
LOOP_MAX_SLEEP = 60.0  # wake at least this often to notice new watches
NOTIFY_TIMEOUT = 10.0
NOTIFY_MAX_ATTEMPTS = 20
_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d|w)\s*$", re.I)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """'30m', '6h', '1d', '2w' -> seconds."""
    m = _DURATION.match(text or "")
    if not m:
        raise ConfigError(f"invalid duration {text!r}: use a number and a unit, e.g. 30m, 6h, 1d")
    seconds = int(m.group(1)) * _UNITS[m.group(2).lower()]
    if seconds < 60:
        raise ConfigError(f"invalid duration {text!r}: at least one minute")
    return seconds


def check_cron(expr: str) -> str:
    expr = " ".join((expr or "").split())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ConfigError(f"invalid cron expression {expr!r}: five fields, e.g. \"0 */6 * * *\"")
    return expr


def _epoch(when: datetime) -> float:
    return when.replace(tzinfo=timezone.utc).timestamp()


def _from_epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)


def _jitter(url: str, interval: float) -> float:
    """A fixed offset per URL, so watches on one schedule spread out."""
    span = min(MAX_JITTER, interval * 0.1)
    frac = int.from_bytes(hashlib.sha256(url.encode()).digest()[:4], "big") / 2**32
    return frac * span


@dataclass
class Watch:
    url: str
    every_seconds: int | None
    cron: str | None
    tag: str | None
    added_at: str
    next_due: float
    last_capture: str | None = None
    last_verdict: str | None = None
    last_good: str | None = None
    failures: int = 0
    rule_rot: tuple[str, ...] = ()

    @property
    def schedule(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        assert self.every_seconds is not None
        for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
            if self.every_seconds % size == 0:
                return f"every {self.every_seconds // size}{unit}"
        return f"every {self.every_seconds}s"

    def next_after(self, when: datetime) -> datetime:
        """The next regular time after `when` (jitter included)."""
        if self.cron:
            base = croniter(self.cron, when).get_next(datetime)
            following = croniter(self.cron, base).get_next(datetime)
            interval = (following - base).total_seconds()
        else:
            assert self.every_seconds is not None
            base = when + timedelta(seconds=self.every_seconds)
            interval = self.every_seconds
        return base + timedelta(seconds=_jitter(self.url, interval))

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "schedule": self.schedule,
            "every_seconds": self.every_seconds,
            "cron": self.cron,
            "tag": self.tag,
            "next_due": _from_epoch(self.next_due).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "last_capture": self.last_capture,
            "last_verdict": self.last_verdict,
            "last_good": self.last_good,
            "failures": self.failures,
            "rule_rot": list(self.rule_rot),
        }


def _row(row: Any) -> Watch:
    return Watch(
        url=row["url"], every_seconds=row["every_seconds"], cron=row["cron"], tag=row["tag"],
        added_at=row["added_at"], next_due=row["next_due"], last_capture=row["last_capture"],
        last_verdict=row["last_verdict"], last_good=row["last_good"], failures=row["failures"],
        rule_rot=tuple(json.loads(row["rule_rot"] or "[]")),
    )


def add_watch(archive: Archive, url: str, *, every: str | None = None, cron: str | None = None,
              tag: str | None = None) -> Watch:
    """Watch `url` (or change its schedule). Due at once if new."""
    url = check_url(url)
    if (every is None) == (cron is None):
        raise ConfigError("give exactly one of --every and --cron")
    every_seconds = parse_duration(every) if every is not None else None
    cron_expr = check_cron(cron) if cron is not None else None
    now = archive.clock()
    with archive.catalog() as catalog, catalog.transaction():
        catalog.db.execute(
            "INSERT INTO watches (url, every_seconds, cron, tag, added_at, next_due) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(url) DO UPDATE SET every_seconds = excluded.every_seconds, cron = excluded.cron,"
            " tag = coalesce(excluded.tag, watches.tag)",
            (url, every_seconds, cron_expr, tag, now.strftime("%Y-%m-%dT%H:%M:%SZ"), _epoch(now)),
        )
        row = catalog.db.execute("SELECT * FROM watches WHERE url = ?", (url,)).fetchone()
    return _row(row)


def remove_watch(archive: Archive, url: str) -> None:
    with archive.catalog() as catalog, catalog.transaction():
        gone = catalog.db.execute("DELETE FROM watches WHERE url = ?", (url,)).rowcount
    if not gone:
        raise SnapshotNotFound(f"{url} is not watched")


def list_watches(archive: Archive, *, tag: str | None = None) -> list[Watch]:
    with archive.catalog() as catalog:
        sql, args = "SELECT * FROM watches", ()
        if tag:
            sql, args = sql + " WHERE tag = ?", (tag,)
        return [_row(r) for r in catalog.db.execute(sql + " ORDER BY next_due, url", args)]


def import_watches(archive: Archive, path: str, *, every: str | None = None, cron: str | None = None,
                   tag: str | None = None) -> list[Watch]:
    """A text file (one URL per line, the schedule given here) or a TOML file:

        [[watch]]
        url = "https://example.org/a"
        every = "6h"          # or cron = "0 */6 * * *"
        tag = "press"
    All entries are checked before any is added.
    """
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    entries: list[dict[str, Any]] = []
    if path.endswith(".toml"):
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        items = data.get("watch", [])
        if not isinstance(items, list):
            raise ConfigError(f"{path}: [[watch]] entries expected")
        for n, item in enumerate(items, 1):
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                raise ConfigError(f"{path}: watch {n} needs a url")
            unknown = set(item) - {"url", "every", "cron", "tag"}
            if unknown:
                raise ConfigError(f"{path}: watch {n}: unknown key(s) {', '.join(sorted(unknown))}")
            entries.append({"url": item["url"], "every": item.get("every", every if "cron" not in item else None),
                            "cron": item.get("cron", cron if "every" not in item else None),
                            "tag": item.get("tag", tag)})
    else:
        for line in raw.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                entries.append({"url": line, "every": every, "cron": cron, "tag": tag})
        if every is None and cron is None:
            raise ConfigError("a plain URL list needs --every or --cron")
    for n, e in enumerate(entries, 1):  # validate everything first: all or nothing
        try:
            check_url(e["url"])
            if (e["every"] is None) == (e["cron"] is None):
                raise ConfigError("give exactly one of every and cron")
            if e["every"] is not None:
                parse_duration(e["every"])
            else:
                check_cron(e["cron"])
        except ConfigError as exc:
            raise ConfigError(f"{path}: entry {n} ({e['url']}): {exc}") from None
    return [add_watch(archive, **e) for e in entries]


# -- running -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NotifyOptions:
    url: str | None = None  # a webhook: POST JSON
    cmd: str | None = None  # a shell command: the same JSON on stdin


@dataclass
class RunSummary:
    captures: list[Capture] = field(default_factory=list)
    notified: int = 0
    notify_failed: int = 0

    def counts(self) -> dict[str, int]:
        out = {"captured": len(self.captures), "changed": 0, "unchanged": 0, "new": 0, "errors": 0}
        for c in self.captures:
            if c.verdict in (Verdict.CHANGED, Verdict.UNCHANGED, Verdict.NEW):
                out[c.verdict.value] += 1
            elif c.verdict is not Verdict.NOT_HTML:
                out["errors"] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {**self.counts(), "notified": self.notified, "notify_failed": self.notify_failed,
                "captures": [c.to_json() for c in self.captures]}


def _claim(catalog: Catalog, now: datetime, owner: str) -> list[Watch]:
    t = _epoch(now)
    with catalog.transaction():
        rows = catalog.db.execute(
            "SELECT * FROM watches WHERE next_due <= ? AND (lease_until IS NULL OR lease_until < ?)"
            " ORDER BY next_due", (t, t)).fetchall()
        catalog.db.executemany("UPDATE watches SET lease_owner = ?, lease_until = ? WHERE url = ?",
                               [(owner, t + LEASE_SECONDS, r["url"]) for r in rows])
    return [_row(r) for r in rows]


def _settle(catalog: Catalog, watch: Watch, capture: Capture, now: datetime) -> None:
    """After a capture: when next, and how it went."""
    good = capture.verdict in GOOD_VERDICTS or capture.verdict is Verdict.NOT_HTML
    failures = 0 if good else watch.failures + 1
    if good:
        nxt = watch.next_after(now)
    else:
        # Exponential backoff, capped, and never later than the regular time.
        delay = min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_CAP)
        nxt = min(now + timedelta(seconds=delay), watch.next_after(now))
    with catalog.transaction():
        catalog.db.execute(
            "UPDATE watches SET next_due = ?, last_capture = ?, last_verdict = ?, failures = ?,"
            " last_good = CASE WHEN ? THEN ? ELSE last_good END,"
            " rule_rot = CASE WHEN ? THEN ? ELSE rule_rot END,"
            " lease_owner = NULL, lease_until = NULL WHERE url = ?",
            (_epoch(nxt), capture.timestamp, capture.verdict.value, failures, capture.verdict in GOOD_VERDICTS,
             capture.timestamp, capture.verdict in GOOD_VERDICTS, json.dumps(list(capture.rule_rot)), watch.url),
        )


def _change_payload(archive: Archive, capture: Capture) -> dict[str, Any]:
    from .diff import render_unified

    payload: dict[str, Any] = {"url": capture.url, "verdict": capture.verdict.value, "timestamp": capture.timestamp,
                               "captured_at": capture.captured_at, "title": capture.title}
    try:
        d = archive.diff(capture.url)
        payload["previous_timestamp"] = d.older.timestamp
        lines = render_unified(d).splitlines()
        payload["diff"] = "\n".join(lines[:40]) + ("\n…" if len(lines) > 40 else "")
    except (StoreError, OSError) as exc:
        payload["diff"] = None
        log.info("no diff for %s: %s", capture.url, exc)
    return payload


def _deliver(target: str, payload: str) -> None:
    kind, _, where = target.partition(" ")
    if kind == "url":
        resp = httpx.post(where, content=payload, headers={"Content-Type": "application/json"},
                          timeout=NOTIFY_TIMEOUT, trust_env=False)
        if resp.status_code >= 300:
            raise OSError(f"webhook answered HTTP {resp.status_code}")
    else:
        proc = subprocess.run(where, shell=True, input=payload.encode(), capture_output=True, timeout=60)
        if proc.returncode != 0:
            raise OSError(f"command exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-200:]}")


def _send_pending(catalog: Catalog, now: datetime) -> tuple[int, int]:
    """Deliver every notification not yet sent (new and from earlier runs)."""
    sent = failed = 0
    rows = catalog.db.execute("SELECT * FROM notifications WHERE sent IS NULL AND attempts < ? ORDER BY id",
                              (NOTIFY_MAX_ATTEMPTS,)).fetchall()
    for row in rows:
        try:
            _deliver(row["target"], row["payload"])
        except (OSError, httpx.HTTPError, subprocess.SubprocessError) as exc:
            failed += 1
            log.warning("notification %d to %s failed (will retry next run): %s", row["id"], row["target"], exc)
            with catalog.transaction():
                catalog.db.execute("UPDATE notifications SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                                   (str(exc)[:500], row["id"]))
        else:
            sent += 1
            with catalog.transaction():
                catalog.db.execute("UPDATE notifications SET attempts = attempts + 1, sent = ?, last_error = NULL"
                                   " WHERE id = ?", (_epoch(now), row["id"]))
    return sent, failed


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_due(archive: Archive, *, notify: NotifyOptions | None = None,
            on_capture: Callable[[Capture], None] | None = None,
            on_start: Callable[[int], None] | None = None, executor: Executor | None = None) -> RunSummary:
    """Capture every watch that is due, once; then send notifications."""
    notify = notify or NotifyOptions()
    summary = RunSummary()
    owner = _owner()
    with archive.catalog() as catalog:
        claimed = _claim(catalog, archive.clock(), owner)
        by_url = {w.url: w for w in claimed}
        if on_start is not None:
            on_start(len(claimed))

        def done(capture: Capture) -> None:
            _settle(catalog, by_url[capture.url], capture, archive.clock())
            summary.captures.append(capture)
            if on_capture is not None:
                on_capture(capture)

        if claimed:
            try:
                archive.capture([w.url for w in claimed], on_capture=done, executor=executor)
            finally:
                # Whatever was claimed but not captured (an interrupt) is due again now.
                with catalog.transaction():
                    catalog.db.execute("UPDATE watches SET lease_owner = NULL, lease_until = NULL"
                                       " WHERE lease_owner = ?", (owner,))
        targets = [f"url {notify.url}"] if notify.url else []
        targets += [f"cmd {notify.cmd}"] if notify.cmd else []
        changes = [c for c in summary.captures if c.verdict is Verdict.CHANGED]
        if targets and changes:
            now = archive.clock()
            with catalog.transaction():
                for c in changes:
                    payload = json.dumps(_change_payload(archive, c), ensure_ascii=False)
                    catalog.db.executemany("INSERT INTO notifications (created, target, payload) VALUES (?,?,?)",
                                           [(_epoch(now), t, payload) for t in targets])
        summary.notified, summary.notify_failed = _send_pending(catalog, archive.clock())
    return summary


def next_due(archive: Archive) -> datetime | None:
    with archive.catalog() as catalog:
        row = catalog.db.execute("SELECT min(next_due) FROM watches").fetchone()
    return _from_epoch(row[0]) if row and row[0] is not None else None


def run_loop(archive: Archive, *, notify: NotifyOptions | None = None,
             sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False,
             on_summary: Callable[[RunSummary], None] | None = None,
             on_capture: Callable[[Capture], None] | None = None, executor: Executor | None = None) -> None:
    """Run what is due, sleep until the next due time (waking at least every
    minute for new watches), repeat until `stop()`."""
    while not stop():
        summary = run_due(archive, notify=notify, on_capture=on_capture, executor=executor)
        if on_summary is not None and summary.captures:
            on_summary(summary)
        if stop():
            break
        upcoming = next_due(archive)
        wait = LOOP_MAX_SLEEP if upcoming is None else (upcoming - archive.clock()).total_seconds()
        sleep(min(max(wait, 1.0), LOOP_MAX_SLEEP))
