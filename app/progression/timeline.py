"""The timeline as stored: rows as the engine's items, and the queries that read an
enrolment's items from a moment on."""

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.models import (
    Assessment,
    Enrollment,
    ExerciseSession,
    Override,
    PainLog,
)
from app.progression.model import (
    AssessmentEntry,
    Enrolled,
    Item,
    OverrideEntry,
    PainEntry,
    Position,
    SessionEntry,
    position_of,
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
    return OverrideEntry(str(row.id), row.at, row.action, row.stage, row.reason, row.by)  # type: ignore[arg-type]  # str columns written from Literals


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


def items_after(session: Session, enrollment: Enrollment, after: Position | None) -> list[Item]:
    """Every item of the enrolment after `after` (all of them, the enrolment too, if None)."""
    params = {
        "enrollment_id": enrollment.id,
        "since": after.at if after is not None else enrollment.started_at,
    }
    items: list[Item] = []
    for entry, query in _ITEM_QUERIES:
        items += map(entry, session.exec(query, params=params))  # type: ignore[arg-type]  # rows fit their entry
    if after is None:
        items.append(enrolled_entry(enrollment))
        return sorted(items, key=position_of)
    return sorted((i for i in items if position_of(i) > after), key=position_of)
