"""Where a webhook may go: https to a public address, or anything to an allow-listed host (SSRF guard).

A literal address is checked when the event is validated; a host name is resolved when sending, every
address it resolves to must be public, and the request is pinned to the checked address so a second
DNS answer cannot point it somewhere else (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BadDestinationError(ValueError):
    """The URL may never be sent to: `rule` names the broken rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class UnresolvableError(Exception):
    """DNS gave no answer; `permanent` when the name does not exist."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    parts: SplitResult
    host: str
    port: int
    allow_listed: bool


def parse_allow_hosts(value: str) -> frozenset[str]:
    return frozenset(host.strip().lower().strip("[]") for host in value.split(",") if host.strip())


# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 4291 compatible, RFC 6052 NAT64).
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 8215 local-use NAT64: the operator chooses where the IPv4 address sits, so none of it is public.
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: mapped, compatible, NAT64, 6to4 and Teredo."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _IPV4_COMPATIBLE or address in _NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # the Teredo server and the client behind it
    return found


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, and so is every IPv4 address it embeds."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL_USE or address in _TEREDO:
            return False
        embedded = embedded_ipv4(address)
        if embedded:
            return all(is_public(inner) for inner in embedded)
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, allow_hosts: Collection[str]) -> Target:
    """Reject URLs that are malformed, not https, or literally private; raise BadDestinationError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadDestinationError("url", f"not a valid URL: {error}") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host:
        raise BadDestinationError("url", "must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise BadDestinationError("url", "must not carry credentials")
    allow_listed = host in allow_hosts
    if parts.scheme != "https" and not allow_listed:
        raise BadDestinationError("https", "must use https (plain http only to an allow-listed host)")
    address = _literal(host)
    if address is not None and not allow_listed and not is_public(address):
        raise BadDestinationError("public_address", "must not target a private, loopback or link-local address")
    default_port = 443 if parts.scheme == "https" else 80
    return Target(url=url, parts=parts, host=host, port=port or default_port, allow_listed=allow_listed)


def resolve(target: Target) -> IPAddress:
    """The public address to connect to; BadDestinationError if any answer is not public."""
    literal = _literal(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            answers = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            permanent = error.errno in {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
            raise UnresolvableError(f"cannot resolve {target.host}: {error.strerror}", permanent=permanent) from None
        addresses = [ipaddress.ip_address(str(answer[4][0]).split("%")[0]) for answer in answers]
    if not addresses:
        raise UnresolvableError(f"cannot resolve {target.host}", permanent=True)
    blocked = [address for address in addresses if not is_public(address)]
    if blocked:
        raise BadDestinationError("public_address", f"{target.host} resolves to a non-public address")
    return addresses[0]


def pinned_url(target: Target, address: IPAddress) -> str:
    """The target URL with its host replaced by the checked address."""
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{target.port}"
    return target.parts._replace(netloc=netloc).geturl()
