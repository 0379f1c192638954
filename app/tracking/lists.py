"""The lean reads of a client's lists (pain logs, sessions, events): the caller, the client and the
page in one statement.

Done as the other lists are, a page of 20 costs two ORM queries (caller and client, then the
page) and an ORM object plus a validation from its attributes for each row: several times
what the statement takes. Here, inside the same unit of work, one joined SELECT run as a
`Prepared` statement (app/core/db/prepared.py) finds the caller's live credential, the
client they may see and a page of its items, and the page is validated once from the rows'
values. A page with no rows (an unknown token, a client not visible, the end of the list)
falls back to the ORM read, which says which it is.
"""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.accounts.access import ClientAccess
from app.accounts.visibility import visible_to_account
from app.core.db.prepared import rows
from app.core.pagination import keyset_after, keyset_cursor
from app.core.rate_limit import VERIFIED
from app.core.security import LIVE_CREDENTIAL, note_key_use, secret_hash
from app.models import Account, Client, Credential, EngineEvent, ExerciseSession, PainLog
from app.progression.schemas import EventPage
from app.tracking.schemas import PainLogPage, SessionPage

# Every list item ends with who wrote it (role, account, API key: the model's columns),
# then the caller's credential (for an API key's last use) and account (who reads: a coach
# sees another coach's work without its identity, app/progression/previous_coach.py).
_WRITTEN_BY = ("actor_role", "created_by", "actor_key_id")
_TAIL = 3
_ANOTHER_COACH = {"role": "coach", "account_id": None, "api_key_id": None}


class _List:
    """A client's list, newest first by `moment` then id, as statements built once."""

    def __init__(
        self,
        model: Any,
        columns: tuple[str, ...],
        moment: str,
        as_read: frozenset[str],
        *,
        gone: str = "deleted_at",
        actor: tuple[str, str, str] = _WRITTEN_BY,
        coaches_read_elsewhere: bool = False,
    ) -> None:
        self.columns = columns
        # A coach's read of this list may withhold more than who acted: left to the full read.
        self.coaches_read_elsewhere = coaches_read_elsewhere
        self.moment = columns.index(moment)
        self.gone = gone  # a row with this set is not listed
        self.actor = actor
        # Columns the page's validation parses anyway (UUIDs' text): left as the driver
        # reads them. Ids other code needs as UUIDs are not among them.
        self.as_read = frozenset(i for i, name in enumerate((*columns, *actor)) if name in as_read)
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
        self,
        session: Session,
        access: ClientAccess,
        limit: int,
        cursor: str | None,
        finish: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> dict[str, Any] | None:
        """`{items, next_cursor}` as plain values, or None when the statement found none.
        `finish` adds what the rows do not hold to the items."""
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
        found = rows(session, statement, self.as_read, **params)
        if not found:
            return None
        width = len(self.columns)
        credential_id, kind, last_used_at, reader_id, reader_role = found[0][width + _TAIL :]
        coach = reader_role == "coach"
        if coach and self.coaches_read_elsewhere:
            return None
        VERIFIED.add(params["secret_hash"])  # see app/core/rate_limit.py
        note_key_use(session, credential_id, kind, last_used_at)
        reader = uuid.UUID(str(reader_id))
        items = []
        for row in found[:limit]:
            item = dict(zip(self.columns, row, strict=False))
            role, account_id, key_id = row[width : width + _TAIL]
            if role is None:
                item["actor"] = None  # stored before actors were kept
            elif coach and role == "coach" and uuid.UUID(str(account_id)) != reader:
                item["actor"] = _ANOTHER_COACH  # one the client had before
            else:
                item["actor"] = {"role": role, "account_id": account_id, "api_key_id": key_id}
            items.append(item)
        if finish is not None:
            finish(items)
        last = found[limit - 1] if len(found) > limit else None
        next_cursor = (
            None
            if last is None
            else keyset_cursor(last[self.moment], uuid.UUID(str(last[self.columns.index("id")])))
        )
        return {"items": items, "next_cursor": next_cursor}


def _json_lists(*names: str) -> Callable[[list[dict[str, Any]]], None]:
    def parse(items: list[dict[str, Any]]) -> None:
        for item in items:
            for name in names:
                if isinstance(item[name], str):  # a driver that leaves JSON as text
                    item[name] = json.loads(item[name])

    return parse


_PAIN_LOGS = _List(
    PainLog,
    (
        "id",
        "client_id",
        "enrollment_id",
        "session_id",
        "score",
        "context",
        "recorded_at",
        "side",
        "location",
        "flags",
        "note",
        "created_at",
    ),
    moment="recorded_at",
    as_read=frozenset({"id", "client_id", "enrollment_id", "session_id", "created_by"}),
)
_SESSIONS = _List(
    ExerciseSession,
    (
        "id",
        "client_id",
        "enrollment_id",
        "performed_at",
        "exercises",
        "pain_during",
        "pain_after",
        "side",
        "note",
        "created_at",
    ),
    moment="performed_at",
    as_read=frozenset({"client_id", "enrollment_id", "created_by"}),  # ids: linked logs' keys
)


def pain_log_page(
    session: Session, access: ClientAccess, limit: int, cursor: str | None
) -> PainLogPage | None:
    """A page of the client's pain logs, newest first; None when the statement found none."""
    page = _PAIN_LOGS.page(session, access, limit, cursor, _json_lists("flags"))
    return None if page is None else PainLogPage.model_validate(page)


def session_page(
    session: Session,
    access: ClientAccess,
    limit: int,
    cursor: str | None,
    linked: Callable[[Session, list[uuid.UUID]], dict[uuid.UUID, list[uuid.UUID]]],
) -> SessionPage | None:
    """A page of the client's sessions, newest first, each with its linked pain logs
    (`linked`: the ORM read's own lookup); None when the statement found none."""

    def finish(items: list[dict[str, Any]]) -> None:
        _json_lists("exercises")(items)
        logs = linked(session, [item["id"] for item in items])
        for item in items:
            item["pain_log_ids"] = logs[item["id"]]

    page = _SESSIONS.page(session, access, limit, cursor, finish)
    return None if page is None else SessionPage.model_validate(page)


_EVENTS = _List(
    EngineEvent,
    (
        "id",
        "type",
        "rule",
        "at",
        "local_date",
        "stage",
        "message",
        "data",
        "clinical_note",
        "retracted_at",
    ),
    moment="at",
    as_read=frozenset({"id", "actor_account_id", "actor_key_id"}),
    gone="retracted_at",
    actor=("actor_role", "actor_account_id", "actor_key_id"),
    coaches_read_elsewhere=True,  # another coach's override reasons are withheld there
)


def event_page(
    session: Session, access: ClientAccess, limit: int, cursor: str | None
) -> EventPage | None:
    """A page of the client's decisions not retracted, newest first; None when the
    statement found none."""
    page = _EVENTS.page(session, access, limit, cursor, _json_lists("data"))
    return None if page is None else EventPage.model_validate(page)
