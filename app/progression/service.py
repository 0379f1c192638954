"""The engine's glue to the database: replay from checkpoints, persist decisions, reads.

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
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, delete, select

from app.accounts.deps import ClientAccess
from app.core.db import lock_for_update
from app.core.fingerprint import body_hash
from app.core.idempotency import Created
from app.core.pagination import keyset_page
from app.core.problems import ProblemError
from app.core.retries import stored_retry
from app.core.security import Principal
from app.models import (
    Assessment,
    Client,
    EngineCheckpoint,
    EngineEvent,
    Enrollment,
    ExerciseSession,
    Override,
    PainLog,
    ProtocolRow,
)
from app.models.base import utcnow
from app.models.tracking import ENROLLMENT_IS_ACTIVE
from app.progression import engine
from app.progression.codec import dump_state, load_state
from app.progression.model import (
    AssessmentEntry,
    Decision,
    Enrolled,
    Item,
    OverrideEntry,
    PainEntry,
    Plan,
    Position,
    SessionEntry,
    StageSpec,
    State,
    position_of,
)
from app.progression.params import ProgressionParams
from app.progression.schemas import (
    CheckIn,
    Criterion,
    Event,
    EventPage,
    GateState,
    OverrideCreate,
    OverridePublic,
    Progress,
    RoutineEntry,
    StageProgress,
    Today,
)

EVENT_NAMESPACE = uuid.UUID("6f1c3a52-9b7e-4f0a-8d21-5e4b7c9a0d13")
RECENT_CHECKPOINT_DAYS = 35

# Built once: every read and write of a client's progress runs these.
_ACTIVE_ENROLLMENT = (
    select(Enrollment)
    .where(col(Enrollment.client_id) == bindparam("client_id"))
    .where(ENROLLMENT_IS_ACTIVE)
)
_LATEST_STATE = (
    select(col(EngineCheckpoint.state))
    .where(col(EngineCheckpoint.enrollment_id) == bindparam("enrollment_id"))
    .order_by(col(EngineCheckpoint.day).desc())
    .limit(1)
)


# Published protocol versions never change, so each process may keep them once read.
_documents: dict[tuple[str, int], dict[str, Any]] = {}


def protocol_document(session: Session, slug: str, version: int) -> dict[str, Any]:
    key = (slug, version)
    if key not in _documents:
        row = session.get(ProtocolRow, key)
        if row is None:
            raise LookupError(f"protocol {slug} v{version} is not published")
        _documents[key] = row.document
    return _documents[key]


def known_document(slug: str, version: int) -> dict[str, Any] | None:
    """The protocol version if this process has read it already."""
    return _documents.get((slug, version))


def stage_specs(document: dict[str, Any]) -> tuple[StageSpec, ...]:
    return tuple(
        StageSpec(
            order=stage["order"],
            slug=stage["slug"],
            title=stage["title"],
            unlock_by=stage["unlock"]["by"],
            rule=stage["unlock"].get("rule"),
            exercises=tuple(e["slug"] for e in stage["exercises"]),
        )
        for stage in document["stages"]
    )


def make_plan(
    document: dict[str, Any],
    *,
    enrollment_id: str,
    overrides: dict[str, Any],
    timezone: str,
    started_at: datetime,
    baseline_pain: int,
) -> Plan:
    return Plan(
        enrollment_id=enrollment_id,
        protocol=document["slug"],
        version=document["version"],
        title=document["title"],
        stages=stage_specs(document),
        params=ProgressionParams.model_validate({**document["params"], **overrides}),
        timezone=timezone,
        started_at=started_at,
        baseline_pain=baseline_pain,
    )


def plan_for(session: Session, enrollment: Enrollment, client: Client) -> Plan:
    document = protocol_document(session, enrollment.protocol, enrollment.version)
    return make_plan(
        document,
        enrollment_id=str(enrollment.id),
        overrides=enrollment.params,
        timezone=client.timezone,
        started_at=enrollment.started_at,
        baseline_pain=enrollment.baseline_pain,
    )


# --- the timeline as stored ----------------------------------------------------------------


def pain_entry(log: PainLog) -> PainEntry:
    return PainEntry(
        str(log.id), log.recorded_at, log.score, str(log.context), tuple(map(str, log.flags))
    )


def session_entry(row: ExerciseSession) -> SessionEntry:
    return SessionEntry(str(row.id), row.performed_at, tuple(e["exercise"] for e in row.exercises))


def assessment_entry(row: Assessment) -> AssessmentEntry:
    return AssessmentEntry(str(row.id), row.performed_at, row.left, row.right)


def override_entry(row: Override) -> OverrideEntry:
    return OverrideEntry(str(row.id), row.at, row.action, row.stage, row.reason, row.by)  # type: ignore[arg-type]


def enrolled_entry(enrollment: Enrollment) -> Enrolled:
    return Enrolled(str(enrollment.id), enrollment.started_at)


# What the replay reads: every kind of item of one enrolment from a moment on.
_ITEM_QUERIES = (
    (
        pain_entry,
        select(PainLog)
        .where(col(PainLog.enrollment_id) == bindparam("enrollment_id"))
        .where(col(PainLog.deleted_at).is_(None))
        .where(col(PainLog.recorded_at) >= bindparam("since")),
    ),
    (
        session_entry,
        select(ExerciseSession)
        .where(col(ExerciseSession.enrollment_id) == bindparam("enrollment_id"))
        .where(col(ExerciseSession.performed_at) >= bindparam("since")),
    ),
    (
        assessment_entry,
        select(Assessment)
        .where(col(Assessment.enrollment_id) == bindparam("enrollment_id"))
        .where(col(Assessment.performed_at) >= bindparam("since")),
    ),
    (
        override_entry,
        select(Override)
        .where(col(Override.enrollment_id) == bindparam("enrollment_id"))
        .where(col(Override.at) >= bindparam("since")),
    ),
)


def _items_after(session: Session, enrollment: Enrollment, after: Position | None) -> list[Item]:
    """Every item of the enrolment after `after` (all of them, the enrolment too, if None)."""
    params = {
        "enrollment_id": enrollment.id,
        "since": after.at if after is not None else enrollment.started_at,
    }
    items: list[Item] = []
    for entry, query in _ITEM_QUERIES:
        items += map(entry, session.exec(query, params=params))  # type: ignore[arg-type,call-overload]
    if after is None:
        items.append(enrolled_entry(enrollment))
        return sorted(items, key=position_of)
    return sorted((i for i in items if position_of(i) > after), key=position_of)


def _checkpoint_before(
    session: Session, enrollment: Enrollment, day: date
) -> EngineCheckpoint | None:
    return session.exec(
        select(EngineCheckpoint)
        .where(EngineCheckpoint.enrollment_id == enrollment.id)
        .where(col(EngineCheckpoint.day) < day)
        .order_by(col(EngineCheckpoint.day).desc())
        .limit(1)
    ).first()


def _start(
    session: Session, plan: Plan, enrollment: Enrollment, since: Position
) -> tuple[State, Position | None, bool]:
    """The state to replay from when what changed starts at `since`, the position it is at,
    and whether that is the end of the stored timeline.

    The newest checkpoint holds the state after the timeline's last item (every write
    replays to the end, holding the enrolment's lock). When `since` follows that item (an
    append: the common case), replay starts there; otherwise from the checkpoint before
    the local date of `since`."""
    latest = session.exec(_LATEST_STATE, params={"enrollment_id": enrollment.id}).first()
    if latest is not None:
        state = load_state(latest)
        if state.last is not None and state.last < since:
            return state, state.last, True
    checkpoint = _checkpoint_before(session, enrollment, engine.local_date(plan, since.at))
    if checkpoint is None:
        return State(), None, False
    state = load_state(checkpoint.state)
    return state, state.last, False


def state_before(
    session: Session, enrollment: Enrollment, client: Client, position: Position
) -> State:
    """The engine's state just before an item at `position` (for the session rule)."""
    plan = plan_for(session, enrollment, client)
    state, after, _ = _start(session, plan, enrollment, position)
    for item in _items_after(session, enrollment, after):
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
    """Re-evaluate after a write that stored `added` (flushed, not committed)."""
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
    items = sorted(added, key=position_of) if appended else _items_after(session, enrollment, after)
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
    session.exec(
        delete(EngineCheckpoint)
        .where(col(EngineCheckpoint.enrollment_id) == enrollment.id)
        .where(col(EngineCheckpoint.day) >= stale_from)
    )
    if not snapshots:
        return
    # Daily checkpoints for the last five weeks, weekly ones (Sundays) before that.
    cutoff = max(snapshots) - timedelta(days=RECENT_CHECKPOINT_DAYS)
    for day, state in snapshots.items():
        weekly = day.weekday() == 6
        if day >= cutoff or weekly:
            session.add(
                EngineCheckpoint(
                    enrollment_id=enrollment.id,
                    day=day,
                    last_key=state["last"][0] if state["last"] else "",
                    state=state,
                    weekly=weekly,
                )
            )
    if max(snapshots) > first_replayed:  # a new day: older daily checkpoints may lapse
        session.exec(
            delete(EngineCheckpoint)
            .where(col(EngineCheckpoint.enrollment_id) == enrollment.id)
            .where(col(EngineCheckpoint.day) < cutoff)
            .where(col(EngineCheckpoint.weekly).is_(False))
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


# --- reads ---------------------------------------------------------------------------------


def active_enrollment(session: Session, client: Client) -> Enrollment | None:
    return session.exec(_ACTIVE_ENROLLMENT, params={"client_id": client.id}).first()


def current_state(session: Session, enrollment: Enrollment) -> State:
    state = session.exec(_LATEST_STATE, params={"enrollment_id": enrollment.id}).one()
    return load_state(state)


def stages_view(view: engine.ProgressView) -> list[StageProgress]:
    return [
        StageProgress(
            order=s.stage.order,
            slug=s.stage.slug,
            title=s.stage.title,
            state="unlocked" if s.unlock else "locked",
            unlocked_at=s.unlock.at if s.unlock else None,
            unlocked_by=s.unlock.by if s.unlock else None,
            reason=s.unlock.reason if s.unlock else None,
            gate=GateState(
                ready=s.gate.ready,
                criteria=[
                    Criterion(name=c.name, required=c.required, actual=c.actual, met=c.met)
                    for c in s.gate.criteria
                ],
            )
            if s.gate
            else None,
        )
        for s in view.stages
    ]


def _require_enrollment(session: Session, client: Client) -> Enrollment:
    enrollment = active_enrollment(session, client)
    if enrollment is None:
        raise ProblemError(409, "no-active-enrollment", "The client is not enrolled in a protocol.")
    return enrollment


def progress(session: Session, access: ClientAccess) -> Progress:
    client = access.client(session)
    enrollment = _require_enrollment(session, client)
    plan = plan_for(session, enrollment, client)
    return progress_answer(plan, current_state(session, enrollment), datetime.now(UTC))


def progress_answer(plan: Plan, state: State, now: datetime) -> Progress:
    view = engine.progress(plan, state, now)
    return Progress(
        enrollment_id=uuid.UUID(plan.enrollment_id),
        protocol=plan.protocol,
        version=plan.version,
        status=view.status,
        baseline_pain=plan.baseline_pain,
        current_pain=view.current_pain,
        previous_pain=view.previous_pain,
        stages=stages_view(view),
        advice=list(view.advice),
        evaluated_at=now,
    )


def exercise_catalogue(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["slug"]: e for stage in document["stages"] for e in stage["exercises"]}


def today(session: Session, access: ClientAccess, day: date | None) -> Today:
    client = access.client(session)
    enrollment = _require_enrollment(session, client)
    plan = plan_for(session, enrollment, client)
    document = protocol_document(session, plan.protocol, plan.version)
    return today_answer(plan, document, current_state(session, enrollment), day)


def today_answer(plan: Plan, document: dict[str, Any], state: State, day: date | None) -> Today:
    """Today's routine for a local date (default: today in the client's zone)."""
    day = day or engine.local_date(plan, datetime.now(UTC))
    exercises = exercise_catalogue(document)
    doses = {slug: (e["dose"], e["easy_dose"]) for slug, e in exercises.items()}
    view = engine.today(plan, state, day, doses)
    return Today(
        date=view.day,
        status=view.status,
        routine=[
            RoutineEntry(
                order=r.stage.order,
                stage=r.stage.slug,
                exercise=r.exercise,
                title=exercises[r.exercise]["title"],
                dose={k: v for k, v in r.dose.items() if v is not None},
            )
            for r in view.routine
        ],
        check_ins_due=[CheckIn(**c) for c in view.check_ins_due],  # type: ignore[arg-type]
        advice=list(view.advice),
    )


def event_public(row: EngineEvent) -> Event:
    return Event.model_validate(row, from_attributes=True)


def list_events(
    session: Session,
    client: Client,
    *,
    types: list[str] | None,
    include_retracted: bool,
    limit: int,
    cursor: str | None,
) -> EventPage:
    query = select(EngineEvent).where(EngineEvent.client_id == client.id)
    if types:
        query = query.where(col(EngineEvent.type).in_(types))
    if not include_retracted:
        query = query.where(col(EngineEvent.retracted_at).is_(None))
    rows, next_cursor = keyset_page(
        session,
        query,
        moment=EngineEvent.at,  # type: ignore[arg-type]
        ident=EngineEvent.id,  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return EventPage(items=[event_public(r) for r in rows], next_cursor=next_cursor)


# --- overrides -----------------------------------------------------------------------------


def _override_public(row: Override) -> OverridePublic:
    return OverridePublic.model_validate(row, from_attributes=True)


def create_override(
    session: Session, principal: Principal, client: Client, payload: OverrideCreate
) -> Created:
    enrollment = _require_enrollment(session, client)
    digest = body_hash(payload)
    existing = stored_retry(
        session, Override, payload.id, lambda o: o.client_id == client.id and o.body_hash == digest
    )
    if existing is not None:
        return 200, _override_public(existing)
    if payload.action == "unlock_stage" and not principal.is_coach:
        raise ProblemError(403, "coach-only", "Only the client's coach may unlock a stage.")
    if (
        payload.action == "clear_referral"
        and not principal.is_coach
        and client.coach_id is not None
    ):
        raise ProblemError(403, "coach-decides", "Your coach decides when a referral is cleared.")
    plan = plan_for(session, enrollment, client)
    state = current_state(session, enrollment)
    stage = payload.stage
    if payload.action == "clear_referral":
        if state.referral is None:
            raise ProblemError(409, "not-referred", "There is no referral to clear.")
        stage = None
    else:
        locked = [s.slug for s in plan.stages if s.slug not in state.unlocked]
        if stage is not None and stage not in {s.slug for s in plan.stages}:
            raise ProblemError(
                422,
                "unknown-stage",
                f"'{stage}' is not a stage of {plan.protocol} v{plan.version}.",
                errors=[
                    {"loc": ["body", "stage"], "msg": "Unknown stage", "type": "unknown_stage"}
                ],
            )
        if state.referral is not None:
            raise ProblemError(409, "referred", "The client is referred: clear the referral first.")
        if not locked or (stage is not None and stage not in locked):
            raise ProblemError(409, "already-unlocked", "That stage is already unlocked.")
        stage = stage or locked[0]
    row = Override(
        id=payload.id or uuid.uuid4(),
        client_id=client.id,
        enrollment_id=enrollment.id,
        action=payload.action,
        stage=stage,
        reason=payload.reason,
        by="coach" if principal.is_coach else "client",
        at=utcnow(),
        body_hash=digest,
        created_by=principal.id,
    )
    session.add(row)
    session.flush()
    record(session, enrollment, client, [override_entry(row)])
    return 201, _override_public(row)
