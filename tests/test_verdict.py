"""The verdict rules, as one table: HTTP status x content type x what
cleaning made of the page x the URL's previous text -> verdict and reason.
Capture and ingest both judge by archiver/verdict.py; this pins it."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from archiver.models import Fetched, Snapshot, SnapshotStatus, Verdict
from archiver.verdict import Observation, against_history, judge_cleaned, judge_fetched, judge_response

WHEN = datetime(2026, 12, 6, 12, 0, 0)
TEXT = "The council approved the ferry timetable on Tuesday."
SHA = hashlib.sha256(TEXT.encode()).hexdigest()
HTML = b"<!doctype html><html><head><title>x</title></head><body><p>text</p></body></html>"
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
PDF = b"%PDF-1.7\n1 0 obj"


def obs(status: int, ctype: str | None, reason: str = "") -> Observation:
    return Observation(url="https://example.org/a", when=WHEN, final_url="https://example.org/a", status_code=status,
                       reason_phrase=reason, content_type_header=ctype)


def snap(status: str, **kw) -> Snapshot:
    return Snapshot(url="https://example.org/a", status=status, title="A", text=TEXT if status == "ok" else "", **kw)


def verdict(status: int, ctype: str | None, head: bytes, cleaned: Snapshot | None | str, previous: str | None,
            reason: str = "") -> tuple[Verdict, str | None]:
    """What capture and ingest do with one response: judge it; clean it if
    it is to be cleaned; then set a text against the URL's history."""
    o = obs(status, ctype, reason)
    early = judge_response(o, head)
    if early is not None:
        return early.verdict, early.reason
    if cleaned == "undecodable":
        c = judge_cleaned(o, None, problem="bad bytes")
    else:
        c = judge_cleaned(o, cleaned)  # type: ignore[arg-type]
    if c.verdict is Verdict.NEW:
        assert c.text_sha256 == SHA
        return against_history(previous, SHA), c.reason
    return c.verdict, c.reason


TABLE = [
    # status, content type, head, cleaned, previous text -> verdict, reason (a part of it)
    (200, "text/html", HTML, snap("ok"), None, Verdict.NEW, None),
    (200, "text/html", HTML, snap("ok"), SHA, Verdict.UNCHANGED, None),
    (200, "text/html", HTML, snap("ok"), "0" * 64, Verdict.CHANGED, None),
    (200, "text/html; charset=utf-8", HTML, snap("ok"), None, Verdict.NEW, None),
    (200, None, HTML, snap("ok"), None, Verdict.NEW, None),  # no type given: sniffed
    (200, "application/pdf", PDF, snap("ok"), None, Verdict.NEW, None),
    (200, "text/plain", b"plain words", snap("ok"), None, Verdict.NEW, None),
    (200, "text/html", HTML, snap("error_stub", error="Drupal error page"), None, Verdict.SOFT_ERROR,
     "Drupal error page"),
    (200, "text/html", HTML, snap("error_stub", error="a bot wall", error_kind="wall"), SHA, Verdict.BLOCKED,
     "a bot wall"),
    (200, "text/html", HTML, snap("empty"), SHA, Verdict.SOFT_ERROR, "no article text found"),
    (200, "text/html", HTML, snap("empty", error="only a script"), None, Verdict.SOFT_ERROR, "only a script"),
    (200, "application/pdf", PDF, snap("not_html", error="PDF not read: encrypted"), None, Verdict.NOT_HTML,
     "PDF not read: encrypted"),
    (200, "text/html", HTML, "undecodable", None, Verdict.SOFT_ERROR, "could not be decoded (bad bytes)"),
    (200, "image/png", PNG, None, None, Verdict.NOT_HTML, None),
    (200, "application/zip", b"PK\x03\x04", None, None, Verdict.NOT_HTML, None),
    (404, "text/html", HTML, None, SHA, Verdict.HTTP_ERROR, "HTTP 404 Not Found"),
    (500, "text/html", HTML, None, None, Verdict.HTTP_ERROR, "HTTP 500 Internal Server Error"),
    (429, None, b"", None, None, Verdict.HTTP_ERROR, "HTTP 429"),
    (304, None, b"", None, None, Verdict.HTTP_ERROR, "HTTP 304 without a usable Location"),
    (301, "text/html", HTML, None, None, Verdict.HTTP_ERROR, "without a usable Location"),
]


@pytest.mark.parametrize("status,ctype,head,cleaned,previous,expected,reason", TABLE)
def test_the_verdict_table(status, ctype, head, cleaned, previous, expected, reason):
    phrase = {404: "Not Found", 500: "Internal Server Error"}.get(status, "")
    got, said = verdict(status, ctype, head, cleaned, previous, phrase)
    assert got is expected
    if reason is None:
        assert said is None
    else:
        assert said is not None and reason in said


def test_what_never_got_a_response():
    o = Observation(url="https://example.org/a", when=WHEN)
    blocked = judge_fetched(Fetched(url=o.url, blocked="disallowed by robots.txt"), o)
    assert blocked.verdict is Verdict.BLOCKED and blocked.reason == "disallowed by robots.txt"
    failed = judge_fetched(Fetched(url=o.url, error="connection refused"), o)
    assert failed.verdict is Verdict.FAILED and failed.reason == "connection refused"
    assert judge_fetched(Fetched(url=o.url), o).reason == "no response"


def test_a_partial_document_says_what_was_left_out_beside_its_verdict():
    c = judge_cleaned(obs(200, "application/pdf"), snap("ok", partial="pages past 2,000 not read"),
                      reasons=("body cut short in the source WARC",))
    assert c.verdict is Verdict.NEW
    assert c.reason == "body cut short in the source WARC; pages past 2,000 not read"


@pytest.mark.parametrize("v,has_text,is_error,keeps_schedule", [
    (Verdict.NEW, True, False, True), (Verdict.CHANGED, True, False, True), (Verdict.UNCHANGED, True, False, True),
    (Verdict.NOT_HTML, False, False, True), (Verdict.HTTP_ERROR, False, True, False),
    (Verdict.SOFT_ERROR, False, True, False), (Verdict.BLOCKED, False, True, False), (Verdict.FAILED, False, True, False),
])
def test_a_verdict_knows_its_classes(v, has_text, is_error, keeps_schedule):
    assert (v.has_text, v.is_error, v.keeps_schedule) == (has_text, is_error, keeps_schedule)


def test_a_snapshot_status_is_one_of_four():
    assert snap("ok").status is SnapshotStatus.OK and snap("ok").to_json()["status"] == "ok"
    with pytest.raises(ValueError):
        snap("fine")
