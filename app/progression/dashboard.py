"""The coach's list of clients: where each stands now, filtered and sorted in the database,
in one statement whatever the page size.

Status, stage and last log come from the enrolment's standing columns, which the replay
writes with the checkpoint they are read from (`replay._store_standing`); the current pain
depends on today's date, so it is computed from the newest checkpoint's daily pain, read by
the same statement."""

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, Text, and_, case, cast, func, literal, or_, true
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.accounts.access import Caller
from app.accounts.schemas import (
    ClientSort,
    ClientStatus,
    ClientSummary,
    ClientSummaryPage,
)
from app.accounts.service import client_public
from app.accounts.visibility import visible_condition
from app.core.pagination import _invalid_cursor, decode_cursor, encode_cursor
from app.models import AdherenceStanding, Client, EngineCheckpoint, Enrollment
from app.models.tracking import ENROLLMENT_IS_ACTIVE
from app.progression import engine
from app.progression.model import State
from app.progression.plans import zones

_NEWEST_STATE = (
    select(cast(col(EngineCheckpoint.state), Text))
    .where(col(EngineCheckpoint.enrollment_id) == Enrollment.id)
    .order_by(col(EngineCheckpoint.day).desc())
    .limit(1)
    .correlate(Enrollment)
    .scalar_subquery()
)


def _adherence_now(now: datetime) -> Any:
    """The stretch of the enrolment's `adherence_14d` that holds now (the replay writes them
    from its write's week on, the last open-ended: `adherence_store`)."""
    return and_(
        col(AdherenceStanding.enrollment_id) == Enrollment.id,
        col(AdherenceStanding.from_at) <= now,
        col(AdherenceStanding.until_at) > now,
    )


def _status(now: datetime) -> Any:
    return case(
        (col(Enrollment.id).is_(None), literal("not_enrolled")),
        (col(Enrollment.referred) == true(), literal("refer")),
        (col(Enrollment.hold_ends_at) > now, literal("hold")),
        (col(Enrollment.resolved) == true(), literal("resolved")),
        else_=literal("progressing"),
    )


def _current_pain(state_text: str | None, client: Client, now: datetime) -> float | None:
    if state_text is None:
        return None
    day_pain = json.loads(state_text)["day_pain"]
    state = State(day_pain={date.fromisoformat(d): p for d, p in day_pain.items()})
    # Today as the engine dates it: the zone in force now, dates never going back.
    first, changes = zones(client.timezone, client.timezone_changes)
    return engine.figure(engine.windows(state, engine.zoned_date(first, changes, now)).current)


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    key = decode_cursor(cursor, {"t": str, "id": str})
    try:
        moment = datetime.fromisoformat(key["t"])
        if moment.tzinfo is None:
            raise ValueError("naive moment")
        return moment.astimezone(UTC), uuid.UUID(key["id"])
    except (ValueError, OverflowError):
        raise _invalid_cursor() from None


def list_clients(
    session: Session,
    caller: Caller,
    *,
    status: ClientStatus | None,
    q: str | None,
    sort: ClientSort,
    adherence_below: float | None = None,
    limit: int,
    cursor: str | None,
) -> ClientSummaryPage:
    """A coach's clients (a client: itself), oldest first or most recently active first."""
    principal = caller.principal(session)
    now = datetime.now(UTC)
    status_of = _status(now).label("status")
    newest = sort == "last_activity"
    # Last activity: the latest log, or when the client was added if it never logged.
    moment = (
        func.coalesce(col(Enrollment.last_logged_at), col(Client.created_at))
        if newest
        else col(Client.created_at)
    )
    query: Select[Any] = (
        sa_select(
            Client,
            status_of,
            col(Enrollment.top_stage),
            col(Enrollment.last_logged_at),
            _NEWEST_STATE,
            moment.label("moment"),
            col(AdherenceStanding.adherence_14d),
        )
        .select_from(Client)
        .outerjoin(Enrollment, and_(col(Enrollment.client_id) == Client.id, ENROLLMENT_IS_ACTIVE))
        .outerjoin(AdherenceStanding, _adherence_now(now))
        .where(visible_condition(principal))
    )
    if adherence_below is not None:
        query = query.where(col(AdherenceStanding.adherence_14d) < adherence_below)
    if status is not None:
        query = query.where(_status(now) == status)
    if q:
        needle = q.lower()
        query = query.where(
            or_(
                func.lower(col(Client.display_name)).contains(needle, autoescape=True),
                func.lower(col(Client.external_id)).contains(needle, autoescape=True),
            )
        )
    if cursor is not None:
        moment_after, id_after = _after(cursor)
        if newest:
            query = query.where(
                or_(moment < moment_after, and_(moment == moment_after, col(Client.id) < id_after))
            )
        else:
            query = query.where(
                or_(moment > moment_after, and_(moment == moment_after, col(Client.id) > id_after))
            )
    order = (moment.desc(), col(Client.id).desc()) if newest else (moment, col(Client.id))
    rows = session.execute(query.order_by(*order).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor({"t": _aware(last.moment).isoformat(), "id": str(last[0].id)})
    items = [
        ClientSummary(
            **client_public(client).model_dump(),
            status=client_status,
            current_pain=_current_pain(state, client, now),
            stage=stage,
            last_logged_at=last_logged_at,
            adherence_14d=adherence_14d,
        )
        for client, client_status, stage, last_logged_at, state, _moment, adherence_14d in rows
    ]
    return ClientSummaryPage(items=items, next_cursor=next_cursor)


def _aware(moment: datetime | str) -> datetime:
    # COALESCE keeps the column type on PostgreSQL; SQLite may answer its stored text.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
