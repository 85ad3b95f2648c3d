"""What every response of the interface is guarded by: security headers
(a Content-Security-Policy that allows no inline script and nothing from
elsewhere) and a check that the request's Host is one this server answers
to (DNS rebinding)."""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["CSP", "HostCheck", "SecurityHeaders", "host_allowed"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Security headers on every response (plain ASGI: no per-request task)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in _SECURITY_HEADERS if k not in names)]
            await send(message)

        await self.app(scope, receive, sending)


def host_allowed(host_header: str, allowed: frozenset[str]) -> bool:
    """Whether a request's Host header names this server: an IP address
    (no DNS name can be rebound to it), localhost, or a name given with
    --allowed-host. A page elsewhere that points its own name at this
    machine (DNS rebinding) is refused, and so is any name links would
    be built from."""
    host = host_header.strip().lower()
    if host.startswith("["):
        if "]" not in host:
            return False
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.rstrip(".")
    if not name:
        return False
    if name == "localhost" or name in allowed:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Refuses requests whose Host header is not one this server answers to."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
            if not host_allowed(host, self.allowed):
                body = (b"This server does not answer to that host name. If it is served under that name,"
                        b" start it with --allowed-host NAME.\n")
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
