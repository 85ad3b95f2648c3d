"""Watch lists: URLs captured on a schedule, with backoff and notifications.

All state lives in the catalog (`watches`, `notifications`), so a runner
can stop and start without losing a schedule or firing everything at once.
A runner claims the watches it captures with a lease, so two runners never
capture the same watch twice; a dead runner's leases run out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
import tomllib
import uuid
from urllib.parse import urlencode
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from ..archive.archive import Archive
from ..errors import ConfigError, SnapshotNotFound, StoreError
from ..significance import ChangeRules
from ..models import Capture, Verdict, Watch
from ..capture.credentials import SECRET_HEADERS, CredentialSet, credential_set, inline_set
from .notify import check_apprise_url, deliver, mask_url, render
from ..archive.catalog import Catalog
from ..timeutil import from_epoch, iso_seconds, parse_iso_seconds, parse_timestamp14, to_epoch
from ..urls import canonical_url, check_url
from ..archive.watchfile import save_watch_file

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
NOTIFY_TIME_LIMIT = 30.0  # seconds one delivery may take, whatever it is; then it counts as failed
COURIER_POLL = 5.0  # seconds between looks at the outbox for retries that came due
NOTIFY_MAX_ATTEMPTS = 20
NOTIFY_RETRY_BASE = 60.0  # a failed delivery is tried again after a minute, then 2, 4, ...
NOTIFY_RETRY_CAP = 6 * 3600.0
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


_HOURS = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*$")


def check_between(text: str | None, tz: str | None) -> tuple[str | None, str | None]:
    """Active hours ("08:00-20:00"; "22:00-06:00" spans midnight) and their
    time zone (IANA, e.g. Asia/Hong_Kong; default UTC), checked."""
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {tz!r}: use an IANA name such as Europe/Berlin or"
                              " Asia/Hong_Kong") from None
    if text is None:
        if tz is not None:
            raise ConfigError("--tz sets the zone of --between: give --between too")
        return None, None
    m = _HOURS.match(text)
    if not m or (int(m.group(3)) == 24 and m.group(4) != "00"):
        raise ConfigError(f"invalid active hours {text!r}: use HH:MM-HH:MM, e.g. 08:00-20:00")
    start, end = f"{int(m.group(1)):02d}:{m.group(2)}", f"{int(m.group(3)):02d}:{m.group(4)}"
    if start == end:
        raise ConfigError(f"invalid active hours {text!r}: the window is empty")
    return f"{start}-{end}", tz


def _window(watch: Watch) -> tuple[int, int, ZoneInfo] | None:
    if not watch.active_hours:
        return None
    start, end = watch.active_hours.split("-")
    minutes = [int(h) * 60 + int(m) for h, m in (start.split(":"), end.split(":"))]
    return minutes[0], minutes[1], ZoneInfo(watch.tz or "UTC")


def active_at(watch: Watch, when: datetime) -> bool:
    """Whether `when` (naive UTC) falls in the watch's active hours."""
    window = _window(watch)
    if window is None:
        return True
    start, end, zone = window
    local = when.replace(tzinfo=timezone.utc).astimezone(zone)
    now = local.hour * 60 + local.minute
    return start <= now < end if start < end else (now >= start or now < end)


def next_active(watch: Watch, when: datetime) -> datetime:
    """The first minute at or after `when` (naive UTC) inside the active hours."""
    window = _window(watch)
    if window is None or active_at(watch, when):
        return when
    start, _end, zone = window
    local = when.replace(tzinfo=timezone.utc).astimezone(zone)
    for days in range(3):
        day = (local + timedelta(days=days)).date()
        # Through the zone's rules, so a daylight-saving day lands right.
        begin = datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=zone)
        if begin > local:
            return begin.astimezone(timezone.utc).replace(tzinfo=None)
    return when + timedelta(days=1)


def watch_credentials(headers: tuple[str, ...] | list[str], cookies: str | None) -> tuple[tuple[str, ...], str | None]:
    """A watch's own headers and cookies.txt, checked. They are kept in the
    catalog, so no credential header may be among them (a credential set,
    `--auth NAME`, keeps those out of it); the cookies file is kept by path."""
    for h in headers:
        name = h.split(":", 1)[0].strip().lower()
        if name in SECRET_HEADERS:
            raise ConfigError(f"--header {name.title()}: a watch's headers are kept in the catalog; put"
                              " credentials in a credential set (credentials.toml) and give --auth NAME")
    inline_set(list(headers), cookies)  # parses them: a bad header or cookies file is an error now
    return tuple(headers), (str(Path(cookies).expanduser().resolve()) if cookies else None)


def add_watch(archive: Archive, url: str, *, every: str | None = None, cron: str | None = None,
              tag: str | None = None, browser: bool = False, notify: tuple[str, ...] | list[str] = (),
              auth: str | None = None, between: str | None = None, tz: str | None = None,
              headers: tuple[str, ...] | list[str] = (), cookies: str | None = None,
              change_rules: ChangeRules | None = None, follow: dict[str, Any] | None = None,
              first_due: float | None = None, save_file: bool = True) -> Watch:
    """Watch `url` (or change its schedule). Due at once if new. `browser`:
    capture it in Chromium; `notify`: its own Apprise URLs; `auth`: the
    credential set it is captured with, or `headers` and `cookies` (a
    cookies.txt path) of its own; `between`/`tz`: its active hours;
    `change_rules`: its --ignore, --trigger and --min-words; `follow`: a
    section watch's {"scope", "watch_new"} (its new in-scope links are
    captured once, and watched on `watch_new` when given); `first_due`: when
    a new watch is first due (unix time; default now)."""
    if auth is not None and (headers or cookies):
        raise ConfigError("--auth names a whole credential set: give it, or --header/--cookies, not both")
    headers, cookies = watch_credentials(headers, cookies)
    url = check_url(url)
    if (every is None) == (cron is None):
        raise ConfigError("give exactly one of --every and --cron")
    now = archive.clock()
    every_seconds = parse_duration(every) if every is not None else None
    cron_expr = check_cron(cron, now=now) if cron is not None else None
    hours, zone = check_between(between, tz)
    urls = tuple(check_apprise_url(u) for u in notify)
    if auth is not None:
        credential_set(auth, archive.path)  # a name that exists, checked now rather than at 3 a.m.
    if follow:
        from ..crawl.scope import Scope

        Scope(follow.get("scope") or "prefix", (url,))  # a bad --scope is an error now
        if follow.get("watch_new"):
            parse_duration(follow["watch_new"])
        follow = {"scope": follow.get("scope") or "prefix", "watch_new": follow.get("watch_new")}
    with archive.catalog() as catalog:
        watch = catalog.put_watch(url, every_seconds=every_seconds, cron=cron_expr, tag=tag,
                                  added_at=iso_seconds(now), next_due=to_epoch(now) if first_due is None else first_due,
                                  browser=browser, notify=urls,
                                  auth=auth, active_hours=hours, tz=zone, headers=headers, cookies=cookies,
                                  change_rules=change_rules.to_json() if change_rules else None,
                                  follow=follow or None)
        if save_file:
            save_watch_file(archive.path, catalog.watches())
        return watch


def remove_watch(archive: Archive, url: str) -> None:
    key = canonical_url(url)
    with archive.catalog() as catalog:
        # The URL as typed first: a row that is no URL at all is removed by its own spelling.
        if not catalog.remove_watch(url) and not catalog.remove_watch(key):
            raise SnapshotNotFound(f"{url} is not watched")
        save_watch_file(archive.path, catalog.watches(), removed=(url, key))


EDITABLE = frozenset({"every", "cron", "tag", "browser", "paused", "ignore", "trigger", "min_words", "notify",
                      "auth", "between", "tz", "follow"})


def _edited_targets(given: Any, kept: tuple[str, ...]) -> tuple[str, ...]:
    """A watch's new notification targets. Targets are shown masked (their
    keys hidden), so a masked one given back stands for the target it masks."""
    if not isinstance(given, list) or not all(isinstance(u, str) for u in given):
        raise ConfigError("notify is a list of Apprise URLs")
    masked = {mask_url(u): u for u in kept}
    return tuple(masked.get(u.strip(), u) for u in given if u.strip())


def edit_watch(archive: Archive, url: str, changes: dict[str, Any]) -> Watch:
    """Change some of a watch's settings (`EDITABLE`), the others kept;
    checked as `add_watch` checks them, nothing changed when one is bad."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise ConfigError(f"cannot change {', '.join(unknown)}; a watch's editable fields: {', '.join(sorted(EDITABLE))}")
    key = canonical_url(url)
    watch = None
    if archive.exists():
        with archive.reader() as catalog:
            watch = catalog.watch(key)
    if watch is None:
        raise SnapshotNotFound(f"{url} is not watched")
    every, cron = watch.schedule_parts()
    if "every" in changes or "cron" in changes:
        every, cron = changes.get("every"), changes.get("cron")
    for name in ("every", "cron", "tag", "auth", "between", "tz"):
        if changes.get(name) is not None and not isinstance(changes[name], str):
            raise ConfigError(f"{name} must be a string")
    rules = dict(watch.change_rules)
    for name in ("ignore", "trigger", "min_words"):
        if name in changes:
            rules[name] = changes[name]
    paused = changes.get("paused", watch.paused)
    if not isinstance(paused, bool) or not isinstance(changes.get("browser", watch.browser), bool):
        raise ConfigError("paused and browser are true or false")
    notify = _edited_targets(changes["notify"], watch.notify) if "notify" in changes else watch.notify
    follow = changes["follow"] if "follow" in changes else watch.follow
    if follow is not None and not (isinstance(follow, dict) and all(
            isinstance(follow.get(k), (str, type(None))) for k in ("scope", "watch_new"))
            and set(follow) <= {"scope", "watch_new"}):
        raise ConfigError('follow is null or {"scope": ..., "watch_new": ...}')
    # An empty value takes a credential set or active hours off.
    auth = changes["auth"] or None if "auth" in changes else watch.auth
    between = changes["between"] or None if "between" in changes else watch.active_hours
    tz = (changes["tz"] or None if "tz" in changes else watch.tz) if between else None
    edited = add_watch(archive, key, every=every, cron=cron, tag=changes.get("tag", watch.tag),
                       browser=changes.get("browser", watch.browser), notify=notify, auth=auth,
                       between=between, tz=tz, headers=watch.headers, cookies=watch.cookies,
                       change_rules=ChangeRules.from_json(rules), follow=follow, save_file=False)
    with archive.catalog() as catalog:
        if "tag" in changes and not changes["tag"]:
            catalog.clear_watch_tag(key)
        if paused != edited.paused:
            catalog.pause_watch(key, paused, now=to_epoch(archive.clock()))
        save_watch_file(archive.path, catalog.watches())
        edited = catalog.watch(key) or edited
    return edited


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
        notify = ["ntfy://ntfy.sh/my-topic"]   # its own Apprise URLs
        auth = "members"      # a credential set by name (credentials.toml)
        between = "08:00-20:00"
        tz = "Asia/Hong_Kong"
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
            unknown = set(item) - {"url", "every", "cron", "tag", "browser", "notify", "auth", "between", "tz",
                                   "headers", "cookies"}
            if unknown:
                raise ConfigError(f"{path}: watch {n}: unknown key(s) {', '.join(sorted(unknown))}")
            notify = item.get("notify", [])
            if isinstance(notify, str):
                notify = [notify]
            if not isinstance(notify, list) or not all(isinstance(u, str) for u in notify):
                raise ConfigError(f"{path}: watch {n}: notify is a URL or a list of URLs")
            for key in ("auth", "between", "tz", "cookies"):
                if key in item and not isinstance(item[key], str):
                    raise ConfigError(f"{path}: watch {n}: {key} must be text")
            headers = item.get("headers", [])
            if isinstance(headers, dict):
                headers = [f"{k}: {v}" for k, v in headers.items()]
            if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
                raise ConfigError(f"{path}: watch {n}: headers is a table of names and values")
            entries.append({"url": item["url"], "every": item.get("every", every if "cron" not in item else None),
                            "cron": item.get("cron", cron if "every" not in item else None),
                            "tag": item.get("tag", tag), "browser": item.get("browser", False),
                            "notify": notify, "auth": item.get("auth"), "between": item.get("between"),
                            "tz": item.get("tz"), "headers": headers, "cookies": item.get("cookies")})
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
            check_between(e.get("between"), e.get("tz"))
            for u in e.get("notify", []):
                check_apprise_url(u)
            if e.get("auth"):
                credential_set(e["auth"], archive.path)
            if e.get("auth") and (e.get("headers") or e.get("cookies")):
                raise ConfigError("auth names a whole credential set: give it, or headers/cookies, not both")
            watch_credentials(e.get("headers", []), e.get("cookies"))
        except ConfigError as exc:
            raise ConfigError(f"{path}: entry {n} ({e['url']}): {exc}") from None
    added = [add_watch(archive, **e, save_file=False) for e in entries]
    with archive.catalog() as catalog:
        save_watch_file(archive.path, catalog.watches())
    return added


# -- running -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NotifyOptions:
    url: str | None = None  # a webhook: POST JSON
    command: tuple[str, ...] | None = None  # a program and its arguments (no shell): the same JSON on stdin
    webhooks: tuple[str, ...] = ()  # more webhooks, beside `url`
    commands: tuple[tuple[str, ...], ...] = ()  # more programs, beside `command`
    apprise: tuple[str, ...] = ()  # Apprise URLs (e-mail, chat, ntfy, ...): a message from `template`
    errors_after: int | None = None  # also say when a page has been an error this many captures in a row, and back
    template: str | None = None  # Jinja2; notify.DEFAULT_TEMPLATE when None
    base_url: str | None = None  # of `archiver serve`: messages link the diff page
    time_limit: float = NOTIFY_TIME_LIMIT  # seconds one delivery may take

    def targets(self, watch_urls: tuple[str, ...] = ()) -> list[str]:
        """The outbox's target strings (JSON, so nothing is ever parsed by a
        shell), with a watch's own Apprise URLs added."""
        out = []
        for url in dict.fromkeys(((self.url,) if self.url else ()) + self.webhooks):
            out.append(json.dumps({"kind": "webhook", "url": url}))
        for argv in dict.fromkeys(((self.command,) if self.command else ()) + self.commands):
            out.append(json.dumps({"kind": "command", "argv": list(argv)}))
        for url in dict.fromkeys((*self.apprise, *watch_urls)):
            out.append(json.dumps({"kind": "apprise", "url": url, "template": self.template}))
        return out


@dataclass
class RunSummary:
    captures: list[Capture] = field(default_factory=list)
    notified: int = 0
    notify_failed: int = 0
    notify_errors: list[str] = field(default_factory=list)  # "TARGET: why", one per failed delivery
    unscheduled: list[str] = field(default_factory=list)  # "URL: why", watches set aside this run
    new_pages: dict[str, list[str]] = field(default_factory=dict)  # section watch -> the new pages captured

    def counts(self) -> dict[str, int]:
        out = {"captured": len(self.captures), "changed": 0, "unchanged": 0, "new": 0, "errors": 0}
        for c in self.captures:
            if c.verdict.has_text:
                out[c.verdict.value] += 1
            elif c.verdict.is_error:
                out["errors"] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {**self.counts(), "notified": self.notified, "notify_failed": self.notify_failed,
                "notify_errors": self.notify_errors, "unscheduled": self.unscheduled,
                "new_pages": self.new_pages, "captures": [c.to_json() for c in self.captures]}


def _claim(catalog: Catalog, now: datetime, owner: str) -> list[Watch]:
    t = to_epoch(now)
    return catalog.claim_due(t, owner, t + LEASE_SECONDS)


def _next_due(watch: Watch, capture: Capture, now: datetime) -> tuple[float, int]:
    """(next due time, consecutive failures) after a capture of `watch`."""
    good = capture.verdict.keeps_schedule
    failures = 0 if good else watch.failures + 1
    regular = next_after(watch, now)
    if good:
        return to_epoch(regular), failures
    # Exponential backoff, capped, and never later than the regular time.
    delay = min(BACKOFF_BASE * 2 ** min(failures - 1, 30), BACKOFF_CAP)
    return to_epoch(min(now + timedelta(seconds=delay), regular)), failures


def _event(watch: Watch, capture: Capture, errors_after: int | None) -> str | None:
    """What a capture of a watch has to say: "changed"; with `errors_after`
    N, "failing" on the Nth error in a row (once) and "recovered" on the
    first good capture after N or more."""
    if capture.verdict is Verdict.CHANGED:
        return "changed"
    if errors_after:
        if capture.verdict.is_error and watch.failures + 1 == errors_after:
            return "failing"
        if capture.verdict.has_text and watch.failures >= errors_after:
            return "recovered"
    return None


MAX_NEW_PAGES = 500  # new pages one section watch captures in a run (the rest come in the next runs)


def _new_links(catalog: Catalog, watch: Watch, capture: Capture) -> list[str]:
    """The links of a section watch's capture within its scope that the
    archive has never captured (and that are not watched already)."""
    from ..crawl.scope import Scope

    scope = Scope(watch.follow.get("scope") or "prefix", (watch.url,))
    out: dict[str, None] = {}
    for link in capture.links:
        url = scope.takes(link, 1)
        if url is None or url == watch.url:
            continue
        if not catalog.was_captured(url) and catalog.watch(url) is None:
            out.setdefault(url)
        if len(out) >= MAX_NEW_PAGES:
            break
    return list(out)


def _capture_new_pages(archive: Archive, catalog: Catalog, found: dict[str, list[str]], by_url: dict[str, Watch],
                       notify: NotifyOptions, summary: RunSummary, done: Callable[[Capture], None],
                       executor: Executor | None) -> None:
    """Capture once the new pages section watches found, watch them when their
    section says so, and tell each section's targets what came."""
    urls = list(dict.fromkeys(u for links in found.values() for u in links))
    captured = {c.url: c for c in archive.capture(urls, on_capture=done, executor=executor)}
    now = archive.clock()
    for section, links in found.items():
        watch = by_url[section]
        got = [captured[u] for u in links if u in captured]
        if not got:
            continue
        summary.new_pages[section] = [c.url for c in got]
        every = watch.follow.get("watch_new")
        for c in got:
            if every and c.verdict.has_text:  # just captured: first due one period on
                add_watch(archive, c.url, every=every, tag=watch.tag, first_due=to_epoch(now) + parse_duration(every),
                          save_file=False)
        targets = notify.targets(watch.notify)
        if targets:
            message = {"event": "new_pages", "url": section, "title": catalog.current_title(section) or section,
                       "new_count": len(got), "captured_at": iso_seconds(now),
                       "new_pages": [{"url": c.url, "title": c.title, "verdict": c.verdict.value} for c in got]}
            if notify.base_url:
                message["diff_url"] = notify.base_url.rstrip("/") + "/timeline?" + urlencode({"url": section})
            payload = json.dumps(message, ensure_ascii=False)
            with catalog.transaction():
                for target in targets:
                    catalog.queue_notification(target, payload, created=to_epoch(now))
    if any(by_url[s].follow.get("watch_new") for s in found):
        save_watch_file(archive.path, catalog.watches())


def _capture_message(capture: Capture) -> dict[str, Any]:
    return {"url": capture.url, "verdict": capture.verdict.value, "timestamp": capture.timestamp,
            "captured_at": capture.captured_at, "title": capture.title, "reason": capture.reason}


def _words(catalog: Catalog, capture: Capture) -> dict[str, Any]:
    """The words added and removed, as the capture stored them (changes table)."""
    for change in catalog.changes(url=capture.url, limit=3):
        if change.timestamp == capture.timestamp:
            return {"words_added": change.words_added, "words_removed": change.words_removed,
                    "added": change.added, "removed": change.removed}
    return {}


def change_message(archive: Archive, catalog: Catalog, capture: Capture) -> dict[str, Any]:
    """The JSON message for a change, read through `catalog` (inside the
    capture's own transaction, so the new text is visible)."""
    from ..archive.diff import render_unified

    payload: dict[str, Any] = {"url": capture.url, "verdict": capture.verdict.value, "timestamp": capture.timestamp,
                               "captured_at": capture.captured_at, "title": capture.title}
    try:
        d = archive.diff(capture.url, catalog=catalog)
        payload["previous_timestamp"] = d.older.timestamp
        lines = render_unified(d).splitlines()
        payload["diff"] = "\n".join(lines[:40]) + ("\n…" if len(lines) > 40 else "")
    except (StoreError, OSError) as exc:
        payload["diff"] = None
        log.info("no diff for %s: %s", capture.url, exc)
    return payload


def describe_target(target: str) -> str:
    """A target as a person reads it (a command's program, a webhook's or an
    Apprise URL's scheme and host: their paths and passwords hold secrets)."""
    kind, where = _target(target)
    if kind == "command":
        return "command " + shlex.join(where)  # type: ignore[arg-type]
    return f"{kind} {mask_url(str(where))}"


def _target(target: str) -> tuple[str, str | list[str]]:
    try:
        data = json.loads(target)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("kind") in ("webhook", "apprise") and isinstance(data.get("url"), str):
        return data["kind"], data["url"]
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


def _deliver(target: str, payload: str, time_limit: float = NOTIFY_TIME_LIMIT) -> None:
    kind, where = _target(target)
    if kind == "apprise":
        assert isinstance(where, str)
        try:
            event = json.loads(payload)
            template = json.loads(target).get("template")
        except ValueError:
            raise ValueError("a queued message that is not JSON") from None
        title, body = render(event, template)
        deliver(where, title, body)
    elif kind == "webhook":
        import httpx

        assert isinstance(where, str)
        try:
            resp = httpx.post(where, content=payload, headers={"Content-Type": "application/json"},
                              timeout=min(NOTIFY_TIMEOUT, time_limit), trust_env=False)
        except httpx.HTTPError as exc:
            raise OSError(f"webhook unreachable: {exc or type(exc).__name__}") from None
        if resp.status_code >= 300:
            raise OSError(f"webhook answered HTTP {resp.status_code}")
    else:
        assert isinstance(where, list)
        _run_command(where, payload.encode(), time_limit)


def _run_command(argv: list[str], data: bytes, time_limit: float) -> None:
    """Run a notification command with the message on stdin; past the time
    limit it is stopped, with whatever it started (its own process group)."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
    except FileNotFoundError:
        raise OSError(f"command not found: {argv[0]}") from None
    except PermissionError:
        raise OSError(f"command cannot be run: {argv[0]}") from None
    try:
        _, err = proc.communicate(data, timeout=time_limit)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        raise OSError(f"command took longer than {time_limit:g} s; it was stopped") from None
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip()[-200:]
        raise OSError(f"command exited {proc.returncode}" + (f": {tail}" if tail else ""))


def _deliver_within(target: str, payload: str, time_limit: float) -> None:
    """`_deliver`, given up on at the time limit (a target that never
    answers cannot hold the outbox: it is tried again later)."""
    outcome: list[BaseException] = []

    def go() -> None:
        try:
            _deliver(target, payload, time_limit)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=go, name="notification", daemon=True)
    worker.start()
    worker.join(time_limit + 1.0)
    if worker.is_alive():
        raise OSError(f"no answer within {time_limit:g} s")
    if outcome:
        raise outcome[0]


def send_pending(catalog: Catalog, now: datetime, summary: RunSummary | None = None, *,
                 time_limit: float = NOTIFY_TIME_LIMIT) -> tuple[int, int]:
    """Deliver every notification whose turn it is (new ones, and earlier
    failures once their backoff is over: a minute, doubling, at most six
    hours), each within `time_limit` seconds."""
    sent = failed = 0
    for note in catalog.pending_notifications(NOTIFY_MAX_ATTEMPTS, to_epoch(now)):
        try:
            _deliver_within(note.target, note.payload, time_limit)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            failed += 1
            try:
                who = describe_target(note.target)
            except ValueError:
                who = "an unknown target"
            why = str(exc) or type(exc).__name__
            if summary is not None:
                summary.notify_errors.append(f"{who}: {why}")
            log.log(logging.INFO if summary is not None else logging.WARNING,  # a summary is printed
                    "notification %d to %s failed (will retry): %s", note.id, who, why)
            retry = min(NOTIFY_RETRY_BASE * 2 ** min(note.attempts, 20), NOTIFY_RETRY_CAP)
            catalog.notification_done(note.id, sent=None, error=why, next_try=to_epoch(now) + retry)
        else:
            sent += 1
            catalog.notification_done(note.id, sent=to_epoch(now), error=None)
    return sent, failed


class Courier:
    """Delivers the outbox beside the captures, from a thread with its own
    catalog connection: a target that is slow or never answers holds back
    no capture and no schedule. What it delivered or failed is counted
    until `take` hands it to a run's summary."""

    def __init__(self, archive: Archive, *, time_limit: float = NOTIFY_TIME_LIMIT, poll: float = COURIER_POLL) -> None:
        self.archive, self.time_limit, self.poll = archive, time_limit, poll
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._finish = threading.Event()  # one last round for what is due, then end
        self._stop = threading.Event()  # end after the delivery under way
        self._counts = RunSummary()
        self._thread = threading.Thread(target=self._run, name="courier", daemon=True)

    def __enter__(self) -> Courier:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def poke(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        try:
            with self.archive.catalog() as catalog:
                while not self._stop.is_set():
                    self._wake.clear()
                    last = self._finish.is_set()
                    self._round(catalog)
                    if last:
                        return
                    self._wake.wait(self.poll)
        except Exception as exc:  # the catalog went away: undelivered messages stay queued
            log.warning("notifications not delivered: %s", exc)

    def _round(self, catalog: Catalog) -> None:
        part = RunSummary()
        try:
            sent, failed = send_pending(catalog, self.archive.clock(), part, time_limit=self.time_limit)
        except StoreError as exc:  # a busy or damaged catalog: the next round tries again
            log.warning("outbox not read: %s", exc)
            return
        with self._lock:
            self._counts.notified += sent
            self._counts.notify_failed += failed
            self._counts.notify_errors += part.notify_errors

    def take(self, summary: RunSummary) -> None:
        """Move the counts so far into `summary`."""
        with self._lock:
            summary.notified += self._counts.notified
            summary.notify_failed += self._counts.notify_failed
            summary.notify_errors += self._counts.notify_errors
            self._counts = RunSummary()

    def finish(self) -> None:
        """Deliver what is due now (each within the time limit), then end."""
        self._finish.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def stop(self, grace: float = 2.0) -> None:
        """End soon: a delivery under way is waited for `grace` seconds at
        most (it stays queued, and is tried again by the next run)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(grace)


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
            renew_every: float = RENEW_EVERY, runner: str | None = None,
            courier: Courier | None = None) -> RunSummary:
    """Capture every watch that is due, once, while notifications go out
    beside the captures (`courier`: a loop's own; else one for this run,
    which delivers what is due before this returns).

    Each capture, its watch's new schedule and its notifications are
    committed in one transaction (an outbox): a runner killed at any point
    never loses a change's message."""
    notify = notify or NotifyOptions()
    if courier is None:
        with Courier(archive, time_limit=notify.time_limit) as own:
            summary = run_due(archive, notify=notify, on_capture=on_capture, on_start=on_start, executor=executor,
                              renew_every=renew_every, runner=runner, courier=own)
            own.finish()
            own.take(summary)
        return summary
    summary = RunSummary()
    owner = _owner()
    with archive.catalog() as catalog:
        beat(catalog, archive, runner or owner, mode="loop" if runner else "once")
        claimed = _claim(catalog, archive.clock(), owner)
        claimed, own_sets = _runnable(catalog, archive, claimed, owner, summary)
        by_url = {w.url: w for w in claimed}
        if on_start is not None:
            on_start(len(claimed))

        found: dict[str, list[str]] = {}  # section watch -> in-scope links never captured

        def record(cat: Catalog, capture: Capture) -> None:
            watch = by_url[capture.url]
            now = archive.clock()
            if watch.follow and capture.links:
                found[watch.url] = _new_links(cat, watch, capture)
            try:
                due, failures = _next_due(watch, capture, now)
            except ConfigError as exc:
                cat.mark_watch_problem(watch.url, owner, str(exc))
                summary.unscheduled.append(f"{watch.url}: {exc}")
                log.info("watch %s set aside: %s", watch.url, exc)  # in the summary
            else:
                if not cat.settle_watch(watch.url, owner, next_due=due, capture=capture, failures=failures,
                                        good=capture.verdict.has_text):
                    log.warning("lease on %s was lost during the run; its schedule is left to its new holder",
                                watch.url)
            event = _event(watch, capture, notify.errors_after)
            mine = notify.targets(watch.notify)
            if event and mine:
                message = change_message(archive, cat, capture) if event == "changed" else _capture_message(capture)
                # An error page's own title is not the page's: say the one it is known by.
                message["title"] = cat.current_title(capture.url) or capture.title
                message.update(event=event, failures=watch.failures if event == "recovered" else watch.failures + 1)
                if event == "changed":
                    message.update(_words(cat, capture))
                if notify.base_url and event == "changed" and message.get("previous_timestamp"):
                    message["diff_url"] = (notify.base_url.rstrip("/") + "/diff?" + urlencode(
                        {"url": capture.url, "from": message["previous_timestamp"], "to": capture.timestamp}))
                elif notify.base_url:
                    message["diff_url"] = notify.base_url.rstrip("/") + "/timeline?" + urlencode({"url": capture.url})
                payload = json.dumps(message, ensure_ascii=False)
                for target in mine:
                    cat.queue_notification(target, payload, created=to_epoch(now))

        def done(capture: Capture) -> None:
            summary.captures.append(capture)
            courier.poke()
            if on_capture is not None:
                on_capture(capture)

        if claimed:
            try:
                with _LeaseKeeper(archive, owner, renew_every):
                    archive.capture([w.url for w in claimed], on_capture=done, on_record=record, executor=executor,
                                    browser={w.url for w in claimed if w.browser}, auth=own_sets,
                                    links=any(w.follow for w in claimed))
            finally:
                # Whatever was claimed but not captured (an interrupt) is due again now.
                catalog.release_leases(owner)
            if found:
                _capture_new_pages(archive, catalog, found, by_url, notify, summary, done, executor)
        courier.poke()
        courier.take(summary)
        if not runner:
            beat(catalog, archive, owner, mode="once", stopped=True)
    return summary


def beat(catalog: Catalog, archive: Archive, runner: str, *, mode: str, stopped: bool = False) -> None:
    """A runner's heartbeat: `watch check` tells a stopped runner from a quiet one by it."""
    try:
        catalog.heartbeat(runner, host=socket.gethostname(), pid=os.getpid(), mode=mode,
                          now=to_epoch(archive.clock()), stopped=stopped)
    except StoreError as exc:  # a heartbeat is worth less than the captures: say so, go on
        log.warning("heartbeat not written: %s", exc)


def _runnable(catalog: Catalog, archive: Archive, claimed: list[Watch], owner: str,
              summary: RunSummary) -> tuple[list[Watch], dict[str, str | CredentialSet]]:
    """The claimed watches to capture now, and the credentials of those that
    have their own. One outside its active hours is moved to the start of
    its next window (not captured); one whose URL cannot be captured (a row
    edited by hand, or an older version's) or whose credentials cannot be
    loaded (a missing set, variable or cookies file) is set aside with the
    reason."""
    now = archive.clock()
    out, deferred = [], []
    sets: dict[str, str | CredentialSet] = {}
    for w in claimed:
        try:
            check_url(w.url)
        except ConfigError as exc:
            with catalog.transaction():
                catalog.mark_watch_problem(w.url, owner, f"{exc}; 'archiver watch remove' it")
            summary.unscheduled.append(f"{w.url}: {exc}")
            continue
        if not active_at(w, now):
            deferred.append((w.url, to_epoch(next_active(w, now))))
            continue
        try:
            if w.auth:
                credential_set(w.auth, archive.path)
                sets[w.url] = w.auth
            elif w.headers or w.cookies:
                own = inline_set(list(w.headers), w.cookies)
                if own is not None:
                    own.name = "watch"
                    sets[w.url] = own
        except ConfigError as exc:
            with catalog.transaction():
                catalog.mark_watch_problem(w.url, owner, str(exc))
            summary.unscheduled.append(f"{w.url}: {exc}")
            continue
        out.append(w)
    if deferred:
        catalog.defer_watches(deferred, owner)
    return out, sets


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
    runner = _owner()
    notify = notify or NotifyOptions()
    with archive.writing(), Courier(archive, time_limit=notify.time_limit) as courier:
        try:
            while not stop():
                _loop_once(archive, runner, notify, on_capture, executor, on_summary, sleep, stop, courier)
        finally:
            with archive.catalog() as catalog:
                beat(catalog, archive, runner, mode="loop", stopped=True)


def _loop_once(archive: Archive, runner: str, notify: NotifyOptions | None,
               on_capture: Callable[[Capture], None] | None, executor: Executor | None,
               on_summary: Callable[[RunSummary], None] | None, sleep: Callable[[float], None],
               stop: Callable[[], bool], courier: Courier) -> None:
    """One wake of `run_loop`: what is due, then sleep until the next due time."""
    summary = run_due(archive, notify=notify, on_capture=on_capture, executor=executor, runner=runner,
                      courier=courier)
    if on_summary is not None and (summary.captures or summary.notify_errors):
        on_summary(summary)
    if stop():
        return
    archive.close_old_warc()
    upcoming = next_due(archive)
    wait = LOOP_MAX_SLEEP if upcoming is None else (upcoming - archive.clock()).total_seconds()
    sleep(min(max(wait, 1.0), LOOP_MAX_SLEEP))


# -- watch check ---------------------------------------------------------------------

RUNNER_SILENT = 5 * LOOP_MAX_SLEEP  # a looping runner beats at least once a minute
OVERDUE_GRACE = 15 * 60


@dataclass(frozen=True)
class WatchFlag:
    kind: str  # stale | failing | rule_rot | problem | overdue | runner
    url: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, "message": self.message}


def _interval(watch: Watch, now: datetime) -> float | None:
    if watch.every_seconds:
        return float(watch.every_seconds)
    try:
        first = next_after(watch, now)
        return (next_after(watch, first) - first).total_seconds()
    except ConfigError:
        return None


def check_watches(archive: Archive, *, failing_after: int = 3) -> list[WatchFlag]:
    """What needs a person's attention: watches whose last good capture is
    older than twice their interval, watches failing `failing_after` times
    in a row or set aside, rule files that stopped matching, watches long
    overdue, and a looping runner that stopped beating without saying so."""
    if not archive.exists():
        return []
    now = archive.clock()
    flags: list[WatchFlag] = []
    with archive.reader() as catalog:
        watches = catalog.watches()
        beats = catalog.heartbeats()
    for w in watches:
        if w.problem:
            flags.append(WatchFlag("problem", w.url, f"set aside: {w.problem}"))
            continue
        interval = _interval(w, now)
        good = parse_timestamp14(w.last_good)
        since = good or parse_iso_seconds(w.added_at)
        if interval and since and (now - since).total_seconds() > 2 * interval:
            what = f"last good capture {iso_seconds(good)}" if good else f"no good capture since it was added ({w.added_at})"
            flags.append(WatchFlag("stale", w.url, f"{what}: more than twice its interval ({w.schedule}) ago"))
        if w.failures >= failing_after:
            flags.append(WatchFlag("failing", w.url, f"{w.failures} failed captures in a row (last: {w.last_verdict})"))
        if w.rule_rot:
            flags.append(WatchFlag("rule_rot", w.url, "rules that stopped matching: " + ", ".join(w.rule_rot)))
    overdue = [w for w in watches if not w.problem and not w.paused and w.next_due < to_epoch(now) - OVERDUE_GRACE]
    live = [b for b in beats if b["stopped"] is None and b["mode"] == "loop"]
    last = max((b["beat"] for b in beats), default=None)
    for b in live:
        if to_epoch(now) - b["beat"] > RUNNER_SILENT:
            flags.append(WatchFlag("runner", None, f"the runner {b['runner']} (run --loop on {b['host']}, pid {b['pid']})"
                                                   f" last beat at {iso_seconds(from_epoch(b['beat']))} and never said"
                                                   " it stopped: it was killed or hangs"))
    if overdue:
        oldest = min(w.next_due for w in overdue)
        when = f"the last run was at {iso_seconds(from_epoch(last))}" if last is not None else "no runner has ever run"
        flags.append(WatchFlag("overdue", None, f"{len(overdue)} watch(es) overdue since"
                                                f" {iso_seconds(from_epoch(oldest))}; {when}"
                                                " (is the cron line or the systemd unit running?)"))
    return flags


def runner_state(archive: Archive) -> str | None:
    """One line about the runners, for `watch list`."""
    if not archive.exists():
        return None
    with archive.reader() as catalog:
        beats = catalog.heartbeats()
    if not beats:
        return "no runner has run yet ('archiver run' from cron, or 'archiver run --loop')"
    b = beats[0]
    state = "stopped" if b["stopped"] is not None else "running"
    return f"last runner: {b['mode']} on {b['host']}, {state}, last beat {iso_seconds(from_epoch(b['beat']))}"
