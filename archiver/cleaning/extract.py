"""Article text and metadata out of pruned HTML: trafilatura, with a fallback.

trafilatura alone sometimes keeps only a sliver of a page whose article it
did not recognise. When it keeps less than `CleanOptions.fallback_ratio` of
the page's visible words, the readability algorithm (trafilatura's own copy)
gets a go, and the longer of the two texts wins, within reason.
"""

from __future__ import annotations

import logging
from html import escape as html_escape
import re
from dataclasses import dataclass
from typing import Any

import lxml.html
from selectolax.lexbor import LexborHTMLParser
from htmldate import find_date
from trafilatura import bare_extraction, extract_metadata
from trafilatura.metadata import (
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.utils import load_html
from trafilatura.readability_lxml import Document as ReadabilityDocument

from ..config import CleanOptions
from ..urls import host_of
from . import speedups  # noqa: F401  (trafilatura as archiver runs it: faster, the same results)
from .normalize import count_words

__all__ = ["Extracted", "extract_article"]

log = logging.getLogger(__name__)

# htmldate's extensive search scans every text node for date-like strings;
# the markup-based search finds published dates where pages declare them.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}
_BLOCKS = "p, h1, h2, h3, h4, h5, h6, li, blockquote, pre, td, th, dd, dt, figcaption"


@dataclass
class Extracted:
    text: str  # one block per line
    title: str | None = None
    author: str | None = None
    date: str | None = None
    sitename: str | None = None
    url: str | None = None
    description: str | None = None
    language: str | None = None
    fallback: bool = False


def _words(text: str | None) -> int:
    return count_words(text)


# trafilatura's time grows faster than the page (4 s at 1 MB of article,
# 23 s at 4 MB, measured in bench/memory.py). Past this much pruned HTML,
# text comes from the page's blocks directly, in linear time.
LARGE_PAGE_CHARS = 1_000_000


def _readability_text(html: str) -> str:
    try:
        tree = lxml.html.fromstring(html)
        summary = ReadabilityDocument(tree).summary()
    except Exception as exc:  # lxml and readability raise a zoo of errors on odd pages
        log.debug("readability failed: %s", exc)
        return ""
    return _block_text(summary)


def _block_text(html: str) -> str:
    """The text of each innermost block element, one per line."""
    doc = LexborHTMLParser(html)
    lines: list[str] = []
    for node in doc.css(_BLOCKS):
        # only the innermost blocks, so nested ones are not counted twice
        if node.css_first(_BLOCKS) is not None:
            continue
        text = " ".join(node.text(separator=" ").split())
        if text:
            lines.append(text)
    if not lines and doc.body is not None:
        lines = [" ".join(doc.body.text(separator=" ").split())]
    return "\n".join(lines)


# trafilatura drops every character Python calls unprintable, and with them
# the zero-width non-joiner and joiner (U+200C/U+200D), which are spelling in
# Persian, Kurdish and Indic scripts ("می‌خواهم") and inside emoji. They cross
# it escaped as a printable mark; the mark itself is escaped first, so a page
# containing it comes through unchanged.
_MARK = "\u2af8"
_JOINERS = re.compile(r"\u2af8|\u200c|\u200d|&(?:zwn?j|#8204|#8205|#x200[cd]);", re.IGNORECASE)
_ESCAPES = {"\u2af8": _MARK + "0", "\u200c": _MARK + "1", "\u200d": _MARK + "2", "&zwnj;": _MARK + "1",
            "&#8204;": _MARK + "1", "&#x200c;": _MARK + "1", "&zwj;": _MARK + "2", "&#8205;": _MARK + "2",
            "&#x200d;": _MARK + "2"}
_ESCAPED = re.compile("\u2af8([012])")
_UNESCAPES = {"0": _MARK, "1": "\u200c", "2": "\u200d"}


def _protect_joiners(html: str) -> str:
    return _JOINERS.sub(lambda m: _ESCAPES[m[0].lower()], html)


def _restore_joiners(result: Extracted) -> Extracted:
    for name in ("text", "title", "author", "sitename", "description"):
        value = getattr(result, name)
        if value and _MARK in value:
            setattr(result, name, _ESCAPED.sub(lambda m: _UNESCAPES[m[1]], value))
    return result


def extract_article(html: str, *, url: str | None, visible_words: int, options: CleanOptions,
                    meta_html: str | None = None) -> Extracted:
    """Text from `html`; metadata from `meta_html` when given (the whole page,
    when `html` is only the part a site rule named as main)."""
    if len(html) > LARGE_PAGE_CHARS:
        return _large_page(html, url=url, meta_html=meta_html)
    if _JOINERS.search(html) or (meta_html is not None and _JOINERS.search(meta_html)):
        protected = None if meta_html is None else _protect_joiners(meta_html)
        return _restore_joiners(_extract(_protect_joiners(html), url=url, visible_words=visible_words,
                                         options=options, meta_html=protected))
    return _extract(html, url=url, visible_words=visible_words, options=options, meta_html=meta_html)


def _extract(html: str, *, url: str | None, visible_words: int, options: CleanOptions,
             meta_html: str | None) -> Extracted:
    tree = load_html(html)
    result = Extracted(text="")
    if tree is None:
        return result
    # Metadata first: trafilatura copies the tree it is handed, and prunes its copy.
    _add_metadata(result, tree if meta_html is None else load_html(meta_html), url)
    def body_text(root: Any) -> str:
        doc = bare_extraction(
            root,
            url=url,
            # trafilatura's own fallbacks (readability, jusText) on every page cost
            # ~40% of its time; ours below runs only where trafilatura came up short.
            fast=options.fast,
            date_extraction_params=_DATE_PARAMS,
            favor_precision=options.favor_precision,
            include_comments=False,
            include_tables=options.include_tables,
            with_metadata=False,
            deduplicate=False,
        )
        return (doc.text if doc is not None else "") or ""

    text = body_text(tree)
    chunks = _article_chunks(tree, text)
    if chunks is not None:
        joined = body_text(chunks)
        if _words(joined) > CHUNKS_GAIN * _words(text):
            text = joined
    result.text = text
    if options.fallback_ratio > 0 and visible_words > 0 and not result.fallback:
        kept = _words(text)
        if kept < options.fallback_ratio * visible_words:
            other = _readability_text(html)
            got = _words(other)
            # Take readability's text when it found clearly more, but not the
            # whole page back (that would be the chrome we pruned for).
            if got > options.fallback_factor * kept and 0 < got <= 0.95 * visible_words:
                result.text = other
                result.fallback = True
    return result


CHUNKS_GAIN = 1.25  # the article's chunks together must say clearly more than the one extraction chose
_CHUNK_PROSE_WORDS = 20  # a chunk holds at least one paragraph this long


def _article_chunks(tree: Any, text: str) -> Any | None:
    """An article the page prints in chunks (containers alike, with ads or
    embeds between them), of which extraction took one: the chunks in one
    `<article>`, to extract again; None for an article in one piece.
    The chunks are the elements with the tag and the (shared) class names of
    the container of the paragraphs extracted, each holding a paragraph of prose."""
    if tree is None or not text:
        return None
    starts = {line[:60] for line in (" ".join(x.split()) for x in text.splitlines()) if len(line) >= 40}
    if len(starts) < 2:
        return None
    holders: dict[Any, int] = {}
    for para in tree.iter("p"):
        line = " ".join(para.text_content().split())
        if len(line) >= 40 and line[:60] in starts:
            parent = para.getparent()
            if parent is not None:
                holders[parent] = holders.get(parent, 0) + 1
    if not holders:
        return None
    body = max(holders, key=lambda el: holders[el])
    if holders[body] < 2 or not body.get("class"):
        return None
    # The body's class names that other elements carry too: a name only one element has
    # (a hash drawn for each element) says nothing about which containers are alike.
    uses: dict[str, int] = {}
    for el in tree.iter(body.tag):
        for token in set((el.get("class") or "").split()):
            uses[token] = uses.get(token, 0) + 1
    shared = {t for t in body.get("class", "").split() if uses.get(t, 0) >= 2}
    if not shared:
        return None
    alike = [el for el in tree.iter(body.tag) if shared <= set((el.get("class") or "").split())]
    if len(alike) < 2:
        return None
    alike_set = set(alike)
    outer = [el for el in alike if not any(a in alike_set for a in el.iterancestors())]
    prose = [el for el in outer
             if any(len(p.text_content().split()) >= _CHUNK_PROSE_WORDS for p in el.iter("p"))]
    if len(prose) < 2:
        return None
    # The chunks' content without their own elements: extraction would take the first one again.
    parts = "".join(html_escape(el.text or "") + "".join(lxml.html.tostring(child, encoding="unicode")
                                                          for child in el) for el in prose)
    return lxml.html.fromstring(f"<html><body><article>{parts}</article></body></html>")


def _add_metadata(result: Extracted, tree: Any, url: str | None) -> None:
    """Title, author, date, site name, canonical URL and language, from
    trafilatura's own metadata readers. Not `extract_metadata`: that also
    reads categories, tags and licence (which archiver keeps nowhere) and
    looks the host up in the public-suffix list, a sixth of cleaning's time."""
    if tree is None:
        return
    try:
        meta = examine_meta(tree)
        if meta.author and " " not in meta.author and count_words(meta.author) < 2:
            meta.author = None  # one word is a handle more often than a name
        try:
            meta = extract_meta_json(tree, meta)
        except Exception as exc:  # a JSON-LD block is the page's to get wrong
            log.debug("JSON-LD metadata unreadable: %s", exc)
        result.title = meta.title or extract_title(tree)
        result.author = meta.author or extract_author(tree)
        result.url = meta.url or extract_url(tree, url)
        result.date = find_date(tree, url=result.url, **_DATE_PARAMS)
        sitename = (meta.sitename or extract_sitename(tree) or "").lstrip("@")
        if not sitename and result.url:
            sitename = host_of(result.url, site=True) or ""
        elif sitename[:1].islower() and "." not in sitename:
            sitename = sitename[0].upper() + sitename[1:]  # "the Guardian", "digg": a name starts upper case
        result.sitename = sitename or None
        result.description = meta.description
        result.language = getattr(meta, "language", None)
    except Exception as exc:  # metadata is a bonus: never lose the text over it
        log.debug("metadata extraction failed: %s", exc)


def _large_page(html: str, *, url: str | None, meta_html: str | None) -> Extracted:
    """A very long page (a report, a transcript): every block's text, and
    the metadata from its head alone."""
    source = meta_html if meta_html is not None else html
    end = source.find("</head>")
    head = source[: end + len("</head>")] + "<body></body></html>" if 0 <= end < 2_000_000 else "<html></html>"
    result = Extracted(text=_block_text(html), fallback=True)
    try:
        meta = extract_metadata(head, default_url=url, date_config=_DATE_PARAMS)
    except Exception as exc:
        log.debug("metadata extraction failed: %s", exc)
        meta = None
    if meta is not None:
        result.title, result.author, result.date = meta.title, meta.author, meta.date
        result.sitename, result.url, result.description = meta.sitename, meta.url, meta.description
        result.language = getattr(meta, "language", None)
    return result
