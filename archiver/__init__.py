"""archiver: capture web pages as WARC, clean them to article text, track changes.

    >>> from archiver import Archive
    >>> Archive("snapshots").capture(["https://example.org/"])   # doctest: +SKIP
"""

from __future__ import annotations

import logging

from .archive import Archive
from .config import VERSION, FetchOptions, WarcOptions
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
from .models import Capture, Exchange, Fetched, Verdict

__version__ = VERSION

__all__ = [
    "Archive",
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

# A library never configures logging; it only makes sure it has somewhere to go.
logging.getLogger(__name__).addHandler(logging.NullHandler())
