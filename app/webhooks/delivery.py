"""Deliveries in the database: claiming due ones under a lease, signing, recording attempts.

Each function is a service run in a unit of work (`await db.write(claim, ...)`): on
PostgreSQL the claim locks its rows with FOR UPDATE SKIP LOCKED, so replicas claiming at
once take different deliveries; on SQLite the single writer claims one unit at a time. A
claim is a lease: a process that dies holding one leaves it to expire, and the delivery is
claimed again (at least once, never lost; the receiver drops the duplicate by `webhook-id`).
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from standardwebhooks import Webhook

from app.core.metrics import WEBHOOK_DELIVERIES
from app.models import WebhookDelivery, WebhookEndpoint
from app.webhooks import outbox

log = logging.getLogger("hipfix.webhooks")

FIRST_DELAY = timedelta(seconds=5)
LONGEST_DELAY = timedelta(hours=1)
DISABLE_AFTER = timedelta(days=5)  # failing without a success in between
LEASE = timedelta(seconds=60)  # well beyond a send's timeouts (see worker.TIMEOUT)


def backoff(attempts: int, rand: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: doubling from 5 s up to an hour,
    then jittered into its upper half by `rand` in [0, 1), so receivers coming back after an
    outage are not hit by every retry in the same second."""
    full: timedelta = min(LONGEST_DELAY, FIRST_DELAY * 2 ** min(attempts - 1, 30))
    return full / 2 + full / 2 * rand


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds the lease of: everything needed to send it."""

    id: uuid.UUID
    claim: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    message_id: str
    type: str
    body: str
    request_id: str | None = None  # the request that wrote it: sent as X-Request-ID


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: an HTTP status, or the error that kept it from getting one."""

    id: uuid.UUID
    claim: uuid.UUID
    at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature(secrets: Sequence[str], message_id: str, at: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,…` per secret still valid (the old one during a
    rotation's grace), space-separated as the specification allows."""
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)


def _secrets(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > now:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


def _due(now: datetime, limit: int) -> SelectOfScalar[uuid.UUID]:
    return (
        select(col(WebhookDelivery.id))
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(col(WebhookDelivery.status) == "pending")
        .where(col(WebhookDelivery.next_attempt_at) <= now)
        .where(
            (col(WebhookDelivery.claimed_until).is_(None))
            | (col(WebhookDelivery.claimed_until) <= now)
        )
        .where(col(WebhookEndpoint.enabled).is_(True))
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
        # PostgreSQL: rows another replica is claiming right now are skipped, not waited for
        # (SQLite renders no locking clause: its single writer already serialises claims).
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )


def claim(
    session: Session, *, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[Claimed]:
    """Take the lease of up to `limit` due deliveries, oldest due first."""
    ids = list(session.exec(_due(now, limit)))
    if not ids:
        return []
    token = uuid.uuid4()
    session.connection().execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(ids))
        .values(claimed_until=now + lease, claim=token)
    )
    rows = session.exec(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(col(WebhookDelivery.id).in_(ids))
        .order_by(col(WebhookDelivery.next_attempt_at))
    ).all()
    return [
        Claimed(
            id=delivery.id,
            claim=token,
            url=endpoint.url,
            secrets=_secrets(endpoint, now),
            message_id=delivery.message_id,
            type=delivery.type,
            body=delivery.body,
            request_id=delivery.request_id,
        )
        for delivery, endpoint in rows
    ]


def claim_one(session: Session, delivery_id: uuid.UUID, *, now: datetime) -> Claimed:
    """The lease of one delivery just made (a ping), to send it at once."""
    row = session.get(WebhookDelivery, delivery_id)
    endpoint = session.get(WebhookEndpoint, row.endpoint_id) if row is not None else None
    assert row is not None
    assert endpoint is not None
    row.claim = uuid.uuid4()
    row.claimed_until = now + LEASE
    session.add(row)
    return Claimed(
        row.id,
        row.claim,
        endpoint.url,
        _secrets(endpoint, now),
        row.message_id,
        row.type,
        row.body,
        row.request_id,
    )


_DELIVERED = {
    outcome: WEBHOOK_DELIVERIES.labels(outcome) for outcome in ("succeeded", "retry", "failed")
}


def delivered(outcome: str) -> None:
    _DELIVERED[outcome].inc()


def record(session: Session, outcomes: Sequence[Outcome], *, now: datetime, rand: float) -> None:
    """Store what the attempts gave: done, due again after a backoff, or given up after the
    retry window; an endpoint failing for `DISABLE_AFTER` without a success is disabled."""
    if not outcomes:
        return
    by_id = {outcome.id: outcome for outcome in outcomes}
    rows = session.exec(
        select(WebhookDelivery).where(col(WebhookDelivery.id).in_(list(by_id)))
    ).all()
    endpoint_ids = {row.endpoint_id for row in rows}
    endpoints = {
        endpoint.id: endpoint
        for endpoint in session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))
        )
    }
    for row in rows:
        outcome = by_id[row.id]
        if row.claim != outcome.claim:
            # The lease ran out and another claim holds it now: that one records.
            continue
        row.attempts += 1
        row.claim = None
        row.claimed_until = None
        row.last_attempt_at = outcome.at
        row.last_status_code = outcome.status_code
        row.last_duration_ms = outcome.duration_ms
        row.last_error = outcome.error[:500] if outcome.error else None
        endpoint = endpoints[row.endpoint_id]
        if outcome.ok:
            row.status = "succeeded"
            row.delivered_at = outcome.at
            endpoint.failing_since = None
            delivered("succeeded")
        else:
            wait = backoff(row.attempts, rand)
            if row.type == "ping" or now + wait > row.retry_until:
                row.status = "failed"
                delivered("failed")
            else:
                row.next_attempt_at = now + wait
                delivered("retry")
            if endpoint.failing_since is None:
                endpoint.failing_since = outcome.at
            elif endpoint.enabled and now - endpoint.failing_since >= DISABLE_AFTER:
                _disable(session, endpoint, now)
        session.add(row)
        session.add(endpoint)


def _disable(session: Session, endpoint: WebhookEndpoint, now: datetime) -> None:
    assert endpoint.failing_since is not None
    endpoint.enabled = False
    endpoint.updated_at = now
    endpoint.disabled_reason = (
        f"Every delivery failed from {endpoint.failing_since.isoformat()} to "
        f"{now.isoformat()} (5 days): disabled. Enable it again with PATCH once it answers."
    )
    log.warning("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_reason)
    # The coach's other endpoints that subscribe to it hear of it.
    others = session.exec(
        select(col(WebhookEndpoint.id), col(WebhookEndpoint.event_types))
        .where(col(WebhookEndpoint.account_id) == endpoint.account_id)
        .where(col(WebhookEndpoint.enabled).is_(True))
        .where(col(WebhookEndpoint.id) != endpoint.id)
    ).all()
    targets = [other_id for other_id, types in others if "endpoint_disabled" in types]
    data = {
        "endpoint": {
            "id": str(endpoint.id),
            "url": endpoint.url,
            "failing_since": outbox.iso(endpoint.failing_since),
            "reason": endpoint.disabled_reason,
        }
    }
    outbox.add_deliveries(session, targets, "endpoint_disabled", data, client_id=None, now=now)
