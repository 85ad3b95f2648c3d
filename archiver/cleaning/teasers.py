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

__all__ = ["drop_teaser_lists", "TEASER_ITEMS", "TEASER_WORDS"]

TEASER_ITEMS = 3  # sibling items, each all link, make a teaser list
TEASER_WORDS = 30  # an item longer than this is a paragraph, not a teaser
_LINK_SHARE = 0.9  # of an item's letters inside its links
_GROUPS = "ul, ol, div, section, aside, nav, footer, header, p, td"


def _outward(href: str | None) -> bool:
    href = (href or "").strip().lower()
    return bool(href) and not href.startswith(("#", "javascript:", "mailto:", "tel:"))


def _item_target(item: LexborNode) -> str | None:
    """The page a teaser item links to, or None when the item is not one:
    a short text that is (nearly) all the text of links to one other page."""
    text = "".join(item.text(deep=True).split())
    if not text:
        return None
    words = len(item.text(deep=True, separator=" ").split())
    if words > TEASER_WORDS:
        return None
    links = item.css("a[href]") if item.tag != "a" else [item]
    targets = {(a.attributes.get("href") or "").strip() for a in links if _outward(a.attributes.get("href"))}
    if len(targets) != 1:
        return None
    inside = sum(len("".join(a.text(deep=True).split())) for a in links)
    if inside < _LINK_SHARE * len(text):
        return None
    return targets.pop()


def drop_teaser_lists(body: LexborNode, *, total_chars: int, limit_share: float) -> int:
    """Remove every teaser list under `body` (none holding more than
    `limit_share` of the page's text); how many were removed."""
    limit = limit_share * max(total_chars, 1)
    doomed: list[LexborNode] = []
    for group in body.css(_GROUPS):
        items = [c for c in group.iter() if c.tag not in ("-text", "-comment", "br")]
        items = [c for c in items if c.text(deep=True).strip()]
        if len(items) < TEASER_ITEMS:
            continue
        # The group's own text, between its items, is next to nothing: items
        # with words between them are links in a sentence, not a list.
        whole = len("".join(group.text(deep=True).split()))
        held = sum(len("".join(i.text(deep=True).split())) for i in items)
        if held < _LINK_SHARE * whole:
            continue
        targets = []
        for item in items:
            target = _item_target(item)
            if target is None:
                break
            targets.append(target)
        else:
            if len(set(targets)) >= TEASER_ITEMS and len(group.text(deep=True)) <= limit:
                doomed.append(group)
    removed = 0
    gone: set[int] = set()
    for node in doomed:
        parent, inside = node.parent, False
        while parent is not None:
            if parent.mem_id in gone:
                inside = True
                break
            parent = parent.parent
        if not inside:
            gone.add(node.mem_id)
    for node in doomed:
        if node.mem_id in gone:
            node.decompose()
            removed += 1
    return removed
