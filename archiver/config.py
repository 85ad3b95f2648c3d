"""Options objects with their defaults as named constants.

Each stage takes one frozen options object instead of a long argument list;
the CLI builds them from its flags in one place.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Literal
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "BrowserOptions",
    "CleanOptions",
    "DEFAULT_ARCHIVE_DIR",
    "DEFAULT_USER_AGENT",
    "FetchOptions",
    "WarcOptions",
    "archive_dir",
]

VERSION = "0.1.0"
DEFAULT_ARCHIVE_DIR = "snapshots"
DEFAULT_CONTACT = "https://github.com/archiver/archiver"
DEFAULT_USER_AGENT = f"archiver/{VERSION}"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_TOTAL_TIMEOUT = 120.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 1.0
DEFAULT_MAX_RETRY_AFTER = 120.0
DEFAULT_MAX_BODY = 50 * 1024 * 1024
DEFAULT_MAX_DECODED = 64 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 10
DEFAULT_PER_HOST = 2
DEFAULT_HOST_DELAY = 1.0
DEFAULT_CONCURRENCY = 16
DEFAULT_WARC_MAX_SIZE = 1024**3
DEFAULT_WARC_MAX_AGE = 3600.0  # a `run --loop` starts at most one file an hour
# Bodies stay in memory up to this size, then spill to disk.
SPOOL_IN_MEMORY = 1024 * 1024


# "typed": the URL given may be private, what it leads to may not go from a
# public address to a private one; "public": nothing private at all;
# "any": no checks.
NetworkMode = Literal["typed", "public", "any"]


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses a capture may reach (capture/netpolicy.py applies it)."""

    mode: NetworkMode = "typed"
    # Networks to treat as public although they are not globally routable
    # (a reverse proxy's side of a private network, or a test's loopback).
    public: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("typed", "public", "any"):
            raise ValueError(f"unknown network policy {self.mode!r}")

    def is_private(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in ipaddress.ip_network(net, strict=False) for net in self.public):
            return False
        return not ip.is_global or ip.is_multicast



@dataclass(frozen=True, kw_only=True)
class FetchOptions:
    """How pages are fetched. All limits are per request unless named otherwise."""

    contact: str = DEFAULT_CONTACT
    user_agent: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    max_body: int = DEFAULT_MAX_BODY
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    per_host: int = DEFAULT_PER_HOST
    host_delay: float = DEFAULT_HOST_DELAY
    concurrency: int = DEFAULT_CONCURRENCY
    obey_robots: bool = True
    archive_robots: bool = True
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    ca_bundle: str | None = None  # trust these CA certificates (PEM) instead of the system's
    network: NetworkPolicy = field(default_factory=NetworkPolicy)  # which addresses may be reached (capture/netpolicy.py)

    def __post_init__(self) -> None:
        checks = {
            "connect_timeout": self.connect_timeout > 0,
            "read_timeout": self.read_timeout > 0,
            "total_timeout": self.total_timeout > 0,
            "retries": self.retries >= 0,
            "backoff": self.backoff >= 0,
            "max_retry_after": self.max_retry_after >= 0,
            "max_body": self.max_body > 0,
            "max_redirects": self.max_redirects >= 0,
            "per_host": 1 <= self.per_host <= 2,
            "host_delay": self.host_delay >= 0,
            "concurrency": self.concurrency >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid fetch option(s): {', '.join(bad)}")

    @property
    def agent(self) -> str:
        """The User-Agent header: the tool, its version and how to reach its operator."""
        if self.user_agent:
            return self.user_agent
        return f"{DEFAULT_USER_AGENT} (+{self.contact})"


DEFAULT_BROWSER_TIMEOUT = 45.0
DEFAULT_BROWSER_IDLE = 5.0
DEFAULT_BROWSER_PAGES = 2
DEFAULT_SCREENSHOT_HEIGHT = 16_000
BROWSER_ENV = "ARCHIVER_CHROMIUM"


@dataclass(frozen=True, kw_only=True)
class BrowserOptions:
    """How pages that need JavaScript are loaded in Chromium."""

    executable: str | None = None  # --browser-path; else $ARCHIVER_CHROMIUM, Playwright's, the system's
    timeout: float = DEFAULT_BROWSER_TIMEOUT  # per page: load, idle, scrolling, screenshot and DOM
    idle: float = DEFAULT_BROWSER_IDLE  # the longest wait for the network to go quiet, each time
    scroll_steps: int = 12  # screens scrolled to set lazy loading off
    pages: int = DEFAULT_BROWSER_PAGES  # pages loading at once
    screenshot: bool = True
    max_screenshot_height: int = DEFAULT_SCREENSHOT_HEIGHT  # pixels; a longer page is shot to this height

    def __post_init__(self) -> None:
        bad = [name for name, ok in {
            "timeout": self.timeout > 0, "idle": self.idle >= 0, "scroll_steps": self.scroll_steps >= 0,
            "pages": 1 <= self.pages <= 16, "max_screenshot_height": self.max_screenshot_height >= 100,
        }.items() if not ok]
        if bad:
            raise ConfigError(f"invalid browser option(s): {', '.join(bad)}")


@dataclass(frozen=True, kw_only=True)
class WarcOptions:
    max_size: int = DEFAULT_WARC_MAX_SIZE  # a new file once one is this big
    max_age: float = DEFAULT_WARC_MAX_AGE  # ... or this many seconds old (a long-running loop)
    prefix: str = "archiver"
    # Request records keep Cookie/Authorization values only when asked (--keep-auth-headers).
    keep_auth_headers: bool = False

    def __post_init__(self) -> None:
        if self.max_size < 1024:
            raise ConfigError("WARC max size must be at least 1 KiB")
        if self.max_age <= 0:
            raise ConfigError("WARC max age must be more than 0 seconds")


def archive_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--archive DIR`, else `$ARCHIVER_HOME`, else `./snapshots`."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ARCHIVER_HOME")
    return Path(env) if env else Path(DEFAULT_ARCHIVE_DIR)


# Chosen out of fold: bench/quality.py --folds 5 picked these on 24 of its 25 training splits.
DEFAULT_FALLBACK_RATIO = 0.1
DEFAULT_FALLBACK_FACTOR = 1.5
# Decoded HTML cleaned per page (the WARC keeps the whole body): bounds the
# memory cleaning takes, about 200 MB at this size (bench/memory.py).
DEFAULT_MAX_HTML = 8 * 1024 * 1024
DEFAULT_MAX_DOCUMENT = 32 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class CleanOptions:
    """How a page is cleaned. Defaults are what measured best in bench/quality.py."""

    rules_dir: str | None = None  # rule files on top of the built-in ones and $ARCHIVER_RULES
    favor_precision: bool = True
    fast: bool = True  # skip trafilatura's internal fallbacks (we have our own)
    include_tables: bool = True
    # Below this share of the page's visible words, try the readability fallback,
    # and take its text when it holds this many times as many words.
    fallback_ratio: float = DEFAULT_FALLBACK_RATIO
    fallback_factor: float = DEFAULT_FALLBACK_FACTOR
    # Decoded HTML beyond this is not parsed (the WARC still has all of it).
    max_html_bytes: int = DEFAULT_MAX_HTML
    # A PDF must be read whole; a larger one is archived, not cleaned.
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT
    use_rules: bool = True
    stub_signals: bool = True  # spot error stubs and walls by signal too, not only by the rule files' names
    # A page still being cleaned after this many seconds (a rule's regex
    # that backtracks, a parser stuck) is stopped and recorded `failed`; its
    # cleaning process goes on, unless the call is stuck where no signal is
    # looked at (then the process is stopped). Generous: a page takes ~20
    # ms, but a PDF of MAX_PDF_PAGES pages can take a minute or two.
    # Cleaning processes only: `--workers 0` and Dask cannot stop a call.
    time_limit: float = 600.0
    # Bytes a cleaning process may allocate beyond what it holds when it
    # starts; past them the page fails (MemoryError) instead of the machine
    # running out. None: the machine's memory shared among the workers, 512
    # MiB to 2 GiB each. Cleaning processes on Linux only (`--workers 0`,
    # Dask: none).
    memory_limit: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.fallback_ratio <= 1:
            raise ConfigError("fallback_ratio must be between 0 and 1")
        if self.fallback_factor < 1:
            raise ConfigError("fallback_factor must be 1 or more")
        if self.max_html_bytes <= 0:
            raise ConfigError("max_html_bytes must be more than 0")
        if not self.time_limit > 0:
            raise ConfigError("time_limit must be more than 0 seconds")
        if self.memory_limit is not None and self.memory_limit <= 0:
            raise ConfigError("memory_limit must be more than 0 bytes")
