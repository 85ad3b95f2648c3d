"""Scale-out on Dask: the CPU work (cleaning) runs on a cluster's workers,
the invoking process stays the one writer of WARC records and catalog rows.

`--dask ADDRESS` connects to a running scheduler (`dask scheduler` and
`dask worker ADDRESS` processes, started by the user, on any machines that
reach each other over the network); `--dask local` starts a LocalCluster of
worker processes on this machine. Workers need archiver installed and nothing
else: no shared disk, since pages travel to them and snapshots come back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import Executor

from .errors import ConfigError

__all__ = ["dask_executor"]

log = logging.getLogger(__name__)


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
