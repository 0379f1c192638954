"""Enrolments and logs: validation against the enrolment, retries by id, lists.

Services run inside a unit of work (app/core/db/unit_of_work.py) and never commit: a create
adds its rows, and the unit of work commits them with the Idempotency-Key record.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.access import ClientAccess
from app.catalogue.service import protocol_row
from app.core.actors import EVERYTHING, ActorPublic, Reader, as_read_by
from app.core.db.writers import lock_for_update
from app.core.fingerprint import body_hash
from app.core.idempotency import Created
from app.core.pagination import keyset_page
from app.core.problems import NotFoundError, ProblemError
from app.core.replay_budget import note_replayed
from app.core.retries import id_conflict, stored_retry
from app.core.security import Principal
from app.models import Assessment, Client, Enrollment, ExerciseSession, PainLog
from app.models.base import utcnow
from app.models.tracking import held_enrollment
from app.progression import engine, lifecycle, plans, replay, session_rule, timeline
from app.progression.history import History, marks, up_to_date, zone_of
from app.progression.model import Item, Position, SessionEntry, position_of
from app.progression.params import ProgressionParams
from app.progression.previous_coach import WITHHELD, reader_of
from app.tracking import lists
from app.tracking.schemas import (
    AssessmentCreate,
    AssessmentPage,
    AssessmentPublic,
    EnrollmentCreate,
    EnrollmentEnd,
    EnrollmentPage,
    EnrollmentPublic,
    EnrollmentUpdate,
    PainContext,
    PainLogBatch,
    PainLogBatchResult,
    PainLogCreate,
    PainLogPage,
    PainLogPublic,
    ParamChange,
    SessionCreate,
    SessionExercise,
    SessionPage,
    SessionPublic,
)


def _field_problem(
    status: int, kind: str, detail: str, loc: list[str | int], error: str
) -> ProblemError:
    return ProblemError(status, kind, detail, errors=[{"loc": loc, "msg": detail, "type": error}])


# --- enrolments ---------------------------------------------------------------------------


def _enrollment_params(session: Session, enrollment: Enrollment) -> ProgressionParams:
    document = plans.protocol_document(session, enrollment.protocol, enrollment.version)
    return plans.effective_params(document, enrollment.params)


def enrollment_public(
    session: Session, enrollment: Enrollment, reader: Reader = EVERYTHING
) -> EnrollmentPublic:
    """An enrolment as `reader` may see it: another coach unnamed, and the reason it gave
    for ending it withheld (`app.progression.previous_coach`)."""
    ended_by = ActorPublic.model_validate(enrollment.ended_by) if enrollment.ended_by else None
    end_reason = enrollment.end_reason
    if ended_by is not None and not reader.knows(ended_by.role, ended_by.account_id):
        ended_by = as_read_by(ended_by, reader)
        end_reason = WITHHELD if end_reason is not None else None
    changes = [ParamChange.model_validate(c) for c in enrollment.param_changes]
    return EnrollmentPublic(
        id=enrollment.id,
        client_id=enrollment.client_id,
        protocol=enrollment.protocol,
        version=enrollment.version,
        baseline_pain=enrollment.baseline_pain,
        started_at=enrollment.started_at,
        params=_enrollment_params(session, enrollment),
        status=enrollment.status,  # type: ignore[arg-type]  # str column written from the Literal
        created_at=enrollment.created_at,
        actor=as_read_by(enrollment.actor, reader),
        ended_at=enrollment.ended_at,
        outcome=enrollment.outcome,  # type: ignore[arg-type]  # str column written from the Literal
        end_reason=end_reason,
        ended_by=ended_by,
        param_changes=[
            c.model_copy(update={"actor": as_read_by(c.actor, reader)}) for c in changes
        ],
    )


Listed = TypeVar("Listed", PainLogPublic, SessionPublic, AssessmentPublic)


def _as_read(item: Listed, reader: Reader) -> Listed:
    """A log as `reader` may see who wrote it (`app.progression.previous_coach`)."""
    actor = as_read_by(item.actor, reader)
    return item if actor is item.actor else item.model_copy(update={"actor": actor})


def _start_of_local_day(client: Client) -> datetime:
    """The start of the client's local day now: logs from earlier today still count."""
    first, changes = plans.zones(client.timezone, client.timezone_changes)
    now = utcnow()
    return engine.zoned_day_start(first, changes, engine.zoned_date(first, changes, now))


def create_enrollment(
    session: Session, principal: Principal, client: Client, payload: EnrollmentCreate
) -> Created:
    if payload.params is not None and not principal.is_coach:
        raise _field_problem(
            403,
            "coach-only",
            "Only the client's coach may change parameters.",
            ["body", "params"],
            "coach_only",
        )
    digest = body_hash(payload)
    existing = stored_retry(
        session,
        Enrollment,
        payload.id,
        lambda e: e.client_id == client.id and e.body_hash == digest,
    )
    if existing is not None:
        return 200, enrollment_public(session, existing)
    protocol = protocol_row(session, payload.protocol, payload.version)
    if protocol is None:
        which = f" version {payload.version}" if payload.version is not None else ""
        raise _field_problem(
            422,
            "unknown-protocol",
            f"No published protocol '{payload.protocol}'{which}.",
            ["body", "version" if payload.version is not None else "protocol"],
            "unknown_protocol",
        )
    if plans.active_enrollment(session, client) is not None:
        raise ProblemError(409, "enrollment-exists", "The client already has an active enrolment.")
    started_at = _after_the_last_ended(session, client, payload.started_at)
    overrides = payload.params.model_dump(exclude_none=True) if payload.params is not None else {}
    enrollment = Enrollment(
        id=payload.id or uuid.uuid4(),
        client_id=client.id,
        protocol=protocol.slug,
        version=protocol.version,
        baseline_pain=payload.baseline_pain,
        started_at=started_at,
        params=overrides,
        status="active",
        body_hash=digest,
        created_by=principal.id,
        actor_role=principal.role,
        actor_key_id=principal.actor.api_key_id,
    )
    session.add(enrollment)
    session.flush()
    replay.on_enrolled(session, enrollment, client, principal.actor)
    return 201, enrollment_public(session, enrollment)


def _aware(moment: datetime | str | None) -> datetime | None:
    # An aggregate loses the column's type: SQLite answers text, PostgreSQL an aware datetime.
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _after_the_last_ended(session: Session, client: Client, asked: datetime | None) -> datetime:
    """When a new enrolment starts: as asked, or the start of the client's local day, and
    never before the previous one ended (an enrolment follows the one before, never overlaps
    it: the start of today may come before an end made this morning)."""
    ended = session.exec(
        select(func.max(col(Enrollment.ended_at))).where(col(Enrollment.client_id) == client.id)
    ).one()
    last_end = _aware(ended)
    if asked is not None:
        if last_end is not None and asked < last_end:
            raise _field_problem(
                422,
                "overlaps-previous-enrollment",
                f"The previous enrolment ended at {last_end.isoformat()}: a new one starts "
                "then or later.",
                ["body", "started_at"],
                "overlaps_previous_enrollment",
            )
        return asked
    today = _start_of_local_day(client)
    return max(today, last_end) if last_end is not None else today


def list_enrollments(
    session: Session, access: ClientAccess, limit: int, cursor: str | None
) -> EnrollmentPage:
    principal, client = access.resolve(session)
    rows, next_cursor = keyset_page(
        session,
        select(Enrollment).where(Enrollment.client_id == client.id),
        moment=col(Enrollment.started_at),
        ident=col(Enrollment.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return EnrollmentPage(
        items=[enrollment_public(session, r, reader_of(principal)) for r in rows],
        next_cursor=next_cursor,
    )


def _visible_enrollment(session: Session, client: Client, enrollment_id: uuid.UUID) -> Enrollment:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.client_id != client.id:
        raise NotFoundError(f"No enrolment {enrollment_id}.")
    # Writers of one enrolment take turns (see `replay.reevaluate`): an end or a change of
    # parameters waits for a log being stored, and the other way round.
    lock_for_update(
        session,
        select(col(Enrollment.id)).where(col(Enrollment.id) == enrollment.id),
        held_enrollment(enrollment.id),
    )
    session.refresh(enrollment)
    return enrollment


def _ended(enrollment: Enrollment) -> ProblemError:
    return ProblemError(
        409,
        "enrollment-ended",
        f"This enrolment ended ({enrollment.outcome}) at {enrollment.ended_at}; its history "
        "stays readable, but it changes no more. Enrol again to start afresh.",
    )


def _actor_dict(principal: Principal) -> dict[str, Any]:
    actor = principal.actor
    return {
        "role": actor.role,
        "account_id": str(actor.account_id),
        "api_key_id": str(actor.api_key_id) if actor.api_key_id else None,
    }


def end_enrollment(
    session: Session, access: ClientAccess, enrollment_id: uuid.UUID, payload: EnrollmentEnd
) -> EnrollmentPublic:
    """The client or its coach ends an enrolment. Sent again with the same outcome and
    reason, it answers the same; an enrolment that ended otherwise is a 409."""
    principal, client = access.resolve(session)
    enrollment = _visible_enrollment(session, client, enrollment_id)
    if enrollment.status != "active":
        if enrollment.outcome == payload.outcome and enrollment.end_reason == payload.reason:
            return enrollment_public(session, enrollment, reader_of(principal))
        raise _ended(enrollment)
    enrollment.status = "ended"
    enrollment.ended_at = utcnow()
    enrollment.outcome = payload.outcome
    enrollment.end_reason = payload.reason
    enrollment.ended_by = _actor_dict(principal)
    session.add(enrollment)
    session.flush()
    lifecycle.enrollment_ended(session, client, enrollment, principal.actor)
    return enrollment_public(session, enrollment, reader_of(principal))


def _coach_changes(
    session: Session, access: ClientAccess, enrollment_id: uuid.UUID, *, lock: bool
) -> tuple[Principal, Client, Enrollment]:
    """The coach changing an active enrolment's parameters, its client and that enrolment
    (held, in a write: `lock`)."""
    principal, client = access.resolve(session)
    if not principal.is_coach:
        raise _field_problem(
            403,
            "coach-only",
            "Only the client's coach may change parameters.",
            ["body", "params"],
            "coach_only",
        )
    if lock:
        enrollment = _visible_enrollment(session, client, enrollment_id)
    else:
        found = session.get(Enrollment, enrollment_id)
        if found is None or found.client_id != client.id:
            raise NotFoundError(f"No enrolment {enrollment_id}.")
        enrollment = found
    if enrollment.status != "active":
        raise _ended(enrollment)
    return principal, client, enrollment


def read_history(
    session: Session, access: ClientAccess, enrollment_id: uuid.UUID, payload: EnrollmentUpdate
) -> EnrollmentPublic | History:
    """A coach changes an active enrolment's parameters, first half (a read unit of work):
    the enrolment as it is when the values are the same (a retry is harmless), else what
    the replay of its whole history under the new values needs (`app/progression/history.py`:
    the engine runs over it in the CPU worker, and `update_enrollment` stores the result)."""
    principal, client, enrollment = _coach_changes(session, access, enrollment_id, lock=False)
    before = dict(enrollment.params)
    after = {**before, **payload.params.model_dump(exclude_none=True)}
    if after == before:
        return enrollment_public(session, enrollment, reader_of(principal))
    history = History(
        revision=enrollment.revision,
        marks=marks(session, enrollment),
        zone=zone_of(client),
        before=before,
        after=after,
        plan=plans.plan_for(session, enrollment, client, after),
        enrolled=timeline.enrolled_entry(enrollment),
        rows=timeline.stored_rows(session, enrollment),
    )
    # Charged to the caller as a replay in the writer was (app/core/replay_budget.py).
    note_replayed(history.items)
    return history


def update_enrollment(
    session: Session,
    access: ClientAccess,
    enrollment_id: uuid.UUID,
    history: History,
    replayed: replay.Replayed,
) -> EnrollmentPublic | None:
    """Second half (a write): store the whole history's replay under the new parameters
    (brought up to date with what was written since it was read), and record the change with
    what the replay added and retracted; None, storing nothing, when the history changed
    since in a way this write cannot catch up with (`history.up_to_date`): the caller
    starts again."""
    principal, client, enrollment = _coach_changes(session, access, enrollment_id, lock=True)
    current = up_to_date(session, enrollment, client, history, replayed)
    if current is None:
        return None
    enrollment.params = history.after
    lifecycle.params_changed(
        session, client, enrollment, history.before, history.after, principal.actor
    )
    changes = replay.store(session, enrollment, history.plan, None, current, actor=principal.actor)
    record = ParamChange(
        at=utcnow(),
        actor=ActorPublic.model_validate(_actor_dict(principal)),
        before=history.before,
        after=history.after,
        added=changes.added,
        retracted=changes.retracted,
    )
    # A new list: the JSON column notices a new value, not an edit in place.
    enrollment.param_changes = [*enrollment.param_changes, record.model_dump(mode="json")]
    session.add(enrollment)
    session.flush()
    return enrollment_public(session, enrollment, reader_of(principal))


def _not_before_start(enrollment: Enrollment, moment: datetime, loc: list[str | int]) -> None:
    if moment < enrollment.started_at:
        raise _field_problem(
            422,
            "before-enrollment",
            f"This is before the enrolment started ({enrollment.started_at.isoformat()}).",
            loc,
            "before_enrollment",
        )


# --- pain logs ------------------------------------------------------------------------------


def pain_public(log: PainLog) -> PainLogPublic:
    return PainLogPublic.model_validate(log, from_attributes=True)


def _new_pain_log(
    principal: Principal,
    client: Client,
    enrollment: Enrollment,
    payload: PainLogCreate,
    digest: str,
    session_id: uuid.UUID | None = None,
) -> PainLog:
    return PainLog(
        id=payload.id or uuid.uuid4(),
        client_id=client.id,
        enrollment_id=enrollment.id,
        session_id=session_id,
        score=payload.score,
        context=payload.context,
        recorded_at=payload.recorded_at,
        side=payload.side,
        location=payload.location,
        flags=[str(flag) for flag in payload.flags],
        note=payload.note,
        body_hash=digest,
        created_by=principal.id,
        actor_role=principal.role,
        actor_key_id=principal.actor.api_key_id,
    )


def _existing_pain_log(
    session: Session, client: Client, payload: PainLogCreate, digest: str, loc: list[str | int]
) -> PainLog | None:
    # A deleted log's id stays spent: a late retry must not bring it back.
    return stored_retry(
        session,
        PainLog,
        payload.id,
        lambda log: (
            log.client_id == client.id and log.body_hash == digest and log.deleted_at is None
        ),
        loc,
    )


def create_pain_log(
    session: Session, principal: Principal, client: Client, payload: PainLogCreate
) -> Created:
    enrollment = plans.require_active_enrollment(session, client, for_write=True)
    digest = body_hash(payload)
    existing = _existing_pain_log(session, client, payload, digest, ["body", "id"])
    if existing is not None:
        return 200, pain_public(existing)
    _not_before_start(enrollment, payload.recorded_at, ["body", "recorded_at"])
    log = _new_pain_log(principal, client, enrollment, payload, digest)
    entry = timeline.pain_entry(log)
    if session.get_bind().dialect.name == "postgresql":  # stored in the replay's first statement
        replay.record(
            session, enrollment, client, [entry], principal.actor, replay.pain_log_row(log)
        )
    else:  # (SQLite has no INSERT in a WITH; its statements cost no round trip)
        session.add(log)
        session.flush()
        replay.record(session, enrollment, client, [entry], principal.actor)
    return 201, pain_public(log)


def create_pain_logs(
    session: Session, principal: Principal, client: Client, batch: PainLogBatch
) -> Created:
    """All or nothing: any refused item refuses the batch, naming the item."""
    enrollment = plans.require_active_enrollment(session, client, for_write=True)
    seen: dict[uuid.UUID, str] = {}
    logs: list[PainLog] = []
    created_ids: set[uuid.UUID] = set()
    for index, payload in enumerate(batch.items):
        loc: list[str | int] = ["body", "items", index]
        digest = body_hash(payload)
        if payload.id is not None:
            if payload.id in seen and seen[payload.id] != digest:
                raise id_conflict([*loc, "id"])
            if payload.id in seen:
                logs.append(next(log for log in logs if log.id == payload.id))
                continue
            seen[payload.id] = digest
        existing = _existing_pain_log(session, client, payload, digest, [*loc, "id"])
        if existing is not None:
            logs.append(existing)
            continue
        _not_before_start(enrollment, payload.recorded_at, [*loc, "recorded_at"])
        log = _new_pain_log(principal, client, enrollment, payload, digest)
        session.add(log)
        logs.append(log)
        created_ids.add(log.id)
    session.flush()
    new = [log for log in logs if log.id in created_ids]
    if new:
        replay.record(
            session, enrollment, client, list(map(timeline.pain_entry, new)), principal.actor
        )
    created = len(created_ids)
    result = PainLogBatchResult(
        items=[pain_public(log) for log in logs], created=created, existing=len(logs) - created
    )
    return (201 if created else 200), result


def _time_window(
    query: SelectOfScalar[Any], column: Any, since: datetime | None, until: datetime | None
) -> SelectOfScalar[Any]:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def list_pain_logs(
    session: Session,
    access: ClientAccess,
    *,
    since: datetime | None,
    until: datetime | None,
    context: PainContext | None,
    limit: int,
    cursor: str | None,
    lean: bool = False,
) -> PainLogPage | bytes:
    """`lean`: a phone's plain list may be answered by the lean read, as JSON."""
    if lean and since is None and until is None and context is None:
        page = lists.pain_log_page(session, access, limit, cursor)
        if page is not None:
            return page
    principal, client = access.resolve(session)
    query = (
        select(PainLog)
        .where(PainLog.client_id == client.id)
        .where(col(PainLog.deleted_at).is_(None))
    )
    query = _time_window(query, col(PainLog.recorded_at), since, until)
    if context is not None:
        query = query.where(PainLog.context == context)
    rows, next_cursor = keyset_page(
        session,
        query,
        moment=col(PainLog.recorded_at),
        ident=col(PainLog.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    reader = reader_of(principal)
    return PainLogPage(
        items=[_as_read(pain_public(r), reader) for r in rows], next_cursor=next_cursor
    )


def delete_pain_log(session: Session, access: ClientAccess, log_id: uuid.UUID) -> None:
    principal, client = access.resolve(session)
    log = session.get(PainLog, log_id)
    if log is None or log.client_id != client.id or log.deleted_at is not None:
        raise NotFoundError(f"No pain log {log_id}.")
    log.deleted_at = utcnow()
    session.add(log)
    session.flush()
    enrollment = session.get(Enrollment, log.enrollment_id)
    assert enrollment is not None
    since = position_of(timeline.pain_entry(log))
    replay.reevaluate(session, enrollment, client, since, actor=principal.actor, bounded=True)


# --- sessions -------------------------------------------------------------------------------


def _check_exercises(
    session: Session,
    client: Client,
    enrollment: Enrollment,
    exercises: Sequence[SessionExercise],
    position: Position,
) -> None:
    """Each exercise must belong to a stage open for the client at the session's time."""
    plan = plans.plan_for(session, enrollment, client)
    unlocked = replay.state_before(session, plan, enrollment, position).unlocked
    refused = session_rule.refusal(plan, unlocked, [item.exercise for item in exercises])
    if refused is not None:
        raise _field_problem(
            422,
            refused.kind,
            refused.message(plan),
            ["body", "exercises", refused.index, "exercise"],
            refused.kind.replace("-", "_"),
        )


def session_public(row: ExerciseSession, pain_log_ids: list[uuid.UUID]) -> SessionPublic:
    return SessionPublic(
        id=row.id,
        client_id=row.client_id,
        enrollment_id=row.enrollment_id,
        performed_at=row.performed_at,
        exercises=[SessionExercise.model_validate(e) for e in row.exercises],
        pain_during=row.pain_during,
        pain_after=row.pain_after,
        side=row.side,  # type: ignore[arg-type]  # str column written from the Literal
        pain_log_ids=pain_log_ids,
        note=row.note,
        created_at=row.created_at,
        actor=row.actor,
    )


def _linked_log_ids(
    session: Session, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each session's pain logs: `during` first, then `after`."""
    ids: dict[uuid.UUID, list[uuid.UUID]] = {sid: [] for sid in session_ids}
    if session_ids:
        rows = session.exec(
            select(PainLog.session_id, PainLog.context, PainLog.id)
            .where(col(PainLog.session_id).in_(session_ids))
            .where(col(PainLog.deleted_at).is_(None))
        ).all()
        for session_id, _context, log_id in sorted(rows, key=lambda r: r[1] != PainContext.during):
            ids[session_id].append(log_id)  # type: ignore[index]  # not None: selected by it
    return ids


def create_session(
    session: Session, principal: Principal, client: Client, payload: SessionCreate
) -> Created:
    enrollment = plans.require_active_enrollment(session, client, for_write=True)
    digest = body_hash(payload)
    existing = stored_retry(
        session,
        ExerciseSession,
        payload.id,
        # A deleted session's id stays spent, as a pain log's does.
        lambda s: s.client_id == client.id and s.body_hash == digest and s.deleted_at is None,
    )
    if existing is not None:
        return 200, session_public(existing, _linked_log_ids(session, [existing.id])[existing.id])
    _not_before_start(enrollment, payload.performed_at, ["body", "performed_at"])
    session_id = payload.id or uuid.uuid4()
    position = position_of(
        SessionEntry(
            str(session_id), payload.performed_at, tuple(e.exercise for e in payload.exercises)
        )
    )
    _check_exercises(session, client, enrollment, payload.exercises, position)
    row = ExerciseSession(
        id=session_id,
        client_id=client.id,
        enrollment_id=enrollment.id,
        performed_at=payload.performed_at,
        exercises=[e.model_dump(mode="json", exclude_none=True) for e in payload.exercises],
        pain_during=payload.pain_during,
        pain_after=payload.pain_after,
        side=payload.side,
        note=payload.note,
        body_hash=digest,
        created_by=principal.id,
        actor_role=principal.role,
        actor_key_id=principal.actor.api_key_id,
    )
    session.add(row)
    session.flush()
    log_ids = []
    added: list[Item] = [timeline.session_entry(row)]
    for context, score in (
        (PainContext.during, payload.pain_during),
        (PainContext.after, payload.pain_after),
    ):
        if score is None:
            continue
        # Derived ids: the same session always makes the same pain logs.
        log = PainLogCreate(
            id=uuid.uuid5(row.id, context.value),
            score=score,
            context=context,
            recorded_at=payload.performed_at,
            side=payload.side,
            note=None,
        )
        pain = _new_pain_log(principal, client, enrollment, log, body_hash(log), session_id=row.id)
        if session.get(PainLog, pain.id) is not None:
            raise id_conflict(["body", "id"])
        session.add(pain)
        log_ids.append(pain.id)
        added.append(timeline.pain_entry(pain))
    session.flush()
    replay.record(session, enrollment, client, added, principal.actor)
    return 201, session_public(row, log_ids)


def list_sessions(
    session: Session,
    access: ClientAccess,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
    lean: bool = False,
) -> SessionPage | bytes:
    """`lean`: a phone's plain list may be answered by the lean read, as JSON."""
    if lean and since is None and until is None:
        page = lists.session_page(session, access, limit, cursor)
        if page is not None:
            return page
    principal, client = access.resolve(session)
    query = (
        select(ExerciseSession)
        .where(ExerciseSession.client_id == client.id)
        .where(col(ExerciseSession.deleted_at).is_(None))
    )
    query = _time_window(query, col(ExerciseSession.performed_at), since, until)
    rows, next_cursor = keyset_page(
        session,
        query,
        moment=col(ExerciseSession.performed_at),
        ident=col(ExerciseSession.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    linked = _linked_log_ids(session, [r.id for r in rows])
    return SessionPage(
        items=[_as_read(session_public(r, linked[r.id]), reader_of(principal)) for r in rows],
        next_cursor=next_cursor,
    )


# --- assessments ----------------------------------------------------------------------------


def assessment_public(row: Assessment) -> AssessmentPublic:
    return AssessmentPublic.model_validate(row, from_attributes=True)


def create_assessment(
    session: Session, principal: Principal, client: Client, payload: AssessmentCreate
) -> Created:
    enrollment = plans.require_active_enrollment(session, client, for_write=True)
    digest = body_hash(payload)
    existing = stored_retry(
        session,
        Assessment,
        payload.id,
        lambda a: a.client_id == client.id and a.body_hash == digest and a.deleted_at is None,
    )
    if existing is not None:
        return 200, assessment_public(existing)
    _not_before_start(enrollment, payload.performed_at, ["body", "performed_at"])
    row = Assessment(
        id=payload.id or uuid.uuid4(),
        client_id=client.id,
        enrollment_id=enrollment.id,
        kind=payload.kind,
        left=payload.left,
        right=payload.right,
        performed_at=payload.performed_at,
        note=payload.note,
        body_hash=digest,
        created_by=principal.id,
        actor_role=principal.role,
        actor_key_id=principal.actor.api_key_id,
    )
    session.add(row)
    session.flush()
    replay.record(session, enrollment, client, [timeline.assessment_entry(row)], principal.actor)
    return 201, assessment_public(row)


def list_assessments(
    session: Session,
    access: ClientAccess,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> AssessmentPage:
    principal, client = access.resolve(session)
    query = (
        select(Assessment)
        .where(Assessment.client_id == client.id)
        .where(col(Assessment.deleted_at).is_(None))
    )
    query = _time_window(query, col(Assessment.performed_at), since, until)
    rows, next_cursor = keyset_page(
        session,
        query,
        moment=col(Assessment.performed_at),
        ident=col(Assessment.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    reader = reader_of(principal)
    return AssessmentPage(
        items=[_as_read(assessment_public(r), reader) for r in rows], next_cursor=next_cursor
    )


# --- corrections ----------------------------------------------------------------------------


def delete_session(session: Session, access: ClientAccess, session_id: uuid.UUID) -> None:
    """A session logged by mistake: it and the pain logs it made are marked deleted (their
    ids stay spent), and the engine re-evaluates from their moment, as for a pain log."""
    principal, client = access.resolve(session)
    row = session.get(ExerciseSession, session_id)
    if row is None or row.client_id != client.id or row.deleted_at is not None:
        raise NotFoundError(f"No session {session_id}.")
    now = utcnow()
    row.deleted_at = now
    session.add(row)
    removed: list[Item] = [timeline.session_entry(row)]
    linked = session.exec(
        select(PainLog).where(PainLog.session_id == row.id).where(col(PainLog.deleted_at).is_(None))
    )
    for log in linked:
        log.deleted_at = now
        session.add(log)
        removed.append(timeline.pain_entry(log))
    session.flush()
    _reevaluate_without(session, principal, client, row.enrollment_id, removed)


def delete_assessment(session: Session, access: ClientAccess, assessment_id: uuid.UUID) -> None:
    principal, client = access.resolve(session)
    row = session.get(Assessment, assessment_id)
    if row is None or row.client_id != client.id or row.deleted_at is not None:
        raise NotFoundError(f"No assessment {assessment_id}.")
    row.deleted_at = utcnow()
    session.add(row)
    session.flush()
    _reevaluate_without(
        session, principal, client, row.enrollment_id, [timeline.assessment_entry(row)]
    )


def _reevaluate_without(
    session: Session,
    principal: Principal,
    client: Client,
    enrollment_id: uuid.UUID,
    removed: Sequence[Item],
) -> None:
    enrollment = session.get(Enrollment, enrollment_id)
    assert enrollment is not None  # a foreign key
    since = min(map(position_of, removed))
    replay.reevaluate(session, enrollment, client, since, actor=principal.actor, bounded=True)
