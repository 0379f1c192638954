"""Re-evaluation after a write: replay from checkpoints, store checkpoints and decisions.

After a write that adds items after everything stored (an append), the engine steps through
just those, from the newest checkpoint; after any other write it replays from the checkpoint
before the changed item's local date. So an append costs the same whatever the history's
length, and a backfill replays only what follows it. Decisions are stored once (ids derive
from their content); one that a re-evaluation no longer makes is marked retracted, never
deleted. Reads replay nothing.
"""

import json
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, delete, select

from app.core.db.writers import lock_for_update
from app.core.problems import ProblemError
from app.models import (
    Client,
    EngineCheckpoint,
    EngineEvent,
    Enrollment,
)
from app.models.base import utcnow
from app.progression import engine
from app.progression.codec import dump_state, load_state
from app.progression.model import (
    Decision,
    Item,
    Plan,
    Position,
    State,
    position_of,
)
from app.progression.plans import plan_for
from app.progression.timeline import enrolled_entry, items_after, items_between

EVENT_NAMESPACE = uuid.UUID("6f1c3a52-9b7e-4f0a-8d21-5e4b7c9a0d13")
RECENT_CHECKPOINT_DAYS = 35
DAY_CAP = 100  # items of one enrolment on one local date, every kind together

# Built once, run on the connection (a state is read as its JSON, never as an ORM object).
_LATEST_STATE = (
    select(col(EngineCheckpoint.state))
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .order_by(col(EngineCheckpoint.day).desc())
    .limit(1)
)
_STATE_BEFORE_DAY = (
    select(col(EngineCheckpoint.state))
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .where(col(EngineCheckpoint.day) < bindparam("day"))
    .order_by(col(EngineCheckpoint.day).desc())
    .limit(1)
)


def _latest_state(session: Session, enrollment: Enrollment) -> dict[str, Any] | None:
    params = {"enrollment_id": enrollment.id}
    state: dict[str, Any] | None = session.connection().execute(_LATEST_STATE, params).scalar()
    return state


def _start(
    session: Session, plan: Plan, enrollment: Enrollment, since: Position
) -> tuple[State, Position | None, bool]:
    """The state to replay from when what changed starts at `since`, the position it is at,
    and whether that is the end of the stored timeline.

    The newest checkpoint holds the state after the timeline's last item (every write
    replays to the end, holding the enrolment's lock). When `since` follows that item (an
    append: the common case), replay starts there; otherwise from the checkpoint before
    the local date of `since`."""
    latest = _latest_state(session, enrollment)
    if latest is not None:
        state = load_state(latest)
        if state.last is not None and state.last < since:
            return state, state.last, True
    params = {"enrollment_id": enrollment.id, "day": engine.local_date(plan, since.at)}
    before = session.connection().execute(_STATE_BEFORE_DAY, params).scalar()
    if before is None:
        return State(), None, False
    state = load_state(before)
    return state, state.last, False


def state_before(session: Session, plan: Plan, enrollment: Enrollment, position: Position) -> State:
    """The engine's state just before an item at `position` (for the session rule)."""
    state, after, _ = _start(session, plan, enrollment, position)
    for item in items_after(session, enrollment, after):
        if position_of(item) >= position:
            break
        engine.step(plan, state, item)
    return state


def event_id(enrollment_id: str, decision: Decision) -> uuid.UUID:
    content = json.dumps(
        [decision.position.key(), decision.rule, decision.stage, decision.message, decision.data],
        sort_keys=True,
        default=str,
    )
    return uuid.uuid5(EVENT_NAMESPACE, f"{enrollment_id}|{content}")


def record(session: Session, enrollment: Enrollment, client: Client, added: Sequence[Item]) -> None:
    """Re-evaluate after a write that stored `added` (flushed, not committed).

    A local date holds at most `DAY_CAP` items: a write that is not an append replays the
    day it lands on, so the cap bounds what any write costs (a stuck clock posting
    thousands of logs at one moment is refused, not slowed down for everyone)."""
    for day in {engine.date_in(client.timezone, item.at) for item in added}:
        start, end = engine.day_span(client.timezone, day)
        if items_between(session, enrollment, start, end) > DAY_CAP:
            raise ProblemError(
                422,
                "day-full",
                f"{day.isoformat()} already holds {DAY_CAP} items for this client (pain "
                "logs, sessions, assessments and overrides together), the most one day may "
                "hold; nothing was stored.",
            )
    since = min(map(position_of, added))
    reevaluate(session, enrollment, client, since, added)


def reevaluate(
    session: Session,
    enrollment: Enrollment,
    client: Client,
    since: Position,
    added: Sequence[Item] = (),
) -> None:
    """Replay from before `since` (the earliest changed item's position; see `_start`) to
    the end, and store what changed. No commit. `added`: the items this write stored."""
    # Writers of one enrolment take turns from here to their commit: each replays from
    # what the one before stored, so none overwrites a checkpoint with a stale state.
    lock_for_update(session, select(col(Enrollment.id)).where(col(Enrollment.id) == enrollment.id))
    plan = plan_for(session, enrollment, client)
    state, after, at_end = _start(session, plan, enrollment, since)
    # After the timeline's end, what this write added is all there is: no need to read it.
    appended = at_end and bool(added)
    items = sorted(added, key=position_of) if appended else items_after(session, enrollment, after)
    decisions: list[Decision] = []
    snapshots: dict[date, dict[str, Any]] = {}
    day: date | None = None
    for item in items:
        item_day = engine.local_date(plan, item.at)
        if day is not None and item_day != day:
            snapshots[day] = dump_state(state)
        decisions += engine.step(plan, state, item)
        day = item_day
    if day is not None:
        snapshots[day] = dump_state(state)
    _store_checkpoints(session, enrollment, after, plan, snapshots)
    _store_decisions(session, enrollment, after, decisions, appended=appended)


# Built once: every write runs them.
_DROP_CHECKPOINTS_FROM = (
    delete(EngineCheckpoint)
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .where(col(EngineCheckpoint.day) >= bindparam("stale_from"))
)
_LAPSE_DAILY_CHECKPOINTS = (
    delete(EngineCheckpoint)
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .where(col(EngineCheckpoint.day) < bindparam("cutoff"))
    .where(col(EngineCheckpoint.weekly).is_(False))
)
_ADD_CHECKPOINT = insert(EngineCheckpoint)


def _store_checkpoints(
    session: Session,
    enrollment: Enrollment,
    after: Position | None,
    plan: Plan,
    snapshots: dict[date, dict[str, Any]],
) -> None:
    first_replayed = engine.local_date(plan, after.at) if after is not None else date.min
    # Days after the one replayed from are stale, and so is that day when it was replayed
    # on (an append from its own checkpoint): their checkpoints are written anew.
    stale_from = min([first_replayed + timedelta(days=1), *snapshots])
    # On the connection: plain SQL, no ORM bookkeeping (no checkpoint is loaded as an object).
    connection = session.connection()
    connection.execute(
        _DROP_CHECKPOINTS_FROM, {"enrollment_id": enrollment.id, "stale_from": stale_from}
    )
    if not snapshots:
        return
    # Daily checkpoints for the last five weeks, weekly ones (Sundays) before that.
    cutoff = max(snapshots) - timedelta(days=RECENT_CHECKPOINT_DAYS)
    rows = [
        {
            "enrollment_id": enrollment.id,
            "day": day,
            "last_key": state["last"][0] if state["last"] else "",
            "state": state,
            "weekly": day.weekday() == 6,
        }
        for day, state in snapshots.items()
        if day >= cutoff or day.weekday() == 6
    ]
    connection.execute(_ADD_CHECKPOINT, rows)
    if max(snapshots) > first_replayed:  # a new day: older daily checkpoints may lapse
        connection.execute(
            _LAPSE_DAILY_CHECKPOINTS, {"enrollment_id": enrollment.id, "cutoff": cutoff}
        )


_CURRENT_EVENTS = (
    select(EngineEvent)
    .where(col(EngineEvent.enrollment_id) == bindparam("enrollment_id"))
    .where(col(EngineEvent.retracted_at).is_(None))
    .where(col(EngineEvent.at) >= bindparam("since"))
)


def _store_decisions(
    session: Session,
    enrollment: Enrollment,
    after: Position | None,
    decisions: Sequence[Decision],
    *,
    appended: bool,
) -> None:
    made = {event_id(str(enrollment.id), d): d for d in decisions}
    if appended:  # nothing was decided after the timeline's end: there is nothing to retract
        _add_decisions(session, enrollment, made, set(made))
        return
    params = {
        "enrollment_id": enrollment.id,
        # Every decision is at or after the enrolment's start, where its replay begins.
        "since": after.at if after is not None else enrollment.started_at,
    }
    # Positions compare in Python: a database's collation may not order these keys bytewise.
    after_key = after.key() if after is not None else ""
    stored = [
        row for row in session.exec(_CURRENT_EVENTS, params=params) if row.position > after_key
    ]
    now = utcnow()
    for row in stored:
        if row.id not in made:
            row.retracted_at = now
            session.add(row)
    _add_decisions(session, enrollment, made, set(made) - {row.id for row in stored})


def _add_decisions(
    session: Session,
    enrollment: Enrollment,
    made: dict[uuid.UUID, Decision],
    new_ids: set[uuid.UUID],
) -> None:
    if not new_ids:
        return
    # A decision made again after being retracted is the same event, current once more.
    for row in session.exec(select(EngineEvent).where(col(EngineEvent.id).in_(new_ids))):
        row.retracted_at = None
        session.add(row)
        new_ids.discard(row.id)
    for new_id in new_ids:
        decision = made[new_id]
        session.add(
            EngineEvent(
                id=new_id,
                client_id=enrollment.client_id,
                enrollment_id=enrollment.id,
                position=decision.position.key(),
                type=decision.type,
                rule=decision.rule,
                at=decision.at,
                stage=decision.stage,
                message=decision.message,
                data=decision.data,
            )
        )


def on_enrolled(session: Session, enrollment: Enrollment, client: Client) -> None:
    record(session, enrollment, client, [enrolled_entry(enrollment)])


def current_state(session: Session, enrollment: Enrollment) -> State:
    state = _latest_state(session, enrollment)
    if state is None:
        raise LookupError(f"enrolment {enrollment.id} has no checkpoint")  # made on enrolling
    return load_state(state)
