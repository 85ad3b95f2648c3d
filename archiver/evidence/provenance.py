"""Provenance of a capture: who fetched it, how, and from where.

It goes into the capture's WARC metadata record (next to its verdict) and
comes back out in `show --json`: the software and its version, the options
in force, the server's address, the HTTP version, for HTTPS the negotiated
TLS version and the certificate chain the server presented, and whether a
browser loaded the page. Only settings named here are recorded, so nothing
secret (cookies, credentials, tokens) can reach it.
"""

from __future__ import annotations

import base64
import functools
import json
import platform
from dataclasses import asdict
from importlib import metadata as importlib_metadata
from typing import Any

from ..config import VERSION, BrowserOptions, FetchOptions
from ..models import Fetched

__all__ = ["capture_settings", "provenance_fields", "provenance_from_fields", "software"]

# FetchOptions fields that say how a page was fetched; anything not listed
# (now or added later) stays out of the record.
_FETCH_SETTINGS = ("contact", "user_agent", "connect_timeout", "read_timeout", "total_timeout", "retries",
                   "max_body", "max_redirects", "obey_robots", "host_delay", "per_host")
_BROWSER_SETTINGS = ("timeout", "idle", "scroll_steps", "screenshot", "max_screenshot_height")
_LIBRARIES = ("httpx", "warcio", "trafilatura", "playwright")


@functools.cache  # the same for the life of the process: a run --loop asks at every wake
def software() -> str:
    """`archiver/0.x (Python 3.x; httpx a.b; warcio c.d; ...)`."""
    parts = [f"Python {platform.python_version()}"]
    for name in _LIBRARIES:
        try:
            parts.append(f"{name} {importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            continue
    return f"archiver/{VERSION} ({'; '.join(parts)})"


def capture_settings(fetch: FetchOptions, browser: BrowserOptions | None = None) -> tuple[str, str]:
    """The options in force as one line of JSON each (the same for a whole
    run): for a plain fetch, and for a page loaded in the browser."""
    values = asdict(fetch)
    out: dict[str, Any] = {name: values.get(name) for name in _FETCH_SETTINGS if name in values}
    out["user_agent"] = fetch.agent
    out["ca_bundle"] = fetch.ca_bundle
    # Extra headers may carry credentials: their names only.
    out["extra_header_names"] = sorted({name for name, _ in fetch.extra_headers})
    plain = json.dumps(out, sort_keys=True, ensure_ascii=False, default=str)
    if browser is not None:
        b = asdict(browser)
        out["browser"] = {name: b.get(name) for name in _BROWSER_SETTINGS if name in b}
    return plain, json.dumps(out, sort_keys=True, ensure_ascii=False, default=str)


def provenance_fields(fetched: Fetched, settings: tuple[str, str], software_line: str) -> dict[str, str | None]:
    """The provenance part of a capture's metadata record (one line a field)."""
    final = fetched.final
    options = settings[1] if fetched.via == "browser" else settings[0]
    sent = next((v for k, v in final.request_headers if k.lower() == "user-agent"), None) if final else None
    if sent:
        # What went on the wire: a browser sends its own User-Agent with ours appended.
        values = json.loads(options)
        if values.get("user_agent") != sent:
            values["user_agent"] = sent
            options = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    fields: dict[str, str | None] = {
        "software": software_line,
        "options": options,
        "fetched-with": fetched.via,
        "credentials": fetched.credentials,  # the set's name; its values are never recorded
        # requests the network policy refused (a page reaching for private addresses)
        "refused": json.dumps(fetched.refused[:20], ensure_ascii=False) if fetched.refused else None,
    }
    if final is not None:
        version = final.http_version
        if final.protocol:
            version = {"h2": "HTTP/2", "h3": "HTTP/3"}.get(final.protocol, final.protocol)
        fields.update({
            "ip-address": final.ip_address,
            "http-version": version,
            "tls-version": final.tls_version,
            # DER, base64, space-separated: one line, as warc-fields want
            "tls-certificates": " ".join(base64.b64encode(c).decode("ascii") for c in final.tls_chain) or None,
        })
    return fields


def _pem(der_b64: str) -> str | None:
    try:
        der = base64.b64decode(der_b64, validate=True)
    except ValueError:
        return None
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def provenance_from_fields(fields: dict[str, str]) -> dict[str, Any]:
    """What `show --json` prints as `provenance`, from a metadata record's fields."""
    try:
        options = json.loads(fields["options"]) if fields.get("options") else None
    except ValueError:
        options = fields.get("options")
    certs = [p for p in (_pem(c) for c in (fields.get("tls-certificates") or "").split()) if p]
    return {
        "software": fields.get("software"),
        "options": options,
        "fetched_with": fields.get("fetched-with") or "http",
        "browser": fields.get("browser"),
        "credentials": fields.get("credentials"),
        "ip_address": fields.get("ip-address"),
        "http_version": fields.get("http-version"),
        "tls_version": fields.get("tls-version"),
        "tls_certificate_chain": "".join(certs) or None,
        # A capture ingested from another tool's WARC: where its record came from.
        "ingested_from": fields.get("source"),
        "refused_requests": _json_list(fields.get("refused")),
        # The capture's own WARC records: its response, and a browser capture's screenshot and DOM.
        "response_record": fields.get("record-id"),
        "screenshot_record": fields.get("screenshot"),
        "dom_record": fields.get("dom"),
    }


def _json_list(value: str | None) -> list[str]:
    try:
        data = json.loads(value) if value else []
    except ValueError:
        return []
    return [v for v in data if isinstance(v, str)] if isinstance(data, list) else []
