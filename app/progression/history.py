"""A whole-history replay computed outside the writer (a coach's change of parameters).

Replaying an enrolment's whole history costs over a second at the history bound (about
12,000 items; bench/RESULTS.md, issue 25), nearly all of it the engine and the reading of
the items, little the storing of what it made. Inside a write, that second held the writer
(SQLite's one writer lane, the enrolment's row lock on PostgreSQL) and every other caller's
write waited behind it. So the work is split, optimistically:

1. a read unit of work reads what the replay needs (`History`: the plan under the new
   parameters, the items as plain tuples, the enrolment's `revision` and its checkpoints');
2. the engine runs over it in the CPU worker process (`replay_history`: pure, off the
   serving process's GIL and off every database lane);
3. a short write unit stores the result (`up_to_date`). Every replay stored since moved the
   revision on and rewrote the checkpoints from the day it changed; the result's states up
   to the newest checkpoint left alone are still right, and the rest (what a client's write
   may replay: at most about `CATCH_UP` items) is replayed there. A change the write cannot
   catch up with (other parameters, another time zone, a change far back) makes the caller
   start again from 1.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.core.replay_budget import note_replayed
from app.models import Client, EngineCheckpoint, Enrollment
from app.progression.codec import load_state
from app.progression.model import Enrolled, Plan, State
from app.progression.replay import DAY_CAP, REPLAY_CAP, Replayed, run
from app.progression.timeline import StoredRows, items_after, items_of

# The most items a write replays to bring a stale whole-history replay up to date: what a
# client's write may re-evaluate, and the day it lands on (milliseconds of the engine).
CATCH_UP = REPLAY_CAP + DAY_CAP

Marks = list[tuple[date, int]]

_MARKS = (
    select(col(EngineCheckpoint.day), col(EngineCheckpoint.revision))
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .order_by(col(EngineCheckpoint.day))
)


def marks(session: Session, enrollment: Enrollment) -> Marks:
    """Each checkpoint's day, and the revision that wrote it."""
    rows = session.connection().execute(_MARKS, {"enrollment_id": enrollment.id})
    return [(day, revision) for day, revision in rows]


def zone_of(client: Client) -> tuple[str, int]:
    """What the plan takes of the client's time zones (a move adds a change)."""
    return client.timezone, len(client.timezone_changes)


@dataclass(frozen=True, slots=True)
class History:
    """What a whole-history replay reads, as of the enrolment's `revision`: plain data that
    pickles cheaply to the worker process."""

    revision: int
    marks: Marks
    zone: tuple[str, int]
    before: dict[str, Any]  # the parameters it replaces, and those it replays under
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


def up_to_date(
    session: Session,
    enrollment: Enrollment,
    client: Client,
    history: History,
    replayed: Replayed,
) -> Replayed | None:
    """`replayed` (made from `history`) as the history stands now, in the writer holding the
    enrolment; None when that would take more than replaying the last `CATCH_UP` items."""
    if enrollment.params != history.before or zone_of(client) != history.zone:
        return None  # another plan: none of it holds
    if enrollment.revision == history.revision:
        return replayed  # nothing replayed since: nothing changed
    # A write replays from the checkpoint before the day it changes and rewrites every one
    # after: the newest checkpoint still as it was read says the history up to its day is.
    kept: date | None = None
    for then, now in zip(history.marks, marks(session, enrollment), strict=False):
        if then != now:
            break
        kept = then[0]
    if kept is None or kept not in replayed.snapshots:
        return None
    state = load_state(replayed.snapshots[kept])
    last = state.last
    if last is None:
        return None
    items = items_after(session, enrollment, last)
    if len(items) > CATCH_UP:
        return None
    note_replayed(len(items))
    rest = run(history.plan, state, items)
    return Replayed(
        rest.state,
        [d for d in replayed.decisions if d.position <= last] + rest.decisions,
        {day: s for day, s in replayed.snapshots.items() if day <= kept} | rest.snapshots,
    )
