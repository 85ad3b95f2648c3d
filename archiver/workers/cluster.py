"""Cleaning on a Dask cluster (`--dask ADDRESS` or `--dask local`): the
client in a helper process of its own, calls sent in batches; the invoking
process stays the one writer of WARC records and catalog rows."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Executor, Future
from typing import Any

from ..errors import ConfigError
from .processes import WorkerLost, _cannot_send, _reply, _start_helper, _start_worker

__all__ = ["Batching", "dask_executor"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def dask_executor(address: str | None, *, workers: int | None = None,
                  start_timeout: float = 120.0) -> Iterator[Executor | None]:
    """A concurrent.futures Executor backed by Dask, or None without an
    address. A local cluster that is not up within `start_timeout` seconds
    fails every call (`ConfigError`) rather than keep them waiting."""
    if not address:
        yield None
        return
    if address == "local":
        with _local_cluster(workers or max(1, min(os.cpu_count() or 1, 8)), start_timeout) as executor:
            yield executor
        return
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(f"Dask is not installed: {exc}") from None
    try:
        client = Client(address, timeout="10s")
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    executor = Batching(client.get_executor(pure=False))
    try:
        yield executor
    finally:
        closing = threading.Event()
        closing.set()
        undo = _quiet_dask(closing)
        try:
            executor.shutdown(wait=False)
            client.close()
        finally:
            undo()


@contextlib.contextmanager
def _local_cluster(workers: int, start_timeout: float) -> Iterator[Executor]:
    """`--dask local`: a LocalCluster (scheduler and worker processes) and
    the Dask client that feeds it, both run by a helper process of their
    own; pages go to it down a pipe (`ClusterLink`). Neither Dask's
    scheduler nor its client runs here: their event loops took ~1.1 s and
    ~0.4 s of CPU per 300 pages from the interpreter that fetches and
    records, and loading Dask here held fetching back 0.25 s.

    The cluster's process is started at once (`_start_helper`); it loads the
    cleaner and Dask, and its workers fork from it warm. Pages fetched
    before the cluster is up wait there."""
    conn, theirs = multiprocessing.Pipe(duplex=True)
    try:
        process = _start_helper("cluster", [theirs], [conn], workers=workers)
    finally:
        theirs.close()
    link = ClusterLink(conn, start_timeout=start_timeout, on_stuck=process.kill)
    try:
        yield link
    finally:
        link.shutdown(wait=False, cancel_futures=True)
        if not process.wait(30):
            process.kill()
            process.wait()
        conn.close()


class ClusterLink(Executor):
    """The capturing process's end of `--dask local`: each call is numbered
    and written down the pipe to the cluster's process (one sender thread,
    so `submit` never blocks on a full pipe); one receiver thread settles
    the answers. When the cluster's process ends, or its cluster does not
    start (it says so, or has not said it is up within `start_timeout`
    seconds: then `on_stuck` is called, to end it), every call not yet
    answered fails, and so does every later one."""

    def __init__(self, conn: Any, *, start_timeout: float = 120.0,
                 on_stuck: Callable[[], None] | None = None) -> None:
        self._conn = conn
        self._start_timeout = start_timeout
        self._on_stuck = on_stuck
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # (id, fn, args, kwargs), or None to stop
        self._calls: dict[int, Future[Any]] = {}
        self._next = 0
        self._closed = False
        self._broken: BaseException | None = None
        self._sender = threading.Thread(target=self._send, name="dask-link-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="dask-link-receive", daemon=True)
        self._sender.start()
        self._receiver.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a Dask cluster that is shut down")
            if self._broken is not None:
                future.set_exception(self._broken)
                return future
            number, self._next = self._next, self._next + 1
            self._calls[number] = future
            self._queue.put((number, fn, args, kwargs))
        return future

    def _send(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)  # the cluster's process closes the cluster and ends
                return
            try:
                self._conn.send(item)
            except OSError:
                return  # the process is gone: the receiver fails what is pending
            except Exception as exc:  # the call won't pickle: that call fails
                with self._lock:
                    future = self._calls.pop(item[0], None)
                if future is not None and not future.done():
                    future.set_exception(exc)

    def _receive(self) -> None:
        up_by: float | None = time.monotonic() + self._start_timeout  # None once it is up (or given up on)
        while True:
            try:
                if up_by is not None and not self._conn.poll(max(0.0, up_by - time.monotonic())):
                    up_by = None
                    self._break(ConfigError(f"the local Dask cluster did not start within {self._start_timeout:g} s"))
                    if self._on_stuck is not None:
                        self._on_stuck()  # it ends, and the read below sees the pipe close
                    continue
                message = self._conn.recv()
            except (EOFError, OSError):
                self._break(WorkerLost("the local Dask cluster's process ended"))
                return
            number, ok, value = message
            if number is None:  # the cluster is up (ok), or did not start
                up_by = None
                if not ok:
                    self._break(ConfigError(value))
                continue
            with self._lock:
                future = self._calls.pop(number, None)
            if future is None or future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _break(self, exc: BaseException) -> None:
        with self._lock:
            if self._broken is None:
                self._broken = exc
            pending, self._calls = list(self._calls.values()), {}
        if isinstance(exc, ConfigError):
            log.error("%s", exc)
        for future in pending:
            if not future.done():
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._calls.values()) if cancel_futures else []
        for future in pending:
            future.cancel()
        self._queue.put(None)
        self._sender.join()
        if wait:
            self._receiver.join()


class _SharedFlag:
    """A flag one process sets and the processes it forks afterwards read
    (Dask's workers). Reading it takes no lock: a multiprocessing Event's
    is a semaphore shared by every process, and one killed while holding
    it (Dask kills a worker slow to close) would leave it held, and every
    log record in the others would wait for it for ever."""

    def __init__(self) -> None:
        self._value = multiprocessing.RawValue("b", 0)

    def set(self) -> None:
        self._value.value = 1

    def is_set(self) -> bool:
        return bool(self._value.value)


def _serve_cluster(conn: Any, parent: int, workers: int) -> None:
    """The cluster's process: read calls from the pipe at once (they wait
    in a `Batching` until the cluster is up), start a LocalCluster and a
    client to it, say it is up, answer each call as its task ends, and
    close the cluster when the pipe says so, or ends."""
    _start_worker(parent)  # ignores Ctrl-C, ends with its parent, loads the cleaner
    sending = threading.Lock()

    def answer(number: int, done: Future[Any]) -> None:
        try:
            ok, value = True, done.result()
        except BaseException as exc:  # noqa: BLE001 - whatever it is goes back, else the archiver waits for ever
            ok, value = False, exc
        with sending:
            _reply(conn, (number,), ok, value)  # gone: the archiver is, and this process ends with it

    batching = Batching(None)
    stop = threading.Event()
    closing = _SharedFlag()
    here = os.getpid()

    def on_sigterm(signum: int, frame: Any) -> None:
        # `systemctl stop` reaches every process of the group: this one
        # closes its cluster, its workers with it, rather than die leaving
        # them behind. Dask's workers, forked from here, inherit this handler
        # and leave their end to it (dying first, they had their nanny start
        # new ones, and say so); their nanny ends them without SIGTERM.
        if os.getpid() == here:
            closing.set()
            stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)

    def read() -> None:
        try:
            while True:
                message = conn.recv()
                if message is None:
                    break
                number, fn, args, kwargs = message
                batching.submit(fn, *args, **kwargs).add_done_callback(
                    lambda done, number=number: answer(number, done))
        except (EOFError, OSError):
            pass
        stop.set()

    reader = threading.Thread(target=read, name="dask-link-read", daemon=True)
    reader.start()
    cluster = client = None
    try:
        import dask
        from distributed import Client, LocalCluster

        _quiet_dask(closing)  # in the workers too: they are forked from here, with the flag

        # Workers forked from this warm process start in a tenth of a
        # second; spawned ones would import everything again (a second each).
        with dask.config.set({"distributed.worker.multiprocessing-method": "fork",
                              "distributed.worker.profile.enabled": False,
                              "distributed.admin.tick.interval": "1s"}):
            # Its HTTP endpoints on a free port of this machine only: None
            # would still take 8787 (and warn when a Dask dashboard has it).
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address="127.0.0.1:0")
            client = Client(cluster)
        batching.attach(client.get_executor(pure=False))
        with sending, contextlib.suppress(OSError):
            conn.send((None, True, None))
    except Exception as exc:  # reported by the archiver as a one-line error
        # Calls already here fail with this, through `answer`; the message
        # below makes the archiver fail the rest, and say it once.
        reason = f"the local Dask cluster did not start: {type(exc).__name__}: {exc}"
        batching.fail(ConfigError(reason))
        with sending, contextlib.suppress(OSError):
            conn.send((None, False, reason))
    stop.wait()
    closing.set()
    batching.shutdown(wait=False)
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


class _QuietWhile(logging.Filter):
    """Drops every record while `flag` (a threading Event, a `_SharedFlag`) is set."""

    def __init__(self, flag: Any) -> None:
        super().__init__()
        self.flag = flag

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.flag.is_set()


def _quiet_dask(flag: Any) -> Callable[[], None]:
    """Dask's and tornado's log handlers print nothing while `flag` is set;
    returns what takes that off again. Closing a client or a cluster with
    tasks in flight (Ctrl-C) cancels them, and Dask's client, scheduler and
    workers print warnings and tracebacks about it while they race each
    other down; the archiver says itself what became of each page."""
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in ("distributed", "tornado")]
    handlers = {handler for name in names for handler in logging.getLogger(name).handlers}
    quiet = _QuietWhile(flag)
    for handler in handlers:
        handler.addFilter(quiet)

    def undo() -> None:
        for handler in handlers:
            handler.removeFilter(quiet)

    return undo


def _run_batch(calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]) -> list[tuple[bool, Any]]:
    """Runs on a Dask worker: each call's (ok, result or exception). One
    that cannot travel back goes back as an error saying so: a task whose
    result Dask cannot serialise is never settled (Dask logs it, and the
    caller would wait for ever)."""
    out: list[tuple[bool, Any]] = []
    for fn, args, kwargs in calls:
        try:
            ok, value = True, fn(*args, **kwargs)
        except Exception as exc:
            ok, value = False, exc
        problem = _unsendable(value)
        if problem:
            ok, value = False, _cannot_send(problem)
        out.append((ok, value))
    return out


def _unsendable(value: Any) -> str | None:
    """Why Dask could not serialise `value` (pickle, then cloudpickle), or None."""
    import pickle

    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return None
    except Exception as exc:
        first = f"{type(exc).__name__}: {exc}"
    try:
        import cloudpickle

        cloudpickle.dumps(value)
        return None
    except Exception:
        return first


class Batching(Executor):
    """Sends calls to another executor a few at a time: every Dask task
    costs CPU in the client, the scheduler and a worker (messages, a worker
    thread hand-off), whatever its size. On bench/capture.py (300 pages,
    `--dask local`, 2 cores), once cleaning took ~15 ms a page: four pages
    a task ran at 0.86x the local pool, eight at 0.86-0.90x, sixteen at
    0.92x, thirty-two at 0.89x (the last tasks leave one worker idle longer).
    A call waits at most `wait` seconds for companions: pages arrive one by
    one as they are fetched (~80 a second there), so a 20 ms wait sent
    tasks of two pages or so; 100 ms makes fuller tasks (7.0 s of CPU for
    the 300 pages instead of 7.3, 0.90-0.92x) for at most 0.1 s more before
    a page is cleaned. Made with no inner
    executor yet, it keeps calls until `attach` gives it one (or `fail`
    says there will be none)."""

    def __init__(self, inner: Executor | None, *, size: int = 16, wait: float = 0.1) -> None:
        self.inner, self.size, self.wait = inner, size, wait
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Future[Any]]] = []
        self._timer: threading.Timer | None = None
        self._broken: BaseException | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._broken is not None:
                future.set_exception(self._broken)
                return future
            self._pending.append((fn, args, kwargs, future))
            if self.inner is None:
                pass  # kept until attach()
            elif len(self._pending) >= self.size:
                self._send_locked()
            elif self._timer is None:
                self._timer = threading.Timer(self.wait, self.flush)
                self._timer.daemon = True
                self._timer.start()
        return future

    def attach(self, inner: Executor) -> None:
        """The executor to send to, from now on; what was kept goes now."""
        with self._lock:
            self.inner = inner
            kept, self._pending = self._pending, []
            for start in range(0, len(kept), self.size):
                self._pending = kept[start:start + self.size]
                self._send_locked()

    def fail(self, exc: BaseException) -> None:
        """There will be no executor: every call kept, and every call from
        now on, fails with `exc`."""
        with self._lock:
            self._broken = exc
            kept, self._pending = self._pending, []
        for *_, future in kept:
            future.set_exception(exc)

    def flush(self) -> None:
        with self._lock:
            if self.inner is not None:
                self._send_locked()

    def _send_locked(self) -> None:
        assert self.inner is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        futures = [f for *_, f in batch]
        try:
            sent = self.inner.submit(_run_batch, [(fn, args, kwargs) for fn, args, kwargs, _ in batch])
        except Exception as exc:
            for f in futures:
                f.set_exception(exc)
            return

        def settle(done: Future[Any]) -> None:
            try:
                results = done.result()
            except BaseException as exc:
                if isinstance(exc, CancelledError):  # Dask cancels what its lost scheduler held
                    exc = WorkerLost("the Dask cluster cancelled it (its scheduler or workers went away)")
                for f in futures:
                    f.set_exception(exc)
                return
            for f, (ok, value) in zip(futures, results):
                if ok:
                    f.set_result(value)
                else:
                    f.set_exception(value)

        sent.add_done_callback(settle)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.flush()
