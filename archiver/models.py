"""Plain data passed between the stages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from typing import IO, Any

__all__ = ["Verdict", "SnapshotStatus", "Change", "DashboardRow", "schedule_text", "Attachment", "Exchange", "Fetched", "Capture", "Snapshot", "StoredSnapshot", "SearchHit",
           "Watch", "Notification", "WarcFileRow", "RecordLocation"]


class Verdict(str, enum.Enum):
    """What one capture of one URL amounted to."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    HTTP_ERROR = "http_error"
    SOFT_ERROR = "soft_error"
    BLOCKED = "blocked"
    NOT_HTML = "not_html"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def has_text(self) -> bool:
        """A capture with a clean text: the ones `show`, `diff` and `search` use."""
        return self in (Verdict.NEW, Verdict.CHANGED, Verdict.UNCHANGED)

    @property
    def is_error(self) -> bool:
        """The page could not be had as a page: counted as a failure by the schedule."""
        return self in (Verdict.HTTP_ERROR, Verdict.SOFT_ERROR, Verdict.BLOCKED, Verdict.FAILED)

    @property
    def keeps_schedule(self) -> bool:
        """The watch goes on at its regular pace (no backoff): a text, or a
        good answer that is no page (an image, an archive)."""
        return not self.is_error


class SnapshotStatus(str, enum.Enum):
    """What cleaning made of a page."""

    OK = "ok"  # an article text
    ERROR_STUB = "error_stub"  # an error page, bot wall or challenge served as the page
    EMPTY = "empty"  # no article text found
    NOT_HTML = "not_html"  # not a page or document cleaning reads

    def __str__(self) -> str:
        return self.value


@dataclass(kw_only=True, eq=False)
class Exchange:
    """One HTTP request and its response, with the body exactly as it came off
    the wire (content-coding kept, transfer-coding removed)."""

    url: str
    method: str
    request_target: str  # path and query, as sent on the request line
    request_headers: list[tuple[str, str]]
    started: datetime  # naive UTC: the WARC-Date of both records
    http_version: str
    status_code: int
    reason: str
    response_headers: list[tuple[str, str]]
    body: IO[bytes]
    body_length: int
    payload_digest: str  # "sha1:<base32>" of the stored body
    truncated: bool = False
    truncation: str = "length"  # WARC-Truncated's reason when truncated: "length" (the size cap), "disconnect"
    ip_address: str | None = None
    protocol: str | None = None  # "h2" when the response came over HTTP/2
    request_body: bytes = b""  # a POST's body (the browser's XHRs), as sent
    tls_version: str | None = None  # "TLSv1.3", for HTTPS
    tls_chain: tuple[bytes, ...] = ()  # the server's certificates (DER), leaf first
    secret_headers: frozenset[str] = frozenset()  # lower-cased names of request headers the user gave (credentials)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.response_headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def content_type(self) -> str:
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    def close(self) -> None:
        self.body.close()


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """Something the capture made rather than fetched (a screenshot, the
    rendered DOM): a WARC `resource` record named by `uri`."""

    uri: str  # "urn:screenshot:<url>", "urn:dom:<url>"
    content_type: str
    data: bytes


@dataclass(kw_only=True, eq=False)
class Fetched:
    """Everything one fetch of one URL produced: the robots.txt exchange (if
    one was fetched for this host on the way), every redirect hop, and why it
    stopped when it did not end in a response."""

    url: str
    started: datetime | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    robots: list[Exchange] = field(default_factory=list)
    blocked: str | None = None  # reason, when robots.txt or policy kept us out
    error: str | None = None  # reason, when no final response was had
    attempts: int = 0
    not_retried: bool = False  # its host could not be reached earlier this run: one attempt, no retries
    spent: float = 0.0  # seconds of the URL's time budget used (requests and retry waits)
    via: str = "http"  # "browser": loaded in Chromium
    browser: str | None = None  # "Chromium 150.0.7871.100"
    resources: list[Exchange] = field(default_factory=list)  # what the page fetched besides its document
    attachments: list[Attachment] = field(default_factory=list)
    rendered: bytes | None = None  # the DOM as the page's scripts left it (UTF-8): what gets cleaned
    credentials: str | None = None  # the name of the credential set it was fetched with
    auth: Any = field(default=None, repr=False)  # that set (auth.CredentialSet): never stored
    refused: list[str] = field(default_factory=list)  # requests the network policy refused, and why
    origin: Any = field(default=None, repr=False)  # netpolicy.Origin: what the capture has reached

    @property
    def final(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def close(self) -> None:
        for ex in (*self.exchanges, *self.robots, *self.resources):
            ex.close()


@dataclass(frozen=True, kw_only=True)
class Capture:
    """The outcome of capturing one URL, as recorded in the catalog."""

    url: str
    final_url: str | None
    status_code: int | None
    verdict: Verdict
    timestamp: str  # 14 digits, UTC
    captured_at: str  # ISO 8601 UTC
    title: str | None = None
    word_count: int | None = None
    warc_file: str | None = None
    content_type: str | None = None
    reason: str | None = None
    text_sha256: str | None = None  # of the clean text, for new/changed/unchanged
    snapshot_file: str | None = None  # the JSON file holding that text, relative to the archive
    rule_rot: tuple[str, ...] = ()  # "rule: selector" that matched nothing on this page
    source: str | None = None  # ingested captures: "FILE#OFFSET" of the record in the file it came from
    via: str = "http"  # how the page was fetched: "http", or "browser" (rendered in Chromium)
    id: int | None = None  # the catalog's row id, once recorded
    # The pages it links to or lists (cleaning.listings.Link), when the capture was asked
    # for them (a crawl's); never stored.
    links: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    @property
    def precise_timestamp(self) -> str:
        """The 14-digit timestamp and the capture's microseconds (20 digits):
        tells apart two captures of one URL in the same second."""
        micros = self.captured_at[20:26] if len(self.captured_at) >= 26 else ""
        return self.timestamp + (micros if micros.isdigit() else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "final_url": self.final_url,
            "status_code": self.status_code,
            "verdict": self.verdict.value,
            "timestamp": self.timestamp,
            "title": self.title,
            "word_count": self.word_count,
            "warc_file": self.warc_file,
            "content_type": self.content_type,
            "reason": self.reason,
            "text_sha256": self.text_sha256,
            "source": self.source,
            "fetched_with": self.via,
        }

    def history_json(self) -> dict[str, Any]:
        """The fields `archiver history --json` lists (DESIGN.md)."""
        return {
            "timestamp": self.timestamp,
            "captured_at": self.captured_at,
            "status_code": self.status_code,
            "verdict": self.verdict.value,
            "title": self.title,
            "word_count": self.word_count,
            "text_sha256": self.text_sha256,
            "reason": self.reason,
            "final_url": self.final_url,
            "fetched_with": self.via,
        }


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """A cleaned page: the article text and its metadata."""

    url: str | None
    status: SnapshotStatus  # a plain string of one of its values is taken too
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None  # YYYY-MM-DD or full ISO 8601
    language: str | None = None
    sitename: str | None = None
    canonical_url: str | None = None
    text: str = ""  # paragraphs separated by one blank line
    rules: tuple[str, ...] = ()
    error: str | None = None  # why it is an error stub
    error_kind: str | None = None  # "error" | "wall" (bot wall / challenge)
    rule_rot: tuple[str, ...] = ()  # "rule: selector" of site rules that matched nothing here
    page_title: str | None = None  # the title as the page gave it, site name and all
    partial: str | None = None  # what of the document was left unread, and why: the text is the rest

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", SnapshotStatus(self.status))

    @cached_property
    def word_count(self) -> int:
        from .cleaning.normalize import count_words

        return count_words(self.text)

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in self.text.split("\n\n") if p]

    def to_json(self, source: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {} if source is None else {"source": source}
        data.update({
            "url": self.url,
            "status": self.status.value,
            "title": self.title,
            "page_title": self.page_title,
            "authors": list(self.authors),
            "published": self.published,
            "language": self.language,
            "sitename": self.sitename,
            "canonical_url": self.canonical_url,
            "text": self.text,
            "word_count": self.word_count,
            "rules": list(self.rules),
            "error": self.error,
            "partial": self.partial,
        })
        return data


@dataclass(frozen=True, kw_only=True)
class StoredSnapshot:
    """A snapshot file as the archive keeps it (`texts/<sha>.json`): one
    distinct clean text, its metadata, the capture that first produced it,
    and where that capture's response record is."""

    text_sha256: str
    url: str | None
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None
    language: str | None = None
    sitename: str | None = None
    canonical_url: str | None = None
    text: str = ""
    word_count: int = 0
    rules: tuple[str, ...] = ()
    first_captured: dict[str, Any] = field(default_factory=dict)
    warc: dict[str, Any] | None = None

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in self.text.split("\n\n") if p]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "archiver-snapshot-1",
            "text_sha256": self.text_sha256,
            "url": self.url,
            "title": self.title,
            "authors": list(self.authors),
            "published": self.published,
            "language": self.language,
            "sitename": self.sitename,
            "canonical_url": self.canonical_url,
            "text": self.text,
            "word_count": self.word_count,
            "rules": list(self.rules),
            "first_captured": dict(self.first_captured),
            "warc": self.warc,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredSnapshot:
        """Read tolerantly: a field missing or of the wrong type becomes empty."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        count = data.get("word_count")
        first = data.get("first_captured")
        warc = data.get("warc")
        return cls(text_sha256=text("text_sha256") or "", url=text("url"), title=text("title"),
                   authors=strings("authors"), published=text("published"), language=text("language"),
                   sitename=text("sitename"), canonical_url=text("canonical_url"), text=text("text") or "",
                   word_count=count if isinstance(count, int) else 0, rules=strings("rules"),
                   first_captured=first if isinstance(first, dict) else {},
                   warc=warc if isinstance(warc, dict) else None)

    @classmethod
    def made(cls, snap: Snapshot, *, sha: str, first_captured: dict[str, Any],
             warc: dict[str, Any] | None) -> StoredSnapshot:
        return cls(text_sha256=sha, url=snap.url, title=snap.title, authors=snap.authors, published=snap.published,
                   language=snap.language, sitename=snap.sitename, canonical_url=snap.canonical_url, text=snap.text,
                   word_count=snap.word_count, rules=snap.rules, first_captured=first_captured, warc=warc)


@dataclass(frozen=True, kw_only=True)
class SearchHit:
    url: str
    timestamp: str
    title: str | None
    snippet: str

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "timestamp": self.timestamp, "title": self.title, "snippet": self.snippet}


def _utc_text(epoch: float) -> str:
    from .timeutil import from_epoch, iso_seconds

    try:
        return iso_seconds(from_epoch(epoch))
    except (OverflowError, OSError, ValueError):
        return "never"


@dataclass(frozen=True, kw_only=True)
class Watch:
    """A URL captured on a schedule, as the catalog keeps it."""

    url: str
    every_seconds: int | None
    cron: str | None
    tag: str | None
    added_at: str
    next_due: float  # unix time, UTC
    last_capture: str | None = None
    last_verdict: str | None = None
    last_good: str | None = None
    failures: int = 0
    rule_rot: tuple[str, ...] = ()
    problem: str | None = None  # why it cannot be scheduled (skipped until changed)
    browser: bool = False  # captured in Chromium (pages that need JavaScript)
    notify: tuple[str, ...] = ()  # Apprise URLs for this watch's messages
    auth: str | None = None  # the credential set it is captured with (by name)
    active_hours: str | None = None  # "08:00-20:00": captured only then
    tz: str | None = None  # the zone of active_hours (default UTC)
    headers: tuple[str, ...] = ()  # its own request headers ("Name: value"; never credentials)
    cookies: str | None = None  # the path of its cookies.txt
    change_rules: dict[str, Any] = field(default_factory=dict)  # --ignore, --trigger, --min-words (significance.ChangeRules)
    paused: bool = False  # kept, not captured, until resumed
    follow: dict[str, Any] = field(default_factory=dict)  # a section watch: {"scope", "watch_new"}

    @property
    def schedule(self) -> str:
        return schedule_text(self.every_seconds, self.cron)

    def schedule_parts(self) -> tuple[str | None, str | None]:
        """(every, cron) as `watch add` takes them: "6h" or a cron expression."""
        if self.cron:
            return None, self.cron
        return schedule_text(self.every_seconds, None).removeprefix("every "), None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "schedule": self.schedule,
            "every_seconds": self.every_seconds,
            "cron": self.cron,
            "tag": self.tag,
            "next_due": _utc_text(self.next_due),
            "last_capture": self.last_capture,
            "last_verdict": self.last_verdict,
            "last_good": self.last_good,
            "failures": self.failures,
            "rule_rot": list(self.rule_rot),
            "problem": self.problem,
            "browser": self.browser,
            "notify": [_mask(u) for u in self.notify],
            "auth": self.auth,
            "active_hours": self.active_hours,
            "tz": self.tz,
            "headers": [h.split(":", 1)[0] for h in self.headers],  # names only
            "cookies": self.cookies,
            "ignore": list(self.change_rules.get("ignore") or []),
            "trigger": list(self.change_rules.get("trigger") or []),
            "min_words": self.change_rules.get("min_words") or 0,
            "paused": self.paused,
            "follow": self.follow or None,
        }


def schedule_text(every_seconds: int | None, cron: str | None) -> str:
    """A watch's schedule as a person reads it: "every 6h", "cron 0 */6 * * *"."""
    if cron:
        return f"cron {cron}"
    seconds = every_seconds or 0
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"every {seconds // size}{unit}"
    return f"every {seconds}s"


@dataclass(frozen=True, kw_only=True)
class Change:
    """A new text of a URL, with the words it added and removed, worked out
    once when it was recorded (feeds and messages read it, never recompute)."""

    url: str
    timestamp: str  # the capture that brought the text
    captured_at: str
    verdict: Verdict  # new | changed
    title: str | None = None
    previous: str | None = None  # timestamp of the text it replaced
    added: str | None = None  # words added, in order, "…" between runs
    removed: str | None = None
    words_added: int | None = None
    words_removed: int | None = None


@dataclass(frozen=True, kw_only=True)
class DashboardRow:
    """One URL on the dashboard: its last capture, its current text, its watch."""

    url: str
    title: str  # what a person knows it by: the current text's title, else the last capture's, else the URL
    last_capture: str | None  # 14 digits
    changed: str | None  # when its current text came
    verdict: Verdict | None  # of the last capture
    reason: str | None
    watched: bool = False
    schedule: str | None = None
    tag: str | None = None
    failures: int = 0
    rule_rot: tuple[str, ...] = ()
    problem: str | None = None
    browser: bool = False
    paused: bool = False
    texts: int = 0  # distinct texts so far: a diff needs two
    cursor: str = ""  # where the dashboard's next page starts after this row (keyset paging)


@dataclass(frozen=True, kw_only=True)
class Notification:
    """A message waiting in the outbox (or sent)."""

    id: int
    created: float
    target: str  # JSON: {"kind": "webhook", "url": ...} | {"kind": "command", "argv": [...]}
    payload: str  # JSON
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class WarcFileRow:
    """A closed WARC file's fixity, as the catalog keeps it."""

    name: str
    sha256: str  # hex
    size: int | None
    closed_at: str | None


@dataclass(frozen=True, kw_only=True)
class RecordLocation:
    """Where one record lives: enough to read it back or refer to it."""

    warc_file: str  # file name, relative to the WARC folder
    offset: int
    length: int
    record_id: str
    warc_date: str  # as written in WARC-Date
    record_type: str


def _mask(url: str) -> str:
    from .schedule.notify import mask_url  # (notify imports nothing of models)

    return mask_url(url)
