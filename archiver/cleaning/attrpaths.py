"""Attribute-test XPath expressions, evaluated in one pass in Python.

trafilatura finds a page's article, author and boilerplate with XPath
expressions of one plain kind: every element whose tag is one of a few and
whose attributes pass string tests (`.//*[self::div or self::span][
@class='byline' or re:test(@id, 'author')]`). libxml2 evaluates each test on
each element as a node-set and calls back into Python for every regular
expression: ~1-2 ms an expression on a median page, a quarter of cleaning's
time. The same tests compiled into one Python function per expression cost
a third to a tenth of that.

`attribute_path` reads an expression's own source (nothing of trafilatura's
is copied here) and returns a callable that selects exactly what it does,
in document order, or None when the expression is not of that kind (the
caller keeps the XPath). What is understood: a union of `//*`, `//NAME`,
`.//*` or `.//NAME` paths, each with predicates made of `or`, `and`,
`not()`, parentheses, `self::NAME`, `@NAME` (present), `@NAME='text'`,
`NAME='text'` (a child element's string value), `.//NAME` (a descendant of
that tag exists), and `contains`, `starts-with` and `re:test` (EXSLT) of an
attribute, of `@A|@B` (the first present, in the element's order), or of
`translate(@A, 'from', 'to')`. None of these is positional, so a predicate
filters the same elements wherever it stands.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from lxml.etree import XPath

__all__ = ["AttributePath", "Replacement", "as_written", "attribute_path", "use_attribute_paths"]

EXSLT_REGEXP = "http://exslt.org/regular-expressions"

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'[^']*'|"[^"]*")
  | (?P<op>\.//|//|\||\[|\]|\(|\)|=|,|@|::)
  | (?P<name>[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)
  | (?P<star>\*)
)""", re.VERBOSE)


class _Unsupported(Exception):
    pass


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    source = source.strip()
    pos = 0
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


def _translation(source: str, target: str) -> dict[int, int | None]:
    """XPath's translate(): each character of `source` becomes the one at its
    place in `target`, or goes when `target` is shorter; the first wins."""
    table: dict[int, int | None] = {}
    for i, ch in enumerate(source):
        table.setdefault(ord(ch), ord(target[i]) if i < len(target) else None)
    return table


def _first_present(e: Any, names: tuple[str, ...]) -> str:
    """The value of the first of `names` the element has, in the element's
    own attribute order (a node-set's string value: its first node)."""
    for name, value in e.items():
        if name in names:
            return value
    return ""


def _child_text_is(e: Any, tag: str, text: str) -> bool:
    for child in e.iterchildren(tag):  # lxml picks the children of that tag
        if "".join(child.itertext()) == text:
            return True
    return False


def _has_descendant(e: Any, tag: str) -> bool:
    return next(e.iterdescendants(tag), None) is not None


class _Parser:
    """Reads the expression into one Python boolean expression over `e` (the
    element) and `tag` (its tag), with each attribute read once into a local.
    Every text, pattern and name of the expression becomes a constant
    (`self.names`); the source holds only operators and generated names."""

    def __init__(self, source: str, namespaces: dict[str, str]) -> None:
        self.tokens = _tokens(source)
        self.i = 0
        self.regex_prefixes = {p for p, uri in namespaces.items() if uri == EXSLT_REGEXP}
        self.names: dict[str, Any] = {}
        self.attributes: dict[str, str] = {}  # attribute name -> the local holding its value (None: absent)
        self.unions: dict[tuple[str, ...], str] = {}  # (names) -> the local holding the first one's value

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
    def union(self) -> list[tuple[bool, str, set[str] | None]]:
        """Each path: (from the document, not the context), its test, its tags (None: any)."""
        paths = [self.path()]
        while self.peek()[1] == "|":
            self.take("|")
            paths.append(self.path())
        if self.peek()[0] != "end":
            raise _Unsupported(f"unexpected {self.peek()[1]!r}")
        return paths

    # path := ('//' | './/') ('*' | NAME) ('[' or ']')*
    def path(self) -> tuple[bool, str, set[str] | None]:
        start = self.take(kind="op")
        if start not in ("//", ".//"):
            raise _Unsupported(start)
        kind, value = self.peek()
        tests: list[str] = []
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
        return start == "//", " and ".join(tests) or "True", tags

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
        return self._joined("or", self.and_expr)

    def and_expr(self) -> str:
        return self._joined("and", self.unary)

    def _joined(self, word: str, part: Callable[[], str]) -> str:
        """`part (word part)*`: Python's `or` and `and` bind as XPath's do."""
        parts = [part()]
        while self.peek() == ("name", word):
            self.take()
            parts.append(part())
        return f" {word} ".join(parts)

    def unary(self) -> str:
        kind, value = self.peek()
        if value == "(":
            self.take("(")
            inner = self.or_expr()
            self.take(")")
            return f"({inner})"
        if value == "@":
            self.take("@")
            local = self._attribute()
            if self.peek()[1] != "=":
                return f"{local} is not None"  # present, whatever its value
            self.take("=")
            # An absent attribute (None) equals no text, not even "".
            return f"{local} == {self.constant(self._string())}"
        if value == ".//":
            self.take(".//")
            name = self.take(kind="name")
            if self.peek()[1] in ("[", "(", "::", "=", "//", ".//"):
                raise _Unsupported(name)
            return f"_has_descendant(e, {self.constant(name)})"
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
        value = self._string_argument()
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
            flags = 0
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

    def _string_argument(self) -> str:
        """An attribute, a union of attributes or translate() of one, as a
        string (an absent attribute reads as "", an empty node-set's value)."""
        if self.peek() == ("name", "translate") and self.peek(1)[1] == "(":
            self.take()
            self.take("(")
            value = self._string_argument()
            self.take(",")
            source = self._string()
            self.take(",")
            target = self._string()
            self.take(")")
            return f"{value}.translate({self.constant(_translation(source, target))})"
        self.take("@")
        locals_ = [self._attribute()]
        names = [self.tokens[self.i - 1][1]]
        while self.peek()[1] == "|":
            self.take("|")
            self.take("@")
            locals_.append(self._attribute())
            names.append(self.tokens[self.i - 1][1])
        if len(locals_) == 1:
            return f"({locals_[0]} or '')"
        key = tuple(names)
        if key not in self.unions:
            self.unions[key] = f"_u{len(self.unions)}"
        return self.unions[key]

    def _attribute(self) -> str:
        """The local that holds the attribute's value (None when absent)."""
        name = self.take(kind="name")
        if ":" in name:
            raise _Unsupported(name)  # namespaced attributes: leave to libxml2
        return self.attributes.setdefault(name, f"_a{len(self.attributes)}")

    def _string(self) -> str:
        return self.take(kind="string")[1:-1]

    def source(self, body: str) -> str:
        """The test as a function's source: each attribute read once."""
        lines = ["def _test(e, root):", "    tag = e.tag", "    get = e.get"]
        lines += [f"    {local} = get({self.constant(name)})" for name, local in self.attributes.items()]
        for names, local in self.unions.items():
            values = [self.attributes[n] for n in names]
            # Only when two or more are present does their order matter.
            lines.append(f"    {local} = ({' or '.join(values)} or '') if ({' is not None) + ('.join(values)}"
                         f" is not None) < 2 else _first_present(e, {self.constant(names)})")
        lines.append(f"    return {body}")
        return "\n".join(lines)


class AttributePath:
    """One parsed expression: call it on an element, as an XPath object is."""

    def __init__(self, expression: XPath, test: Callable[[Any, Any], bool], tags: set[str] | None,
                 kinds: set[bool]) -> None:
        self.expression = expression
        self.path = expression.path
        self._test = test
        self._tags = tuple(sorted(tags)) if tags is not None else None
        self._kinds = kinds  # True: a path from the document ("//"); False: from the context (".//")

    def __call__(self, context: Any) -> list[Any]:
        test, tags = self._test, self._tags
        if not hasattr(context, "iterdescendants"):
            return self.expression(context)  # a whole ElementTree, a document: XPath's own answer
        if self._kinds == {False}:
            elements = context.iterdescendants(*tags) if tags else context.iterdescendants()
            root = context
        else:
            root = context.getroottree().getroot()
            if self._kinds == {True, False} and context is not root:
                return self.expression(context)  # both kinds, below the root: XPath's own answer
            elements = root.iter(*tags) if tags else root.iter()
        try:
            if tags:  # lxml picks the elements of those tags, in document order
                return [e for e in elements if test(e, root)]
            # Comments and processing instructions have a function as their tag: not elements.
            return [e for e in elements if isinstance(e.tag, str) and test(e, root)]
        except Exception as exc:  # never seen; if a tree surprises it, libxml2 answers instead
            log.debug("%r: %s: %s; evaluated by libxml2", self, type(exc).__name__, exc)
            return self.expression(context)

    def __repr__(self) -> str:
        return f"AttributePath({' '.join(self.path.split())!r})"


def attribute_path(expression: XPath, namespaces: dict[str, str] | None = None) -> AttributePath | None:
    """`expression` evaluated in Python, or None when it is not made only of
    attribute tests (see the module's description). `namespaces`: the
    prefixes it was compiled with (default: `re` for EXSLT regular expressions)."""
    try:
        return _compile(expression, namespaces or {"re": EXSLT_REGEXP})
    except (_Unsupported, re.error):
        return None
    except Exception as exc:  # a speed-up must never stop the cleaner from loading
        log.debug("XPath expression left to libxml2, not read here (%s: %s): %s",
                    type(exc).__name__, exc, " ".join(str(getattr(expression, "path", "?")).split())[:200])
        return None


def _compile(expression: XPath, namespaces: dict[str, str]) -> AttributePath:
    parser = _Parser(expression.path, namespaces)
    paths = parser.union()
    kinds = {from_document for from_document, _, _ in paths}
    tests = []
    for from_document, test, _ in paths:
        # In a union of both kinds (evaluated from the root only), './/'
        # leaves the root itself out.
        tests.append(f"({test})" if from_document or len(kinds) == 1 else f"(e is not root and {test})")
    tags: set[str] | None = set()
    for _, _, path_tags in paths:
        tags = None if tags is None or path_tags is None else tags | path_tags
    source = parser.source(" or ".join(tests))  # before the names: it adds some
    namespace: dict[str, Any] = {"_child_text_is": _child_text_is, "_has_descendant": _has_descendant,
                                 "_first_present": _first_present, **parser.names}
    exec(compile(source, "<attribute path>", "exec"), namespace)
    return AttributePath(expression, namespace["_test"], tags, kinds)


@dataclass(frozen=True)
class Replacement:
    """A module's value (a list of expressions, a parser) and what took its place."""

    module: ModuleType
    name: str
    original: Any
    paths: Any


def use_attribute_paths(modules: list[ModuleType], source: ModuleType) -> list[Replacement]:
    """In each of `modules`, every list of XPath expressions it took from
    `source` becomes a list of the same expressions evaluated here where they
    are of this kind (the others stay XPath). `source` itself is left as it
    is. Returns what was replaced (for `as_written`)."""
    replaced: list[Replacement] = []
    for name, value in vars(source).items():
        if not (isinstance(value, list) and value and all(isinstance(x, XPath) for x in value)):
            continue
        paths = [attribute_path(x) or x for x in value]
        if all(p is x for p, x in zip(paths, value)):
            continue  # nothing of this kind in the list
        for module in modules:
            if getattr(module, name, None) is value:
                setattr(module, name, paths)
                replaced.append(Replacement(module, name, value, paths))
    return replaced


@contextlib.contextmanager
def as_written(replaced: list[Replacement]) -> Iterator[None]:
    """For the block, the modules get back what was replaced: their
    expressions evaluated by libxml2 as they were written, their parser (a
    benchmark's peer, a test's reference)."""
    for r in replaced:
        setattr(r.module, r.name, r.original)
    try:
        yield
    finally:
        for r in replaced:
            setattr(r.module, r.name, r.paths)
