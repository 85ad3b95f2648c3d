from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from siteserver import SiteServer  # noqa: E402

from archiver import FetchOptions  # noqa: E402


@pytest.fixture(scope="session")
def site():
    server = SiteServer().start()
    yield server
    server.stop()


@pytest.fixture
def fresh_site():
    """A server of its own, for tests that count hits or change pages."""
    server = SiteServer().start()
    yield server
    server.stop()


@pytest.fixture
def free_port():
    """A loopback port nothing listens on (a refused connection, a dead endpoint)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def fast_options():
    """No politeness delay and quick retries: the tests' own server can take it."""
    return FetchOptions(host_delay=0.0, backoff=0.01, read_timeout=2.0, connect_timeout=2.0, total_timeout=20.0)


class FakeClock:
    """Injectable "now": advances a microsecond per call (so names stay unique)
    and jumps when a test says time has passed."""

    def __init__(self, start=None):
        from datetime import datetime

        self.now = start or datetime(2026, 3, 1, 12, 0, 0)

    def __call__(self):
        from datetime import timedelta

        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, **kw):
        from datetime import timedelta

        self.now += timedelta(**kw)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def wayback():
    """start(root) -> an httpx client on a real pywb `wayback` server run in
    `root` (its own process: pywb monkey-patches the interpreter with gevent)."""
    import socket
    import subprocess
    import time

    import httpx

    procs = []

    def start(root: Path) -> httpx.Client:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        exe = str(Path(sys.executable).parent / "wayback")
        proc = subprocess.Popen([exe, "-b", "127.0.0.1", "-p", str(port)], cwd=root,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/")
                return client
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("pywb did not start") from None
                time.sleep(0.2)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
