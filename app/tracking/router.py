"""Enrolments and what a client logs: pain, sessions, assessments."""

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session

from app.accounts.deps import ClientAccess, ClientAccessDep, ClientDep
from app.core.db import DatabaseDep, SessionDep
from app.core.idempotency import Created, IdempotencyKey, respond_once
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import problem_responses
from app.core.security import Principal
from app.core.types import QueryMoment
from app.models import Client
from app.tracking import service
from app.tracking.schemas import (
    AssessmentCreate,
    AssessmentPage,
    AssessmentPublic,
    EnrollmentCreate,
    EnrollmentPage,
    EnrollmentPublic,
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

router = APIRouter(prefix="/clients/{client_id}")

Since = Annotated[QueryMoment | None, Query(description="Only items at or after this moment.")]
Until = Annotated[QueryMoment | None, Query(description="Only items before this moment.")]

_CREATE_ERRORS = {
    200: {"description": "A retry: the item already stored with this id and body."},
    **problem_responses(400, 401, 403, 404, 409, 413, 422),
}
_LIST_ERRORS = problem_responses(400, 401, 404, 422)


Create = Callable[[Session, Principal, Client, Any], Created]


def _create_once(
    session: Session,
    access: ClientAccess,
    request: Request,
    key: str | None,
    payload: BaseModel,
    create: Create,
) -> JSONResponse:
    """One unit of work: who asks, for which client, then the create and its key's record."""
    principal, client = access.resolve(session)
    return respond_once(
        session,
        request,
        principal.id,
        key,
        payload,
        lambda: create(session, principal, client, payload),
        # Scoped by the client's id: `me` and that id are the same target for a retry.
        scope=str(client.id),
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
        _create_once, access, request, idempotency_key, payload, service.create_enrollment
    )


@router.get(
    "/enrollments",
    tags=["enrolments"],
    response_model=EnrollmentPage,
    summary="List enrolments",
    responses=_LIST_ERRORS,
)
def list_enrollments(
    client: ClientDep,
    session: SessionDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> EnrollmentPage:
    """Newest first."""
    return service.list_enrollments(session, client, limit, cursor)


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
        _create_once, access, request, idempotency_key, payload, service.create_pain_log
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
        _create_once, access, request, idempotency_key, payload, service.create_pain_logs
    )


@router.get(
    "/pain-logs",
    tags=["pain logs"],
    response_model=PainLogPage,
    summary="List pain logs",
    responses=_LIST_ERRORS,
)
def list_pain_logs(
    client: ClientDep,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    context: Annotated[PainContext | None, Query(description="Only this context.")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> PainLogPage:
    """Newest first by `recorded_at`."""
    return service.list_pain_logs(
        session, client, since=since, until=until, context=context, limit=limit, cursor=cursor
    )


@router.delete(
    "/pain-logs/{log_id:uuid}",
    tags=["pain logs"],
    status_code=204,
    summary="Delete a pain log",
    responses=problem_responses(401, 404, 422),
)
def delete_pain_log(log_id: uuid.UUID, client: ClientDep, session: SessionDep) -> Response:
    service.delete_pain_log(session, client, log_id)
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
        _create_once, access, request, idempotency_key, payload, service.create_session
    )


@router.get(
    "/sessions",
    tags=["sessions"],
    response_model=SessionPage,
    summary="List sessions",
    responses=_LIST_ERRORS,
)
def list_sessions(
    client: ClientDep,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> SessionPage:
    """Newest first by `performed_at`."""
    return service.list_sessions(
        session, client, since=since, until=until, limit=limit, cursor=cursor
    )


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
        _create_once, access, request, idempotency_key, payload, service.create_assessment
    )


@router.get(
    "/assessments",
    tags=["assessments"],
    response_model=AssessmentPage,
    summary="List assessments",
    responses=_LIST_ERRORS,
)
def list_assessments(
    client: ClientDep,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> AssessmentPage:
    """Newest first by `performed_at`."""
    return service.list_assessments(
        session, client, since=since, until=until, limit=limit, cursor=cursor
    )
