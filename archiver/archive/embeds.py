"""The files a page embeds: what a browser (and replay) loads with it."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from ..urls import canonical_url

__all__ = ["embedded_urls"]

_EMBEDS = (("img", "src"), ("script", "src"), ("iframe", "src"), ("video", "src"), ("audio", "src"),
           ("source", "src"), ("embed", "src"), ("input[type=image]", "src"), ("video", "poster"))


def embedded_urls(html: bytes | str, base: str) -> list[str]:
    """The http(s) URLs of the images, scripts, stylesheets, frames and media
    `html` embeds, resolved against `base` (and its <base href>), each once,
    in document order."""
    tree = LexborHTMLParser(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = urljoin(base, (base_node.attributes.get("href") or "").strip())
    found: list[str] = []
    seen: set[str] = set()

    def add(value: str | None) -> None:
        value = (value or "").strip()
        if not value or value.startswith(("data:", "javascript:", "about:", "#")):
            return
        url = urljoin(base, value)
        if urlsplit(url).scheme not in ("http", "https"):
            return
        try:
            url = canonical_url(url)
        except Exception:  # a URL no capture could have had
            return
        if url not in seen:
            seen.add(url)
            found.append(url)

    for node in tree.css("img, script[src], iframe[src], video, audio, source[src], embed[src], input[type=image], link[href]"):
        if node.tag == "link":
            rel = (node.attributes.get("rel") or "").lower().split()
            if "stylesheet" in rel or "icon" in rel:
                add(node.attributes.get("href"))
            continue
        for name in ("src", "poster"):
            add(node.attributes.get(name))
    return found
