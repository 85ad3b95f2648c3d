"""The pages a page links to: what a crawl follows."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from ..urls import absolute_url
from .listings import Link, listed_links

__all__ = ["MAX_LINKS", "Link", "document_links", "page_links", "parsed_with_base"]

MAX_LINKS = 5000  # a page listing more is a trap or a dump; the first ones are kept


def document_links(data: bytes, content_type: str | None, url: str | None) -> tuple[Link, ...]:
    """What a crawl follows from a recorded document: an HTML page's links, or
    what a robots.txt, sitemap or feed lists."""
    if not url:
        return ()
    return listed_links(data, content_type, url) or page_links(data, url)


def parsed_with_base(html: bytes | str, base: str) -> tuple[LexborHTMLParser, str]:
    """The parsed page and the address its relative links resolve against
    (`base`, or its <base href> resolved against `base`)."""
    tree = LexborHTMLParser(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    node = tree.css_first("base[href]")
    return tree, (absolute_url(base, node.attributes.get("href")) or base) if node is not None else base


def page_links(html: bytes | str, base: str | None) -> tuple[Link, ...]:
    """The http(s) URLs `html` links to (a and area elements, rel=next/prev
    and alternate feeds), resolved against `base` and its <base href>,
    canonical, without fragments, each once, in document order."""
    if not base:
        return ()
    tree, base = parsed_with_base(html, base)
    found: dict[str, None] = {}
    for node in tree.css("a[href], area[href], link[href]"):
        if node.tag == "link":
            rel = (node.attributes.get("rel") or "").lower().split()
            if not {"next", "prev", "alternate"} & set(rel):
                continue
        value = (node.attributes.get("href") or "").strip()
        if value.startswith("#"):  # the page itself
            continue
        url = absolute_url(base, value)
        if url is None:
            continue
        found.setdefault(url)
        if len(found) >= MAX_LINKS:
            break
    return tuple(Link(u) for u in found)
