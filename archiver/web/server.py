"""Running the interface: uvicorn in one process or several forked ones,
each with its own app and SQLite connections."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .reads import SHUTTING_DOWN

__all__ = ["run_server"]

KEEP_ALIVE = 75  # seconds, as nginx
SHUTDOWN_GRACE = 5  # seconds requests under way get when the server is told to stop


def run_server(make_app: Callable[[], Any], *, host: str, port: int, workers: int = 1,
               started: Callable[[], None] | None = None, listening: Callable[[], None] | None = None) -> None:
    """Serve until interrupted: `workers` processes forked after the listening
    socket is made, each with its own app (and its own SQLite connections).
    Forked rather than uvicorn's own workers: those receive the socket
    without its protocol, so asyncio never turns Nagle off on their
    connections and every response waits ~40 ms for a delayed ACK.
    `listening` runs once the port is known to be free (so that "serving
    on" is never printed by a server that cannot listen); `started` once
    the server processes exist (threads are started after a fork, never
    before it)."""
    import multiprocessing
    import signal
    import socket

    import uvicorn

    class _Server(uvicorn.Server):
        """Stops every catalog query under way when told to exit: shutdown
        never waits on one."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            SHUTTING_DOWN.set()
            super().handle_exit(sig, frame)

    def serve_on(sock: socket.socket | None) -> None:
        # Keep-alive past uvicorn's 5 s: a client reusing a connection the
        # server is closing at that moment gets a reset (seen under load).
        config = uvicorn.Config(make_app(), host=host, port=port, log_level="warning", access_log=False,
                                timeout_keep_alive=KEEP_ALIVE, timeout_graceful_shutdown=SHUTDOWN_GRACE)
        _Server(config).run(sockets=[sock] if sock is not None else None)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # A plain bind first: it fails when anyone listens there (SO_REUSEPORT,
        # below, would let this server join another one, another archive's
        # say, and take half its requests), so a taken port is one line here.
        with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = int(probe.getsockname()[1])
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if workers <= 1:  # uvicorn binds the port itself
        if listening is not None:
            listening()
        if started is not None:
            started()
        # uvicorn shuts down gracefully on SIGTERM, then raises it again for
        # the handler it found: a quiet one here, so serving just ends (the
        # CLI's own turns it into a Ctrl-C, which uvicorn has handled already).
        if threading.current_thread() is not threading.main_thread():
            serve_on(None)  # signal handlers are the main thread's (uvicorn sets none either)
            return
        previous = signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            serve_on(None)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return
    # One listening socket per process (SO_REUSEPORT), where the system
    # allows it: the kernel then spreads new connections over them. With one
    # socket shared by all, the process that woke first took nearly every
    # connection (49 of 50 keep-alive clients on one process of two,
    # measured): the other sat idle while requests queued.
    spread = hasattr(socket, "SO_REUSEPORT")
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers if spread else 1):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if spread:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(1024)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if listening is not None:
        listening()

    def serve_own(mine: int) -> None:
        # The parent ends a child with SIGTERM: uvicorn shuts down, then raises
        # it again for the handler it found, which must not be the CLI's own.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for i, other in enumerate(sockets):
            if i != mine:
                other.close()  # else connections hashed to a dead sibling's socket wait in it forever
        serve_on(sockets[mine])

    context = multiprocessing.get_context("fork")
    children = [context.Process(target=serve_own, args=(i % len(sockets),), daemon=True) for i in range(workers)]
    for child in children:
        child.start()
    if started is not None:
        started()
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while all(child.is_alive() for child in children):
            children[0].join(timeout=1.0)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(timeout=10)
        for sock in sockets:
            sock.close()
