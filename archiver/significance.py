"""When a text that differs from the last one is a change of the article.

A second capture whose clean text differs from the current one is `changed`
only when what differs counts. Compared line by line (a line is a paragraph
or a list item of the snapshot text), these do not count:
- lines of the site's template: found on `TEMPLATE_PAGES` or more other pages
  of the same site in the archive;
- lines that came back: an added line that an earlier snapshot of the page
  had, and a removed line that had come and gone before (a rotating list);
  a line every earlier snapshot had and that is now gone does count;
- lines a watch or the command line says to ignore (`--ignore`);
- a change of order only (every line still there).
What is left is then held to `--min-words` and `--trigger`. The WARC keeps
every byte and the snapshot its text whatever is decided here: only the
verdict, and what follows from it (a feed entry, a notification), depend on it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cleaning.normalize import fold
from .errors import ConfigError

__all__ = ["TEMPLATE_PAGES", "HISTORY_TEXTS", "LinePattern", "ChangeRules", "Significance", "line_key", "text_lines",
           "line_keys", "judge_change"]

TEMPLATE_PAGES = 3  # other pages of the site holding a line make it the site's template
HISTORY_TEXTS = 50  # earlier distinct texts of a page looked back at for lines that came back
MAX_PATTERNS = 50
MAX_PATTERN_CHARS = 500

_SPACE = re.compile(r"\s+")


def _norm(line: str) -> str:
    return _SPACE.sub(" ", fold(line)).strip()


def text_lines(text: str) -> list[str]:
    """The lines of a snapshot text that a verdict compares: paragraphs and
    list items, spacing normalised, empty ones left out."""
    return [n for n in (_norm(line) for line in text.splitlines()) if n]


def line_key(line: str) -> int:
    """A line's key in the catalog: 64 bits of its BLAKE2b digest, signed (an SQLite integer)."""
    digest = hashlib.blake2b(_norm(line).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def line_keys(text: str) -> frozenset[int]:
    return frozenset(line_key(line) for line in text_lines(text))


@dataclass(frozen=True)
class LinePattern:
    """`TEXT` (found anywhere in a line, case ignored) or `/REGEX/` (searched
    for in a line; `/REGEX/i` ignores case)."""

    source: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    text: str = field(default="", compare=False, repr=False)

    @classmethod
    def parse(cls, source: str, *, option: str = "--ignore") -> LinePattern:
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{option}: an empty pattern matches every line; give a text or /REGEX/")
        if len(source) > MAX_PATTERN_CHARS:
            raise ConfigError(f"{option}: a pattern is at most {MAX_PATTERN_CHARS} characters")
        m = re.fullmatch(r"/(.+)/(i?)", source, re.DOTALL)
        if m:
            try:
                regex = re.compile(m.group(1), re.IGNORECASE if m.group(2) else 0)
            except re.error as exc:
                raise ConfigError(f"{option} {source!r}: not a regular expression ({exc})") from None
            return cls(source, regex=regex)
        return cls(source, text=_norm(source).casefold())

    def matches(self, line: str) -> bool:
        if self.regex is not None:
            return self.regex.search(line) is not None
        return self.text in line.casefold()


@dataclass(frozen=True)
class ChangeRules:
    """What a watch (or a capture's command line) says about its verdicts."""

    ignore: tuple[LinePattern, ...] = ()
    trigger: tuple[LinePattern, ...] = ()
    min_words: int = 0

    @classmethod
    def make(cls, ignore: Iterable[str] = (), trigger: Iterable[str] = (), min_words: int | None = 0) -> ChangeRules:
        ignore, trigger = list(ignore), list(trigger)
        if len(ignore) > MAX_PATTERNS or len(trigger) > MAX_PATTERNS:
            raise ConfigError(f"at most {MAX_PATTERNS} --ignore and {MAX_PATTERNS} --trigger patterns")
        if min_words is not None and (isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 0):
            raise ConfigError("--min-words: a whole number of words, 0 or more")
        return cls(ignore=tuple(LinePattern.parse(p, option="--ignore") for p in ignore),
                   trigger=tuple(LinePattern.parse(p, option="--trigger") for p in trigger),
                   min_words=min_words or 0)

    def __bool__(self) -> bool:
        return bool(self.ignore or self.trigger or self.min_words)

    def merged(self, other: ChangeRules | None) -> ChangeRules:
        """These rules and another's (a watch's and the command line's): both ignore lists, both triggers."""
        if not other:
            return self
        return ChangeRules(ignore=self.ignore + other.ignore, trigger=self.trigger + other.trigger,
                           min_words=max(self.min_words, other.min_words))

    def to_json(self) -> dict[str, Any]:
        return {"ignore": [p.source for p in self.ignore], "trigger": [p.source for p in self.trigger],
                "min_words": self.min_words}

    @classmethod
    def from_json(cls, data: Any) -> ChangeRules:
        """Rules as `to_json` wrote them (a watch row, watches.json, the API); ConfigError when they are not."""
        if data in (None, "", {}):
            return cls()
        if not isinstance(data, dict):
            raise ConfigError("change rules: a JSON object with ignore, trigger, min_words")
        ignore, trigger = data.get("ignore") or [], data.get("trigger") or []
        ignore, trigger = ([x] if isinstance(x, str) else x for x in (ignore, trigger))
        if not isinstance(ignore, list) or not isinstance(trigger, list):
            raise ConfigError("change rules: ignore and trigger are lists of patterns")
        return cls.make(ignore, trigger, data.get("min_words") or 0)


@dataclass(frozen=True)
class Significance:
    """What a differing text amounts to."""

    changed: bool
    reason: str | None  # why it is not a change (or what was left out of one)
    added: tuple[str, ...] = ()  # the lines that count
    removed: tuple[str, ...] = ()


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def judge_change(old_text: str, new_text: str, *, earlier: Sequence[frozenset[int]] = (),
                 template: Callable[[set[int]], set[int]] | None = None,
                 rules: ChangeRules = ChangeRules()) -> Significance:
    """Whether `new_text`, which differs from the page's current `old_text`, is
    a change. `earlier`: the line keys of the page's distinct texts before
    the current one, oldest first. `template(keys)`: which of these line
    keys are the site's template."""
    old = [(line, line_key(line)) for line in text_lines(old_text)]
    new = [(line, line_key(line)) for line in text_lines(new_text)]
    old_keys, new_keys = {k for _, k in old}, {k for _, k in new}
    added = [(x, k) for x, k in new if k not in old_keys]
    removed = [(x, k) for x, k in old if k not in new_keys]
    if not added and not removed:
        return Significance(False, "only the order or the spacing of lines changed")
    counts = {"ignored": 0, "template": 0, "returned": 0}

    def kind(line: str, key: int, side: str) -> str | None:
        if any(p.matches(line) for p in rules.ignore):
            return "ignored"
        if key in site_template:
            return "template"
        if side == "added" and any(key in seen for seen in earlier):
            return "returned"
        if side == "removed" and _came_and_went(key, earlier):
            return "returned"
        return None

    site_template = template({k for _, k in added + removed}) if template else set()
    kept_added: list[str] = []
    kept_removed: list[str] = []
    for side, lines, kept in (("added", added, kept_added), ("removed", removed, kept_removed)):
        for line, key in lines:
            why = kind(line, key, side)
            if why is None:
                kept.append(line)
            else:
                counts[why] += 1
    parts = []
    if counts["template"]:
        parts.append(f"{_plural(counts['template'], 'line')} of the site's template")
    if counts["returned"]:
        parts.append(f"{_plural(counts['returned'], 'line')} seen in earlier snapshots (they come and go)")
    if counts["ignored"]:
        parts.append(f"{_plural(counts['ignored'], 'line')} matching --ignore")
    left = ", ".join(parts)
    if not kept_added and not kept_removed:
        return Significance(False, f"the text differs only in {left}" if left else None)
    if rules.min_words:
        words = _words_changed(kept_removed, kept_added)
        if words < rules.min_words:
            return Significance(False, f"{_plural(words, 'word')} changed, fewer than --min-words {rules.min_words}"
                                + (f" ({left} left out)" if left else ""))
    if rules.trigger and not any(p.matches(line) for line in kept_added for p in rules.trigger):
        return Significance(False, "no added line matches --trigger" + (f" ({left} left out)" if left else ""))
    return Significance(True, f"left out: {left}" if left else None, tuple(kept_added), tuple(kept_removed))


def _came_and_went(key: int, earlier: Sequence[frozenset[int]]) -> bool:
    """A line some earlier text had and a later earlier text lacked."""
    seen = False
    for lines in earlier:
        if key in lines:
            seen = True
        elif seen:
            return True
    return False


def _words_changed(removed: list[str], added: list[str]) -> int:
    """How many words differ between the removed and the added lines: a
    corrected word in a long paragraph is one word, not the paragraph; a
    word put in place of another counts once."""
    from .archive.diff import word_diff, words_in

    total, deleted = 0, 0
    for op, text in word_diff("\n".join(removed), "\n".join(added)):
        words = words_in([text]) if op != "equal" else 0
        if op == "delete":
            deleted = words
            total += words
        elif op == "insert":
            total += max(0, words - deleted)  # a replacement: the larger side
            deleted = 0
        else:
            deleted = 0
    return total
