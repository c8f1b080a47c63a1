"""Keep addresses that come from feed content away from the library's own network.

Feed URLs that staff write in the config are trusted wherever they point: intranet feeds are
common, and so is the host they name. But addresses on other hosts, named by a feed's content
(pictures, item pages) or by a redirect, are chosen by whoever controls the website; without
this guard a hostile feed could make the bridge fetch an intranet page or a cloud metadata
endpoint and publish it. Such addresses are refused unless the feed's config says
``allow_private_network = true``.

The check resolves the host name itself and refuses when any address is not public. A DNS
answer that changes between this check and the connection (DNS rebinding) is not covered.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from fedibridge.errors import FedibridgeError

EXTENSION = "fedibridge.guard"


class PrivateAddressRefused(FedibridgeError):
    """A URL from feed content or a cross-host redirect points into a private network."""


@dataclass(frozen=True, slots=True)
class Guard:
    """Attached to a request: which host is trusted (the configured feed's), and whether the
    feed may reach private networks at all."""

    trusted_host: str | None
    allow_private_network: bool = False

    def extensions(self) -> dict[str, object]:
        return {EXTENSION: self}


def check_request(request: httpx.Request) -> None:
    """httpx event hook, run for every request including each redirect hop."""
    guard = request.extensions.get(EXTENSION)
    if not isinstance(guard, Guard) or guard.allow_private_network:
        return
    host = request.url.host
    if host == guard.trusted_host:
        return
    if not is_public_host(host):
        raise PrivateAddressRefused(
            f"{request.url} points into a private network (loopback, intranet or link-local "
            "address), and it came from the feed, not from the configuration, so fedibridge "
            "does not fetch it. If this feed's images or redirects really live on your "
            "intranet, set allow_private_network = true for this feed."
        )


def is_public_host(host: str) -> bool:
    """True when every address the host name resolves to is a public one."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return True  # it cannot be reached at all; the request itself will say so
    return all(_is_public(str(info[4][0])) for info in infos)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
