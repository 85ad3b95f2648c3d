"""URL validation: what may be captured at all."""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import InvalidURL

__all__ = ["check_url", "host_key"]

MAX_URL_LENGTH = 8192


def check_url(url: str) -> str:
    """Return the URL stripped of surrounding space, or raise InvalidURL."""
    url = url.strip()
    if not url:
        raise InvalidURL(url, "empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(url[:80] + "…", f"longer than {MAX_URL_LENGTH} characters")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        # A byte that is not UTF-8 (argv and files are decoded with surrogate escapes).
        raise InvalidURL(url.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"),
                         "holds bytes that are not UTF-8 text") from None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidURL(url, "contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURL(url, str(exc)) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidURL(url, "only http and https URLs can be captured")
    if not parts.hostname:
        raise InvalidURL(url, "no host")
    if port == 0:
        raise InvalidURL(url, "port 0")
    if parts.password is not None:
        # It would be sent, and kept in the WARC records, the catalog and
        # every listing; the error shows the URL without it.
        shown = url.replace(f":{parts.password}@", ":***@", 1)
        raise InvalidURL(shown, "has a password in it, which would be stored in the archive: give it in a"
                                " credential set (--auth NAME) or as --header 'Authorization: Basic ...' instead")
    return url


def host_key(url: str) -> str:
    """Scheme, host and port: the unit of politeness and of robots.txt."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"
