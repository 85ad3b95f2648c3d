"""The local pool: worker processes forked warm from a zygote that has
the cleaner loaded, each call under a time limit and the process under a
memory ceiling; a worker lost is replaced, the rest go on."""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

from .processes import WorkerLost, _reply, _start_helper, _start_worker

__all__ = ["ForkedPool", "cleaning_pool", "default_memory_limit", "overtime_grace"]

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
            signal.signal(signal.SIGCHLD, _no_reaping)
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
    signal.signal(signal.SIGCHLD, _no_reaping)
    _reap(block=True)


def _no_reaping(signum: int, frame: Any) -> None:
    """SIGCHLD once the zygote stops reaping on signal, and in its workers. A
    callable rather than SIG_DFL: a SIGCHLD that came in just before the
    change would otherwise be reported on stderr as an unraisable error."""


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
