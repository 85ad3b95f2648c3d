"""Site rule files: TOML, loaded and validated into a `RuleSet`.

    rules/default.toml          applies to every page
    rules/<site>.toml           applies where [match] says, on top of the default

A rule file (every section optional; unknown keys are errors):

    [match]
    domains = ["example.org"]            # subdomains included
    paths = ["^/news/"]                  # regexes on the URL path; any may match
    [remove]
    selectors = [".share", "nav"]        # CSS, dropped before extraction
    [content]
    main = "article .body"               # where the article lives (first match)
    title_suffix = " | Example News"     # cut from the end of the title
    authors = ".byline .name"            # where the authors are, if the extractor misses them
    published = "time.published"         # where the date is (datetime attribute or text)
    [error]                              # signs that the page is an error stub
    title = ['^Error\\b']                # regexes on <title>
    text = ["The website encountered an unexpected error"]  # regexes on the text
    selectors = [".error-page"]          # an element that only error pages have
    [wall]                               # signs of a bot wall or challenge (verdict: blocked)
    title = ["^Just a moment"]
    text = ["Checking your browser"]
    [fetch]
    browser = true                       # load its pages in Chromium (they need JavaScript)
    [auth]
    credentials = "members"              # fetch its pages with this credential set (credentials.toml)

A site rule's title or selector sign is decisive; text signs, and the default
rule's signs, make a page a stub only when little article text is left.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from ..config import CleanOptions
from ..errors import RuleError
from ..urls import host_of

__all__ = ["Rule", "RuleSet", "builtin_rules_dir", "check_rules", "load_rules", "rule_dirs", "rules_for"]

DEFAULT_NAME = "default"
RULES_ENV = "ARCHIVER_RULES"


def builtin_rules_dir() -> Path:
    """The rule files shipped with archiver: package data in an installed
    archiver (`archiver/builtin_rules/`), the `rules/` folder of a source
    checkout (an editable install)."""
    installed = Path(str(importlib.resources.files("archiver"))) / "builtin_rules"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "rules"


def rule_dirs(extra: str | Path | None = None) -> list[Path]:
    """Where rule files come from, later folders winning: the built-in rules,
    then each folder of `$ARCHIVER_RULES` (separated like PATH), then
    `extra` (`--rules DIR`). A file overrides an earlier one of the same name
    (a `default.toml` replaces the built-in default); others add to them."""
    dirs = [builtin_rules_dir()]
    dirs += [Path(p) for p in os.environ.get(RULES_ENV, "").split(os.pathsep) if p]
    if extra:
        dirs.append(Path(extra))
    return dirs

_SCHEMA: dict[str, dict[str, type]] = {
    "match": {"domains": list, "paths": list},
    "remove": {"selectors": list},
    "content": {"main": str, "title_suffix": str, "authors": str, "published": str},
    "error": {"title": list, "text": list, "selectors": list},
    "wall": {"title": list, "text": list},
    "about": {"description": str, "site": str},
    "fetch": {"browser": bool},
    "auth": {"credentials": str},
}
_PROBE = LexborHTMLParser("<html><body><p>probe</p></body></html>")


_GROUP = re.compile(r"\((?:[^()\\]|\\.)*\)[?*+]?|\[(?:[^\]\\]|\\.)*\][?*+]?|\{\d*,?\d*\}")
_OPTIONAL = re.compile(r"(?:\\.|.)[?*]")
_ESCAPE = re.compile(r"\\.")


def literal_hint(pattern: str) -> str | None:
    """The longest run of plain words that any match of `pattern` must
    contain, lowercased; None when there is no such run to rely on. Lets a
    page skip a slow case-insensitive regex with one fast substring test."""
    if "|" in _GROUP.sub("", pattern) or "(?" in pattern:
        return None  # top-level alternation or inline flags: no single literal
    bare = pattern
    for _ in range(3):  # nested groups come off layer by layer
        bare = _GROUP.sub("\x00", bare)
    bare = _OPTIONAL.sub("\x00", bare)
    bare = _ESCAPE.sub("\x00", bare)
    bare = re.sub(r"[\^$.+*?]", "\x00", bare)
    runs = [r.strip() for r in bare.split("\x00")]
    runs = [r for r in runs if len(r) >= 4 and re.search(r"[A-Za-z]", r)]
    if not runs:
        return None
    return max(runs, key=len).lower()


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One rule file, validated."""

    name: str
    path: str
    domains: tuple[str, ...] = ()
    paths: tuple[re.Pattern[str], ...] = ()
    remove: tuple[str, ...] = ()
    main: str | None = None
    title_suffix: str | None = None
    error_title: tuple[re.Pattern[str], ...] = ()
    error_text: tuple[re.Pattern[str], ...] = ()
    error_selectors: tuple[str, ...] = ()
    wall_title: tuple[re.Pattern[str], ...] = ()
    wall_text: tuple[re.Pattern[str], ...] = ()
    authors: str | None = None
    published: str | None = None
    browser: bool = False  # [fetch] browser: its pages are loaded in Chromium
    credentials: str | None = None  # [auth] credentials: the credential set its pages are fetched with (by name)

    @cached_property
    def remove_group(self) -> str:
        """All remove selectors as one selector list: one query, not fifty."""
        return ", ".join(self.remove)

    @cached_property
    def text_hints(self) -> dict[str, str | None]:
        """pattern -> a lowercase phrase every match must contain (or None)."""
        return {p.pattern: literal_hint(p.pattern) for p in (*self.error_text, *self.wall_text)}

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NAME

    def matches(self, url: str | None) -> bool:
        if self.is_default:
            return True
        if not url:
            return False
        parts = urlsplit(url)
        host = host_of(url) or ""
        if self.domains and not any(host == d or host.endswith("." + d) for d in self.domains):
            return False
        if self.paths and not any(p.search(parts.path or "/") for p in self.paths):
            return False
        return bool(self.domains or self.paths)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def for_url(self, url: str | None) -> list[Rule]:
        """The default rule first, then every site rule that claims the URL."""
        return [r for r in self.rules if r.matches(url)]

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


def _strings(path: str, key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError("must be a list of strings", path=path, key=key)
    return value


def _selector(path: str, key: str, selector: str) -> str:
    if not selector.strip():
        raise RuleError("empty CSS selector", path=path, key=key)
    try:
        _PROBE.css(selector)
    except Exception as exc:  # selectolax raises ValueError or SelectolaxError
        raise RuleError(f"bad CSS selector {selector!r}: {exc}", path=path, key=key) from None
    return selector


def _regex(path: str, key: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.I)
    except re.error as exc:
        raise RuleError(f"bad regular expression {pattern!r}: {exc}", path=path, key=key) from None


def parse_rule(data: dict[str, object], *, name: str, path: str) -> Rule:
    for section, value in data.items():
        if section not in _SCHEMA:
            raise RuleError(f"unknown section [{section}] (known: {', '.join(_SCHEMA)})", path=path, key=section)
        if not isinstance(value, dict):
            raise RuleError("must be a table", path=path, key=section)
        for key, item in value.items():
            allowed = _SCHEMA[section]
            if key not in allowed:
                raise RuleError(f"unknown key (known in [{section}]: {', '.join(allowed)})", path=path, key=f"{section}.{key}")
            if not isinstance(item, allowed[key]):
                kind = {list: "a list of strings", bool: "true or false"}.get(allowed[key], "a string")
                raise RuleError(f"must be {kind}", path=path, key=f"{section}.{key}")

    def get(section: str, key: str) -> list[str]:
        value = data.get(section, {}).get(key, [])  # type: ignore[union-attr]
        return _strings(path, f"{section}.{key}", value)

    content = data.get("content", {})
    assert isinstance(content, dict)
    domains = [d.lower().strip().lstrip(".") for d in get("match", "domains")]
    for d in domains:
        if not d or "/" in d or " " in d:
            raise RuleError(f"bad domain {d!r} (a host name such as 'example.org')", path=path, key="match.domains")
    for key in ("main", "authors", "published"):
        if content.get(key) is not None:
            _selector(path, f"content.{key}", content[key])
    main = content.get("main")
    rule = Rule(
        name=name,
        path=path,
        domains=tuple(domains),
        paths=tuple(_regex(path, "match.paths", p) for p in get("match", "paths")),
        remove=tuple(_selector(path, "remove.selectors", s) for s in get("remove", "selectors")),
        main=main,
        title_suffix=content.get("title_suffix"),
        error_title=tuple(_regex(path, "error.title", p) for p in get("error", "title")),
        error_text=tuple(_regex(path, "error.text", p) for p in get("error", "text")),
        error_selectors=tuple(_selector(path, "error.selectors", s) for s in get("error", "selectors")),
        wall_title=tuple(_regex(path, "wall.title", p) for p in get("wall", "title")),
        wall_text=tuple(_regex(path, "wall.text", p) for p in get("wall", "text")),
        authors=content.get("authors"),
        published=content.get("published"),
        browser=bool(data.get("fetch", {}).get("browser", False)),  # type: ignore[union-attr]
        credentials=data.get("auth", {}).get("credentials"),  # type: ignore[union-attr]
    )
    if not rule.is_default and not (rule.domains or rule.paths):
        raise RuleError("a site rule needs [match] domains or paths", path=path, key="match")
    return rule


def load_rule_file(path: Path) -> Rule:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except UnicodeDecodeError:
        raise RuleError("not UTF-8 text", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"not valid TOML: {exc}", path=str(path)) from None
    return parse_rule(data, name=path.stem, path=str(path))


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise RuleError("no such rules folder", path=str(directory))
    return sorted(directory.glob("*.toml"))


def _layered(extra: str | Path | None) -> list[Path]:
    chosen: dict[str, Path] = {}
    for directory in rule_dirs(extra):
        for path in _files(directory):
            chosen[path.stem] = path
    return list(chosen.values())


def load_rules(extra: str | Path | None = None) -> RuleSet:
    """The rules in force: built-in, `$ARCHIVER_RULES`, then `extra`;
    raises RuleError on the first invalid file."""
    rules = [load_rule_file(p) for p in _layered(extra)]
    rules.sort(key=lambda r: (not r.is_default, r.name))
    return RuleSet(tuple(rules))


@lru_cache(maxsize=8)
def _ruleset(directory: str | None, env: str) -> RuleSet:
    return load_rules(directory)


def rules_for(url: str | None, options: CleanOptions) -> list[Rule]:
    """The rules that apply to `url` (the default rule first), loaded once a process."""
    if not options.use_rules:
        return []
    return _ruleset(options.rules_dir, os.environ.get(RULES_ENV, "")).for_url(url)


def check_rules(directory: str | Path | None = None) -> tuple[list[Rule], list[RuleError]]:
    """Validate every file of `directory` (default: every rule file in
    force), collecting every error rather than stopping."""
    paths = _files(Path(directory)) if directory else _layered(None)
    good: list[Rule] = []
    bad: list[RuleError] = []
    for path in paths:
        try:
            good.append(load_rule_file(path))
        except RuleError as exc:
            bad.append(exc)
    return good, bad
