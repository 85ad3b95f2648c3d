"""Helper processes of the pool and of a Dask cluster: started forked
(warm) or from a fresh interpreter, ended with the archiver that started
them, and the messages they answer with."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any


__all__ = ["WorkerLost"]

log = logging.getLogger(__name__)


class WorkerLost(RuntimeError):
    """A cleaning worker process ended while it held a page (killed, or out of memory)."""


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
           "from archiver.workers.processes import _helper_main; _helper_main()")


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
        from .pool import _zygote

        _zygote(conns, parent, **args)
    else:
        from .cluster import _serve_cluster

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
