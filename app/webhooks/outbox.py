"""The transactional outbox: deliveries written in the unit of work that makes the news.

Called where decisions, retractions and links are stored, inside their unit of work and
without committing: a write that rolls back takes its deliveries with it, and a committed one
keeps them for the worker however the process ends. When nobody subscribes this costs one
indexed SELECT per write that made a decision (most pain logs make none, and pay nothing).
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.core.actors import Reader
from app.core.db import Database
from app.core.metrics import WEBHOOK_OLDEST, WEBHOOK_PENDING, ScrapeHook
from app.core.request_context import current_request_id
from app.models import Client, EngineEvent, Enrollment, WebhookDelivery, WebhookEndpoint
from app.models.base import utcnow
from app.progression.previous_coach import withheld_decisions, withheld_words

RETRY_WINDOW = timedelta(hours=24)

# The types a coach may subscribe to: the engine's decisions (not `override`, which is the
# coach's own act), retractions, links, and the notice that one of its endpoints was disabled.
DECISION_TYPES = (
    "enrolled",
    "stage_unlocked",
    "flare",
    "referral",
    "referral_cleared",
    "resolved",
    "relapse",
)
EVENT_TYPES = (
    *DECISION_TYPES,
    "decision_retracted",
    "decision_updated",
    "client_linked",
    "client_left",
    "enrollment_ended",
    "params_changed",
    "endpoint_disabled",
)

_ADD = insert(WebhookDelivery)
_PENDING = sa_select(func.count(), func.min(col(WebhookDelivery.created_at))).where(
    col(WebhookDelivery.status) == "pending"
)


def pending_state(session: Session) -> tuple[int, datetime | None]:
    """How many deliveries wait, and when the oldest of them was written (an index scan)."""
    count, oldest = session.execute(_PENDING).one()
    return int(count), oldest


def outbox_scrape_hook(database: Database) -> ScrapeHook:
    """For `GET /metrics`: the outbox's depth and the age of its oldest delivery."""

    async def outbox_state() -> None:
        count, oldest = await database.read(pending_state)
        WEBHOOK_PENDING.set(count)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        WEBHOOK_OLDEST.set((utcnow() - oldest).total_seconds() if oldest is not None else 0)

    return outbox_state


# SQLAlchemy's own select: SQLModel's is typed for at most four columns.
_SUBSCRIBED_FOR_CLIENT = (
    sa_select(
        col(WebhookEndpoint.id),
        col(WebhookEndpoint.event_types),
        col(Client.display_name),
        col(Client.external_id),
        col(Client.coach_id),
    )
    .join(Client, col(Client.coach_id) == col(WebhookEndpoint.account_id))
    .where(col(WebhookEndpoint.enabled).is_(True))
)
_SUBSCRIBED_FOR_COACH = select(col(WebhookEndpoint.id), col(WebhookEndpoint.event_types)).where(
    col(WebhookEndpoint.enabled).is_(True)
)


def iso(moment: datetime) -> str:
    """A moment as every payload writes it: UTC, with `Z` (as the API's JSON does)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body_of(message_id: str, type_: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The delivery's body, exactly as it is signed and sent."""
    envelope = {"id": message_id, "type": type_, "created_at": iso(created_at), "data": data}
    return json.dumps(envelope, separators=(",", ":"), default=str)


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def add_deliveries(
    session: Session,
    endpoint_ids: Sequence[uuid.UUID],
    type_: str,
    data: dict[str, Any],
    *,
    client_id: uuid.UUID | None,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """One message (one `webhook-id`) for each of `endpoint_ids`, due now. Its ids."""
    now = now or utcnow()
    message_id = new_message_id()
    body = body_of(message_id, type_, now, data)
    request_id = current_request_id()  # the request that made the news, for its receiver
    ids = [uuid.uuid4() for _ in endpoint_ids]
    rows: list[dict[str, Any]] = [
        {
            "id": delivery_id,
            "endpoint_id": endpoint_id,
            "message_id": message_id,
            "client_id": client_id,
            "type": type_,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "retry_until": now + RETRY_WINDOW,
            "request_id": request_id,
        }
        for delivery_id, endpoint_id in zip(ids, endpoint_ids, strict=True)
    ]
    if rows:
        session.connection().execute(_ADD, rows)
    return ids


def _client_data(
    client_id: uuid.UUID, display_name: str, external_id: str | None
) -> dict[str, Any]:
    return {"id": str(client_id), "display_name": display_name, "external_id": external_id}


def _decision_data(row: EngineEvent, *, withheld: bool) -> dict[str, Any]:
    """A decision as its coach's endpoints receive it: without the reason another coach (one
    the client had before) gave for the override it came from (`previous_coach`)."""
    message, data = withheld_words(row.message, row.data) if withheld else (row.message, row.data)
    return {
        "id": str(row.id),
        "type": row.type,
        "rule": row.rule,
        "at": iso(row.at),
        "local_date": row.local_date.isoformat(),
        "stage": row.stage,
        "message": message,
        "data": data,
        "clinical_note": row.clinical_note,
        "retracted_at": iso(row.retracted_at) if row.retracted_at else None,
    }


def on_decisions(
    session: Session,
    enrollment: Enrollment,
    made: Sequence[EngineEvent] = (),
    retracted: Sequence[EngineEvent] = (),
    updated: Sequence[EngineEvent] = (),
) -> None:
    """Announce decisions made (or current again), retracted and updated (kept, with new
    figures) by a re-evaluation to the endpoints of the client's coach that subscribe."""
    if not made and not retracted and not updated:
        return
    endpoints = session.execute(
        _SUBSCRIBED_FOR_CLIENT.where(col(Client.id) == enrollment.client_id)
    ).all()
    if not endpoints:
        return
    _, _, display_name, external_id, coach_id = endpoints[0]
    client = _client_data(enrollment.client_id, display_name, external_id)
    enrolment = {
        "id": str(enrollment.id),
        "protocol": enrollment.protocol,
        "version": enrollment.version,
    }
    news = [(row.type, row) for row in made if row.type in DECISION_TYPES]
    news += [("decision_retracted", row) for row in retracted]
    news += [("decision_updated", row) for row in updated]
    withheld = withheld_decisions(session, Reader(coach_id, is_coach=True), (r for _, r in news))
    for type_, row in news:
        targets = [endpoint_id for endpoint_id, types, _, _, _ in endpoints if type_ in types]
        decision = _decision_data(row, withheld=row.id in withheld)
        data = {"client": client, "enrollment": enrolment, "decision": decision}
        add_deliveries(session, targets, type_, data, client_id=enrollment.client_id)


def on_link(session: Session, client: Client, coach_id: uuid.UUID) -> None:
    """`client_linked` (it is now `coach_id`'s client) to that coach's subscribed endpoints
    (`client_left` is a lifecycle event: `on_lifecycle`)."""
    data = {"client": _client_data(client.id, client.display_name, client.external_id)}
    on_lifecycle(session, coach_id, "client_linked", data, client_id=client.id)


def client_of(session: Session, client_id: uuid.UUID) -> dict[str, Any]:
    """The client as its coach's endpoints know it (as decisions carry it)."""
    client = session.get(Client, client_id)
    assert client is not None
    return _client_data(client.id, client.display_name, client.external_id)


def on_lifecycle(
    session: Session,
    coach_id: uuid.UUID,
    type_: str,
    data: dict[str, Any],
    *,
    client_id: uuid.UUID | None,
) -> None:
    """A lifecycle event to `coach_id`'s endpoints that subscribe to it, filed under
    `client_id` (None: a client no longer the coach's, whose erasure must not remove it)."""
    endpoints = session.exec(
        _SUBSCRIBED_FOR_COACH.where(col(WebhookEndpoint.account_id) == coach_id)
    ).all()
    targets = [endpoint_id for endpoint_id, types in endpoints if type_ in types]
    add_deliveries(session, targets, type_, data, client_id=client_id)
