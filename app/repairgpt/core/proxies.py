"""Which address a request really comes from when it passes through trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ANY_PEER = "*"


def parse_proxy_entry(entry: str) -> str:
    """One TRUSTED_PROXIES entry in canonical form: `*`, or an IP network such as 10.0.0.0/8.

    A bare address is a network of one address. Raises ValueError for anything else, so a typo
    cannot silently trust nothing (or everything).
    """
    text = entry.strip()
    if text == ANY_PEER:
        return ANY_PEER
    return str(ipaddress.ip_network(text, strict=False))


def parse_address(text: str) -> Address | None:
    """The IP address of one X-Forwarded-For element (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`)."""
    value = text.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose X-Forwarded-For is believed; empty trusts none, `*` trusts any peer."""

    networks: tuple[Network, ...] = ()
    any_peer: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        canonical = [parse_proxy_entry(entry) for entry in entries if entry.strip()]
        return cls(
            networks=tuple(ipaddress.ip_network(e) for e in canonical if e != ANY_PEER),
            any_peer=ANY_PEER in canonical,
        )

    def trusts_peer(self, address: Address | None) -> bool:
        """Whether the TCP peer is a proxy whose X-Forwarded-For is read."""
        return address is not None and (self.any_peer or self.listed(address))

    def listed(self, address: Address | None) -> bool:
        """Whether an address is one of the listed networks (`*` lists none: it vouches for
        the peer, never for an address that someone wrote into the header)."""
        return address is not None and any(address in network for network in self.networks)


def forwarded_client(peer: str, forwarded_for: str | None, trusted: TrustedProxies) -> str:
    """The client address of a request whose TCP peer is `peer`.

    Only a trusted peer's X-Forwarded-For counts. Each proxy appends the address it received
    the request from, so the list is walked from the right: trusted proxies are skipped and the
    first untrusted address is the client. Anything to its left was written by that client and
    is ignored. An element that is not an IP address ends the walk at the proxy that wrote it;
    a list of trusted proxies only gives its leftmost address. With `*` the peer is trusted but
    no address in the header is, so the client is the address the peer itself appended.
    """
    current = parse_address(peer)
    if not forwarded_for or not trusted.trusts_peer(current):
        return peer
    client = peer
    for element in reversed(forwarded_for.split(",")):
        address = parse_address(element)
        if address is None:
            return client
        client = str(address)
        if not trusted.listed(address):
            return client
    return client
