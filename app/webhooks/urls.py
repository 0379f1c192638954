"""Where a webhook may be sent: public addresses only, unless a setting allows others.

Checked when an endpoint is registered (a clear 422) and again before every delivery, since
what a name resolves to can change. A delivery is then sent to the address that was checked
(the URL's host swapped for it, the name kept for `Host` and TLS), so a second lookup cannot
answer differently between the check and the connection (DNS rebinding).
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from app.core.problems import ProblemError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_SECONDS = 5.0
MAX_HOST_NAME = 253
MAX_LABEL = 63


class UrlRefusedError(Exception):
    """Why a URL may not be sent to."""


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, looked up off the event loop."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# IPv6 forms that carry an IPv4 address in their last 32 bits and reach it (through a
# dual-stack socket or a translator on the way): judged by the IPv4 address they carry.
_CARRY_IPV4 = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "::/96",  # IPv4-compatible (deprecated), ::a.b.c.d; also :: and ::1
        "::ffff:0:0/96",  # IPv4-mapped, ::ffff:a.b.c.d
        "::ffff:0:0:0/96",  # SIIT's IPv4-translated, ::ffff:0:a.b.c.d
        "64:ff9b::/96",  # NAT64's well-known prefix
    )
)
# NAT64 for a network's own use (RFC 8215): where the IPv4 address sits depends on the
# prefix length that network chose, and its translator is never a public destination.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
_LOW_32_BITS = 0xFFFFFFFF


def _carried_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a 6to4 or Teredo address names: each must be public too."""
    carried = [address.sixtofour] if address.sixtofour is not None else []
    if address.teredo is not None:
        carried.extend(address.teredo)  # the Teredo server and the client behind it
    return carried


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        if any(address in network for network in _CARRY_IPV4):
            return is_public(ipaddress.IPv4Address(int(address) & _LOW_32_BITS))
        if not all(is_public(carried) for carried in _carried_ipv4(address)):
            return False
    # `is_global` leaves out loopback, private, link-local, shared (CGNAT), reserved and
    # documentation ranges; multicast is never a web server.
    return address.is_global and not address.is_multicast


def _check_host_name(host: str) -> None:
    """A DNS name's limits (RFC 1035): no empty label, a label of at most 63 characters, at
    most 253 in all. Beyond them a lookup fails with an encoding error, not a DNS answer."""
    name = host.removesuffix(".")
    if len(name) > MAX_HOST_NAME:
        raise UrlRefusedError(f"the host name is longer than {MAX_HOST_NAME} characters")
    if any(not 0 < len(label) <= MAX_LABEL for label in name.split(".")):
        raise UrlRefusedError(
            f"the host name has an empty label or one longer than {MAX_LABEL} characters"
        )


def parse(url: str) -> httpx.URL:
    """The URL if its form is acceptable, or UrlRefusedError."""
    try:
        parsed = httpx.URL(url)
        # IDNA-encoded (ASCII), as it is looked up; an IPv6 literal has no brackets here. A
        # label that is no valid IDNA (`xn--` with no Punycode after it) raises here.
        host = parsed.raw_host.decode("ascii")
        port = parsed.port
        shown = parsed.host  # decoded back from IDNA, which must succeed too
    except (httpx.InvalidURL, UnicodeError) as exc:  # idna's errors are UnicodeErrors
        raise UrlRefusedError(f"it is not a valid URL ({exc})") from exc
    if parsed.scheme not in ("https", "http") or not shown:
        raise UrlRefusedError("it must be an absolute http(s) URL")
    if parsed.userinfo:
        raise UrlRefusedError("it must not carry a user name or password")
    if port is not None and not 0 < port < 65536:
        raise UrlRefusedError(f"its port {port} is not between 1 and 65535")
    if ":" not in host:
        _check_host_name(host)
    return parsed


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect: `url` (its host an address once checked), and the name to present."""

    url: httpx.URL
    host: str

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.url.port is None else f"{name}:{self.url.port}"


async def target(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> Target:
    """Check `url` and pin it to an address it resolves to, or raise UrlRefusedError."""
    parsed = parse(url)
    if allow_private:
        return Target(parsed, parsed.host)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(parsed.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolver(parsed.host, port)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise UrlRefusedError(f"the host {parsed.host} does not resolve ({exc})") from exc
    if not addresses:
        raise UrlRefusedError(f"the host {parsed.host} does not resolve")
    # Every address must be public: a name answering one public and one private address
    # would otherwise reach the private one on some attempt.
    for address in addresses:
        if not is_public(ipaddress.ip_address(address)):
            raise UrlRefusedError(
                f"the host {parsed.host} resolves to {address}, a loopback, private, "
                "link-local or otherwise non-public address"
            )
    # Checked after the address, so a private URL is refused for what matters most.
    if parsed.scheme != "https":
        raise UrlRefusedError("it must use https: deliveries carry health information")
    return Target(parsed.copy_with(host=addresses[0]), parsed.host)


async def check(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> None:
    """At registration: the 422 problem for a URL that may not be sent to."""
    try:
        await target(url, allow_private=allow_private, resolver=resolver)
    except UrlRefusedError as exc:
        raise ProblemError(
            422,
            "webhook-url-not-allowed",
            f"The webhook URL is refused: {exc}. Deliveries go only to public https addresses "
            "(HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS=true allows others, for development).",
            errors=[{"loc": ["body", "url"], "msg": str(exc), "type": "url_not_allowed"}],
        ) from exc
