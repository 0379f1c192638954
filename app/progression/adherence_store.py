"""Adherence kept with the enrolment: the replay stores each week's planned and logged
sessions (`Enrollment.adherence`) and the dashboard's `adherence_14d` stretches
(`AdherenceStanding`) in the write's unit of work; reads only look them up (`adherence.py`
computes both)."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, get_args

from sqlalchemy import bindparam, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, delete

from app.models import AdherenceStanding, EngineEvent, Enrollment, ExerciseSession
from app.progression import adherence, engine
from app.progression.model import Decision, DecisionType, Item, Plan, SessionEntry
from app.progression.plans import exercise_catalogue, protocol_document

# Every decision but an override: the engine's own course of the enrolment.
_COURSE_TYPES = tuple(kind for kind in get_args(DecisionType) if kind != "override")
_DECISIONS = (
    sa_select(
        col(EngineEvent.type),
        col(EngineEvent.local_date),
        col(EngineEvent.stage),
        col(EngineEvent.data),
    )
    .where(col(EngineEvent.enrollment_id) == bindparam("enrollment_id"))
    .where(col(EngineEvent.retracted_at).is_(None))
    .where(col(EngineEvent.type).in_(_COURSE_TYPES))
    .order_by(col(EngineEvent.position))
)
_SESSIONS = (
    sa_select(col(ExerciseSession.performed_at))
    .where(col(ExerciseSession.enrollment_id) == bindparam("enrollment_id"))
    .where(col(ExerciseSession.deleted_at).is_(None))
)
_DROP_STANDING = delete(AdherenceStanding).where(
    col(AdherenceStanding.enrollment_id) == bindparam("enrollment_id")
)


def doses_of(document: dict[str, Any]) -> adherence.Doses:
    return {slug: (e["dose"], e["easy_dose"]) for slug, e in exercise_catalogue(document).items()}


def compute(session: Session, enrollment: Enrollment, plan: Plan, now: datetime) -> dict[str, Any]:
    """The enrolment's weeks from its stored decisions and sessions (flushed first)."""
    session.flush()
    connection = session.connection()
    params = {"enrollment_id": enrollment.id}
    rows = connection.execute(_DECISIONS, params).all()
    course = adherence.course_of(
        (t, d if isinstance(d, date) else date.fromisoformat(d), s, data) for t, d, s, data in rows
    )
    days = [engine.local_date(plan, _aware(at)) for (at,) in connection.execute(_SESSIONS, params)]
    document = protocol_document(session, plan.protocol, plan.version)
    logged = adherence.logged_by_week(plan, days)
    return adherence.summary(plan, course, logged, doses_of(document), engine.local_date(plan, now))


def store(
    session: Session,
    enrollment: Enrollment,
    plan: Plan,
    appended: Sequence[Item] | None,
    decisions: Sequence[Decision],
) -> None:
    """After a replay: the weeks on the enrolment, the dashboard's stretches beside it. An
    append (`appended`: its items) goes on from the stored weeks with its own items and
    decisions, reading no table; any other replay counts them all again."""
    now = datetime.now(UTC)
    if appended is not None and enrollment.adherence is not None:
        document = protocol_document(session, plan.protocol, plan.version)
        stored = adherence.go_on(
            plan,
            enrollment.adherence,
            ((d.type, d.day, d.stage, d.data) for d in decisions),
            (
                d
                for d in (
                    engine.local_date(plan, i.at) for i in appended if isinstance(i, SessionEntry)
                )
            ),
            doses_of(document),
            engine.local_date(plan, now),
        )
    else:
        stored = compute(session, enrollment, plan, now)
    # The stretches start from the week of the write: the same weeks written in the same
    # week need no new rows (most pain logs change neither).
    stored["stretches_from"] = adherence.index_of(stored, engine.local_date(plan, now))
    if stored == enrollment.adherence:
        return
    enrollment.adherence = stored
    session.add(enrollment)
    connection = session.connection()
    connection.execute(_DROP_STANDING, {"enrollment_id": enrollment.id})
    rows = [
        {"enrollment_id": enrollment.id, "from_at": a, "until_at": b, "adherence_14d": value}
        for a, b, value in adherence.steps(plan, stored, now)
    ]
    connection.execute(insert(AdherenceStanding), rows)


def _aware(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
