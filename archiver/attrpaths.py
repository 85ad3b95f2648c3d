"""Attribute-test XPath expressions, evaluated in one pass in Python.

trafilatura finds a page's author with XPath expressions of one plain
kind: every element whose tag is one of a few and whose attributes pass
string tests (`//*[self::div or self::span][@class='byline' or
re:test(@id, 'author')]`). libxml2 evaluates each test on each element as
a node-set and calls back into Python for every regular expression: ~1.7 ms
an expression on a median page, ~5 ms a page for the author alone (a tenth
of cleaning). The same tests as Python functions over the elements cost a
fraction of that.

`attribute_path` reads an expression's own source (nothing of trafilatura's
is copied here) and returns a callable that selects exactly what it does,
in document order, or None when the expression is not of that kind (the
caller then keeps the XPath). What is understood: a union of `//*`, `//NAME`
or `.//*` paths evaluated from a document's root element, each with
predicates made of `or`, `and`, `not()`, parentheses, `self::NAME`,
`@NAME='text'`, `NAME='text'` (a child element's text), and
`contains`/`starts-with`/`re:test` of one attribute. None of these can be
positional, so a predicate filters the same elements wherever it stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml.etree import XPath

__all__ = ["AttributePath", "attribute_path"]

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'[^']*'|"[^"]*")
  | (?P<op>//|\.//|\||\[|\]|\(|\)|=|,|@|::)
  | (?P<name>[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)
  | (?P<star>\*)
)""", re.VERBOSE)


class _Unsupported(Exception):
    pass


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    source = source.strip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            raise _Unsupported(source[pos:pos + 20])
        kind = m.lastgroup or ""
        out.append((kind, m[kind]))
        pos = m.end()
        while pos < len(source) and source[pos].isspace():
            pos += 1
    return out


class _Parser:
    """Reads the expression into one Python boolean expression over `e` (the
    element), `tag` (its tag) and `get` (its attribute getter); regular
    expressions and texts go in `self.names`, never into the source."""

    def __init__(self, source: str, namespaces: dict[str, str]) -> None:
        self.tokens = _tokens(source)
        self.i = 0
        self.regex_prefixes = {p for p, uri in namespaces.items() if uri == "http://exslt.org/regular-expressions"}
        self.names: dict[str, Any] = {}
        self.attributes: dict[str, str] = {}  # attribute name -> the local holding its value

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind):
            raise _Unsupported(f"expected {value or kind}, found {v!r}")
        self.i += 1
        return v

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.names)}"
        self.names[name] = value
        return name

    # union := path ('|' path)*
    def union(self) -> tuple[str, set[str] | None]:
        """The test, and the tags an element must have to pass it (None: any)."""
        paths = [self.path()]
        while self.peek()[1] == "|":
            self.take("|")
            paths.append(self.path())
        if self.peek()[0] != "end":
            raise _Unsupported(f"unexpected {self.peek()[1]!r}")
        tags: set[str] | None = set()
        for _, path_tags in paths:
            tags = None if tags is None or path_tags is None else tags | path_tags
        return " or ".join(f"({test})" for test, _ in paths), tags

    # path := ('//' | './/') ('*' | NAME) ('[' or ']')*
    def path(self) -> tuple[str, set[str] | None]:
        start = self.take(kind="op")
        if start not in ("//", ".//"):
            raise _Unsupported(start)
        kind, value = self.peek()
        tests = [] if start == "//" else ["e is not root"]  # './/' from the root: its descendants
        tags: set[str] | None = None
        if kind == "star":
            self.take()
            tags = self._self_tags()
        elif kind == "name" and self.peek(1)[1] not in ("(", "::"):
            tags = {self.peek()[1]}
            tests.append(f"tag == {self.constant(self.take())}")
        else:
            raise _Unsupported(value)
        while self.peek()[1] == "[":
            self.take("[")
            tests.append(f"({self.or_expr()})")
            self.take("]")
        return " and ".join(tests) or "True", tags

    def _self_tags(self) -> set[str] | None:
        """The tags of a first predicate that is only `self::A or self::B ...`."""
        tags: set[str] = set()
        j = 1
        if self.peek()[1] != "[":
            return None
        while self.peek(j) == ("name", "self") and self.peek(j + 1)[1] == "::" and self.peek(j + 2)[0] == "name":
            tags.add(self.peek(j + 2)[1])
            if self.peek(j + 3)[1] == "]":
                return tags
            if self.peek(j + 3) != ("name", "or"):
                return None
            j += 4
        return None

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.peek() == ("name", "or"):
            self.take()
            parts.append(self.and_expr())
        return " or ".join(parts)

    def and_expr(self) -> str:
        parts = [self.unary()]
        while self.peek() == ("name", "and"):
            self.take()
            parts.append(self.unary())
        return " and ".join(parts)

    def unary(self) -> str:
        kind, value = self.peek()
        if value == "(":
            self.take("(")
            inner = self.or_expr()
            self.take(")")
            return f"({inner})"
        if value == "@":
            self.take("@")
            value = self._attribute()
            self.take("=")
            # An absent attribute (None) equals no text, not even "".
            return f"{value} == {self.constant(self._string())}"
        if kind != "name":
            raise _Unsupported(value)
        if value == "self" and self.peek(1)[1] == "::":
            self.take()
            self.take("::")
            return f"tag == {self.constant(self.take(kind='name'))}"
        if self.peek(1)[1] == "(":
            return self._function(self.take())
        if self.peek(1)[1] == "=":
            tag = self.constant(self.take())
            self.take("=")
            # Some child element of that name whose string value is the text.
            return f"_child_text_is(e, {tag}, {self.constant(self._string())})"
        raise _Unsupported(value)

    def _function(self, name: str) -> str:
        self.take("(")
        if name == "not":
            inner = self.or_expr()
            self.take(")")
            return f"not ({inner})"
        self.take("@")
        # An absent attribute reads as "" (an empty node-set's string value).
        value = f"({self._attribute()} or '')"
        self.take(",")
        text = self._string()
        if name == "contains":
            self.take(")")
            return f"{self.constant(text)} in {value}"
        if name == "starts-with":
            self.take(")")
            return f"{value}.startswith({self.constant(text)})"
        prefix, _, local = name.partition(":")
        if local == "test" and prefix in self.regex_prefixes:
            flags = re.UNICODE
            if self.peek()[1] == ",":
                self.take(",")
                given = self._string()
                if set(given) - {"i", "g"}:
                    raise _Unsupported(given)
                if "i" in given:
                    flags |= re.IGNORECASE
            self.take(")")
            return f"{self.constant(re.compile(text, flags).search)}({value}) is not None"
        raise _Unsupported(name)

    def _attribute(self) -> str:
        """The local that holds the attribute's value (None when absent)."""
        name = self.take(kind="name")
        if ":" in name:
            raise _Unsupported(name)  # namespaced attributes: leave to libxml2
        return self.attributes.setdefault(name, f"_a{len(self.attributes)}")

    def source(self, body: str) -> str:
        """The test as a function's source: each attribute read once."""
        lines = ["def _test(e, root):", "    tag = e.tag", "    get = e.get"]
        lines += [f"    {local} = get({self.constant(name)})" for name, local in self.attributes.items()]
        lines.append(f"    return {body}")
        return "\n".join(lines)

    def _string(self) -> str:
        return self.take(kind="string")[1:-1]


def _child_text_is(e: Any, tag: str, text: str) -> bool:
    for child in e.iterchildren(tag):  # lxml picks the children of that tag
        if "".join(child.itertext()) == text:
            return True
    return False


class AttributePath:
    """One parsed expression: call it on a document's root element."""

    def __init__(self, expression: XPath, test: Callable[[Any, Any], bool], tags: set[str] | None) -> None:
        self.expression = expression
        self.path = expression.path
        self._test = test
        self._tags = tuple(sorted(tags)) if tags is not None else None

    def __call__(self, root: Any) -> list[Any]:
        if root.getparent() is not None:
            return self.expression(root)  # not a document's root element: XPath's own answer
        test = self._test
        if self._tags is not None:  # lxml picks the elements of those tags, in document order
            return [e for e in root.iter(*self._tags) if test(e, root)]
        # Comments and processing instructions have a function as their tag: not elements.
        return [e for e in root.iter() if isinstance(e.tag, str) and test(e, root)]

    def __repr__(self) -> str:
        return f"AttributePath({self.path.strip()!r})"


def attribute_path(expression: XPath, namespaces: dict[str, str] | None = None) -> AttributePath | None:
    """`expression` evaluated in Python, or None when it is not made only of
    attribute tests (see the module's description)."""
    try:
        parser = _Parser(expression.path, namespaces or {"re": "http://exslt.org/regular-expressions"})
        body, tags = parser.union()
    except (_Unsupported, re.error):
        return None
    # The source holds only operators, the names e/tag/get/root and the
    # parser's own constant names: every text of the expression is a constant.
    namespace: dict[str, Any] = {"_child_text_is": _child_text_is}
    source = parser.source(body)
    exec(compile(source, "<attribute path>", "exec"), {**namespace, **parser.names}, namespace)
    test = namespace["_test"]
    return AttributePath(expression, test, tags)
