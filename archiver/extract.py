"""Article text and metadata out of pruned HTML: trafilatura, with a fallback.

trafilatura alone sometimes keeps only a sliver of a page whose article it
did not recognise. When it keeps less than `CleanOptions.fallback_ratio` of
the page's visible words, the readability algorithm (trafilatura's own copy)
gets a go, and the longer of the two texts wins, within reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lxml.html
from selectolax.lexbor import LexborHTMLParser
from trafilatura import bare_extraction, extract_metadata
from trafilatura.readability_lxml import Document as ReadabilityDocument

from .config import CleanOptions

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
    return len(text.split()) if text else 0


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


def extract_article(html: str, *, url: str | None, visible_words: int, options: CleanOptions,
                    meta_html: str | None = None) -> Extracted:
    """Text from `html`; metadata from `meta_html` when given (the whole page,
    when `html` is only the part a site rule named as main)."""
    if len(html) > LARGE_PAGE_CHARS:
        return _large_page(html, url=url, meta_html=meta_html)
    doc = bare_extraction(
        html,
        url=url,
        # trafilatura's own fallbacks (readability, jusText) on every page cost
        # ~40% of its time; ours below runs only where trafilatura came up short.
        fast=options.fast,
        date_extraction_params=_DATE_PARAMS,
        favor_precision=options.favor_precision,
        include_comments=False,
        include_tables=options.include_tables,
        with_metadata=meta_html is None,
        deduplicate=False,
    )
    text = (doc.text if doc is not None else "") or ""
    result = Extracted(text=text)
    meta = doc
    if meta_html is not None:
        try:
            meta = extract_metadata(meta_html, default_url=url, date_config=_DATE_PARAMS)
        except Exception as exc:  # metadata is a bonus: never lose the text over it
            log.debug("metadata extraction failed: %s", exc)
            meta = None
    if meta is not None:
        result.title = meta.title
        result.author = meta.author
        result.date = meta.date
        result.sitename = meta.sitename
        result.url = meta.url
        result.description = meta.description
        result.language = getattr(meta, "language", None)
    if options.fallback_ratio > 0 and visible_words > 0 and not result.fallback:
        kept = _words(text)
        if kept < options.fallback_ratio * visible_words:
            other = _readability_text(html)
            got = _words(other)
            # Take readability's text when it found clearly more, but not the
            # whole page back (that would be the chrome we pruned for).
            if got > max(kept * 2, kept + 50) and got <= 0.95 * visible_words:
                result.text = other
                result.fallback = True
    return result


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
