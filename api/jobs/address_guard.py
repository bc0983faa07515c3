"""Which addresses outbound requests may reach: explicit tables, every embedded IPv4 unwrapped.

``is_global`` alone is not enough: Python's idea of it has changed between versions
and misses forms that carry an IPv4 address inside an IPv6 one (IPv4-compatible,
IPv4-translated, the local-use NAT64 prefix, Teredo). So the ranges refused are
listed here, and every IPv6 form that can embed an IPv4 address is unwrapped: the
IPv4 inside is judged too (and the metadata addresses are found wherever they hide).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from api.errors import RequestRejected, shorten

log = logging.getLogger("api.jobs.address_guard")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: the one answer for a link that could not be fetched, whatever the reason: telling a
#: closed port from an HTTP error would map the networks the server can reach
UNFETCHABLE = (
    "the link could not be fetched: check that it is a direct link to a video file "
    "that the server can reach and that answers 200 OK"
)
_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

#: cloud metadata endpoints: refused even when private addresses are allowed
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)

#: IPv4 ranges that are not the public internet (IANA special-purpose registry)
REFUSED_V4: tuple[tuple[str, _V4], ...] = tuple(
    (name, _V4(net))
    for name, net in (
        ("this network", "0.0.0.0/8"),
        ("private", "10.0.0.0/8"),
        ("shared address space (CGNAT)", "100.64.0.0/10"),
        ("loopback", "127.0.0.0/8"),
        ("link-local", "169.254.0.0/16"),
        ("private", "172.16.0.0/12"),
        ("IETF protocol assignments", "192.0.0.0/24"),
        ("documentation", "192.0.2.0/24"),
        ("6to4 relay anycast", "192.88.99.0/24"),
        ("private", "192.168.0.0/16"),
        ("benchmarking", "198.18.0.0/15"),
        ("documentation", "198.51.100.0/24"),
        ("documentation", "203.0.113.0/24"),
        ("multicast", "224.0.0.0/4"),
        ("reserved", "240.0.0.0/4"),
    )
)

#: IPv6 ranges refused outright (the embedding forms judged by their IPv4 are apart)
REFUSED_V6: tuple[tuple[str, _V6], ...] = tuple(
    (name, _V6(net))
    for name, net in (
        ("unspecified", "::/128"),
        ("loopback", "::1/128"),
        ("IPv4-compatible (deprecated)", "::/96"),
        ("IPv4-translated", "::ffff:0:0:0/96"),
        ("local-use NAT64", "64:ff9b:1::/48"),
        ("discard", "100::/64"),
        ("Teredo", "2001::/32"),
        ("IETF protocol assignments", "2001::/23"),
        ("documentation", "2001:db8::/32"),
        ("documentation", "3fff::/20"),
        ("segment routing", "5f00::/16"),
        ("unique local", "fc00::/7"),
        ("link-local", "fe80::/10"),
        ("site-local (deprecated)", "fec0::/10"),
        ("multicast", "ff00::/8"),
    )
)
#: the only IPv6 unicast space on the public internet
GLOBAL_UNICAST = _V6("2000::/3")
IPV4_MAPPED = _V6("::ffff:0:0/96")
NAT64 = _V6("64:ff9b::/96")
_NAT64_LOCAL = _V6("64:ff9b:1::/48")
_COMPATIBLE = _V6("::/96")
_TRANSLATED = _V6("::ffff:0:0:0/96")


def _low32(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)


def _rfc6052_48(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    # A /48 prefix puts the IPv4 address in bits 48-63 and 72-87 (bits 64-71 are zero).
    value = int(addr)
    high = (value >> 64) & 0xFFFF
    low = (value >> 40) & 0xFFFF
    return ipaddress.IPv4Address((high << 16) | low)


def embedded_v4(addr: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses inside ``addr`` (mapped, compatible, translated, NAT64, 6to4, Teredo)."""
    if isinstance(addr, ipaddress.IPv4Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped is not None:
        found.append(addr.ipv4_mapped)
    if addr.sixtofour is not None:
        found.append(addr.sixtofour)
    if addr.teredo is not None:
        found.extend(addr.teredo)
    if addr in NAT64 or addr in _COMPATIBLE or addr in _TRANSLATED:
        found.append(_low32(addr))
    if addr in _NAT64_LOCAL:
        found += [_low32(addr), _rfc6052_48(addr)]
    return found


def _v4_range(addr: ipaddress.IPv4Address) -> str | None:
    for name, net in REFUSED_V4:
        if addr in net:
            return name
    return None if addr.is_global else "not globally routable"


def _v6_range(addr: ipaddress.IPv6Address) -> str | None:
    for name, net in REFUSED_V6:
        if addr in net:
            return name
    if addr in IPV4_MAPPED or addr in NAT64:
        return None  # judged by the IPv4 address inside
    return None if addr in GLOBAL_UNICAST else "not global unicast"


def refused_range(addr: IPAddress) -> str | None:
    """The name of the non-public range ``addr`` (or an IPv4 address inside it) is in, if any."""
    if isinstance(addr, ipaddress.IPv4Address):
        return _v4_range(addr)
    reason = _v6_range(addr)
    if reason is not None:
        return reason
    for inner in embedded_v4(addr):
        reason = _v4_range(inner)
        if reason is not None:
            return f"{reason}, inside {addr}"
    return None


def unfetchable(reason: str) -> RequestRejected:
    """The one ``url_fetch_failed`` refusal; the real reason goes to the log only."""
    log.info("link not fetched: %s", reason)
    return RequestRejected("url_fetch_failed", UNFETCHABLE)


@dataclass(frozen=True)
class AddressGuard:
    """Which addresses outbound requests may reach.

    Public addresses always; the ranges of ``REFUSED_V4`` and ``REFUSED_V6`` (and IPv6
    forms carrying such an IPv4 address) only with ``allow_private``; metadata never,
    in whatever form. ``exempt`` names addresses allowed even when private ones are not.
    """

    allow_private: bool = False
    exempt: frozenset[IPAddress] = field(default_factory=frozenset)

    def refusal(self, ip: str) -> str | None:
        """Why ``ip`` may not be reached, or None when it may."""
        raw = ipaddress.ip_address(ip.split("%", 1)[0])
        forms: list[IPAddress] = [raw, *embedded_v4(raw)]
        if any(form in METADATA_ADDRESSES for form in forms):
            return f"{ip} is a cloud metadata address"
        if self.allow_private or any(form in self.exempt for form in forms):
            return None
        reason = refused_range(raw)
        if reason is not None:
            return f"{ip} is a loopback, private, link-local or reserved address ({reason})"
        return None

    def check(self, host: str, addresses: Iterable[str]) -> str:
        """The address to connect to; RequestRejected when any of them is refused."""
        found = list(dict.fromkeys(addresses))
        if not found:
            raise unfetchable(f"{shorten(host)} has no address")
        for ip in found:
            reason = self.refusal(ip)
            if reason is not None:
                raise RequestRejected(
                    "url_not_allowed",
                    f"links to {shorten(host)} are not allowed: {reason}",
                )
        return found[0]
