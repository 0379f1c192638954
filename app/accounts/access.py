"""Who is asking, and for which client: read from the request by async dependencies (no
thread, no database), checked by the service inside its unit of work, so that a request's
credential, client and answer take one trip to the database (see docs/architecture.md)."""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Select, and_, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.accounts.visibility import find_visible_client, visible_to_account
from app.core.db.writers import for_writing
from app.core.idempotency import Created, respond_once
from app.core.pagination import DEFAULT_LIMIT
from app.core.problems import ProblemError, describe_pattern
from app.core.quick import bearer, plain_cursor, plain_limit, plain_query
from app.core.rate_limit import VERIFIED
from app.core.security import (
    LIVE_CREDENTIAL,
    BearerSecret,
    Principal,
    authenticate,
    note_key_use,
    secret_hash,
)
from app.models import Account, Client, Credential, Enrollment
from app.models.base import utcnow
from app.models.tracking import ENROLLMENT_IS_ACTIVE
from app.progression.plans import hold_active

_CLIENT_REF = (
    r"^(me|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})$"
)
ClientRef = Annotated[
    str,
    Path(
        pattern=describe_pattern(
            _CLIENT_REF,
            "Input should be `me` or a client's id (a UUID)",
        ),
        description="A client's id, or `me` for the caller's own client profile.",
        examples=["me"],
    ),
]


@dataclass(frozen=True, slots=True)
class Caller:
    """The bearer secret a request presents."""

    secret: str

    def principal(self, session: Session) -> Principal:
        """The caller, or the 401 problem."""
        return authenticate(session, self.secret)

    def coach(self, session: Session) -> Principal:
        """The caller if it is a coach; otherwise the 403 problem."""
        principal = self.principal(session)
        if not principal.is_coach:
            raise ProblemError(403, "coach-only", "Only a coach may do this.")
        return principal


def _caller_and_client(*, me: bool) -> Select[uuid.UUID, Account, Client, str, datetime | None]:
    statement = (
        sa_select(
            col(Credential.id),
            Account,
            Client,
            col(Credential.kind),
            col(Credential.last_used_at),
        )
        .select_from(Credential)
        .join(Account, col(Account.id) == Credential.account_id)
        .join(Client, visible_to_account(me=me))
        .where(LIVE_CREDENTIAL)
    )
    return statement if me else statement.where(col(Client.id) == bindparam("client_id"))


def _with_active_enrollment(
    statement: Select[uuid.UUID, Account, Client, str, datetime | None],
) -> Select[uuid.UUID, Account, Client, str, datetime | None, Enrollment]:
    """`statement` and the client's active enrolment, held for writing (see
    `plans.require_active_enrollment`): nothing found when there is none."""
    joined = statement.add_columns(Enrollment).join(
        Enrollment, and_(col(Enrollment.client_id) == Client.id, ENROLLMENT_IS_ACTIVE)
    )
    return for_writing(joined, of=Enrollment)


# Built once: every request that names a client runs one of them.
_CALLER_AND_OWN_CLIENT = _caller_and_client(me=True)
_CALLER_AND_CLIENT = _caller_and_client(me=False)
_CALLER_OWN_CLIENT_ENROLLED = _with_active_enrollment(_CALLER_AND_OWN_CLIENT)
_CALLER_CLIENT_ENROLLED = _with_active_enrollment(_CALLER_AND_CLIENT)


@dataclass(frozen=True, slots=True)
class ClientAccess:
    """A caller's credential and the client it names in the path."""

    secret: str
    client_ref: str

    def resolve(self, session: Session, *, enrolled: bool = False) -> tuple[Principal, Client]:
        """The caller and the client, or the 401 / 404 problem. One statement finds both;
        when it finds nothing, the two lookups say which problem it is. `enrolled`: a write
        that needs the client's active enrolment held (`require_active_enrollment(...,
        for_write=True)`) finds it in the same statement."""
        digest = secret_hash(self.secret)
        params: dict[str, object] = {"secret_hash": digest, "now": utcnow()}
        statement: Select[*tuple[Any, ...]] | None  # (with the enrolment: one more column)
        if self.client_ref == "me":
            statement = _CALLER_OWN_CLIENT_ENROLLED if enrolled else _CALLER_AND_OWN_CLIENT
        else:
            try:
                params["client_id"] = uuid.UUID(self.client_ref)
            except ValueError:
                statement = None
            else:
                statement = _CALLER_CLIENT_ENROLLED if enrolled else _CALLER_AND_CLIENT
        row = session.execute(statement, params).first() if statement is not None else None
        if row is not None:
            credential_id, account, client, kind, last_used_at = row[:5]
            if enrolled:
                hold_active(session, row[5])
            VERIFIED.add(digest)  # see app/core/rate_limit.py
            note_key_use(session, credential_id, kind, last_used_at)
            return Principal(account, credential_id, kind, last_used_at), client
        principal = authenticate(session, self.secret)
        return principal, find_visible_client(session, principal, self.client_ref)

    def client(self, session: Session) -> Client:
        return self.resolve(session)[1]


_PLAIN_CLIENT_REF = re.compile(_CLIENT_REF)


def plain_client_access(request: Request) -> ClientAccess | None:
    """The caller and the client in the path, read as `ClientAccessDep` reads them, for a
    quick read (app/core/quick.py); None when either would be refused."""
    secret = bearer(request)
    client_ref = request.path_params.get("client_id")
    if secret is None or client_ref is None or not _PLAIN_CLIENT_REF.fullmatch(client_ref):
        return None
    return ClientAccess(secret, client_ref)


def plain_paging(request: Request) -> tuple[int, str | None] | None:
    """A plain page's `limit` and `cursor` (no other query parameter), read as a list's
    declared parameters read them; None for anything else."""
    query = plain_query(request, "limit", "cursor")
    if query is None:
        return None
    limit = plain_limit(query, DEFAULT_LIMIT)
    plain, cursor = plain_cursor(query)
    if limit is None or not plain:
        return None
    return limit, cursor


def plain_page(request: Request) -> tuple[ClientAccess, int, str | None] | None:
    """A plain request for a page of a client's list: who asks, for which client, `limit`
    and `cursor` (at most)."""
    access = plain_client_access(request)
    paging = plain_paging(request)
    if access is None or paging is None:
        return None
    return access, *paging


async def _caller(secret: BearerSecret) -> Caller:
    return Caller(secret)


async def _client_access(secret: BearerSecret, client_id: ClientRef) -> ClientAccess:
    return ClientAccess(secret, client_id)


CallerDep = Annotated[Caller, Depends(_caller)]
ClientAccessDep = Annotated[ClientAccess, Depends(_client_access)]


Create = Callable[[Session, Principal, Client, Any], Created]


def create_for_client(
    session: Session,
    access: ClientAccess,
    request: Request,
    key: str | None,
    payload: BaseModel,
    create: Create,
    *,
    enrolled: bool = False,
) -> JSONResponse:
    """A create for the client named in the path, once: who asks and for which client, then
    `create` with its Idempotency-Key's record (app/core/idempotency.py). `enrolled`: see
    `ClientAccess.resolve`."""
    principal, client = access.resolve(session, enrolled=enrolled)
    return respond_once(
        session,
        request,
        principal.id,
        key,
        payload,
        lambda: create(session, principal, client, payload),
        # Scoped by the client's id: `me` and that id are the same target for a retry.
        scope=str(client.id),
    )


def create_by_coach(
    session: Session,
    caller: Caller,
    request: Request,
    key: str | None,
    payload: BaseModel,
    create: Callable[[Session, Principal, Any], Created],
    redact: frozenset[str] = frozenset(),
) -> JSONResponse:
    """A coach's create (a managed client, an API key), once, like `create_for_client`.
    `redact`: fields a replay must not repeat (an API key's secret)."""
    coach = caller.coach(session)
    return respond_once(
        session,
        request,
        coach.id,
        key,
        payload,
        lambda: create(session, coach, payload),
        redact=redact,
    )
