"""Replay through pywb, on an origin of its own, kept current as captures arrive.

`archiver serve` starts pywb's `wayback` as a separate process (pywb patches
the interpreter with gevent; it never shares one with the interface) on its
own port: an archived page's scripts run there and can never reach the
interface or its API, which live on another origin.

pywb reads a CDXJ index and the WARC files. The index is written here from
the catalog (every response and revisit it lists, sorted as pywb expects),
into a private folder, so a read-only archive replays too; it is rewritten
whenever the catalog has records it does not. A WARC file still being
written is named `….warc.gz.open`; the index names it without the suffix,
and a link under that name in the private folder points at it until it is
closed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import surt

from ..archive.catalog import Catalog
from ..archive.layout import Layout
from ..capture.warc import OPEN_SUFFIX

__all__ = ["ReplayServer", "COLLECTION", "pywb_available"]

log = logging.getLogger(__name__)

COLLECTION = "archive"  # /archive/TIMESTAMP/URL, the contract in DESIGN.md
REFRESH_SECONDS = 2.0


def _wayback() -> str | None:
    exe = Path(sys.executable).parent / "wayback"
    if exe.exists():
        return str(exe)
    return shutil.which("wayback")


def pywb_available() -> bool:
    return _wayback() is not None


def _key(url: str) -> str:
    try:
        return surt.surt(url)
    except Exception:  # a URL surt cannot parse is still a key
        return url


MAX_DELTAS = 32  # index files added since the whole index was written: past this, one again


def write_cdxj(catalog: Catalog, out: Path, *, after: int = 0, upto: int | None = None) -> int:
    """The catalog's responses and revisits (those after row `after`, up to
    `upto`) as a sorted CDXJ file at `out` (atomically). Returns the number of lines."""
    lines = []
    for url, ts, kind, status, ctype, digest, length, offset, warc_file in catalog.cdxj_rows(after=after, upto=upto):
        fields = {"url": url, "mime": "warc/revisit" if kind == "revisit" else (ctype or "unk"),
                  "status": str(status) if status is not None else "-", "digest": digest or "-",
                  "length": str(length), "offset": str(offset), "filename": warc_file}
        lines.append(f"{_key(url)} {ts} {json.dumps(fields)}\n")
    lines.sort()
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, out)
    return len(lines)


class ReplayServer:
    """pywb over one archive, on `host:port`."""

    def __init__(self, archive_path: Path, catalog_path: Path, *, host: str = "127.0.0.1", port: int = 8081,
                 interface_url: str | None = None) -> None:
        self.archive_path = archive_path
        self.interface_url = interface_url  # the replay banner's logo links back there
        self.catalog_path = catalog_path
        self.host = host
        self.port = port
        self.work: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._indexed = -1
        self._deltas = 0
        self._links: set[str] = set()
        self.public_url: str | None = None  # --replay-base-url

    @property
    def base_url(self) -> str:
        """Where replay listens."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url_for(self, timestamp: str, url: str) -> str:
        """A capture's replay, as people reach it: `public_url` (a reverse proxy in front), else where it listens."""
        return f"{self.public_url or self.base_url}/{COLLECTION}/{timestamp}/{url}"

    def start(self, *, wait: float = 60.0, keep_current: bool = True) -> ReplayServer:
        exe = _wayback()
        if exe is None:
            raise RuntimeError("pywb is not installed")
        self.work = Path(tempfile.mkdtemp(prefix="archiver-replay-"))
        (self.work / "indexes").mkdir()
        (self.work / "open").mkdir()
        warc_dir = Layout.of(self.archive_path).warc_dir.resolve()
        config = {
            "collections": {COLLECTION: {
                "index_paths": str(self.work / "indexes"),
                "archive_paths": [str(warc_dir) + "/", str(self.work / "open") + "/"],
            }},
            "framed_replay": True,
        }
        if self.interface_url:
            config["ui"] = {"logo_home_url": self.interface_url}
        (self.work / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
        self.refresh()
        self._proc = subprocess.Popen([exe, "-b", self.host, "-p", str(self.port)], cwd=self.work,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    break
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("pywb did not start") from None
                time.sleep(0.2)
        if keep_current:
            self.keep_current()
        return self

    def keep_current(self) -> None:
        """Rewrite the index in a thread of its own as captures arrive."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._keep_current, name="archiver-replay-index", daemon=True)
            self._thread.start()

    def refresh(self) -> bool:
        """Index what the catalog lists that the index does not, as a small
        file of its own beside the others (pywb reads every file in its index
        folder), and fold them all into one when they are many; link the
        WARC files being written. True when something was added."""
        assert self.work is not None
        self._link_open_files()
        indexes = self.work / "indexes"
        with Catalog(self.catalog_path, readonly=True) as catalog:
            last = catalog.last_record_rowid()
            if last == self._indexed:
                return False
            deltas = sorted(indexes.glob("delta-*.cdxj"))
            if self._indexed < 0 or last < self._indexed or len(deltas) >= MAX_DELTAS:
                # The whole index anew: at start, after a reindex (rows renumbered), or to fold the deltas.
                write_cdxj(catalog, indexes / "index.cdxj", upto=last)
                for delta in deltas:
                    delta.unlink(missing_ok=True)
            else:
                self._deltas += 1
                write_cdxj(catalog, indexes / f"delta-{self._deltas:08d}.cdxj", after=self._indexed, upto=last)
        self._indexed = last
        return True

    def _link_open_files(self) -> None:
        assert self.work is not None
        warc_dir = Layout.of(self.archive_path).warc_dir
        current = {p.name for p in warc_dir.glob("*" + OPEN_SUFFIX)} if warc_dir.is_dir() else set()
        for name in current - self._links:
            link = self.work / "open" / name[: -len(OPEN_SUFFIX)]
            try:
                link.symlink_to((warc_dir / name).resolve())
            except OSError as exc:
                log.debug("cannot link %s: %s", name, exc)
        for name in self._links - current:  # closed: pywb finds it in the archive's own folder now
            (self.work / "open" / name[: -len(OPEN_SUFFIX)]).unlink(missing_ok=True)
        self._links = current

    def _keep_current(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                self.refresh()
            except Exception as exc:  # a busy or damaged catalog: try again next time
                log.warning("replay index not refreshed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
