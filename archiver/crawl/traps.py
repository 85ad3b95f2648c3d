"""Bounds on what a crawl follows: the shapes of URL that never end
(calendars, endless pagination, session ids, query variants, paths that
repeat themselves). Each bound says its name when it stops a URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["TrapBounds", "digits_only_step", "without_session_ids"]

# Query names that carry a session, not a page (PHPSESSID, jsessionid, sid ...).
_SESSION_NAME = re.compile(r"^(php|j|asp|cf)?_?sess(ion)?(_?id)?$|^sid$|^cfid$|^cftoken$", re.I)
_PATH_SESSION = re.compile(r";(jsessionid|phpsessid|sid)=[^/?#]*", re.I)
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class TrapBounds:
    """Defaults a crawl of an ordinary site never reaches and a trap always does."""

    path_segments: int = 16  # a path deeper than this
    segment_repeats: int = 3  # the same path segment this many times (/a/b/a/b/a/b)
    query_variants: int = 1000  # URLs of one path that differ only in their query
    digit_steps: int = 50  # links in a row that differ from their parent only in digits (next day, next page)

    def stops(self, url: str, run: int, variants: int) -> str | None:
        """The bound `url` is past, in words, or None. `run`: the digits-only
        steps that led to it; `variants`: the query variants of its path found already."""
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) > self.path_segments:
            return f"path deeper than {self.path_segments} segments (--max-path-segments)"
        counts: dict[str, int] = {}
        for s in segments:
            counts[s] = counts.get(s, 0) + 1
            if counts[s] >= self.segment_repeats:
                return f"path segment {s[:40]!r} repeated {self.segment_repeats} times (a path that loops)"
        if run > self.digit_steps:
            return (f"{self.digit_steps} links in a row that differ only in their numbers"
                    " (a calendar or endless pagination; --max-digit-steps)")
        if parts.query and variants >= self.query_variants:
            return f"{self.query_variants} query variants of {parts.path[:80]} already (--max-query-variants)"
        return None


def digits_only_step(parent: str | None, url: str) -> bool:
    """`url` is `parent` with other numbers (/2026/12/06/ -> /2026/12/07/, ?page=4 -> ?page=5)."""
    return parent is not None and parent != url and _DIGITS.sub("0", parent) == _DIGITS.sub("0", url)


def without_session_ids(url: str) -> str:
    """`url` without session ids in its query or path (;jsessionid=...)."""
    parts = urlsplit(url)
    path = _PATH_SESSION.sub("", parts.path)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _SESSION_NAME.match(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    if path == parts.path and query == parts.query:
        return url
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))
