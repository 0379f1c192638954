"""Lookup dependencies: the client named in the path, if the caller may see it."""

from typing import Annotated

from fastapi import Depends, Path

from app.accounts.service import find_visible_client
from app.core.db import SessionDep
from app.core.security import CurrentPrincipal
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
