"""Lookup dependencies: the client named in the path, if the caller may see it."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path
from sqlmodel import Session

from app.accounts.service import find_visible_client
from app.core.db import SessionDep
from app.core.security import BearerSecret, CurrentPrincipal, Principal, authenticate
from app.models import Client

ClientRef = Annotated[
    str,
    Path(
        pattern=r"^(me|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})$",
        description="A client's id, or `me` for the caller's own client profile.",
        examples=["me"],
    ),
]


def visible_client(
    session: SessionDep, principal: CurrentPrincipal, client_id: ClientRef
) -> Client:
    return find_visible_client(session, principal, client_id)


ClientDep = Annotated[Client, Depends(visible_client)]


@dataclass(frozen=True)
class ClientAccess:
    """A caller's credential and the client it names, checked inside a unit of work
    (`Database.read`/`write`) rather than in dependencies of their own: see app/core/db.py."""

    secret: str
    client_ref: str

    def resolve(self, session: Session) -> tuple[Principal, Client]:
        """The caller and the client, or the 401 / 404 problem."""
        principal = authenticate(session, self.secret)
        return principal, find_visible_client(session, principal, self.client_ref)

    def client(self, session: Session) -> Client:
        return self.resolve(session)[1]


async def client_access(secret: BearerSecret, client_id: ClientRef) -> ClientAccess:
    return ClientAccess(secret, client_id)


ClientAccessDep = Annotated[ClientAccess, Depends(client_access)]
