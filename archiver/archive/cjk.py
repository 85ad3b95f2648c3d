"""Search terms for Chinese, Japanese and Korean text.

SQLite's word tokenizer (unicode61) splits on spaces and punctuation, so a
Chinese sentence is one long "word" and a search for a two-character word in
it finds nothing; Korean attaches particles to words ("기록실이"), with the
same effect. The catalog keeps a second full-text index beside the word
index: each run of CJK characters becomes its overlapping character pairs
(地方档案 -> 地方 方档 档案) and its last character on its own. A query's CJK
run becomes the phrase of its pairs (a run of one character, a prefix
search), which finds the word wherever it stands, with no dictionary to keep.
Pairs over trigrams because most Chinese words are two characters long.
"""

from __future__ import annotations

import re

__all__ = ["has_cjk", "index_terms", "query_phrases"]

# Han (with extensions and compatibility ideographs), kana, Hangul syllables and jamo.
_CJK = (r"\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
        r"\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f")
_RUN = re.compile(f"[{_CJK}]+")


def has_cjk(text: str) -> bool:
    return _RUN.search(text) is not None


def _pairs(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def index_terms(text: str) -> str:
    """What the CJK index stores for `text`: its runs' pairs, space-separated
    ("" when the text has no CJK at all)."""
    return " ".join(" ".join(_pairs(run)) for run in _RUN.findall(text))


def query_phrases(term: str) -> tuple[list[str], list[str]]:
    """A search term split into FTS5 expressions for the CJK index (one per
    CJK run) and the words left for the word index."""
    phrases = []
    for run in _RUN.findall(term):
        if len(run) == 1:
            phrases.append(f'"{run}" *')  # any pair starting with it, or itself at a run's end
        else:
            phrases.append('"' + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + '"')
    rest = [w for w in _RUN.sub(" ", term).split() if w.strip("\"'")]
    return phrases, rest
