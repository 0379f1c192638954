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

from sqlalchemy import bindparam, func, insert, true, union_all, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, delete, select

from app.core.actors import SYSTEM, Actor
from app.core.db.writers import lock_for_update
from app.core.metrics import replayed as count_replay
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
from app.models.tracking import held_enrollment
from app.progression import adherence_store, engine, feed, rules
from app.progression.codec import dump_state, load_state, rules_of
from app.progression.decisions import Key, distinct, event_id, key_of
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
from app.progression.timeline import (
    ITEMS_BETWEEN_TOTAL,
    enrolled_entry,
    items_after,
    items_between,
)
from app.webhooks import outbox

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
# The newest checkpoint's state and day, and how many items one local date holds (the day
# cap's count, `record`): one round trip. A row even when there is no checkpoint yet.
_NEWEST = (
    sa_select(col(EngineCheckpoint.state), col(EngineCheckpoint.day))
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .order_by(col(EngineCheckpoint.day).desc())
    .limit(1)
    .subquery()
)
_ITEMS_ON_DAY = ITEMS_BETWEEN_TOTAL.subquery()
_NEWEST_AND_DAY_COUNT = sa_select(
    _ITEMS_ON_DAY.c.item_count, _NEWEST.c.state, _NEWEST.c.day
).select_from(_ITEMS_ON_DAY.outerjoin(_NEWEST, true()))
_NEWEST_ONLY = sa_select(_NEWEST.c.state, _NEWEST.c.day)
# PostgreSQL: a new pain log stored in the same statement (a data-modifying WITH; the count,
# on the statement's snapshot, does not see it, so `_newest` adds it): one round trip less.
_PAIN_LOG_COLUMNS = PainLog.__table__.c  # type: ignore[attr-defined]  # SQLModel's table
_ADD_PAIN_LOG = insert(PainLog).values(
    {
        column.name: bindparam(f"log_{column.name}", type_=column.type)
        for column in _PAIN_LOG_COLUMNS
    }
)
_ADD_LOG_AND_NEWEST = _NEWEST_AND_DAY_COUNT.add_cte(_ADD_PAIN_LOG.cte("added"))


def pain_log_row(log: PainLog) -> dict[str, Any]:
    """A new log's values, for `record(..., log=...)` to store."""
    return {f"log_{column.name}": getattr(log, column.name) for column in _PAIN_LOG_COLUMNS}


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


@dataclass(frozen=True, slots=True)
class _DayCap:
    """A local date that items were added to, and its span: checked against `DAY_CAP`."""

    day: date
    start: datetime
    end: datetime


def _day_full(day: date) -> ProblemError:
    return ProblemError(
        422,
        "day-full",
        f"{day.isoformat()} already holds {DAY_CAP} items for this client (pain logs, "
        "sessions, assessments and overrides together), the most one day may hold; nothing "
        "was stored.",
    )


@dataclass(frozen=True, slots=True)
class _Start:
    """Where a replay starts: the state, the position it is at, whether that is the end of
    the stored timeline, and the newest checkpoint's day (None: there is none)."""

    state: State
    after: Position | None
    at_end: bool
    newest_day: date | None


def _newest(
    session: Session, enrollment: Enrollment, cap: _DayCap | None, log: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, date | None]:
    """The newest checkpoint's state and day; with `cap`, in the same statement as its
    date's count (422 `day-full` past `DAY_CAP`), and `log` (`pain_log_row`) stored in it."""
    connection = session.connection()
    if cap is None:
        row = connection.execute(_NEWEST_ONLY, {"enrollment_id": enrollment.id}).first()
        return (row[0], row[1]) if row is not None else (None, None)
    params = {"enrollment_id": enrollment.id, "start": cap.start, "end": cap.end}
    statement = _NEWEST_AND_DAY_COUNT if log is None else _ADD_LOG_AND_NEWEST
    items, state, day = connection.execute(statement, params | (log or {})).one()
    if int(items) + (log is not None) > DAY_CAP:
        raise _day_full(cap.day)
    return state, day


def _start(
    session: Session,
    plan: Plan,
    enrollment: Enrollment,
    since: Position,
    cap: _DayCap | None = None,
    log: dict[str, Any] | None = None,
) -> _Start:
    """Where to replay from when what changed starts at `since` (`cap`, `log`: `_newest`).

    The newest checkpoint holds the state after the timeline's last item (every write
    replays to the end, holding the enrolment's lock). When `since` follows that item (an
    append: the common case), replay starts there; otherwise from the checkpoint before
    the local date of `since`."""
    latest, newest_day = _newest(session, enrollment, cap, log)
    if latest is not None:
        state = load_state(latest)
        # An item at the last item's moment may stop what closing that moment opened (gates
        # open once a moment's items are all in): then the day replays. If closing it opened
        # nothing, the state is as if the moment were still open, and `since` appends.
        last = state.last
        if last is not None and last < since and (last.at < since.at or not state.opened):
            return _Start(state, last, True, newest_day)
    params = {"enrollment_id": enrollment.id, "day": engine.local_date(plan, since.at)}
    before = session.connection().execute(_STATE_BEFORE_DAY, params).scalar()
    if before is None:
        return _Start(State(), None, False, newest_day)
    state = load_state(before)
    return _Start(state, state.last, False, newest_day)


def state_before(session: Session, plan: Plan, enrollment: Enrollment, position: Position) -> State:
    """The engine's state just before an item at `position` (for the session rule)."""
    start = _start(session, plan, enrollment, position)
    state, after = start.state, start.after
    before = [i for i in items_after(session, enrollment, after) if position_of(i) < position]
    for index, item in enumerate(before):
        # The item at `position` follows the last of these: none closes its moment.
        following = before[index + 1].at if index + 1 < len(before) else position.at
        engine.step(plan, state, item, closes_moment=following != item.at)
    return state


def record(
    session: Session,
    enrollment: Enrollment,
    client: Client,
    added: Sequence[Item],
    actor: Actor,
    log: dict[str, Any] | None = None,
) -> None:
    """Re-evaluate after a write by `actor` that stored `added` (flushed, not committed).
    `log`: on PostgreSQL, a new pain log (`pain_log_row`, the one item of `added`) not yet
    stored, which this stores in its first statement.

    A local date holds at most `DAY_CAP` items: a write that is not an append replays the
    day it lands on, so the cap bounds what any write costs (a stuck clock posting
    thousands of logs at one moment is refused, not slowed down for everyone)."""
    plan = plan_for(session, enrollment, client)
    caps = [_DayCap(day, *engine.local_span(plan, day)) for day in _days(plan, added)]
    if len(caps) > 1:  # (one date, the common case: counted as the replay starts)
        for each in caps:
            if items_between(session, enrollment, each.start, each.end) > DAY_CAP:
                raise _day_full(each.day)
    since = min(map(position_of, added))
    cap = caps[0] if len(caps) == 1 else None
    if log is not None and cap is None:
        raise ValueError("a log stored by the replay is its one item")
    reevaluate(
        session, enrollment, client, since, added, actor=actor, bounded=True, _cap=cap, _log=log
    )


def _days(plan: Plan, items: Sequence[Item]) -> list[date]:
    return sorted({engine.local_date(plan, item.at) for item in items})


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
    _cap: _DayCap | None = None,
    _log: dict[str, Any] | None = None,
) -> "Changes":
    """Replay from before `since` (the earliest changed item's position; see `_start`) to
    the end, and store what changed, credited to `actor`. No commit. `added`: the items this
    write stored. `bounded`: a client's item write, refused (422 `too-far-back`) when it
    would replay more than `REPLAY_CAP` items. `_cap`, `_log`: `record`'s, handled here."""
    # Writers of one enrolment take turns from here to their commit: each replays from
    # what the one before stored, so none overwrites a checkpoint with a stale state.
    # (Nothing is sent when this unit already holds it: read `for_writing`.)
    lock_for_update(
        session,
        select(col(Enrollment.id)).where(col(Enrollment.id) == enrollment.id),
        held_enrollment(enrollment.id),
    )
    plan = plan_for(session, enrollment, client)
    start = _start(session, plan, enrollment, since, _cap, _log)
    state, after, at_end = start.state, start.after, start.at_end
    if bounded and not at_end:
        _check_replay(session, enrollment, after)
    # After the timeline's end, what this write added is all there is: no need to read it.
    appended = at_end and bool(added)
    items = sorted(added, key=position_of) if appended else items_after(session, enrollment, after)
    # The stored items re-evaluated (what this write added is new work, bounded by its body),
    # charged to the caller whatever follows: the edge refuses one that replays too much.
    note_replayed(0 if appended else len(items) - len(added))
    count_replay(len(items))  # the engine's replays and their items, for /metrics
    replayed = run(plan, state, items)
    return store(
        session,
        enrollment,
        plan,
        after,
        replayed,
        items,
        appended=appended,
        actor=actor,
        newest_day=start.newest_day,
    )


@dataclass(frozen=True, slots=True)
class Replayed:
    """What the engine made of a replay: the state after it, its decisions, and the state at
    the end of each local date it went through (the checkpoints' contents)."""

    state: State
    decisions: list[Decision]
    snapshots: dict[date, dict[str, Any]]


def run(plan: Plan, state: State, items: Sequence[Item]) -> Replayed:
    """The engine over `items` from `state` (which it advances): pure, no database, so it
    can run anywhere (a coach's whole-history replay runs in the CPU worker process)."""
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
    return Replayed(state, decisions, snapshots)


def store(
    session: Session,
    enrollment: Enrollment,
    plan: Plan,
    after: Position | None,
    replayed: Replayed,
    items: Sequence[Item] = (),
    *,
    appended: bool = False,
    actor: Actor,
    newest_day: date | None = date.max,
) -> "Changes":
    """Store what a replay from `after` (None: the whole history) to the end made: its
    checkpoints, the enrolment's standing, decisions and retractions with their feed lines.
    `items`: what it replayed (read only for an append). No commit. The enrolment's
    `revision` moves on, and the checkpoints written carry it, so that a replay computed
    outside this unit of work can tell what changed since it read (`history.py`).
    `newest_day`: the newest stored checkpoint's day when known (None: there is none); not
    known, every checkpoint from the first day replayed on is dropped before it is written."""
    standing = _standing(session, enrollment, plan, replayed.state, items, appended=appended)
    standing["revision"] = enrollment.revision + 1
    _store_checkpoints(session, enrollment, after, plan, replayed.snapshots, newest_day, standing)
    lines: list[feed.Line] = []
    changes = _store_decisions(
        session, enrollment, after, replayed.decisions, appended=appended, actor=actor, lines=lines
    )
    feed.append(session, lines, actor)
    adherence_store.store(
        session, enrollment, plan, items if appended else None, replayed.decisions
    )
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


_CHECKPOINT_COLUMNS = ("enrollment_id", "day", "last_key", "state", "weekly", "revision")


def _upsert(insert: Any) -> Any:
    """A checkpoint written over the one stored for its day, if any."""
    table = EngineCheckpoint.__table__  # type: ignore[attr-defined]  # SQLModel's table
    statement = insert(EngineCheckpoint).values(
        {name: bindparam(name, type_=table.c[name].type) for name in _CHECKPOINT_COLUMNS}
    )
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[col(EngineCheckpoint.enrollment_id), col(EngineCheckpoint.day)],
        set_={
            "last_key": excluded.last_key,
            "state": excluded.state,
            "weekly": excluded.weekly,
            "revision": excluded.revision,
        },
    )


_WRITE_CHECKPOINTS = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}

# The enrolment's standing (see `_standing`) and the revision `store` moves on, its values
# named `standing_<column>`.
_STANDING = ("referred", "resolved", "hold_ends_at", "top_stage", "last_logged_at", "revision")
_ENROLLMENT_COLUMNS = Enrollment.__table__.c  # type: ignore[attr-defined]  # SQLModel's table
_SET_STANDING = (
    update(Enrollment)
    .where(col(Enrollment.id) == bindparam("standing_of"))
    .values(
        {
            name: bindparam(f"standing_{name}", type_=_ENROLLMENT_COLUMNS[name].type)
            for name in _STANDING
        }
    )
)
# PostgreSQL: a checkpoint and the standing it gives in one statement (a data-modifying
# WITH runs once, whether or not the statement reads it): one round trip, not two.
_WRITE_CHECKPOINT_AND_STANDING = _WRITE_CHECKPOINTS["postgresql"].add_cte(
    _SET_STANDING.cte("standing")
)


def _store_checkpoints(
    session: Session,
    enrollment: Enrollment,
    after: Position | None,
    plan: Plan,
    snapshots: dict[date, dict[str, Any]],
    newest_day: date | None,
    standing: dict[str, Any],
) -> None:
    """The checkpoints of `snapshots` and the enrolment's `standing` (`_standing`).
    `newest_day`: the newest stored checkpoint's (read under the enrolment's lock)."""
    first_replayed = engine.local_date(plan, after.at) if after is not None else date.min
    # Days after the one replayed from are stale, and so is that day when it was replayed
    # on (an append from its own checkpoint): their checkpoints are written anew.
    stale_from = min([first_replayed + timedelta(days=1), *snapshots])
    # Daily checkpoints for the last five weeks, weekly ones (Sundays) before that.
    cutoff = max(snapshots) - timedelta(days=RECENT_CHECKPOINT_DAYS) if snapshots else None
    rows = [
        {
            "enrollment_id": enrollment.id,
            "day": day,
            "last_key": state["last"][0] if state["last"] else "",
            "state": state,
            "weekly": day.weekday() == 6,
            "revision": standing["revision"],
        }
        for day, state in snapshots.items()
        if cutoff is not None and (day >= cutoff or day.weekday() == 6)
    ]
    # On the connection: plain SQL, no ORM bookkeeping (no checkpoint is loaded as an object).
    connection = session.connection()
    # The stored days from `stale_from` on all lie between it and the newest: none, or only
    # that one day rewritten below (an append on the newest day), leaves nothing to drop.
    rewritten = {row["day"] for row in rows}
    if newest_day is not None and not (
        newest_day < stale_from or (newest_day == stale_from and newest_day in rewritten)
    ):
        connection.execute(
            _DROP_CHECKPOINTS_FROM, {"enrollment_id": enrollment.id, "stale_from": stale_from}
        )
    standing_params = {"standing_of": enrollment.id} | {
        f"standing_{name}": value for name, value in standing.items()
    }
    if len(rows) == 1 and connection.dialect.name == "postgresql":  # an append: the usual
        connection.execute(_WRITE_CHECKPOINT_AND_STANDING, rows[0] | standing_params)
    else:
        if rows:
            connection.execute(_WRITE_CHECKPOINTS[connection.dialect.name], rows)
        connection.execute(_SET_STANDING, standing_params)
    # Stored above: the Session takes them as stored, and its flush leaves them alone.
    for name, value in standing.items():
        set_committed_value(enrollment, name, value)
    if not rows:
        return
    if cutoff is not None and max(snapshots) > first_replayed:  # a new day: older ones lapse
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


def _standing(
    session: Session,
    enrollment: Enrollment,
    plan: Plan,
    state: State,
    replayed: Sequence[Item],
    *,
    appended: bool,
) -> dict[str, Any]:
    """The newest state's standing on the enrolment, for the coach's list to filter and sort
    by (see `Enrollment.referred`): written with the checkpoint it comes from."""
    unlocked = [stage.slug for stage in plan.stages if stage.slug in state.unlocked]
    logged = [item.at for item in replayed if isinstance(item, _LOGS)]
    if appended:  # what was logged before is unchanged: only the new items can be newer
        # (The enrolment was read under its lock: no other writer's log is missed.)
        known = enrollment.last_logged_at
        last_logged = max([*logged, *([known] if known else [])], default=None)
    else:  # a replay may follow a deletion: ask the tables
        params = {"enrollment_id": enrollment.id}
        last_logged = _aware(session.connection().execute(_LAST_LOGGED, params).scalar())
    return {
        "referred": state.referral is not None,
        "resolved": state.resolved,
        "hold_ends_at": engine.local_span(plan, state.hold_until)[1] if state.hold_until else None,
        "top_stage": unlocked[-1] if unlocked else None,
        "last_logged_at": last_logged,
    }


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
# The keys already decided on the dates an append made decisions on (rare: most make none).
_KEYS_ON_DAYS = (
    sa_select(
        col(EngineEvent.type),
        col(EngineEvent.rule),
        col(EngineEvent.stage),
        col(EngineEvent.local_date),
    )
    .where(col(EngineEvent.enrollment_id) == bindparam("enrollment_id"))
    .where(col(EngineEvent.retracted_at).is_(None))
    .where(col(EngineEvent.local_date).in_(bindparam("days", expanding=True)))
)


@dataclass(frozen=True, slots=True)
class Changes:
    """What a re-evaluation stored: decisions new (or current again), retracted, updated."""

    added: int
    retracted: int
    updated: int = 0


def _key_of_row(row: EngineEvent) -> Key:
    return (row.type, row.rule, row.stage, row.local_date)


def _as_stored(data: dict[str, Any]) -> Any:
    # What a JSON column gives back for `data` (tuples as lists, dates as text).
    return json.loads(json.dumps(data, default=str))


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
    """Store what changed, and add its feed lines to `lines`.

    Decisions are matched by key (`decisions.py`), never by content: one made again keeps
    its row and id, and when its figures (message, data, moment) changed it is updated in
    place with one `decision_updated`; only a key the replay no longer makes is retracted.
    So a backfill under an override (a clearance measured from the pain before it) updates
    the clearance, never retracts and re-issues it."""
    if appended:  # nothing was decided after the timeline's end: there is nothing to retract
        known: set[Key] = set()
        if decisions:  # a key already made earlier on the same date stays that decision
            params = {"enrollment_id": enrollment.id, "days": sorted({d.day for d in decisions})}
            known = {tuple(r) for r in session.connection().execute(_KEYS_ON_DAYS, params)}  # type: ignore[misc]
        made = distinct(decisions, known)
        return Changes(_add_decisions(session, enrollment, made, actor, lines), 0)
    params = {
        "enrollment_id": enrollment.id,
        # Every decision is at or after the enrolment's start, where its replay begins.
        "since": after.at if after is not None else enrollment.started_at,
    }
    # `after` is the last item of its moment (a checkpoint's, the last of an earlier local
    # date), so a decision follows it exactly when its moment does; compared by moment, not
    # by the stored key, whose rank may still be v1's until the history is re-evaluated.
    stored = sorted(
        (
            row
            for row in session.exec(_CURRENT_EVENTS, params=params)
            if after is None or row.at > after.at
        ),
        key=lambda row: (row.at, row.position),
    )
    made = distinct(decisions)
    wanted = {key_of(d) for d in made}
    kept: dict[Key, EngineEvent] = {}
    now = utcnow()
    retracted: list[EngineEvent] = []
    for row in stored:
        key = _key_of_row(row)
        if key in wanted and key not in kept:
            kept[key] = row
            continue
        row.retracted_at = now
        retracted.append(row)
        session.add(row)
        lines.append(feed.Line(row.client_id, row.id, feed.RETRACTED))
    updated: list[EngineEvent] = []
    new: list[Decision] = []
    for decision in made:
        same = kept.get(key_of(decision))
        if same is None:
            new.append(decision)
        elif _refresh(same, decision):
            updated.append(same)
            lines.append(feed.Line(same.client_id, same.id, feed.UPDATED))
    added = _add_decisions(session, enrollment, new, actor, lines)
    outbox.on_decisions(session, enrollment, retracted=retracted, updated=updated)
    return Changes(added, len(retracted), len(updated))


def _refresh(row: EngineEvent, decision: Decision) -> bool:
    """Bring a stored decision's figures in line with the replay's; whether they differed
    (a key written with v1's ranks is rewritten silently: nothing a reader sees changed)."""
    position = decision.position.key()
    data = _as_stored(decision.data)
    changed = (row.message, row.data, row.at) != (decision.message, data, decision.at)
    # A note stored before notes, or worded anew, is rewritten silently too.
    if changed or row.position != position or row.clinical_note != decision.note:
        row.message, row.data, row.at, row.position = decision.message, data, decision.at, position
        row.clinical_note = decision.note
    return changed


def _add_decisions(
    session: Session,
    enrollment: Enrollment,
    made: Sequence[Decision],
    actor: Actor,
    lines: list[feed.Line],
) -> int:
    """Store `made` (keys with no current row), adding their feed lines (in the order the
    engine made them) to `lines`; how many that is."""
    if not made:
        return 0
    by_id = {event_id(str(enrollment.id), key_of(d)): d for d in made}
    lines += [feed.Line(enrollment.client_id, i, d.type) for i, d in by_id.items()]
    current: list[EngineEvent] = []
    fresh = set(by_id)
    # A decision made again after being retracted is the same event, current once more; who
    # made it first stays its actor (an override's is the coach's, whoever replays it).
    for row in session.exec(select(EngineEvent).where(col(EngineEvent.id).in_(fresh))):
        row.retracted_at = None
        _refresh(row, by_id[row.id])
        session.add(row)
        current.append(row)
        fresh.discard(row.id)
    for new_id in fresh:
        decision = by_id[new_id]
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
                clinical_note=decision.note,
                actor_role=actor.role,
                actor_account_id=actor.account_id,
                actor_key_id=actor.api_key_id,
            )
        )
    session.add_all(current)
    outbox.on_decisions(session, enrollment, made=current)
    return len(by_id)


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
    # enrolment on), or their weeks' adherence and decisions' clinical notes (v1.2), is
    # replayed once to fill them in.
    current = oldest is not None and rules_of(oldest) == rules.VERSION
    standing = enrollment.top_stage is not None and enrollment.adherence is not None
    if not every and current and standing:
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
