"""The fetcher's own logic (redirects, retries, robots.txt, time limits)
through httpx's MockTransport: no socket where the socket is not the
subject. The real-server tests in test_capture.py cover the wire."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from archiver import FetchOptions
from archiver.capture.fetch import Fetcher, Timer
from archiver.config import NetworkPolicy
from archiver.cleaning.payload import read_payload

# The mock transport's hosts are names nobody resolves: no network policy, so no DNS look-up.
FAST = dict(host_delay=0.0, backoff=0.01, read_timeout=2.0, connect_timeout=2.0, network=NetworkPolicy("any"))


class _Body(httpx.AsyncByteStream):
    """A body that streams, as one off the wire does (httpx reads a plain
    `content=` body at once, and the fetcher streams raw bytes)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self):
        yield self.data


def answer(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, headers={"Content-Length": str(len(data)), **(headers or {})}, stream=_Body(data))


def fetch(handler, url: str, **options):
    async def main():
        async with Fetcher(FetchOptions(**{**FAST, **options}), transport=httpx.MockTransport(handler)) as f:
            return await f.fetch(url)

    return asyncio.run(main())


def robots_allowing(handler):
    def wrapped(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return answer(200, "User-agent: *\nDisallow: /private/\n")
        return handler(request)

    return wrapped


def test_redirect_hops_are_each_kept_and_relative_locations_resolved():
    def handler(request):
        return {"/a": answer(301, headers={"Location": "/b"}),
                "/b": answer(302, headers={"Location": "https://other.example/c?x=1"}),
                "/c": answer(200, "<p>done</p>")}[request.url.path]

    got = fetch(robots_allowing(handler), "http://example.org/a")
    assert [ex.url for ex in got.exchanges] == ["http://example.org/a", "http://example.org/b",
                                               "https://other.example/c?x=1"]
    assert [ex.status_code for ex in got.exchanges] == [301, 302, 200]
    assert read_payload(got.final, 100) == b"<p>done</p>"
    assert len(got.robots) == 2  # one robots.txt per host on the way


def test_redirect_loop_and_scheme_change_are_failures_not_errors():
    looping = fetch(robots_allowing(lambda r: answer(302, headers={"Location": r.url.path})),
                    "http://example.org/loop", max_redirects=3)
    assert looping.error == "more than 3 redirects" and len(looping.exchanges) == 4
    ftp = fetch(robots_allowing(lambda r: answer(302, headers={"Location": "ftp://x/y"})),
                "http://example.org/a")
    assert ftp.error.startswith("bad redirect")


def test_503_is_retried_and_429_slows_the_host():
    calls = []

    def handler(request):
        calls.append(request.url.path)
        if len(calls) < 3:
            return answer(503 if len(calls) == 1 else 429, headers={"Retry-After": "0"})
        return answer(200, "ok")

    got = fetch(robots_allowing(handler), "http://example.org/p", retries=3)
    assert got.final.status_code == 200 and calls == ["/p", "/p", "/p"] and got.attempts == 4  # robots + 3


def test_a_long_retry_after_keeps_the_servers_answer():
    got = fetch(robots_allowing(lambda r: answer(503, headers={"Retry-After": "3600"})), "http://example.org/p")
    assert got.final.status_code == 503 and got.error is None


def test_robots_rules_and_status():
    disallowed = fetch(robots_allowing(lambda r: answer(200)), "http://example.org/private/x")
    assert disallowed.blocked == "disallowed by robots.txt" and disallowed.exchanges == []

    def broken_robots(request):
        if request.url.path == "/robots.txt":
            return answer(500)
        raise AssertionError("fetched although robots.txt answered 500")

    assert fetch(broken_robots, "http://example.org/a", retries=0).blocked == "robots.txt answered HTTP 500"
    hostile = fetch(lambda r: answer(200, "Crawl-delay: nan\nUser-agent: *\nDisallow:\n\x00\xff")
                    if r.url.path == "/robots.txt" else answer(200, "fine"), "http://example.org/a")
    assert hostile.final.status_code == 200


def test_connection_errors_are_retried_then_reported():
    tries = []

    def handler(request):
        tries.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    got = fetch(handler, "http://example.org/a", retries=2, obey_robots=False)
    assert got.error == "connection failed: connection refused" and len(tries) == 3 and got.attempts == 3
    tries.clear()
    got = fetch(handler, "http://example.org/a", retries=2)
    # robots.txt tried three times, unreachable (which is not a block); the
    # page then once, its host known to be unreachable
    assert got.error.startswith("connection failed") and got.blocked is None
    assert len(tries) == 4 and "not retried" in got.error


def test_a_host_nobody_can_connect_to_costs_one_attempt_per_url_until_it_answers():
    """A dead site's watch list: the first URL retries with backoff; the
    host's other URLs then try once each (they retried in full, one after
    another: minutes for a list); once the host answers again, it is
    retried as usual."""
    tries: list[str] = []
    down = {"example.org": True, "other.example": True}

    def handler(request):
        tries.append(f"{request.url.host}{request.url.path}")
        if down[request.url.host]:
            if request.url.host == "other.example":
                raise httpx.ConnectTimeout("timed out", request=request)
            raise httpx.ConnectError("connection refused", request=request)
        return answer(200, "fine")

    async def main():
        opts = FetchOptions(**{**FAST, "retries": 2, "obey_robots": False, "per_host": 1})
        async with Fetcher(opts, transport=httpx.MockTransport(handler)) as f:
            first = await f.fetch("http://example.org/1")
            rest = [await f.fetch(f"http://example.org/{i}") for i in (2, 3)]
            other = await f.fetch("http://other.example/1")  # another host is judged on its own
            down["example.org"] = False
            back = await f.fetch("http://example.org/4")
            down["example.org"] = True
            again = await f.fetch("http://example.org/5")
            return first, rest, other, back, again

    first, rest, other, back, again = asyncio.run(main())
    assert first.attempts == 3 and "not retried" not in first.error
    assert [g.attempts for g in rest] == [1, 1]
    assert all(g.error == "connection failed: connection refused (not retried: the host could not be"
               " reached earlier in this run)" for g in rest)
    assert other.attempts == 3 and other.error == "connect timeout"
    assert back.error is None and back.final.status_code == 200
    assert again.attempts == 3 and "not retried" not in again.error  # it had answered: full retries again
    assert len(tries) == 3 + 1 + 1 + 3 + 1 + 3


def test_the_time_limit_covers_every_attempt_and_wait():
    async def slow(request):
        await asyncio.sleep(0.4)
        return answer(503, headers={"Retry-After": "0"})

    async def main():
        opts = FetchOptions(**{**FAST, "total_timeout": 1.0, "retries": 10, "obey_robots": False})
        async with Fetcher(opts, transport=httpx.MockTransport(slow)) as f:
            start = time.monotonic()
            got = await f.fetch("http://example.org/a")
            return got, time.monotonic() - start

    got, elapsed = asyncio.run(main())
    # Not 11 attempts of 0.4 s: at most the 3 that fit in the budget (fewer on a slow machine).
    assert got.attempts <= 3 and elapsed < 11 * 0.4
    assert got.final is None or got.final.status_code == 503
    assert got.error is None or got.error.startswith("gave up after 1 s")


@pytest.mark.parametrize("headers", [{"Content-Encoding": "gzip"}, {}])
def test_bodies_are_kept_as_they_came_and_capped(headers):
    body = b"\x1f\x8b not really gzip" * 1000
    got = fetch(robots_allowing(lambda r: answer(200, body, headers)), "http://example.org/a",
                max_body=5000)
    final = got.final
    assert final.truncated and final.body_length == 5000
    final.body.seek(0)
    assert final.body.read() == body[:5000]  # stored as sent (content-coding kept), cut at the cap


def test_a_body_cut_short_is_retried_then_kept_as_it_came():
    """A body the connection drops midway: retried; when every attempt is
    cut, the last one's bytes are the fetch's final exchange, truncated
    ("disconnect"), beside the error; a retry that gets it whole wins."""
    attempts: list[int] = []

    class _Cut(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b"<html><body><p>the start of a page"
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    def handler(request):
        attempts.append(1)
        if len(attempts) <= limit:
            return httpx.Response(200, headers={"Content-Length": "5000"}, stream=_Cut())
        return answer(200, "<html><body><p>the whole page</p></body></html>")

    limit = 10
    got = fetch(handler, "http://example.org/a", retries=2, obey_robots=False)
    assert len(attempts) == 3 and got.final is not None and got.final.truncated
    assert got.final.truncation == "disconnect" and read_payload(got.final, 100) == b"<html><body><p>the start of a page"
    assert got.error.startswith("the body was cut short after 34 of 5000 bytes (the server closed the connection)")
    attempts.clear()
    limit = 1
    got = fetch(handler, "http://example.org/a", retries=2, obey_robots=False)
    assert len(attempts) == 2 and got.error is None and not got.final.truncated
    assert read_payload(got.final, 100) == b"<html><body><p>the whole page</p></body></html>"


def test_a_broken_answer_is_described_in_a_readers_words():
    from archiver.capture.fetch import _describe

    said = {
        "Receive buffer too long": "the response's headers are larger than 100 KB (not read)",
        "Server disconnected without sending a response.": "the server closed the connection without answering",
        "illegal header line: bytearray(b'Content-Type : x')":
            "not a valid HTTP response (illegal header line: bytearray(b'Content-Type : x'))",
    }
    for text, description in said.items():
        assert _describe(httpx.RemoteProtocolError(text)) == description
    assert _describe(httpx.ReadError("")) == "the connection was reset"  # was "ReadError: ReadError"
    assert _describe(httpx.ReadError("[Errno 104] Connection reset by peer")) == \
        "ReadError: [Errno 104] Connection reset by peer"


class FakeTimer(Timer):
    """Politeness' clock in virtual time: a wait ends when virtual time
    reaches it, and time jumps to the earliest wait once every task has
    gone as far as it can (the mock transport answers at once). No
    wall-clock time passes."""

    def __init__(self) -> None:
        self.t = 0.0
        self.waits: list[float] = []
        self._due: list[tuple[float, int, asyncio.Future]] = []
        self._driver: asyncio.Task | None = None

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        import heapq

        self.waits.append(seconds)
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._due, (self.t + seconds, id(fut), fut))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.ensure_future(self._drive())
        await fut

    async def _drive(self) -> None:
        import heapq

        while self._due:
            for _ in range(200):  # every other task runs until it waits again
                await asyncio.sleep(0)
            at, _, fut = heapq.heappop(self._due)
            self.t = max(self.t, at)
            fut.set_result(None)


def _fetch_many(handler, urls: list[str], timer: FakeTimer, **options) -> list:
    async def main():
        opts = FetchOptions(**{**FAST, **options})
        async with Fetcher(opts, transport=httpx.MockTransport(handler), timer=timer) as f:
            return await asyncio.gather(*(f.fetch(u) for u in urls))

    return asyncio.run(main())


def test_requests_to_one_host_start_the_delay_apart_on_an_injected_clock():
    timer = FakeTimer()
    starts: dict[str, list[float]] = {}

    def handler(request):
        starts.setdefault(request.url.host, []).append(timer.now())
        return answer(200, "<p>x</p>", headers={"Content-Type": "text/html"})

    urls = [f"http://a.example/{i}" for i in range(4)] + [f"http://b.example/{i}" for i in range(2)]
    t0 = time.monotonic()
    got = _fetch_many(robots_allowing(handler), urls, timer, host_delay=10.0, per_host=2)
    assert all(g.final.status_code == 200 for g in got)
    # robots.txt at 0 (answered by the wrapper), then each page 10 s after the one before, per host:
    # b's pages do not wait for a's.
    assert starts["a.example"] == [10.0, 20.0, 30.0, 40.0], starts
    assert starts["b.example"] == [10.0, 20.0], starts
    assert time.monotonic() - t0 < 30  # no wall-clock waits: 50 s of politeness took none


def test_a_429_doubles_the_hosts_delay_on_an_injected_clock():
    timer = FakeTimer()
    seen: list[tuple[str, float]] = []

    def handler(request):
        seen.append((request.url.path, timer.now()))
        if request.url.path == "/busy" and sum(p == "/busy" for p, _ in seen) == 1:
            return answer(429, headers={"Retry-After": "3"})
        return answer(200, "<p>x</p>", headers={"Content-Type": "text/html"})

    async def main():
        opts = FetchOptions(**{**FAST, "host_delay": 2.0, "per_host": 1})
        async with Fetcher(opts, transport=httpx.MockTransport(robots_allowing(handler)), timer=timer) as f:
            first = await f.fetch("http://c.example/busy")
            second = await f.fetch("http://c.example/after")
            return first, second

    first, second = asyncio.run(main())
    assert first.final.status_code == 200 and second.final.status_code == 200
    times = dict(seen[1:2] + seen[-1:])
    busy = [t for p, t in seen if p == "/busy"]
    assert 3.0 in timer.waits  # Retry-After was honoured on the injected clock
    # After the 429 the host's delay doubled (2 s -> 4 s): the next request starts 4 s after the retry.
    assert times["/after"] - busy[-1] == 4.0, seen
