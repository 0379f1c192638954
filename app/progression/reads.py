"""Progress and today in one statement: from the bearer secret to the engine's latest state.

These are the reads a phone makes most. Done as the other routes do them, each costs four
ORM queries (credential, client, enrolment, checkpoint) in a Session on a worker thread,
about 0.06x the bare endpoint's rate (bench/RESULTS.md). Here one joined SELECT finds the
caller, the client they may see, its active enrolment and its newest checkpoint, run as a
`Prepared` statement (app/core/db.py `Database.first`). Anything short of a full answer (an
unknown token, a client not visible, no enrolment, a protocol this process has not read
yet) returns None and the route asks `service`, which says which problem it is.
"""

import json
import uuid
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Select, Text, and_, bindparam, cast
from sqlmodel import col, select

from app.accounts.deps import ClientAccess
from app.accounts.service import visible_to_account
from app.core.db import Database
from app.core.prepared import Fetched
from app.core.security import LIVE_CREDENTIAL, secret_hash
from app.models import Account, Client, Credential, EngineCheckpoint, Enrollment
from app.models.tracking import ENROLLMENT_IS_ACTIVE
from app.progression import engine, service
from app.progression.codec import load_state
from app.progression.model import Plan, State

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


def _standing(*, me: bool) -> Select[Any]:
    statement = (
        select(
            col(Client.timezone),
            col(Enrollment.id),
            col(Enrollment.protocol),
            col(Enrollment.version),
            cast(col(Enrollment.params), Text),
            col(Enrollment.started_at),
            col(Enrollment.baseline_pain),
            _NEWEST_STATE,
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


class Answers:
    """Rendered answers by what they are computed from: the joined row as read and the
    client's local date. Both answers are pure functions of those (progress's
    `evaluated_at` aside, added to each copy), so a kept one is never stale and needs no
    invalidation: a write changes the checkpoint, hence the row, hence the key. The oldest
    go first past `size`. Nothing here is needed by another worker."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._kept: dict[Hashable, Any] = {}

    def get(self, key: Hashable) -> Any:
        return self._kept.get(key)

    def keep(self, key: Hashable, answer: Any) -> None:
        if len(self._kept) >= self._size:
            del self._kept[next(iter(self._kept))]
        self._kept[key] = answer


_answers = Answers()


async def _standing_of(db: Database, access: ClientAccess) -> Fetched | None:
    params: dict[str, Any] = {"secret_hash": secret_hash(access.secret), "now": datetime.now(UTC)}
    if access.client_ref == "me":
        return await db.first(_STANDING_OF_ME, **params)
    try:
        params["client_id"] = uuid.UUID(access.client_ref)
    except ValueError:
        return None
    return await db.first(_STANDING_BY_ID, **params)


def _computed_from(row: Fetched) -> tuple[Plan, dict[str, Any], State] | None:
    timezone, enrollment_id, protocol, version, overrides, started_at, baseline, state = (
        row.values()
    )
    document = service.known_document(protocol, version)
    if state is None or document is None:
        return None
    plan = service.make_plan(
        document,
        enrollment_id=str(enrollment_id),
        overrides=json.loads(overrides),
        timezone=timezone,
        started_at=started_at,
        baseline_pain=baseline,
    )
    return plan, document, load_state(json.loads(state))


def _kept_or_rendered(
    key: Hashable, row: Fetched, render: Callable[[Plan, dict[str, Any], State], bytes]
) -> bytes | None:
    kept: bytes | None = _answers.get(key)
    if kept is None:
        computed = _computed_from(row)
        if computed is None:
            return None
        kept = render(*computed)
        _answers.keep(key, kept)
    return kept


# Progress differs from one request to the next only in `evaluated_at`, its last field: it is
# kept rendered without it, and each request closes the object with its own moment.
_MOMENT = TypeAdapter(datetime)


async def progress(db: Database, access: ClientAccess) -> bytes | None:
    """The client's progress as JSON, or None when the full read must answer (see above)."""
    row = await _standing_of(db, access)
    if row is None:
        return None
    now = datetime.now(UTC)

    def render(plan: Plan, _document: dict[str, Any], state: State) -> bytes:
        answer = service.progress_answer(plan, state, now)
        return answer.model_dump_json(exclude={"evaluated_at"}).encode()[:-1]

    head = _kept_or_rendered(("progress", row.raw, engine.date_in(row.raw[0], now)), row, render)
    return None if head is None else head + b',"evaluated_at":' + _MOMENT.dump_json(now) + b"}"


async def today(db: Database, access: ClientAccess, day: date | None) -> bytes | None:
    """Today's routine as JSON, or None when the full read must answer (see above)."""
    row = await _standing_of(db, access)
    if row is None:
        return None
    day = day or engine.date_in(row.raw[0], datetime.now(UTC))

    def render(plan: Plan, document: dict[str, Any], state: State) -> bytes:
        return service.today_answer(plan, document, state, day).model_dump_json().encode()

    return _kept_or_rendered(("today", row.raw, day), row, render)
