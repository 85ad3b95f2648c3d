"""An archive folder: the catalog, the WARC files, and capture into them.

    snapshots/
      catalog.sqlite     the catalog (derived data, WAL)
      warc/*.warc.gz     the evidence: every response fetched, errors included

`Archive.capture` runs fetch -> warc -> catalog for each URL. Fetching is
concurrent; everything that writes runs in this one process, one capture at a
time (the single writer).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from .config import FetchOptions, WarcOptions, archive_dir
from .errors import StoreError
from .fetch import fetch_urls, utc_now
from .models import Capture, Exchange, Fetched, Verdict
from .payload import looks_like_html, read_payload
from .store import Catalog
from .urls import check_url
from .warc import RecordLocation, WarcWriter, recover_open_files

__all__ = ["Archive"]

log = logging.getLogger(__name__)

WARC_DIR = "warc"
CATALOG = "catalog.sqlite"
TITLE_SNIFF_BYTES = 512 * 1024
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _charset(ex: Exchange, head: bytes) -> str:
    ctype = ex.header("content-type") or ""
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", ctype, re.I)
    if m:
        return m.group(1)
    m2 = _CHARSET.search(head[:4096])
    return m2.group(1).decode("ascii") if m2 else "utf-8"


_HEAD_END = re.compile(rb"</head\s*>", re.I)


def _sniff_title(ex: Exchange, head: bytes) -> str | None:
    end = _HEAD_END.search(head)
    if end:
        head = head[: end.end()]  # the title lives in the head: parse no more
    try:
        text = head.decode(_charset(ex, head), "replace")
    except LookupError:
        text = head.decode("utf-8", "replace")
    node = LexborHTMLParser(text).css_first("title")
    if node is None:
        return None
    title = " ".join(node.text().split())
    return title or None


class Archive:
    """An archive folder. `Archive()` uses `$ARCHIVER_HOME` or `./snapshots`."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        fetch_options: FetchOptions | None = None,
        warc_options: WarcOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] | None = None,
    ) -> None:
        self.path = archive_dir(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} exists and is not a folder")
        self.fetch_options = fetch_options or FetchOptions()
        self.warc_options = warc_options or WarcOptions()
        self._clock = clock
        self._make_id = make_id

    @property
    def warc_dir(self) -> Path:
        return self.path / WARC_DIR

    def catalog(self) -> Catalog:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create archive folder {self.path}: {exc.strerror}") from exc
        return Catalog(self.path / CATALOG)

    def capture(self, urls: Iterable[str], *, on_capture: Callable[[Capture], None] | None = None) -> list[Capture]:
        """Capture each URL once; results come back in the order given, while
        `on_capture` sees each as it finishes. Raises InvalidURL before
        fetching anything if one is malformed; network trouble is a `failed`
        verdict, not an error."""
        checked = [check_url(u) for u in urls]
        results: list[Capture | None] = [None] * len(checked)
        slots: dict[str, list[int]] = {}
        for i, u in enumerate(checked):
            slots.setdefault(u, []).append(i)
        catalog = self.catalog()
        recover_open_files(self.warc_dir)
        opts = self.fetch_options
        info = {
            "operator": opts.contact,
            "http-header-user-agent": opts.agent,
            "robots": "obey" if opts.obey_robots else "ignore",
            "isPartOf": self.path.name,
        }
        kwargs = {"make_id": self._make_id} if self._make_id else {}
        writer = WarcWriter(self.warc_dir, self.warc_options, clock=self._clock, info=info, **kwargs)

        def on_done(fetched: Fetched) -> None:
            try:
                capture = self._record(fetched, writer, catalog)
            finally:
                fetched.close()
            results[slots[fetched.url].pop(0)] = capture
            if on_capture is not None:
                on_capture(capture)

        try:
            fetch_urls(checked, on_done, opts, clock=self._clock)
        finally:
            writer.close()
            catalog.close()
        return [c for c in results if c is not None]

    # -- one fetched URL -> WARC records + catalog rows ---------------------

    def _write(self, ex: Exchange, writer: WarcWriter, catalog: Catalog) -> RecordLocation:
        original = None
        # Revisits only for whole, non-empty 200 payloads: an empty redirect
        # body or a truncated one is not worth pointing at.
        if ex.status_code == 200 and not ex.truncated and ex.body_length > 0:
            original = catalog.find_original(ex.url, ex.payload_digest)
        loc = writer.write_exchange(ex, revisit_of=original)
        catalog.add_record(
            loc,
            url=ex.url,
            timestamp=_timestamp(ex.started),
            status_code=ex.status_code,
            content_type=ex.content_type or None,
            payload_digest=ex.payload_digest,
            refers_to=original.record_id if original else None,
        )
        return loc

    def _record(self, fetched: Fetched, writer: WarcWriter, catalog: Catalog) -> Capture:
        with catalog.transaction():
            for ex in fetched.robots:
                self._write(ex, writer, catalog)
            final_loc = None
            for ex in fetched.exchanges:
                final_loc = self._write(ex, writer, catalog)
            capture = self._judge(fetched, final_loc)
            catalog.add_capture(capture, record_id=final_loc.record_id if final_loc else None)
        return capture

    def _judge(self, fetched: Fetched, loc: RecordLocation | None) -> Capture:
        final = fetched.final
        when = final.started if final else (fetched.started or self._clock())
        base = dict(
            url=fetched.url,
            final_url=final.url if final else None,
            status_code=final.status_code if final else None,
            timestamp=_timestamp(when),
            captured_at=_iso(when),
            warc_file=f"{WARC_DIR}/{loc.warc_file}" if loc else None,
            content_type=(final.content_type or None) if final else None,
        )
        if fetched.blocked:
            return Capture(verdict=Verdict.BLOCKED, reason=fetched.blocked, **base)
        if fetched.error or final is None:
            return Capture(verdict=Verdict.FAILED, reason=fetched.error or "no response", **base)
        if final.status_code >= 400:
            return Capture(verdict=Verdict.HTTP_ERROR, reason=f"HTTP {final.status_code} {final.reason}".strip(), **base)
        if not 200 <= final.status_code < 300:
            return Capture(verdict=Verdict.HTTP_ERROR, reason=f"HTTP {final.status_code} without a usable Location", **base)
        head = read_payload(final, TITLE_SNIFF_BYTES)
        reason = "body cut at the size cap" if final.truncated else None
        if not looks_like_html(final.header("content-type"), head):
            return Capture(verdict=Verdict.NOT_HTML, reason=reason, **base)
        verdict = Verdict.UNCHANGED if loc is not None and loc.record_type == "revisit" else Verdict.NEW
        return Capture(verdict=verdict, title=_sniff_title(final, head), reason=reason, **base)

