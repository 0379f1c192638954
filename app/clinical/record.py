"""One read of a client's record for the clinical views (FHIR, chart, report): the client,
enrolments with their protocol documents, pain logs, the decisions still standing and the
overrides with who made them. A plain function taking a Session, run in one unit of work."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, or_, select

from app.accounts.access import ClientAccess
from app.core.pagination import keyset_page
from app.core.windows import check_items
from app.models import (
    Account,
    Assessment,
    Client,
    EngineEvent,
    Enrollment,
    ExerciseSession,
    Override,
    PainLog,
)
from app.models.base import utcnow
from app.progression.engine import zoned_date, zoned_day_start
from app.progression.model import ZoneChange
from app.progression.plans import protocol_document, zones
from app.progression.previous_coach import (
    WITHHELD,
    reader_of,
    withheld_decisions,
    withheld_words,
)


@dataclass(frozen=True, slots=True)
class OverrideMade:
    override: Override
    by_name: str  # the account's display name, as the report shows it


@dataclass(frozen=True, slots=True)
class ClinicalRecord:
    client: Client
    enrollments: list[Enrollment]  # oldest first
    documents: dict[tuple[str, int], dict[str, Any]]  # (protocol, version) -> its document
    # Oldest first; deleted ones only in an increment (`since`). Rows with PainLog's
    # columns (read as rows, see `read_record`), not PainLog objects.
    pain_logs: list[PainLog]
    events: list[EngineEvent]  # standing decisions, oldest first
    overrides: list[OverrideMade]  # oldest first
    generated_at: datetime
    # When the pain logs are one page of them (FHIR): the cursor of the next, None at the end.
    next_cursor: str | None = None
    # Read for the chart and the report only (`extras`): sessions' moments in the window,
    # and every squat test, oldest first.
    sessions: list[datetime] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)

    @property
    def zones(self) -> tuple[str, tuple[ZoneChange, ...]]:
        """The client's first zone and its moves (`plans.zones`)."""
        return zones(self.client.timezone, self.client.timezone_changes)

    def zone_at(self, moment: datetime) -> ZoneInfo:
        """The zone the client lived in at `moment`, for showing a time of day."""
        first, changes = self.zones
        current = first
        for change in changes:
            if moment >= change.at:
                current = change.timezone
        return ZoneInfo(current)

    def local_date(self, moment: datetime) -> date:
        # As the engine dates items: the zone in force then, so a move re-dates nothing.
        return zoned_date(*self.zones, moment)

    def document_of(self, enrollment: Enrollment) -> dict[str, Any]:
        return self.documents[(enrollment.protocol, enrollment.version)]


def _day_start(first: str, changes: tuple[ZoneChange, ...], day: date, later: int) -> datetime:
    """The first moment of the local date `later` days after `day`. Dates at the calendar's
    ends (0001-01-01, 9999-12-31 are valid `from`/`to`) may have no such moment datetime can
    hold: those start at its first or last moment, which bound nothing stored."""
    try:
        return zoned_day_start(first, changes, day + timedelta(days=later))
    except OverflowError:
        return (datetime.min if day.year == 1 else datetime.max).replace(tzinfo=UTC)


def _window(
    start: date | None, end: date | None, first: str, changes: tuple[ZoneChange, ...]
) -> tuple[datetime | None, ...]:
    """Local dates `from`..`to` (both included) as moments [start, end), dated as the engine
    dates them (the zone in force at each moment)."""
    return (
        _day_start(first, changes, start, 0) if start is not None else None,
        _day_start(first, changes, end, 1) if end is not None else None,
    )


# Who made another coach's override, as a coach reads the record (`previous_coach`).
ANOTHER_COACH = "A previous coach"


def _without_words(event: EngineEvent) -> EngineEvent:
    """A copy (never added to the session) of a decision made from another coach's override,
    without that coach's reason."""
    message, data = withheld_words(event.message, event.data)
    return EngineEvent(**{**event.model_dump(), "message": message, "data": data})


def read_record(
    session: Session,
    access: ClientAccess,
    *,
    since: datetime | None = None,
    start: date | None = None,
    end: date | None = None,
    page: tuple[int, str | None] | None = None,
    all_decisions: bool = False,
    bounded: bool = False,
    extras: bool = False,
) -> ClinicalRecord:
    """The client's record; 401/404 as every client-scoped read. `since`: only pain logs
    stored or deleted at or after it (a FHIR increment). `start`/`end`: only pain logs and
    decisions on those local dates (the chart's `from`/`to`). `page`: (how many, the
    cursor) of the pain logs, oldest first (FHIR's pages). `all_decisions`: every standing
    decision whatever `start`/`end` say (the report: a stage opened or a referral made before
    the window still stands; decisions are few, pain logs many). `bounded`: 422 when more
    pain logs than a window may hold (`check_items`) would be read. `extras`: the sessions
    in the window and the squat tests too (the chart and the report)."""
    principal, client = access.resolve(session)
    enrollments = list(
        session.exec(
            select(Enrollment)
            .where(Enrollment.client_id == client.id)
            .order_by(col(Enrollment.started_at), col(Enrollment.id))
        ).all()
    )
    documents = {
        (e.protocol, e.version): protocol_document(session, e.protocol, e.version)
        for e in enrollments
    }
    low, high = _window(start, end, *zones(client.timezone, client.timezone_changes))

    # As rows with the table's columns, not ORM objects: a window may hold thousands of
    # logs, and building an object for each costs about ten times reading it.
    logs = sa_select(*PainLog.__table__.columns).where(col(PainLog.client_id) == client.id)  # type: ignore[attr-defined]
    if since is None:
        logs = logs.where(col(PainLog.deleted_at).is_(None))
    else:
        logs = logs.where(or_(col(PainLog.created_at) >= since, col(PainLog.deleted_at) >= since))
    events = (
        select(EngineEvent)
        .where(EngineEvent.client_id == client.id)
        .where(col(EngineEvent.retracted_at).is_(None))
    )
    if low is not None:
        logs = logs.where(col(PainLog.recorded_at) >= low)
        if not all_decisions:
            events = events.where(col(EngineEvent.at) >= low)
    if high is not None:
        logs = logs.where(col(PainLog.recorded_at) < high)
        if not all_decisions:
            events = events.where(col(EngineEvent.at) < high)

    overrides = session.exec(
        select(Override, Account.display_name)
        .join(Account, col(Account.id) == Override.created_by)
        .where(Override.client_id == client.id)
        .order_by(col(Override.at), col(Override.id))
    ).all()
    standing = list(
        session.exec(events.order_by(col(EngineEvent.at), col(EngineEvent.position))).all()
    )
    reader = reader_of(principal)
    withheld = withheld_decisions(session, reader, standing)
    if bounded:
        check_items(session.execute(sa_select(func.count()).select_from(logs.subquery())).one()[0])
    next_cursor = None
    rows: Sequence[Any]
    if page is None:
        ordered = logs.order_by(col(PainLog.recorded_at), col(PainLog.id))
        rows = session.execute(ordered).all()
    else:
        rows, next_cursor = keyset_page(
            session,
            logs,  # type: ignore[arg-type]
            moment=col(PainLog.recorded_at),
            ident=col(PainLog.id),
            limit=page[0],
            cursor=page[1],
            newest_first=False,
        )
    sessions: list[datetime] = []
    assessments: list[Assessment] = []
    if extras:
        performed = select(col(ExerciseSession.performed_at)).where(
            col(ExerciseSession.client_id) == client.id, col(ExerciseSession.deleted_at).is_(None)
        )
        if low is not None:
            performed = performed.where(col(ExerciseSession.performed_at) >= low)
        if high is not None:
            performed = performed.where(col(ExerciseSession.performed_at) < high)
        sessions = list(session.exec(performed.order_by(col(ExerciseSession.performed_at))))
        assessments = list(
            session.exec(
                select(Assessment)
                .where(col(Assessment.client_id) == client.id)
                .where(col(Assessment.deleted_at).is_(None))
                .order_by(col(Assessment.performed_at))
            )
        )
    return ClinicalRecord(
        client=client,
        sessions=sessions,
        assessments=assessments,
        enrollments=enrollments,
        documents=documents,
        pain_logs=list(rows),  # type: ignore[arg-type]  # rows with its columns
        next_cursor=next_cursor,
        events=[_without_words(e) if e.id in withheld else e for e in standing],
        overrides=[
            OverrideMade(row, name)
            if reader.knows(row.actor_role, row.created_by)
            else OverrideMade(Override(**{**row.model_dump(), "reason": WITHHELD}), ANOTHER_COACH)
            for row, name in overrides
        ],
        generated_at=utcnow(),
    )
