"""The caller's data as one JSON document (GDPR article 20): the account, its sign-ins, and
for a client its history (every enrolment, deleted logs and retracted decisions too). The
dated items come over a window of dates (app/core/windows.py), so one answer stays bounded
however long the history: older ones come with `from`/`to`."""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from app.accounts.access import Caller
from app.accounts.person_schemas import (
    CredentialRecord,
    ExportedAssessment,
    ExportedPainLog,
    ExportedSession,
    OverrideRecord,
    PersonExport,
)
from app.accounts.service import account_public, client_public
from app.core.responses import model_json
from app.core.windows import check_items, window
from app.models import (
    Assessment,
    Client,
    Credential,
    EngineEvent,
    Enrollment,
    ExerciseSession,
    Override,
    PainLog,
)
from app.progression.views import event_public
from app.tracking.service import enrollment_public, session_public


def export_me(
    session: Session, caller: Caller, start: date | None = None, end: date | None = None
) -> PersonExport:
    low, high = window(start, end)
    principal = caller.principal(session)
    own = session.exec(select(Client).where(col(Client.account_id) == principal.id)).first()
    credentials = session.exec(
        select(Credential)
        .where(col(Credential.account_id) == principal.id)
        .order_by(col(Credential.created_at))
    )
    document = export_client(session, own, (low, high)) if own is not None else _empty()
    document.dated_from, document.dated_to = low, high
    document.account = account_public(session, principal.account, own.id if own else None)
    document.credentials = [
        CredentialRecord.model_validate(c, from_attributes=True) for c in credentials
    ]
    return document


def export_me_json(
    session: Session, caller: Caller, start: date | None = None, end: date | None = None
) -> bytes:
    """`export_me` rendered on the unit's thread: a large document is not serialised on the
    event loop, where every other request would wait for it."""
    return model_json(export_me(session, caller, start, end))


def _empty() -> PersonExport:
    return PersonExport(
        exported_at=datetime.now(UTC),
        account=None,
        client=None,
        timezone_changes=[],
        credentials=[],
        enrollments=[],
        pain_logs=[],
        sessions=[],
        assessments=[],
        overrides=[],
        events=[],
    )


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _day_after(day: date) -> datetime:
    return _moment(day) + timedelta(days=1) if day < date.max else datetime.max.replace(tzinfo=UTC)


def export_client(session: Session, client: Client, dates: tuple[date, date]) -> PersonExport:
    """One client profile's history, oldest first; dated items on the UTC `dates` (first and
    last included)."""
    of_client = client.id
    low, high = _moment(dates[0]), _day_after(dates[1])

    def dated(model: Any, moment: Any) -> Any:
        return select(model).where(model.client_id == of_client).where(moment >= low, moment < high)

    kinds = [
        (ExerciseSession, col(ExerciseSession.performed_at)),
        (PainLog, col(PainLog.recorded_at)),
        (Assessment, col(Assessment.performed_at)),
        (Override, col(Override.at)),
        (EngineEvent, col(EngineEvent.at)),
    ]
    # Counted before any is read: a window holding too many is refused, not built.
    check_items(
        sum(
            session.execute(select(func.count()).select_from(dated(*kind).subquery())).one()[0]
            for kind in kinds
        )
    )

    def rows(model: Any, moment: Any, *, whole: bool = False) -> list[Any]:
        query = select(model).where(model.client_id == of_client) if whole else dated(model, moment)
        return list(session.exec(query.order_by(moment)))

    sessions = rows(ExerciseSession, col(ExerciseSession.performed_at))
    logs = rows(PainLog, col(PainLog.recorded_at))
    linked: dict[uuid.UUID, list[uuid.UUID]] = {s.id: [] for s in sessions}
    for log in logs:
        if log.session_id is not None and log.session_id in linked:
            linked[log.session_id].append(log.id)
    document = _empty()
    document.client = client_public(client)
    document.timezone_changes = list(client.timezone_changes)
    document.enrollments = [
        enrollment_public(session, e)
        for e in rows(Enrollment, col(Enrollment.started_at), whole=True)
    ]
    # Read straight from the rows (the public shape and `deleted_at`): validated once.
    document.pain_logs = [ExportedPainLog.model_validate(log, from_attributes=True) for log in logs]
    document.sessions = [
        ExportedSession(
            **session_public(s, linked[s.id]).model_dump(),
            deleted_at=s.deleted_at,
        )
        for s in sessions
    ]
    document.assessments = [
        ExportedAssessment.model_validate(a, from_attributes=True)
        for a in rows(Assessment, col(Assessment.performed_at))
    ]
    document.overrides = [
        OverrideRecord.model_validate(o, from_attributes=True)
        for o in rows(Override, col(Override.at))
    ]
    document.events = [event_public(e) for e in rows(EngineEvent, col(EngineEvent.at))]
    return document
