"""A coach's webhook endpoints: create, list, change, delete, rotate the secret, ping, the
deliveries log and redelivery. Only coaches have endpoints (a client account gets 403): an
endpoint receives the events of the coach's clients, managed or linked. Someone else's
endpoint is a 404, as if it did not exist.
"""

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from app.accounts.access import Caller
from app.core.idempotency import Created
from app.core.pagination import keyset_page
from app.core.problems import NotFoundError, ProblemError
from app.core.security import Principal
from app.models import WebhookDelivery, WebhookEndpoint
from app.models.base import utcnow
from app.webhooks import delivery, outbox
from app.webhooks.schemas import (
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointPage,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
)

SECRET_PREFIX = "whsec_"
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
MAX_ENDPOINTS = 20


def new_secret() -> str:
    """`whsec_` and 32 random bytes in base64, the form Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_public(row: WebhookEndpoint) -> WebhookEndpointPublic:
    return WebhookEndpointPublic.model_validate(row, from_attributes=True)


def _with_secret(row: WebhookEndpoint) -> WebhookEndpointCreated:
    return WebhookEndpointCreated(**endpoint_public(row).model_dump(), secret=row.secret)


def delivery_public(row: WebhookDelivery) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic(
        id=row.id,
        message_id=row.message_id,
        type=row.type,
        status=row.status,  # type: ignore[arg-type]  # str column written from the Literal
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        response_status_code=row.last_status_code,
        duration_ms=row.last_duration_ms,
        error=row.last_error,
        delivered_at=row.delivered_at,
    )


def _owned(session: Session, coach: Principal, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.account_id != coach.id:
        raise NotFoundError(f"No webhook endpoint {endpoint_id}.")
    return row


def create_endpoint(session: Session, coach: Principal, payload: WebhookEndpointCreate) -> Created:
    """Run through `create_by_coach`, so a retry with the same Idempotency-Key finds this
    endpoint instead of adding a second (its secret is not repeated)."""
    count = len(
        session.exec(
            select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.account_id) == coach.id)
        ).all()
    )
    if count >= MAX_ENDPOINTS:
        # A conflict with what the coach has now, not a fault of this body (which another
        # coach, or this one after a delete, may send as it is): 409, as enrollment-exists.
        raise ProblemError(
            409,
            "too-many-webhook-endpoints",
            f"A coach may have at most {MAX_ENDPOINTS} webhook endpoints; delete one first.",
        )
    row = WebhookEndpoint(
        account_id=coach.id,
        url=payload.url,
        description=payload.description,
        event_types=list(dict.fromkeys(payload.event_types)),
        enabled=payload.enabled,
        secret=new_secret(),
    )
    session.add(row)
    session.flush()
    return 201, _with_secret(row)


def list_endpoints(
    session: Session, caller: Caller, limit: int, cursor: str | None
) -> WebhookEndpointPage:
    coach = caller.coach(session)
    rows, next_cursor = keyset_page(
        session,
        select(WebhookEndpoint).where(col(WebhookEndpoint.account_id) == coach.id),
        moment=col(WebhookEndpoint.created_at),
        ident=col(WebhookEndpoint.id),
        limit=limit,
        cursor=cursor,
        newest_first=False,
    )
    return WebhookEndpointPage(items=[endpoint_public(r) for r in rows], next_cursor=next_cursor)


def get_endpoint(session: Session, caller: Caller, endpoint_id: uuid.UUID) -> WebhookEndpointPublic:
    return endpoint_public(_owned(session, caller.coach(session), endpoint_id))


def update_endpoint(
    session: Session, caller: Caller, endpoint_id: uuid.UUID, payload: WebhookEndpointUpdate
) -> WebhookEndpointPublic:
    row = _owned(session, caller.coach(session), endpoint_id)
    if payload.url is not None:
        row.url = payload.url
    if payload.event_types is not None:
        row.event_types = list(dict.fromkeys(payload.event_types))
    if payload.description is not None:
        row.description = payload.description
    if payload.enabled is not None:
        if payload.enabled and not row.enabled:
            # A fresh start: the failure streak that disabled it is over.
            row.failing_since = None
            row.disabled_reason = None
        row.enabled = payload.enabled
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return endpoint_public(row)


def delete_endpoint(session: Session, caller: Caller, endpoint_id: uuid.UUID) -> None:
    row = _owned(session, caller.coach(session), endpoint_id)
    session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == row.id))
    session.delete(row)


def rotate_secret(
    session: Session, caller: Caller, endpoint_id: uuid.UUID
) -> WebhookEndpointCreated:
    """A new secret, signed with from now on; the old one still signs beside it for a day,
    so receivers can switch without refusing deliveries meanwhile."""
    row = _owned(session, caller.coach(session), endpoint_id)
    now = utcnow()
    row.previous_secret, row.previous_secret_until = row.secret, now + PREVIOUS_SECRET_GRACE
    row.secret = new_secret()
    row.updated_at = now
    session.add(row)
    session.flush()
    return _with_secret(row)


def start_ping(
    session: Session, caller: Caller, endpoint_id: uuid.UUID, now: datetime
) -> delivery.Claimed:
    """A `ping` delivery, claimed to be sent at once by the request (a disabled endpoint may
    be pinged: that is how to check it before enabling it again)."""
    row = _owned(session, caller.coach(session), endpoint_id)
    data = {"endpoint_id": str(row.id), "message": "A test delivery from HipFix."}
    (delivery_id,) = outbox.add_deliveries(session, [row.id], "ping", data, client_id=None, now=now)
    return delivery.claim_one(session, delivery_id, now=now)


def get_delivery(session: Session, caller: Caller, delivery_id: uuid.UUID) -> WebhookDeliveryPublic:
    coach = caller.coach(session)
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFoundError(f"No delivery {delivery_id}.")
    _owned(session, coach, row.endpoint_id)
    return delivery_public(row)


def list_deliveries(
    session: Session, caller: Caller, endpoint_id: uuid.UUID, limit: int, cursor: str | None
) -> WebhookDeliveryPage:
    """Newest first."""
    row = _owned(session, caller.coach(session), endpoint_id)
    rows, next_cursor = keyset_page(
        session,
        select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == row.id),
        moment=col(WebhookDelivery.created_at),
        ident=col(WebhookDelivery.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return WebhookDeliveryPage(items=[delivery_public(r) for r in rows], next_cursor=next_cursor)


def redeliver(
    session: Session, caller: Caller, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDeliveryPublic:
    """Due again now, with the same `webhook-id` and body, and another 24 hours of retries.
    A delivery in flight (leased to a worker) is left to finish: 409."""
    endpoint = _owned(session, caller.coach(session), endpoint_id)
    row = session.get(WebhookDelivery, delivery_id)
    if row is None or row.endpoint_id != endpoint.id:
        raise NotFoundError(f"No delivery {delivery_id} for this endpoint.")
    now = utcnow()
    if row.claimed_until is not None and row.claimed_until > now:
        raise ProblemError(409, "delivery-in-flight", "This delivery is being sent right now.")
    row.status = "pending"
    row.next_attempt_at = now
    row.retry_until = now + outbox.RETRY_WINDOW
    row.claim = None
    row.claimed_until = None
    session.add(row)
    session.flush()
    return delivery_public(row)
