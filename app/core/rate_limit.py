"""Bounded writers: a caller writing too fast gets 429 before it can slow anyone else.

Every write waits for the database's one writer (SQLite) or a row lock (PostgreSQL), so one
caller posting as fast as it can would make everyone else's writes queue behind its own.
`Edge` asks `WriteLimiter` about each request before anything else reads it; a refused write
is answered 429 with `Retry-After`, and nothing reads its body or stores anything.

Who is counted: the SHA-256 of the bearer secret (`Authorization: Bearer <secret>`: one login
token or one API key is one principal) once a unit of work has found that secret live, else
the client's address, whatever `Authorization` says. Nothing is looked up: the edge cannot
know whose a token is without the database, and must not ask it from the event loop. So
the units of work that authenticate a caller note the secret's hash in `VERIFIED` (a bounded
set, in memory, per process) and the edge only reads it: a made-up bearer on a signed-out
route (signing up) is counted with its address like any signed-out write, and a real token's
first write, before any unit of work has seen it, is counted with its address too.
What is counted: POST, PUT, PATCH and DELETE, except `POST /v1/simulations` (stores nothing)
and `POST /v1/auth/token` (failed sign-ins have their own throttle, kept in the database).

Turns: at most `IN_FLIGHT` (2) of one principal's writes go past the edge at a time; the
others wait their turn there, in order, holding nothing but their connection. The rate bounds
how much of the writer's time one principal gets in a second; the turns bound how many places
it takes in the writer's queue. Without them a flooder's 8 connections put 8 writes ahead of
everyone else's at once, each second (a moving window gives writes back in the clump they
were taken in). Writes of one client take turns at the database anyway, so an app that sends
a few at once loses nothing.

Refusals are held: a 429 is answered after up to `HOLD_SECONDS` (never longer than the wait
itself), then says how much longer to wait. Answering one refusal takes well under a
millisecond, but a client that tries again the moment it is answered sends hundreds a second
per connection: 8 flooding connections got ~1,100 immediate refusals a second, where held
they get about 20, so the server's event loop and GIL are left to everyone else. An honest
client is rarely refused, and when it is, it would have had to wait anyway.

Measured (tests/e2e/test_flood.py, 2 cores, SQLite; another writer's write latency while one
principal floods, against its own alone; two or three runs each): no limit, median 2.9-3.1x
and 95th percentile 2.4-3.0x; the rate alone, 1.3-1.4x and 2.0-5.0x; rate and hold, 0.9-1.1x
and 3.2-3.5x; rate and turns, 1.2-1.4x and 1.6-1.8x; all three, 1.0-1.1x and 1.5-1.8x.

Strategy: `limits`' moving window. It is exact: never more than N writes in any span of the
window, however they fall against the clock, so "20/second" cannot become 40 across a
second's boundary (the fixed window's flaw), and the time until the next write is allowed is
known exactly (when the oldest counted write leaves the window), which is what `Retry-After`
must say. The sliding window counter keeps two counters instead of up to N timestamps, but it
estimates: it can refuse a writer who is within its rate, and `limits` computes its reset time
for the current window only, so a `Retry-After` taken from it can be too short. With rates of
tens or hundreds per window, N timestamps per busy principal is little memory.

Storage: in memory, per process, and our own rather than `limits.storage.MemoryStorage`. That
one starts a `threading.Timer` thread (and, while writes come, a new one every 10 ms) which
walks every key under per-key `RLock`s the event loop would also take: measured with 10,000
principals, a single check waited up to 7 ms for it. Its asyncio twin hands each key to a
worker thread. `_Windows` below implements the same `MovingWindowSupport` contract for
`MovingWindowRateLimiter` with no thread, no lock and no I/O: it is only ever called from the
event loop, between two awaits, so a check and its hits cannot interleave with another's. A
check is constant time: a dictionary lookup, one comparison with the Nth newest timestamp,
an append, and forgetting at most a few principals whose windows have passed (those are kept
in order of their last write, oldest first). At most `CAPACITY` principals are remembered per
window length (about 300 bytes each when idle); beyond that the least recently seen is
forgotten first, so junk tokens cannot grow the memory without bound.
"""

import asyncio
import hashlib
import math
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Container
from contextlib import asynccontextmanager
from typing import Annotated

from limits import RateLimitItem, parse_many
from limits.storage import MovingWindowSupport, Storage
from limits.strategies import MovingWindowRateLimiter
from pydantic import AfterValidator
from starlette.types import Scope

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# POSTs that are not writes to bound: a simulation stores nothing; sign-in has its own throttle.
UNLIMITED_POSTS = frozenset({"/v1/simulations", "/v1/auth/token"})
CAPACITY = 50_000  # principals remembered per window length
# A refusal is answered after this long (or sooner, when the principal may write again
# sooner): a timer, holding nothing but the connection. See the module's docstring.
HOLD_SECONDS = 1.0
IN_FLIGHT = 2  # one principal's writes past the edge at a time; the rest wait their turn
_FORGET_PER_CALL = 4  # expired principals dropped per write: more than one is ever added


def parse_rate(text: str) -> list[RateLimitItem]:
    """`"20/second;600/minute"` → its limits; `""` → none (off). ValueError if malformed."""
    text = text.strip()
    if not text:
        return []
    try:
        items = parse_many(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate: write 'N/second', 'N/minute', 'N/hour' or 'N/day' "
            "(or 'N per 10 seconds'), several joined by ';', or an empty string for no limit"
        ) from None
    if any(item.amount < 1 for item in items):
        raise ValueError(f"{text!r}: each rate must allow at least 1 write")
    return items


def _checked_rate(text: str) -> str:
    parse_rate(text)
    return text.strip()


RateString = Annotated[str, AfterValidator(_checked_rate)]
"""A setting holding a `limits` rate string, refused at start-up if `limits` cannot parse it."""


class _Windows(Storage, MovingWindowSupport):
    """Each principal's recent write times per window, for `MovingWindowRateLimiter`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        # Window length (s) → key → its last `limit` write times, oldest first; keys ordered
        # by their newest time (moved to the end on each write), so the front expires first.
        self._windows: dict[int, OrderedDict[str, list[float]]] = {}

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return ()  # nothing here talks to a server that could fail

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = self.clock()
        keys = self._windows.setdefault(expiry, OrderedDict())
        self._forget(keys, now - expiry)
        if amount > limit:
            return False
        times = keys.get(key)
        if times is None:
            if len(keys) >= CAPACITY:
                keys.popitem(last=False)
            times = keys[key] = []
        elif len(times) > limit - amount and times[-(limit - amount + 1)] > now - expiry:
            return False  # `limit` writes are already within the window
        else:
            keys.move_to_end(key)
        times.extend([now] * amount)
        if len(times) > limit:
            del times[: len(times) - limit]  # only the newest `limit` can ever matter
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(time of the oldest write within the window, how many writes are within it)."""
        now = self.clock()
        keys = self._windows.get(expiry)
        times = keys.get(key) if keys is not None else None
        if not times:
            return now, 0
        first = bisect_right(times, now - expiry)
        if first == len(times):
            return now, 0
        return times[first], len(times) - first

    @staticmethod
    def _forget(keys: OrderedDict[str, list[float]], cutoff: float) -> None:
        for _ in range(_FORGET_PER_CALL):
            oldest = next(iter(keys), None)
            if oldest is None:
                return
            times = keys[oldest]
            if times and times[-1] > cutoff:
                return
            del keys[oldest]

    # The rest of `Storage`: counters for the fixed and sliding-counter strategies, unused.
    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        raise NotImplementedError("_Windows serves the moving window only")

    def get(self, key: str) -> int:
        raise NotImplementedError("_Windows serves the moving window only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("_Windows serves the moving window only")

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        count = sum(len(keys) for keys in self._windows.values())
        self._windows.clear()
        return count

    def clear(self, key: str) -> None:
        for keys in self._windows.values():
            keys.pop(key, None)


class VerifiedBearers:
    """SHA-256 hashes of bearer secrets that a unit of work found live, the most recently
    seen last, at most `capacity`. Added to from database threads, read by the edge on the
    event loop: each is one or two dictionary operations, atomic under the GIL, so neither
    takes a lock the other waits for. A secret revoked since keeps its place until pushed
    out: it was a real credential, so it buys its holder no more than it did."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._seen: dict[str, None] = {}

    def add(self, digest: str) -> None:
        seen = self._seen
        if digest in seen:
            return
        seen[digest] = None
        while len(seen) > self.capacity:
            try:
                del seen[next(iter(seen))]
            except (KeyError, RuntimeError, StopIteration):  # another thread got there first
                break

    def __contains__(self, digest: object) -> bool:
        return digest in self._seen


VERIFIED = VerifiedBearers()
"""Bearer secrets' hashes known live in this process (see the module's docstring)."""


def principal(scope: Scope, verified: Container[str] = VERIFIED) -> str:
    """Who is writing, as far as the edge can tell without the database: a bearer secret
    already found live, else the client's address."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, secret = value.partition(b" ")
            secret = secret.strip()
            if scheme.lower() == b"bearer" and secret:
                # Hashed: the limiter's memory holds no secrets, and every key is 64 bytes.
                digest = hashlib.sha256(secret).hexdigest()
                if digest in verified:
                    return "bearer:" + digest
            break
    client = scope.get("client")
    return "address:" + (client[0] if client else "unknown")


class WriteLimiter:
    """Per-principal write rates and turns, per process. Call from the event loop only."""

    def __init__(
        self,
        rate: str,
        clock: Callable[[], float] = time.monotonic,
        in_flight: int | None = None,
    ) -> None:
        self.items = parse_rate(rate)
        if not self.items:
            raise ValueError("WriteLimiter needs at least one rate")
        self.windows = _Windows(clock)
        self.strategy = MovingWindowRateLimiter(self.windows)
        self.in_flight = in_flight or IN_FLIGHT
        self._turns: dict[str, _Turns] = {}

    @staticmethod
    def counts(scope: Scope) -> bool:
        method = scope["method"]
        return method in MUTATING and not (method == "POST" and scope["path"] in UNLIMITED_POSTS)

    def wait(self, who: str) -> float | None:
        """None if this principal may write now (the write is counted); else the seconds
        until it may (more than 0)."""
        # Every rate is tested before any is hit, so a refused write uses up none of them.
        full = [item for item in self.items if not self.strategy.test(item, who)]
        if not full:
            for item in self.items:
                self.strategy.hit(item, who)
            return None
        reset = max(self.strategy.get_window_stats(item, who).reset_time for item in full)
        return max(reset - self.windows.clock(), 0.001)

    @asynccontextmanager
    async def turn(self, who: str) -> AsyncIterator[None]:
        """At most `in_flight` of this principal's writes at a time; the others wait here in
        order, holding nothing but their connection (see the module's docstring)."""
        turns = self._turns.get(who)
        if turns is None:
            turns = self._turns[who] = _Turns(self.in_flight)
        turns.users += 1
        try:
            async with turns.semaphore:
                yield
        finally:
            turns.users -= 1
            if not turns.users:
                del self._turns[who]

    def turns_held(self) -> int:
        """Principals with a write past the edge or waiting for its turn."""
        return len(self._turns)


class _Turns:
    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.users = 0  # writes holding or waiting for a turn: forgotten at 0


def retry_after(seconds: float) -> int:
    """`Retry-After` is whole seconds: rounded up, so that waiting it is always enough."""
    return max(1, math.ceil(seconds))
