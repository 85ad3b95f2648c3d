"""Error stubs and bot walls by signal: a corpus of families in many
languages is flagged, with the right kind; articles that quote errors are not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "stubs"))
from corpus import CORPUS  # noqa: E402

import archiver  # noqa: E402
from archiver import Archive, CleanOptions, Verdict  # noqa: E402
from archiver.cleaning.snapshot import clean_page  # noqa: E402


@pytest.mark.parametrize("name,expected,html,headers", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name, expected, html, headers):
    snap = clean_page(html, "https://www.example.org/some/page", status_code=200, headers=list(headers.items()))
    if expected == "ok":
        assert snap.status == "ok", snap.error
        assert snap.text
    else:
        assert snap.status == "error_stub", f"{name} not flagged"
        assert snap.error_kind == expected, snap.error
        assert snap.text == ""  # an error page's words are never the article


def test_the_rule_files_alone_know_few_of_these_families():
    """What the signals add: without them, most of the corpus passes as articles."""
    flagged = sum(
        clean_page(html, "https://www.example.org/x", status_code=200, headers=list(headers.items()),
                   options=CleanOptions(stub_signals=False)).status == "error_stub"
        for _, expected, html, headers in CORPUS if expected != "ok")
    assert flagged < 15


def test_response_headers_and_capture_verdicts(site, tmp_path, fast_options):
    challenge, busy = site.url("/challenge"), site.url("/busy")
    by_url = {c.url: c for c in Archive(tmp_path / "a", fetch_options=fast_options).capture([challenge, busy])}
    assert by_url[challenge].verdict is Verdict.BLOCKED and "cf-mitigated" in by_url[challenge].reason
    assert by_url[busy].verdict is Verdict.SOFT_ERROR and "Retry-After" in by_url[busy].reason


def test_a_long_article_with_every_error_word_is_an_article():
    words = ("error not found unavailable try again access denied too many requests verify you are human"
             " enable javascript request id ")
    body = " ".join(f"Paragraph {i} of the report lists what users saw: {words}." for i in range(20))
    snap = archiver.clean(f"<html><head><title>Error</title></head><body><article><p>{body}</p></article></body></html>")
    assert snap.status == "ok"
