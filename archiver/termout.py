"""Terminal output in which captured text is data, never markup.

Every string that came from a page (titles, URLs, reasons, snippets) reaches
the terminal as a rich `Text`, so `[/bold]` in a title prints as
`[/bold]` instead of raising a MarkupError. Tables are laid out here rather
than by rich's table engine: URLs and timestamps are never wrapped or cut
(copying one must give the whole thing), and only the one flexible column
(a title, a reason) is shortened to fit a terminal. Piped to a file, nothing
is shortened and every row stays on one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

__all__ = ["Column", "console", "line", "print_table", "safe"]

MIN_FLEX = 12  # a title column is never squeezed below this
GAP = "  "


def console(*, stderr: bool = False) -> Console:
    """A console that highlights nothing on its own (numbers in a title are
    not ours to colour) and never soft-wraps what we print."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# C0 and C1 controls but tab and newline: an escape sequence in a page's
# title must not clear the screen or retitle the terminal. And the explicit
# bidirectional embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069): one left open in a title reverses what a terminal shows
# after it (the URL beside it, the next rows). The marks LRM, RLM and ALM,
# which right-to-left text uses and which open nothing, stay; the stored
# text keeps everything.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(value: object) -> str:
    """A value as plain printable text."""
    return _CONTROLS.sub("", "" if value is None else str(value))


def _text(value: object, style: str = "") -> Text:
    if isinstance(value, Text):
        return value
    return Text(safe(value), style=style)


def line(*parts: object, style: str = "") -> Text:
    """Join parts with spaces into one Text; parts may be plain values or
    already-styled Text. Plain values are never parsed as markup."""
    out = Text(style=style)
    first = True
    for part in parts:
        if part is None or part == "":
            continue
        if not first:
            out.append(" ")
        out.append_text(_text(part))
        first = False
    return out


@dataclass(frozen=True)
class Column:
    header: str
    flex: bool = False  # the one column shortened to fit the terminal
    right: bool = False  # right-aligned (numbers)


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[object]], *, out: Console | None = None,
                title: str | None = None) -> None:
    out = out or console()
    cells = [[_text(value) for value in row] for row in rows]
    widths = [max([cell_len(col.header)] + [row[i].cell_len for row in cells]) for i, col in enumerate(columns)]
    flex = next((i for i, col in enumerate(columns) if col.flex), None)
    if flex is not None and out.is_terminal:
        fixed = sum(w for i, w in enumerate(widths) if i != flex) + len(GAP) * (len(columns) - 1)
        widths[flex] = min(widths[flex], max(MIN_FLEX, out.width - fixed))
    if title:
        out.print(Text(title, style="bold"), crop=False, soft_wrap=True)
    header = Text()
    for i, col in enumerate(columns):
        header.append_text(_cell(Text(col.header, style="bold"), widths[i], col, last=i == len(columns) - 1))
        if i < len(columns) - 1:
            header.append(GAP)
    out.print(header, crop=False, soft_wrap=True)
    out.print(Text("─" * min(sum(widths) + len(GAP) * (len(columns) - 1), 200), style="dim"), crop=False, soft_wrap=True)
    for row in cells:
        text = Text()
        for i, col in enumerate(columns):
            text.append_text(_cell(row[i], widths[i], col, last=i == len(columns) - 1))
            if i < len(columns) - 1:
                text.append(GAP)
        out.print(text, crop=False, soft_wrap=True)


def _cell(value: Text, width: int, col: Column, *, last: bool) -> Text:
    value = value.copy()
    if value.cell_len > width:
        value.truncate(width, overflow="ellipsis")
    pad = width - value.cell_len
    if col.right:
        return Text(" " * pad) + value
    if not last:
        value.append(" " * pad)
    return value
