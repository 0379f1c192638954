"""The write limiter on a clock the test moves: exact windows, exact Retry-After, and what is
counted as whose write (app/core/rate_limit.py)."""

import asyncio
import hashlib

import pytest

from app.core import rate_limit
from app.core.rate_limit import (
    VerifiedBearers,
    WriteLimiter,
    parse_rate,
    principal,
    retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scope(
    method: str = "POST",
    path: str = "/v1/clients/me/pain-logs",
    token: str | None = "hft_secret",
    address: str = "198.51.100.7",
) -> dict:
    headers = [(b"content-type", b"application/json")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {"type": "http", "method": method, "path": path, "headers": headers,
            "client": (address, 40000)}  # fmt: skip


class Verified:
    """Every bearer secret counts as found live (the units of work's part, see `VERIFIED`)."""

    def __contains__(self, digest: object) -> bool:
        return True


def at(clock: Clock, limiter: WriteLimiter, moment: float, **request) -> float | None:
    """What the edge makes of a request at this moment: None (go ahead) or seconds to wait."""
    clock.now = 1000.0 + moment
    request_scope = scope(**request)
    if not limiter.counts(request_scope):
        return None
    return limiter.wait(principal(request_scope, Verified()))


def test_never_more_than_n_in_any_window_and_the_wait_is_exact():
    clock = Clock()
    limiter = WriteLimiter("3/second", clock)
    assert [at(clock, limiter, t) for t in (0.0, 0.1, 0.2)] == [None, None, None]
    assert at(clock, limiter, 0.5) == pytest.approx(0.5)  # the write at 0.0 leaves at 1.0
    assert at(clock, limiter, 0.99) == pytest.approx(0.01)
    assert at(clock, limiter, 1.0) is None  # exactly when it said
    assert at(clock, limiter, 1.05) == pytest.approx(0.05)  # 0.1, 0.2 and 1.0 count
    assert at(clock, limiter, 1.1) is None


def test_every_rate_holds_and_a_refused_write_uses_none_of_them():
    clock = Clock()
    limiter = WriteLimiter("2/second;3/minute", clock)
    assert at(clock, limiter, 0.0) is None
    assert at(clock, limiter, 0.1) is None
    assert at(clock, limiter, 0.2) == pytest.approx(0.8)  # the second's rate is full
    assert at(clock, limiter, 1.1) is None  # the minute's third
    for moment in (1.15, 2.5, 30.0, 59.9):  # the minute's is full; refusals count nothing
        assert at(clock, limiter, moment) == pytest.approx(60 - moment)
    assert at(clock, limiter, 60.0) is None  # the write at 0.0 has left the minute


@pytest.mark.parametrize(("wait", "header"), [(9.6, 10), (1.0, 1), (0.2, 1), (0.0, 1)])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(wait, header):
    assert retry_after(wait) == header


def test_principals_are_tokens_else_addresses():
    clock = Clock()
    limiter = WriteLimiter("1/minute", clock)
    assert at(clock, limiter, 0, token="hft_a") is None
    assert at(clock, limiter, 0, token="hft_a", address="203.0.113.1") == 60  # same token
    assert at(clock, limiter, 0, token="hfk_b") is None  # an API key: another principal
    assert at(clock, limiter, 0, token=None) is None  # signed out: by address
    assert at(clock, limiter, 0, token=None) == 60
    assert at(clock, limiter, 0, token=None, address="203.0.113.1") is None


def test_the_principal_key_holds_a_hash_not_the_secret():
    digest = hashlib.sha256(b"hft_secret").hexdigest()
    assert principal(scope(token="hft_secret"), Verified()) == "bearer:" + digest
    lower = scope()
    lower["headers"] = [(b"authorization", b"bearer hft_secret")]
    assert principal(lower, Verified()) == "bearer:" + digest
    basic = scope()
    basic["headers"] = [(b"authorization", b"Basic dXNlcjpwYXNz")]
    assert principal(basic, Verified()) == "address:198.51.100.7"
    assert principal({**scope(token=None), "client": None}) == "address:unknown"


def test_a_bearer_no_unit_of_work_found_live_is_counted_by_address():
    known = VerifiedBearers(capacity=2)
    assert principal(scope(token="hft_made_up"), known) == "address:198.51.100.7"
    known.add(hashlib.sha256(b"hft_real").hexdigest())
    assert principal(scope(token="hft_real"), known).startswith("bearer:")
    for n in range(3):  # bounded: the oldest is forgotten first
        known.add(hashlib.sha256(f"hft_{n}".encode()).hexdigest())
    assert principal(scope(token="hft_real"), known) == "address:198.51.100.7"


@pytest.mark.parametrize(
    ("method", "path", "counted"),
    [
        ("POST", "/v1/clients/me/pain-logs", True),
        ("POST", "/v1/accounts", True),
        ("PUT", "/v1/anything", True),
        ("PATCH", "/v1/anything", True),
        ("DELETE", "/v1/auth/token", True),  # signing out is a write
        ("POST", "/v1/simulations", False),
        ("POST", "/v1/auth/token", False),
        ("GET", "/v1/clients/me/progress", False),
        ("HEAD", "/v1/protocols", False),
        ("OPTIONS", "/v1/clients/me/pain-logs", False),
    ],
)
def test_what_counts_as_a_write(method, path, counted):
    clock = Clock()
    limiter = WriteLimiter("1/minute", clock)
    answers = [at(clock, limiter, 0, method=method, path=path) for _ in range(3)]
    assert answers == ([None, 60, 60] if counted else [None, None, None])


def test_idle_principals_are_forgotten_and_memory_is_bounded(monkeypatch):
    clock = Clock()
    limiter = WriteLimiter("5/second", clock)
    for n in range(100):
        assert at(clock, limiter, 0, token=f"hft_{n}") is None
    for n in range(30):  # each write counted forgets a few whose window has passed
        assert at(clock, limiter, 2.0, token=f"hft_later_{n}") is None
    assert limiter.windows.reset() == 30  # remembered: the 30 later ones only

    monkeypatch.setattr(rate_limit, "CAPACITY", 50)
    for n in range(80):
        at(clock, limiter, 3.0, token=f"hft_junk_{n}")
    assert limiter.windows.reset() == 50


@pytest.mark.parametrize("text", ["", "  "])
def test_an_empty_rate_is_no_limit(text):
    assert parse_rate(text) == []
    with pytest.raises(ValueError, match="at least one rate"):
        WriteLimiter(text)


@pytest.mark.parametrize("text", ["fast", "0/second", "10/second;0/minute", "5/fortnight"])
def test_a_bad_rate_says_how_to_write_one(text):
    with pytest.raises(ValueError, match=r"is not a rate|at least 1 write"):
        parse_rate(text)


def test_one_principal_has_at_most_two_writes_past_the_edge_and_the_rest_wait_in_order():
    limiter = WriteLimiter("100/second")
    inside = {"a": 0, "b": 0}
    most = {"a": 0, "b": 0}
    done: list[tuple[str, int]] = []

    async def write(who: str, n: int) -> None:
        async with limiter.turn(who):
            inside[who] += 1
            most[who] = max(most[who], inside[who])
            await asyncio.sleep(0.01)
            inside[who] -= 1
            done.append((who, n))

    async def everyone() -> None:
        await asyncio.gather(*(write("a", n) for n in range(6)), write("b", 0))

    asyncio.run(everyone())
    assert most == {"a": 2, "b": 1}
    assert [n for who, n in done if who == "a"] == list(range(6))  # in the order they came
    assert done.index(("b", 0)) < 3  # b did not wait behind a's queue
    assert limiter.turns_held() == 0  # nothing is kept for principals with no write
