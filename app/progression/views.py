"""What a client's progress looks like from outside: progress, today's routine, the
decision log."""

import uuid
from collections.abc import Set
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, col, select

from app.accounts.access import ClientAccess
from app.catalogue.schemas import Dose
from app.core.actors import EVERYTHING, Reader
from app.core.pagination import keyset_page
from app.models import EngineEvent, Enrollment
from app.progression import adherence, adherence_store, engine
from app.progression.model import (
    Plan,
    State,
    Unlock,
)
from app.progression.plans import (
    exercise_catalogue,
    plan_for,
    protocol_document,
    require_active_enrollment,
    shown_enrollment,
)
from app.progression.previous_coach import (
    WITHHELD,
    decision_as_read,
    reader_of,
    withheld_decisions,
    withheld_unlocks,
)
from app.progression.replay import current_state
from app.progression.schemas import (
    Adherence,
    AdherenceWeek,
    CheckIn,
    Criterion,
    Event,
    EventPage,
    GateState,
    Progress,
    RoutineEntry,
    StageProgress,
    Today,
)
from app.tracking import lists


def _reason(unlock: Unlock | None, withheld: Set[datetime]) -> str | None:
    if unlock is None:
        return None
    return WITHHELD if unlock.by == "coach" and unlock.at in withheld else unlock.reason


def stages_view(
    view: engine.ProgressView, withheld: Set[datetime] = frozenset()
) -> list[StageProgress]:
    """The stages; a stage another coach opened shows without its reason (`withheld`: the
    moments of that coach's overrides)."""
    return [
        StageProgress(
            order=s.stage.order,
            slug=s.stage.slug,
            title=s.stage.title,
            state="unlocked" if s.unlock else "locked",
            unlocked_at=s.unlock.at if s.unlock else None,
            unlocked_by=s.unlock.by if s.unlock else None,
            reason=_reason(s.unlock, withheld),
            gate=GateState(
                ready=s.gate.ready,
                criteria=[
                    Criterion(
                        name=c.name, required=c.required, actual=c.actual, met=c.met, note=c.note
                    )
                    for c in s.gate.criteria
                ],
            )
            if s.gate
            else None,
        )
        for s in view.stages
    ]


def progress(session: Session, access: ClientAccess) -> Progress:
    """The active enrolment's progress, or where the last one ended."""
    principal, client = access.resolve(session)
    enrollment = shown_enrollment(session, client)
    plan = plan_for(session, enrollment, client)
    withheld = withheld_unlocks(session, reader_of(principal), enrollment.id)
    now = datetime.now(UTC)
    weeks = weeks_of(session, enrollment, plan, now)
    ended = engine.local_date(plan, enrollment.ended_at) if enrollment.ended_at else None
    state = current_state(session, enrollment)
    return progress_answer(plan, state, now, weeks, withheld, ended=ended)


def weeks_of(session: Session, enrollment: Enrollment, plan: Plan, now: datetime) -> dict[str, Any]:
    """The enrolment's stored weeks; counted here for one stored before v1.2."""
    if enrollment.adherence is not None:
        return enrollment.adherence
    return adherence_store.compute(session, enrollment, plan, now)


def adherence_answer(weeks: dict[str, Any], today: date, ended: date | None) -> Adherence:
    found = adherence.figures(weeks, today, ended)

    def shown(week: adherence.Week) -> AdherenceWeek:
        return AdherenceWeek(
            week_start=week.start,
            planned=week.planned or 0,
            logged=week.logged,
            ratio=week.ratio or 0.0,
        )

    return Adherence(
        this_week=shown(found.this_week) if found.this_week else None,
        last_4_weeks=[shown(w) for w in found.last_4_weeks],
        last_2_weeks=found.last_2_weeks,
        overall=found.overall,
    )


def progress_answer(
    plan: Plan,
    state: State,
    now: datetime,
    weeks: dict[str, Any],
    withheld: Set[datetime] = frozenset(),
    *,
    ended: date | None = None,
) -> Progress:
    view = engine.progress(plan, state, now)
    return Progress(
        enrollment_id=uuid.UUID(plan.enrollment_id),
        protocol=plan.protocol,
        version=plan.version,
        status=view.status,
        baseline_pain=plan.baseline_pain,
        current_pain=view.current_pain,
        previous_pain=view.previous_pain,
        stages=stages_view(view, withheld),
        advice=list(view.advice),
        adherence=adherence_answer(weeks, engine.local_date(plan, now), ended),
        evaluated_at=now,
    )


def today(session: Session, access: ClientAccess, day: date | None) -> Today:
    client = access.client(session)
    enrollment = require_active_enrollment(session, client)
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
                dose=Dose.model_validate(r.dose),
            )
            for r in view.routine
        ],
        check_ins_due=[CheckIn(**c) for c in view.check_ins_due],  # type: ignore[arg-type]  # engine's plain dicts
        advice=list(view.advice),
    )


def event_public(row: EngineEvent, reader: Reader = EVERYTHING, *, withheld: bool = False) -> Event:
    """A decision as `reader` may see it (`previous_coach`)."""
    return decision_as_read(
        Event.model_validate(row, from_attributes=True), reader, withheld=withheld
    )


def list_events(
    session: Session,
    access: ClientAccess,
    *,
    types: list[str] | None,
    include_retracted: bool,
    limit: int,
    cursor: str | None,
    lean: bool = False,
) -> EventPage | bytes:
    """`lean`: a phone's plain list may be answered by the lean read, as JSON."""
    if lean and not types and not include_retracted:
        page = lists.event_page(session, access, limit, cursor)
        if page is not None:
            return page
    principal, client = access.resolve(session)
    query = select(EngineEvent).where(EngineEvent.client_id == client.id)
    if types:
        query = query.where(col(EngineEvent.type).in_(types))
    if not include_retracted:
        query = query.where(col(EngineEvent.retracted_at).is_(None))
    rows, next_cursor = keyset_page(
        session,
        query,
        moment=col(EngineEvent.at),
        ident=col(EngineEvent.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    reader = reader_of(principal)
    withheld = withheld_decisions(session, reader, rows)
    return EventPage(
        items=[event_public(r, reader, withheld=r.id in withheld) for r in rows],
        next_cursor=next_cursor,
    )
