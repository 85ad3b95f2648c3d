"""Speed-ups that change other libraries, in one place: trafilatura's
XPath expressions evaluated by attrpaths, its HTML parser choosing element
classes in C, and pdfminer's inflater of damaged streams made linear.

Each replaces a module global of the library for the whole process, gives
the same results (tests/test_attrpaths.py and tests/test_documents.py
compare), and is applied only on the versions it was checked against: on
another it stays off, with one warning, and cleaning is only slower.
`attrpaths.as_written(TRAFILATURA_CHANGES)` puts trafilatura back as it
comes, for a peer measured beside archiver (bench/).
"""

from __future__ import annotations

import functools
import logging
import re
from importlib import metadata
from types import ModuleType
from typing import Any

import lxml.html
import trafilatura.core
import trafilatura.external
import trafilatura.main_extractor
import trafilatura.metadata
import trafilatura.utils
import trafilatura.xpaths
from lxml import etree

from .attrpaths import Replacement, use_attribute_paths

__all__ = ["CHECKED", "PDFMINERS_OWN", "TRAFILATURA_CHANGES", "TRAFILATURA_PATHS", "mend_pdfminer", "supported"]

log = logging.getLogger(__name__)

# The versions each speed-up was checked against: [from, below).
CHECKED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "trafilatura": ((2, 0), (3,)),
    "pdfminer.six": ((20231228,), (20280101,)),
}


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version.split("+")[0])[:3])


def supported(distribution: str, version: str | None = None) -> bool:
    """Whether the speed-ups for `distribution` apply to `version` (default:
    the installed one); warns once when they do not."""
    try:
        version = version or metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    low, high = CHECKED[distribution]
    if low <= _numbers(version) < high:
        return True
    _warn_once(distribution, version)
    return False


@functools.cache
def _warn_once(distribution: str, version: str) -> None:
    low, high = CHECKED[distribution]
    log.warning("%s %s is not a version archiver's speed-ups were checked against (%s to before %s): they are off,"
                " and cleaning is slower but the same", distribution, version,
                ".".join(map(str, low)), ".".join(map(str, high)))


def _parser_choosing_classes_in_c(module: ModuleType, name: str) -> Replacement | None:
    """lxml.html's parser picks the Python class of each element by calling
    back into Python each time Python code takes hold of an element: ~1,800
    calls a page. Its special classes (forms, inputs, labels ...) only add
    helpers trafilatura never calls. `module.name` becomes a copy of that
    parser (same options) whose every element is an `HtmlElement`, chosen
    in C: the same trees and text, cleaning ~3% faster."""
    original = getattr(module, name, None)
    if not isinstance(original, lxml.html.HTMLParser):
        return None  # another trafilatura: left as it is
    parser = original.copy()
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment, pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity))
    setattr(module, name, parser)
    return Replacement(module, name, original, parser)


def _trafilatura() -> tuple[list[Replacement], list[Replacement]]:
    if not supported("trafilatura"):
        return [], []
    # Attribute tests in XPath, which libxml2 evaluates slowly (a node-set per
    # test per element, a call into Python per regular expression): the same
    # elements from attrpaths, in a third of the time.
    paths = use_attribute_paths(
        [trafilatura.core, trafilatura.external, trafilatura.main_extractor, trafilatura.metadata],
        trafilatura.xpaths)
    parser = _parser_choosing_classes_in_c(trafilatura.utils, "HTML_PARSER")
    return paths, [*paths, *([parser] if parser else [])]


TRAFILATURA_PATHS, TRAFILATURA_CHANGES = _trafilatura()

PDFMINERS_OWN: dict[str, Any] = {}  # what `mend_pdfminer` replaced (the tests compare)


@functools.cache
def mend_pdfminer() -> bool:
    """Give pdfminer the linear `documents._inflate_damaged` (the same
    results), once, on a checked version; whether it was given."""
    if not supported("pdfminer.six"):
        return False
    import pdfminer.pdftypes

    from .documents import _inflate_damaged

    own = getattr(pdfminer.pdftypes, "decompress_corrupted", None)
    if not callable(own):
        return False
    PDFMINERS_OWN["decompress_corrupted"] = own
    pdfminer.pdftypes.decompress_corrupted = _inflate_damaged
    return True
