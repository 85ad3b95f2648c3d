"""Captures asked for through the interface, run in the background: the
request is answered at once with a job, whose page (/jobs/ID) and JSON
(/api/jobs/ID) show its progress. A job's state lives in the catalog, so
any of the server's processes can show it; each process runs its own jobs
one at a time, beside the page requests."""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..archive.catalog import Catalog
from ..archive.layout import Layout
from ..errors import ArchiverError, brief
from ..models import Capture

if TYPE_CHECKING:
    from .site import Site

__all__ = ["JobRunner", "MAX_JOB_URLS"]

log = logging.getLogger(__name__)

MAX_JOB_URLS = 1000


class JobRunner:
    """Runs a process's capture jobs, one at a time, in a thread of their own."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, urls: list[str], *, browser: bool) -> str:
        """A new job for `urls` (checked already); its ID."""
        job_id = secrets.token_hex(8)
        with Catalog(Layout.of(self.site.archive.path).catalog) as catalog:
            catalog.add_job(job_id, urls, browser=browser, now=time.time())
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="archiver-job")
            self._pool.submit(self._run, job_id, urls, browser)
        return job_id

    def _run(self, job_id: str, urls: list[str], browser: bool) -> None:
        done: queue.Queue[Capture | None] = queue.Queue()
        outcome: dict[str, BaseException] = {}

        def work() -> None:
            try:
                self.site.capturer.capture(urls, browser=browser, on_capture=done.put)
            except BaseException as exc:  # reported on the job's page, never lost in a thread
                outcome["error"] = exc
            finally:
                done.put(None)

        with Catalog(Layout.of(self.site.archive.path).catalog) as catalog:
            catalog.job_state(job_id, "running")
            worker = threading.Thread(target=work, name=f"archiver-job-{job_id}", daemon=True)
            worker.start()
            while (capture := done.get()) is not None:
                catalog.job_progress(job_id, capture.to_json())
            worker.join()
            error = outcome.get("error")
            if error is None:
                catalog.job_state(job_id, "done", now=time.time())
            else:
                log.warning("job %s failed: %s", job_id, error)
                why = brief(error) if isinstance(error, ArchiverError) else f"{type(error).__name__}: {error}"
                catalog.job_state(job_id, "failed", error=why[:1000], now=time.time())

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

