"""An archive folder: the catalog, the WARC files, and capture into them.

    snapshots/
      catalog.sqlite     the catalog (captures part derived from the files; WAL)
      warc/*.warc.gz     the evidence: every response fetched, errors included
      texts/             one JSON file per distinct clean text
      manifest-sha256.txt  SHA-256 of each closed WARC file (BagIt form)

`Archive.capture` runs a `CaptureRun` (capture/run.py): fetching on an event
loop, cleaning in worker processes, recording in one thread (the single
writer). The read side (history, show, diff, search) works on read-only
storage too.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..capture.credentials import CredentialSet, credential_set
from ..config import BrowserOptions, CleanOptions, FetchOptions, WarcOptions, archive_dir
from .diff import Diff, diff_snapshots
from ..errors import SnapshotNotFound, StoreError
from ..significance import ChangeRules
from ..models import Capture, RecordLocation, SearchHit, StoredSnapshot
from .catalog import Catalog
from .snapshots import read_snapshot
from .layout import CATALOG, WARC_DIR
from ..timeutil import iso_seconds, seconds_between, utc_now
from ..urls import host_of, canonical_url, check_url

# What captures, writes or checks WARC files (httpx, warcio, the cleaner) is
# imported by the methods that do so: `history`, `search`, `diff` and `watch`
# start in half the time without it.
if TYPE_CHECKING:
    from .visual import VisualDiff
    from ..workers.pool import ForkedPool
    from ..capture.recorder import OnRecord
    from .reindex import ReindexReport
    from ..evidence.verify import VerifyReport
    from ..capture.warc import WarcWriter

__all__ = ["Archive", "Shown"]

log = logging.getLogger(__name__)

SAME_VISIT_SECONDS = 60  # an embedded file captured this close to its page is of the same visit
MAX_CHECKED_HTML = 4 << 20  # bytes of a page read for its embedded files
MAX_CHECKED_EMBEDS = 500
MAX_SCREENSHOT_BYTES = 64 << 20  # a full-page screenshot or a DOM is a few MB; a record past this is none of ours



class Archive:
    """An archive folder. `Archive()` uses `$ARCHIVER_HOME` or `./snapshots`.

    `workers` is how many processes clean pages during a capture (default:
    one per core; 0 cleans in the recording thread, for debugging)."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        fetch_options: FetchOptions | None = None,
        warc_options: WarcOptions | None = None,
        clean_options: CleanOptions | None = None,
        browser_options: BrowserOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] | None = None,
        workers: int | None = None,
    ) -> None:
        self.path = archive_dir(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} exists and is not a folder")
        if workers is not None and workers < 0:
            raise StoreError("workers must be 0 or more")
        self.fetch_options = fetch_options or FetchOptions()
        self.warc_options = warc_options or WarcOptions()
        self.clean_options = clean_options or CleanOptions()
        self.browser_options = browser_options or BrowserOptions()
        self.clock = clock
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._make_id = make_id
        self._writer: WarcWriter | None = None  # kept open across captures inside `writing()`
        self._pool: contextlib.ExitStack | None = None  # a pool kept across captures inside `writing()`
        self._pool_executor: ForkedPool | None = None
        # The credential set the command line gave (--header, --cookies, --auth), for every URL without its own.
        self.credentials: CredentialSet | None = None
        # What makes a differing text a change, besides each watch's own (significance.py).
        self.change_rules = ChangeRules()

    @property
    def warc_dir(self) -> Path:
        return self.path / WARC_DIR

    def exists(self) -> bool:
        return (self.path / CATALOG).exists()

    def read_only(self) -> bool:
        """True when this process cannot write the archive (read-only storage or permissions)."""
        where = self.path
        while not where.exists() and where.parent != where:
            where = where.parent  # a folder to be made: whether it can be made is up to the nearest that exists
        if not os.access(where, os.W_OK):
            return True
        return self.exists() and not os.access(self.path / CATALOG, os.W_OK)

    def catalog(self) -> Catalog:
        """The catalog, for writing (created if new)."""
        if self.read_only():
            raise StoreError(f"{self.path} is read-only: it can be read (history, show, diff, search, export),"
                             " not written")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create archive folder {self.path}: {exc.strerror}") from exc
        return Catalog(self.path / CATALOG)

    def reader(self) -> Catalog:
        """The catalog, for reading; works on read-only storage too."""
        if not self.exists():
            raise StoreError(f"no archive at {self.path} (capture something first, or pass --archive)")
        return Catalog(self.path / CATALOG, readonly=self.read_only())

    # -- WARC files and workers -------------------------------------------------

    def new_writer(self, info: dict[str, str] | None = None) -> WarcWriter:
        """A writer of this archive's WARC files (its warcinfo says who wrote them)."""
        opts = self.fetch_options
        fields = info or {
            "operator": opts.contact,
            "http-header-user-agent": opts.agent,
            "robots": "obey" if opts.obey_robots else "ignore",
            "isPartOf": self.path.name,
        }
        from ..capture.warc import WarcWriter

        kwargs = {"make_id": self._make_id} if self._make_id else {}
        return WarcWriter(self.warc_dir, self.warc_options, clock=self.clock, info=fields,
                          on_close=self._file_closed, **kwargs)

    def _file_closed(self, name: str, sha256_hex: str, size: int) -> None:
        """Fixity of a file just closed: a manifest line, then a catalog row.
        The capture is committed already; a failure here is reported, never
        raised (the file shows up as unlisted in `archiver verify`)."""
        from ..evidence.fixity import append_manifest

        try:
            append_manifest(self.path, f"{WARC_DIR}/{name}", sha256_hex)
        except StoreError as exc:
            log.error("%s: its SHA-256 is not in the manifest: %s", name, exc)
            return
        try:
            with Catalog(self.path / CATALOG) as catalog, catalog.transaction():
                catalog.add_warc_file(name, sha256_hex, size, iso_seconds(self.clock()))
        except (StoreError, sqlite3.Error) as exc:
            log.warning("%s: fixity is in the manifest, not yet in the catalog (%s)", name, exc)

    def fetching_with(self, **changes: Any) -> Archive:
        """This archive, its captures made with other fetch options (a crawl's
        own delay, the web interface's network policy); the same folder."""
        other = copy.copy(self)
        other.fetch_options = dataclasses.replace(self.fetch_options, **changes)
        return other

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Keep one WARC file open across `capture` calls (a `run --loop`),
        up to its size and age limits, and one pool of cleaning processes,
        instead of new ones per call."""
        if self._writer is not None:
            yield
            return
        self._writer = self.new_writer()
        try:
            yield
        finally:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            finally:
                self._drop_pool()

    def _drop_pool(self) -> None:
        """End the pool kept across captures, if there is one."""
        pool, self._pool, self._pool_executor = self._pool, None, None
        if pool is not None:
            pool.close()

    def close_old_warc(self) -> None:
        if self._writer is not None:
            self._writer.close_if_old()

    def _executor(self, stack: contextlib.ExitStack, pages: int) -> Executor | None:
        """Where this capture's pages are cleaned: the kept pool, a pool for
        this call, or nowhere but the recording thread (no workers, or one
        page: a pool's start-up would cost more than it saves)."""
        if self.workers == 0:
            return None
        if self._writer is not None:  # inside writing(): one pool for every call
            if self._pool_executor is not None and not self._pool_executor.whole:
                # The pool lost a worker it could not replace (its zygote is
                # gone): a long `run --loop` starts a whole pool rather than go
                # on short.
                self._drop_pool()
            if self._pool is None:
                self._pool = contextlib.ExitStack()
                self._pool_executor = self._pool.enter_context(self.cleaning_pool())
            return self._pool_executor
        if pages < 2:
            return None
        return stack.enter_context(self.cleaning_pool())

    def cleaning_pool(self) -> contextlib.AbstractContextManager[ForkedPool]:
        """A pool of this archive's `workers` cleaning processes, with its
        cleaning time limit (for capture, and for ingest)."""
        from ..workers.pool import cleaning_pool

        return cleaning_pool(self.workers, time_limit=self.clean_options.time_limit,
                             memory_limit=self.clean_options.memory_limit)

    def recover(self, catalog: Catalog) -> None:
        """Finish what a killed process left: cut its WARC file back to the
        last whole record, then list in the catalog what that file holds."""
        from .reindex import index_warc_file
        from ..capture.warc import recover_open_files

        for name in recover_open_files(self.warc_dir):
            with catalog.transaction():
                index_warc_file(catalog, self.path, self.warc_dir / name)
            self._recovered_fixity(catalog, name)

    def _recovered_fixity(self, catalog: Catalog, name: str) -> None:
        """A file closed by recovery gets its manifest line like any other."""
        from ..evidence.fixity import append_manifest, sha256_file

        try:
            sha, size = sha256_file(self.warc_dir / name)
            append_manifest(self.path, f"{WARC_DIR}/{name}", sha)
            with catalog.transaction():
                catalog.add_warc_file(name, sha, size, iso_seconds(self.clock()))
        except (OSError, StoreError) as exc:
            log.error("%s: its SHA-256 is not in the manifest: %s", name, exc)

    # -- capturing ------------------------------------------------------------

    def capture(self, urls: Iterable[str], *, on_capture: Callable[[Capture], None] | None = None,
                on_record: OnRecord | None = None, executor: Executor | None = None,
                browser: bool | Collection[str] = False,
                auth: Mapping[str, str | CredentialSet] | None = None, links: bool = False) -> list[Capture]:
        """Capture each URL once; results come back in the order given, while
        `on_capture` sees each as it is recorded. Raises InvalidURL before
        fetching anything if one is malformed; network trouble is a `failed`
        verdict, not an error. `on_record(catalog, capture)` runs inside the
        transaction that records each capture, so whatever it writes (a
        watch's schedule, a notification) is committed with the capture or
        not at all. Pages are cleaned on `executor` when given (a Dask
        cluster's), else on the archive's worker processes. A full disk
        stops the run with a StoreError; the captures it interrupted leave
        nothing behind. `browser`: True loads every page in Chromium, a
        collection of URLs those; a site rule's `[fetch] browser = true`
        adds its URLs either way. `auth` names the credential set of some
        URLs (a watch's); else a site rule's `[auth] credentials`, else
        `self.credentials` (the command line's). Every set is loaded before
        anything is fetched: a missing one is a ConfigError, nothing else.
        `links`: each cleaned HTML page's links on its Capture (`links`; not stored)."""
        from ..cleaning.rules import rules_for

        checked = [check_url(u) for u in urls]
        credentials = self._credentials_for(checked, auth or {})
        everyone = browser is True
        chosen = set() if isinstance(browser, bool) else set(browser)

        def use_browser(url: str) -> bool:
            return everyone or url in chosen or any(r.browser for r in rules_for(url, self.clean_options))

        try:
            return self._capture(checked, credentials, use_browser, on_capture, on_record, executor, links)
        except StoreError as exc:
            if hasattr(exc, "not_captured") or len(checked) < 2:
                raise
            # It failed before any capture was recorded (opening the catalog on a full disk, say).
            raise StoreError(f"{exc}; none of the {len(checked)} URLs was captured") from exc

    def _capture(self, checked: list[str], credentials: dict[str, CredentialSet], use_browser: Callable[[str], bool],
                 on_capture: Callable[[Capture], None] | None, on_record: OnRecord | None,
                 executor: Executor | None, links: bool = False) -> list[Capture]:
        from ..capture.run import CaptureRun

        with contextlib.ExitStack() as stack:
            catalog = stack.enter_context(self.catalog())
            self.recover(catalog)
            writer = self._writer
            if writer is None:
                writer = self.new_writer()
                stack.callback(writer.close)
            run = CaptureRun(root=self.path, catalog_path=self.path / CATALOG, writer=writer,
                             fetch_options=self.fetch_options, clean_options=self.clean_options, clock=self.clock,
                             executor=executor or self._executor(stack, len(checked)), on_capture=on_capture,
                             on_record=on_record, browser_options=self.browser_options, use_browser=use_browser,
                             credentials=credentials.get, change_rules=self.change_rules, collect_links=links)
            return run.run(checked)

    def _credentials_for(self, urls: list[str], named: Mapping[str, str | CredentialSet]) -> dict[str, CredentialSet]:
        """The credential set of each URL that has one, loaded."""
        from ..cleaning.rules import rules_for

        loaded: dict[str, CredentialSet] = {}
        out: dict[str, CredentialSet] = {}
        for url in urls:
            given = named.get(url)
            if isinstance(given, CredentialSet):
                out[url] = given
                continue
            name = given or next((r.credentials for r in rules_for(url, self.clean_options)
                                  if r.credentials), None)
            if name:
                if name not in loaded:
                    loaded[name] = credential_set(name, self.path)
                out[url] = loaded[name]
            elif self.credentials is not None:
                out[url] = self.credentials
        return out

    # -- reading the archive ----------------------------------------------

    @contextlib.contextmanager
    def _reading(self, catalog: Catalog | None) -> Iterator[Catalog]:
        """`catalog` when the caller has one open (a web worker's, a capture's
        transaction), else a reader for this call."""
        if catalog is not None:
            yield catalog
            return
        with self.reader() as own:
            yield own

    def template_lines(self, url: str, text: str, *, catalog: Catalog | None = None) -> tuple[int, list[str]]:
        """The lines of `text` (a page of `url`'s site) that are the site's
        template in this archive, and how many pages of the site it holds:
        lines found on `significance.TEMPLATE_PAGES` or more other pages."""
        from ..significance import TEMPLATE_PAGES, line_key, text_lines

        site = host_of(url, site=True)
        if not site:
            return 0, []
        url = canonical_url(url)
        lines = text_lines(text)
        with self._reading(catalog) as cat:
            found = cat.template_lines(site, {line_key(x) for x in lines}, url=url, pages=TEMPLATE_PAGES)
            pages = cat.site_pages(site)
        return pages, [x for x in lines if line_key(x) in found]

    def history(self, url: str, *, catalog: Catalog | None = None) -> list[Capture]:
        """Every capture of `url`, oldest first."""
        url = canonical_url(url)
        with self._reading(catalog) as cat:
            captures = cat.captures(url)
            if not captures:
                raise self._not_found(cat, url)
            return captures

    def resolve(self, url: str, timestamp: str) -> Capture:
        """The one capture of `url` whose timestamp starts with `timestamp`
        (14 digits, or up to 20 with the microseconds of `captured_at`)."""
        with self.reader() as catalog:
            return self._resolve(catalog, canonical_url(url), timestamp)

    def _resolve(self, catalog: Catalog, url: str, timestamp: str) -> Capture:
        found = catalog.find_captures(url, timestamp)
        if not found:
            if not catalog.captures(url):
                raise self._not_found(catalog, url)
            raise SnapshotNotFound(f"no capture of {url} at {timestamp}")
        if len(found) > 1:
            if len({c.timestamp for c in found}) == 1:
                # Two captures in one second: the microseconds tell them apart.
                shown = ", ".join(c.precise_timestamp for c in found[:5])
                raise StoreError(f"{len(found)} captures of {url} at {found[0].timestamp} (the same second):"
                                 f" give the microseconds too, one of {shown}")
            stamps = sorted({c.timestamp for c in found})
            shown = ", ".join(stamps[:5]) + (" …" if len(stamps) > 5 else "")
            raise StoreError(f"timestamp {timestamp} is ambiguous for {url}: {shown}")
        return found[0]

    def show(self, url: str, at: str | None = None, *, catalog: Catalog | None = None) -> Shown:
        """The current snapshot of `url`, or the one in force at `at`: the
        last good text at or before that capture (an error never replaces it)."""
        with self._reading(catalog) as cat:
            return self._show(cat, canonical_url(url), at)

    def _show(self, catalog: Catalog, url: str, at: str | None) -> Shown:
        asked = self._resolve(catalog, url, at) if at else None
        good = catalog.good_captures(url, up_to=asked)
        if not good:
            if not catalog.captures(url):
                raise self._not_found(catalog, url)
            raise SnapshotNotFound(f"no good capture of {url}" + (f" at or before {at}" if at else "")
                                   + ": only errors so far (see 'archiver history')")
        shown = good[-1]
        assert shown.snapshot_file is not None
        return Shown(capture=shown, asked=asked or shown, snapshot=read_snapshot(self.path / shown.snapshot_file),
                     provenance=self._provenance(catalog, shown))

    def _provenance(self, catalog: Catalog, capture: Capture) -> dict[str, Any] | None:
        """How a capture was made, from its WARC metadata record; None when
        that record cannot be read (`archiver verify` says why)."""
        from ..evidence.provenance import provenance_from_fields
        from ..capture.warc import MAX_SMALL_RECORD, decode_fields, read_record_at

        loc = catalog.metadata_record(capture.id) if capture.id is not None else None
        if loc is None:
            return None
        try:
            _headers, body = read_record_at(self.warc_dir / loc.warc_file, loc.offset, MAX_SMALL_RECORD,
                                            record_id=loc.record_id)
        except Exception as exc:  # warcio, zlib, OS: an unreadable record is not the reader's crash
            log.warning("%s: the metadata record at %d is unreadable: %s", loc.warc_file, loc.offset, exc)
            return None
        return provenance_from_fields(decode_fields(body))

    def capture_records(self, capture: Capture, provenance: dict[str, Any] | None, *,
                        catalog: Catalog | None = None) -> list[RecordView]:
        """A capture's WARC records, as its metadata record (`provenance`)
        names them: response (with its HTTP headers), screenshot, DOM, and
        the metadata record itself."""
        from ..capture.warc import read_record_at

        prov = provenance or {}
        with self._reading(catalog) as cat:
            meta = cat.metadata_record(capture.id) if capture.id is not None else None
            named = [("response", prov.get("response_record")), ("screenshot", prov.get("screenshot_record")),
                     ("dom", prov.get("dom_record"))]
            views: list[RecordView] = []
            for role, rid in named:
                loc = cat.record(rid) if rid else None
                if loc is None:
                    continue
                headers: list[tuple[str, str]] = []
                if role == "response":
                    try:
                        http, _ = read_record_at(self.warc_dir / loc.warc_file, loc.offset, 0, record_id=loc.record_id)
                        if http is not None:
                            headers = [("", http.protocol + " " + http.statusline), *http.headers]
                    except Exception as exc:  # a damaged record: listed, its headers unread ('verify' says why)
                        log.warning("%s: the record at %d is unreadable: %s", loc.warc_file, loc.offset, exc)
                views.append(RecordView(role=role, location=loc, headers=headers, digest=cat.record_digest(loc.record_id)))
            if meta is not None:
                views.append(RecordView(role="metadata", location=meta))
        return views

    def visual_diff(self, url: str, a: str | None = None, b: str | None = None, *,
                    catalog: Catalog | None = None) -> tuple[Capture, Capture, VisualDiff]:
        """Two browser captures' screenshots compared (archive/visual.py): by
        default the last two captures with a screenshot; `a`/`b` pick them."""
        from .visual import compare_screenshots

        with self._reading(catalog) as cat:
            key = canonical_url(url)
            newer, new_png = self.screenshot(key, b, catalog=cat)
            if a:
                older, old_png = self.screenshot(key, a, catalog=cat)
            else:
                earlier = [c for c in reversed(cat.captures(key)) if c.via == "browser" and
                           (c.timestamp, c.id or 0) < (newer.timestamp, newer.id or 0)]
                for older in earlier[:20]:
                    found = self._attachment_of(cat, older, "screenshot")
                    if found is not None:
                        old_png = found
                        break
                else:
                    raise SnapshotNotFound(f"{url} has one screenshot so far: nothing to compare")
        return older, newer, compare_screenshots(old_png, new_png)

    def replay_check(self, capture: Capture, provenance: dict[str, Any] | None, *,
                     catalog: Catalog | None = None) -> ReplayCheck | None:
        """What replay will show with a captured page: which of the files it
        embeds (images, scripts, styles, frames, media) the archive holds from
        the same visit, which only from other times, which not at all.
        `provenance`: the capture's (names its response record). None when
        the page's HTML cannot be read."""
        from ..capture.warc import read_record_at
        from .embeds import embedded_urls

        prov = provenance or {}
        with self._reading(catalog) as cat:
            loc = cat.record(prov["response_record"]) if prov.get("response_record") else None
            if loc is None or loc.record_type != "response":
                return None
            try:
                _http, body = read_record_at(self.warc_dir / loc.warc_file, loc.offset, MAX_CHECKED_HTML,
                                             record_id=loc.record_id)
            except Exception as exc:  # a damaged record: no check ('verify' says why)
                log.warning("%s: the record at %d is unreadable: %s", loc.warc_file, loc.offset, exc)
                return None
            check = ReplayCheck()
            for embed in embedded_urls(body, capture.final_url or capture.url)[:MAX_CHECKED_EMBEDS]:
                nearest = cat.nearest_record(embed, capture.timestamp)
                if nearest is None:
                    check.missing.append(embed)
                    continue
                apart = seconds_between(nearest, capture.timestamp)
                if apart <= SAME_VISIT_SECONDS:
                    check.same_visit += 1
                else:
                    check.other_times.append((embed, nearest, apart))
            return check

    def _attachment_of(self, cat: Catalog, capture: Capture, role: str) -> bytes | None:
        """The payload of a capture's screenshot or DOM record, or None when it has none."""
        from ..capture.warc import read_record_at

        prov = self._provenance(cat, capture) or {}
        loc = cat.record(prov[f"{role}_record"]) if prov.get(f"{role}_record") else None
        if loc is None:
            return None
        _http, data = read_record_at(self.warc_dir / loc.warc_file, loc.offset, MAX_SCREENSHOT_BYTES,
                                     record_id=loc.record_id)
        return data

    def screenshot(self, url: str, at: str | None = None, *, catalog: Catalog | None = None) -> tuple[Capture, bytes]:
        """A browser capture's screenshot (PNG) as the WARC holds it: the
        capture at `at`, else the latest capture that has one."""
        return self._browser_attachment(url, at, "screenshot", catalog)

    def dom(self, url: str, at: str | None = None, *, catalog: Catalog | None = None) -> tuple[Capture, bytes]:
        """A browser capture's DOM (the HTML after scripts ran) as the WARC
        holds it: the capture at `at`, else the latest capture that has one."""
        return self._browser_attachment(url, at, "dom", catalog)

    def _browser_attachment(self, url: str, at: str | None, role: str,
                            catalog: Catalog | None) -> tuple[Capture, bytes]:
        with self._reading(catalog) as cat:
            if at:
                candidates = [self._resolve(cat, canonical_url(url), at)]
            else:
                candidates = [c for c in reversed(cat.captures(canonical_url(url))) if c.via == "browser"][:20]
                if not candidates and not cat.captures(canonical_url(url)):
                    raise self._not_found(cat, canonical_url(url))
            for capture in candidates:
                data = self._attachment_of(cat, capture, role)
                if data is not None:
                    return capture, data
        what = "screenshot" if role == "screenshot" else "DOM"
        raise SnapshotNotFound(f"no {what} of {url}" + (f" at {at}" if at else "")
                               + ": only captures made in a browser (capture --browser) have one")

    def diff(self, url: str, a: str | None = None, b: str | None = None, *, catalog: Catalog | None = None,
             context: int = 1, ignore_space: bool = False) -> Diff:
        """What changed between two snapshots of `url`: by default the last two
        distinct good texts; `a`/`b` pick captures by timestamp prefix. Through
        an open `catalog` inside a capture's transaction, a change can be
        described before it is committed."""
        with self._reading(catalog) as cat:
            return self._diff(cat, canonical_url(url), a, b, context=context, ignore_space=ignore_space)

    def _diff(self, catalog: Catalog, url: str, a: str | None, b: str | None, *, context: int,
              ignore_space: bool) -> Diff:
        good = catalog.good_captures(url)
        if not good:
            raise self._not_found(catalog, url) if not catalog.captures(url) else SnapshotNotFound(
                f"no good capture of {url} to compare")
        newer = self._good_at(catalog, url, b) if b else good[-1]
        if a:
            older = self._good_at(catalog, url, a)
        else:
            upto = good[: good.index(newer) + 1]
            before = [c for c in upto if c.text_sha256 != newer.text_sha256]
            if not before:
                raise SnapshotNotFound(f"{url} has one distinct text so far: nothing to compare")
            older = before[-1]
        assert older.snapshot_file and newer.snapshot_file
        return diff_snapshots(read_snapshot(self.path / older.snapshot_file),
                              read_snapshot(self.path / newer.snapshot_file), older=older, newer=newer,
                              context=context, ignore_space=ignore_space)

    def _good_at(self, catalog: Catalog, url: str, timestamp: str) -> Capture:
        asked = self._resolve(catalog, url, timestamp)
        good = catalog.good_captures(url, up_to=asked)
        if not good:
            raise SnapshotNotFound(f"no good capture of {url} at or before {asked.timestamp}")
        return good[-1]

    def search(self, query: str, limit: int = 20, *, versions: bool = False) -> list[SearchHit]:
        """Full-text search over the current texts; `versions`: over every text each URL has had."""
        if limit < 1:
            raise StoreError("limit must be at least 1")
        with self.reader() as catalog:
            return catalog.search(query, limit, versions=versions)

    def reindex(self) -> ReindexReport:
        """Rebuild the captures part of the catalog from the WARC and snapshot
        files. Watches, leases, the notification outbox and the robots.txt
        cache are operational state, not derived data: they are kept."""
        from .reindex import rebuild_catalog
        from ..capture.warc import recover_open_files

        if not self.warc_dir.is_dir():
            raise StoreError(f"{self.path} holds no WARC files to index")
        if self.read_only():
            raise StoreError(f"{self.path} is read-only: reindex writes a new catalog")
        recover_open_files(self.warc_dir)  # each one logged as a warning
        return rebuild_catalog(self.path, CATALOG)

    def verify(self, *, workers: int | None = None, add_unlisted: bool = False,
               progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Check the whole archive (evidence/verify.py): files against the manifest,
        records against their digests, catalog rows and snapshot files."""
        from ..evidence.verify import verify_archive

        if not self.exists():
            raise StoreError(f"no archive at {self.path} (capture something first, or pass --archive)")
        if add_unlisted and self.read_only():
            raise StoreError(f"{self.path} is read-only: --add-unlisted writes the manifest")
        return verify_archive(self.path, CATALOG, workers=self.workers if workers is None else workers,
                              progress=progress, add_unlisted=add_unlisted)

    @staticmethod
    def _not_found(catalog: Catalog, url: str) -> SnapshotNotFound:
        near = catalog.similar_url(url)
        hint = f" (did you mean {near}?)" if near else ""
        return SnapshotNotFound(f"{url} is not in the archive{hint}")


@dataclass
class ReplayCheck:
    """The files a captured page embeds, by when the archive holds them."""

    same_visit: int = 0  # captured within SAME_VISIT_SECONDS of the page
    other_times: list[tuple[str, str, float]] = field(default_factory=list)  # (url, nearest timestamp, seconds apart)
    missing: list[str] = field(default_factory=list)  # never captured

    @property
    def total(self) -> int:
        return self.same_visit + len(self.other_times) + len(self.missing)


@dataclass(frozen=True)
class RecordView:
    """One WARC record of a capture, as the snapshot page lists it."""

    role: str  # response | metadata | screenshot | dom
    location: RecordLocation
    headers: list[tuple[str, str]] = field(default_factory=list)  # a response's HTTP status line and headers
    digest: str | None = None  # WARC-Payload-Digest


@dataclass
class Shown:
    capture: Capture  # the capture whose text this is
    asked: Capture  # the capture asked for (an error capture shows the text before it)
    snapshot: StoredSnapshot  # its snapshot file
    provenance: dict[str, Any] | None = None  # how that capture was made (evidence/provenance.py)

    def to_json(self) -> dict[str, Any]:
        """What `show --json` prints: the snapshot file and the capture it is from."""
        return {**self.snapshot.to_json(), "timestamp": self.capture.timestamp,
                "captured_at": self.capture.captured_at, "fetched_with": self.capture.via,
                "reason": self.capture.reason,  # what was left out of the text, if anything
                "provenance": self.provenance}
