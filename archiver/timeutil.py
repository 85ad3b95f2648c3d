"""Time, the one way archiver writes and reads it.

Inside archiver a moment is a naive `datetime` in UTC (what warcio wants for
WARC-Date). Outside it is a 14-digit timestamp (`20261128223800`), an ISO
8601 string with microseconds and a `Z`, or unix seconds (schedules).
"""

from __future__ import annotations

from datetime import datetime, timezone


__all__ = ["utc_now", "timestamp14", "iso_utc", "parse_iso", "parse_warc_date", "to_epoch", "from_epoch",
           "iso_seconds"]


def utc_now() -> datetime:
    """Naive UTC with microseconds."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def timestamp14(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


def iso_utc(when: datetime) -> str:
    """ISO 8601 with microseconds and Z: the `captured_at` form."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(when: datetime) -> str:
    """ISO 8601 to the second, with Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """The inverse of `iso_utc`."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp14(value: str | None) -> datetime | None:
    """The inverse of `timestamp14` (longer forms cut to 14 digits); None when it is not one."""
    try:
        return datetime.strptime(value[:14], "%Y%m%d%H%M%S") if value else None
    except ValueError:
        return None


def parse_iso_seconds(value: str | None) -> datetime | None:
    """The inverse of `iso_seconds`; None when it is not one."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ") if value else None
    except ValueError:
        return None


def parse_warc_date(value: str | None) -> datetime:
    """A WARC-Date (any precision) as naive UTC; ValueError when it is not one."""
    from warcio.timeutils import iso_date_to_datetime  # loaded with warcio, by what reads WARCs

    if not value:
        raise ValueError("no date")
    try:
        return iso_date_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"not a WARC-Date: {value!r}") from exc


def seconds_between(a: str, b: str) -> float:
    """How far apart two 14-digit timestamps are, in seconds (one that is not a timestamp counts as the epoch)."""
    def epoch(value: str) -> float:
        when = parse_timestamp14(value)
        return to_epoch(when) if when is not None else 0.0

    return abs(epoch(a) - epoch(b))


def to_epoch(when: datetime) -> float:
    return when.replace(tzinfo=timezone.utc).timestamp()


def from_epoch(seconds: float) -> datetime:
    """Naive UTC; OverflowError/ValueError/OSError for a time no calendar holds."""
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def timestamp_of_w3c(value: str) -> str | None:
    """A W3C datetime (a sitemap's lastmod: "2026-12-06", "2026-12-06T10:00:00+01:00")
    as a 14-digit UTC timestamp; a date alone is its first second. None when unreadable."""
    try:
        when = datetime.fromisoformat((value or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return timestamp14(when)
