"""The files a page embeds: what a browser (and replay) loads with it."""

from __future__ import annotations

from ..cleaning.links import parsed_with_base
from ..urls import absolute_url

__all__ = ["embedded_urls"]


def embedded_urls(html: bytes | str, base: str) -> list[str]:
    """The http(s) URLs of the images, scripts, stylesheets, frames and media
    `html` embeds, resolved against `base` (and its <base href>), each once,
    in document order."""
    tree, base = parsed_with_base(html, base)
    found: list[str] = []
    seen: set[str] = set()

    def add(value: str | None) -> None:
        value = (value or "").strip()
        if value.startswith("#"):  # the page itself
            return
        url = absolute_url(base, value)
        if url is not None and url not in seen:
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
