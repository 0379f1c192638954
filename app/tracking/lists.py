"""The pain-log list's lean read: the caller, the client and the page in one statement.

Done as the other lists are, a page of 20 costs two ORM queries (caller and client, then the
page) and an ORM object plus a validation from its attributes for each row: several times
what the statement takes. Here, inside the same unit of work, one joined SELECT run as a
`Prepared` statement (app/core/db/prepared.py) finds the caller's live credential, the
client they may see and a page of its pain logs, and the page is validated once from the
rows' values. A page with no rows (an unknown token, a client not visible, the end of the
list) falls back to the ORM read, which says which it is.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.accounts.access import ClientAccess
from app.accounts.visibility import visible_to_account
from app.core.db.prepared import rows
from app.core.pagination import keyset_after, keyset_cursor
from app.core.security import LIVE_CREDENTIAL, note_key_use, secret_hash
from app.models import Account, Client, Credential, PainLog
from app.tracking.schemas import PainLogPage

_COLUMNS = (
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
)
_ACTOR = 12  # the row's actor columns start here; the caller's credential follows
_CALLER = _ACTOR + 3
# UUIDs the page's validation parses anyway: left as the driver reads them.
_UUIDS = frozenset({0, 1, 2, 3, _ACTOR + 1, _ACTOR + 2})


def _page(*, me: bool, after: bool) -> Select[Any]:
    statement: Select[Any] = (
        sa_select(
            *(getattr(PainLog, name) for name in _COLUMNS),
            col(PainLog.actor_role),
            col(PainLog.created_by),
            col(PainLog.actor_key_id),
            col(Credential.id),
            col(Credential.kind),
            col(Credential.last_used_at),
        )
        .select_from(Credential)
        .join(Account, col(Account.id) == Credential.account_id)
        .join(Client, visible_to_account(me=me))
        .join(
            PainLog,
            and_(col(PainLog.client_id) == Client.id, col(PainLog.deleted_at).is_(None)),
        )
        .where(LIVE_CREDENTIAL)
        .order_by(col(PainLog.recorded_at).desc(), col(PainLog.id).desc())
        .limit(bindparam("limit"))
    )
    if not me:
        statement = statement.where(col(Client.id) == bindparam("client_id"))
    if after:
        moment, ident = col(PainLog.recorded_at), col(PainLog.id)
        statement = statement.where(
            or_(
                moment < bindparam("moment_after"),
                and_(moment == bindparam("moment_after"), ident < bindparam("id_after")),
            )
        )
    return statement


# Built once: (me, after a cursor) -> statement.
_PAGES = {(me, after): _page(me=me, after=after) for me in (True, False) for after in (True, False)}


def pain_log_page(
    session: Session, access: ClientAccess, limit: int, cursor: str | None
) -> PainLogPage | None:
    """A page of the client's pain logs, newest first; None when the statement found none."""
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
    statement = _PAGES[(access.client_ref == "me", cursor is not None)]
    found = rows(session, statement, _UUIDS, **params)
    if not found:
        return None
    credential_id, kind, last_used_at = found[0][_CALLER:]
    note_key_use(session, credential_id, kind, last_used_at)
    page = found[:limit]
    items = []
    for row in page:
        item = dict(zip(_COLUMNS, row, strict=False))
        if isinstance(item["flags"], str):  # a driver that leaves JSON as text
            item["flags"] = json.loads(item["flags"])
        role, account_id, key_id = row[_ACTOR:_CALLER]
        item["actor"] = {"role": role, "account_id": account_id, "api_key_id": key_id}
        items.append(item)
    last = page[-1]
    next_cursor = keyset_cursor(last[6], uuid.UUID(str(last[0]))) if len(found) > limit else None
    return PainLogPage.model_validate({"items": items, "next_cursor": next_cursor})
