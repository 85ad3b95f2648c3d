"""HTML in, `Snapshot` out: decode -> prune (rules) -> extract -> normalize.

`clean_page` is the one entry point the CLI, the archive and the benchmarks
share. It never raises for a bad page: odd input becomes a status
(`not_html`, `empty`, `error_stub`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .prune import SHORT_PAGE_WORDS, Pruned, prune_html
from ..config import CleanOptions
from .extract import extract_article
from ..models import Snapshot
from ..urls import host_of
from .chromelines import drop_chrome_lines
from .normalize import clean_field, clean_title, count_words, drop_repeats, iso_date, language_code, normalize_text, split_authors
from .documents import clean_pdf, clean_text, looks_like_pdf
from .payload import charset_from_content_type, decode_html, document_kind
from .rules import Rule, rules_for
from .stubs import PageShape, detect_stub

__all__ = ["clean_page", "explain_page", "Explanation", "rules_for"]

# Below this many words, a page with any error sign is an error stub.
STUB_WORDS = SHORT_PAGE_WORDS
# A page with scripts and fewer words than this, all told, is an empty shell
# its scripts were to fill ("Loading…"): nothing to keep as its text.
SHELL_WORDS = 10
SHELL_REASON = "an empty shell: almost no text, and scripts that build the page (capture it with --browser)"


def _stub_reason(pruned: Pruned, words: int) -> tuple[str, str] | None:
    """(kind, reason) when the page is an error stub or a bot wall."""
    decisive = [s for s in pruned.signs if s.decisive]
    if decisive:
        chosen = decisive[0]
    elif pruned.signs and words < STUB_WORDS:
        # The page's own words say more than its title does, and a wall's
        # signs more than an error's (an "access denied" page names both).
        chosen = sorted(pruned.signs, key=lambda s: (s.kind != "wall", s.where != "text"))[0]
    else:
        return None
    if chosen.where == "status":
        return "error", f"HTTP status {chosen.pattern}"
    what = "bot wall" if chosen.kind == "wall" else "error page"
    return chosen.kind, f'{what} ({chosen.rule} rule): {chosen.where} "{chosen.matched}"'


def clean_page(
    html: str | bytes,
    url: str | None = None,
    *,
    options: CleanOptions | None = None,
    status_code: int | None = None,
    content_type: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    title_suffixes: Sequence[str] = (),
    timings: dict[str, float] | None = None,
) -> Snapshot:
    """Clean one page. `headers` are the response's, when it came over HTTP
    (bot-wall and rate-limit signals); `title_suffixes` are the site-name
    endings the archive learned from the host's other pages
    (`Catalog.title_suffixes`); `timings`, when given, collects seconds per
    stage."""
    options = options or CleanOptions()
    t0 = time.perf_counter()
    # What is past the size limit is left out, and the snapshot says so (a
    # capture's body is cut before it gets here, and its reason says that).
    limit = options.max_html_bytes
    cut = (f"only its first {limit} {'bytes' if isinstance(html, bytes) else 'characters'} were cleaned (the rest"
           " is past the size limit)") if len(html) > limit else None
    if isinstance(html, bytes):
        kind = document_kind(content_type, html[:1024]) if content_type else None
        if kind == "pdf" or (kind is None and looks_like_pdf(html)):
            return clean_pdf(html[: options.max_document_bytes], url)  # a cut PDF says so itself
        if kind == "text":
            text = decode_html(html[:limit], charset_from_content_type(content_type))
            if text is None:
                return Snapshot(url=url, status="not_html")
            return replace(clean_text(text, url), partial=cut)
        decoded = decode_html(html[:limit], charset_from_content_type(content_type))
        if decoded is None:
            return Snapshot(url=url, status="not_html")
        html = decoded
    else:
        html = html[:limit]
    if "\x00" in html:
        html = html.replace("\x00", "")
    rules = rules_for(url, options)
    rule_names = tuple(r.name for r in rules)
    pruned = prune_html(html, rules, status_code=status_code)
    t1 = time.perf_counter()
    extracted = extract_article(pruned.html, url=url, visible_words=pruned.visible_words, options=options,
                                meta_html=pruned.meta_html)
    t2 = time.perf_counter()
    paragraphs = drop_chrome_lines(drop_repeats(normalize_text(extracted.text)))
    text = "\n\n".join(paragraphs)
    words = count_words(text)
    host = host_of(url)
    suffixes = [*pruned.title_suffixes, *title_suffixes]
    page_title = clean_field(pruned.title or extracted.title)
    title = clean_title(pruned.title or extracted.title, suffixes=suffixes, sitename=extracted.sitename, host=host)
    if title and extracted.title and len(extracted.title) < len(title) and title.startswith(extracted.title):
        title = clean_title(extracted.title, suffixes=suffixes, sitename=extracted.sitename, host=host)
    stub = _stub_reason(pruned, words)
    if stub is None and options.stub_signals and pruned.visible_words <= SHORT_PAGE_WORDS * 2:
        stub = detect_stub(PageShape(title=pruned.title or "", headings=pruned.headings, text=pruned.visible_text,
                                     visible_words=pruned.visible_words, article_words=words, forms=pruned.forms,
                                     scripts=pruned.scripts, status=status_code, headers=list(headers)))
    status = "ok"
    shell = stub is None and words < SHELL_WORDS and pruned.scripts > 0 and pruned.visible_words < 2 * SHELL_WORDS
    if stub is not None:
        status = "error_stub"
    elif words == 0 or shell:
        status = "empty"
    snapshot = Snapshot(
        url=url,
        status=status,
        title=title,
        authors=split_authors(pruned.rule_authors or extracted.author),
        published=iso_date(pruned.rule_published) or iso_date(extracted.date),
        language=language_code(pruned.lang) or language_code(extracted.language),
        sitename=clean_field(extracted.sitename),
        canonical_url=extracted.url or url,
        # An error page's words are not the article: keep them out of `text`.
        text="" if stub is not None or shell else text,
        rules=rule_names,
        error=stub[1] if stub else (SHELL_REASON if shell else None),
        error_kind=stub[0] if stub else None,
        rule_rot=tuple(f"{rule}: {sel}" for rule, sel in pruned.unmatched) if stub is None else (),
        page_title=page_title,
        partial=cut,
    )
    if timings is not None:
        t3 = time.perf_counter()
        timings["prune"] = timings.get("prune", 0.0) + (t1 - t0)
        timings["extract"] = timings.get("extract", 0.0) + (t2 - t1)
        timings["normalize"] = timings.get("normalize", 0.0) + (t3 - t2)
    return snapshot


@dataclass
class Explanation:
    """What the rules did to one page, for `archiver rules explain`."""

    url: str | None
    rules: list[Rule]
    pruned: Pruned
    snapshot: Snapshot


def explain_page(html: str | bytes, url: str | None = None, *, options: CleanOptions | None = None,
                 status_code: int | None = None) -> Explanation:
    options = options or CleanOptions()
    if isinstance(html, bytes):
        decoded = decode_html(html[: options.max_html_bytes])
        html = decoded if decoded is not None else ""
    rules = rules_for(url, options)
    pruned = prune_html(html, rules, status_code=status_code, detailed=True)
    snapshot = clean_page(html, url, options=options, status_code=status_code)
    return Explanation(url=url, rules=rules, pruned=pruned, snapshot=snapshot)
