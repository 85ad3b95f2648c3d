"""Teaser lists: "related", "most read" and "more from" boxes, wherever a
page puts them (beside, below or inside the article).

They are recognised by shape, not by names or words: a group of three or
more sibling items, each a short text that is all link, each to another
page. An article's own text is prose with a link here and there; a list
of in-page links (a table of contents, note back-links) points into the
page itself and is left alone. Their headlines change with every visit,
so a capture that kept them would report a change the article never had.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

__all__ = ["find_teaser_lists", "TEASER_ITEMS", "TEASER_WORDS"]

TEASER_ITEMS = 3  # sibling items, each all link, make a teaser list
TEASER_WORDS = 30  # an item longer than this is a paragraph, not a teaser
_LINK_SHARE = 0.9  # of an item's letters inside its links
_GROUPS = "ul, ol, div, section, aside, nav, footer, header, p, td"


def _outward(href: str | None) -> bool:
    href = (href or "").strip().lower()
    return bool(href) and not href.startswith(("#", "javascript:", "mailto:", "tel:"))


def _item_target(item: LexborNode, text: str) -> str | None:
    """The page a teaser item links to, or None when the item is not one:
    a short text that is (nearly) all the text of links to one other page.
    `text` is the item's text."""
    if len(text.split()) > TEASER_WORDS:
        return None
    letters = len("".join(text.split()))
    links = item.css("a[href]") if item.tag != "a" else [item]
    targets = {(a.attributes.get("href") or "").strip() for a in links if _outward(a.attributes.get("href"))}
    if len(targets) != 1:
        return None
    inside = sum(len("".join(a.text(deep=True).split())) for a in links)
    if inside < _LINK_SHARE * letters:
        return None
    return targets.pop()


def find_teaser_lists(body: LexborNode, *, total_chars: int, limit_share: float) -> list[LexborNode]:
    """Every teaser list under `body` (none holding more than `limit_share`
    of the page's text), in document order; lists inside lists too (the
    remover skips what is inside something it removes)."""
    limit = limit_share * max(total_chars, 1)
    doomed: list[LexborNode] = []
    for group in body.css(_GROUPS):
        # A wrapper of one or two elements is no list: counted before any text is read (wrappers nest deep).
        elements = 0
        for child in group.iter():
            if child.tag not in ("-text", "-comment", "br"):
                elements += 1
                if elements >= TEASER_ITEMS:
                    break
        if elements < TEASER_ITEMS:
            continue
        # Items one by one, stopping at the first that is no teaser: most groups are prose and stop at once.
        targets: list[str] = []
        held = 0
        for item in group.iter():
            if item.tag in ("-text", "-comment", "br"):
                continue
            text = item.text(deep=True)
            if not text.strip():
                continue
            target = _item_target(item, text)
            if target is None:
                targets = []
                break
            targets.append(target)
            held += len("".join(text.split()))
        if len(targets) < TEASER_ITEMS or len(set(targets)) < TEASER_ITEMS:
            continue
        # The group's own text, between its items, is next to nothing: items
        # with words between them are links in a sentence, not a list.
        whole_text = group.text(deep=True)
        if held < _LINK_SHARE * len("".join(whole_text.split())) or len(whole_text) > limit:
            continue
        doomed.append(group)
    return doomed
