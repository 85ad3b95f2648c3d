"""Where pages are cleaned: a pool of worker processes on this machine
(the default), or a Dask cluster; the invoking process stays the one writer
of WARC records and catalog rows, and keeps fetching.

Both are a `concurrent.futures.Executor` to the capture pipeline and to
ingest: one seam, `submit(clean_job, job, options)`.

`--dask ADDRESS` connects to a running scheduler (`dask scheduler` and
`dask worker ADDRESS` processes, started by the user, on any machines that
reach each other over the network); `--dask local` starts a LocalCluster of
worker processes on this machine, its scheduler and the client that feeds
it in a process of their own.
Workers need archiver installed and nothing else: no shared disk, since
pages travel to them and snapshots come back.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Executor, Future
from typing import Any

from ..errors import ConfigError

__all__ = ["Batching", "ForkedPool", "WorkerLost", "cleaning_pool", "dask_executor"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def cleaning_pool(workers: int, *, time_limit: float | None = None,
                  memory_limit: int | None = None) -> Iterator[ForkedPool]:
    """`workers` processes that clean pages (a `ForkedPool`), for as long
    as the block lasts; then they finish what they hold and end. A call
    running longer than `time_limit` seconds has its worker stopped; one
    allocating more than `memory_limit` bytes beyond what its worker held
    at the start fails with MemoryError (None: `default_memory_limit`)."""
    pool = ForkedPool(workers, time_limit=time_limit, memory_limit=memory_limit)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class WorkerLost(RuntimeError):
    """A cleaning worker process ended while it held a page (killed, or out of memory)."""


class _Slot:
    """One worker as the pool sees it: its pipe, and the call in its hands.
    A worker that ends is given a new slot (`ForkedPool._lost`); threads
    holding the old one see it is no longer live."""

    __slots__ = ("conn", "free", "in_hand", "live", "pid", "sent_at", "overdue")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.free = threading.Semaphore(1)  # released when the worker answers
        self.in_hand: tuple[Any, Future[Any]] | None = None  # the call written to it
        self.live = True
        self.pid: int | None = None  # the worker says its own when it starts
        self.sent_at = 0.0  # when the call in its hands was written
        self.overdue = False  # stopped for running past the time limit


class ForkedPool(Executor):
    """Worker processes forked from one warm process. This process starts
    that process, the zygote, at once (`_start_helper`); the zygote loads
    the cleaner (`jobs.warm_up`) on another core while this process goes on
    to fetch, then forks the workers, which start warm and share the
    cleaner's memory. (A pool forking its workers straight from here either
    made this process load the cleaner first, every other core idle
    meanwhile, or had every worker load it: 0.35 s of CPU each.)

    Each worker has a duplex pipe to this process and a sender thread that
    takes the next call from one shared queue whenever its worker is free:
    no page waits behind a slow one while another worker is idle, and none
    sits idle at the end while another has pages queued. One receiver
    thread reads every answer. One call is written to a worker at a time:
    a page written behind one that takes seconds to clean would wait for it
    while another worker is free (the round trip between pages costs well
    under a millisecond). When a worker ends (killed, out of memory, stuck
    past the time limit), only the call in its hands fails (`WorkerLost`:
    the page that killed it is not tried again), and the zygote forks a
    worker in its place, handed a new pipe over the zygote's control pipe:
    the pool stays its size for as long as it lasts (a `run --loop` keeps
    one for days). Workers end when their pipe does: at shutdown, or when
    this process is gone (killed: the system closes its ends)."""

    def __init__(self, workers: int, *, time_limit: float | None = None, memory_limit: int | None = None) -> None:
        self.time_limit = time_limit
        pairs = [multiprocessing.Pipe(duplex=True) for _ in range(max(1, workers) + 1)]
        self._control, *conns = (ours for ours, _ in pairs)  # the first: to ask the zygote for workers
        theirs = [end for _, end in pairs]
        limit = memory_limit if memory_limit is not None else default_memory_limit(len(conns))
        try:
            self._zygote = _start_helper("zygote", theirs, [ours for ours, _ in pairs],
                                         memory_limit=limit, time_limit=time_limit)
        finally:
            for end in theirs:
                end.close()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # (message, future), or None to stop
        self._slots = [_Slot(conn) for conn in conns]
        self.replaced = 0  # workers forked in place of ones that ended
        self._closed = False
        self._ended = threading.Event()
        # Written to when a worker has taken another's place, so that the
        # receiver, waiting on the pipes it knows, reads the new one too.
        self._wake_reader, self._wake_writer = multiprocessing.Pipe(duplex=False)
        self._retired: list[Any] = []  # pipes of workers that ended, closed at shutdown
        self._senders = [self._start_sender(slot) for slot in self._slots]
        self._receiver = threading.Thread(target=self._receive, name="cleaning-receive", daemon=True)
        self._receiver.start()
        if time_limit is not None:
            threading.Thread(target=self._watch_time, name="cleaning-time-limit", daemon=True).start()

    @property
    def whole(self) -> bool:
        """Every worker is there and started, and so is the zygote that
        replaces them (and the pool is open)."""
        with self._lock:
            if self._closed or not all(slot.live and slot.pid is not None for slot in self._slots):
                return False
        return self._zygote.alive()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that is shut down")
            if not any(slot.live for slot in self._slots):
                raise WorkerLost("every cleaning worker process has ended")
            # Under the lock: the last worker cannot end (and empty the
            # queue) between the check above and this.
            self._queue.put(((fn, args, kwargs), future))
        return future

    def _start_sender(self, slot: _Slot) -> threading.Thread:
        thread = threading.Thread(target=self._send, args=(slot,), name="cleaning-send", daemon=True)
        thread.start()
        return thread

    def _send(self, slot: _Slot) -> None:
        conn = slot.conn
        while True:
            slot.free.acquire()
            item = self._queue.get()
            if item is None:
                self._queue.put(None)  # for the other senders
                with contextlib.suppress(OSError):
                    conn.send(None)  # the worker ends once it has answered what it holds
                return
            message, future = item
            with self._lock:
                if not slot.live:
                    self._requeue_locked(item)
                    return
                if not future.running() and not future.set_running_or_notify_cancel():
                    slot.free.release()  # cancelled before it was sent
                    continue
                slot.in_hand = item
                slot.sent_at = time.monotonic()
            try:
                conn.send(message)
            except OSError:
                with self._lock:  # it never reached the worker: it goes to another
                    slot.in_hand = None
                    self._requeue_locked(item)
                self._lost(slot)
                return
            except Exception as exc:  # the call won't pickle: that call fails, not the worker
                with self._lock:
                    slot.in_hand = None
                slot.free.release()
                if not future.done():
                    future.set_exception(exc)

    def _requeue_locked(self, item: tuple[Any, Future[Any]]) -> None:
        """A call a worker will never answer goes to the others, or fails when none is left."""
        if self._closed or not any(slot.live for slot in self._slots):
            if not item[1].done():
                item[1].set_exception(WorkerLost("every cleaning worker process has ended"))
        else:
            self._queue.put(item)

    def _receive(self) -> None:
        from multiprocessing.connection import wait

        waiting: dict[Any, _Slot] = {}
        while True:
            with self._lock:
                for slot in self._slots:
                    if slot.live and slot.conn not in waiting:
                        waiting[slot.conn] = slot
            if not waiting:
                return
            for conn in wait([*waiting, self._wake_reader]):
                if conn is self._wake_reader:
                    with contextlib.suppress(EOFError, OSError):
                        conn.recv()
                    continue
                slot = waiting[conn]
                try:
                    ok, value = conn.recv()
                except (EOFError, OSError):
                    del waiting[conn]
                    self._lost(slot)
                    continue
                if ok == "pid":  # a worker starting (answers say True or False)
                    with self._lock:
                        slot.pid = value
                    continue
                with self._lock:
                    item, slot.in_hand = slot.in_hand, None
                slot.free.release()
                if item is None or item[1].done():
                    continue
                if ok:
                    item[1].set_result(value)
                else:
                    item[1].set_exception(value)

    def _watch_time(self) -> None:
        """Stop a worker whose call has run past the time limit and did not
        stop itself (`_Overtime`) within a grace after it: a page that would
        take hours in C code that never looks at signals (Python's regex
        engine does look, and stops itself) would hold the capture, and a
        `run --loop`, for as long. Only killing its process ends it."""
        assert self.time_limit is not None
        hard = self.time_limit + overtime_grace(self.time_limit)
        while not self._ended.wait(min(1.0, self.time_limit / 4)):
            now = time.monotonic()
            with self._lock:
                late = [slot for slot in self._slots
                        if slot.in_hand is not None and slot.live and slot.pid is not None
                        and not slot.overdue and now - slot.sent_at > hard]
                for slot in late:
                    slot.overdue = True
            for slot in late:
                assert slot.pid is not None
                with contextlib.suppress(OSError):
                    os.kill(slot.pid, signal.SIGKILL)  # its pipe closes: `_lost` fails the call

    def _lost(self, slot: _Slot) -> None:
        """The worker of `slot` is gone: fail the call in its hands, and
        have a worker forked in its place."""
        with self._lock:
            if not slot.live:
                return
            slot.live = False
            in_hand, slot.in_hand = slot.in_hand, None
            closing = self._closed
            replaced = not closing and self._replace_locked(slot)
            if not any(s.live for s in self._slots):  # nobody left to take what is queued
                self._closed_by_loss_locked()
        slot.free.release()  # its sender, if waiting for its worker, sees it is gone
        # Logged below warning level: the page's failure carries the reason
        # (the CLI shows it, beside the page).
        then = "; another took its place" if replaced else ""
        if slot.overdue:
            reason = f"cleaning took longer than {self.time_limit:g} s; its worker process was stopped"
            log.info("a page took longer than %g s to clean; its cleaning worker process was stopped%s",
                     self.time_limit, then)
        else:
            reason = "its cleaning worker process ended (killed, or out of memory)"
            if not closing:
                log.info("a cleaning worker process ended; the page in its hands failed%s", then)
        if in_hand is not None and not in_hand[1].done():
            in_hand[1].set_exception(WorkerLost(reason))

    def _replace_locked(self, slot: _Slot) -> bool:
        """Ask the zygote for a worker in place of `slot`'s: a new pipe,
        whose other end goes to the zygote. Not when `slot`'s worker ended
        before it said it had started (the zygote cannot start workers:
        asking again would only fail again), nor once the zygote is gone."""
        from multiprocessing.reduction import send_handle

        if slot.pid is None or self._control is None or not self._zygote.alive():
            return False
        ours, theirs = multiprocessing.Pipe(duplex=True)
        try:
            send_handle(self._control, theirs.fileno(), 0)
        except OSError as exc:
            log.debug("no cleaning worker in place of the lost one: %s", exc)
            ours.close()
            return False
        finally:
            theirs.close()  # the zygote holds its own copy now
        new = _Slot(ours)
        self._slots[self._slots.index(slot)] = new
        self.replaced += 1
        self._senders.append(self._start_sender(new))
        with contextlib.suppress(OSError):
            self._wake_writer.send(None)
        self._retired.append(slot.conn)  # not closed yet: its sender may still be writing to it
        return True

    def _closed_by_loss_locked(self) -> None:
        for _, future in self._take_queued():
            if not future.done():
                future.set_exception(WorkerLost("every cleaning worker process has ended"))

    def _take_queued(self) -> list[tuple[Any, Future[Any]]]:
        """Empty the queue of calls no sender has taken (a stop mark stays)."""
        taken = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return taken
            if item is None:
                self._queue.put(None)
                return taken
            taken.append(item)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # No more workers: the zygote ends once those it has end.
            control, self._control = self._control, None
            control.close()
            senders = list(self._senders)
        if cancel_futures:
            for _, future in self._take_queued():
                future.cancel()
        self._queue.put(None)
        for sender in senders:
            sender.join()
        if wait:
            self._zygote.wait()
            self._receiver.join()
            for conn in [*self._retired, *(slot.conn for slot in self._slots)]:
                conn.close()
            self._wake_reader.close()
            self._wake_writer.close()
        self._ended.set()  # no time limit to keep once the workers are ended, or left to end


def _zygote(conns: list[Any], parent: int, memory_limit: int | None = None, time_limit: float | None = None) -> None:
    """The pool's first process: load the cleaner, fork one worker per pipe
    (`conns` after the first), then fork one more for each pipe the pool
    sends down the first (a worker in place of one that ended), until the
    pool closes that; then wait for the workers (they are its children), so
    none is left unreaped. Forking from here is safe: this process runs
    nothing else, and its one other thread (`_start_worker`'s watch) holds
    no lock while it sleeps."""
    from multiprocessing.connection import Connection
    from multiprocessing.reduction import recv_handle

    control, *ends = conns
    try:
        # SIGTERM to the whole group (`systemctl stop`) is the archiver's to
        # handle: it stops the way Ctrl-C does, and these end with their pipes.
        _start_worker(parent, sigterm=signal.SIG_IGN)
    except Exception as exc:  # e.g. the cleaner fails to import: each page will say so itself
        log.debug("the cleaning workers start cold: %s", exc)
    here = os.getpid()

    def fork(end: Any, others: list[Any]) -> None:
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _end_with_parent(here)
            for other in others:
                other.close()
            code = 0
            try:
                _serve(end, memory_limit, time_limit)
            except BaseException:
                code = 1
            finally:
                os._exit(code)

    for i, end in enumerate(ends):
        fork(end, [control, *(other for j, other in enumerate(ends) if j != i)])
    for end in ends:
        end.close()
    # A worker that ends is reaped at once: a pool kept for days, losing
    # one now and then, leaves no zombie behind.
    signal.signal(signal.SIGCHLD, lambda signum, frame: _reap(block=False))
    _reap(block=False)
    while True:
        try:
            end = Connection(recv_handle(control))
        except (EOFError, OSError, RuntimeError):
            break  # the pool is shut down, or gone
        try:
            fork(end, [control])
        except OSError as exc:  # its pipe closes: the pool sees that worker end before it starts
            log.debug("cannot fork a cleaning worker: %s", exc)
        finally:
            end.close()
    control.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _reap(block=True)


def _reap(*, block: bool) -> None:
    """Reap this process's ended children (`block`: wait until every one has ended)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, 0 if block else os.WNOHANG)[0] != 0:
            pass


def default_memory_limit(workers: int) -> int:
    """What one cleaning worker may allocate by default: the machine's
    memory shared among the workers and the archiver (two shares), within
    512 MiB and 2 GiB. Cleaning a page takes tens of megabytes, a long PDF
    a few hundred (what pdfminer holds of a page is bounded); a bomb stopped
    at 4 GiB took 3.1 GB of a 23 GB machine first."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return max(512 << 20, min(2 << 30, total // (max(1, workers) + 2)))


class _MemoryCeiling:
    """What a cleaning worker may hold while it cleans: what it held when it
    started plus `extra` bytes. Past that an allocation fails (MemoryError)
    and the page it was for fails with it, not the machine: a parser can be
    made to allocate without end by a few bytes of input (a PDF font's
    character map of one range of 2^24 codes: 900 bytes, 2.4 GB; 2^28, all
    there is), and the worker grew until the system's OOM killer ended it,
    or another process. Only while a call runs: between calls (sending its
    answer back) the worker is not limited, and what a failed call held is
    let go by then. Linux (RLIMIT_DATA: the heap and anonymous mappings);
    elsewhere nothing is limited."""

    def __init__(self, extra: int) -> None:
        self.extra = extra
        self.start = self.ceiling = self.hard = 0
        self.soft: int | None = None  # the limit outside calls; None: nothing is limited
        try:
            import resource

            self._resource = resource
            self.start = _data_held()
            soft, self.hard = resource.getrlimit(resource.RLIMIT_DATA)
            wanted = self.start + extra
            self.ceiling = wanted if self.hard == resource.RLIM_INFINITY else min(wanted, self.hard)
            self.soft = soft
        except (ImportError, OSError, ValueError, StopIteration) as exc:
            log.debug("cleaning processes' memory not limited: %s", exc)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.soft is None:
            yield
            return
        self._resource.setrlimit(self._resource.RLIMIT_DATA, (self.ceiling, self.hard))
        try:
            yield
        finally:
            self._resource.setrlimit(self._resource.RLIMIT_DATA, (self.soft, self.hard))
            # A call stopped by the ceiling leaves what it held in reference
            # cycles (its frames, the exception's traceback): until a full
            # collection, the next call met the ceiling at once (lxml and
            # Lexbor then ended the process). Collected only then: a full
            # collection after every page would cost more than cleaning it.
            with contextlib.suppress(OSError, ValueError, StopIteration):
                if _data_held() > self.start + self.extra // 2:
                    gc.collect()


def _data_held() -> int:
    """This process's data (heap and anonymous mappings), in bytes: Linux's VmData."""
    with open("/proc/self/status", encoding="ascii", errors="replace") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData:"))


def _end_with_parent(parent: int) -> None:
    """A worker is killed when its zygote ends (Linux's PR_SET_PDEATHSIG),
    and the zygote ends when the archiver does. A worker ends by itself
    when its pipe closes, but only between pages: one stuck in C code that
    never looks at signals outlived an archiver that was killed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: it ends at its next page
        return
    if os.getppid() != parent:  # the zygote ended before the line above
        os._exit(0)


def overtime_grace(time_limit: float) -> float:
    """How long past the time limit a call has to stop itself before its
    worker is stopped."""
    return max(2.0, time_limit / 10)


class _Overtime(BaseException):
    """Raised in a worker's call at its time limit. Not an Exception: the
    cleaner's own `except Exception` (a PDF read in part) must not take it
    for a page's problem and go on."""


def _serve(conn: Any, memory_limit: int | None = None, time_limit: float | None = None) -> None:
    """A worker: say its process id (for the pool's time limit), then answer
    calls until the pipe ends, each within `memory_limit` bytes more than
    the worker holds now (`_MemoryCeiling`) and `time_limit` seconds. A call
    past its time limit is interrupted (`_Overtime`, at the next Python
    instruction) and fails, and the worker goes on: a slow parse (a PDF's
    layout is Python) no longer cost the pool a worker. One stuck in C,
    which no signal reaches, is stopped by the pool (`_watch_time`)."""
    ceiling = _MemoryCeiling(memory_limit) if memory_limit is not None else None
    armed = False

    def overtime(signum: int, frame: Any) -> None:
        if armed:
            raise _Overtime()

    if time_limit is not None:
        signal.signal(signal.SIGALRM, overtime)
    with contextlib.suppress(OSError):
        conn.send(("pid", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args, kwargs = message
        try:
            if time_limit is not None:
                armed = True
                signal.setitimer(signal.ITIMER_REAL, time_limit)
            with ceiling.held() if ceiling is not None else contextlib.nullcontext():
                ok, value = True, fn(*args, **kwargs)
            armed = False
        except _Overtime:
            ok, value = False, TimeoutError(f"cleaning took longer than {time_limit:g} s; it was stopped")
        except MemoryError as exc:
            ok, value = False, exc
            if memory_limit is not None:
                value = MemoryError(f"cleaning it took more than the {memory_limit >> 20} MB of memory a"
                                    " cleaning process may add")
        except Exception as exc:
            ok, value = False, exc
        finally:
            armed = False
            if time_limit is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
        if not _reply(conn, (), ok, value):
            return


def _reply(conn: Any, head: tuple[Any, ...], ok: bool, value: Any) -> bool:
    """Send `(*head, ok, value)` back down `conn`; a result that won't
    pickle goes back as an error saying so. False when the other end is gone."""
    try:
        conn.send((*head, ok, value))
    except (EOFError, OSError):
        return False
    except Exception as exc:
        try:
            conn.send((*head, False, _cannot_send(f"{type(exc).__name__}: {exc}")))
        except (EOFError, OSError):
            return False
    return True


def _cannot_send(why: str) -> RuntimeError:
    """What a call whose result cannot travel back fails with, pool or Dask."""
    return RuntimeError(f"cannot send the result back: {why}")


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


# What runs first in a helper: Ctrl-C reaches the whole process group, and
# the archiver is the one to handle it (see `_start_worker`).
_HELPER = ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
           "from archiver.workers.distributed import _helper_main; _helper_main()")


class _Helper:
    """A helper process, forked or spawned (`_start_helper`)."""

    def __init__(self, process: multiprocessing.process.BaseProcess | subprocess.Popen[bytes]) -> None:
        self.process = process

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for it to end (and reap it); False if it has not within `timeout`."""
        if isinstance(self.process, subprocess.Popen):
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        self.process.join(timeout)
        return not self.process.is_alive()

    def kill(self) -> None:
        self.process.kill()

    def alive(self) -> bool:
        if isinstance(self.process, subprocess.Popen):
            return self.process.poll() is None
        return self.process.is_alive()


def _start_helper(role: str, theirs: list[Any], ours: list[Any], **args: Any) -> _Helper:
    """Start a helper process (`role`: "zygote" or "cluster"), handing it
    the ends `theirs` of its pipes (`ours` are this process's ends).

    Forked when this process runs no other thread: it starts warm with
    what is loaded here. Otherwise from a fresh interpreter (`_spawn`): a
    fork copies every lock as it stands at that instant, and one held by
    another thread stays held in the copy for ever. Seen: stderr's, taken
    mid-write by another thread, hung the helper at its first flush (a
    progress bar's refresh thread, a test runner's or a web app's threads,
    `run --loop`'s lease keeper). That costs ~0.13 s more CPU and start-up
    (bench/capture.py: 3-4% of the wall time of 300 pages)."""
    if threading.active_count() == 1 or not sys.executable:  # no interpreter to start (embedded): fork
        process = multiprocessing.get_context("fork").Process(
            target=_forked_helper, args=(role, theirs, ours, os.getpid(), args),
            name=f"archiver-{role}", daemon=role == "zygote")  # Dask's nanny can't fork from a daemon
        process.start()
        return _Helper(process)
    return _Helper(_spawn(role, theirs, **args))


def _forked_helper(role: str, theirs: list[Any], ours: list[Any], parent: int, args: dict[str, Any]) -> None:
    for conn in ours:
        conn.close()
    _run_helper(role, theirs, parent, args)


def _spawn(role: str, conns: list[Any], **args: Any) -> subprocess.Popen[bytes]:
    """A helper from a fresh interpreter. Not multiprocessing's spawn,
    which re-imports the caller's `__main__` (a plain script calling
    `Archive.capture` would run again). The helper gets this process's
    `sys.path` (and only that), so what it is sent unpickles there as it
    does here."""
    spec = {"role": role, "fds": [c.fileno() for c in conns], "parent": os.getpid(), "path": sys.path, "args": args}
    # -P: `-c` would put the working directory first on the path, where a
    # stray signal.py or json.py would be imported in place of the real one.
    return subprocess.Popen([sys.executable, "-P", "-c", _HELPER, json.dumps(spec)],
                            pass_fds=spec["fds"], stdin=subprocess.DEVNULL)


def _helper_main() -> None:
    """A spawned helper's start (see `_spawn`)."""
    from multiprocessing.connection import Connection

    spec = json.loads(sys.argv[1])
    sys.path[:0] = [p for p in spec["path"] if p not in sys.path]
    _run_helper(spec["role"], [Connection(fd) for fd in spec["fds"]], spec["parent"], spec["args"])


def _run_helper(role: str, conns: list[Any], parent: int, args: dict[str, Any]) -> None:
    if role == "zygote":
        _zygote(conns, parent, **args)
    else:
        _serve_cluster(conns[0], parent, **args)


def _start_worker(parent: int, *, sigterm: Any = signal.SIG_DFL) -> None:
    """How a helper process (the pool's zygote, the Dask cluster's process)
    starts: it ends itself when the archiver that started it is gone
    (killed with no chance to shut it down), rather than linger. Ctrl-C
    reaches the whole process group: the archiver handles it and shuts its
    helpers down; a helper ignores it (else each would print a traceback),
    and so do the workers it forks. SIGTERM gets `sigterm` (it ends a
    helper, unless the helper says otherwise). Then it loads the cleaner,
    before the first page arrives."""
    from ..capture.jobs import warm_up

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, sigterm)

    def watch() -> None:
        while not _gone(parent):
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    warm_up()


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
