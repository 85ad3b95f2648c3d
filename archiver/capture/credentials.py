"""Credential sets: how to fetch pages behind a login or a cookie wall.

A set is named, and lives in a TOML file outside the catalog:
`$ARCHIVER_CREDENTIALS`, else `~/.config/archiver/credentials.toml`, else
`credentials.toml` in the archive folder. Watches and rule files refer to a
set by its name only, and a capture's metadata records that name, never a
value. Secrets come from the environment or from files:

    [members]
    hosts = ["example.org"]                 # where it is sent (default: the page's own host)
    headers = { "X-Client" = "archiver" }   # extra request headers
    headers_env = { "X-Api-Key" = "EXAMPLE_KEY" }   # ... whose values are in the environment
    cookies = "~/cookies-example.txt"       # Netscape cookies.txt, as browsers' exporters write it
    basic = { user = "me", password_env = "EXAMPLE_PASSWORD" }   # or password_file
    bearer_env = "EXAMPLE_TOKEN"            # or bearer_file
    storage_state = "~/example-state.json"  # Playwright storage state, for --browser

Headers and cookies go only to the set's hosts (and their subdomains), so a
redirect to another site never carries them.
"""

from __future__ import annotations

import base64
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..urls import host_of

if TYPE_CHECKING:
    import http.cookiejar

__all__ = ["CREDENTIALS_ENV", "CredentialSet", "credential_set", "credentials_file", "inline_set"]

CREDENTIALS_ENV = "ARCHIVER_CREDENTIALS"
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_KEYS = {"hosts", "headers", "headers_env", "cookies", "basic", "bearer_env", "bearer_file", "storage_state"}


@dataclass
class CredentialSet:
    name: str
    hosts: tuple[str, ...] = ()  # empty: the host of the page it is used for
    headers: dict[str, str] = field(default_factory=dict)
    cookies_file: str | None = None
    storage_state: str | None = None
    _jar: http.cookiejar.CookieJar | None = field(default=None, repr=False)

    def sends_to(self, url: str, origin: str) -> bool:
        """Whether `url` (a hop of a fetch that began at `origin`) gets the credentials."""
        host = host_of(url) or ""
        allowed = self.hosts or (host_of(origin) or "",)
        return any(host == h or host.endswith("." + h) for h in allowed)

    def headers_for(self, url: str, origin: str) -> dict[str, str]:
        """The request headers this set adds to a request for `url`."""
        if not self.sends_to(url, origin):
            return {}
        out = dict(self.headers)
        if self._jar is not None:
            import urllib.request  # with cookies only: its import costs every command ~15 ms

            request = urllib.request.Request(url)
            self._jar.add_cookie_header(request)
            cookie = request.get_header("Cookie")
            if cookie:
                out["Cookie"] = cookie
        return out

    def browser_cookies(self) -> list[dict[str, Any]]:
        """The cookies.txt cookies in the form Playwright's context takes."""
        out = []
        for c in self._jar or []:
            out.append({"name": c.name, "value": c.value or "", "domain": c.domain, "path": c.path or "/",
                        "secure": bool(c.secure), "httpOnly": False,
                        **({"expires": float(c.expires)} if c.expires else {})})
        return out


def credentials_file(archive: Path | None = None) -> Path | None:
    """Where credential sets are read from (the first that exists)."""
    candidates = []
    if os.environ.get(CREDENTIALS_ENV):
        candidates.append(Path(os.environ[CREDENTIALS_ENV]).expanduser())
    candidates.append(Path("~/.config/archiver/credentials.toml").expanduser())
    if archive is not None:
        candidates.append(archive / "credentials.toml")
    return next((p for p in candidates if p.is_file()), None)


def credential_set(name: str, archive: Path | None = None) -> CredentialSet:
    """The named set, loaded (secrets read now): a one-line error naming the
    file and key when anything is missing, never the secret itself."""
    path = credentials_file(archive)
    if path is None:
        raise ConfigError(f"no credential set {name!r}: no credentials file (set ${CREDENTIALS_ENV}, or write"
                          " ~/.config/archiver/credentials.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable credentials file ({exc})") from None
    entry = data.get(name)
    if not isinstance(entry, dict):
        known = ", ".join(sorted(k for k, v in data.items() if isinstance(v, dict))) or "none"
        raise ConfigError(f"{path}: no credential set [{name}] (sets: {known})")
    return _build(name, entry, f"{path} [{name}]", base=path.parent)


def inline_set(headers: list[str] | tuple[str, ...], cookies: str | None) -> CredentialSet | None:
    """The set a command line gives (`--header 'Name: value'`, `--cookies FILE`)."""
    if not headers and not cookies:
        return None
    parsed: dict[str, str] = {}
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
            raise ConfigError(f"invalid --header {h.split(':')[0][:40]!r}: use 'Name: value'")
        parsed[name.strip()] = value.strip()
    entry: dict[str, Any] = {"headers": parsed}
    if cookies:
        entry["cookies"] = cookies
    return _build("command-line", entry, "the command line", base=Path.cwd())


def load_cookies(path: Path, where: str = "cookies") -> http.cookiejar.CookieJar:
    """A Netscape cookies.txt as browsers' exporters write it: seven
    tab-separated fields a line, `#HttpOnly_` before a domain, expiry 0 for
    a session cookie (kept: the export is the session), with or without the
    magic first line. Expired cookies are dropped."""
    import http.cookiejar

    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ConfigError(f"{where}: cookies: cannot read {path} ({exc.strerror or exc})") from None
    jar = http.cookiejar.CookieJar()
    now = time.time()
    bad = 0
    for line in lines:
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_"):]
        elif not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            bad += 1
            continue
        domain, _flag, cpath, secure, expires, name, value = fields
        try:
            expiry = int(float(expires or 0)) or None
        except ValueError:
            bad += 1
            continue
        if expiry is not None and expiry < now:
            continue
        jar.set_cookie(http.cookiejar.Cookie(
            version=0, name=name, value=value, port=None, port_specified=False, domain=domain,
            domain_specified=domain.startswith("."), domain_initial_dot=domain.startswith("."), path=cpath or "/",
            path_specified=True, secure=secure.upper() == "TRUE", expires=expiry, discard=expiry is None,
            comment=None, comment_url=None, rest={}))
    if bad and not len(jar):
        raise ConfigError(f"{where}: cookies: {path} is not a cookies.txt (Netscape format: seven tab-separated"
                          " fields a line)")
    return jar


def _secret(where: str, key: str, env: str | None = None, file: str | None = None, base: Path = Path(".")) -> str:
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{where}: {key}: the environment variable {env} is not set")
        return value
    if file is not None:
        target = (base / Path(file).expanduser())
        try:
            return target.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: {key}: cannot read {target} ({exc.strerror or exc})") from None
    raise ConfigError(f"{where}: {key}: give a *_env or *_file")


def _build(name: str, entry: dict[str, Any], where: str, *, base: Path) -> CredentialSet:
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    hosts = entry.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise ConfigError(f"{where}: hosts is a list of host names")
    headers: dict[str, str] = {}
    for key in ("headers", "headers_env"):
        table = entry.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(f"{where}: {key} is a table of names and text")
        for header, value in table.items():
            headers[header] = _secret(where, f"{key}.{header}", env=value) if key == "headers_env" else value
    basic = entry.get("basic")
    if basic is not None:
        if not isinstance(basic, dict) or not isinstance(basic.get("user"), str):
            raise ConfigError(f"{where}: basic needs user and password_env or password_file")
        password = _secret(where, "basic.password", env=basic.get("password_env"), file=basic.get("password_file"),
                           base=base)
        token = base64.b64encode(f"{basic['user']}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    if "bearer_env" in entry or "bearer_file" in entry:
        headers["Authorization"] = "Bearer " + _secret(where, "bearer", env=entry.get("bearer_env"),
                                                       file=entry.get("bearer_file"), base=base)
    for header, value in headers.items():
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{where}: header {header}: a value on one line")
    cred = CredentialSet(name=name, hosts=tuple(h.lower().lstrip(".") for h in hosts), headers=headers)
    if entry.get("cookies"):
        path = base / Path(str(entry["cookies"])).expanduser()
        cred.cookies_file, cred._jar = str(path), load_cookies(path, where)
    if entry.get("storage_state"):
        state = base / Path(str(entry["storage_state"])).expanduser()
        if not state.is_file():
            raise ConfigError(f"{where}: storage_state: {state} does not exist")
        cred.storage_state = str(state)
    return cred
