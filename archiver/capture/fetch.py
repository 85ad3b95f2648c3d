"""Fetch pages politely and keep every byte as it came off the wire.

One `Fetcher` runs many URLs concurrently on asyncio: different hosts in
parallel, at most `per_host` connections and a start-to-start delay within a
host. Redirects are followed by hand so every hop is kept; bodies stream into
spooled temp files so memory stays flat in page size.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import http
import logging
import math
import socket
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from ..config import SPOOL_IN_MEMORY, FetchOptions
from ..errors import ArchiverError, ConfigError, FetchError
from ..models import Exchange, Fetched
from .netpolicy import Origin, PrivateAddress
from ..cleaning.payload import read_payload
from ..timeutil import utc_now
from ..urls import check_url, host_key

if TYPE_CHECKING:
    from .browser import BrowserSession

__all__ = ["DeadlineExceeded", "Fetcher", "Page", "RobotsCache", "fetch_page", "first_error"]

log = logging.getLogger(__name__)

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
RETRY_CODES = frozenset({429, 502, 503, 504})
MAX_ROBOTS_BYTES = 512 * 1024  # what Google reads of a robots.txt, roughly
MAX_CRAWL_DELAY = 30.0
ROBOTS_AGENT = "archiver"


class RobotsCache(Protocol):
    """Where robots.txt answers are kept between runs: (status, body) per
    scheme://host:port, or None when there is none fresh enough."""

    def get(self, key: str) -> tuple[int, bytes] | None: ...

    def put(self, key: str, status: int, body: bytes) -> None: ...


class Timer:
    """The clock politeness keeps: when a host's next request may start,
    and the waits for it (and for a retry). Tests hand in their own."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class _Host:
    """Politeness state of one scheme://host:port."""

    delay: float
    gate: asyncio.Semaphore
    timer: Timer = field(default_factory=Timer)
    tls: bool = False  # an https:// host
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    robots_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0
    robots_checked: bool = False
    robots: Protego | None = None
    robots_block_all: str | None = None  # reason, when robots.txt says "go away" by status
    client: httpx.AsyncClient | None = None
    users: int = 0  # fetches using this host now, plus URLs queued for it
    # Set when a URL used up its retries without connecting (refused, no
    # route, connect timeout); until one connects again, the host's other
    # URLs this run try once each instead of retrying with backoff.
    unreachable: bool = False

    async def release(self) -> None:
        """Close the connections once nothing is using or waiting for the host."""
        if self.users == 0 and self.client is not None:
            client, self.client = self.client, None
            await client.aclose()

    async def wait_turn(self) -> None:
        async with self.lock:
            now = self.timer.now()
            start = max(now, self.next_start)
            self.next_start = start + self.delay
        if start > now:
            await self.timer.sleep(start - now)


def _b32_sha1(digest: bytes) -> str:
    return "sha1:" + base64.b32encode(digest).decode("ascii")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _is_dns_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror):
            return True
        text = str(cur)
        if "Name or service not known" in text or "nodename nor servname" in text or "No address associated" in text:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


class CutShort(httpx.TransportError):
    """The connection broke (closed, reset, stalled) in the middle of a
    response's body; `exchange` holds what arrived, marked truncated
    ("disconnect", or "time" for a stall), for the WARC when no retry does
    better."""

    def __init__(self, cause: httpx.TransportError, exchange: Exchange) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.exchange = exchange


class DeadlineExceeded(TimeoutError):
    """A URL used up its whole time budget (attempts, retry waits and hops)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DeadlineExceeded):
        return str(exc)
    if isinstance(exc, CutShort):
        expected = exc.exchange.header("content-length")
        of = f" of {expected}" if expected and expected.strip().isdigit() else ""
        why = ("the server closed the connection" if "peer closed" in str(exc.cause)
               else _describe(exc.cause))
        return (f"the body was cut short after {exc.exchange.body_length}{of} bytes ({why});"
                f" what arrived is kept, marked WARC-Truncated: {exc.exchange.truncation}")
    if _is_dns_failure(exc):
        return "DNS lookup failed"
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        kind = {
            httpx.ConnectTimeout: "connect timeout",
            httpx.ReadTimeout: "read timeout",
            httpx.WriteTimeout: "write timeout",
            httpx.PoolTimeout: "pool timeout",
        }.get(type(exc), "timeout")
        return kind
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc}" if str(exc) else "connection failed"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)) and not str(exc):
        return "the connection was reset"  # httpx says only "ReadError"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError):
        # httpcore's words for what a server got wrong, in a reader's words
        if "Receive buffer too long" in text:
            return "the response's headers are larger than 100 KB (not read)"
        if "without sending a response" in text:
            return "the server closed the connection without answering"
        return f"not a valid HTTP response ({text})"
    return f"{type(exc).__name__}: {text}"


class Fetcher:
    """Fetches URLs into `Fetched` results. Use as an async context manager."""

    def __init__(
        self,
        options: FetchOptions | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        robots_cache: RobotsCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        browser: BrowserSession | None = None,
        use_browser: Callable[[str], bool] | None = None,
        credentials: Callable[[str], Any] | None = None,
        timer: Timer | None = None,
    ) -> None:
        self.options = options or FetchOptions()
        self._timer = timer or Timer()
        # The credential set (auth.CredentialSet) a URL is fetched with, if any.
        self._credentials = credentials
        # Pages that need JavaScript load in `browser`; robots.txt and
        # politeness are the same for them.
        self._browser = browser
        self._use_browser = use_browser
        self._clock = clock
        self._robots_cache = robots_cache
        # Tests of the fetch logic hand in an httpx.MockTransport: no socket.
        self._transport = transport
        self._hosts: dict[str, _Host] = {}
        self._headers: dict[str, str] = {}
        self._ssl: ssl.SSLContext | None = None  # built at the first https:// host, unless given a CA bundle
        self._no_tls: ssl.SSLContext | None = None
        self._open = False

    async def __aenter__(self) -> Fetcher:
        opts = self.options
        self._headers = {
            "User-Agent": opts.agent,
            # Explicit: httpx would add br/zstd when those packages are
            # installed, and WARC readers cannot all decode them.
            "Accept-Encoding": "gzip, deflate",
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        }
        self._headers.update(dict(opts.extra_headers))
        # One TLS context for every host: building one loads the CA bundle. A
        # bundle given is read now, so that a bad one is an error at once.
        if opts.ca_bundle:
            try:
                self._ssl = ssl.create_default_context(cafile=opts.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"{opts.ca_bundle}: not a usable CA bundle ({exc})") from None
        self._open = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._open = False
        for host in self._hosts.values():
            await host.release()

    # -- politeness -------------------------------------------------------

    def _host(self, url: str) -> _Host:
        key = host_key(url)
        host = self._hosts.get(key)
        if host is None:
            host = _Host(delay=self.options.host_delay, gate=asyncio.Semaphore(self.options.per_host),
                         timer=self._timer, tls=key.startswith("https:"))
            self._hosts[key] = host
        return host

    def _client(self, host: _Host) -> httpx.AsyncClient:
        """Each host gets a client of its own, sized to the politeness limit:
        a pool of one or two connections stays cheap to search, where one
        shared pool of hundreds is searched on every request."""
        assert self._open, "Fetcher used outside 'async with'"
        if host.client is None:
            opts = self.options
            host.client = _HopClient(
                follow_redirects=False,
                headers=self._headers,
                timeout=httpx.Timeout(opts.read_timeout, connect=opts.connect_timeout),
                limits=httpx.Limits(max_connections=opts.per_host, max_keepalive_connections=opts.per_host),
                verify=self._tls_context(host.tls),
                trust_env=False,
                transport=self._transport,
            )
        return host.client

    def _tls_context(self, tls: bool) -> ssl.SSLContext:
        if tls:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()  # the system's CAs (certifi's): ~30 ms of CPU
            return self._ssl
        # A plain-HTTP host's client never opens TLS (its key holds the
        # scheme), but httpx wants a context: one that trusts no CA (a TLS
        # connection through it would fail) costs nothing to build.
        if self._no_tls is None:
            self._no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return self._no_tls

    # -- one request ------------------------------------------------------

    async def _exchange(self, url: str, host: _Host, fetched: Fetched) -> Exchange:
        """One GET, no redirects, body spooled exactly as received. The time
        it takes (not the wait for the host's turn) comes out of the URL's
        budget, and it is cut off when the budget runs out."""
        client = self._client(host)
        async with host.gate:
            await host.wait_turn()
            budget = self.options.total_timeout - fetched.spent
            if budget <= 0:
                raise self._deadline()
            extra = fetched.auth.headers_for(url, fetched.url) if fetched.auth is not None else None
            request = client.build_request("GET", url, headers=extra or None)
            started = self._clock()
            t0 = time.monotonic()
            try:
                async with asyncio.timeout(budget):
                    response = await client.send(request, stream=True)
                    try:
                        exchange = await self._read(url, request, response, started)
                        if extra:
                            exchange.secret_headers = frozenset(k.lower() for k in extra)
                        return exchange
                    finally:
                        await response.aclose()
            except TimeoutError as exc:
                if fetched.spent + (time.monotonic() - t0) >= self.options.total_timeout - 0.01:
                    raise self._deadline() from exc
                raise
            finally:
                fetched.spent += time.monotonic() - t0

    def _deadline(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"gave up after {self.options.total_timeout:g} s"
                                " (the per-URL time limit, retries and redirects included)")

    async def _read(self, url: str, request: httpx.Request, response: httpx.Response, started: datetime) -> Exchange:
        ip = None
        tls_version, tls_chain = None, ()
        stream = response.extensions.get("network_stream")
        if stream is not None:
            addr = stream.get_extra_info("server_addr")
            if addr:
                ip = str(addr[0])
            tls_version, tls_chain = _tls_details(stream.get_extra_info("ssl_object"))
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        sha1 = hashlib.sha1()
        length = 0
        truncated = False
        cap = self.options.max_body
        broken: httpx.TransportError | None = None
        try:
            # iter_raw: transfer-coding removed, content-coding kept (what the
            # WARC must hold under the original Content-Encoding header).
            async for chunk in response.aiter_raw():
                if length + len(chunk) > cap:
                    chunk = chunk[: cap - length]
                    truncated = True
                spool.write(chunk)
                sha1.update(chunk)
                length += len(chunk)
                if truncated:
                    break
        except httpx.TransportError as exc:  # closed, reset or stalled mid-body: what came is evidence
            broken = exc
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        version = response.http_version or "HTTP/1.1"
        protocol = None
        if version.upper().startswith("HTTP/2") or version.upper().startswith("HTTP/3"):
            # Replay tools refuse an HTTP/2 status line; WARC-Protocol keeps the fact.
            protocol = "h2" if "2" in version else "h3"
            version = "HTTP/1.1"
        reason = response.reason_phrase
        if not reason:
            try:
                reason = http.HTTPStatus(response.status_code).phrase
            except ValueError:
                reason = ""
        target = request.url.raw_path.decode("ascii", "replace") or "/"
        exchange = Exchange(
            url=url,
            method=request.method,
            request_target=target,
            request_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            started=started,
            http_version=version,
            status_code=response.status_code,
            reason=reason,
            response_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
            body=spool,
            body_length=length,
            payload_digest=_b32_sha1(sha1.digest()),
            truncated=truncated,
            ip_address=ip,
            protocol=protocol,
            tls_version=tls_version,
            tls_chain=tls_chain,
        )
        if broken is not None:
            exchange.truncated = True
            exchange.truncation = "time" if isinstance(broken, httpx.TimeoutException) else "disconnect"
            raise CutShort(broken, exchange)
        return exchange

    async def _with_retries(self, url: str, host: _Host, fetched: Fetched) -> Exchange:
        """One hop: retries connection errors and 429/502/503/504 with backoff.

        Raises the last transport error when every attempt failed."""
        opts = self.options
        attempt = 0
        while True:
            fetched.attempts += 1
            try:
                ex = await self._exchange(url, host, fetched)
            except DeadlineExceeded:
                raise
            except (httpx.TransportError, TimeoutError) as exc:
                cannot_connect = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if cannot_connect and (host.unreachable or attempt >= opts.retries):
                    # Retrying every URL of a host nobody can connect to only
                    # multiplies the wait (a dead site's watch list took
                    # minutes) and knocks on a door that is shut.
                    if host.unreachable and attempt < opts.retries:
                        fetched.not_retried = True
                    host.unreachable = True
                    raise
                if attempt >= opts.retries or _is_dns_failure(exc) or isinstance(exc, httpx.UnsupportedProtocol):
                    raise
                delay = opts.backoff * (2**attempt)
                if fetched.spent + delay >= opts.total_timeout:
                    if isinstance(exc, CutShort):
                        raise  # no time for another attempt: what arrived is kept
                    raise self._deadline() from exc
                if isinstance(exc, CutShort):
                    exc.exchange.close()  # the retry may bring the whole body
                    exc = exc.cause
                log.info("retrying %s in %.1fs after %s", url, delay, _describe(exc))
            else:
                host.unreachable = False  # it answers again
                if ex.status_code not in RETRY_CODES or attempt >= opts.retries:
                    return ex
                asked = _retry_after(ex.header("retry-after"))
                delay = asked if asked is not None else opts.backoff * (2**attempt)
                if delay > opts.max_retry_after or fetched.spent + delay >= opts.total_timeout:
                    return ex  # the server asks for longer than we wait: keep its answer
                # The host said slow down: every later request to it waits longer too.
                host.delay = max(host.delay * 2, opts.host_delay, 0.5) if ex.status_code in (429, 503) else host.delay
                host.delay = min(host.delay, MAX_CRAWL_DELAY)
                log.info("retrying %s in %.1fs after HTTP %d", url, delay, ex.status_code)
                ex.close()
            attempt += 1
            fetched.spent += delay
            await self._timer.sleep(delay)

    # -- robots.txt -------------------------------------------------------

    async def _robots_verdict(self, url: str, host: _Host, fetched: Fetched) -> str | None:
        """None when allowed, else the reason it is not."""
        async with host.robots_lock:
            if not host.robots_checked:
                await self._load_robots(url, host, fetched)
                host.robots_checked = True
        if host.robots_block_all:
            return host.robots_block_all
        if host.robots is not None:
            try:
                allowed = host.robots.can_fetch(url, ROBOTS_AGENT)
            except Exception as exc:  # a robots.txt the parser chokes on is no rules at all
                log.warning("robots.txt rules could not be applied to %s: %s", url, exc)
                allowed = True
            if not allowed:
                return "disallowed by robots.txt"
        return None

    async def _load_robots(self, url: str, host: _Host, fetched: Fetched) -> None:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        if self._robots_cache is not None:
            cached = self._robots_cache.get(host_key(robots_url))
            if cached is not None:  # fetched recently (RFC 9309 allows a day)
                self._apply_robots(host, *cached)
                return
        try:
            ex = await self._with_retries(robots_url, host, fetched)
            for _ in range(5):  # RFC 9309: follow at least five redirects
                location = ex.header("location")
                if ex.status_code not in REDIRECT_CODES or not location:
                    break
                nxt = urljoin(ex.url, location)
                if host_key(nxt) != host_key(robots_url):
                    break
                if self.options.archive_robots:
                    fetched.robots.append(ex)
                else:
                    ex.close()
                ex = await self._with_retries(nxt, host, fetched)
        except (httpx.TransportError, TimeoutError) as exc:
            if isinstance(exc, CutShort):
                exc.exchange.close()
            # Unreachable robots.txt: the page fetch will meet the same fate
            # and say so; don't call a dead host "blocked".
            log.info("robots.txt for %s unreachable: %s", robots_url, _describe(exc))
            return
        try:
            body = read_payload(ex, MAX_ROBOTS_BYTES) if 200 <= ex.status_code < 300 else b""
            self._apply_robots(host, ex.status_code, body)
            if self._robots_cache is not None and ex.status_code not in REDIRECT_CODES:
                self._robots_cache.put(host_key(robots_url), ex.status_code, body)
        finally:
            if self.options.archive_robots:
                fetched.robots.append(ex)
            else:
                ex.close()

    @staticmethod
    def _apply_robots(host: _Host, status: int, body: bytes) -> None:
        if 200 <= status < 300:
            try:
                host.robots = Protego.parse(body.decode("utf-8", "replace"))
                delay = host.robots.crawl_delay(ROBOTS_AGENT)
            except Exception as exc:  # hostile or broken robots.txt: no rules
                log.warning("robots.txt could not be parsed: %s", exc)
                host.robots, delay = None, None
            if delay and math.isfinite(float(delay)) and float(delay) > 0:
                host.delay = max(host.delay, min(float(delay), MAX_CRAWL_DELAY))
        elif status >= 500:
            # RFC 9309 2.3.1.4: an unreachable robots.txt means complete disallow.
            host.robots_block_all = f"robots.txt answered HTTP {status}"
        # 3xx left over and 4xx: no rules, everything allowed.

    # -- one URL ----------------------------------------------------------

    async def fetch(self, url: str) -> Fetched:
        """Fetch one URL, following redirects by hand. Never raises for
        network trouble: the reason is in `Fetched.error`."""
        fetched = Fetched(url=url, started=self._clock())
        if self._credentials is not None:
            fetched.auth = self._credentials(url)
            fetched.credentials = fetched.auth.name if fetched.auth is not None else None
        if self._browser is not None and self._use_browser is not None and self._use_browser(url):
            return await self._load_in_browser(url, fetched)
        used: list[_Host] = []
        try:
            await self._follow(url, fetched, used)
        except (httpx.TransportError, TimeoutError) as exc:
            if isinstance(exc, CutShort):
                fetched.exchanges.append(exc.exchange)  # the WARC keeps what arrived; the capture failed
            fetched.error = _describe(exc)
            if fetched.not_retried:
                fetched.error += " (not retried: the host could not be reached earlier in this run)"
        except httpx.InvalidURL as exc:
            fetched.error = f"invalid URL: {exc}"
        finally:
            for host in used:
                host.users -= 1
                await host.release()
        return fetched

    async def _load_in_browser(self, url: str, fetched: Fetched) -> Fetched:
        """robots.txt and the host's turn as for any fetch, then the page in
        the browser. The browser follows redirects and fetches the page's
        parts itself: politeness and robots.txt apply to the page's URL."""
        assert self._browser is not None
        host = self._host(url)
        host.users += 1
        try:
            fetched.origin = Origin(self.options.network)  # the browser checks every request the page makes
            if not await self._admitted(fetched.origin, url, fetched, first=True):
                return fetched
            if self.options.obey_robots:
                reason = await self._robots_verdict(url, host, fetched)
                if reason:
                    fetched.blocked = reason
                    return fetched
            async with host.gate:
                await host.wait_turn()
                await self._browser.load(url, fetched, budget=self._browser.options.timeout)
        except (httpx.TransportError, TimeoutError) as exc:
            fetched.error = _describe(exc)
        finally:
            host.users -= 1
            await host.release()
        return fetched

    async def _admitted(self, origin: Origin, url: str, fetched: Fetched, *, first: bool) -> bool:
        """Whether the network policy lets this hop's host be reached (checked
        on the address its name resolves to); if not, the capture is blocked."""
        try:
            await origin.admit_url(url, first=first)
        except PrivateAddress as exc:
            fetched.blocked = str(exc)
            return False
        return True

    async def _follow(self, url: str, fetched: Fetched, used: list[_Host]) -> None:
        current = url
        origin = Origin(self.options.network)
        for hop in range(self.options.max_redirects + 1):
            host = self._host(current)
            if host not in used:
                host.users += 1
                used.append(host)
            if not await self._admitted(origin, current, fetched, first=hop == 0):
                return
            if self.options.obey_robots:
                reason = await self._robots_verdict(current, host, fetched)
                if reason:
                    fetched.blocked = reason if current == url else f"{reason} (redirect to {current})"
                    return
            ex = await self._with_retries(current, host, fetched)
            try:
                # The address connected to, too: a name may resolve anew between the check and the connection.
                origin.admit(current, ex.ip_address, first=hop == 0 and origin.private_start is None)
            except PrivateAddress as exc:
                ex.close()  # nothing a private address sent is kept
                fetched.blocked = str(exc)
                return
            fetched.exchanges.append(ex)
            location = ex.header("location")
            if ex.status_code not in REDIRECT_CODES or not location:
                return
            try:
                current = check_url(urljoin(current, location))
            except Exception as exc:  # a redirect to somewhere we can't go
                fetched.error = f"bad redirect: {exc}"
                return
        fetched.error = f"more than {self.options.max_redirects} redirects"

    async def fetch_all(self, urls: Iterable[str], on_done: Callable[[Fetched], Awaitable[None] | None], *,
                        admit: Callable[[], Awaitable[None]] | None = None) -> None:
        """Fetch many URLs concurrently; `on_done` gets each result as it
        finishes. `admit`, when given, is awaited before each fetch starts
        (backpressure: the caller holds fetching back while it catches up)."""
        limit = asyncio.Semaphore(self.options.concurrency)
        urls = list(urls)
        # Reserve each host for the URLs queued for it, so its connections
        # stay open between them instead of being closed and reopened.
        for u in urls:
            self._host(u).users += 1

        async def one(u: str) -> None:
            host = self._host(u)
            try:
                if admit is not None:
                    await admit()
                async with limit:
                    fetched = await self.fetch(u)
            finally:
                host.users -= 1
                await host.release()
            result = on_done(fetched)
            if asyncio.iscoroutine(result):
                await result

        async with asyncio.TaskGroup() as group:
            for u in urls:
                group.create_task(one(u))


class _HopClient(httpx.AsyncClient):
    """A client that leaves redirects alone: they are followed by hand, one
    WARC pair per hop. httpx still builds the next request of every
    redirect, and a Location it cannot parse (javascript:, data:, a broken
    host) raised there and took the response with it."""

    def _build_redirect_request(self, request: httpx.Request, response: httpx.Response) -> httpx.Request:
        return request


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The exception that matters in a task group's failure: an interrupt
    first, then an archiver error, then whatever came first."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for kinds in ((KeyboardInterrupt, SystemExit), (ArchiverError,), (BaseException,)):
        for exc in leaves:
            if isinstance(exc, kinds) and not isinstance(exc, asyncio.CancelledError):
                return exc
    return leaves[0] if leaves else group



@dataclass
class Page:
    url: str
    status_code: int
    content_type: str
    body: bytes  # decoded (content-coding undone), capped


def fetch_page(url: str, options: FetchOptions | None = None, *, max_bytes: int) -> Page:
    """Fetch one page for a look (not archived): redirects followed, robots.txt
    obeyed. Raises FetchError when there is no page to look at."""
    result: list[Fetched] = []

    async def main() -> None:
        async with Fetcher(options) as fetcher:
            result.append(await fetcher.fetch(url))

    asyncio.run(main())
    fetched = result[0]
    try:
        if fetched.blocked:
            raise FetchError(url, fetched.blocked)
        final = fetched.final
        if final is None or fetched.error:
            raise FetchError(url, fetched.error or "no response")
        return Page(url=final.url, status_code=final.status_code, content_type=final.content_type,
                    body=read_payload(final, max_bytes))
    finally:
        fetched.close()


def _tls_details(obj: Any) -> tuple[str | None, tuple[bytes, ...]]:
    """(TLS version, certificate chain as DER, leaf first) of a connection;
    (None, ()) for plain HTTP. The chain is the one the server presented
    (Python 3.13 has a public call for it; 3.10-3.12 the same one inside)."""
    if obj is None:
        return None, ()
    try:
        version = obj.version()
    except (AttributeError, ValueError):
        version = None
    chain: tuple[bytes, ...] = ()
    for owner in (obj, getattr(obj, "_sslobj", None)):
        get = getattr(owner, "get_unverified_chain", None)
        if get is None:
            continue
        try:
            certs = get() or []
            chain = tuple(c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                          for c in certs)
        except (AttributeError, ValueError, ssl.SSLError):
            chain = ()
        if chain:
            break
    if not chain:
        try:
            leaf = obj.getpeercert(binary_form=True)
        except (AttributeError, ValueError):
            leaf = None
        chain = (leaf,) if leaf else ()
    return version, chain
