"""Progress, today's routine, the decision log, coach overrides and simulations."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse

from app.accounts.deps import ClientAccess, ClientDep, ClientRef
from app.core.db import SessionDep, database_of
from app.core.idempotency import IdempotencyKey, respond_once
from app.core.lean_query import LeanQuery
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import problem_responses
from app.core.responses import json_response, model_json
from app.core.security import BearerSecret, CurrentPrincipal
from app.core.types import QueryDate
from app.progression import reads, service
from app.progression.schemas import (
    SIMULATION_EXAMPLES,
    EventPage,
    EventType,
    OverrideCreate,
    OverridePublic,
    Progress,
    SimulationRequest,
    SimulationResult,
    Today,
)
from app.progression.simulation import simulate

router = APIRouter(tags=["progression"])

_READ_ERRORS = problem_responses(400, 401, 404, 409, 422)
# Read by the route (see app/core/lean_query.py): today is among the most asked reads.
_DATE = LeanQuery(
    "date", QueryDate, "A local date, YYYY-MM-DD; default today in the client's zone."
)


@router.get(
    "/clients/{client_id}/progress",
    response_model=Progress,
    summary="Progress through the protocol",
    responses=_READ_ERRORS,
)
async def get_progress(request: Request, client_id: ClientRef, secret: BearerSecret) -> Response:
    """Status, pain figures and every stage: when and why it opened, or, for the next locked
    stage, its gate's criteria as of now (`ready`: it opens with the next check-in)."""
    access, db = ClientAccess(secret, client_id), database_of(request)
    body = await reads.progress(db, access) or model_json(await db.read(service.progress, access))
    return json_response(body)


@router.get(
    "/clients/{client_id}/today",
    response_model=Today,
    summary="Today's routine",
    responses=_READ_ERRORS,
    openapi_extra={"parameters": [_DATE.parameter]},
)
async def get_today(request: Request, client_id: ClientRef, secret: BearerSecret) -> Response:
    """The open stages' exercises in protocol order with their dose: a lighter dose on hold,
    none on referral (see a clinician), a maintenance rhythm when resolved."""
    date = _DATE.read(request)
    access, db = ClientAccess(secret, client_id), database_of(request)
    body = await reads.today(db, access, date) or model_json(
        await db.read(service.today, access, date)
    )
    return json_response(body)


@router.get(
    "/clients/{client_id}/events",
    response_model=EventPage,
    summary="The decision log",
    responses=problem_responses(400, 401, 404, 422),
)
def list_events(
    client: ClientDep,
    session: SessionDep,
    type: Annotated[list[EventType] | None, Query(description="Only these types.")] = None,
    include_retracted: Annotated[
        bool, Query(description="Also decisions a later backfill or deletion undid.")
    ] = False,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> EventPage:
    """Every decision the engine made for the client, newest first."""
    return service.list_events(
        session,
        client,
        types=list(type) if type else None,
        include_retracted=include_retracted,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/clients/{client_id}/overrides",
    status_code=201,
    response_model=OverridePublic,
    summary="Override the engine",
    responses={
        200: {"description": "A retry: the override already stored with this id and body."},
        **problem_responses(400, 401, 403, 404, 409, 413, 422),
    },
)
def create_override(
    payload: OverrideCreate,
    client: ClientDep,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """`unlock_stage`: the client's coach opens a stage. `clear_referral`: the coach, or a
    client with no coach confirming that a clinician has seen it, lifts a referral. A reason
    is required; both are recorded as events."""
    return respond_once(
        session,
        request,
        principal.id,
        idempotency_key,
        payload,
        lambda: service.create_override(session, principal, client, payload),
        scope=str(client.id),
    )


@router.post(
    "/simulations",
    response_model=SimulationResult,
    summary="Simulate a timeline",
    description=(
        "Replays a posted timeline through the same engine and returns every decision. "
        "Public, and stores nothing: for app developers, coaches tuning parameters and anyone "
        "exploring the rules (listed under the `progression` tag)."
    ),
    responses=problem_responses(400, 413, 422),
)
def create_simulation(
    payload: Annotated[SimulationRequest, Body(openapi_examples=SIMULATION_EXAMPLES)],  # type: ignore[arg-type]
    session: SessionDep,
) -> SimulationResult:
    return simulate(session, payload)
