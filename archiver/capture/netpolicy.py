"""Which network addresses a capture may reach.

A URL a person typed may point into a private network (archiving an
intranet is legitimate). What a page leads to may not: a redirect or a
sub-resource that goes from a public address to a private, loopback or
link-local one is refused (a public page must not make archiver read, and
archive, what only this machine can reach), and a server that captures for
others (the web interface's API) refuses private targets altogether unless
told otherwise. Addresses are checked after name resolution, so a name
that resolves to a private address is private.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config import NetworkPolicy

__all__ = ["Origin", "PrivateAddress", "address_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class PrivateAddress(Exception):
    """A request the network policy refuses (its message says why)."""


@dataclass
class Origin:
    """What one capture has reached so far: whether its first address was
    private (then the rest may be too, under "typed")."""

    policy: NetworkPolicy
    private_start: bool | None = None  # None until the first address is known

    def admit(self, url: str, address: str | None, *, first: bool) -> None:
        """Raise PrivateAddress when `address` (of `url`) may not be reached."""
        if self.policy.mode == "any" or address is None:
            return
        private = self.policy.is_private(address)
        if first and self.private_start is None:
            self.private_start = private
            if private and self.policy.mode == "public":
                raise PrivateAddress(f"{url} is at a private address ({address}); this server captures public"
                                     " addresses only (start it with --allow-private to change that)")
            return
        if private and (self.policy.mode == "public" or not self.private_start):
            raise PrivateAddress(f"{url} is at a private address ({address}), reached from a public one: refused")

    async def admit_url(self, url: str, *, first: bool) -> None:
        """`admit` on the address `url`'s host resolves to (before anything is
        sent to it); a URL that leaves no machine (data:, blob:) passes."""
        if self.policy.mode == "any":
            return
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            return
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self.admit(url, await address_of(self.policy, parts.hostname, port), first=first)


async def address_of(policy: NetworkPolicy, host: str, port: int) -> str | None:
    """The address `host` resolves to that matters to `policy`: its first
    private one, else its first (None: it does not resolve)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        addresses = [host.strip("[]")]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None
        addresses = [str(info[4][0]) for info in infos]
    return next((a for a in addresses if policy.is_private(a)), addresses[0] if addresses else None)
