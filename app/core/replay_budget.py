"""Replays counted per caller: one whose changes re-evaluate too much gets 429 for a while.

Most writes re-evaluate a few items (an append steps through what it adds; a client's
backdated write at most `REPLAY_CAP`), but some replay a whole history: a coach changing an
active enrolment's parameters, a move to another time zone. Those hold the writer (SQLite's
one writer, the enrolment's row lock on PostgreSQL) for as long as the replay takes, and
their cost is only known once they ran. So each caller is charged after the fact, and
refused before its next write while its charges within the window pass the budget.

How a count reaches the edge without passing through every service: `Edge` opens a
`tallied()` block around each counted write; `replay.reevaluate` adds what it stepped
through with `note_replayed`. The unit of work runs on a database thread, with a copy of the
request's context: the context variable holds a mutable `Tally`, so what the thread adds is
what the edge reads when the write returns (or fails: work done is charged either way).

Who is charged: the same principal as the write limiter's (`rate_limit.principal`).

Strategy: a moving window of charges, each a (time, items) pair. It is exact in the way the
write limiter's is (never more than the budget started within any span of the window, the
one write that crossed it aside), and `Retry-After` is exactly when enough of the oldest
charges leave the window. `limits`' moving window counts one timestamp per unit and refuses
a hit larger than the limit, so it cannot hold a charge known only after the work, of any
size; the pairs are few (one per write that replayed anything, and writes are rate-limited).
In memory, per process; called from the event loop only (the thread writes only to its
`Tally`). At most `CAPACITY` callers are remembered, the least recently charged forgotten
first.
"""

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from app.core.rate_limit import CAPACITY, parse_rate

_FORGET_PER_CALL = 4  # callers whose charges have all left the window, dropped per charge


class Tally:
    """Items replayed by the units of work of one request."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items = 0


_TALLY: ContextVar[Tally | None] = ContextVar("replay_tally", default=None)


def note_replayed(items: int) -> None:
    """Charge `items` re-evaluated to the request this runs for (nothing outside one)."""
    tally = _TALLY.get()
    if tally is not None:
        tally.items += items


@contextmanager
def tallied() -> Iterator[Tally]:
    """What the block's units of work replay, counted in the `Tally` it yields."""
    tally = Tally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


class ReplayBudget:
    """Items each caller may have re-evaluated within each window of `rate` (a `limits`
    rate string, e.g. `"6000/minute"`)."""

    def __init__(self, rate: str, clock: Callable[[], float] = time.monotonic) -> None:
        items = parse_rate(rate)
        if not items:
            raise ValueError("ReplayBudget needs at least one rate")
        self.budgets = [(item.amount, float(item.get_expiry())) for item in items]
        self.longest = max(seconds for _, seconds in self.budgets)
        self.clock = clock
        # Caller → its charges (time, items), oldest first; callers ordered by their newest.
        self._charges: OrderedDict[str, deque[tuple[float, int]]] = OrderedDict()

    def wait(self, who: str) -> float | None:
        """None if `who` is within every budget; else the seconds until it is again."""
        charges = self._charges.get(who)
        if not charges:
            return None
        now = self.clock()
        longest: float | None = None
        for amount, seconds in self.budgets:
            cutoff = now - seconds
            within = [(at, items) for at, items in charges if at > cutoff]
            excess = sum(items for _, items in within) - amount
            if excess < 0:
                continue
            # Within budget again once the oldest charges worth more than the excess are out.
            for at, items in within:
                excess -= items
                if excess < 0:
                    longest = max(longest or 0.0, at - cutoff)
                    break
        return None if longest is None else max(longest, 0.001)

    def charge(self, who: str, items: int) -> None:
        """`who`'s write re-evaluated `items` (0: nothing to remember)."""
        now = self.clock()
        self._forget(now - self.longest)
        if items <= 0:
            return
        charges = self._charges.get(who)
        if charges is None:
            if len(self._charges) >= CAPACITY:
                self._charges.popitem(last=False)
            charges = self._charges[who] = deque()
        else:
            self._charges.move_to_end(who)
        while charges and charges[0][0] <= now - self.longest:
            charges.popleft()
        charges.append((now, items))

    def __len__(self) -> int:
        return len(self._charges)

    def _forget(self, cutoff: float) -> None:
        for _ in range(_FORGET_PER_CALL):
            oldest = next(iter(self._charges), None)
            if oldest is None or self._charges[oldest][-1][0] > cutoff:
                return
            del self._charges[oldest]
