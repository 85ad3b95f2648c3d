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
import shlex
import socket
import subprocess
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from croniter import CroniterBadDateError, CroniterError, croniter

from .archive import Archive
from .errors import ConfigError, SnapshotNotFound, StoreError
from .models import GOOD_VERDICTS, Capture, Verdict, Watch
from .store import Catalog
from .timeutil import from_epoch, iso_seconds, to_epoch
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
_DURATION = re.compile(r"^\s*(\d{1,12})\s*(s|sec|m|min|h|d|w)\s*$", re.I)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_INTERVAL = 366 * 86400  # a watch runs at least once a year
RENEW_EVERY = 60.0  # seconds between lease renewals while a run captures

CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))


def parse_duration(text: str) -> int:
    """'30m', '6h', '1d', '2w' -> seconds (one minute to a year)."""
    m = _DURATION.match(text or "")
    if not m:
        raise ConfigError(f"invalid duration {text!r}: use a number and a unit, e.g. 30m, 6h, 1d")
    seconds = int(m.group(1)) * _UNITS[m.group(2).lower()]
    if seconds < 60:
        raise ConfigError(f"invalid duration {text!r}: at least one minute")
    if seconds > MAX_INTERVAL:
        raise ConfigError(f"invalid duration {text!r}: at most a year (366d)")
    return seconds


def check_cron(expr: str, *, now: datetime | None = None) -> str:
    """A five-field cron expression (UTC) that fires: say which field is wrong, or that it never comes."""
    expr = " ".join((expr or "").split())
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"invalid cron expression {expr!r}: it has {len(fields)} field(s); cron needs five"
                          " (minute hour day-of-month month day-of-week), e.g. \"0 */6 * * *\"")
    for i, (name, low, high) in enumerate(CRON_FIELDS):
        alone = " ".join(field if j == i else "*" for j, field in enumerate(fields))
        if not croniter.is_valid(alone):
            raise ConfigError(f"invalid cron expression {expr!r}: {name} field {fields[i]!r} is not valid"
                              f" (numbers {low}-{high}, ranges, lists, steps{', names' if i >= 3 else ''})")
    if not croniter.is_valid(expr):
        raise ConfigError(f"invalid cron expression {expr!r}")
    try:
        nxt = croniter(expr, now or datetime(2000, 1, 1)).get_next(datetime)
        croniter(expr, nxt).get_next(datetime)
    except (CroniterBadDateError, OverflowError, ValueError):
        raise ConfigError(f"invalid cron expression {expr!r}: no date ever matches it (e.g. 30 February),"
                          " so it would never fire") from None
    return expr


def _jitter(url: str, interval: float) -> float:
    """A fixed offset per URL, so watches on one schedule spread out."""
    span = min(MAX_JITTER, interval * 0.1)
    frac = int.from_bytes(hashlib.sha256(url.encode()).digest()[:4], "big") / 2**32
    return frac * span


def next_after(watch: Watch, when: datetime) -> datetime:
    """The watch's next regular time after `when` (jitter included). Raises
    ConfigError when its schedule cannot give one."""
    try:
        if watch.cron:
            base = croniter(watch.cron, when).get_next(datetime)
            following = croniter(watch.cron, base).get_next(datetime)
            interval = (following - base).total_seconds()
        else:
            if not watch.every_seconds or watch.every_seconds <= 0:
                raise ValueError("no interval")
            base = when + timedelta(seconds=watch.every_seconds)
            interval = watch.every_seconds
        return base + timedelta(seconds=_jitter(watch.url, interval))
    except (CroniterError, OverflowError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot schedule {watch.schedule}: {exc or type(exc).__name__}") from None


def add_watch(archive: Archive, url: str, *, every: str | None = None, cron: str | None = None,
              tag: str | None = None, browser: bool = False) -> Watch:
    """Watch `url` (or change its schedule). Due at once if new. `browser`:
    capture it in Chromium."""
    url = check_url(url)
    if (every is None) == (cron is None):
        raise ConfigError("give exactly one of --every and --cron")
    now = archive.clock()
    every_seconds = parse_duration(every) if every is not None else None
    cron_expr = check_cron(cron, now=now) if cron is not None else None
    with archive.catalog() as catalog:
        return catalog.put_watch(url, every_seconds=every_seconds, cron=cron_expr, tag=tag,
                                 added_at=iso_seconds(now), next_due=to_epoch(now), browser=browser)


def remove_watch(archive: Archive, url: str) -> None:
    with archive.catalog() as catalog:
        if not catalog.remove_watch(url):
            raise SnapshotNotFound(f"{url} is not watched")


def list_watches(archive: Archive, *, tag: str | None = None) -> list[Watch]:
    if not archive.exists():
        return []
    with archive.reader() as catalog:
        return catalog.watches(tag=tag)


def import_watches(archive: Archive, path: str, *, every: str | None = None, cron: str | None = None,
                   tag: str | None = None) -> list[Watch]:
    """A text file (one URL per line, the schedule given here) or a TOML file:

        [[watch]]
        url = "https://example.org/a"
        every = "6h"          # or cron = "0 */6 * * *"
        tag = "press"
        browser = true        # capture it in Chromium
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
            unknown = set(item) - {"url", "every", "cron", "tag", "browser"}
            if unknown:
                raise ConfigError(f"{path}: watch {n}: unknown key(s) {', '.join(sorted(unknown))}")
            entries.append({"url": item["url"], "every": item.get("every", every if "cron" not in item else None),
                            "cron": item.get("cron", cron if "every" not in item else None),
                            "tag": item.get("tag", tag), "browser": item.get("browser", False)})
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
            if not isinstance(e.get("browser", False), bool):
                raise ConfigError("browser must be true or false")
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
    command: tuple[str, ...] | None = None  # a program and its arguments (no shell): the same JSON on stdin

    def targets(self) -> list[str]:
        """The outbox's target strings (JSON, so nothing is ever parsed by a shell)."""
        out = []
        if self.url:
            out.append(json.dumps({"kind": "webhook", "url": self.url}))
        if self.command:
            out.append(json.dumps({"kind": "command", "argv": list(self.command)}))
        return out


@dataclass
class RunSummary:
    captures: list[Capture] = field(default_factory=list)
    notified: int = 0
    notify_failed: int = 0
    notify_errors: list[str] = field(default_factory=list)  # "TARGET: why", one per failed delivery
    unscheduled: list[str] = field(default_factory=list)  # "URL: why", watches set aside this run

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
                "notify_errors": self.notify_errors, "unscheduled": self.unscheduled,
                "captures": [c.to_json() for c in self.captures]}


def _claim(catalog: Catalog, now: datetime, owner: str) -> list[Watch]:
    t = to_epoch(now)
    return catalog.claim_due(t, owner, t + LEASE_SECONDS)


def _next_due(watch: Watch, capture: Capture, now: datetime) -> tuple[float, int]:
    """(next due time, consecutive failures) after a capture of `watch`."""
    good = capture.verdict in GOOD_VERDICTS or capture.verdict is Verdict.NOT_HTML
    failures = 0 if good else watch.failures + 1
    regular = next_after(watch, now)
    if good:
        return to_epoch(regular), failures
    # Exponential backoff, capped, and never later than the regular time.
    delay = min(BACKOFF_BASE * 2 ** min(failures - 1, 30), BACKOFF_CAP)
    return to_epoch(min(now + timedelta(seconds=delay), regular)), failures


def change_message(archive: Archive, catalog: Catalog, capture: Capture) -> dict[str, Any]:
    """The JSON message for a change, read through `catalog` (inside the
    capture's own transaction, so the new text is visible)."""
    from .diff import render_unified

    payload: dict[str, Any] = {"url": capture.url, "verdict": capture.verdict.value, "timestamp": capture.timestamp,
                               "captured_at": capture.captured_at, "title": capture.title}
    try:
        d = archive.diff_in(catalog, capture.url)
        payload["previous_timestamp"] = d.older.timestamp
        lines = render_unified(d).splitlines()
        payload["diff"] = "\n".join(lines[:40]) + ("\n…" if len(lines) > 40 else "")
    except (StoreError, OSError) as exc:
        payload["diff"] = None
        log.info("no diff for %s: %s", capture.url, exc)
    return payload


def describe_target(target: str) -> str:
    """A target as a person reads it (a command's program, a webhook's address)."""
    kind, where = _target(target)
    if kind == "command":
        return "command " + shlex.join(where)  # type: ignore[arg-type]
    return f"webhook {where}"


def _target(target: str) -> tuple[str, str | list[str]]:
    try:
        data = json.loads(target)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("kind") == "webhook" and isinstance(data.get("url"), str):
        return "webhook", data["url"]
    if isinstance(data, dict) and data.get("kind") == "command" and isinstance(data.get("argv"), list) \
            and data["argv"] and all(isinstance(a, str) for a in data["argv"]):
        return "command", list(data["argv"])
    # Rows queued by archiver 0.1 ("url ADDRESS", "cmd COMMAND"): a command is
    # split into its words and still never given to a shell.
    kind, _, where = target.partition(" ")
    if kind == "url":
        return "webhook", where
    if kind == "cmd" and where.strip():
        return "command", shlex.split(where)
    raise ValueError(f"unknown notification target {target[:80]!r}")


def _deliver(target: str, payload: str) -> None:
    kind, where = _target(target)
    if kind == "webhook":
        assert isinstance(where, str)
        try:
            resp = httpx.post(where, content=payload, headers={"Content-Type": "application/json"},
                              timeout=NOTIFY_TIMEOUT, trust_env=False)
        except httpx.HTTPError as exc:
            raise OSError(f"webhook unreachable: {exc or type(exc).__name__}") from None
        if resp.status_code >= 300:
            raise OSError(f"webhook answered HTTP {resp.status_code}")
    else:
        assert isinstance(where, list)
        try:
            proc = subprocess.run(where, input=payload.encode(), capture_output=True, timeout=60)
        except FileNotFoundError:
            raise OSError(f"command not found: {where[0]}") from None
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip()[-200:]
            raise OSError(f"command exited {proc.returncode}" + (f": {tail}" if tail else ""))


def send_pending(catalog: Catalog, now: datetime, summary: RunSummary | None = None) -> tuple[int, int]:
    """Deliver every notification not yet sent (new and from earlier runs)."""
    sent = failed = 0
    for note in catalog.pending_notifications(NOTIFY_MAX_ATTEMPTS):
        try:
            _deliver(note.target, note.payload)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            failed += 1
            try:
                who = describe_target(note.target)
            except ValueError:
                who = "an unknown target"
            why = str(exc) or type(exc).__name__
            log.warning("notification %d to %s failed (will retry next run): %s", note.id, who, why)
            if summary is not None:
                summary.notify_errors.append(f"{who}: {why}")
            catalog.notification_done(note.id, sent=None, error=why)
        else:
            sent += 1
            catalog.notification_done(note.id, sent=to_epoch(now), error=None)
    return sent, failed


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _LeaseKeeper:
    """Renews a runner's leases while it captures, from a thread with its own
    catalog connection: a long run never lets its watches fall to another runner."""

    def __init__(self, archive: Archive, owner: str, every: float) -> None:
        self.archive, self.owner, self.every = archive, owner, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.archive.catalog() as catalog:
                    catalog.renew_leases(self.owner, to_epoch(self.archive.clock()) + LEASE_SECONDS)
            except Exception as exc:  # a busy catalog: try again at the next tick
                log.warning("could not renew leases: %s", exc)


def run_due(archive: Archive, *, notify: NotifyOptions | None = None,
            on_capture: Callable[[Capture], None] | None = None,
            on_start: Callable[[int], None] | None = None, executor: Executor | None = None,
            renew_every: float = RENEW_EVERY) -> RunSummary:
    """Capture every watch that is due, once; then send notifications.

    Each capture, its watch's new schedule and its notifications are
    committed in one transaction (an outbox): a runner killed at any point
    never loses a change's message."""
    notify = notify or NotifyOptions()
    targets = notify.targets()
    summary = RunSummary()
    owner = _owner()
    with archive.catalog() as catalog:
        claimed = _claim(catalog, archive.clock(), owner)
        by_url = {w.url: w for w in claimed}
        if on_start is not None:
            on_start(len(claimed))

        def record(cat: Catalog, capture: Capture) -> None:
            watch = by_url[capture.url]
            now = archive.clock()
            try:
                due, failures = _next_due(watch, capture, now)
            except ConfigError as exc:
                cat.mark_watch_problem(watch.url, owner, str(exc))
                summary.unscheduled.append(f"{watch.url}: {exc}")
                log.warning("watch %s set aside: %s", watch.url, exc)
            else:
                if not cat.settle_watch(watch.url, owner, next_due=due, capture=capture, failures=failures,
                                        good=capture.verdict in GOOD_VERDICTS):
                    log.warning("lease on %s was lost during the run; its schedule is left to its new holder",
                                watch.url)
            if capture.verdict is Verdict.CHANGED and targets:
                payload = json.dumps(change_message(archive, cat, capture), ensure_ascii=False)
                for target in targets:
                    cat.queue_notification(target, payload, created=to_epoch(now))

        def done(capture: Capture) -> None:
            summary.captures.append(capture)
            if on_capture is not None:
                on_capture(capture)

        if claimed:
            try:
                with _LeaseKeeper(archive, owner, renew_every):
                    archive.capture([w.url for w in claimed], on_capture=done, on_record=record, executor=executor,
                                    browser={w.url for w in claimed if w.browser})
            finally:
                # Whatever was claimed but not captured (an interrupt) is due again now.
                catalog.release_leases(owner)
        summary.notified, summary.notify_failed = send_pending(catalog, archive.clock(), summary)
    return summary


def next_due(archive: Archive) -> datetime | None:
    with archive.catalog() as catalog:
        due = catalog.next_due()
    if due is None:
        return None
    try:
        return from_epoch(due)
    except (OverflowError, OSError, ValueError):
        return None


def run_loop(archive: Archive, *, notify: NotifyOptions | None = None,
             sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False,
             on_summary: Callable[[RunSummary], None] | None = None,
             on_capture: Callable[[Capture], None] | None = None, executor: Executor | None = None) -> None:
    """Run what is due, sleep until the next due time (waking at least every
    minute for new watches), repeat until `stop()`. One WARC file stays open
    across wakes, up to its size and age limits."""
    with archive.writing():
        while not stop():
            summary = run_due(archive, notify=notify, on_capture=on_capture, executor=executor)
            if on_summary is not None and (summary.captures or summary.notify_errors):
                on_summary(summary)
            if stop():
                break
            archive.close_old_warc()
            upcoming = next_due(archive)
            wait = LOOP_MAX_SLEEP if upcoming is None else (upcoming - archive.clock()).total_seconds()
            sleep(min(max(wait, 1.0), LOOP_MAX_SLEEP))
