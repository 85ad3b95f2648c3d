"""URL lists people already have: a browser's exported bookmarks (the
Netscape bookmark file every browser writes), an OPML list of feeds, or a
plain list of URLs. Read as hostile input: nothing is fetched or resolved
while reading, and an entry that is no http(s) URL is named, not fatal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, InvalidURL
from ..urls import check_url

__all__ = ["MAX_IMPORT_BYTES", "Imported", "read_url_file"]

MAX_IMPORT_BYTES = 64 << 20  # a bookmarks file past this is no bookmarks file


@dataclass
class Imported:
    """What a file lists: its URLs (canonical, each once, in order), their
    titles and tags where the file gives them, and what could not be read."""

    kind: str  # "bookmarks", "opml" or "list"
    urls: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "entry N: why", one a line

    def add(self, where: str, raw: str, title: str = "", tags: str = "") -> None:
        raw = (raw or "").strip()
        if raw.lower().startswith(("javascript:", "place:", "data:", "about:", "chrome:", "file:")):
            self.problems.append(f"{where}: {raw[:60]!r} is no web page (skipped)")
            return
        try:
            url = check_url(raw)
        except InvalidURL as exc:
            self.problems.append(f"{where}: {exc}")
            return
        if url not in self.titles:
            self.urls.append(url)
            self.titles[url] = " ".join(title.split())[:300]
            if tags:
                self.tags[url] = tags


def read_url_file(path: str | Path) -> Imported:
    """Bookmarks HTML, OPML, or one URL a line (# comments), told apart by content."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_IMPORT_BYTES >> 20} MB: no URL list this tool reads")
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    head = text[:4096].lower()
    if "<opml" in head:
        found = _opml(data)
    elif "netscape-bookmark-file" in head or "<dt><a" in head.replace(" ", "") or "<a href" in head:
        found = _bookmarks(text)
    else:
        found = Imported("list")
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                found.add(f"line {n}", line)
    if not found.urls and not found.problems:
        found.problems.append("no URL in it")
    return found


def _bookmarks(text: str) -> Imported:
    from selectolax.lexbor import LexborHTMLParser

    found = Imported("bookmarks")
    for n, node in enumerate(LexborHTMLParser(text).css("a[href]"), 1):
        attrs = node.attributes
        found.add(f"bookmark {n}", attrs.get("href") or "", node.text() or "", (attrs.get("tags") or "").strip())
    return found


def _opml(data: bytes) -> Imported:
    from lxml import etree

    found = Imported("opml")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        found.problems.append("not an OPML file that can be read")
        return found
    for n, outline in enumerate(root.iter("outline"), 1):
        url = outline.get("xmlUrl") or outline.get("url") or outline.get("htmlUrl")
        if url:
            found.add(f"outline {n}", url, outline.get("title") or outline.get("text") or "")
    return found
