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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, delete, select

from app.core.actors import SYSTEM, Actor
from app.core.db.writers import lock_for_update
from app.core.metrics import replayed
from app.core.problems import ProblemError
from app.core.replay_budget import note_replayed
from app.models import (
    Assessment,
    Client,
    EngineCheckpoint,
    EngineEvent,
    Enrollment,
    ExerciseSession,
    PainLog,
)
from app.models.base import utcnow
from app.progression import engine, feed, rules
from app.progression.codec import dump_state, load_state, rules_of
from app.progression.model import (
    AssessmentEntry,
    Decision,
    Item,
    PainEntry,
    Plan,
    Position,
    SessionEntry,
    State,
    position_of,
)
from app.progression.plans import plan_for
from app.progression.timeline import enrolled_entry, items_after, items_between
from app.webhooks import outbox

EVENT_NAMESPACE = uuid.UUID("6f1c3a52-9b7e-4f0a-8d21-5e4b7c9a0d13")
RECENT_CHECKPOINT_DAYS = 35
DAY_CAP = 100  # items of one enrolment on one local date, every kind together
# Items a client's write (an item added before others, or deleted) may re-evaluate: the
# replay costs about a tenth of a millisecond an item, more on a busy machine
# (bench/bounds.py), and on SQLite every other write waits for it. 150 are a month of an
# honest day's five or so logs; dates alone cannot bound it (120 days of full dates are
# 12,000 items).
REPLAY_CAP = 150
_FOREVER = datetime.max.replace(tzinfo=UTC)

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
_OLDEST_STATE = (
    select(col(EngineCheckpoint.state))
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .order_by(col(EngineCheckpoint.day))
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
        # An item at the last item's moment may stop what closing that moment opened (gates
        # open once a moment's items are all in): then the day replays. If closing it opened
        # nothing, the state is as if the moment were still open, and `since` appends.
        last = state.last
        if last is not None and last < since and (last.at < since.at or not state.opened):
            return state, last, True
    params = {"enrollment_id": enrollment.id, "day": engine.local_date(plan, since.at)}
    before = session.connection().execute(_STATE_BEFORE_DAY, params).scalar()
    if before is None:
        return State(), None, False
    state = load_state(before)
    return state, state.last, False


def state_before(session: Session, plan: Plan, enrollment: Enrollment, position: Position) -> State:
    """The engine's state just before an item at `position` (for the session rule)."""
    state, after, _ = _start(session, plan, enrollment, position)
    before = [i for i in items_after(session, enrollment, after) if position_of(i) < position]
    for index, item in enumerate(before):
        # The item at `position` follows the last of these: none closes its moment.
        following = before[index + 1].at if index + 1 < len(before) else position.at
        engine.step(plan, state, item, closes_moment=following != item.at)
    return state


def event_id(enrollment_id: str, decision: Decision) -> uuid.UUID:
    # The position's identity, not its key: a decision unchanged by v1.1's order keeps its id.
    content = json.dumps(
        [
            decision.position.identity(),
            decision.rule,
            decision.stage,
            decision.message,
            decision.data,
        ],
        sort_keys=True,
        default=str,
    )
    return uuid.uuid5(EVENT_NAMESPACE, f"{enrollment_id}|{content}")


def record(
    session: Session,
    enrollment: Enrollment,
    client: Client,
    added: Sequence[Item],
    actor: Actor,
) -> None:
    """Re-evaluate after a write by `actor` that stored `added` (flushed, not committed).

    A local date holds at most `DAY_CAP` items: a write that is not an append replays the
    day it lands on, so the cap bounds what any write costs (a stuck clock posting
    thousands of logs at one moment is refused, not slowed down for everyone)."""
    plan = plan_for(session, enrollment, client)
    for day in {engine.local_date(plan, item.at) for item in added}:
        start, end = engine.local_span(plan, day)
        if items_between(session, enrollment, start, end) > DAY_CAP:
            raise ProblemError(
                422,
                "day-full",
                f"{day.isoformat()} already holds {DAY_CAP} items for this client (pain "
                "logs, sessions, assessments and overrides together), the most one day may "
                "hold; nothing was stored.",
            )
    since = min(map(position_of, added))
    reevaluate(session, enrollment, client, since, added, actor=actor, bounded=True)


def _check_replay(session: Session, enrollment: Enrollment, after: Position | None) -> None:
    """A client's write re-evaluates at most `REPLAY_CAP` stored items (422 otherwise)."""
    since = after.at if after is not None else enrollment.started_at
    following = items_between(session, enrollment, since, _FOREVER)
    if following > REPLAY_CAP:
        raise ProblemError(
            422,
            "too-far-back",
            f"This change comes before {following} items stored for this client; at most "
            f"{REPLAY_CAP} may follow an item added, changed or deleted (the engine "
            "re-evaluates every one of them, and everyone's writes wait for it). Nothing was "
            "stored.",
        )


def reevaluate(
    session: Session,
    enrollment: Enrollment,
    client: Client,
    since: Position,
    added: Sequence[Item] = (),
    *,
    actor: Actor,
    bounded: bool = False,
) -> "Changes":
    """Replay from before `since` (the earliest changed item's position; see `_start`) to
    the end, and store what changed, credited to `actor`. No commit. `added`: the items this
    write stored. `bounded`: a client's item write, refused (422 `too-far-back`) when it
    would replay more than `REPLAY_CAP` items."""
    # Writers of one enrolment take turns from here to their commit: each replays from
    # what the one before stored, so none overwrites a checkpoint with a stale state.
    lock_for_update(session, select(col(Enrollment.id)).where(col(Enrollment.id) == enrollment.id))
    plan = plan_for(session, enrollment, client)
    state, after, at_end = _start(session, plan, enrollment, since)
    if bounded and not at_end:
        _check_replay(session, enrollment, after)
    # After the timeline's end, what this write added is all there is: no need to read it.
    appended = at_end and bool(added)
    items = sorted(added, key=position_of) if appended else items_after(session, enrollment, after)
    # The stored items re-evaluated (what this write added is new work, bounded by its body),
    # charged to the caller whatever follows: the edge refuses one that replays too much.
    note_replayed(0 if appended else len(items) - len(added))
    replayed(len(items))  # the engine's replays and their items, for /metrics
    decisions: list[Decision] = []
    snapshots: dict[date, dict[str, Any]] = {}
    day: date | None = None
    # What follows the last of `items` is nothing stored: it closes its moment.
    for item, closes in engine.moments(items):
        item_day = engine.local_date(plan, item.at)
        if day is not None and item_day != day:
            snapshots[day] = dump_state(state)
        decisions += engine.step(plan, state, item, closes_moment=closes)
        day = item_day
    if day is not None:
        snapshots[day] = dump_state(state)
    _store_checkpoints(session, enrollment, after, plan, snapshots)
    _store_standing(session, enrollment, plan, state, items, appended=appended)
    lines: list[feed.Line] = []
    changes = _store_decisions(
        session, enrollment, after, decisions, appended=appended, actor=actor, lines=lines
    )
    feed.append(session, lines, actor)
    return changes


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


# The newest moment the client logged something (pain, a session, an assessment).
_LAST_LOGGED = sa_select(
    func.max(
        union_all(
            sa_select(func.max(col(PainLog.recorded_at)).label("at"))
            .where(col(PainLog.enrollment_id) == bindparam("enrollment_id"))
            .where(col(PainLog.deleted_at).is_(None)),
            sa_select(func.max(col(ExerciseSession.performed_at)))
            .where(col(ExerciseSession.enrollment_id) == bindparam("enrollment_id"))
            .where(col(ExerciseSession.deleted_at).is_(None)),
            sa_select(func.max(col(Assessment.performed_at)))
            .where(col(Assessment.enrollment_id) == bindparam("enrollment_id"))
            .where(col(Assessment.deleted_at).is_(None)),
        )
        .subquery()
        .c.at
    )
)
_LOGS = (PainEntry, SessionEntry, AssessmentEntry)


def _store_standing(
    session: Session,
    enrollment: Enrollment,
    plan: Plan,
    state: State,
    replayed: Sequence[Item],
    *,
    appended: bool,
) -> None:
    """The newest state's standing on the enrolment, for the coach's list to filter and sort
    by (see `Enrollment.referred`): written with the checkpoint it comes from."""
    enrollment.referred = state.referral is not None
    enrollment.resolved = state.resolved
    enrollment.hold_ends_at = (
        engine.local_span(plan, state.hold_until)[1] if state.hold_until else None
    )
    unlocked = [stage.slug for stage in plan.stages if stage.slug in state.unlocked]
    enrollment.top_stage = unlocked[-1] if unlocked else None
    logged = [item.at for item in replayed if isinstance(item, _LOGS)]
    if appended:  # what was logged before is unchanged: only the new items can be newer
        known = enrollment.last_logged_at
        enrollment.last_logged_at = max([*logged, *([known] if known else [])], default=None)
    else:  # a replay may follow a deletion: ask the tables
        params = {"enrollment_id": enrollment.id}
        last = session.connection().execute(_LAST_LOGGED, params).scalar()
        enrollment.last_logged_at = _aware(last)
    session.add(enrollment)


def _aware(moment: datetime | str | None) -> datetime | None:
    # An aggregate loses the column's type: SQLite answers text, PostgreSQL an aware datetime.
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_CURRENT_EVENTS = (
    select(EngineEvent)
    .where(col(EngineEvent.enrollment_id) == bindparam("enrollment_id"))
    .where(col(EngineEvent.retracted_at).is_(None))
    .where(col(EngineEvent.at) >= bindparam("since"))
)


@dataclass(frozen=True, slots=True)
class Changes:
    """What a re-evaluation stored: decisions new (or current again) and retracted."""

    added: int
    retracted: int


def _store_decisions(
    session: Session,
    enrollment: Enrollment,
    after: Position | None,
    decisions: Sequence[Decision],
    *,
    appended: bool,
    actor: Actor,
    lines: list[feed.Line],
) -> Changes:
    """Store what changed, and add its feed lines to `lines`."""
    made = {event_id(str(enrollment.id), d): d for d in decisions}
    if appended:  # nothing was decided after the timeline's end: there is nothing to retract
        return Changes(_add_decisions(session, enrollment, made, set(made), actor, lines), 0)
    params = {
        "enrollment_id": enrollment.id,
        # Every decision is at or after the enrolment's start, where its replay begins.
        "since": after.at if after is not None else enrollment.started_at,
    }
    # `after` is the last item of its moment (a checkpoint's), so a decision follows it
    # exactly when its moment does; compared by moment, not by the stored key, whose rank
    # may still be v1's until the history is re-evaluated.
    stored = [
        row
        for row in session.exec(_CURRENT_EVENTS, params=params)
        if after is None or row.at > after.at
    ]
    now = utcnow()
    retracted: list[EngineEvent] = []
    for row in stored:
        decision = made.get(row.id)
        if decision is None:
            row.retracted_at = now
            retracted.append(row)
            session.add(row)
            lines.append(feed.Line(row.client_id, row.id, feed.RETRACTED))
        elif row.position != decision.position.key():  # a key written with v1's ranks
            row.position = decision.position.key()
            session.add(row)
    new_ids = set(made) - {row.id for row in stored}
    added = _add_decisions(session, enrollment, made, new_ids, actor, lines)
    outbox.on_decisions(session, enrollment, retracted=retracted)
    return Changes(added, len(retracted))


def _add_decisions(
    session: Session,
    enrollment: Enrollment,
    made: dict[uuid.UUID, Decision],
    new_ids: set[uuid.UUID],
    actor: Actor,
    lines: list[feed.Line],
) -> int:
    """Store the decisions `new_ids` names, adding their feed lines (in the order the engine
    made them) to `lines`; how many that is."""
    if not new_ids:
        return 0
    count = len(new_ids)
    lines += [feed.Line(enrollment.client_id, i, made[i].type) for i in made if i in new_ids]
    current: list[EngineEvent] = []
    # A decision made again after being retracted is the same event, current once more.
    for row in session.exec(select(EngineEvent).where(col(EngineEvent.id).in_(new_ids))):
        row.retracted_at = None
        row.position = made[row.id].position.key()
        session.add(row)
        current.append(row)
        new_ids.discard(row.id)
    for new_id in new_ids:
        decision = made[new_id]
        current.append(
            EngineEvent(
                id=new_id,
                client_id=enrollment.client_id,
                enrollment_id=enrollment.id,
                position=decision.position.key(),
                type=decision.type,
                rule=decision.rule,
                at=decision.at,
                local_date=decision.day,
                stage=decision.stage,
                message=decision.message,
                data=decision.data,
                actor_role=actor.role,
                actor_account_id=actor.account_id,
                actor_key_id=actor.api_key_id,
            )
        )
    session.add_all(current)
    outbox.on_decisions(session, enrollment, made=current)
    return count


def on_enrolled(session: Session, enrollment: Enrollment, client: Client, actor: Actor) -> None:
    record(session, enrollment, client, [enrolled_entry(enrollment)], actor)


def reevaluate_history(
    session: Session, enrollment_id: uuid.UUID, *, every: bool = False
) -> Changes | None:
    """Replay one enrolment's whole history with the rules as they are now (one unit of
    work), unless its oldest checkpoint was already made by them (`every`: regardless).
    Differences are stored as any re-evaluation stores them: retracted, never deleted."""
    enrollment = session.get(Enrollment, enrollment_id)
    client = session.get(Client, enrollment.client_id) if enrollment is not None else None
    if enrollment is None or client is None:
        return None
    # The oldest checkpoint, not the newest: a write replays from its own day on, so only a
    # replay from the start rewrites the first one.
    oldest: dict[str, Any] | None = (
        session.connection().execute(_OLDEST_STATE, {"enrollment_id": enrollment.id}).scalar()
    )
    # A history stored before enrolments kept their standing (`top_stage` is set from
    # enrolment on) is replayed once to fill it in.
    current = oldest is not None and rules_of(oldest) == rules.VERSION
    if not every and current and enrollment.top_stage is not None:
        return None
    start = position_of(enrolled_entry(enrollment))
    return reevaluate(session, enrollment, client, start, actor=SYSTEM)


def enrollment_ids(session: Session) -> list[uuid.UUID]:
    return list(session.exec(select(col(Enrollment.id)).order_by(col(Enrollment.id))))


def current_state(session: Session, enrollment: Enrollment) -> State:
    state = _latest_state(session, enrollment)
    if state is None:
        raise LookupError(f"enrolment {enrollment.id} has no checkpoint")  # made on enrolling
    return load_state(state)
