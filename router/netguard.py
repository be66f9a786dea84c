"""Which addresses a webhook may reach: the guard against server-side request forgery.

A per-instance webhook's URL comes from an API caller, on a multi-tenant platform from the
platform's customers, so the router must not become their way into its own network. The rules
hold for the address actually connected to, after DNS resolution, so a name that resolves to a
refused address (or starts to, DNS rebinding) is refused too:

- link-local addresses, cloud metadata services among them (``169.254.169.254``,
  ``fd00:ec2::254``, ``100.100.100.200``), are always refused;
- with ``deny_private`` (``WEBHOOK_DENY_PRIVATE_NETWORKS``, for multi-tenant platforms) so are
  private, loopback, shared, multicast, unspecified and reserved ranges;
- a network in ``allowed`` (``WEBHOOK_ALLOWED_NETWORKS``) is let through whatever the rules say.

The global webhook from the environment is the operator's own: only the first rule and the
allow-list apply to it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# One of getaddrinfo's answers: family, type, protocol, canonical name, socket address.
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]

# Words every refusal starts with, so a refusal is known wherever it surfaces (a connection
# error may join several).
REFUSED = "refused by the SSRF guard"
# How long the API waits for a webhook host's addresses before leaving the check to the
# connection itself.
RESOLVE_SECONDS = 2.0

METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class AddressRefused(OSError):
    """A connection the guard did not let the socket make."""


def networks(text: str) -> tuple[Network, ...]:
    """``WEBHOOK_ALLOWED_NETWORKS``: CIDRs (or single addresses), comma-separated."""
    found = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                found.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"{part!r} is not a network (e.g. 10.0.0.0/8): {exc}") from None
    return tuple(found)


def always_refused(ip: Address) -> str | None:
    if ip in METADATA:
        return f"{ip} is a cloud metadata address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    return None


def private(ip: Address) -> str | None:
    for kind, hit in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("shared (carrier-grade NAT)", isinstance(ip, ipaddress.IPv4Address) and ip in SHARED),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    ):
        if hit:
            return f"{ip} is a {kind} address (WEBHOOK_DENY_PRIVATE_NETWORKS)"
    return None


@dataclass(frozen=True, slots=True)
class Guard:
    deny_private: bool = False
    allowed: tuple[Network, ...] = ()

    def refusal(self, address: str) -> str | None:
        """Why the guard refuses ``address`` (an IP address), or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is not the address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed if network.version == ip.version):
            return None
        why = always_refused(ip)
        if why is None and self.deny_private:
            why = private(ip)
        return None if why is None else f"{REFUSED}: {why}"

    def socket_factory(self, addr_info: AddrInfo) -> socket.socket:
        """For aiohttp's connector: every address a connection is about to be made to."""
        family, kind, proto, _, sockaddr = addr_info
        why = self.refusal(str(sockaddr[0]))
        if why is not None:
            raise AddressRefused(why)
        return socket.socket(family, kind, proto)

    async def url_refusal(self, url: str) -> str | None:
        """Why a webhook URL is refused now, by its host's addresses; None when they pass or
        cannot be found yet (the connection is checked again when it is made)."""
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            return None
        try:
            return self.refusal(host)  # an address written in the URL
        except ValueError:
            pass
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            async with asyncio.timeout(RESOLVE_SECONDS):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
        except (OSError, TimeoutError, ValueError):
            return None
        return first(self.refusal(str(info[4][0])) for info in infos)


def first(reasons: Iterable[str | None]) -> str | None:
    return next((r for r in reasons if r is not None), None)
