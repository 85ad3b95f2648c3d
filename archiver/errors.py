"""The one error tree of archiver.

    ArchiverError
    ├── ConfigError          bad options or bad input given by the user (CLI exit 2)
    │   ├── InvalidURL       .url: not an absolute http(s) URL
    │   └── BrowserUnavailable  browser capture asked for, no Playwright or Chromium
    ├── FetchError           .url: a fetch could not complete (network, timeout)
    ├── WarcError            writing or reading WARC records failed
    ├── RuleError            .path, .key: a rule file is invalid
    ├── ExtractionError      extraction failed on a page
    └── StoreError           the archive folder or catalog is unusable
        └── SnapshotNotFound no snapshot for that URL / timestamp

A 404 or a DNS failure during a capture is not an exception: it is a capture
with a verdict. Exceptions are for things the caller must fix.
"""

from __future__ import annotations

__all__ = [
    "ArchiverError",
    "ConfigError",
    "InvalidURL",
    "BrowserUnavailable",
    "FetchError",
    "WarcError",
    "RuleError",
    "ExtractionError",
    "StoreError",
    "SnapshotNotFound",
    "brief",
]


def brief(reason: object, limit: int = 120) -> str:
    """A reason (an exception, a library's message) fit for one line of a
    warning or an error: whitespace folded, anything unprintable shown as
    U+FFFD, at most `limit` characters. warcio quotes a bad record's first
    line in its errors: a damaged file's bytes, escape sequences included."""
    text = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
    text = "".join(c if c.isprintable() else "\ufffd" for c in " ".join(text.split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


class ArchiverError(Exception):
    """Base class of every error archiver raises on purpose."""


class ConfigError(ArchiverError):
    """Bad options or bad input from the user."""


class InvalidURL(ConfigError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"invalid URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


class BrowserUnavailable(ConfigError):
    """Browser capture was asked for and cannot start: what to install says the message."""


class FetchError(ArchiverError):
    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class WarcError(ArchiverError):
    pass


class RuleError(ArchiverError):
    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        where = ":".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.key = key


class ExtractionError(ArchiverError):
    pass


class StoreError(ArchiverError):
    pass


class SnapshotNotFound(StoreError):
    pass
