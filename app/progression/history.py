"""A whole-history replay computed outside the writer (a coach's change of parameters).

Replaying an enrolment's whole history costs over a second at the history bound (about
12,000 items; bench/RESULTS.md, issue 25), nearly all of it the engine and the reading of
the items, very little the storing of what it made. Inside a write that second held the
writer (SQLite's one writer lane, the enrolment's row lock on PostgreSQL) and every other
caller's write waited behind it. So the work is split, optimistically:

1. a read unit of work reads what the replay needs (`History`: the plan under the new
   parameters, the items as plain tuples, the enrolment's `revision`);
2. the engine runs over it in the CPU worker process (`replay_history`: pure, off the
   serving process's GIL and off every database lane);
3. a short write unit stores the result if the enrolment's `revision` is still the one read
   (every replay stored moves it on: `replay.store`), else the caller starts again from 1.
"""

from dataclasses import dataclass
from typing import Any

from app.progression.model import Enrolled, Plan, State
from app.progression.replay import Replayed, run
from app.progression.timeline import StoredRows, items_of


@dataclass(frozen=True, slots=True)
class History:
    """What a whole-history replay reads, as of the enrolment's `revision`: plain data that
    pickles cheaply to the worker process."""

    revision: int
    before: dict[str, Any]  # the parameters it replaced, and those it replays under
    after: dict[str, Any]
    plan: Plan
    enrolled: Enrolled
    rows: StoredRows

    @property
    def items(self) -> int:
        """The stored items it re-evaluates (the enrolment's own entry aside)."""
        return sum(map(len, self.rows))


def replay_history(plan: Plan, enrolled: Enrolled, rows: StoredRows) -> Replayed:
    """The engine over the whole history, from nothing: no database (the worker runs it)."""
    return run(plan, State(), items_of(rows, enrolled))
