"""Where pages are cleaned: a pool of worker processes on this machine
(the default), or a Dask cluster; the invoking process stays the one writer
of WARC records and catalog rows, and keeps fetching.

Both are a `concurrent.futures.Executor` to the capture pipeline and to
ingest: one seam, `submit(clean_job, job, options)`.

`--dask ADDRESS` connects to a running scheduler (`dask scheduler` and
`dask worker ADDRESS` processes, started by the user, on any machines that
reach each other over the network); `--dask local` starts a LocalCluster of
worker processes on this machine. Workers need archiver installed and nothing
else: no shared disk, since pages travel to them and snapshots come back.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

from .errors import ConfigError

__all__ = ["cleaning_pool", "dask_executor"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def cleaning_pool(workers: int) -> Iterator[Executor]:
    """`workers` processes that clean pages. They start from a fork server
    that has imported the cleaner once (trafilatura, lxml, the rules), so a
    worker is ready in milliseconds, and nothing of this process's threads
    or open files is forked into them."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["archiver.snapshot"])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_watch_parent,
                               initargs=(os.getpid(),))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _gone(pid: int) -> bool:
    """True when process `pid` has ended (a zombie not yet reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        pass  # no /proc here: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _watch_parent(parent: int) -> None:
    """A worker ends itself when the archiver that started it is gone (killed
    with no chance to shut its pool down), rather than linger."""

    def watch() -> None:
        while not _gone(parent):
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@contextlib.contextmanager
def dask_executor(address: str | None, *, workers: int | None = None) -> Iterator[Executor | None]:
    """A concurrent.futures Executor backed by Dask, or None without an address."""
    if not address:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(f"Dask is not installed: {exc}") from None
    cluster = None
    try:
        if address == "local":
            n = workers or max(1, min(os.cpu_count() or 1, 8))
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(address, timeout="10s")
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
