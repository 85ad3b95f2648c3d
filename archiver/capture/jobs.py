"""A page to clean and what comes back: plain data that travels to a worker
process or a Dask worker, and nothing on the way needs the archive.

The cleaner itself (trafilatura, lxml, the rule files) is imported where
pages are cleaned, at the first one. A capture with worker processes forks
them before it has loaded the cleaner, so they load it while the capture's
own process starts fetching, on the other cores, instead of everyone
waiting for one process to load it first.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from ..config import CleanOptions
from ..models import Snapshot
from ..cleaning.payload import decode_stream

__all__ = ["CleanJob", "Cleaned", "clean_job", "warm_up"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CleanJob:
    """One page to clean."""

    url: str | None
    body: bytes  # the payload as stored (content-encoded), or its first part
    content_encoding: str | None = None
    content_type: str | None = None  # the Content-Type header
    kind: str = "html"  # "html" | "pdf" | "text"
    status_code: int | None = None
    headers: tuple[tuple[str, str], ...] = ()  # the response's headers
    cut: bool = False  # `body` is only the first part of what was stored
    title_suffixes: tuple[str, ...] = ()  # learned from the host's other pages
    links: bool = False  # also list the pages it links to (a crawl follows them)


@dataclass(frozen=True)
class Cleaned:
    snapshot: Snapshot | None  # None: the body could not be decoded at all
    problem: str | None = None  # why decoding stopped short, if it did
    links: tuple[Any, ...] = ()  # the pages it links to (cleaning.listings.Link), when the job asked


def clean_job(job: CleanJob, options: CleanOptions | None = None) -> Cleaned:
    """Decode a stored payload and clean it (runs wherever the executor puts it)."""
    from ..cleaning.snapshot import clean_page  # the cleaner, loaded by the process that cleans

    options = options or CleanOptions()
    limit = options.max_document_bytes if job.kind == "pdf" else options.max_html_bytes
    payload = decode_stream(io.BytesIO(job.body), job.content_encoding, limit)
    problem = payload.problem
    if job.cut and problem and problem.endswith("ends early"):
        problem = f"body larger than {limit} bytes"  # where we stopped reading, not the server
    if problem and not payload.data:
        return Cleaned(None, problem)
    snap = clean_page(payload.data, job.url, options=options, status_code=job.status_code,
                      content_type=job.content_type, headers=job.headers, title_suffixes=job.title_suffixes)
    links: tuple[Any, ...] = ()
    if job.links and job.kind in ("html", "text"):
        from ..cleaning.links import document_links

        links = document_links(payload.data, job.content_type, job.url)
    return Cleaned(snap, f"cleaned the first {len(payload.data)} bytes: {problem}" if problem else None, links)


_WARM_PAGE = ("<html lang='en'><head><title>Warm-up | Site</title><meta name='author' content='A. Writer'>"
              "<meta property='article:published_time' content='2020-01-02'></head><body><nav>menu</nav><article>"
              "<h1>Warm-up</h1>" + "<p>A sentence of a page that is cleaned once before any real one.</p>" * 12
              + "</article></body></html>")


def warm_up(options: CleanOptions | None = None) -> None:
    """Clean a small page once: imports the cleaner, loads the rule files and
    fills the extractor's lazy caches. Only a head start: a failure here (a
    broken rule file) is left for the first real page to report."""
    from ..cleaning.snapshot import clean_page

    try:
        clean_page(_WARM_PAGE, "https://www.example.org/news/warm-up", options=options)
    except Exception as exc:  # the real pages will say what is wrong, one by one
        log.debug("warm-up failed: %s", exc)
