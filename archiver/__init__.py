"""archiver: capture web pages as WARC, clean them to article text, track changes.

    >>> from archiver import Archive
    >>> Archive("snapshots").capture(["https://example.org/"])   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import typing

from .config import VERSION as __version__
from .config import CleanOptions, FetchOptions, WarcOptions
from .errors import (
    ArchiverError,
    ConfigError,
    ExtractionError,
    FetchError,
    InvalidURL,
    RuleError,
    SnapshotNotFound,
    StoreError,
    WarcError,
)
from .models import Capture, Exchange, Fetched, Snapshot, Verdict

if typing.TYPE_CHECKING:
    from .archive.archive import Archive

__all__ = [
    "Archive",
    "CleanOptions",
    "Snapshot",
    "clean",
    "ArchiverError",
    "Capture",
    "ConfigError",
    "Exchange",
    "ExtractionError",
    "FetchError",
    "FetchOptions",
    "Fetched",
    "InvalidURL",
    "RuleError",
    "SnapshotNotFound",
    "StoreError",
    "Verdict",
    "WarcError",
    "WarcOptions",
    "__version__",
]



def __getattr__(name: str) -> typing.Any:
    # `Archive` loads its fetcher, WARC writer and catalog (a quarter of a
    # second) when first asked for, not with every submodule: a cleaning
    # helper process imports `archiver.jobs` and needs none of them.
    if name == "Archive":
        from .archive.archive import Archive

        return Archive
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def clean(html: str | bytes, url: str | None = None, *, options: CleanOptions | None = None) -> Snapshot:
    """Clean one page to its article text and metadata (no archive needed)."""
    from .cleaning.snapshot import clean_page  # the cleaner's libraries load when first used

    return clean_page(html, url, options=options)


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"Archive"})


# A library never configures logging; it only makes sure it has somewhere to go.
logging.getLogger(__name__).addHandler(logging.NullHandler())
