"""attrpaths: XPath attribute tests evaluated in Python select exactly what
libxml2 selects (the author search of cleaning runs on them)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import lxml.etree
import lxml.html
import pytest
from lxml.etree import XPath

from archiver.cleaning.attrpaths import attribute_path

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


def _random_argument(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return "@" + "|@".join(rng.sample(ATTRS, rng.randint(2, 3)))  # the first present, in the element's order
    if kind == 1:
        return f"translate(@{rng.choice(ATTRS)}, '{rng.choice(['A', 'AB', 'aAé', 'BN', 'AaA', 'oAo'])}', '{rng.choice(['a', 'ab', 'x', '', 'bcd'])}')"
    return f"@{rng.choice(ATTRS)}"


PATTERNS = ["[Aa]uthor", "^comment[s-]", "author-?name|byline", "^(?:post|comment)-?list", "^$", "x?",
            "(^|\\s)a(\\s|$)", "^[Cc]omment(?!ary)"]


def _random_test(rng: random.Random, depth: int = 0) -> str:
    value = rng.choice([v for v in VALUES if "'" not in v])
    leaves = [
        lambda: f"self::{rng.choice(TAGS)}",
        lambda: f"@{rng.choice(ATTRS)}='{value}'",
        lambda: f"contains({_random_argument(rng)}, '{value}')",
        lambda: f"starts-with({_random_argument(rng)}, '{value}')",
        lambda: f"re:test({_random_argument(rng)}, '{rng.choice(PATTERNS)}'{rng.choice(['', ', ' + repr('i')])})",
        lambda: f"{rng.choice(['rel', 'b'])}='{rng.choice(['me', 'text ', ''])}'",  # a child's text
        lambda: f"@{rng.choice(ATTRS)}",
        lambda: f".//{rng.choice(TAGS)}",
    ]
    branches = [
        lambda: f"not({_random_test(rng, depth + 1)})",
        lambda: "(" + rng.choice([" or ", " and "]).join(
            _random_test(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")",
    ]
    return rng.choice(leaves + branches * 2 if depth < 3 else leaves)()


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
    # trafilatura evaluates most of its expressions on a part of the page
    inner = [rng.choice([e for e in root.iter() if isinstance(e.tag, str)]) for root in pages]
    checked = 0
    for _ in range(400):
        source = _random_expression(rng)
        expression = XPath(source, namespaces=RE)
        ours = attribute_path(expression)
        assert ours is not None, source
        for root, part in zip(pages, inner):
            assert ours(root) == expression(root), source
            assert ours(part) == expression(part), (source, part.tag)
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
    # translate(): the first mapping of a character wins; one without a partner goes
    ("//p[contains(translate(@class, 'AaAx', 'bcd'), 'bc!')]", "<p class='Aax!'>a</p><p class='Ad!'>b</p>", ["a"]),
    # of several attributes, the one the element has first
    ("//p[starts-with(@class|@id, 'k')]", "<p id='k' class='z'>a</p><p class='z' id='k'>b</p><p id='k'>c</p>",
     ["a", "c"]),
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
    "//*[contains(@id|.//p, 'x')]",  # a node-set of an attribute and elements
    "//*[contains(translate(., 'a', 'b'), 'x')]",
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


BOILERPLATE = [
    '<a rel="author" href="/u/1">Jane Roe</a>',
    '<span class="author-name">Jane Roe</span>',
    '<div class="byline">By Jane Roe and Richard Doe</div>',
    '<p id="article-author">Jane Roe</p>',
    '<span itemprop="author"><span itemprop="name">Jane Roe</span></span>',
    '<div data-component="Byline">Jane Roe, Staff Writer</div>',
    '<div class="comments"><span class="author">A commenter</span></div><span class="writer">Jane Roe</span>',
    '<figure><figcaption class="author">Photographer</figcaption></figure><div class="Byline">Richard Doe</div>',
    '<span class="author">x</span>',
    '<div id="comments"><p>First comment, with words enough to be kept as a paragraph if it were content.</p></div>',
    '<div class="share-buttons"><a href="/s">Share</a></div><div class="caption">A caption</div>',
    '<div class="Teaser"><p>Read this next, a teaser of another article on the site with its summary.</p></div>',
    '<p style="display:none">Hidden words that no reader sees on the page.</p><p aria-hidden="true">also</p>',
    '<div role="Navigation"><a href="/a">A</a> <a href="/b">B</a></div><ul class="tag-list"><li>tag</li></ul>',
    '<div class="post-bottom link"><a href="/x">Related</a></div><section id="reply-form">Reply</section>',
    '<ol class="comment-list"><li>A comment on the story</li></ol><ul id="comments"><li>Another one</li></ul>',
    '<div class="infinite-scroll"><h1>The next story</h1><p>Its first paragraph, loaded below this one.</p></div>'
    '<section class="infinite-scroll"><p>A paragraph without a heading of its own, loaded below.</p></section>',
    '<div data-lp-replacement-content="">Replaced on load</div><div data-lp-replacement-content="x">Also</div>',
]


def _pages() -> list[str]:
    sys.path.insert(0, str(FIX.parent / "stubs"))
    from corpus import CORPUS  # noqa: E402

    pages = [p.read_text(encoding="utf-8") for p in sorted(FIX.glob("*.html"))]
    pages += [html for _, _, html, _ in CORPUS]
    story = "<p>" + "Words of the story, enough of them to make a paragraph of an article. " * 6 + "</p>"
    for i, b in enumerate(BOILERPLATE):
        pages.append(f"<html><body><div class='page'><article class='post'><h1>Title {i}</h1>{b}{story * 3}"
                     f"{BOILERPLATE[(i + 5) % len(BOILERPLATE)]}</article><aside class='sidebar'>"
                     f"<span class='author'>Sidebar Name</span></aside></div></body></html>")
    return pages


def test_cleaning_gives_what_it_gives_with_trafilaturas_own_evaluation():
    """The cleaner hands trafilatura's modules its expressions evaluated by
    attrpaths; every page cleans to the same snapshot as with libxml2
    evaluating them as written (author, text, title: all of it)."""
    import trafilatura.main_extractor
    import trafilatura.xpaths

    import archiver
    from archiver.cleaning.attrpaths import AttributePath, as_written
    from archiver.cleaning.speedups import TRAFILATURA_PATHS

    if hasattr(trafilatura.xpaths, "OVERALL_DISCARD_XPATH"):  # the costliest: the speed is lost without it
        assert any(isinstance(x, AttributePath) for x in trafilatura.main_extractor.OVERALL_DISCARD_XPATH)
    pages = _pages()
    assert len(pages) > 30
    authors = 0
    for html in pages:
        ours = archiver.clean(html, url="https://news.example.org/2026/a-story")
        with as_written(TRAFILATURA_PATHS):
            theirs = archiver.clean(html, url="https://news.example.org/2026/a-story")
        assert ours == theirs, html[:300]
        authors += bool(ours.authors)
    assert authors >= 8
    # Another caller of trafilatura in this process gets what it would have got.
    import trafilatura

    for html in pages:
        for options in ({}, {"favor_precision": True}, {"favor_recall": True, "include_comments": True},
                        {"with_metadata": True, "output_format": "json"}):
            ours = trafilatura.extract(html, **options)
            with as_written(TRAFILATURA_PATHS):
                theirs = trafilatura.extract(html, **options)
            assert ours == theirs, (options, html[:300])
    # and each expression selects what libxml2 selects, from the page and from its parts
    from trafilatura.utils import load_html

    compared = 0
    for html in pages:
        tree = load_html(html)
        contexts = [tree, *tree.iter("article", "div", "body")]
        for r in TRAFILATURA_PATHS:
            for original, path in zip(r.original, r.paths):
                if path is not original:
                    for context in contexts:
                        assert path(context) == original(context), (r.name, path, html[:200])
                        compared += 1
    assert compared > 1000
    # as_written put them back
    assert any(isinstance(x, AttributePath) for xs in (r.paths for r in TRAFILATURA_PATHS) for x in xs)
    assert all(getattr(r.module, r.name) is r.paths for r in TRAFILATURA_PATHS)


def test_only_the_modules_given_get_the_evaluators():
    import types

    source = types.ModuleType("source")
    source.PATHS = [XPath("//*[@class='a']"), XPath("(//p)[1]")]
    source.PLAIN = [XPath("(//p)[1]")]
    user, other = types.ModuleType("user"), types.ModuleType("other")
    user.PATHS = user.PLAIN = other.PATHS = None
    user.PATHS, user.PLAIN, other.PATHS = source.PATHS, source.PLAIN, source.PATHS
    from archiver.cleaning.attrpaths import AttributePath, as_written, use_attribute_paths

    replaced = use_attribute_paths([user], source)
    assert [r.name for r in replaced] == ["PATHS"]
    assert isinstance(user.PATHS[0], AttributePath) and user.PATHS[1] is source.PATHS[1]  # positional: kept
    assert user.PLAIN is source.PLAIN and other.PATHS is source.PATHS  # nothing to gain / not asked
    with as_written(replaced):
        assert user.PATHS is source.PATHS
    assert isinstance(user.PATHS[0], AttributePath)


def test_a_whole_document_gets_xpaths_own_answer():
    tree = lxml.html.fromstring("<html><body><p class='a'>x</p></body></html>").getroottree()
    for source in ("//*[@class='a']", ".//*[@class='a']"):
        expression = XPath(source)
        assert attribute_path(expression)(tree) == expression(tree) and len(expression(tree)) == 1


def test_an_expression_it_cannot_read_at_all_is_left_alone_never_an_error():
    """Loading the cleaner gives trafilatura these evaluators; whatever a
    future trafilatura's expressions look like, reading them must not raise."""
    class Odd:
        path = None  # not even text

    assert attribute_path(Odd()) is None  # type: ignore[arg-type]


def test_an_element_that_surprises_the_evaluator_gets_xpaths_own_answer():
    class Surprising(lxml.html.HtmlElement):
        def get(self, key, default=None):  # an element class whose attributes cannot be read this way
            raise TypeError("no")

    parser = lxml.html.HTMLParser()
    parser.set_element_class_lookup(lxml.etree.ElementDefaultClassLookup(element=Surprising))
    root = lxml.html.fromstring("<html><body><p class='a'>x</p></body></html>", parser=parser)
    expression = XPath("//*[@class='a']")
    assert attribute_path(expression)(root) == expression(root) and len(expression(root)) == 1


FORM_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Council votes on the budget | Town News</title>
<meta name="author" content="Ana Reyes"><?xml-stylesheet href="x.css"?></head><body>
<!-- a comment the parser drops --><nav><a href="/">Home</a> &middot; <a href="/news">News</a></nav>
<article><h1>Council votes on the budget</h1><p class="byline">By Ana Reyes</p>
<p>The council voted on Tuesday to adopt a budget of &euro;4.2&nbsp;million, after a debate that ran past
midnight and drew residents from every ward of the town to the hall.</p>
<p>Members argued over the library's hours, the repair of the bridge on Mill Road and the cost of the new
school buses, and the vote was seven to four in the end.</p>
<form action="/search" method="get"><label for="q">Search the archive</label><input id="q" name="q" value="budget">
<select name="year"><option>2026</option><option selected>2025</option></select>
<textarea name="note">A note typed into the page</textarea><input type="checkbox" name="all" checked></form>
<p>The budget takes effect in January; the minutes of the meeting will be published next week.</p></article>
<form class="comment-form"><label>Your comment<textarea name="comment"></textarea></label><button>Send</button></form>
</body></html>"""


def test_trafilatura_parses_with_element_classes_chosen_in_c_and_gives_the_same_results():
    """Loading the cleaner gives trafilatura a copy of its parser whose every
    element is an HtmlElement chosen in C (lxml.html's own parser calls
    back into Python for each element Python touches). The cleaner and any
    other trafilatura call give what lxml.html's parser gives, on pages
    with forms, inputs, labels, selects, textareas, comments, processing
    instructions and entities; `as_written` puts the original back."""
    import lxml.html
    import trafilatura
    import trafilatura.utils

    import archiver
    from archiver.cleaning.attrpaths import as_written
    from archiver.cleaning.speedups import TRAFILATURA_CHANGES

    replaced = [r for r in TRAFILATURA_CHANGES if r.name == "HTML_PARSER"]
    assert len(replaced) == 1 and trafilatura.utils.HTML_PARSER is replaced[0].paths
    tree = trafilatura.utils.load_html(FORM_PAGE)
    assert {type(e) for e in tree.iter() if isinstance(e.tag, str)} == {lxml.html.HtmlElement}
    with as_written(TRAFILATURA_CHANGES):
        assert isinstance(trafilatura.utils.load_html(FORM_PAGE).find(".//form"), lxml.html.FormElement)
    url = "https://news.example.org/2026/a-story"
    snap = archiver.clean(FORM_PAGE, url=url)
    assert "seven to four" in snap.text and snap.title == "Council votes on the budget"
    for html in [FORM_PAGE, *_pages()]:
        ours = archiver.clean(html, url=url)
        with as_written(TRAFILATURA_CHANGES):
            theirs = archiver.clean(html, url=url)
        assert ours == theirs, html[:300]
        for options in ({"favor_precision": True}, {"with_metadata": True, "output_format": "json"}):
            ours_text = trafilatura.extract(html, **options)
            with as_written(TRAFILATURA_CHANGES):
                theirs_text = trafilatura.extract(html, **options)
            assert ours_text == theirs_text, (options, html[:300])
    assert trafilatura.utils.HTML_PARSER is replaced[0].paths


def test_speed_ups_apply_only_to_the_versions_they_were_checked_against(caplog):
    """Patched at import time without a version check, they would change a
    trafilatura or pdfminer they were not written for."""
    import logging

    from archiver.cleaning.speedups import CHECKED, supported

    assert supported("trafilatura")  # the installed one (pinned below 3 in pyproject.toml)
    assert supported("trafilatura", "2.0.0") and supported("trafilatura", "2.9.9")
    with caplog.at_level(logging.WARNING, logger="archiver.cleaning.speedups"):
        assert not supported("trafilatura", "3.0.0") and not supported("trafilatura", "1.12.2")
        assert not supported("pdfminer.six", "20301231")
    said = [r.getMessage() for r in caplog.records]
    assert any("trafilatura 3.0.0 is not a version" in m and "they are off" in m for m in said)
    assert supported("pdfminer.six", "20231228") and supported("pdfminer.six", "20260107")
    assert set(CHECKED) == {"trafilatura", "pdfminer.six"}
