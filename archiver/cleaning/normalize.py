"""Make extracted text and metadata canonical, so that two captures of the
same article compare equal and a reader sees each sentence once.

- Unicode NFC, one space between words, paragraphs kept as paragraphs.
- Pull quotes dropped: a sentence-length block whose text also stands inside
  another paragraph, or an exact repeat of an earlier paragraph. Short
  repeats (list items, table cells) stay: articles repeat those for real.
- Footnote back-links ("^", "↩") dropped; markers are made "[n]" upstream.
- Title without the site-name suffix; authors as a list; dates ISO 8601.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

__all__ = [
    "clean_field",
    "count_words",
    "unspaced_join",
    "normalize_text",
    "drop_repeats",
    "clean_title",
    "learned_suffixes",
    "split_authors",
    "iso_date",
    "language_code",
]

PULL_QUOTE_MIN_WORDS = 8  # a quote found inside another paragraph
REPEAT_MIN_WORDS = 15  # a paragraph printed twice
PULL_QUOTE_MAX_WORDS = 120
# Chinese and Japanese have no spaces to bound a match, and count a word a
# character: a quote found inside another paragraph needs about a full
# sentence of characters. Shorter restatements are the author's own (a
# Japanese article restating an 18-character clause as its own line).
PULL_QUOTE_MIN_UNSPACED = 24
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]」』）]*\s*(\[\d{1,3}\])?$")
# Above this much text, skip the substring search (quadratic in the worst case).
SUBSTRING_SEARCH_LIMIT = 400_000

# Runs of spaces become one; the ideographic space (U+3000) is CJK text's
# own and stays as it is.
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f]+")
# Zero-width space and word joiner carry nothing; the zero-width (non-)joiners
# U+200C/U+200D are spelling in Persian, Arabic and Indic scripts and emoji,
# and stay.
_ZERO_WIDTH = re.compile(r"[\u200b\u2060\ufeff]")
# Control characters are never article text (and an escape sequence in a
# stored title would reach whoever prints it).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BACKLINK_TAIL = re.compile(r"\s*(?:\^|↑|↩\ufe0e?|↩︎|⤴)+\s*$")
_LIST_OR_CELL = re.compile(r"^(?:[-*•·]\s|\d+[.)]\s|\|)|\|")
_KEY = re.compile(r"[^\w]+")
# trafilatura writes every list item as "- item"; an ordered list's item
# already carries its number (cleaning/prune.py numbers them), and keeps only that.
_NUMBERED_ITEM = re.compile(r"^- (?=(?:\d{1,9}|[a-zA-Z]{1,2}|[ivxlcdmIVXLCDM]{1,12})\. )")


# The characters a back-link ends with (see _BACKLINK_TAIL).
_BACKLINK_ENDS = frozenset("^↑↩\ufe0e⤴")


def _clean_chars(text: str) -> str:
    """Zero-width and control characters out, runs of spaces made one. None
    of it reaches across a line break: a whole text is done at once."""
    return _SPACES.sub(" ", _CONTROLS.sub("", _ZERO_WIDTH.sub("", text)))


def _clean_ends(line: str) -> str:
    """A line without the space around it or a back-link at its end (the
    pattern runs only on a line that ends as a back-link does)."""
    line = line.strip()
    return _BACKLINK_TAIL.sub("", line) if line[-1:] in _BACKLINK_ENDS else line


def _clean_line(line: str) -> str:
    return _clean_ends(_clean_chars(line))


# Scripts written without spaces between words: each character counts as a
# word (a Chinese word is one to two characters, a Japanese one about as
# long), which keeps counts of CJK text on the scale of other languages'.
# Korean writes spaces between words and is counted like English.
UNSPACED_CHARS = r"\u3040-\u30fa\u30fc-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_UNSPACED = re.compile(f"[{UNSPACED_CHARS}]")


def unspaced_join(left: str, right: str) -> bool:
    """True when two pieces of a wrapped line meet between Chinese or
    Japanese characters, where no space belongs."""
    return bool(left and right and _UNSPACED.match(left[-1]) and _UNSPACED.match(right[0]))


_WORDLIKE = re.compile(r"\w")


def fold(text: str) -> str:
    """`text` with compatibility forms folded (NFKC): what search and word
    counts see, so that "ﬁle" is "file" and "ＡＢＣ" is "ABC"."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def count_words(text: str | None) -> int:
    """Words in `text`: runs between spaces that hold a letter or digit
    (punctuation on its own is no word), and each Chinese or Japanese
    character on its own."""
    if not text:
        return 0
    text = fold(text)
    unspaced = len(_UNSPACED.findall(text))
    rest = _UNSPACED.sub(" ", text) if unspaced else text
    return unspaced + sum(1 for w in rest.split() if _WORDLIKE.search(w))


# A title or metadata field is one line, cut past this with "…": every
# listing reads titles (the page's own bytes stay in the WARC).
MAX_LINE_CHARS = 1000


def _one_line(value: str) -> str:
    line = _clean_line(unicodedata.normalize("NFC", value[: 4 * MAX_LINE_CHARS]))
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1].rstrip() + "…"


def clean_field(value: str | None) -> str | None:
    """A one-line metadata value (site name and the like): NFC, one space,
    no controls, at most MAX_LINE_CHARS."""
    if not value:
        return None
    return _one_line(value) or None


def normalize_text(text: str) -> list[str]:
    """NFC, whitespace and back-links: the text as a list of paragraphs."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    out = []
    for line in _clean_chars(text).split("\n"):  # _clean_line, its first half done once for all lines
        line = _clean_ends(line)
        if line.startswith("- "):
            line = _NUMBERED_ITEM.sub("", line)
        if line and line not in ("^", "↑", "↩"):
            out.append(line)
    return out


def _key(paragraph: str) -> str:
    """Compare on words only: punctuation, case and footnote markers aside."""
    return _KEY.sub(" ", re.sub(r"\[\d{1,3}\]", " ", paragraph)).strip().lower()


def drop_repeats(paragraphs: list[str]) -> list[str]:
    """Drop pull quotes: sentence-length blocks printed again elsewhere."""
    keys = [_key(p) for p in paragraphs]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    # Space-padded, so a match starts and ends on word boundaries.
    joined = " " + " \n ".join(keys) + " "
    search = len(joined) <= SUBSTRING_SEARCH_LIMIT
    seen: set[str] = set()
    keep: list[str] = []
    for para, key in zip(paragraphs, keys):
        words = count_words(key)
        # Chinese and Japanese have no spaces to mark where a quoted
        # sentence starts and ends: its characters are the boundary.
        unspaced = _UNSPACED.search(key) is not None
        needle = key if unspaced else f" {key} "
        # Only prose can be a pull quote: a sentence, not a list item, table
        # row or heading (those repeat in real articles: menus, schedules).
        prose = words >= PULL_QUOTE_MIN_WORDS and not _LIST_OR_CELL.search(para) and bool(_SENTENCE_END.search(para))
        if prose and key in seen and counts[key] == 2 and words >= REPEAT_MIN_WORDS:
            continue  # the second printing of a paragraph printed twice
        if prose and words <= PULL_QUOTE_MAX_WORDS and search and counts[key] == 1:
            # Inside a longer paragraph: it stands there in full already.
            if joined.count(needle) > 1 and (not unspaced or len(key) >= PULL_QUOTE_MIN_UNSPACED):
                continue
        seen.add(key)
        keep.append(para)
    return keep


_TITLE_SEPARATORS = (" | ", " – ", " — ", " - ", " :: ", " · ", " » ", "｜", " ｜ ", "——", " _ ")


def clean_title(title: str | None, *, suffixes: list[str] = (), sitename: str | None = None,  # type: ignore[assignment]
                host: str | None = None) -> str | None:
    """The title without the site's name around it (one line, as `clean_field`)."""
    if not title:
        return None
    title = _one_line(title)
    for suffix in suffixes:
        s = suffix.strip()
        if s and title.endswith(s) and len(title) > len(s):
            return title[: -len(s)].rstrip(" |–—-:·»｜_").strip() or title
    names = {n.lower() for n in (sitename, host) if n}
    if host:
        bare = host.lower().removeprefix("www.")
        names.update({bare, bare.split(".")[0]})
    for sep in _TITLE_SEPARATORS:
        if sep not in title:
            continue
        parts = title.split(sep)
        last, first = parts[-1].strip().lower(), parts[0].strip().lower()
        if names and (last in names or any(last.startswith(n) for n in names if len(n) > 3)):
            return sep.join(parts[:-1]).strip()
        if names and first in names and len(parts) > 1:
            return sep.join(parts[1:]).strip()
    return title


# A suffix is a host's when at least this many of its distinct titles, and
# this share of them, end with it.
SUFFIX_MIN_TITLES = 2
SUFFIX_MIN_SHARE = 0.2
# The endings tried per title: those starting at its last six separators
# (three parts, with room for separators that overlap, " ｜ " and "｜").
MAX_SUFFIX_STARTS = 6


def learned_suffixes(titles: list[str]) -> tuple[str, ...]:
    """The endings (" | Human Rights in China 中国人权") that a host's pages
    share after a title separator, longest first. For a host whose pages
    carry no og:site_name and no site rule: what they have in common is the
    site's name, not any one page's title."""
    distinct = {t for t in titles if t}
    counts: dict[str, int] = {}
    for title in distinct:
        starts: set[int] = set()
        for sep in _TITLE_SEPARATORS:
            at = title.find(sep, 1)
            while at > 0:
                starts.add(at)
                at = title.find(sep, at + 1)
        # A site's name is the last part or two of a title; a title of
        # hundreds of " | " (a hostile page's) would make hundreds of long
        # endings, for every title of the host, at every capture of it.
        endings = {title[at:] for at in sorted(starts)[-MAX_SUFFIX_STARTS:]}
        endings = {e for e in endings if e.strip(" |–—-:·»｜_")}
        for ending in endings:
            counts[ending] = counts.get(ending, 0) + 1
    need = max(SUFFIX_MIN_TITLES, SUFFIX_MIN_SHARE * len(distinct))
    return tuple(sorted((e for e, n in counts.items() if n >= need), key=len, reverse=True))


_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,\s*and\s+|\s+and\s+|\s+&\s+|\s+und\s+|\s+et\s+|,|、|，|；)\s*", re.I)
# "By", and the bylines of Chinese, Japanese and Korean pages ("作者：", "文／", "기자:").
_BY = re.compile(r"^\s*(?:(?:by|von|par|por|written by|posted by)[:\s]+"
                 r"|(?:作者|撰文|文|记者|記者|编辑|編輯|責任編集|筆者|글|기자)\s*[:：/／]\s*)", re.I)
_NOT_NAME = re.compile(r"@|https?://|\d{3,}")


def split_authors(author: str | None) -> tuple[str, ...]:
    """"By A. Smith and B. Jones" -> ("A. Smith", "B. Jones")."""
    if not author:
        return ()
    # A byline is a line: what a page puts past 4,000 characters is no one's
    # name (and the name the cut runs through is dropped).
    cut = len(author) > 4 * MAX_LINE_CHARS
    author = _BY.sub("", _clean_line(unicodedata.normalize("NFC", author[: 4 * MAX_LINE_CHARS])))
    parts = _AUTHOR_SPLIT.split(author)
    names: list[str] = []
    for part in parts[:-1] if cut else parts:
        part = _BY.sub("", part).strip(" .,;:|·•：")
        # "Smith, Jr." style suffixes are not people
        if not part or part.lower() in ("jr", "sr", "ii", "iii", "phd", "md") or _NOT_NAME.search(part):
            continue
        if part not in names:
            names.append(part)
    return tuple(names)


_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y",
    "%B %d %Y", "%b. %d, %Y", "%A, %B %d, %Y", "%Y%m%d",
)


def iso_date(value: str | None) -> str | None:
    """An ISO 8601 date (YYYY-MM-DD, or the full timestamp when one is given)."""
    if not value:
        return None
    value = _clean_line(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is not None:
        if len(value) <= 10:
            return parsed.date().isoformat()
        return parsed.isoformat()
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", value)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date().isoformat()
        except ValueError:
            continue
    m = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", value)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    return None


def language_code(value: str | None) -> str | None:
    """"en-US" -> "en"; nonsense -> None."""
    if not value:
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None
