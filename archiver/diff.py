"""What changed between two snapshots: paragraphs first, then words.

Paragraphs are aligned with difflib; a changed paragraph paired with its new
version gets a word-level diff. Unchanged paragraphs far from an edit are
left out, as `diff -u` leaves out far lines. Captured text is data, never
markup: the HTML rendering escapes every character of it.
"""

from __future__ import annotations

import difflib
import html
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from .models import Capture, StoredSnapshot
from .normalize import UNSPACED_CHARS, count_words

__all__ = ["Diff", "Change", "ChangeSummary", "diff_snapshots", "summarize_change", "word_diff", "render_unified",
           "render_words", "render_html"]

META_FIELDS = ("title", "authors", "published", "language", "sitename", "canonical_url")
# Words, spaces and punctuation; Chinese and Japanese one character at a
# time (they have no spaces to find words by).
_TOKEN = re.compile(f"\\s+|[{UNSPACED_CHARS}]|[^\\W{UNSPACED_CHARS}]+|[^\\w\\s]")


# difflib compares words in time that grows with the product of the two
# lengths (worse when few distinct words repeat): one paragraph of 20,000
# words edited in places took 143 s, in the capturing process's writer
# (each `changed` capture is summarised there). Up to this product, words
# are compared directly; longer texts are aligned by runs of words first.
WORD_DIFF_CELLS = 1_500_000
_RUN_END = 8  # a pair of words whose CRC32 is 0 modulo this ends a run: cuts follow the text, not positions
_RUN_MAX = 128  # tokens: a run ends here whatever its words


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """[(op, text)] with op in equal/delete/insert; spacing kept."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    if len(a) * len(b) <= WORD_DIFF_CELLS:
        return _token_diff(a, b)
    # Runs of words, cut where the text itself says (an insertion does not
    # shift the cuts after it), align like lines; words are compared only
    # inside runs that changed. A changed stretch too long to compare at
    # once is compared run against run (a few words repeated all through a
    # text leave few cuts, and runs of the same length), the runs one side
    # has over the other given whole.
    ra, rb = _runs(a), _runs(b)
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ra, rb, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("equal", "".join(ra[i1:i2])))
            continue
        pa = _TOKEN.findall("".join(ra[i1:i2]))
        pb = _TOKEN.findall("".join(rb[j1:j2]))
        if len(pa) * len(pb) <= WORD_DIFF_CELLS:
            out += _token_diff(pa, pb)
            continue
        pairs = min(i2 - i1, j2 - j1)
        for k in range(pairs):
            out += _token_diff(_TOKEN.findall(ra[i1 + k]), _TOKEN.findall(rb[j1 + k]))
        out += [(op, "".join(rest)) for op, rest in (("delete", ra[i1 + pairs:i2]), ("insert", rb[j1 + pairs:j2]))
                if rest]
    merged: list[tuple[str, str]] = []
    for op, text in out:
        if merged and merged[-1][0] == op:
            merged[-1] = (op, merged[-1][1] + text)
        else:
            merged.append((op, text))
    return merged


def _token_diff(a: list[str], b: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("delete", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("insert", "".join(b[j1:j2])))
    return out


def _runs(tokens: list[str]) -> list[str]:
    # Pairs, not single words: a text of few distinct words still has many
    # distinct pairs to cut at.
    runs: list[str] = []
    start = 0
    before = b""
    for i, token in enumerate(tokens):
        if token.isspace():
            cut = False
        else:
            word = token.encode("utf-8", "surrogatepass")
            cut = zlib.crc32(before + b" " + word) % _RUN_END == 0
            before = word
        if cut or i - start + 1 >= _RUN_MAX:
            runs.append("".join(tokens[start:i + 1]))
            start = i + 1
    if start < len(tokens):
        runs.append("".join(tokens[start:]))
    return runs


@dataclass(frozen=True)
class ChangeSummary:
    """The words one text added and removed from the one before it."""

    added: str  # the added runs in order, " … " between them (capped)
    removed: str
    words_added: int
    words_removed: int


SUMMARY_CHARS = 4000
_PUNCTUATION = re.compile(r"[^\w\s]+")


def summarize_change(old: str, new: str) -> ChangeSummary:
    """What a feed entry says about a change: paragraphs aligned first, then
    words within the paragraphs that were edited."""
    a = [p for p in old.split("\n\n") if p]
    b = [p for p in new.split("\n\n") if p]
    added: list[str] = []
    removed: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            for op, text in word_diff(a[i1 + k], b[j1 + k]):
                if op == "insert" and text.strip():
                    added.append(text.strip())
                elif op == "delete" and text.strip():
                    removed.append(text.strip())
        removed += a[i1 + pairs : i2]
        added += b[j1 + pairs : j2]

    def joined(runs: list[str]) -> str:
        text = " … ".join(runs)
        return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"

    def words(runs: list[str]) -> int:  # punctuation on its own is no word
        return sum(count_words(_PUNCTUATION.sub(" ", r)) for r in runs)

    return ChangeSummary(added=joined(added), removed=joined(removed), words_added=words(added),
                         words_removed=words(removed))


@dataclass
class Change:
    """One paragraph-level step: equal, delete, insert, or replace (with words)."""

    op: str
    old: str | None
    new: str | None
    old_index: int | None
    new_index: int | None
    words: list[tuple[str, str]] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "old": self.old, "new": self.new,
                                "old_index": self.old_index, "new_index": self.new_index}
        if self.words is not None:
            data["words"] = [list(w) for w in self.words]
        return data


@dataclass
class Diff:
    url: str
    older: Capture
    newer: Capture
    metadata: dict[str, tuple[Any, Any]]  # field -> (old, new), only fields that changed
    hunks: list[list[Change]] = field(default_factory=list)  # each: a run of changes with context

    @property
    def changed(self) -> bool:
        return bool(self.metadata or self.hunks)

    def to_json(self) -> dict[str, Any]:
        def side(c: Capture) -> dict[str, Any]:
            return {"timestamp": c.timestamp, "captured_at": c.captured_at, "title": c.title,
                    "text_sha256": c.text_sha256, "word_count": c.word_count}

        return {
            "url": self.url,
            "from": side(self.older),
            "to": side(self.newer),
            "metadata": {k: {"old": v[0], "new": v[1]} for k, v in self.metadata.items()},
            "hunks": [[c.to_json() for c in hunk] for hunk in self.hunks],
        }


def _meta(snap: StoredSnapshot, name: str) -> Any:
    value = getattr(snap, name)
    return list(value) if isinstance(value, tuple) else value


def diff_snapshots(old: StoredSnapshot, new: StoredSnapshot, *, older: Capture, newer: Capture,
                   context: int = 1, ignore_space: bool = False) -> Diff:
    """Compare two snapshot files. `ignore_space`: paragraphs that differ only
    in spacing are the same, and spacing is no edit within a paragraph."""
    meta = {k: (_meta(old, k), _meta(new, k)) for k in META_FIELDS if _meta(old, k) != _meta(new, k)}
    a, b = old.paragraphs, new.paragraphs
    if ignore_space:
        a, b = [" ".join(p.split()) for p in a], [" ".join(p.split()) for p in b]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    hunks: list[list[Change]] = []
    for group in matcher.get_grouped_opcodes(context):
        changes: list[Change] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                changes += [Change("equal", a[i], b[j], i, j) for i, j in zip(range(i1, i2), range(j1, j2))]
                continue
            olds, news = list(range(i1, i2)), list(range(j1, j2))
            pairs = min(len(olds), len(news)) if tag == "replace" else 0
            for k in range(pairs):
                i, j = olds[k], news[k]
                changes.append(Change("replace", a[i], b[j], i, j, words=word_diff(a[i], b[j])))
            changes += [Change("delete", a[i], None, i, None) for i in olds[pairs:]]
            changes += [Change("insert", None, b[j], None, j) for j in news[pairs:]]
        hunks.append(changes)
    return Diff(url=older.url, older=older, newer=newer, metadata=meta, hunks=hunks)


# -- renderings -------------------------------------------------------------


def _label(c: Capture) -> str:
    return f"{c.url} @ {c.timestamp}"


def _range(changes: list[Change], attr: str) -> str:
    idx = [getattr(c, attr) for c in changes if getattr(c, attr) is not None]
    if not idx:
        return "0,0"
    return f"{idx[0] + 1},{len(idx)}"


def _header(d: Diff) -> list[str]:
    """File labels, then one line per changed metadata field."""
    return [f"--- {_label(d.older)}", f"+++ {_label(d.newer)}",
            *(f"# {k}: {old!r} -> {new!r}" for k, (old, new) in d.metadata.items())]


def _hunk_line(hunk: list[Change]) -> str:
    return f"@@ -{_range(hunk, 'old_index')} +{_range(hunk, 'new_index')} @@"


def render_unified(d: Diff) -> str:
    """Paragraph-level unified diff: one paragraph per line."""
    lines = _header(d)
    for hunk in d.hunks:
        lines.append(_hunk_line(hunk) + " (paragraphs)")
        for c in hunk:
            if c.op == "equal":
                lines.append(f" {c.old}")
            if c.op in ("delete", "replace"):
                lines.append(f"-{c.old}")
            if c.op in ("insert", "replace"):
                lines.append(f"+{c.new}")
    return "\n".join(lines) + "\n"


def render_words(d: Diff, *, color: bool = False) -> str:
    """Changed paragraphs with their edits inline: [-old-]{+new+}, or in colour."""
    if color:
        dele, ins, dim, end = "\x1b[31;9m", "\x1b[32m", "\x1b[2m", "\x1b[0m"

        def mark(op: str, text: str) -> str:
            return f"{dele}{text}{end}" if op == "delete" else f"{ins}{text}{end}" if op == "insert" else text
    else:
        dim = end = ""

        def mark(op: str, text: str) -> str:
            return f"[-{text}-]" if op == "delete" else f"{{+{text}+}}" if op == "insert" else text

    out = _header(d)
    for hunk in d.hunks:
        out.append(_hunk_line(hunk))
        for c in hunk:
            if c.op == "equal":
                out.append(f"{dim}{c.old}{end}")
            elif c.op == "delete":
                out.append(mark("delete", c.old or ""))
            elif c.op == "insert":
                out.append(mark("insert", c.new or ""))
            else:
                out.append("".join(mark(op, text) for op, text in c.words or []))
        out.append("")
    return "\n".join(out) + "\n"


_CSS = """
body{font:16px/1.5 Georgia,serif;margin:2em auto;max-width:1200px;color:#222;background:#fff}
h1{font-size:1.3em}.meta{font:13px/1.4 sans-serif;color:#555}
table{border-collapse:collapse;width:100%;table-layout:fixed}td{vertical-align:top;padding:.4em .8em;width:50%}
th{font:13px sans-serif;text-align:left;padding:.4em .8em;border-bottom:1px solid #ccc}
tr.equal td{color:#777}tr.gap td{text-align:center;color:#aaa;font:12px sans-serif}
td.del{background:#fff0f0}td.ins{background:#f0fff0}
del{background:#fcc;text-decoration:line-through}ins{background:#cfc;text-decoration:none}
"""


def render_html(d: Diff) -> str:
    """A self-contained side-by-side page: no scripts, no external assets.
    Each cell takes its direction from its own text (dir="auto"), so Arabic,
    Hebrew or Persian paragraphs read right to left beside left-to-right ones."""
    e = html.escape

    def words(c: Change, side: str) -> str:
        parts = []
        for op, text in c.words or []:
            if op == "equal":
                parts.append(e(text))
            elif op == "delete" and side == "old":
                parts.append(f"<del>{e(text)}</del>")
            elif op == "insert" and side == "new":
                parts.append(f"<ins>{e(text)}</ins>")
        return "".join(parts)

    rows = []
    for n, hunk in enumerate(d.hunks):
        if n:
            rows.append('<tr class="gap"><td colspan="2">…</td></tr>')
        for c in hunk:
            if c.op == "equal":
                rows.append(f'<tr class="equal"><td dir="auto">{e(c.old or "")}</td><td dir="auto">{e(c.new or "")}</td></tr>')
            elif c.op == "delete":
                rows.append(f'<tr><td class="del" dir="auto"><del>{e(c.old or "")}</del></td><td dir="auto"></td></tr>')
            elif c.op == "insert":
                rows.append(f'<tr><td dir="auto"></td><td class="ins" dir="auto"><ins>{e(c.new or "")}</ins></td></tr>')
            else:
                rows.append(f'<tr><td class="del" dir="auto">{words(c, "old")}</td><td class="ins" dir="auto">{words(c, "new")}</td></tr>')
    meta = "".join(f"<li>{e(k)}: <del><bdi>{e(str(o))}</bdi></del> → <ins><bdi>{e(str(n))}</bdi></ins></li>" for k, (o, n) in d.metadata.items())
    title = e(d.newer.title or d.url)
    body = "".join(rows) if rows else '<tr class="gap"><td colspan="2">the texts are the same</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Changes: {title}</title><style>{_CSS}</style></head>
<body><h1 dir="auto">{title}</h1>
<p class="meta">{e(d.url)}<br>from {e(d.older.captured_at)} to {e(d.newer.captured_at)}</p>
{f'<ul class="meta">{meta}</ul>' if meta else ''}
<table><tr><th>{e(d.older.timestamp)}</th><th>{e(d.newer.timestamp)}</th></tr>
{body}
</table></body></html>
"""
