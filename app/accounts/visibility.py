"""Who may see which client: one rule, as a query (`visible_clients`), a lookup
(`find_visible_client`) and a join condition (`visible_to_account`)."""

import uuid

from sqlalchemy import ColumnElement, and_, bindparam, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.core.problems import NotFoundError
from app.core.security import Principal
from app.models import Account, Client

# Clients a principal may see, by role: a coach's own, or a client account's own profile.
# The column that ties such a client to the principal's account:
_SEEN_THROUGH = {"coach": Client.coach_id, "client": Client.account_id}
# Built once with the principal as a parameter: every request that names a client runs them.
_VISIBLE = {
    role: select(Client).where(col(column) == bindparam("principal"))
    for role, column in _SEEN_THROUGH.items()
}
_VISIBLE_BY_ID = {
    role: query.where(col(Client.id) == bindparam("client_id")) for role, query in _VISIBLE.items()
}


def visible_clients(principal: Principal) -> SelectOfScalar[Client]:
    """Clients the principal may see: a coach's own, or a client account's own profile."""
    return _VISIBLE[principal.role].params(principal=principal.id)


def visible_condition(principal: Principal) -> ColumnElement[bool]:
    """The same rule as a condition on `Client`."""
    return col(_SEEN_THROUGH[principal.role]) == principal.id


def visible_client_ids(principal: Principal) -> SelectOfScalar[uuid.UUID]:
    """The same rule as ids, for `IN (...)`."""
    return select(col(Client.id)).where(visible_condition(principal))


def visible_to_account(*, me: bool) -> ColumnElement[bool]:
    """The same rule as a join condition between `Client` and the caller's `Account` row, for
    a statement that finds both at once; `me`: only a client account's own profile."""
    roles = ("client",) if me else tuple(_SEEN_THROUGH)
    return or_(
        *(and_(col(Account.role) == role, col(_SEEN_THROUGH[role]) == Account.id) for role in roles)
    )


def find_visible_client(session: Session, principal: Principal, client_ref: str) -> Client:
    """`me` or an id, if the principal may see it; otherwise a 404 that reveals nothing."""
    params: dict[str, object] = {"principal": principal.id}
    if client_ref == "me":
        if principal.is_coach:
            raise NotFoundError("A coach has no client profile of its own; use a client's id.")
        query = _VISIBLE["client"]
    else:
        try:
            params["client_id"] = uuid.UUID(client_ref)
        except ValueError:
            raise NotFoundError(f"No client {client_ref}.") from None
        query = _VISIBLE_BY_ID[principal.role]
    client = session.exec(query, params=params).first()
    if client is None:
        raise NotFoundError(f"No client {client_ref}.")
    return client
