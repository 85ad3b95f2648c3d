"""The rules engine: prune site chrome from the HTML and spot error stubs.

Pruning runs on selectolax's Lexbor parser (about a millisecond a page) and
shrinks what the extractor has to parse. Every selector passes a guard: it
never removes `html`, `body`, `main` or `article`, nor a node holding more
than `GUARD_SHARE` of the page's text, because one selector that matches a
page wrapper (`form`, a body class like `no-sidebars`) wipes a page out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .markup import drop_generated_names
from .teasers import find_teaser_lists
from .normalize import MAX_LINE_CHARS, count_words
from .rules import Rule

__all__ = ["Pruned", "SelectorReport", "ErrorSign", "prune_html", "GUARD_SHARE"]

GUARD_SHARE = 0.30
PROTECTED_TAGS = frozenset({"html", "body", "main", "article", "head"})
# Removed before any rule: never article text. JSON-LD stays (metadata lives there).
ALWAYS_DROP = "script:not([type='application/ld+json']), style, noscript, template, iframe, svg, canvas, object, embed"
# A page with fewer words than this is "short": error signs on a short page
# make it a stub; on a long one they only mark a block to drop.
SHORT_PAGE_WORDS = 120
PREVIEW_CHARS = 80
_BACKLINK_TEXT = frozenset({"^", "↑", "↩", "↩︎", "⤴", "⇧", "back", "return to text", "back to text"})
_SAME_NUMBER = re.compile(r"^#[a-z]{0,3}[-_]?(\d{1,3})$")
_NOTE_NUMBER = re.compile(r"^\s*\[?(\d{1,3}|[ivxlc]{1,5})\]?\s*$")


@dataclass
class SelectorReport:
    rule: str
    selector: str
    removed: int = 0
    guarded: int = 0  # matches the guard refused to remove
    preview: str = ""


@dataclass
class ErrorSign:
    rule: str
    kind: str  # "error" | "wall"
    where: str  # "title" | "text" | "selector" | "status"
    pattern: str
    decisive: bool  # a site rule's title match, or an HTTP error status
    matched: str = ""  # the text that matched


@dataclass
class Pruned:
    html: str  # what goes to the extractor
    meta_html: str | None  # the whole pruned page, when `html` is only the main part
    title: str | None
    lang: str | None
    visible_words: int  # words in the body before pruning
    reports: list[SelectorReport] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)  # (rule, selector) that matched nothing
    signs: list[ErrorSign] = field(default_factory=list)
    main_used: str | None = None
    title_suffixes: list[str] = field(default_factory=list)
    # The shape of a short page, for telling a stub from an article by signal.
    visible_text: str = ""
    headings: list[str] = field(default_factory=list)
    forms: int = 0
    scripts: int = 0
    rule_authors: str | None = None  # from a site rule's content.authors selector
    rule_published: str | None = None  # from its content.published selector


def _text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return " ".join(node.text(separator=" ").split())


def _words(text: str) -> int:
    return count_words(text)


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                           (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + letters, n - value
    return out


def _list_label(n: int, kind: str) -> str:
    if kind in ("a", "A") and 0 < n <= 26 * 27:
        label = (chr(96 + (n - 1) // 26) if n > 26 else "") + chr(97 + (n - 1) % 26)
        return label.upper() if kind == "A" else label
    if kind in ("i", "I") and 0 < n < 4000:
        return _roman(n).upper() if kind == "I" else _roman(n)
    return str(n)


def _number_lists(body: LexborNode) -> None:
    """Ordered lists keep their numbers in the text ("2. Write the file"), as
    a reader sees them: start, reversed, type and each item's value."""
    for ol in body.css("ol"):
        items = [li for li in ol.iter() if li.tag == "li"]
        if not items or len(items) > 2000:
            continue
        attrs = ol.attributes
        step = -1 if "reversed" in attrs else 1
        try:
            n = int((attrs.get("start") or "").strip())
        except ValueError:
            n = len(items) if step < 0 else 1
        kind = (attrs.get("type") or "1").strip()
        for li in items:
            value = (li.attributes.get("value") or "").strip()
            if value.lstrip("-").isdigit() and len(value) < 10:
                n = int(value)
            first = li.child
            if first is not None:
                first.insert_before(f"{_list_label(n, kind)}. ")
            n += step


def _mark_notes(body: LexborNode) -> None:
    """Footnote markers become explicit "[n]"; back-links from the notes go."""
    for a in body.css("a[href^='#']"):
        label = _text(a)
        if label.lower() in _BACKLINK_TEXT:
            a.decompose()
    for sup in body.css("sup"):
        m = _NOTE_NUMBER.match(_text(sup))
        if m:
            sup.replace_with(f"[{m.group(1)}]")
    for a in body.css("a[href^='#']"):
        m = _NOTE_NUMBER.match(_text(a))
        if m and m.group(1).isdigit() and _is_note_link(a, m.group(1)):
            a.replace_with(f"[{m.group(1)}]")
    # Markers that are not links: Word's footnote reference style, and
    # superscript set by style rather than <sup>.
    for span in body.css("span.MsoFootnoteReference, span.MsoEndnoteReference, span[style*='super']"):
        m = _NOTE_NUMBER.match(_text(span))
        if m and span.parent is not None and span.parent.tag != "a":
            span.replace_with(f"[{m.group(1)}]")


_NOTE_HREF = ("note", "fn", "ftn", "edn", "foot", "ref", "cite", "endnote")


def _is_note_link(a: LexborNode, number: str) -> bool:
    """An in-page link labelled with a number that points at a note: by its
    target's name (#fn1, #_ftn1, #cite_note-1, #easy-footnote-bottom-1),
    its role or class (doc-noteref, footnote-ref), or a target that ends in
    the same number as the label (#n2, #r2)."""
    attrs = a.attributes
    href = (attrs.get("href") or "").lower()
    if any(k in href for k in _NOTE_HREF):
        return True
    if (attrs.get("role") or "") == "doc-noteref" or (attrs.get("epub:type") or "") == "noteref":
        return True
    classes = (attrs.get("class") or "").lower()
    if "footnote" in classes or "noteref" in classes:
        return True
    same = _SAME_NUMBER.match(href)
    return same is not None and same.group(1).lstrip("0") == number.lstrip("0")


def _guard_and_remove(nodes: list[LexborNode], total_chars: int, report: SelectorReport) -> None:
    """Remove `nodes` (in document order) but what the guard protects, and
    nothing inside something already removed. Every decision is made before
    any node is destroyed: a destroyed node's descendants must not be touched."""
    limit = GUARD_SHARE * max(total_chars, 1)
    doomed: list[LexborNode] = []
    doomed_ids: set[int] = set()
    for node in nodes:
        parent = node.parent
        inside = False
        while parent is not None:
            if parent.mem_id in doomed_ids:
                inside = True
                break
            parent = parent.parent
        if inside:
            continue
        if node.tag in PROTECTED_TAGS:
            report.guarded += 1
            continue
        text = _text(node)
        if total_chars > 200 and len(text) > limit:
            report.guarded += 1
            continue
        if not report.preview and text:
            report.preview = text[:PREVIEW_CHARS]
        doomed.append(node)
        doomed_ids.add(node.mem_id)
    for node in doomed:
        node.decompose()
    report.removed += len(doomed)


def _apply_rule(tree: LexborHTMLParser, rule: Rule, total_chars: int, *, detailed: bool) -> list[SelectorReport]:
    """Per selector when asked for detail; else one query for the whole rule."""
    if not rule.remove:
        return []
    if detailed:
        reports = []
        for selector in rule.remove:
            report = SelectorReport(rule=rule.name, selector=selector)
            _guard_and_remove(tree.css(selector), total_chars, report)
            reports.append(report)
        return reports
    report = SelectorReport(rule=rule.name, selector=rule.remove_group)
    _guard_and_remove(tree.css(rule.remove_group), total_chars, report)
    return [report]


def _error_signs(tree: LexborHTMLParser, rules: list[Rule], title: str, text: str) -> list[ErrorSign]:
    signs: list[ErrorSign] = []
    lowered = text.lower()
    for rule in rules:
        site = not rule.is_default
        hints = rule.text_hints
        checks = (
            ("error", "title", title, rule.error_title, site),
            ("wall", "title", title, rule.wall_title, site),
            ("error", "text", text, rule.error_text, False),
            ("wall", "text", text, rule.wall_text, False),
        )
        for kind, where, subject, patterns, decisive in checks:
            if not subject:
                continue
            for pat in patterns:
                # A case-insensitive regex over a long page is slow; the
                # phrase every match must hold is one fast substring test.
                hint = hints.get(pat.pattern) if where == "text" else None
                if hint is not None and hint not in lowered:
                    continue
                m = pat.search(subject)
                if m:
                    shown = subject if where == "title" else m.group(0)
                    signs.append(ErrorSign(rule.name, kind, where, pat.pattern, decisive=decisive,
                                           matched=" ".join(shown.split())[:120]))
                    break
        for sel in rule.error_selectors:
            if tree.css_first(sel) is not None:
                signs.append(ErrorSign(rule.name, "error", "selector", sel, decisive=site, matched=sel))
    return signs


def _drop_error_blocks(body: LexborNode, rules: list[Rule]) -> None:
    """An error message printed inside a page is a broken block, not article
    text: drop each element that holds little but the message (a paragraph
    that quotes one is longer and stays)."""
    patterns = [p for r in rules for p in (*r.error_text, *r.wall_text)]
    if not patterns:
        return
    for node in body.css("p, div, section, span, li, h1, h2, h3, h4, center, pre"):
        text = _text(node)
        if not text or len(text) > 400:
            continue
        for pat in patterns:
            m = pat.search(text)
            if m and len(text) <= len(m.group(0)) + 60:
                node.decompose()
                break


def _rule_metadata(tree: LexborHTMLParser, rules: list[Rule], pruned: Pruned) -> None:
    """Authors and date where a site rule says they are (the most specific rule first)."""
    for rule in reversed(rules):
        if rule.authors and pruned.rule_authors is None:
            nodes = tree.css(rule.authors)
            if nodes:
                pruned.rule_authors = "; ".join(_text(n) for n in nodes)
        if rule.published and pruned.rule_published is None:
            node = tree.css_first(rule.published)
            if node is not None:
                pruned.rule_published = node.attributes.get("datetime") or node.attributes.get("content") or node.text()


# Deep trees. HTML parsers reopen unclosed formatting tags in every later
# paragraph (`<p><font>` left open on an old site nests each paragraph one
# level deeper), and a hostile page can nest 100,000 divs. lxml (under the
# extractor) drops everything below depth 256, and Lexbor's tree building
# grows with depth squared. Browsers cap the depth too (Chromium at 512).
MAX_TREE_DEPTH = 100  # deeper elements are unwrapped: their text stays, their tags go
MAX_SOURCE_DEPTH = 1000  # beyond this, tags are dropped before parsing
_PRESCAN_TAGS = 4000  # fewer tags than this cannot nest past MAX_SOURCE_DEPTH
_DEEP = " > ".join(["*"] * (MAX_TREE_DEPTH + 1))
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>")
# Void elements and those whose end tag is implied: they never hold nesting open.
_NO_DEPTH = frozenset(
    "area base br col embed hr img input link meta param source track wbr keygen "
    "p li dt dd option optgroup tr td th thead tbody tfoot colgroup caption rb rt rp".split())
_BLOCKS = frozenset("div section article main aside header footer blockquote table ul ol dl form fieldset "
                    "figure center nav address details".split())


# Both parsers check each new attribute against those before it (quadratic):
# past this many, the rest of a tag's are dropped before parsing (no real
# element has more than a few dozen).
MAX_ATTRIBUTES = 1000
# One attribute as the HTML tokenizer reads it: separators (whitespace or
# "/"), a name of anything up to whitespace, "/", ">" or "=" (an "=" may
# start it), then maybe a value. A quoted value needs nothing after it
# before the next name (`a="1"b="2"` is two attributes), nor does a "/"
# (`a/b/c` is three): counting whitespace-separated parts missed both.
# HTML's whitespace, not Python's (a no-break space is part of a name).
# Possessive throughout: no backtracking, whatever a value holds.
_ATTRIBUTE_SOURCE = (r"""[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+"""
                     r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >]++))?+""")
_ATTRIBUTE = re.compile(_ATTRIBUTE_SOURCE)
# A tag holding more than MAX_ATTRIBUTES of them (its name in group 1); end
# tags too, whose attributes the tokenizer reads before dropping them.
_LONG_TAG = re.compile(r"(</?[a-zA-Z][^\t\n\f\r />]*+)(?:%s){%d}" % (_ATTRIBUTE_SOURCE, MAX_ATTRIBUTES + 1))


def limit_attributes(html: str) -> str:
    """Each tag with at most MAX_ATTRIBUTES attributes: the rest are dropped
    (the tag's name, its first attributes and its text are kept)."""
    if len(html) < 2 * MAX_ATTRIBUTES:
        return html  # too short to hold that many
    out: list[str] = []
    last = 0
    while (m := _LONG_TAG.search(html, last)) is not None:
        pos = m.end(1)  # past the tag's name
        for _ in range(MAX_ATTRIBUTES):
            pos = _ATTRIBUTE.match(html, pos).end()  # type: ignore[union-attr]  # matched above
        out.append(html[last:pos])
        # The rest of the tag's attributes; its own end (">" or "/>") follows.
        while (a := _ATTRIBUTE.match(html, pos)) is not None and a.end() > pos:
            pos = a.end()
        last = pos
    if not out:
        return html
    out.append(html[last:])
    return "".join(out)


# The options of one <select>: Lexbor's parse grows with the square of
# their number (40,000 in one select took 7 s; an 8 MB page holds 900,000).
# Past this many in a page, the option tags are dropped before parsing and
# their text stays where it was: a form's choices are never the article, and
# real dropdowns hold a few hundred.
MAX_OPTIONS = 2000
_OPTION_TAG = re.compile(r"</?option\b[^>]*>", re.IGNORECASE)
# Spelled out, not IGNORECASE: the literal "<" lets the engine skip ahead
# (0.1 ms on a page of 175,000 characters; lowering the page first, 0.9).
_OPTION_START = re.compile(r"<[oO][pP][tT][iI][oO][nN]")


def limit_options(html: str) -> str:
    """The page with at most MAX_OPTIONS option elements (the tags past
    that many dropped, their text kept)."""
    found = 0
    for _ in _OPTION_START.finditer(html):
        found += 1
        if found > MAX_OPTIONS:
            break
    else:
        return html
    out: list[str] = []
    last = starts = 0
    for m in _OPTION_TAG.finditer(html):
        if m[0][1] != "/":
            starts += 1
        if starts > MAX_OPTIONS:
            out.append(html[last:m.start()])
            last = m.end()
    out.append(html[last:])
    return "".join(out)


def flatten_source(html: str) -> str:
    """Drop the tags of elements nested deeper than MAX_TREE_DEPTH when the
    source nests past MAX_SOURCE_DEPTH (text kept; a dropped block becomes a
    line break). Pages with few tags are returned at once."""
    if html.count("<") < _PRESCAN_TAGS:
        return html
    depth = deepest = 0
    for m in _TAG.finditer(html):
        name = m.group(2).lower()
        if name in _NO_DEPTH:
            continue
        depth = max(0, depth - 1) if m.group(1) else depth + 1
        deepest = max(deepest, depth)
    if deepest <= MAX_SOURCE_DEPTH:
        return html
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # (name, kept)
    last = 0

    def drop(m: re.Match[str], name: str) -> None:
        # A dropped block still ends a paragraph, once: a <p> between runs of text.
        nonlocal last
        between = html[last:m.start()]
        out.append(between)
        out.append("<p>" if name in _BLOCKS and between.strip() else " ")
        last = m.end()

    for m in _TAG.finditer(html):
        name = m.group(2).lower()
        if name in _NO_DEPTH:
            continue
        if not m.group(1):
            kept = len(stack) < MAX_TREE_DEPTH
            stack.append((name, kept))
            if not kept:
                drop(m, name)
            continue
        # A closing tag ends the innermost open element of its name, if any.
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                kept = stack[i][1]
                del stack[i:]
                break
        else:
            continue
        if not kept:
            drop(m, name)
    out.append(html[last:])
    return "".join(out)


def _flatten_tree(tree: LexborHTMLParser) -> None:
    """Unwrap elements deeper than MAX_TREE_DEPTH (and every <font>, pure
    presentation that old pages nest by the thousand), keeping their text."""
    for node in tree.css("font"):
        node.unwrap()
    root = tree.root
    if root is None or tree.css_first(_DEEP) is None:
        return
    deep: list[LexborNode] = []
    stack: list[tuple[LexborNode, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        child = node.child
        while child is not None:
            if child.is_element_node:
                if depth + 1 > MAX_TREE_DEPTH:
                    deep.append(child)
                stack.append((child, depth + 1))
            child = child.next
    for node in deep:
        node.unwrap()


def prune_html(html: str, rules: list[Rule], *, status_code: int | None = None, detailed: bool = False) -> Pruned:
    """Apply `rules` (default first, then site rules) to one page."""
    tree = LexborHTMLParser(flatten_source(limit_options(limit_attributes(html))))
    if tree.css_first(_DEEP) is not None:
        _flatten_tree(tree)
    drop_generated_names(tree)  # markup churn must not move what is article and what is chrome
    root = tree.css_first("html")
    lang = None
    if root is not None:
        lang = (root.attributes.get("lang") or root.attributes.get("xml:lang") or "").strip() or None
    if lang is None:
        meta = tree.css_first("meta[http-equiv='content-language' i], meta[property='og:locale'], meta[name='language' i]")
        if meta is not None:
            lang = (meta.attributes.get("content") or "").strip() or None
    title_node = tree.css_first("title")
    title = _text(title_node)[: 4 * MAX_LINE_CHARS] or None  # more is cut by the normaliser anyway
    scripts = 0
    for node in tree.css(ALWAYS_DROP):
        scripts += node.tag == "script"
        node.decompose()
    body = tree.body
    body_text = _text(body)
    visible_words = _words(body_text)
    pruned = Pruned(html="", meta_html=None, title=title, lang=lang, visible_words=visible_words)
    if visible_words <= SHORT_PAGE_WORDS * 2:
        # A short page may be an error stub or a challenge: keep its shape.
        pruned.visible_text = body_text[:5000]
        pruned.headings = [_text(h)[:200] for h in tree.css("h1, h2")[:6]]
        pruned.forms = len(tree.css("form"))
        pruned.scripts = scripts

    signs = _error_signs(tree, rules, title or "", body_text)
    if status_code is not None and status_code >= 400:
        signs.append(ErrorSign("http", "error", "status", str(status_code), decisive=True, matched=str(status_code)))
    pruned.signs = signs

    if body is not None:
        _mark_notes(body)
        if body.css_first("ol") is not None:
            _number_lists(body)
        if signs:
            _drop_error_blocks(body, rules)
    total_chars = len(body_text)
    # Rule rot is judged on the page as served, before any rule removed
    # anything (a site selector the default rule beat to it still works).
    for rule in rules:
        if not rule.is_default:
            for selector in (*rule.remove, *((rule.main,) if rule.main else ())):
                if tree.css_first(selector) is None:
                    pruned.unmatched.append((rule.name, selector))
    for rule in rules:
        pruned.reports.extend(_apply_rule(tree, rule, total_chars, detailed=detailed))
        if rule.title_suffix:
            pruned.title_suffixes.append(rule.title_suffix)

    _rule_metadata(tree, rules, pruned)  # on the tree already parsed, not a second parse
    if body is not None:
        teasers = find_teaser_lists(body, total_chars=total_chars, limit_share=GUARD_SHARE)
        _guard_and_remove(teasers, total_chars, SelectorReport("default", "teaser lists"))
    main_node = None
    for rule in reversed(rules):  # the most specific rule's main wins
        if rule.main:
            main_node = tree.css_first(rule.main)
            if main_node is not None:
                pruned.main_used = f"{rule.name}: {rule.main}"
                break
    whole = tree.html or ""
    if main_node is not None:
        head = tree.head.html if tree.head is not None else "<head></head>"
        lang_attr = f' lang="{lang}"' if lang else ""
        # Inside <article> the extractor takes the part whole (headings and
        # note lists too); in a bare <div> it drops them.
        pruned.html = f"<html{lang_attr}>{head}<body><article>{main_node.html}</article></body></html>"
        pruned.meta_html = whole
    else:
        pruned.html = whole
    return pruned
