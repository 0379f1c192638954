"""Enrolments and what a client logs: pain, sessions, assessments."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from app.accounts.access import (
    ClientAccess,
    ClientAccessDep,
    ClientRef,
    create_for_client,
    plain_page,
)
from app.core.cpu_pool import cpu_pool_of
from app.core.csv_lists import csv_responses, listed, wants_csv
from app.core.db import DatabaseDep, database_of
from app.core.idempotency import IdempotencyKey
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import ProblemError, problem_responses
from app.core.quick import quick
from app.core.responses import json_response
from app.core.security import BearerSecret
from app.core.strict_requests import StrictRoute
from app.core.types import QueryMoment
from app.progression.history import replay_history
from app.tracking import service
from app.tracking.schemas import (
    AssessmentCreate,
    AssessmentPage,
    AssessmentPublic,
    EnrollmentCreate,
    EnrollmentEnd,
    EnrollmentPage,
    EnrollmentPublic,
    EnrollmentUpdate,
    PainContext,
    PainLogBatch,
    PainLogBatchResult,
    PainLogCreate,
    PainLogPage,
    PainLogPublic,
    SessionCreate,
    SessionPage,
    SessionPublic,
)

router = APIRouter(prefix="/clients/{client_id}", route_class=StrictRoute)
# Whole-history replays of a change of parameters, each found stale by a write meanwhile,
# before the caller is told to retry (each is charged to its replay budget).
REPLAY_TRIES = 3

Since = Annotated[QueryMoment | None, Query(description="Only items at or after this moment.")]
Until = Annotated[QueryMoment | None, Query(description="Only items before this moment.")]

_CREATE_ERRORS = {
    200: {"description": "A retry: the item already stored with this id and body."},
    **problem_responses(400, 401, 403, 404, 409, 413, 422),
}
_LIST_ERRORS = problem_responses(400, 401, 404, 422)
_PAIN_CSV = (
    "id,client_id,enrollment_id,session_id,score,context,recorded_at,side,location,flags,note,"
    "created_at\r\n0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60,"
    "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09,,4,next_morning,2026-11-26T06:30:00+00:00,right,"
    "groin,,Stiff after the long drive.,2026-11-26T06:31:00+00:00\r\n"
)
_SESSION_CSV = (
    "id,client_id,enrollment_id,performed_at,exercises,pain_during,pain_after,side,"
    "pain_log_ids,note,created_at\r\n6f5e4d3c-2b1a-4098-8765-4321fedcba98,"
    "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60,9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09,"
    '2026-11-25T18:00:00+00:00,"[{""exercise"":""hip-flexor-stretch"",""sets"":3}]",3,2,both,'
    ",,2026-11-25T18:30:00+00:00\r\n"
)


@router.post(
    "/enrollments",
    tags=["enrolments"],
    status_code=201,
    response_model=EnrollmentPublic,
    summary="Enrol a client",
    responses=_CREATE_ERRORS,
)
async def create_enrollment(
    payload: EnrollmentCreate,
    access: ClientAccessDep,
    request: Request,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Start a protocol (its version is pinned for the enrolment's life). One active enrolment
    per client; only a coach may set `params`."""
    return await db.write(
        create_for_client, access, request, idempotency_key, payload, service.create_enrollment
    )


@router.get(
    "/enrollments",
    tags=["enrolments"],
    response_model=EnrollmentPage,
    summary="List enrolments",
    responses=_LIST_ERRORS,
)
async def list_enrollments(
    access: ClientAccessDep,
    db: DatabaseDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Newest first."""
    return json_response(await db.read(service.list_enrollments, access, limit, cursor))


@router.post(
    "/enrollments/{enrollment_id}/end",
    tags=["enrolments"],
    response_model=EnrollmentPublic,
    summary="End an enrolment",
    responses=problem_responses(400, 401, 404, 409, 413, 422),
)
async def end_enrollment(
    enrollment_id: uuid.UUID, payload: EnrollmentEnd, access: ClientAccessDep, db: DatabaseDep
) -> Response:
    """`completed` or `withdrawn`, with a reason; by the client or its coach. Its history
    stays readable (lists, events, progress until another enrolment starts), and a new
    enrolment may follow with a new baseline. The same outcome and reason again answer the
    same; a different end of an ended enrolment is a 409."""
    return json_response(await db.write(service.end_enrollment, access, enrollment_id, payload))


@router.patch(
    "/enrollments/{enrollment_id}",
    tags=["enrolments"],
    response_model=EnrollmentPublic,
    summary="Change an enrolment's parameters",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def update_enrollment(
    enrollment_id: uuid.UUID,
    payload: EnrollmentUpdate,
    access: ClientAccessDep,
    request: Request,
    db: DatabaseDep,
) -> Response:
    """Coach only, on an active enrolment: the thresholds named change, the others keep
    their values. The engine replays the whole history under them; decisions it no longer
    makes are retracted (in the feed and webhooks too), and `param_changes` records the
    change and how many decisions were added and retracted. The same values again change
    nothing.

    The replay runs beside the writes, not in their way: it is computed from what is stored
    and then stored in a short write, which also replays what was logged or deleted
    meanwhile. A change it cannot catch up with (other parameters, a move to another time
    zone, a change far back) makes it start again; after three tries it answers 409
    `history-changed`, storing nothing. It is charged to
    the caller: one whose writes re-evaluated 10,000 items or more within 2 minutes
    (`HIPFIX_REPLAY_BUDGET`'s default; an ordinary history is a few hundred) gets 429 with
    `Retry-After` on its next write until enough of them are out of that window. Other
    callers are not affected."""
    for _ in range(REPLAY_TRIES):
        history = await db.read(service.read_history, access, enrollment_id, payload)
        if isinstance(history, EnrollmentPublic):  # the same values: nothing to change
            return json_response(history)
        # The engine needs no database: in the worker process, holding no lane.
        replayed = await cpu_pool_of(request).run(
            replay_history, history.plan, history.enrolled, history.rows
        )
        changed = await db.write(
            service.update_enrollment, access, enrollment_id, history, replayed
        )
        if changed is not None:
            return json_response(changed)
    raise ProblemError(
        409,
        "history-changed",
        f"The client's history changed while it was being replayed under the new parameters, "
        f"{REPLAY_TRIES} times; nothing was changed. Retry when it is quieter.",
    )


@router.post(
    "/pain-logs",
    tags=["pain logs"],
    status_code=201,
    response_model=PainLogPublic,
    summary="Log pain",
    responses=_CREATE_ERRORS,
)
async def create_pain_log(
    payload: PainLogCreate,
    access: ClientAccessDep,
    request: Request,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A 0–10 pain score with its context. Backdating is fine (offline upload); more than
    5 minutes ahead, or before the enrolment started, is refused."""
    return await db.write(
        create_for_client,
        access,
        request,
        idempotency_key,
        payload,
        service.create_pain_log,
        enrolled=True,
    )


@router.post(
    "/pain-logs/batch",
    tags=["pain logs"],
    status_code=201,
    response_model=PainLogBatchResult,
    summary="Log many pains at once",
    responses=_CREATE_ERRORS,
)
async def create_pain_log_batch(
    payload: PainLogBatch,
    access: ClientAccessDep,
    request: Request,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Up to 500 pain logs, all or nothing: one refused item refuses the batch and is named.
    Items with ids already stored (same body) are returned as they are: 200 if none was new."""
    return await db.write(
        create_for_client,
        access,
        request,
        idempotency_key,
        payload,
        service.create_pain_logs,
        enrolled=True,
    )


async def _pain_log_page(
    request: Request,
    access: ClientAccess,
    limit: int,
    cursor: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
    context: PainContext | None = None,
) -> Response:
    page = await database_of(request).read(
        service.list_pain_logs,
        access,
        since=since,
        until=until,
        context=context,
        limit=limit,
        cursor=cursor,
        lean=not wants_csv(request),
    )
    return listed(request, page, PainLogPublic, "pain-logs")


async def _plain_pain_logs(request: Request) -> Response | None:
    """`list_pain_logs` for a plain request (app/core/quick.py)."""
    page = plain_page(request)
    if page is None:
        return None
    access, limit, cursor = page
    return await _pain_log_page(request, access, limit, cursor)


@router.get(
    "/pain-logs",
    tags=["pain logs"],
    response_model=PainLogPage,
    summary="List pain logs",
    responses={**csv_responses(_PAIN_CSV), **_LIST_ERRORS},
)
@quick(_plain_pain_logs)
async def list_pain_logs(
    request: Request,
    client_id: ClientRef,
    secret: BearerSecret,
    since: Since = None,
    until: Until = None,
    context: Annotated[PainContext | None, Query(description="Only this context.")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Newest first by `recorded_at`. `Accept: text/csv` for a spreadsheet."""
    # The caller, the client and the database read here: fewer dependencies to solve.
    access = ClientAccess(secret, client_id)
    return await _pain_log_page(request, access, limit, cursor, since, until, context)


@router.delete(
    "/pain-logs/{log_id:uuid}",
    tags=["pain logs"],
    status_code=204,
    summary="Delete a pain log",
    responses=problem_responses(401, 404, 422),
)
async def delete_pain_log(log_id: uuid.UUID, access: ClientAccessDep, db: DatabaseDep) -> Response:
    await db.write(service.delete_pain_log, access, log_id)
    return Response(status_code=204)


@router.post(
    "/sessions",
    tags=["sessions"],
    status_code=201,
    response_model=SessionPublic,
    summary="Log an exercise session",
    responses=_CREATE_ERRORS,
)
async def create_session(
    payload: SessionCreate,
    access: ClientAccessDep,
    request: Request,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The exercises done, each from a stage unlocked for the client (otherwise 422
    `stage-locked`). `pain_during` and `pain_after` become linked pain logs."""
    return await db.write(
        create_for_client,
        access,
        request,
        idempotency_key,
        payload,
        service.create_session,
        enrolled=True,
    )


async def _plain_sessions(request: Request) -> Response | None:
    """`list_sessions` for a plain request (app/core/quick.py)."""
    page = plain_page(request)
    if page is None:
        return None
    access, limit, cursor = page
    return await list_sessions(request, access, database_of(request), limit=limit, cursor=cursor)


@router.get(
    "/sessions",
    tags=["sessions"],
    response_model=SessionPage,
    summary="List sessions",
    responses={**csv_responses(_SESSION_CSV), **_LIST_ERRORS},
)
@quick(_plain_sessions)
async def list_sessions(
    request: Request,
    access: ClientAccessDep,
    db: DatabaseDep,
    since: Since = None,
    until: Until = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Newest first by `performed_at`. `Accept: text/csv` for a spreadsheet."""
    page = await db.read(
        service.list_sessions,
        access,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        lean=not wants_csv(request),
    )
    return listed(request, page, SessionPublic, "sessions")


@router.post(
    "/assessments",
    tags=["assessments"],
    status_code=201,
    response_model=AssessmentPublic,
    summary="Log a squat self-test",
    responses=_CREATE_ERRORS,
)
async def create_assessment(
    payload: AssessmentCreate,
    access: ClientAccessDep,
    request: Request,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Per side, whether the knee stayed over the foot or drifted inward."""
    return await db.write(
        create_for_client,
        access,
        request,
        idempotency_key,
        payload,
        service.create_assessment,
        enrolled=True,
    )


@router.get(
    "/assessments",
    tags=["assessments"],
    response_model=AssessmentPage,
    summary="List assessments",
    responses=_LIST_ERRORS,
)
async def list_assessments(
    access: ClientAccessDep,
    db: DatabaseDep,
    since: Since = None,
    until: Until = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Newest first by `performed_at`."""
    return json_response(
        await db.read(
            service.list_assessments, access, since=since, until=until, limit=limit, cursor=cursor
        )
    )


@router.delete(
    "/sessions/{session_id:uuid}",
    tags=["sessions"],
    status_code=204,
    summary="Delete a session",
    responses=problem_responses(401, 404, 422),
)
async def delete_session(
    session_id: uuid.UUID, access: ClientAccessDep, db: DatabaseDep
) -> Response:
    """A session logged by mistake, with the pain logs it made (`pain_during`, `pain_after`):
    the engine re-evaluates from its moment, as for a deleted pain log. Its id stays spent."""
    await db.write(service.delete_session, access, session_id)
    return Response(status_code=204)


@router.delete(
    "/assessments/{assessment_id:uuid}",
    tags=["assessments"],
    status_code=204,
    summary="Delete an assessment",
    responses=problem_responses(401, 404, 422),
)
async def delete_assessment(
    assessment_id: uuid.UUID, access: ClientAccessDep, db: DatabaseDep
) -> Response:
    """The engine re-evaluates from its moment, as for a deleted pain log."""
    await db.write(service.delete_assessment, access, assessment_id)
    return Response(status_code=204)
