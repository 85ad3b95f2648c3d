from __future__ import annotations

import pytest

from archiver.cleaning.normalize import clean_title, drop_repeats, iso_date, language_code, normalize_text, split_authors

PARA = "The council met on Tuesday and agreed, after a long debate, to keep the old ferry running for another year."


def test_whitespace_nfc_and_backlinks():
    text = "  Cafe\u0301  au\u00a0lait \u200b  \n\n\n1. A note about it. ^\n^\n  "
    assert normalize_text(text) == ["Café au lait", "1. A note about it."]


def test_pull_quote_inside_a_paragraph_is_dropped_wherever_it_stands():
    quote = "agreed, after a long debate, to keep the old ferry running for another year."
    before = drop_repeats([quote.capitalize(), PARA, "Next paragraph here."])
    assert before == [PARA, "Next paragraph here."]
    after = drop_repeats([PARA, "“" + quote + "”"])
    assert after == [PARA]


def test_paragraph_printed_twice_keeps_the_first():
    other = "Another paragraph that stands between the two printings of the same words."
    assert drop_repeats([PARA, other, PARA]) == [PARA, other]


def test_real_repeats_stay():
    meal = ["Breakfast", "- 1 cup oats, 1 cup berries, 1 tsp honey and 8 oz almond milk on the side", "Lunch",
            "- 1 cup oats, 1 cup berries, 1 tsp honey and 8 oz almond milk on the side"]
    assert drop_repeats(meal) == meal
    cells = ["| Name | Score |", "| Ada | 3 |", "| Ada | 3 |"]
    assert drop_repeats(cells) == cells
    chorus = ["La la la", "Verse one words", "La la la"]
    assert drop_repeats(chorus) == chorus
    # printed three times: a refrain, not a pull quote
    refrain = [PARA, "x y z.", PARA, "a b c.", PARA]
    assert drop_repeats(refrain) == refrain


def test_headings_are_not_taken_for_pull_quotes():
    heading = "The ferry and the council budget debate"
    paras = [heading, "The ferry and the council budget debate took most of the evening, as it does every year."]
    assert drop_repeats(paras) == paras


@pytest.mark.parametrize("title,kw,expected", [
    ("Error | Human Rights in China 中国人权 | HRIC", {"suffixes": [" | Human Rights in China 中国人权 | HRIC"]}, "Error"),
    ("Budget passes - The Daily Planet", {"sitename": "The Daily Planet"}, "Budget passes"),
    ("The Daily Planet | Budget passes", {"sitename": "The Daily Planet"}, "Budget passes"),
    ("Budget passes | Example", {"host": "www.example.com"}, "Budget passes"),
    ("Cats - Dogs - Mice", {}, "Cats - Dogs - Mice"),
    (None, {}, None),
])
def test_clean_title(title, kw, expected):
    assert clean_title(title, **kw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("Andrew J. Nathan and Andrew Scobell", ("Andrew J. Nathan", "Andrew Scobell")),
    ("By Jane Doe", ("Jane Doe",)),
    ("Jane Doe; John Roe", ("Jane Doe", "John Roe")),
    ("Jane Doe, John Roe and Ann Poe", ("Jane Doe", "John Roe", "Ann Poe")),
    ("jane@example.org", ()),
    (None, ()),
])
def test_split_authors(raw, expected):
    assert split_authors(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("2009-12-12", "2009-12-12"),
    ("December 12, 2009", "2009-12-12"),
    ("12 December 2009", "2009-12-12"),
    ("2009-12-12T10:30:00Z", "2009-12-12T10:30:00+00:00"),
    ("Dec. 12, 2009", "2009-12-12"),
    ("not a date", None),
])
def test_iso_date(raw, expected):
    assert iso_date(raw) == expected


def test_language_code():
    assert language_code("en-US") == "en" and language_code("zh_Hant") == "zh" and language_code("??") is None


def test_the_whole_text_is_cleaned_as_each_of_its_lines_would_be():
    """normalize_text cleans the whole text at once and runs the back-link
    and list-item patterns only on lines that can match: the same as
    cleaning each line alone, on random text full of the characters each
    pattern looks for."""
    import random
    import unicodedata

    from archiver.cleaning.normalize import _NUMBERED_ITEM, _clean_line, normalize_text

    def line_by_line(text: str) -> list[str]:
        text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
        lines = (_NUMBERED_ITEM.sub("", _clean_line(line)) for line in text.split("\n"))
        return [line for line in lines if line and line not in ("^", "↑", "↩")]

    alphabet = ["a", "b", "1", "2.", " ", "\t", "\n", "\r", "\r\n", "- ", "iv. ", "\u00a0", "\u2003", "\u3000",
                "\u200b", "\u200c", "\u2060", "\ufeff", "\x00", "\x1b", "\x85", "\x0b", "^", "↑", "↩", "\ufe0e",
                "⤴", "e\u0301", "|", "•"]
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert normalize_text(text) == line_by_line(text), repr(text)
