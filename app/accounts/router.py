"""Accounts, sign-in, API keys and clients."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.accounts import service
from app.accounts.access import (
    CallerDep,
    ClientAccessDep,
    create_by_coach,
)
from app.accounts.schemas import (
    AccountCreate,
    AccountPublic,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ClientCreate,
    ClientPage,
    ClientPublic,
    Token,
    TokenRequest,
)
from app.core.config import Settings
from app.core.db import DatabaseDep
from app.core.idempotency import IdempotencyKey
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import ProblemError, problem_responses
from app.core.responses import json_response
from app.core.security import hash_password, verify_password

router = APIRouter()

_AUTH = problem_responses(401)
_COACH = problem_responses(401, 403)
_EXISTING: dict[int | str, dict[str, Any]] = {
    200: {"description": "A retry: the item already stored with this id and body."}
}


@router.post(
    "/accounts",
    tags=["accounts"],
    status_code=201,
    response_model=AccountPublic,
    summary="Sign up",
    responses=problem_responses(400, 409, 413, 422),
)
async def create_account(payload: AccountCreate, db: DatabaseDep) -> AccountPublic:
    """Create a client or coach account. A client account gets its own client profile
    (`me`). An e-mail already registered is a 409: sign in instead."""
    # Argon2 is slow on purpose: hashed on a thread of its own, before the unit of work.
    password_hash = await run_in_threadpool(hash_password, payload.password)
    return await db.write(service.create_account, payload, password_hash)


@router.post(
    "/auth/token",
    tags=["accounts"],
    response_model=Token,
    summary="Sign in",
    responses=problem_responses(401, 422, 429),
)
async def create_token(
    form: Annotated[TokenRequest, Form()], request: Request, db: DatabaseDep
) -> Token:
    """OAuth2 password flow (form fields `username` = e-mail, `password`), so Swagger's
    Authorize button works. Repeated failures for one e-mail from one address are refused
    for a while (429); sign-ins from elsewhere are not affected."""
    ip = request.client.host if request.client is not None else ""
    settings: Settings = request.app.state.settings
    attempt = await db.read(service.start_sign_in, settings, form.username, ip)
    # Between the two units of work: see `service.start_sign_in`.
    verified = await run_in_threadpool(verify_password, attempt.password_hash, form.password)
    outcome = await db.write(service.finish_sign_in, settings, attempt, verified)
    if isinstance(outcome, ProblemError):
        raise outcome
    return outcome


@router.delete(
    "/auth/token",
    tags=["accounts"],
    status_code=204,
    summary="Sign out",
    responses=_AUTH,
)
async def delete_token(caller: CallerDep, db: DatabaseDep) -> Response:
    """Revoke the token (or API key) this request presents."""
    await db.write(service.revoke_credential, caller)
    return Response(status_code=204)


@router.get(
    "/me", tags=["accounts"], response_model=AccountPublic, summary="Who am I", responses=_AUTH
)
async def get_me(caller: CallerDep, db: DatabaseDep) -> Response:
    """The signed-in account, with its client profile's id for a client."""
    return json_response(await db.read(service.me, caller))


@router.post(
    "/api-keys",
    tags=["api keys"],
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key",
    responses={**_EXISTING, **problem_responses(400, 401, 403, 409, 413, 422)},
)
async def create_api_key(
    payload: ApiKeyCreate,
    request: Request,
    caller: CallerDep,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """For server-to-server use by a coach's systems. The secret is in this response only."""
    return await db.write(
        create_by_coach,
        caller,
        request,
        idempotency_key,
        payload,
        service.create_api_key,
        redact=frozenset({"key"}),
    )


@router.get(
    "/api-keys",
    tags=["api keys"],
    response_model=ApiKeyPage,
    summary="List API keys",
    responses=problem_responses(400, 401, 403, 422),
)
async def list_api_keys(
    caller: CallerDep,
    db: DatabaseDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """The coach's active keys, oldest first, without their secrets."""
    return json_response(await db.read(service.list_api_keys, caller, limit, cursor))


@router.delete(
    "/api-keys/{key_id}",
    tags=["api keys"],
    status_code=204,
    summary="Revoke an API key",
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_api_key(key_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> Response:
    await db.write(service.revoke_api_key, caller, key_id)
    return Response(status_code=204)


@router.post(
    "/clients",
    tags=["clients"],
    status_code=201,
    response_model=ClientPublic,
    summary="Create a managed client",
    responses={**_EXISTING, **problem_responses(400, 401, 403, 409, 413, 422)},
)
async def create_client(
    payload: ClientCreate,
    request: Request,
    caller: CallerDep,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A coach adds a client it manages (one who need not sign in)."""
    return await db.write(
        create_by_coach, caller, request, idempotency_key, payload, service.create_client
    )


@router.get(
    "/clients",
    tags=["clients"],
    response_model=ClientPage,
    summary="List clients",
    responses=problem_responses(400, 401, 422),
)
async def list_clients(
    caller: CallerDep,
    db: DatabaseDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """A coach's clients, oldest first; for a client, just itself."""
    return json_response(await db.read(service.list_clients, caller, limit, cursor))


@router.get(
    "/clients/{client_id}",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Get a client",
    responses=problem_responses(401, 404, 422),
)
async def get_client(access: ClientAccessDep, db: DatabaseDep) -> Response:
    """One client the caller may see; `me` is the caller's own profile."""
    return json_response(await db.read(service.get_client, access))
