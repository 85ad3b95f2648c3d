"""attrpaths: XPath attribute tests evaluated in Python select exactly what
libxml2 selects (the author search of cleaning runs on them)."""

from __future__ import annotations

import random
from pathlib import Path

import lxml.html
import pytest
from lxml.etree import XPath

from archiver.attrpaths import attribute_path

RE = {"re": "http://exslt.org/regular-expressions"}
FIX = Path(__file__).parent / "fixtures" / "clean"

TAGS = ["div", "span", "a", "p", "section", "h3", "time", "figure", "author", "rel", "b"]
ATTRS = ["class", "id", "rel", "itemprop", "data-component"]
VALUES = ["", "author", "Author", "byline", "post-author name", "author name", "comments", "x-Byline-y",
          "me", "comment-list", "commentlist", "sidebar left", "AUTHOR", "écrit par", "a|b", "o'neil"]


def _random_page(rng: random.Random) -> str:
    def element(depth: int) -> str:
        tag = rng.choice(TAGS)
        attrs = "".join(f' {name}="{rng.choice(VALUES)}"' for name in rng.sample(ATTRS, rng.randint(0, 3)))
        inner = rng.choice(["", "me", "m<!-- c -->e", "text ", "<?pi x?>"])
        if depth < 4:
            inner += "".join(element(depth + 1) for _ in range(rng.randint(0, 3)))
        return f"<{tag}{attrs}>{inner}</{tag}>{rng.choice(['', 'tail', ' '])}"

    body = "".join(element(0) for _ in range(rng.randint(1, 6)))
    return f"<!-- before --><html><head><title>t</title></head><body>{body}</body></html>"


def _random_test(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(9 if depth < 3 else 6)
    attr = rng.choice(ATTRS)
    value = rng.choice([v for v in VALUES if "'" not in v])
    if kind == 0:
        return f"self::{rng.choice(TAGS)}"
    if kind == 1:
        return f"@{attr}='{value}'"
    if kind == 2:
        return f"contains(@{attr}, '{value}')"
    if kind == 3:
        return f"starts-with(@{attr}, '{value}')"
    if kind == 4:
        pattern = rng.choice(["[Aa]uthor", "^comment[s-]", "author-?name|byline", "^(?:post|comment)-?list", "^$", "x?"])
        flags = rng.choice(["", ", 'i'"])
        return f"re:test(@{attr}, '{pattern}'{flags})"
    if kind == 5:
        return f"{rng.choice(['rel', 'b'])}='{rng.choice(['me', 'text ', ''])}'"
    if kind == 6:
        return f"not({_random_test(rng, depth + 1)})"
    op = rng.choice([" or ", " and "])
    return "(" + op.join(_random_test(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")"


def _random_expression(rng: random.Random) -> str:
    paths = []
    for _ in range(rng.randint(1, 3)):
        start = rng.choice(["//", ".//"])
        step = rng.choice(["*", "*", rng.choice(TAGS)])
        predicates = ""
        if step == "*" and rng.random() < 0.5:
            predicates += "[" + " or ".join(f"self::{t}" for t in rng.sample(TAGS, rng.randint(1, 4))) + "]"
        predicates += "".join(f"[{_random_test(rng)}]" for _ in range(rng.randint(0, 2)))
        paths.append(start + step + predicates)
    return " | ".join(paths)


def test_random_expressions_select_what_libxml2_selects():
    rng = random.Random(20261129)
    pages = [lxml.html.fromstring(_random_page(rng)) for _ in range(40)]
    checked = 0
    for _ in range(400):
        source = _random_expression(rng)
        expression = XPath(source, namespaces=RE)
        ours = attribute_path(expression)
        assert ours is not None, source
        for root in pages:
            assert ours(root) == expression(root), source
            checked += 1
    assert checked == 400 * 40


@pytest.mark.parametrize("source, html, expected", [
    # an absent attribute equals no text; an empty one equals ""
    ("//*[@id='']", "<div id=''>a</div><div>b</div>", ["a"]),
    # contains() of an absent attribute reads "": every element contains ""
    ("//p[contains(@class, '')]", "<p>a</p><p class='x'>b</p>", ["a", "b"]),
    # a child's string value: its text and its children's, not comments, not its own tail
    ("//div[b='xy']", "<div><b>x<!--c--><i>y</i></b>z</div><div><b>x</b>y</div>", ["xyz"]),
    # './/' leaves the root out; '//' does not
    (".//*[self::html or self::p]", "<p>a</p>", ["a"]),
    ("//*[self::html or self::p]", "<p>a</p>", ["a", "a"]),
    # a union in document order, each element once
    ("//p | //*[@class='k'] | //p", "<div class='k'>d<p class='k'>p</p></div>", ["dp", "p"]),
    ("//*[re:test(@class, 'AUTHOR', 'i')]", "<p class='author'>a</p><p class='Autor'>b</p>", ["a"]),
])
def test_what_each_test_means(source, html, expected):
    root = lxml.html.fromstring(f"<html><body>{html}</body></html>")
    expression = XPath(source, namespaces=RE)
    ours = attribute_path(expression)
    assert ours is not None
    found = ours(root)
    assert found == expression(root)
    assert [e.text_content() for e in found] == expected


@pytest.mark.parametrize("source", [
    "//p[1]",  # positional
    "//div/p",  # a second step
    "//*[@*='x']",
    "//*[count(p) > 1]",
    "//*[contains(@id|@class, 'x')]",  # a node-set of two attributes
    "//*[re:replace(@id, 'a', '', 'b')]",
    "//*[@xml:lang='en']",
    "//*[re:test(@id, 'a', 'x')]",  # a flag Python's re would read differently
])
def test_anything_else_is_left_to_libxml2(source):
    assert attribute_path(XPath(source, namespaces={**RE, "xml": "http://www.w3.org/XML/1998/namespace"})) is None


def test_an_element_that_is_not_a_root_gets_xpaths_own_answer():
    root = lxml.html.fromstring("<html><body><div><p class='a'>x</p></div><p class='a'>y</p></body></html>")
    expression = XPath(".//*[@class='a']")
    ours = attribute_path(expression)
    div = root.find(".//div")
    assert ours(div) == expression(div) and len(ours(div)) == 1


def test_the_author_search_finds_what_trafilaturas_finds():
    """Cleaning's author search runs trafilatura's own expressions through
    attrpaths; every one of them is understood (or the speed is lost), and
    the author found is trafilatura's on pages with bylines in all the
    places its expressions look."""
    from trafilatura.metadata import extract_author
    from trafilatura.xpaths import AUTHOR_DISCARD_XPATHS, AUTHOR_XPATHS
    from trafilatura.utils import load_html

    from archiver.extract import _author

    assert all(attribute_path(x) is not None for x in AUTHOR_XPATHS + AUTHOR_DISCARD_XPATHS)
    bylines = [
        '<a rel="author" href="/u/1">Jane Roe</a>',
        '<span class="author-name">Jane Roe</span>',
        '<div class="byline">By Jane Roe and Richard Doe</div>',
        '<p id="article-author">Jane Roe</p>',
        '<span itemprop="author"><span itemprop="name">Jane Roe</span></span>',
        '<div data-component="Byline">Jane Roe, Staff Writer</div>',
        '<div class="comments"><span class="author">A commenter</span></div><span class="writer">Jane Roe</span>',
        '<figure><figcaption class="author">Photographer</figcaption></figure><div class="Byline">Richard Doe</div>',
        '<span class="author">x</span>',  # too short: the next expression is tried
        "",
    ]
    pages = [p.read_text(encoding="utf-8") for p in sorted(FIX.glob("*.html"))]
    pages += [f"<html><body><article><h1>Title</h1>{b}<p>{'Words of the story. ' * 30}</p></article>"
              f"<aside class='sidebar'><span class='author'>Sidebar Name</span></aside></body></html>" for b in bylines]
    found = 0
    for html in pages:
        tree = load_html(html)
        assert _author(tree) == extract_author(tree), html[:200]
        found += _author(tree) is not None
    assert found >= len(bylines) - 1
