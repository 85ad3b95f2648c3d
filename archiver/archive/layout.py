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

from pathlib import Path
from typing import NamedTuple

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


class Layout(NamedTuple):
    """The paths of one archive folder (`Layout.of(root)`)."""

    root: Path
    catalog: Path
    warc_dir: Path
    texts_dir: Path
    manifest: Path
    watch_file: Path
    keys_dir: Path

    @classmethod
    def of(cls, root: Path) -> Layout:
        return cls(root=root, catalog=root / CATALOG, warc_dir=root / WARC_DIR, texts_dir=root / TEXTS_DIR,
                   manifest=root / MANIFEST, watch_file=root / WATCH_FILE, keys_dir=root / KEYS_DIR)
