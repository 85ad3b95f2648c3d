"""URL validation and canonical form: what may be captured at all, and
which spellings of a URL are one page."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from .errors import InvalidURL

__all__ = ["canonical_url", "check_url", "host_key", "host_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _without_dot_segments(path: str) -> str:
    """RFC 3986, 5.2.4: "/a/./b/../c" -> "/a/c"."""
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


def _idna(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host  # not a name IDNA can spell: kept, lower-cased


def canonical_url(url: str) -> str:
    """The one spelling of an http(s) URL that names its page: scheme and
    host lower-cased, the host in IDNA (ASCII), the default port dropped,
    dot segments resolved, an empty path as "/", the fragment dropped (it
    is never sent). Query and escapes stay as they are: servers may tell
    them apart. Anything else is returned as it came."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = _idna(parts.hostname.lower().rstrip(".") or parts.hostname.lower())
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username is not None:
        host = f"{parts.username}@{host}"
    return urlunsplit((scheme, host, _without_dot_segments(parts.path) or "/", parts.query, ""))

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
    return canonical_url(url)


def host_of(url: str | None, *, site: bool = False) -> str | None:
    """The host a URL names, lower-cased, without a trailing dot (None when
    it names none); `site`: without a leading "www." too (the site's name)."""
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:
        return None
    host = (host or "").lower().rstrip(".")
    if site:
        host = host.removeprefix("www.")
    return host or None


def host_key(url: str) -> str:
    """Scheme, host and port: the unit of politeness and of robots.txt."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def site_key(name_or_url: str | None) -> str:
    """A site's name with its labels reversed ("news.example.org" ->
    "org.example.news"; "www." dropped): a site and its subdomains are one
    range of these keys, so an index finds them. Takes a URL or a bare host."""
    text = (name_or_url or "").strip().lower()
    host = host_of(text, site=True) if "://" in text else text.rstrip(".").removeprefix("www.")
    return ".".join(reversed((host or "").split(".")))


def absolute_url(base: str, value: str | None) -> str | None:
    """A link's value (as a page or listing gives it) resolved against `base`,
    canonical; None when it is no http(s) URL or cannot be read at all."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        url = urljoin(base, value)
        if urlsplit(url).scheme not in ("http", "https"):
            return None
        return canonical_url(url)
    except ValueError:  # a hostile link ("http://[::1"): nothing any capture could follow
        return None

