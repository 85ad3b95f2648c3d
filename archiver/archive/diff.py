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

from ..models import Capture, StoredSnapshot
from ..cleaning.normalize import UNSPACED_CHARS, count_words

__all__ = ["Diff", "Change", "ChangeSummary", "diff_snapshots", "summarize_change", "word_diff", "words_in", "render_unified",
           "render_words", "render_html"]

META_FIELDS = ("title", "authors", "published", "language", "sitename", "canonical_url")
# Words, spaces and punctuation; Chinese and Japanese one character at a
# time (they have no spaces to find words by).
_TOKEN = re.compile(f"\\s+|[{UNSPACED_CHARS}]|[^\\W{UNSPACED_CHARS}]+|[^\\w\\s]")


# difflib's time grows with the product of the two lengths, and each
# `changed` capture is summarised in the capturing process's writer: up to
# this product, sequences are compared directly; longer ones are aligned by
# runs of items first.
DIFF_CELLS = 1_500_000
_RUN_END = 8  # a pair of items whose CRC32 is 0 modulo this ends a run: cuts follow the text, not positions
_RUN_MAX = 128  # items: a run ends here whatever they are

Opcode = tuple[str, int, int, int, int]


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """[(op, text)] with op in equal/delete/insert; spacing kept."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            out.append(("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("delete", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("insert", "".join(b[j1:j2])))
    return out


class _Matcher(difflib.SequenceMatcher):
    """difflib's matcher (grouped opcodes and all) with `_opcodes`' bound."""

    def get_opcodes(self) -> list[Opcode]:  # type: ignore[override]
        return _opcodes(self.a, self.b)


def _opcodes(a: list[str], b: list[str]) -> list[Opcode]:
    """difflib's opcodes for a and b, in bounded time. What both begin and
    end with is set aside first (most edits are local); the middle, when
    long, is cut into runs where the items themselves say (an insertion
    does not move the cuts after it), the runs aligned like lines and items
    compared inside runs that changed; a changed stretch too long to
    compare at once is compared run against run, the runs one side has over
    the other given whole. A middle both long and repetitive (few distinct
    runs, where alignment is quadratic) is given whole, deleted and inserted."""
    head = _common_prefix(a, b)
    tail = _common_prefix(a[head:][::-1], b[head:][::-1])
    x_end, y_end = len(a) - tail, len(b) - tail
    out: list[Opcode] = [("equal", 0, head, 0, head)]
    _middle_opcodes(a, b, head, x_end, head, y_end, out)
    out.append(("equal", x_end, len(a), y_end, len(b)))
    merged: list[Opcode] = []
    for op in out:
        if op[1] == op[2] and op[3] == op[4]:
            continue
        if merged and merged[-1][0] == op[0]:
            merged[-1] = (op[0], merged[-1][1], op[2], merged[-1][3], op[4])
        else:
            merged.append(op)
    return merged


def _common_prefix(a: list[str], b: list[str]) -> int:
    """How many items a and b begin with alike (binary search over slice
    comparisons, which run in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _middle_opcodes(a: list[str], b: list[str], x1: int, x2: int, y1: int, y2: int, out: list[Opcode]) -> None:
    def exact(u1: int, u2: int, v1: int, v2: int) -> None:
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a[u1:u2], b[v1:v2], autojunk=False).get_opcodes():
            out.append((tag, u1 + i1, u1 + i2, v1 + j1, v1 + j2))

    def whole(u1: int, u2: int, v1: int, v2: int) -> None:
        if u1 < u2:
            out.append(("delete", u1, u2, v1, v1))
        if v1 < v2:
            out.append(("insert", u2, u2, v1, v2))

    if (x2 - x1) * (y2 - y1) <= DIFF_CELLS:
        exact(x1, x2, y1, y2)
        return
    sa = [x1 + k for k in _run_starts(a[x1:x2])]  # each ends with the end
    sb = [y1 + k for k in _run_starts(b[y1:y2])]
    ka = ["\x00".join(a[u:v]) for u, v in zip(sa, sa[1:])]
    kb = ["\x00".join(b[u:v]) for u, v in zip(sb, sb[1:])]
    if len(ka) * len(kb) > DIFF_CELLS and min(len(set(ka)) / len(ka), len(set(kb)) / len(kb)) < 0.5:
        whole(x1, x2, y1, y2)
        return
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        u1, u2, v1, v2 = sa[i1], sa[i2], sb[j1], sb[j2]
        if tag == "equal":
            out.append(("equal", u1, u2, v1, v2))
        elif (u2 - u1) * (v2 - v1) <= DIFF_CELLS:
            exact(u1, u2, v1, v2)
        else:
            pairs = min(i2 - i1, j2 - j1)
            for k in range(pairs):
                exact(sa[i1 + k], sa[i1 + k + 1], sb[j1 + k], sb[j1 + k + 1])
            whole(sa[i1 + pairs], u2, sb[j1 + pairs], v2)


def _run_starts(items: list[str]) -> list[int]:
    # Pairs, not single items: a text of few distinct words still has many
    # distinct pairs to cut at. Whitespace between words is never a cut.
    starts = [0]
    before = b""
    for i, item in enumerate(items):
        cut = False
        if not item.isspace():
            data = item.encode("utf-8", "surrogatepass")
            cut = zlib.crc32(before + b"\x00" + data) % _RUN_END == 0
            before = data
        if cut or i + 1 - starts[-1] >= _RUN_MAX:
            starts.append(i + 1)
    if starts[-1] != len(items):
        starts.append(len(items))
    return starts


@dataclass(frozen=True)
class ChangeSummary:
    """The words one text added and removed from the one before it."""

    added: str  # the added runs in order, " … " between them (capped)
    removed: str
    words_added: int
    words_removed: int


SUMMARY_CHARS = 4000
_PUNCTUATION = re.compile(r"[^\w\s]+")


def words_in(runs: list[str]) -> int:
    """Words in runs of text; punctuation on its own is no word."""
    return sum(count_words(_PUNCTUATION.sub(" ", r)) for r in runs)


def summarize_change(old: str, new: str) -> ChangeSummary:
    """What a feed entry says about a change: paragraphs aligned first, then
    words within the paragraphs that were edited."""
    a = [p for p in old.split("\n\n") if p]
    b = [p for p in new.split("\n\n") if p]
    added: list[str] = []
    removed: list[str] = []
    ops = _opcodes(a, b)
    moved_to, moved_from = _moves(a, b, ops)  # a paragraph moved is no words added or removed
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        olds = [a[i] for i in range(i1, i2) if i not in moved_to]
        news = [b[j] for j in range(j1, j2) if j not in moved_from]
        pairs = min(len(olds), len(news)) if tag == "replace" else 0
        for k in range(pairs):
            for op, text in word_diff(olds[k], news[k]):
                if op == "insert" and text.strip():
                    added.append(text.strip())
                elif op == "delete" and text.strip():
                    removed.append(text.strip())
        removed += olds[pairs:]
        added += news[pairs:]

    def joined(runs: list[str]) -> str:
        text = " … ".join(runs)
        return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"

    return ChangeSummary(added=joined(added), removed=joined(removed), words_added=words_in(added),
                         words_removed=words_in(removed))


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
    matcher = _Matcher(None, a, b, autojunk=False)
    groups = list(matcher.get_grouped_opcodes(context))
    moved_to, moved_from = _moves(a, b, [op for group in groups for op in group])
    hunks: list[list[Change]] = []
    for group in groups:
        changes: list[Change] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                changes += [Change("equal", a[i], b[j], i, j) for i, j in zip(range(i1, i2), range(j1, j2))]
                continue
            olds = [i for i in range(i1, i2) if i not in moved_to]
            news = [j for j in range(j1, j2) if j not in moved_from]
            pairs = min(len(olds), len(news)) if tag == "replace" else 0
            for i in range(i1, i2):
                if i in moved_to:
                    changes.append(Change("moved_out", a[i], None, i, moved_to[i]))
            for k in range(pairs):
                i, j = olds[k], news[k]
                changes.append(Change("replace", a[i], b[j], i, j, words=word_diff(a[i], b[j])))
            changes += [Change("delete", a[i], None, i, None) for i in olds[pairs:]]
            changes += [Change("insert", None, b[j], None, j) for j in news[pairs:]]
            for j in range(j1, j2):
                if j in moved_from:
                    changes.append(Change("moved_in", None, b[j], moved_from[j], j))
        hunks.append(changes)
    return Diff(url=older.url, older=older, newer=newer, metadata=meta, hunks=hunks)


def _moves(a: list[str], b: list[str], ops: list[Opcode]) -> tuple[dict[int, int], dict[int, int]]:
    """Paragraphs that left one place and arrived whole at another: old index
    -> new index, and new -> old. A paragraph moved is shown as moved, not
    as deleted here and added there."""
    gone: dict[str, list[int]] = {}
    for tag, i1, i2, _j1, _j2 in ops:
        if tag in ("delete", "replace"):
            for i in range(i1, i2):
                gone.setdefault(a[i], []).append(i)
    to: dict[int, int] = {}
    came: dict[int, int] = {}
    for tag, _i1, _i2, j1, j2 in ops:
        if tag in ("insert", "replace"):
            for j in range(j1, j2):
                if gone.get(b[j]):
                    i = gone[b[j]].pop(0)
                    to[i], came[j] = j, i
    return to, came


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
    """Paragraph-level unified diff: one paragraph per line; a paragraph
    that moved is "<" where it was and ">" where it is now."""
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
            if c.op == "moved_out":
                lines.append(f"<{c.old}")
            if c.op == "moved_in":
                lines.append(f">{c.new}")
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
            elif c.op == "moved_out":
                out.append(f"{dim}(moved to paragraph {(c.new_index or 0) + 1}) {c.old}{end}")
            elif c.op == "moved_in":
                out.append(f"(moved here from paragraph {(c.old_index or 0) + 1}) {c.new}")
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
td.del{background:#fff0f0}td.ins{background:#f0fff0}td.mov{background:#f0f4ff}
tr.moved td{color:#555}.note{font:12px sans-serif;color:#336;background:#e6ecff;padding:0 .3em}
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
            elif c.op == "moved_out":
                rows.append(f'<tr class="moved"><td dir="auto"><span class="note">moved to paragraph {(c.new_index or 0) + 1}</span>'
                            f' {e(c.old or "")}</td><td dir="auto"></td></tr>')
            elif c.op == "moved_in":
                rows.append(f'<tr class="moved"><td dir="auto"></td><td class="mov" dir="auto"><span class="note">moved here'
                            f' from paragraph {(c.old_index or 0) + 1}</span> {e(c.new or "")}</td></tr>')
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
