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


class UrlRefusedError(Exception):
    """Why a URL may not be sent to."""


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, looked up off the event loop."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # `is_global` leaves out loopback, private, link-local, shared (CGNAT), reserved and
    # documentation ranges; multicast is never a web server.
    return address.is_global and not address.is_multicast


def parse(url: str) -> httpx.URL:
    """The URL if its form is acceptable, or UrlRefusedError."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UrlRefusedError(f"not a valid URL ({exc})") from exc
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise UrlRefusedError("must be an absolute http(s) URL")
    if parsed.userinfo:
        raise UrlRefusedError("must not carry a user name or password")
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
        except (OSError, TimeoutError) as exc:
            raise UrlRefusedError(f"its host {parsed.host} does not resolve ({exc})") from exc
    if not addresses:
        raise UrlRefusedError(f"its host {parsed.host} does not resolve")
    # Every address must be public: a name answering one public and one private address
    # would otherwise reach the private one on some attempt.
    for address in addresses:
        if not is_public(ipaddress.ip_address(address)):
            raise UrlRefusedError(
                f"its host {parsed.host} resolves to {address}, a loopback, private, "
                "link-local or otherwise non-public address"
            )
    # Checked after the address, so a private URL is refused for what matters most.
    if parsed.scheme != "https":
        raise UrlRefusedError("must use https: deliveries carry health information")
    return Target(parsed.copy_with(host=addresses[0]), parsed.host)


async def check(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> None:
    """At registration: the 422 problem for a URL that may not be sent to."""
    try:
        await target(url, allow_private=allow_private, resolver=resolver)
    except UrlRefusedError as exc:
        raise ProblemError(
            422,
            "webhook-url-not-allowed",
            f"The webhook URL {exc}. Deliveries go only to public https addresses "
            "(HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS=true allows others, for development).",
            errors=[{"loc": ["body", "url"], "msg": str(exc), "type": "url_not_allowed"}],
        ) from exc
