"""Reads behind a login (`serve --viewer-token`): who may see the archive.

With a viewer token set, every page and API read needs it, given as
`Authorization: Bearer TOKEN` (scripts) or once on /login (people), which
sets a session cookie: an expiry time and its HMAC under a key derived from
the token, so every server process accepts it and changing the token ends
every session. The write token reads too. Static files, /healthz and the
login page itself stay open."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["SESSION_COOKIE", "SESSION_SECONDS", "ViewerGate", "make_session", "session_valid", "safe_next"]

SESSION_COOKIE = "archiver_session"
SESSION_SECONDS = 30 * 86400
_OPEN = ("/login", "/logout", "/healthz", "/favicon.ico")


def _key(token: str) -> bytes:
    return hashlib.sha256(b"archiver viewer session\0" + token.encode()).digest()


def make_session(token: str, *, now: float | None = None) -> str:
    expiry = int((now if now is not None else time.time()) + SESSION_SECONDS)
    mac = hmac.new(_key(token), str(expiry).encode(), hashlib.sha256).hexdigest()
    return f"{expiry}.{mac}"


def session_valid(value: str, token: str, *, now: float | None = None) -> bool:
    expiry, _, mac = value.partition(".")
    if not expiry.isdigit() or len(expiry) > 12:
        return False
    good = hmac.new(_key(token), expiry.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac.encode(), good.encode()) and int(expiry) > (now if now is not None else time.time())


def safe_next(value: str | None, root: str) -> str:
    """Where to go after logging in: a path of this interface, never another site."""
    value = value or ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith((root or "") + "/") or value.startswith("//"):
        return (root or "") + "/"
    return value


class ViewerGate:
    """Lets a request through when it shows the viewer token (or the write
    token), or a valid session; else sends people to /login and scripts a 401."""

    def __init__(self, app: Any, *, viewer_token: str | None, write_token: str | None, root: str = "") -> None:
        self.app, self.viewer, self.writer, self.root = app, viewer_token, write_token, root

    def _shown(self, headers: dict[bytes, bytes]) -> bool:
        value = headers.get(b"authorization", b"").decode("latin-1")
        given = value[7:].strip() if value[:7].lower() == "bearer " else ""
        if given and any(t is not None and hmac.compare_digest(given.encode(), t.encode())
                         for t in (self.viewer, self.writer)):
            return True
        for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and self.viewer is not None and session_valid(value, self.viewer):
                return True
        return False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.viewer is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in _OPEN or path.startswith("/static/") or self._shown(dict(scope.get("headers", []))):
            await self.app(scope, receive, send)
            return
        if path.startswith("/api/") or scope.get("method") not in ("GET", "HEAD"):
            body = b'{"error": "this archive needs a login: send Authorization: Bearer VIEWER_TOKEN"}'
            headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
            status = 401
        else:
            wanted = self.root + path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
            headers = [(b"location", f"{self.root}/login?next={quote(wanted, safe='')}".encode()),
                       (b"content-type", b"text/plain; charset=utf-8")]
            body, status = b"log in first\n", 303
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
