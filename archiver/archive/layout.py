"""Where things are in an archive folder: each of its paths, named once.

    snapshots/
      catalog.sqlite              the SQLite catalog (WAL; 0600)
      warc/*.warc.gz              the evidence
      texts/<sha[:2]>/<sha>.json  one file per distinct clean text
      manifest-sha256.txt         SHA-256 of every closed WARC file
      watches.json                the watch list (0600)
      keys/                       the archive's signing key
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CATALOG", "KEYS_DIR", "Layout", "MANIFEST", "TEXTS_DIR", "WARC_DIR", "WATCH_FILE", "text_file"]

CATALOG = "catalog.sqlite"
WARC_DIR = "warc"
TEXTS_DIR = "texts"
MANIFEST = "manifest-sha256.txt"
WATCH_FILE = "watches.json"
KEYS_DIR = "keys"


def text_file(sha256: str) -> str:
    """Where a text's snapshot file goes, relative to the archive folder:
    named for its hash, never for a URL, so no page can name a path."""
    return f"{TEXTS_DIR}/{sha256[:2]}/{sha256}.json"


@dataclass(frozen=True)
class Layout:
    """The paths of the archive folder at `root`."""

    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / CATALOG

    @property
    def warc_dir(self) -> Path:
        return self.root / WARC_DIR

    @property
    def texts_dir(self) -> Path:
        return self.root / TEXTS_DIR

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def watch_file(self) -> Path:
        return self.root / WATCH_FILE

    @property
    def keys_dir(self) -> Path:
        return self.root / KEYS_DIR
