"""Per-caller turns for expensive work: one caller runs one at a time, so it never holds
more than one worker thread with heavy work and cannot slow everyone else by asking many
at once.

Expensive routes (the simulator, the FHIR bundle, the report, the chart, the export) are
bounded in what one request may do; what still varies is how many a caller asks for at
once. `HeavyTurns.turn(request)` lets one through per caller and process; a second waits
for the first up to `WAIT_SECONDS`, then gets 429 with `Retry-After`. Others are never
refused for it: each caller waits only for its own work.

A caller's turn is also paced: it ends twice as long after its work as the work took
(`PACE`, up to half a second), so one caller asking heavy work back to back holds the
process's CPU about a third of the time, and others' requests find it free the rest. An
app that asks now and then never notices; one that loops waits a little between answers.

Who is a caller, decided without the database (as the write limiter decides it): the
bearer secret's hash (one login token or API key), or the client's address for signed-out
routes (the simulator), whatever `Authorization` says there, so that made-up tokens do not
make a signed-out caller many. Called from the event loop only: no thread takes these
locks.
"""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Request

from app.core.problems import ProblemError

# Longer than most of the work it waits for (a fraction of a second, bench/bounds.py), so
# an app that sends two at once is served in turn rather than refused.
WAIT_SECONDS = 2.0
RETRY_AFTER_SECONDS = 1
# A turn ends this many times its work's duration after the work ends, and at most
# `PACE_MAX_SECONDS` after: a wait for the turn grows by no more than that.
PACE = 2.0
PACE_MAX_SECONDS = 0.5
# How long a thread may keep the GIL while another waits for it (Python's default: 5 ms).
# A thread rendering a bounded but heavy answer holds it for whole intervals; each time the
# event loop or a light unit of work wants it back, it waits up to one. At 0.2 ms another
# caller's request, which asks for it at every await and database round trip (dozens for a
# write on PostgreSQL), waits a twenty-fifth as long (tests/e2e/test_bounds_served.py), for
# a little more switching in heavy work.
GIL_SWITCH_SECONDS = 0.0002
# The same heavy answers allocate tens of thousands of objects; the collector's full passes
# then walk every object the process holds (modules, models, caches) with every thread
# stopped: 100 ms and more, seen as other callers' slowest requests. The app's lifespan
# freezes what startup built (`gc.freeze`), so those passes walk only what requests made.


@dataclass
class _Turn:
    lock: asyncio.Lock
    users: int = 0  # holding or waiting: the entry is forgotten when none is left


def caller_of(request: Request, *, signed_out: bool = False) -> str:
    """The bearer secret's hash, or the client's address (always, when `signed_out`)."""
    if not signed_out:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secret.strip():
            return "bearer:" + hashlib.sha256(secret.strip().encode()).hexdigest()
    return "address:" + (request.client.host if request.client else "unknown")


class HeavyTurns:
    """One expensive operation in flight per caller; memory only for callers in flight."""

    def __init__(self, wait_seconds: float = WAIT_SECONDS, pace: float = PACE) -> None:
        self.wait_seconds = wait_seconds
        self.pace = pace
        self._turns: dict[str, _Turn] = {}

    @asynccontextmanager
    async def turn(self, caller: str) -> AsyncIterator[None]:
        turn = self._turns.setdefault(caller, _Turn(asyncio.Lock()))
        turn.users += 1
        paced = False
        try:
            try:
                await asyncio.wait_for(turn.lock.acquire(), self.wait_seconds)
            except TimeoutError:
                raise ProblemError(
                    429,
                    "busy",
                    "Your previous request of this kind is still being answered: one at a "
                    "time per caller. Try again when it is done.",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                ) from None
            began = time.monotonic()
            try:
                yield
            finally:
                rest = min((time.monotonic() - began) * self.pace, PACE_MAX_SECONDS)
                # The turn (and the caller's entry, as a user) lasts `rest` more.
                asyncio.get_running_loop().call_later(rest, self._release, caller, turn)
                paced = True
        finally:
            if not paced:
                self._leave(caller, turn)

    def _release(self, caller: str, turn: _Turn) -> None:
        turn.lock.release()
        self._leave(caller, turn)

    def _leave(self, caller: str, turn: _Turn) -> None:
        turn.users -= 1
        if turn.users == 0:
            del self._turns[caller]

    def __len__(self) -> int:
        return len(self._turns)


def heavy_turns(request: Request) -> HeavyTurns:
    """The app's turns (one per app, made on first use)."""
    state = request.app.state
    turns: HeavyTurns | None = getattr(state, "heavy_turns", None)
    if turns is None:
        turns = state.heavy_turns = HeavyTurns()
    return turns


@asynccontextmanager
async def one_at_a_time(request: Request, *, signed_out: bool = False) -> AsyncIterator[None]:
    """Run the block as the caller's one expensive operation (see the module)."""
    async with heavy_turns(request).turn(caller_of(request, signed_out=signed_out)):
        yield
