"""The timeline as stored: rows as the engine's items, and the queries that read an
enrolment's items from a moment on."""

from collections import namedtuple
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, union_all
from sqlmodel import Session, col

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


# What the replay reads: every kind of item of one enrolment from a moment on, as the
# columns its entry needs (rows, not ORM objects: a replay may read a day's worth).
_ITEM_QUERIES = (
    (
        pain_entry,
        select(
            col(PainLog.id),
            col(PainLog.recorded_at),
            col(PainLog.score),
            col(PainLog.context),
            col(PainLog.flags),
        )
        .where(col(PainLog.enrollment_id) == bindparam("enrollment_id"))
        .where(col(PainLog.deleted_at).is_(None))
        .where(col(PainLog.recorded_at) >= bindparam("since")),
    ),
    (
        session_entry,
        select(
            col(ExerciseSession.id),
            col(ExerciseSession.performed_at),
            col(ExerciseSession.exercises),
        )
        .where(col(ExerciseSession.enrollment_id) == bindparam("enrollment_id"))
        .where(col(ExerciseSession.deleted_at).is_(None))
        .where(col(ExerciseSession.performed_at) >= bindparam("since")),
    ),
    (
        assessment_entry,
        select(
            col(Assessment.id),
            col(Assessment.performed_at),
            col(Assessment.left),
            col(Assessment.right),
        )
        .where(col(Assessment.enrollment_id) == bindparam("enrollment_id"))
        .where(col(Assessment.deleted_at).is_(None))
        .where(col(Assessment.performed_at) >= bindparam("since")),
    ),
    (
        override_entry,
        select(
            col(Override.id),
            col(Override.at),
            col(Override.action),
            col(Override.stage),
            col(Override.reason),
            col(Override.by),
        )
        .where(col(Override.enrollment_id) == bindparam("enrollment_id"))
        .where(col(Override.at) >= bindparam("since")),
    ),
)

# How many items an enrolment holds in one span of time (a local day), every kind counted.
_ITEMS_BETWEEN = union_all(
    *(
        select(func.count())
        .select_from(model)
        .where(col(model.enrollment_id) == bindparam("enrollment_id"))
        .where(moment >= bindparam("start"))
        .where(moment < bindparam("end"))
        .where(*extra)
        for model, moment, extra in (
            (PainLog, col(PainLog.recorded_at), (col(PainLog.deleted_at).is_(None),)),
            (
                ExerciseSession,
                col(ExerciseSession.performed_at),
                (col(ExerciseSession.deleted_at).is_(None),),
            ),
            (Assessment, col(Assessment.performed_at), (col(Assessment.deleted_at).is_(None),)),
            (Override, col(Override.at), ()),
        )
    )
)


# The same count as one value, to read beside something else in one statement.
_COUNTS = _ITEMS_BETWEEN.subquery()
ITEMS_BETWEEN_TOTAL = select(func.coalesce(func.sum(next(iter(_COUNTS.c))), 0).label("item_count"))


def items_between(session: Session, enrollment: Enrollment, start: datetime, end: datetime) -> int:
    params = {"enrollment_id": enrollment.id, "start": start, "end": end}
    counts: list[int] = list(session.connection().execute(_ITEMS_BETWEEN, params).scalars())
    return sum(counts)


def items_after(session: Session, enrollment: Enrollment, after: Position | None) -> list[Item]:
    """Every item of the enrolment after `after` (all of them, the enrolment too, if None)."""
    params = {
        "enrollment_id": enrollment.id,
        "since": after.at if after is not None else enrollment.started_at,
    }
    items: list[Item] = []
    for entry, query in _ITEM_QUERIES:
        items += map(entry, session.connection().execute(query, params))  # type: ignore[arg-type]  # rows as models
    if after is None:
        items.append(enrolled_entry(enrollment))
        return sorted(items, key=position_of)
    return sorted((i for i in items if position_of(i) > after), key=position_of)


# An enrolment's stored items as plain tuples, one list per kind in `_ITEM_QUERIES`' order:
# what a replay in the CPU worker process is sent (12,000 tuples pickle in a few
# milliseconds; as the engine's dataclasses, a hundred times that, holding the GIL).
StoredRows = list[list[tuple[Any, ...]]]
# Each kind's tuples given back the names of its query's columns, for its entry function.
_ROW_SHAPES: list[Callable[..., Any]] = [
    namedtuple(f"Row{n}", [column.key for column in query.selected_columns])  # type: ignore[misc]  # names known only from the query
    for n, (_, query) in enumerate(_ITEM_QUERIES)
]


def stored_rows(session: Session, enrollment: Enrollment) -> StoredRows:
    """Every item of the enrolment as plain tuples (see `items_of`)."""
    params = {"enrollment_id": enrollment.id, "since": enrollment.started_at}
    return [
        [tuple(row) for row in session.connection().execute(query, params)]
        for _, query in _ITEM_QUERIES
    ]


def items_of(rows: StoredRows, enrolled: Enrolled) -> list[Item]:
    """`stored_rows`' tuples as the engine's items, the enrolment first, in order: what
    `items_after(session, enrollment, None)` reads. Pure (it runs in the worker process)."""
    items: list[Item] = [enrolled]
    entries: list[Callable[[Any], Item]] = [entry for entry, _ in _ITEM_QUERIES]
    for entry, shape, kind in zip(entries, _ROW_SHAPES, rows, strict=True):
        items += (entry(shape(*row)) for row in kind)
    return sorted(items, key=position_of)
