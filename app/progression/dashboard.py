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

from pydantic_core import to_json
from sqlalchemy import Select, Text, and_, bindparam, case, cast, func, literal, or_, true
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
from app.accounts.visibility import visible_condition, visible_to_account
from app.core.caches import CacheSpec
from app.core.db import caches_of
from app.core.db.prepared import driver_rows
from app.core.pagination import _invalid_cursor, decode_cursor, encode_cursor
from app.core.rate_limit import VERIFIED
from app.core.row_json import json_value, moment_text, moment_value, uuid_text
from app.core.security import LIVE_CREDENTIAL, note_key_use, secret_hash
from app.models import (
    Account,
    AdherenceStanding,
    Client,
    Credential,
    EngineCheckpoint,
    Enrollment,
)
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


def _adherence_now(now: Any) -> Any:
    """The stretch of the enrolment's `adherence_14d` that holds now (the replay writes them
    from its write's week on, the last open-ended: `adherence_store`)."""
    return and_(
        col(AdherenceStanding.enrollment_id) == Enrollment.id,
        col(AdherenceStanding.from_at) <= now,
        col(AdherenceStanding.until_at) > now,
    )


def _status(now: Any) -> Any:
    return case(
        (col(Enrollment.id).is_(None), literal("not_enrolled")),
        (col(Enrollment.referred) == true(), literal("refer")),
        (col(Enrollment.hold_ends_at) > now, literal("hold")),
        (col(Enrollment.resolved) == true(), literal("resolved")),
        else_=literal("progressing"),
    )


# The current pain a checkpoint's state gives on a local date, kept by the two: a pure
# function of them, so a write that changes the state changes the key (never stale).
PAIN_NOW = CacheSpec("current pain by state and date", size=1024)


def _current_pain(
    session: Session, state_text: str | None, client: Client, now: datetime
) -> float | None:
    return _pain_now(session, state_text, client.timezone, client.timezone_changes, now)


def _pain_now(
    session: Session, state_text: str | None, timezone: str, timezone_changes: Any, now: datetime
) -> float | None:
    if state_text is None:
        return None
    # Today as the engine dates it: the zone in force now, dates never going back.
    first, changes = zones(timezone, json_value(timezone_changes))
    key = (state_text, engine.zoned_date(first, changes, now))
    kept = caches_of(session)[PAIN_NOW]
    found: tuple[float | None] | None = kept.get(key)
    if found is None:
        day_pain = json.loads(state_text)["day_pain"]
        state = State(day_pain={date.fromisoformat(d): p for d, p in day_pain.items()})
        found = kept.put(key, (engine.figure(engine.windows(state, key[1]).current),))
    return found[0]


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
    lean: bool = False,
) -> ClientSummaryPage | bytes:
    """A coach's clients (a client: itself), oldest first or most recently active first.
    `lean`: a plain page (no filter, oldest first) may be answered by `lean_page`."""
    if lean and status is None and q is None and adherence_below is None and sort == "created":
        page = lean_page(session, caller, limit, cursor)
        if page is not None:
            return page
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
            current_pain=_current_pain(session, state, client, now),
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


# --- the lean read: a plain page of the dashboard, oldest first --------------------------------


def _lean(*, after: bool) -> Select[Any]:
    # The caller's live credential, the clients it may see (a coach's, or a client account's
    # own) with their standing, and the page: one statement (docs/architecture.md).
    columns: list[Any] = [
        col(Client.id),
        col(Client.display_name),
        col(Client.timezone),
        col(Client.external_id),
        col(Client.coach_id),
        col(Client.account_id),
        col(Client.created_at),
        _status(bindparam("now")),
        col(Enrollment.top_stage),
        col(Enrollment.last_logged_at),
        _NEWEST_STATE,
        cast(col(Client.timezone_changes), Text),
        col(AdherenceStanding.adherence_14d),
        col(Credential.id),
        col(Credential.kind),
        col(Credential.last_used_at),
    ]
    statement: Select[Any] = (
        sa_select(*columns)
        .select_from(Credential)
        .join(Account, col(Account.id) == Credential.account_id)
        .join(Client, visible_to_account(me=False))
        .outerjoin(Enrollment, and_(col(Enrollment.client_id) == Client.id, ENROLLMENT_IS_ACTIVE))
        .outerjoin(AdherenceStanding, _adherence_now(bindparam("now")))
        .where(LIVE_CREDENTIAL)
        .order_by(col(Client.created_at), col(Client.id))
        .limit(bindparam("limit"))
    )
    if after:
        moment, ident = col(Client.created_at), col(Client.id)
        statement = statement.where(
            or_(
                moment > bindparam("moment_after"),
                and_(moment == bindparam("moment_after"), ident > bindparam("id_after")),
            )
        )
    return statement


_LEAN = {after: _lean(after=after) for after in (False, True)}


def lean_page(session: Session, caller: Caller, limit: int, cursor: str | None) -> bytes | None:
    """A page of the caller's clients, oldest first, as the page model's JSON straight from
    the rows (app/core/row_json.py); None when the statement found none (the full read says
    why: a 401, or an empty page)."""
    now = datetime.now(UTC)
    params: dict[str, Any] = {
        "secret_hash": secret_hash(caller.secret),
        "now": now,
        "limit": limit + 1,
    }
    if cursor is not None:
        params["moment_after"], params["id_after"] = _after(cursor)
    found = driver_rows(session, _LEAN[cursor is not None], **params)
    if not found:
        return None
    credential_id, kind, last_used_at = found[0][-3:]
    VERIFIED.add(params["secret_hash"])  # see app/core/rate_limit.py
    if kind == "api_key":  # its use noted, as authenticate does
        note_key_use(session, uuid.UUID(uuid_text(credential_id)), kind, moment_value(last_used_at))
    items = []
    for row in found[:limit]:
        ident, name, timezone, external_id, coach_id, account_id, created_at = row[:7]
        status, stage, last_logged_at, state, changes, adherence_14d = row[7:13]
        items.append(
            {
                "id": uuid_text(ident),
                "display_name": name,
                "timezone": timezone,
                "external_id": external_id,
                "coach_id": uuid_text(coach_id),
                "has_account": account_id is not None,
                "created_at": moment_text(created_at),
                "status": status,
                "current_pain": _pain_now(session, state, timezone, changes, now),
                "stage": stage,
                "last_logged_at": moment_text(last_logged_at),
                "adherence_14d": adherence_14d,
            }
        )
    next_cursor = None
    if len(found) > limit:
        last = items[limit - 1]
        moment = datetime.fromisoformat(str(last["created_at"]))
        next_cursor = encode_cursor({"t": moment.isoformat(), "id": last["id"]})
    return to_json({"items": items, "next_cursor": next_cursor})
