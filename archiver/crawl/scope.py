"""Which URLs a crawl may follow: a scope drawn around its seeds."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from ..cleaning.listings import Link
from ..errors import ConfigError, InvalidURL
from ..urls import check_url, host_of
from .traps import without_session_ids

__all__ = ["KINDS", "Scope", "link_target"]

KINDS = ("page", "prefix", "host", "domain")


def link_target(link: Link) -> str | None:
    """Where a found link leads, as a capture would fetch it: session ids
    taken out, checked; None when no capture could fetch it."""
    try:
        return check_url(without_session_ids(link.url))
    except InvalidURL:
        return None


def _registered_domain(host: str) -> str:
    """The name a domain was registered as (news.bbc.co.uk -> bbc.co.uk), by
    the public suffix list; an IP address or a single label is itself."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    from courlan import extract_domain

    return extract_domain(f"http://{host}/") or host


def _host_port(url: str) -> tuple[str | None, int | None]:
    """The site's name (without www.) and the port: what "the same host" means."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None, None
    return host_of(url, site=True), port


def _prefix(url: str) -> str:
    """The seed's folder: scheme, host and path up to its last slash."""
    parts = urlsplit(url)
    path = parts.path[: parts.path.rfind("/") + 1] or "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass(frozen=True)
class Scope:
    """`kind` is page, prefix, host or domain, or a regular expression that
    a URL must match (searched anywhere in it)."""

    kind: str
    seeds: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            try:
                re.compile(self.kind)
            except re.error as exc:
                raise ConfigError(f"--scope is {', '.join(KINDS)} or a regular expression; {self.kind!r}: {exc}") \
                    from None

    def allows(self, url: str, depth: int) -> bool:
        if self.kind == "page":
            return depth == 0
        if self.kind == "prefix":
            return any(url.startswith(p) for p in self._prefixes)
        if self.kind == "host":
            return _host_port(url) in self._hosts
        if self.kind == "domain":
            host = host_of(url)
            return host is not None and _registered_domain(host) in self._domains
        return self._pattern.search(url) is not None

    # Worked out once, at the first URL (cached_property writes past frozen).
    @cached_property
    def _prefixes(self) -> tuple[str, ...]:
        return tuple({_prefix(s) for s in self.seeds})

    @cached_property
    def _hosts(self) -> frozenset[tuple[str | None, int | None]]:
        return frozenset(_host_port(s) for s in self.seeds)

    @cached_property
    def _domains(self) -> frozenset[str]:
        return frozenset(_registered_domain(host_of(s) or "") for s in self.seeds)

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(self.kind)

    def takes(self, link: Link, depth: int) -> str | None:
        """`link_target(link)` when this scope follows the link at `depth` (a
        page a sitemap or feed lists is taken as a seed would be); else None."""
        url = link_target(link)
        return url if url is not None and self.allows(url, 0 if link.listed else depth) else None

    def describe(self) -> str:
        if self.kind in KINDS:
            return self.kind
        return f"/{self.kind}/"

