"""Load pages in Chromium (Playwright) and keep every exchange they make.

For pages that build their text with JavaScript. The page is loaded in a
browser context of its own (no cookies cross between pages), the network is
let go quiet (with a cap), the page is scrolled a screen at a time to set
lazy loading off, and then three things are kept: every request and
response the page made, from the browser's own network events, with status
line and headers as received; a full-page screenshot (PNG); and the DOM as
the scripts left it, which is what gets cleaned.

The browser hands over bodies decoded: a response stored with
`Content-Encoding: gzip` beside a decoded body would be an invalid record,
so the stored headers say what the stored body is (no Content-Encoding or
Transfer-Encoding, a Content-Length that fits) and the originals are kept as
`X-Orig-<Name>`, the convention of other browser-based archivers.

Playwright is imported here only, on first use: plain capture never needs it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config import BROWSER_ENV, SPOOL_IN_MEMORY, BrowserOptions, FetchOptions
from ..errors import BrowserUnavailable
from ..models import Attachment, Exchange, Fetched
from .netpolicy import Origin, PrivateAddress

if TYPE_CHECKING:
    from .credentials import CredentialSet

__all__ = ["BrowserSession", "find_chromium", "SYSTEM_CHROMIUM"]

log = logging.getLogger(__name__)

SYSTEM_CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = ("install one with 'apt-get install chromium' (or 'playwright install chromium'),"
                " or name it with --browser-path / $ARCHIVER_CHROMIUM")
# Headers that describe the body as it travelled, not as it is stored.
_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
_SCROLL = """async (steps) => {
  const root = document.scrollingElement || document.documentElement;
  for (let i = 0; i < steps; i++) {
    const before = root.scrollHeight;
    window.scrollBy(0, window.innerHeight);
    await new Promise(r => setTimeout(r, 200));
    if (window.scrollY + window.innerHeight >= root.scrollHeight && root.scrollHeight === before) break;
  }
  window.scrollTo(0, 0);
  return root.scrollHeight;
}"""


def _import_playwright() -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        raise BrowserUnavailable("browser capture needs Playwright: pip install 'archiver[browser]'") from exc
    return async_playwright


def find_chromium(explicit: str | None = None, *, managed: str | None = None) -> str:
    """The Chromium to drive: `explicit` (--browser-path) or $ARCHIVER_CHROMIUM,
    then Playwright's own download (`managed`), then the system's."""
    named = explicit or os.environ.get(BROWSER_ENV)
    if named:
        path = shutil.which(named) or named
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise BrowserUnavailable(f"no browser at {named!r}; {INSTALL_HINT}")
        return path
    if managed and os.path.isfile(managed) and os.access(managed, os.X_OK):
        return managed
    for name in SYSTEM_CHROMIUM:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserUnavailable(f"no Chromium found for browser capture; {INSTALL_HINT}")


def _b32_sha1(digest: bytes) -> str:
    return "sha1:" + base64.b32encode(digest).decode("ascii")


def _stored_headers(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    """Headers for a decoded body: the wire's coding headers kept as X-Orig-*."""
    out = []
    for name, value in headers:
        if name.lower() in _WIRE_HEADERS:
            out.append((f"X-Orig-{name}", value))
        else:
            out.append((name, value))
    out.append(("Content-Length", str(length)))
    return out


def _exchange(*, url: str, method: str, request_headers: list[tuple[str, str]], request_body: bytes,
              started: datetime, status: int, reason: str, response_headers: list[tuple[str, str]],
              body: bytes, max_body: int, ip: str | None) -> Exchange:
    truncated = len(body) > max_body
    if truncated:
        body = body[:max_body]
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    spool.write(body)
    spool.seek(0)
    if not reason:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Exchange(url=url, method=method, request_target=target, request_headers=request_headers,
                    request_body=request_body, started=started, http_version="HTTP/1.1", status_code=status,
                    reason=reason, response_headers=_stored_headers(response_headers, len(body)), body=spool,
                    body_length=len(body), payload_digest=_b32_sha1(hashlib.sha1(body).digest()),
                    truncated=truncated, ip_address=ip)


@dataclass
class _Seen:
    """One response the page received, as the browser's Fetch domain paused it."""

    exchange: Exchange
    resource_type: str
    network_id: str | None


class _NetworkLog:
    """Every response a page receives, taken at the DevTools protocol's Fetch
    response stage (as Browsertrix records): the body is asked for while the
    response is paused, so a response the page never reads (a polling
    request) is kept too. Raw request headers and the server's address come
    from the Network domain's events.

    A credential set's headers (basic, bearer, its own) are added at the
    Fetch domain's request stage, to the requests for the set's hosts only
    (`CredentialSet.sends_to`, as without a browser), and taken off any
    other: a redirect, or a page's request to another site, carries none.
    Its cookies are the browser context's, scoped by the browser."""

    def __init__(self, cdp: Any, *, clock: Callable[[], datetime], max_body: int,
                 credentials: CredentialSet | None = None, origin: str = "", reach: Origin | None = None) -> None:
        self.cdp = cdp
        self.clock = clock
        self.max_body = max_body
        self.reach = reach if reach is not None and reach.policy.mode != "any" else None
        self.refused: list[str] = []  # "URL: why", requests the network policy stopped
        self.credentials = credentials if credentials is not None and credentials.headers else None
        self.origin = origin
        self._credential_names = {name.lower() for name in credentials.headers} if self.credentials else set()
        self.seen: list[_Seen] = []
        self.crashed = False
        self._sent: dict[str, list[dict[str, str]]] = {}  # networkId -> raw request headers, per hop
        self._peer: dict[str, str] = {}  # networkId -> remote IP
        self._wire: dict[str, tuple[str | None, str | None]] = {}  # networkId -> (TLS version, protocol)
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests = 0  # requests the page has started, so far

    async def start(self) -> None:
        self.cdp.on("Network.requestWillBeSentExtraInfo",
                    lambda e: self._sent.setdefault(e.get("requestId", ""), []).append(e.get("headers") or {}))
        self.cdp.on("Network.responseReceived", self._received)
        self.cdp.on("Network.requestWillBeSent", lambda e: setattr(self, "requests", self.requests + 1))
        self.cdp.on("Fetch.requestPaused", self._paused)
        await self.cdp.send("Network.enable")
        patterns = [{"urlPattern": "*", "requestStage": "Response"}]
        if self.credentials is not None or self.reach is not None:
            patterns.append({"urlPattern": "*", "requestStage": "Request"})
        await self.cdp.send("Fetch.enable", {"patterns": patterns})

    def _received(self, event: dict[str, Any]) -> None:
        response = event.get("response") or {}
        rid = event.get("requestId", "")
        ip = response.get("remoteIPAddress")
        if ip:
            self._peer[rid] = ip.strip("[]")
        # For provenance: the TLS version ("TLS 1.3") and the protocol ("h2").
        tls = (response.get("securityDetails") or {}).get("protocol")
        protocol = response.get("protocol")
        if tls or protocol:
            self._wire[rid] = (str(tls) if tls else None, str(protocol) if protocol else None)

    async def certificates(self, url: str) -> tuple[bytes, ...]:
        """The certificate chain (DER, leaf first) the browser was shown for
        `url`'s origin, for provenance; () when the browser does not say."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            return ()
        origin = f"https://{parts.netloc}"
        try:
            async with asyncio.timeout(5):
                answer = await self.cdp.send("Network.getCertificate", {"origin": origin})
            return tuple(base64.b64decode(c) for c in answer.get("tableNames") or [])
        except Exception as exc:  # an experimental call: a browser may not have it
            log.debug("no certificate chain for %s: %s", origin, exc)
            return ()

    def _paused(self, event: dict[str, Any]) -> None:
        at_request = "responseStatusCode" not in event and "responseErrorReason" not in event
        task = asyncio.ensure_future(self._send(event) if at_request else self._take(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: dict[str, Any]) -> None:
        """A request about to go: refused if the network policy forbids its
        address; else the credential set's headers on it if its host is the
        set's, off it if not (a redirect keeps the headers of the request it
        follows)."""
        request = event.get("request") or {}
        url = request.get("url") or ""
        try:
            if self.reach is not None and not await self._reachable(url):
                await self.cdp.send("Fetch.failRequest", {"requestId": event["requestId"],
                                                          "errorReason": "AddressUnreachable"})
                return
            if self.credentials is None:
                await self.cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
                return
            headers = {k: v for k, v in (request.get("headers") or {}).items()
                       if k.lower() not in self._credential_names}
            if self.credentials.sends_to(url, self.origin):
                headers.update(self.credentials.headers)
            await self.cdp.send("Fetch.continueRequest", {
                "requestId": event["requestId"], "headers": [{"name": k, "value": v} for k, v in headers.items()]})
        except Exception as exc:  # the page or the browser went away meanwhile
            log.debug("could not let a request go on: %s", exc)

    async def _reachable(self, url: str) -> bool:
        assert self.reach is not None
        try:
            await self.reach.admit_url(url, first=False)
        except PrivateAddress as exc:
            self.refused.append(str(exc))
            return False
        return True

    async def _take(self, event: dict[str, Any]) -> None:
        rid = event["requestId"]
        try:
            status = event.get("responseStatusCode")
            if status is None or event.get("responseErrorReason"):
                return  # the request failed: nothing came back to keep
            headers = [(h["name"], h["value"]) for h in event.get("responseHeaders") or []]
            body = b""
            cut = False
            if not 300 <= status < 400:
                declared = next((v for k, v in headers if k.lower() == "content-length"), "")
                if declared.isdigit() and int(declared) > self.max_body:
                    cut = True  # never buffered whole: kept as headers and a truncated record
                else:
                    got = await self.cdp.send("Fetch.getResponseBody", {"requestId": rid})
                    data = got.get("body") or ""
                    body = base64.b64decode(data) if got.get("base64Encoded") else data.encode("utf-8")
            request = event.get("request") or {}
            url = request.get("url") or ""
            network_id = event.get("networkId")
            sent = (self._sent.get(network_id or "") or [None])[-1] or request.get("headers") or {}
            post = request.get("postData") or ""
            ex = _exchange(url=url, method=request.get("method") or "GET",
                           request_headers=[(k, v) for k, v in sent.items() if not k.startswith(":")],
                           request_body=post.encode("utf-8"), started=self.clock(), status=status,
                           reason=event.get("responseStatusText") or "", response_headers=headers, body=body,
                           max_body=self.max_body, ip=None)
            if cut:
                ex.truncated = True
            ex.secret_headers = frozenset(self._credential_names)
            self.seen.append(_Seen(exchange=ex, resource_type=event.get("resourceType") or "", network_id=network_id))
        except Exception as exc:  # the page or the browser went away meanwhile
            log.debug("no record of a response: %s", exc)
        finally:
            try:
                await self.cdp.send("Fetch.continueRequest", {"requestId": rid})
            except Exception as exc:
                log.debug("could not let a response go on: %s", exc)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait for the responses being taken now."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def split(self, chain: list[str]) -> tuple[list[Exchange], list[Exchange]]:
        """(the document's hops in order, everything else in the order it came)."""
        hops: list[Exchange] = []
        used: set[int] = set()
        for url in chain:
            for i, s in enumerate(self.seen):
                if i not in used and s.resource_type == "Document" and s.exchange.url == url:
                    used.add(i)
                    hops.append(s.exchange)
                    break
        for i, s in enumerate(self.seen):
            if s.network_id and s.network_id in self._peer:
                s.exchange.ip_address = self._peer[s.network_id]
            if s.network_id and s.network_id in self._wire:
                tls, protocol = self._wire[s.network_id]
                s.exchange.tls_version = tls
                if protocol in ("h2", "h3"):
                    s.exchange.protocol = protocol
        return hops, [s.exchange for i, s in enumerate(self.seen) if i not in used]

    def close_unused(self, kept: list[Exchange]) -> None:
        ids = {id(e) for e in kept}
        for s in self.seen:
            if id(s.exchange) not in ids:
                s.exchange.close()


class BrowserSession:
    """One Chromium for a whole run, a context per page, a few pages at once.
    Started on first use; a browser that dies is started again for the next
    page (the page it took down is `failed`, never the run)."""

    def __init__(self, options: BrowserOptions, fetch_options: FetchOptions, *,
                 clock: Callable[[], datetime]) -> None:
        self.options = options
        self.fetch_options = fetch_options
        self.clock = clock
        self.version: str | None = None
        self._manager: Any = None
        self._playwright: Any = None
        self._browser: Any = None
        self._user_agent: str | None = None
        self._lock = asyncio.Lock()
        self._pages = asyncio.Semaphore(options.pages)

    async def __aenter__(self) -> BrowserSession:
        await self._ensure_browser()  # fail before any fetching when there is no browser to be had
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._browser is not None:
            try:
                await self._browser.close()
            except Exception as exc:  # already gone
                log.debug("closing the browser: %s", exc)
            self._browser = None
        if self._manager is not None:
            try:
                await self._manager.__aexit__(None, None, None)
            except Exception as exc:
                log.debug("stopping Playwright: %s", exc)
            self._manager = self._playwright = None

    async def _ensure_browser(self) -> Any:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                log.warning("the browser is gone; starting it again")
                self._browser = None
            if self._playwright is None:
                self._manager = _import_playwright()()
                self._playwright = await self._manager.__aenter__()
            chromium = self._playwright.chromium
            try:
                managed = chromium.executable_path
            except Exception:  # no Playwright-managed browser registered
                managed = None
            path = find_chromium(self.options.executable, managed=managed)
            args = ["--disable-dev-shm-usage"]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                args.append("--no-sandbox")  # Chromium refuses to start sandboxed as root
            try:
                self._browser = await chromium.launch(executable_path=path, args=args, headless=True)
            except Exception as exc:
                raise BrowserUnavailable(f"{path} did not start as a headless browser"
                                         f" ({str(exc).splitlines()[0]}); {INSTALL_HINT}") from exc
            self.version = f"Chromium {self._browser.version}"
            if self._user_agent is None:
                page = await self._browser.new_page()
                try:
                    base = await page.evaluate("navigator.userAgent")
                finally:
                    await page.close()
                self._user_agent = f"{base} {self.fetch_options.agent}"
            return self._browser

    async def load(self, url: str, fetched: Fetched, *, budget: float) -> None:
        """Load `url` into `fetched`: its document's redirect hops and response
        (`exchanges`), everything else the page fetched (`resources`), the
        screenshot and rendered DOM (`attachments`, `rendered`). Trouble
        goes into `fetched.error`; what was had before it is kept."""
        fetched.via = "browser"
        async with self._pages:
            browser = await self._ensure_browser()
            fetched.browser = self.version
            context = None
            network: _NetworkLog | None = None
            t0 = time.monotonic()
            try:
                auth = fetched.auth
                context = await browser.new_context(
                    user_agent=self._user_agent, service_workers="block", accept_downloads=False,
                    extra_http_headers=dict(self.fetch_options.extra_headers) or None,
                    viewport={"width": 1280, "height": 900},
                    # A credential set: its Playwright storage state (cookies,
                    # local storage) and its cookies.txt; both are scoped to
                    # their own domains by the browser.
                    storage_state=auth.storage_state if auth is not None and auth.storage_state else None)
                if auth is not None and auth.browser_cookies():
                    await context.add_cookies(auth.browser_cookies())
                page = await context.new_page()
                network = _NetworkLog(await context.new_cdp_session(page), clock=self.clock,
                                      max_body=self.fetch_options.max_body, credentials=auth, origin=url,
                                      reach=fetched.origin)
                await network.start()
                page.on("crash", lambda _p: setattr(network, "crashed", True))
                page.on("dialog", lambda d: asyncio.ensure_future(d.dismiss()))
                chain = [url]
                try:
                    async with asyncio.timeout(max(0.1, budget)):
                        main = await self._render(page, url, fetched, network)
                        if main is not None:
                            chain = []
                            request = main.request
                            while request is not None:
                                chain.insert(0, request.url)
                                request = request.redirected_from
                except TimeoutError:
                    fetched.error = (f"gave up after {budget:g} s in the browser"
                                     " (--browser-timeout: load, network idle, scrolling and screenshot)")
                except Exception as exc:  # Playwright's errors: a crash, a closed target, a refused load
                    fetched.error = self._describe(exc, network.crashed, browser)
                await network.settle()
                hops, others = network.split(chain)
                if hops and hops[-1].tls_version:
                    hops[-1].tls_chain = await network.certificates(hops[-1].url)
                fetched.exchanges.extend(hops)
                fetched.resources.extend(others)
                fetched.refused.extend(network.refused)
                if not hops and network.refused:
                    fetched.blocked, fetched.error = network.refused[0], None  # its document itself was refused
                if not hops and fetched.error is None and fetched.blocked is None:
                    fetched.error = "the browser loaded no document"
            except Exception as exc:
                if fetched.error is None:
                    fetched.error = self._describe(exc, bool(network and network.crashed), browser)
            finally:
                fetched.spent += time.monotonic() - t0
                if context is not None:
                    try:
                        async with asyncio.timeout(10):
                            await context.close()
                    except Exception as exc:  # a dead browser's contexts are gone already
                        log.debug("closing a browser context: %s", exc)

    @staticmethod
    def _describe(exc: BaseException, crashed: bool, browser: Any) -> str:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if crashed:
            return f"the browser's page crashed ({first})"
        if not browser.is_connected():
            return f"the browser died while loading the page ({first}); it is started again for the next page"
        if first.startswith("net::") or "net::ERR" in first:
            return f"the browser could not load the page: {first.split(' at ')[0]}"
        return f"the browser failed on the page: {first}"

    async def _render(self, page: Any, url: str, fetched: Fetched, network: _NetworkLog) -> Any:
        opts = self.options
        main = await page.goto(url, wait_until="load", timeout=0)
        await self._quiet(page, opts.idle)
        if opts.scroll_steps:
            before = network.requests
            await page.evaluate(_SCROLL, opts.scroll_steps)
            if network.requests > before:  # scrolling set something off: let it arrive
                await self._quiet(page, min(opts.idle, 2.0))
        if main is not None and "html" in (main.headers.get("content-type") or "html"):
            if opts.screenshot:
                fetched.attachments.append(Attachment(
                    uri=f"urn:screenshot:{url}", content_type="image/png", data=await self._screenshot(page)))
            dom = (await page.content()).encode("utf-8")
            fetched.rendered = dom
            fetched.attachments.append(Attachment(uri=f"urn:dom:{url}", content_type="text/html; charset=utf-8",
                                                  data=dom))
        return main

    @staticmethod
    async def _quiet(page: Any, cap: float) -> None:
        """Wait for no network traffic for 500 ms, at most `cap` seconds: a
        page that polls forever is taken as it is when the cap runs out."""
        if cap <= 0:
            return
        try:
            await page.wait_for_load_state("networkidle", timeout=cap * 1000)
        except Exception as exc:
            if "Timeout" not in type(exc).__name__ and "imeout" not in str(exc):
                raise

    async def _screenshot(self, page: Any) -> bytes:
        height = await page.evaluate("(document.scrollingElement || document.documentElement).scrollHeight")
        limit = self.options.max_screenshot_height
        if isinstance(height, (int, float)) and height > limit:
            return await page.screenshot(full_page=True, type="png", timeout=0,
                                         clip={"x": 0, "y": 0, "width": 1280, "height": limit})
        return await page.screenshot(full_page=True, type="png", timeout=0)
