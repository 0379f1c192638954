"""Lifecycle events: what happens to a client's time with its coach and its enrolments
beside the engine's decisions (PRODUCT §8 "Events a clinic tool relies on").

`client_left` (the client left, was released or was erased), `enrollment_ended` and
`params_changed`, each one feed entry and a webhook delivery to the coach's subscribed
endpoints, written in the unit of work of the change itself (so neither outlives a rollback).
A `client_left` is for the coach that was left alone and carries ids and the reason only:
it must stay true, and hold nothing personal, once the client is erased.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from app.core.actors import Actor
from app.models import Client, Enrollment
from app.models.base import utcnow
from app.progression import engine, feed
from app.progression.plans import zones
from app.webhooks import outbox

LeftReason = Literal["left", "released", "erased"]
_LEFT_WORDS = {
    "left": "The client left its coach.",
    "released": "The coach released the client.",
    "erased": "The client's data was erased.",
}


def _local_date(client: Client, at: datetime) -> str:
    first, changes = zones(client.timezone, client.timezone_changes)
    return engine.zoned_date(first, changes, at).isoformat()


def _line(
    client: Client,
    type_: str,
    at: datetime,
    message: str,
    data: dict[str, Any],
    *,
    enrollment_id: uuid.UUID | None = None,
    coach_id: uuid.UUID | None = None,
) -> feed.Line:
    detail = {
        "at": outbox.iso(at),
        "local_date": _local_date(client, at),
        "enrollment_id": str(enrollment_id) if enrollment_id else None,
        "message": message,
        "data": data,
    }
    return feed.Line(client.id, uuid.uuid4(), type_, coach_id=coach_id, detail=detail)


def client_left(
    session: Session, client: Client, coach_id: uuid.UUID, reason: LeftReason, actor: Actor
) -> None:
    """`client` is no longer `coach_id`'s. Call it before an erasure deletes the client's
    rows (its zone dates the entry) and after that erasure removed its feed: the entry and
    the delivery are the coach's, filed under no client, and survive it."""
    at = utcnow()
    data = {"client_id": str(client.id), "coach_id": str(coach_id), "reason": reason}
    line = _line(client, "client_left", at, _LEFT_WORDS[reason], data, coach_id=coach_id)
    # Who acted by role only: no account of the client's is named where the coach keeps it.
    feed.append(session, [line], Actor(actor.role, None, None))
    payload = {"client": {"id": str(client.id)}, "reason": reason, "at": outbox.iso(at)}
    outbox.on_lifecycle(session, coach_id, "client_left", payload, client_id=None)


def _enrolment(enrollment: Enrollment) -> dict[str, Any]:
    return {
        "id": str(enrollment.id),
        "protocol": enrollment.protocol,
        "version": enrollment.version,
    }


def _announce(
    session: Session,
    client: Client,
    enrollment: Enrollment,
    type_: str,
    message: str,
    data: dict[str, Any],
    actor: Actor,
) -> None:
    at = utcnow()
    line = _line(client, type_, at, message, data, enrollment_id=enrollment.id)
    feed.append(session, [line], actor)
    if client.coach_id is not None:
        payload = {
            "client": outbox.client_of(session, client.id),
            "enrollment": _enrolment(enrollment),
            "at": outbox.iso(at),
            **data,
        }
        outbox.on_lifecycle(session, client.coach_id, type_, payload, client_id=client.id)


def enrollment_ended(
    session: Session, client: Client, enrollment: Enrollment, actor: Actor
) -> None:
    assert enrollment.ended_at is not None
    data = {"outcome": enrollment.outcome, "ended_at": outbox.iso(enrollment.ended_at)}
    message = f"The enrolment ended ({enrollment.outcome})."
    _announce(session, client, enrollment, "enrollment_ended", message, data, actor)


def params_changed(
    session: Session,
    client: Client,
    enrollment: Enrollment,
    before: dict[str, Any],
    after: dict[str, Any],
    actor: Actor,
) -> None:
    changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
    data = {"before": before, "after": after, "changed": changed}
    message = f"The coach changed the parameters: {', '.join(changed)}."
    _announce(session, client, enrollment, "params_changed", message, data, actor)
