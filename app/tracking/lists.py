"""The lean reads of a client's lists (pain logs, sessions, events): the caller, the client and the
page in one statement, and the page's JSON straight from its rows.

Done as the other lists are, a page of 20 costs two ORM queries (caller and client, then the
page), an ORM object and a validation for each row, and the page's serialisation: several
times what the statement takes. Here, inside the same unit of work, one joined SELECT run
as a `Prepared` statement on the unit's own driver connection (`driver_rows`,
app/core/db/prepared.py) finds the caller's live credential, the client they may see and a
page of its items, and the rows become the page's JSON as the page model writes it
(app/core/row_json.py; tests/api/test_lean_reads.py holds the bytes to the ORM read's). A
page with no rows (an unknown token, a client not visible, the end of the list) falls back
to the ORM read, which says which it is.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import JSON, Date, Select, Uuid, and_, bindparam, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col

from app.accounts.access import ClientAccess
from app.accounts.visibility import visible_to_account
from app.core.db.prepared import driver_rows
from app.core.pagination import keyset_after, keyset_cursor
from app.core.rate_limit import VERIFIED
from app.core.row_json import day_text, json_value, moment_text, moment_value, uuid_text
from app.core.security import LIVE_CREDENTIAL, note_key_use, secret_hash
from app.models import Account, Client, Credential, EngineEvent, ExerciseSession, PainLog
from app.models.base import UTCDateTime
from app.progression.schemas import Event
from app.tracking.schemas import PainContext, PainLogPublic, SessionExercise, SessionPublic

# Every list item ends with who wrote it (role, account, API key: the model's columns),
# then the caller's credential (for an API key's last use) and account (who reads: a coach
# sees another coach's work without its identity, app/progression/previous_coach.py).
_WRITTEN_BY = ("actor_role", "created_by", "actor_key_id")
_ANOTHER_COACH = {"role": "coach", "account_id": None, "api_key_id": None}
_CALLER = 5  # credential id, kind, last used; the reader's account id and role


class _List:
    """A client's list, newest first by `moment` then id, as statements built once.

    `public`: the item's model, whose fields give the JSON's keys in order; each is a column
    of `model` of the same name, one of `extra` (named expressions selected with the page),
    or `actor` (who wrote it). `finish` turns the extras into their fields."""

    def __init__(
        self,
        model: Any,
        public: type[BaseModel],
        moment: str,
        *,
        extra: tuple[tuple[str, ColumnElement[Any]], ...] = (),
        finish: Callable[[dict[str, Any], tuple[Any, ...]], None] | None = None,
        gone: str = "deleted_at",
        actor: tuple[str, str, str] = _WRITTEN_BY,
        coaches_read_elsewhere: bool = False,
    ) -> None:
        table = model.__table__
        fields = [name for name in public.model_fields if name != "actor"]
        self.columns = tuple(name for name in fields if name in table.c)
        self.extra = extra
        # The item's keys in the model's order: None stands for a field `finish` fills.
        self.layout = [
            (name, self.columns.index(name), _converter(table.c[name].type))
            if name in table.c
            else (name, None, _as_is)
            for name in fields
        ]
        self.finish = finish
        # A coach's read of this list may withhold more than who acted: left to the full read.
        self.coaches_read_elsewhere = coaches_read_elsewhere
        self.moment = moment
        self.gone = gone  # a row with this set is not listed
        self.actor = actor
        self.statements = {
            (me, after): self._statement(model, moment, me=me, after=after)
            for me in (True, False)
            for after in (True, False)
        }

    def _statement(self, model: Any, moment_name: str, *, me: bool, after: bool) -> Select[Any]:
        moment, ident = col(getattr(model, moment_name)), col(model.id)
        statement: Select[Any] = (
            sa_select(
                *(getattr(model, name) for name in (*self.columns, *self.actor)),
                *(expression for _, expression in self.extra),
                col(Credential.id),
                col(Credential.kind),
                col(Credential.last_used_at),
                col(Account.id),
                col(Account.role),
            )
            .select_from(Credential)
            .join(Account, col(Account.id) == Credential.account_id)
            .join(Client, visible_to_account(me=me))
            .join(
                model,
                and_(col(model.client_id) == Client.id, col(getattr(model, self.gone)).is_(None)),
            )
            .where(LIVE_CREDENTIAL)
            .order_by(moment.desc(), ident.desc())
            .limit(bindparam("limit"))
        )
        if not me:
            statement = statement.where(col(Client.id) == bindparam("client_id"))
        if after:
            statement = statement.where(
                or_(
                    moment < bindparam("moment_after"),
                    and_(moment == bindparam("moment_after"), ident < bindparam("id_after")),
                )
            )
        return statement

    def page(
        self, session: Session, access: ClientAccess, limit: int, cursor: str | None
    ) -> bytes | None:
        """The page's JSON, `{items, next_cursor}` as the page model writes it, or None when
        the statement found none."""
        params: dict[str, Any] = {
            "secret_hash": secret_hash(access.secret),
            "now": datetime.now(UTC),
            "limit": limit + 1,
        }
        if access.client_ref != "me":
            try:
                params["client_id"] = uuid.UUID(access.client_ref)
            except ValueError:
                return None
        if cursor is not None:
            params["moment_after"], params["id_after"] = keyset_after(cursor)
        statement = self.statements[(access.client_ref == "me", cursor is not None)]
        found = driver_rows(session, statement, **params)
        if not found:
            return None
        credential_id, kind, last_used_at, reader_id, reader_role = found[0][-_CALLER:]
        coach = reader_role == "coach"
        if coach and self.coaches_read_elsewhere:
            return None
        VERIFIED.add(params["secret_hash"])  # see app/core/rate_limit.py
        if kind == "api_key":  # its use noted, as authenticate does
            note_key_use(
                session, uuid.UUID(uuid_text(credential_id)), kind, moment_value(last_used_at)
            )
        reader = uuid_text(reader_id)
        actor_at = len(self.columns)
        extra_at = actor_at + len(self.actor)
        layout, finish = self.layout, self.finish
        items = []
        for row in found[:limit]:
            item = {name: None if at is None else convert(row[at]) for name, at, convert in layout}
            role, account_id, key_id = row[actor_at:extra_at]
            account = uuid_text(account_id)
            if role is None:
                item["actor"] = None  # stored before actors were kept
            elif coach and role == "coach" and account != reader:
                item["actor"] = _ANOTHER_COACH  # one the client had before
            else:
                item["actor"] = {
                    "role": role,
                    "account_id": account,
                    "api_key_id": uuid_text(key_id),
                }
            if finish is not None:
                finish(item, row[extra_at : extra_at + len(self.extra)])
            items.append(item)
        next_cursor = None
        if len(found) > limit:
            last = items[limit - 1]
            moment = datetime.fromisoformat(str(last[self.moment]))
            next_cursor = keyset_cursor(moment, uuid.UUID(last["id"]))
        return to_json({"items": items, "next_cursor": next_cursor})


def _converter(kind: Any) -> Callable[[Any], Any]:
    """How a column's driver value becomes its JSON value (app/core/row_json.py)."""
    if isinstance(kind, Uuid):
        return uuid_text
    if isinstance(kind, UTCDateTime):
        return moment_text
    if isinstance(kind, JSON):
        return json_value
    if isinstance(kind, Date):
        return day_text
    return _as_is


def _as_is(value: Any) -> Any:
    return value


_PAIN_LOGS = _List(PainLog, PainLogPublic, "recorded_at")


def pain_log_page(
    session: Session, access: ClientAccess, limit: int, cursor: str | None
) -> bytes | None:
    """A page of the client's pain logs, newest first, as JSON; None when the statement
    found none."""
    return _PAIN_LOGS.page(session, access, limit, cursor)


def _linked(context: PainContext) -> ColumnElement[Any]:
    """A session's live pain log of `context`: a session makes at most one of each
    (`pain_during`, `pain_after`, with ids derived from the session's)."""
    return (
        sa_select(col(PainLog.id))
        .where(col(PainLog.session_id) == ExerciseSession.id)
        .where(col(PainLog.context) == context.value)
        .where(col(PainLog.deleted_at).is_(None))
        .limit(1)
        .correlate(ExerciseSession)
        .scalar_subquery()
    )


_EXERCISE_FIELDS = tuple(SessionExercise.model_fields)


def _session_fields(item: dict[str, Any], linked: tuple[Any, ...]) -> None:
    # Each exercise as its model writes it: every field, in order (stored as validated).
    item["exercises"] = [
        {name: exercise.get(name) for name in _EXERCISE_FIELDS} for exercise in item["exercises"]
    ]
    item["pain_log_ids"] = [uuid_text(log) for log in linked if log is not None]  # during, after


_SESSIONS = _List(
    ExerciseSession,
    SessionPublic,
    "performed_at",
    extra=(("during", _linked(PainContext.during)), ("after", _linked(PainContext.after))),
    finish=_session_fields,
)


def session_page(
    session: Session, access: ClientAccess, limit: int, cursor: str | None
) -> bytes | None:
    """A page of the client's sessions, newest first, each with its linked pain logs, as
    JSON; None when the statement found none."""
    return _SESSIONS.page(session, access, limit, cursor)


_EVENTS = _List(
    EngineEvent,
    Event,
    "at",
    gone="retracted_at",
    actor=("actor_role", "actor_account_id", "actor_key_id"),
    coaches_read_elsewhere=True,  # another coach's override reasons are withheld there
)


def event_page(
    session: Session, access: ClientAccess, limit: int, cursor: str | None
) -> bytes | None:
    """A page of the client's decisions not retracted, newest first, as JSON; None when the
    statement found none."""
    return _EVENTS.page(session, access, limit, cursor)
