"""The watch list as a plain file beside the catalog: `watches.json`.

Watches are operational state, not derived data: no WARC record holds them.
Every change to the list is also written here, so that the WARC files plus
this file rebuild everything (`archiver reindex` reads it when the catalog
was lost). The file is the catalog's watches merged into what it already
lists (a watch leaves it only when it is removed), so a new, empty catalog
never makes it forget. It holds notification URLs with their tokens: 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StoreError
from ..models import Watch
from .layout import WATCH_FILE
from ..urls import canonical_url

__all__ = ["WATCH_FILE", "read_watch_file", "restore_watches", "save_watch_file", "watches_in_catalog_file"]

FORMAT = "archiver-watches-1"

# A watch's settings, as the catalog's columns name them (runtime state such
# as failures and leases is not kept: it is rebuilt by the next runs).
_SETTINGS = ("url", "every_seconds", "cron", "tag", "added_at", "browser", "notify", "auth", "active_hours", "tz",
             "headers", "cookies", "change_rules", "paused", "follow")


def _settings(w: Watch) -> dict[str, Any]:
    return {"url": w.url, "every_seconds": w.every_seconds, "cron": w.cron, "tag": w.tag, "added_at": w.added_at,
            "browser": w.browser, "notify": list(w.notify), "auth": w.auth, "active_hours": w.active_hours,
            "tz": w.tz, "headers": list(w.headers), "cookies": w.cookies,
            **({"change_rules": w.change_rules} if w.change_rules else {}), **({"paused": True} if w.paused else {}),
            **({"follow": w.follow} if w.follow else {})}


def read_watch_file(root: Path) -> list[dict[str, Any]]:
    """The entries of the archive's watch file ([] when there is none)."""
    path = root / WATCH_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from None
    watches = data.get("watches") if isinstance(data, dict) else None
    if not isinstance(watches, list):
        raise StoreError(f"{path}: not an archiver watch file")
    return [w for w in watches if isinstance(w, dict) and isinstance(w.get("url"), str)]


def save_watch_file(root: Path, watches: list[Watch], *, removed: tuple[str, ...] = ()) -> None:
    """Write the watch file: what it listed, less `removed`, with `watches`
    (the catalog's, the newer word on each) merged in. Atomic, 0600."""
    try:
        known = {e["url"]: e for e in read_watch_file(root)}
    except StoreError:
        known = {}  # a damaged file is replaced by what the catalog knows
    for url in removed:
        known.pop(url, None)
    for w in watches:
        known[w.url] = _settings(w)
    data = {"format": FORMAT, "watches": sorted(known.values(), key=lambda e: e["url"])}
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-", suffix=".json")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, root / WATCH_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def watches_in_catalog_file(path: Path) -> list[dict[str, Any]]:
    """The watches of a catalog file set aside as unreadable, as far as it
    still reads ([] when not at all), with their next due times."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        db.row_factory = sqlite3.Row
        columns = {r[1] for r in db.execute("PRAGMA table_info(watches)")}
        rows = db.execute("SELECT * FROM watches").fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    out = []
    for row in rows:
        entry: dict[str, Any] = {k: row[k] for k in (*_SETTINGS, "next_due") if k in columns}
        for k, empty in (("notify", "[]"), ("headers", "[]"), ("change_rules", "{}"), ("follow", "{}")):
            try:
                entry[k] = json.loads(entry.get(k) or empty)
            except ValueError:
                entry[k] = json.loads(empty)
        out.append(entry)
    return [e for e in out if isinstance(e.get("url"), str)]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _change_rules(value: Any) -> dict[str, Any] | None:
    """A watch's change rules as the file gives them, if they still parse (else none: the watch comes back without them)."""
    from ..significance import ChangeRules

    try:
        return ChangeRules.from_json(value).to_json() if value else None
    except ConfigError:
        return None


def _follow(value: Any) -> dict[str, Any] | None:
    """A section watch's settings as the file gives them, if they still read as such."""
    if not isinstance(value, dict) or not isinstance(value.get("scope"), str):
        return None
    new = value.get("watch_new")
    return {"scope": value["scope"], "watch_new": new if isinstance(new, str) else None}


def restore_watches(catalog: Any, entries: list[dict[str, Any]], *, now: float) -> list[str]:
    """Put each entry the catalog does not have into it (inside the
    caller's transaction); the URLs restored. An entry without a schedule is
    skipped; one without a due time is due at `now`."""
    restored = []
    have = {w.url for w in catalog.watches()}
    for e in entries:
        url = canonical_url(e["url"])
        every = e.get("every_seconds")
        every = every if isinstance(every, int) and not isinstance(every, bool) and every > 0 else None
        cron = _text(e.get("cron"))
        if url in have or (every is None) == (cron is None):
            continue
        due = e.get("next_due")
        catalog.put_watch(url, every_seconds=every, cron=cron, tag=_text(e.get("tag")),
                          added_at=_text(e.get("added_at")) or "", browser=bool(e.get("browser")),
                          next_due=float(due) if isinstance(due, (int, float)) else now,
                          notify=_strings(e.get("notify")), auth=_text(e.get("auth")),
                          active_hours=_text(e.get("active_hours")), tz=_text(e.get("tz")),
                          headers=_strings(e.get("headers")), cookies=_text(e.get("cookies")),
                          change_rules=_change_rules(e.get("change_rules")), follow=_follow(e.get("follow")))
        if e.get("paused") is True or e.get("paused") == 1:
            catalog.pause_watch(url, True, now=now)
        have.add(url)
        restored.append(url)
    return restored
