"""Documents that list pages: robots.txt's Sitemap lines, sitemaps (and
sitemap indexes, gzipped or not), RSS, Atom and JSON feeds. What a crawl
reads its seeds from, as it reads links from an HTML page.

Feeds are read by trafilatura's feed reader (`trafilatura.feeds.find_links`);
sitemaps by lxml here, because a crawl needs each URL's `lastmod` (to skip a
page unchanged since its last capture), which trafilatura's sitemap reader
drops. Every input is hostile: entities are not resolved, nothing is
fetched, a gzipped sitemap is inflated to MAX_LISTING_BYTES at most."""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple
from urllib.parse import urlsplit

from ..urls import absolute_url

__all__ = ["MAX_LISTED", "MAX_LISTING_BYTES", "Link", "listed_links"]

MAX_LISTING_BYTES = 50 << 20  # the sitemap protocol's own limit, uncompressed
MAX_LISTED = 50_000  # URLs one sitemap may list (the protocol's limit)

_SITEMAP_LINE = re.compile(rb"^\s*sitemap\s*:\s*(\S+)", re.I | re.M)


class Link(NamedTuple):
    """A URL a page or a listing points to."""

    url: str
    lastmod: str | None = None  # a sitemap's W3C date for it
    listing: bool = False  # a sitemap or feed itself: read for what it lists, whatever the crawl's scope
    listed: bool = False  # named by a sitemap or feed: within the scope, as a seed would be


def _inflated(data: bytes) -> bytes:
    """A gzipped file's contents, cut at MAX_LISTING_BYTES (a bomb stops there)."""
    out = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return out.decompress(data, MAX_LISTING_BYTES)
    except zlib.error:
        return b""


def listed_links(data: bytes, content_type: str | None, url: str) -> tuple[Link, ...]:
    """The pages (and further listings) a robots.txt, sitemap or feed lists;
    () for anything else."""
    if data[:2] == b"\x1f\x8b":
        data = _inflated(data)
    head = data[:2048].lstrip().lower()
    path = urlsplit(url).path
    if path == "/robots.txt":
        return tuple(Link(u, listing=True) for u in
                     (absolute_url(url, m.decode("utf-8", "replace")) for m in _SITEMAP_LINE.findall(data[:1 << 20]))
                     if u)[:MAX_LISTED]
    if b"<urlset" in head or b"<sitemapindex" in head:
        return _sitemap(data, url)
    ctype = (content_type or "").lower()
    if (b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head
            or (head.startswith(b"{") and ("json" in ctype or b'"items"' in data[:65536]))):
        return _feed(data, url)
    return ()


def _sitemap(data: bytes, url: str) -> tuple[Link, ...]:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return ()
    if root is None:
        return ()
    index = etree.QName(root).localname == "sitemapindex"
    found: list[Link] = []
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        fields = {etree.QName(child).localname: (child.text or "").strip() for child in entry
                  if isinstance(child.tag, str)}
        link = absolute_url(url, fields.get("loc", ""))
        if link:
            found.append(Link(link, lastmod=fields.get("lastmod") or None, listing=index, listed=not index))
        if len(found) >= MAX_LISTED:
            break
    return tuple(found)


def _feed(data: bytes, url: str) -> tuple[Link, ...]:
    from trafilatura.feeds import FeedParameters, find_links

    text = data[:MAX_LISTING_BYTES].decode("utf-8", "replace")
    host = urlsplit(url).hostname or ""
    try:
        raw = find_links(text.strip(), FeedParameters(url, host, url))
    except (ValueError, RecursionError):  # a feed too broken or too deep to read
        return ()
    seen: dict[str, None] = {}
    for value in raw:
        link = absolute_url(url, value)
        if link and link != url:
            seen.setdefault(link)
    return tuple(Link(u, listed=True) for u in list(seen)[:MAX_LISTED])
