"""The verdict rules, in one place: what a fetch, a stored response, or a
cleaned page amounts to.

Pure functions over plain data. Capture, ingest and reindex judge by these
(and so will browser capture), so the same response gets the same verdict
and the same reason wherever it came from. `new` here means "has a text";
the recorder turns it into changed/unchanged against the archive's history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from .models import Capture, Fetched, Snapshot, SnapshotStatus, Verdict
from .cleaning.payload import document_kind
from .timeutil import iso_utc, timestamp14

__all__ = ["Observation", "observe", "judge_fetched", "judge_response", "judge_cleaned", "verdict_of",
           "against_history"]


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What was seen of one URL before any judging."""

    url: str
    when: datetime  # naive UTC: the final response's WARC-Date, or when the attempt began
    final_url: str | None = None
    status_code: int | None = None
    reason_phrase: str = ""
    content_type_header: str | None = None
    source: str | None = None  # ingested: "FILE#OFFSET" in the file it came from
    via: str = "http"  # "browser": loaded in Chromium

    @property
    def content_type(self) -> str | None:
        bare = (self.content_type_header or "").split(";", 1)[0].strip().lower()
        return bare or None


def verdict_of(obs: Observation, verdict: Verdict, *, reason: str | None = None, title: str | None = None,
               word_count: int | None = None, text_sha256: str | None = None,
               rule_rot: tuple[str, ...] = ()) -> Capture:
    """A capture row for `obs` with this verdict."""
    return Capture(
        url=obs.url, final_url=obs.final_url, status_code=obs.status_code, verdict=verdict,
        timestamp=timestamp14(obs.when), captured_at=iso_utc(obs.when), title=title, word_count=word_count,
        content_type=obs.content_type, reason=reason, text_sha256=text_sha256, rule_rot=rule_rot,
        source=obs.source, via=obs.via,
    )


def observe(fetched: Fetched, now: datetime) -> Observation:
    final = fetched.final
    if final is None:
        return Observation(url=fetched.url, when=fetched.started or now, via=fetched.via)
    return Observation(url=fetched.url, when=final.started, final_url=final.url, status_code=final.status_code,
                       reason_phrase=final.reason, content_type_header=final.header("content-type"), via=fetched.via)


def judge_fetched(fetched: Fetched, obs: Observation) -> Capture | None:
    """Blocked or failed: the verdict; None when there is a response to judge."""
    if fetched.blocked:
        return verdict_of(obs, Verdict.BLOCKED, reason=fetched.blocked)
    if fetched.error or fetched.final is None:
        return verdict_of(obs, Verdict.FAILED, reason=fetched.error or "no response")
    return None


def judge_response(obs: Observation, head: bytes, *, reasons: tuple[str, ...] = ()) -> Capture | None:
    """A response's status and type: a verdict that needs no cleaning (an
    HTTP error, something neither a page nor a document), or None when it is
    to be cleaned (HTML, PDF, plain text).
    `head` is the first decoded bytes of the body, for sniffing."""
    status = obs.status_code or 0
    if status >= 400:
        return verdict_of(obs, Verdict.HTTP_ERROR, reason=f"HTTP {status} {obs.reason_phrase}".strip())
    if not 200 <= status < 300:
        return verdict_of(obs, Verdict.HTTP_ERROR, reason=f"HTTP {status} without a usable Location")
    if document_kind(obs.content_type_header, head) is None:
        return verdict_of(obs, Verdict.NOT_HTML, reason="; ".join(reasons) or None)
    return None


def judge_cleaned(obs: Observation, snap: Snapshot | None, *, problem: str | None = None,
                  reasons: tuple[str, ...] = ()) -> Capture:
    """A cleaned 2xx page's verdict. `snap` is None when the body could not
    be decoded at all; `problem` says why decoding stopped early."""
    notes = list(reasons)
    if snap is None:
        return verdict_of(obs, Verdict.SOFT_ERROR, reason=f"the body could not be decoded ({problem})", word_count=0)
    if problem:
        notes.append(problem)
    if snap.partial:
        notes.append(snap.partial)
    if snap.status is SnapshotStatus.NOT_HTML:
        return verdict_of(obs, Verdict.NOT_HTML, reason="; ".join([*notes, *([snap.error] if snap.error else [])]) or None)
    # What cut the page short (the size cap) goes with a verdict of no text:
    # it may be why there is none.
    if snap.status is SnapshotStatus.ERROR_STUB:
        verdict = Verdict.BLOCKED if snap.error_kind == "wall" else Verdict.SOFT_ERROR
        return verdict_of(obs, verdict, reason="; ".join([snap.error or "error page", *notes]), title=snap.title,
                          word_count=0)
    if snap.status is SnapshotStatus.EMPTY:
        return verdict_of(obs, Verdict.SOFT_ERROR, reason="; ".join([snap.error or "no article text found", *notes]),
                          title=snap.title, word_count=0, rule_rot=snap.rule_rot)
    return verdict_of(obs, Verdict.NEW, reason="; ".join(notes) or None, title=snap.title,
                      word_count=snap.word_count, text_sha256=hashlib.sha256(snap.text.encode("utf-8")).hexdigest(),
                      rule_rot=snap.rule_rot)


def against_history(current_sha: str | None, sha: str) -> Verdict:
    """A text's verdict against the URL's current one: `new` for its first
    text, `unchanged` for the same text, `changed` for another."""
    if current_sha is None:
        return Verdict.NEW
    return Verdict.UNCHANGED if current_sha == sha else Verdict.CHANGED
