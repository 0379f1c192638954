"""Progress, today's routine, the decision log, coach overrides and simulations."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse

from app.accounts.access import (
    CallerDep,
    ClientAccess,
    ClientAccessDep,
    ClientRef,
    create_for_client,
    plain_client_access,
    plain_page,
)
from app.core.costs import one_at_a_time
from app.core.cpu_pool import cpu_pool_of
from app.core.csv_lists import csv_responses, listed, wants_csv
from app.core.db import DatabaseDep, database_of
from app.core.idempotency import IdempotencyKey
from app.core.lean_query import LeanQuery
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import problem_responses
from app.core.quick import plain_query, quick
from app.core.responses import json_response
from app.core.security import BearerSecret
from app.core.strict_requests import StrictRoute
from app.core.types import EngineDate
from app.progression import feed, overrides, reads, views
from app.progression.schemas import (
    SIMULATION_DAYS,
    SIMULATION_EXAMPLES,
    SIMULATION_ITEMS,
    Event,
    EventPage,
    EventType,
    FeedEventType,
    FeedPage,
    OverrideCreate,
    OverridePublic,
    Progress,
    SimulationRequest,
    SimulationResult,
    Today,
)
from app.progression.simulation import protocol_for, simulate_json

router = APIRouter(tags=["progression"], route_class=StrictRoute)

_READ_ERRORS = problem_responses(400, 401, 404, 409, 422)
_EVENTS_CSV = (
    "id,type,rule,at,local_date,stage,message,data,clinical_note,retracted_at\r\n"
    "4d3c2b1a-0987-5654-8321-0fedcba98765,flare,flare.during,2026-11-01T19:00:00+00:00,"
    '2026-11-01,,"Pain during exercise was 7/10: progress holds until the end of 2026-11-03.",'
    '"{""hold_until"":""2026-11-03"",""score"":7}",'
    '"NPRS 7/10 during exercise above the 5/10 limit of the pain-monitoring model '
    '(Silbernagel 2007): hold to 2026-11-03, easier dose.",\r\n'
)
# Read by the route (see app/core/lean_query.py): today is among the most asked reads.
_DATE = LeanQuery(
    "date",
    EngineDate,
    "A local date, YYYY-MM-DD, from 2000-01-01 on; default today in the client's zone.",
)


async def _plain_progress(request: Request) -> Response | None:
    """`get_progress` for a plain request (app/core/quick.py)."""
    access = plain_client_access(request)
    if access is None or plain_query(request) is None:
        return None
    return json_response(await database_of(request).read(reads.progress, access))


@router.get(
    "/clients/{client_id}/progress",
    response_model=Progress,
    summary="Progress through the protocol",
    responses=_READ_ERRORS,
)
@quick(_plain_progress)
async def get_progress(request: Request, client_id: ClientRef, secret: BearerSecret) -> Response:
    """Status, pain figures and every stage: when and why it opened, or, for the next locked
    stage, its gate's criteria as of now (`ready`: it opens with the next check-in)."""
    db = database_of(request)
    return json_response(await db.read(reads.progress, ClientAccess(secret, client_id)))


async def _plain_today(request: Request) -> Response | None:
    """`get_today` for a plain request, without `date` (app/core/quick.py)."""
    access = plain_client_access(request)
    if access is None or plain_query(request) != {}:
        return None
    return json_response(await database_of(request).read(reads.today, access, None))


@router.get(
    "/clients/{client_id}/today",
    response_model=Today,
    summary="Today's routine",
    responses=_READ_ERRORS,
    openapi_extra={"parameters": [_DATE.parameter]},
)
@quick(_plain_today)
async def get_today(request: Request, client_id: ClientRef, secret: BearerSecret) -> Response:
    """The open stages' exercises in protocol order with their dose: a lighter dose on hold,
    none on referral (see a clinician), a maintenance rhythm when resolved."""
    date, db = _DATE.read(request), database_of(request)
    return json_response(await db.read(reads.today, ClientAccess(secret, client_id), date))


async def _plain_events(request: Request) -> Response | None:
    """`list_events` for a plain request (app/core/quick.py)."""
    page = plain_page(request)
    if page is None:
        return None
    access, limit, cursor = page
    db = database_of(request)
    return await list_events(request, access, db, limit=limit, cursor=cursor)


@router.get(
    "/clients/{client_id}/events",
    response_model=EventPage,
    summary="The decision log",
    responses={**csv_responses(_EVENTS_CSV), **problem_responses(400, 401, 404, 422)},
)
@quick(_plain_events)
async def list_events(
    request: Request,
    access: ClientAccessDep,
    db: DatabaseDep,
    type: Annotated[list[EventType] | None, Query(description="Only these types.")] = None,
    include_retracted: Annotated[
        bool, Query(description="Also decisions a later backfill or deletion undid.")
    ] = False,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Every decision the engine made for the client, newest first. `Accept: text/csv` for a
    spreadsheet (`data` as JSON in its cell)."""
    page = await db.read(
        views.list_events,
        access,
        types=list(type) if type else None,
        include_retracted=include_retracted,
        limit=limit,
        cursor=cursor,
        lean=not wants_csv(request),
    )
    return listed(request, page, Event, "events")


@router.get(
    "/events",
    response_model=FeedPage,
    summary="The event feed",
    responses=problem_responses(401, 404, 422),
)
async def list_feed(
    caller: CallerDep,
    db: DatabaseDep,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,18}$",
            description="The `next_cursor` you kept: only entries after it. Omit it to start "
            "from the beginning.",
        ),
    ] = None,
    type: Annotated[list[FeedEventType] | None, Query(description="Only these types.")] = None,
    client_id: Annotated[uuid.UUID | None, Query(description="Only this client.")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """Every decision for all of a coach's clients (a client: its own), oldest first, each
    once: a decision when it is made, `decision_retracted` when a later re-evaluation (a
    backfill, a deletion) undoes it, and the decision again if it is made again. Keep
    `next_cursor` and send it as `after`: an entry appears only once every write
    numbered before it has finished, so a poller that does so sees each exactly once. The
    feed follows who your clients are now: a released client's entries leave it, a linked
    one's join it."""
    return json_response(
        await db.read(
            feed.list_feed,
            caller,
            after=int(after) if after is not None else 0,
            types=list(type) if type else None,
            client_ref=client_id,
            limit=limit,
        )
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
async def create_override(
    payload: OverrideCreate,
    access: ClientAccessDep,
    request: Request,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """`unlock_stage`: the client's coach opens a stage. `clear_referral`: the coach, or a
    client with no coach confirming that a clinician has seen it, lifts a referral. A reason
    is required; both are recorded as events."""
    return await db.write(
        create_for_client, access, request, idempotency_key, payload, overrides.create_override
    )


@router.post(
    "/simulations",
    response_model=SimulationResult,
    summary="Simulate a timeline",
    description=(
        "Replays a posted timeline through the same engine and returns every decision. "
        "Public, and stores nothing: for app developers, coaches tuning parameters and anyone "
        "exploring the rules (listed under the `progression` tag). Bounded: at most "
        f"{SIMULATION_ITEMS} timeline entries within {SIMULATION_DAYS} days of `started_at` "
        "(422 `beyond-span` past it), and one simulation at a time per client address (a "
        "second waits for the first, or gets 429 with `Retry-After`)."
    ),
    responses=problem_responses(400, 413, 422, 429),
)
async def create_simulation(
    request: Request,
    payload: Annotated[SimulationRequest, Body(openapi_examples=SIMULATION_EXAMPLES)],
    db: DatabaseDep,
) -> Response:
    async with one_at_a_time(request, signed_out=True):
        document = await db.read(protocol_for, payload)
        # The engine's work needs no database: in the worker process, not on a lane.
        return json_response(await cpu_pool_of(request).run(simulate_json, payload, document))
