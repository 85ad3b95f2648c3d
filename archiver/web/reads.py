"""Catalog reads of the interface: one read-only connection per worker
thread, and every query bounded: a time limit, stopped when its client
leaves, or when the server is told to stop."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from ..archive.archive import Archive
from ..archive.catalog import Catalog
from ..archive.layout import Layout
from ..errors import StoreError

__all__ = ["QUERY_TIME_LIMIT", "QueryStopped", "Reads", "SHUTTING_DOWN", "watch_client"]

QUERY_TIME_LIMIT = 10.0  # seconds any catalog query of the interface may take
_PROGRESS_STEPS = 1000  # SQLite instructions between looks at the time limit
# Set when the server is told to stop: every query under way ends at once.
SHUTTING_DOWN = threading.Event()


class QueryStopped(StoreError):
    """A catalog query of the interface ran past its time limit, or its client left."""


class Reads:
    """One read-only catalog connection per worker thread (SQLite
    connections are not shared between threads; WAL lets them all read while
    a capture writes). Every query on them stops at the request's time
    limit, when its client leaves, or when the server stops."""

    def __init__(self, archive: Archive, time_limit: float | None = None) -> None:
        self.archive = archive
        self.time_limit = QUERY_TIME_LIMIT if time_limit is None else time_limit
        self.local = threading.local()

    def catalog(self) -> Catalog:
        cat = getattr(self.local, "catalog", None)
        if cat is None:
            cat = Catalog(Layout.of(self.archive.path).catalog, readonly=True)
            cat.db.set_progress_handler(self._over, _PROGRESS_STEPS)
            self.local.catalog = cat
        return cat

    def _over(self) -> int:
        deadline = getattr(self.local, "deadline", None)
        gone = getattr(self.local, "gone", None)
        return int(SHUTTING_DOWN.is_set() or (deadline is not None and time.monotonic() > deadline)
                   or (gone is not None and gone.is_set()))

    def run(self, fn: Callable[[Request], Any], request: Request, gone: threading.Event) -> Any:
        """`fn(request)` in this thread, its queries bounded as above."""
        self.local.deadline, self.local.gone = time.monotonic() + self.time_limit, gone
        try:
            return fn(request)
        except sqlite3.Error:
            # SQLite words an interrupt after the place it stopped in
            # ("interrupted", "vtable constructor failed"): ask why instead.
            if not self._over():
                raise
            why = ("its client left" if gone.is_set() else "the server is stopping" if SHUTTING_DOWN.is_set()
                   else f"it took longer than {self.time_limit:g} s")
            raise QueryStopped(f"the catalog query was stopped: {why}") from None
        finally:
            self.local.deadline = self.local.gone = None


async def watch_client(request: Request, gone: threading.Event) -> None:
    """Set `gone` when the client of a GET hangs up (its query is then stopped)."""
    while not gone.is_set():
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            gone.set()
