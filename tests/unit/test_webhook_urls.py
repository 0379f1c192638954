"""The webhook URL guard (app/webhooks/urls.py) on addresses given literally: every IPv6
form that carries an IPv4 address is judged by that address too (issue #25, finding 10)."""

import asyncio
import ipaddress

import pytest

from app.webhooks import urls


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        # IPv4-compatible ::a.b.c.d (deprecated)
        ("::127.0.0.1", False),
        ("::169.254.169.254", False),
        ("::10.0.0.1", False),
        ("::", False),
        ("::1", False),
        # IPv4-mapped ::ffff:a.b.c.d
        ("::ffff:127.0.0.1", False),
        ("::ffff:a9fe:a9fe", False),
        ("::ffff:93.184.215.14", True),
        # SIIT's IPv4-translated ::ffff:0:a.b.c.d
        ("::ffff:0:7f00:1", False),
        ("::ffff:0:a9fe:a9fe", False),
        ("::ffff:0:c0a8:101", False),
        # NAT64, the well-known prefix: the IPv4 address decides
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b::5db8:d70e", True),
        # NAT64 for local use: never public
        ("64:ff9b:1::5db8:d70e", False),
        ("64:ff9b:1:7f00:1::", False),
        # 6to4: 2002:a.b.c.d::/48
        ("2002:7f00:1::1", False),
        ("2002:a9fe:a9fe::1", False),
        ("2002:c0a8:101::1", False),
        # Teredo: the server, and the client (obscured) in the last 32 bits
        ("2001:0:7f00:1::1", False),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # client 192.0.2.45
    ],
)
def test_an_address_is_public_only_if_every_ipv4_address_it_carries_is(address, public):
    assert urls.is_public(ipaddress.ip_address(address)) is public


async def _nowhere(host: str, port: int) -> list[str]:
    raise AssertionError("an address given literally is never looked up")


@pytest.mark.parametrize(
    "url",
    [
        "https://[::127.0.0.1]/hook",
        "https://[::ffff:0:7f00:1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "https://[2002:a9fe:a9fe::1]/hook",
        "HTTPS://" + "0" * 5000,
        "HTTPS://" + "0" * 1990,
        "https://" + "a" * 64 + ".example.com/hook",
        "https://" + ("a" * 60 + ".") * 5 + "com/hook",  # 308 characters
        "https://hooks..example.com/hook",
    ],
)
def test_the_guard_refuses_them_at_registration_and_at_delivery(url):
    # `target` is what a delivery checks; registration's `check` calls it too.
    with pytest.raises(urls.UrlRefusedError):
        asyncio.run(urls.target(url, allow_private=False, resolver=_nowhere))


def test_a_host_name_at_the_limits_is_looked_up():
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
    looked_up: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.215.14"]

    target = asyncio.run(
        urls.target(f"https://{name}/hook", allow_private=False, resolver=resolver)
    )
    assert looked_up == [name]
    assert target.host == name
