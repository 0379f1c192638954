"""A client's coach: the one place that links a client to a coach or ends that link.

Every change goes through `change_coach`, in the unit of work of the request that makes it:
an invitation accepted (`client_linked`), a client leaving or a coach releasing it
(`client_left`). Whatever must happen with such a change (the webhooks' outbox) belongs here,
in the same unit of work, so it commits or rolls back with the link itself."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from app.core.actors import Actor
from app.models import Client
from app.models.base import utcnow
from app.progression import lifecycle
from app.webhooks import outbox

LinkEvent = Literal["client_linked", "client_left"]


@dataclass(frozen=True, slots=True)
class LinkChange:
    """What happened to a client's link, for whatever follows it (webhooks)."""

    type: LinkEvent
    client_id: uuid.UUID
    coach_id: uuid.UUID  # the coach linked, or the coach left
    actor: Actor
    reason: Literal["invitation", "invitation_for_managed_client", "client_left", "released"]
    at: datetime = field(default_factory=utcnow)


def change_coach(
    session: Session,
    client: Client,
    coach_id: uuid.UUID | None,
    actor: Actor,
    reason: Literal["invitation", "invitation_for_managed_client", "client_left", "released"],
) -> LinkChange:
    """Link `client` to `coach_id`, or end its link (`None`). The caller has checked who may;
    a client has at most one coach (the caller refuses a second one)."""
    previous = client.coach_id
    linked = coach_id is not None
    coach = coach_id if coach_id is not None else previous
    if coach is None:
        raise ValueError("a client without a coach has no link to end")
    client.coach_id = coach_id
    session.add(client)
    session.flush()
    if linked:  # announced with the client as the coach knew it (its external_id included)
        outbox.on_link(session, client, coach)
    else:  # ids and the reason only (PRODUCT §8)
        lifecycle.client_left(
            session, client, coach, "left" if reason == "client_left" else "released", actor
        )
    if coach_id != previous:
        # The coach's own reference for the client: not its next coach's (nor kept unlinked).
        client.external_id = None
        session.add(client)
        session.flush()
    return LinkChange(
        type="client_linked" if linked else "client_left",
        client_id=client.id,
        coach_id=coach,
        actor=actor,
        reason=reason,
    )
