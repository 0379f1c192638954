"""Progress and today in one statement: from the bearer secret to the engine's latest state.

These are the reads a phone makes most. Done as the other reads are (`views`), each costs
four ORM queries (credential, client, enrolment, checkpoint). Here, inside the same unit of
work, one joined SELECT finds the caller, the client they may see, its active enrolment and
its newest checkpoint, run as a `Prepared` statement (app/core/db/prepared.py). Anything
short of a full answer (an unknown token, a client not visible, no enrolment) falls back to
`views`, which says which problem it is.
"""

import json
import uuid
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Select, Text, and_, bindparam, cast, exists
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.accounts.access import ClientAccess
from app.accounts.visibility import visible_to_account
from app.core.caches import CacheSpec
from app.core.db import caches_of
from app.core.db.prepared import Fetched, first
from app.core.responses import model_json
from app.core.security import LIVE_CREDENTIAL, note_key_use, secret_hash
from app.models import Account, Client, Credential, EngineCheckpoint, Enrollment, Override
from app.models.tracking import ENROLLMENT_IS_ACTIVE
from app.progression import engine, views
from app.progression.codec import load_state
from app.progression.model import Plan, State, ZoneChange
from app.progression.plans import make_plan, protocol_document, zones

# JSON columns are read as their text, so that a row as read is hashable on every database
# (psycopg would parse them): the answers below are kept by it.
_NEWEST_STATE = (
    select(cast(col(EngineCheckpoint.state), Text))
    .where(col(EngineCheckpoint.enrollment_id) == Enrollment.id)
    .order_by(col(EngineCheckpoint.day).desc())
    .limit(1)
    .correlate(Enrollment)
    .scalar_subquery()
)


# A coach reading an enrolment another coach overrode: progress withholds that coach's
# reasons (`previous_coach`), so it is answered by `views`, not kept under the shared key.
_ANOTHER_COACHS_OVERRIDES = and_(
    col(Account.role) == "coach",
    exists()
    .where(col(Override.enrollment_id) == Enrollment.id)
    .where(col(Override.actor_role) == "coach")
    .where(col(Override.created_by) != Account.id)
    .correlate(Enrollment, Account),
)


def _standing(*, me: bool) -> Select[Any]:
    # SQLAlchemy's own select: SQLModel's is typed for at most four columns.
    statement: Select[Any] = (
        sa_select(
            col(Client.timezone),
            cast(col(Client.timezone_changes), Text),
            col(Enrollment.id),
            col(Enrollment.protocol),
            col(Enrollment.version),
            cast(col(Enrollment.params), Text),
            col(Enrollment.started_at),
            col(Enrollment.baseline_pain),
            _NEWEST_STATE,
            cast(col(Enrollment.adherence), Text),
            # Who asks, for an API key's `last_used_at` only: not part of an answer's key.
            col(Credential.id),
            col(Credential.kind),
            col(Credential.last_used_at),
            _ANOTHER_COACHS_OVERRIDES,
        )
        .select_from(Credential)
        .join(Account, col(Account.id) == Credential.account_id)
        .join(Client, visible_to_account(me=me))
        .join(
            Enrollment,
            and_(col(Enrollment.client_id) == Client.id, ENROLLMENT_IS_ACTIVE),
        )
        .where(LIVE_CREDENTIAL)
    )
    return statement if me else statement.where(col(Client.id) == bindparam("client_id"))


_STANDING_OF_ME = _standing(me=True)
_STANDING_BY_ID = _standing(me=False)


# Rendered answers by what they are computed from: the joined row as read and the client's
# local date. Both answers are pure functions of those (progress's `evaluated_at` aside,
# added to each copy), so a kept one is never stale and needs no invalidation: a write
# changes the checkpoint, hence the row, hence the key.
ANSWERS = CacheSpec("progress and today answers", size=4096)


_ANSWERED_BY = 10  # the row's columns an answer depends on; the caller's follow


def _standing_of(session: Session, access: ClientAccess) -> Fetched | None:
    params: dict[str, Any] = {"secret_hash": secret_hash(access.secret), "now": datetime.now(UTC)}
    if access.client_ref == "me":
        row = first(session, _STANDING_OF_ME, **params)
    else:
        try:
            params["client_id"] = uuid.UUID(access.client_ref)
        except ValueError:
            return None
        row = first(session, _STANDING_BY_ID, **params)
    if row is not None and row.raw[_ANSWERED_BY + 1] == "api_key":
        credential_id, kind, last_used_at = row.values()[_ANSWERED_BY : _ANSWERED_BY + 3]
        note_key_use(session, credential_id, kind, last_used_at)
    return row


def _answer_key(row: Fetched) -> tuple[Any, ...]:
    return row.raw[:_ANSWERED_BY]


def _kept_or_rendered(
    session: Session,
    key: Hashable,
    row: Fetched,
    render: Callable[[Plan, dict[str, Any], State, dict[str, Any]], bytes],
) -> bytes | None:
    answers = caches_of(session)[ANSWERS]
    kept: bytes | None = answers.get(key)
    if kept is not None:
        return kept
    answered_by = row.values()[:_ANSWERED_BY]
    _, _, enrollment_id, protocol, version, overrides, started_at, baseline, state, weeks = (
        answered_by
    )
    if state is None or weeks in (None, "null"):  # none stored before v1.2: `views` counts
        return None
    document = protocol_document(session, protocol, version)
    first, changes = _zones(row)
    plan = make_plan(
        document,
        enrollment_id=str(enrollment_id),
        overrides=json.loads(overrides),
        timezone=first,
        started_at=started_at,
        baseline_pain=baseline,
        zone_changes=changes,
    )
    rendered: bytes = answers.put(
        key, render(plan, document, load_state(json.loads(state)), json.loads(weeks))
    )
    return rendered


def _zones(row: Fetched) -> tuple[str, tuple[ZoneChange, ...]]:
    return zones(row.raw[0], json.loads(row.raw[1]))


def _local_date(row: Fetched, now: datetime) -> date:
    """The client's local date now, as the engine dates it (the zone history included)."""
    first, changes = _zones(row)
    return engine.zoned_date(first, changes, now)


# Progress differs from one request to the next only in `evaluated_at`, its last field: it is
# kept rendered without it, and each request closes the object with its own moment.
_MOMENT = TypeAdapter(datetime)


def progress(session: Session, access: ClientAccess) -> bytes:
    """The client's progress as JSON."""
    row = _standing_of(session, access)
    now = datetime.now(UTC)

    def render(plan: Plan, _document: dict[str, Any], state: State, weeks: dict[str, Any]) -> bytes:
        answer = views.progress_answer(plan, state, now, weeks)
        return answer.model_dump_json(exclude={"evaluated_at"}).encode()[:-1]

    if row is not None and not row.raw[-1]:
        key = ("progress", _answer_key(row), _local_date(row, now))
        head = _kept_or_rendered(session, key, row, render)
        if head is not None:
            return head + b',"evaluated_at":' + _MOMENT.dump_json(now) + b"}"
    return model_json(views.progress(session, access))


def today(session: Session, access: ClientAccess, day: date | None) -> bytes:
    """Today's routine as JSON, for a local date (default: today in the client's zone)."""
    row = _standing_of(session, access)
    if row is not None:
        local_day = day or _local_date(row, datetime.now(UTC))

        def render(plan: Plan, document: dict[str, Any], state: State, _: dict[str, Any]) -> bytes:
            return views.today_answer(plan, document, state, local_day).model_dump_json().encode()

        answer = _kept_or_rendered(session, ("today", _answer_key(row), local_day), row, render)
        if answer is not None:
            return answer
    return model_json(views.today(session, access, day))
