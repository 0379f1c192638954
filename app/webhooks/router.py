"""/v1/webhook-endpoints: a coach's signed webhooks (Standard Webhooks)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.accounts.access import CallerDep, create_by_coach
from app.core.config import Settings
from app.core.db import DatabaseDep
from app.core.idempotency import IdempotencyKey
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import problem_responses
from app.core.responses import json_response
from app.core.strict_requests import StrictRoute
from app.webhooks import service, urls
from app.webhooks.schemas import (
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointPage,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookPing,
)
from app.webhooks.worker import DeliveryWorker

router = APIRouter(prefix="/webhook-endpoints", tags=["webhooks"], route_class=StrictRoute)

_ONE = problem_responses(401, 403, 404, 422)


async def _worker(request: Request) -> DeliveryWorker:
    worker: DeliveryWorker = request.app.state.webhooks
    return worker


async def _allow_private(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.webhooks_allow_private_urls


WorkerDep = Annotated[DeliveryWorker, Depends(_worker)]
AllowPrivateDep = Annotated[bool, Depends(_allow_private)]


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Register a webhook endpoint",
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def create_endpoint(
    payload: WebhookEndpointCreate,
    request: Request,
    caller: CallerDep,
    db: DatabaseDep,
    allow_private: AllowPrivateDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A coach's endpoint for its clients' events (client accounts have none: 403). The
    answer holds the signing secret, this once. The URL must resolve to public addresses
    only (422 otherwise); it is checked again before every delivery. A coach has at most 20
    endpoints (409 beyond, until one is deleted). A retry with the same `Idempotency-Key`
    replays this answer (`Idempotent-Replayed: true`) without the secret."""
    # Resolved before the unit of work: a DNS lookup must not hold the database.
    await urls.check(payload.url, allow_private=allow_private)
    return await db.write(
        create_by_coach,
        caller,
        request,
        idempotency_key,
        payload,
        service.create_endpoint,
        redact=frozenset({"secret"}),
    )


@router.get(
    "",
    response_model=WebhookEndpointPage,
    summary="List webhook endpoints",
    responses=problem_responses(400, 401, 403, 422),
)
async def list_endpoints(
    caller: CallerDep,
    db: DatabaseDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Oldest first, without their secrets."""
    return json_response(await db.read(service.list_endpoints, caller, limit, cursor))


@router.get(
    "/{endpoint_id}",
    response_model=WebhookEndpointPublic,
    summary="Get a webhook endpoint",
    responses=_ONE,
)
async def get_endpoint(endpoint_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> Response:
    return json_response(await db.read(service.get_endpoint, caller, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookEndpointPublic,
    summary="Change a webhook endpoint",
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def update_endpoint(
    endpoint_id: uuid.UUID,
    payload: WebhookEndpointUpdate,
    caller: CallerDep,
    db: DatabaseDep,
    allow_private: AllowPrivateDep,
) -> Response:
    """Fields sent are changed. `enabled: true` also enables an endpoint HipFix disabled."""
    if payload.url is not None:
        await urls.check(payload.url, allow_private=allow_private)
    return json_response(await db.write(service.update_endpoint, caller, endpoint_id, payload))


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Delete a webhook endpoint",
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_endpoint(endpoint_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> Response:
    """With its deliveries: nothing more is sent to it."""
    await db.write(service.delete_endpoint, caller, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointCreated,
    summary="Rotate the signing secret",
    responses=_ONE,
)
async def rotate_secret(endpoint_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> Response:
    """A new secret, shown this once. For 24 hours deliveries carry two signatures, one
    with each secret, so a receiver may switch at its own pace."""
    return json_response(await db.write(service.rotate_secret, caller, endpoint_id))


@router.post(
    "/{endpoint_id}/ping",
    response_model=WebhookPing,
    summary="Send a test delivery",
    responses=_ONE,
)
async def ping(
    endpoint_id: uuid.UUID, caller: CallerDep, db: DatabaseDep, worker: WorkerDep
) -> Response:
    """A signed `ping` sent now (not retried), answered with how it went; it is in the
    deliveries log too. Works on a disabled endpoint, to check it before enabling it."""
    claimed = await db.write(service.start_ping, caller, endpoint_id, worker.clock())
    outcome = await worker.send_now(claimed)
    sent = await db.read(service.get_delivery, caller, claimed.id)
    return json_response(WebhookPing(ok=outcome.ok, delivery=sent))


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=WebhookDeliveryPage,
    summary="List deliveries",
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_deliveries(
    endpoint_id: uuid.UUID,
    caller: CallerDep,
    db: DatabaseDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Newest first: each message's status, attempts, and its last attempt's response code
    and duration."""
    page = await db.read(service.list_deliveries, caller, endpoint_id, limit, cursor)
    return json_response(page)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    response_model=WebhookDeliveryPublic,
    summary="Send a delivery again",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def redeliver(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, caller: CallerDep, db: DatabaseDep
) -> Response:
    """Due now, with the same `webhook-id` (a receiver that kept it drops it as a duplicate)
    and 24 more hours of retries."""
    return json_response(await db.write(service.redeliver, caller, endpoint_id, delivery_id))
