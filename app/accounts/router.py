"""Accounts, sign-in, API keys and clients."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse

from app.accounts import service
from app.accounts.deps import ClientDep
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
from app.core.config import Settings, get_settings
from app.core.db import SessionDep
from app.core.idempotency import IdempotencyKey, respond_once
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import problem_responses
from app.core.security import CoachPrincipal, CurrentPrincipal

router = APIRouter()

_AUTH = problem_responses(401)
_COACH = problem_responses(401, 403)
_EXISTING = {200: {"description": "A retry: the item already stored with this id and body."}}


@router.post(
    "/accounts",
    tags=["accounts"],
    status_code=201,
    response_model=AccountPublic,
    summary="Sign up",
    responses=problem_responses(400, 409, 413, 422),
)
def create_account(payload: AccountCreate, session: SessionDep) -> AccountPublic:
    """Create a client or coach account. A client account gets its own client profile
    (`me`). An e-mail already registered is a 409: sign in instead."""
    return service.create_account(session, payload)


@router.post(
    "/auth/token",
    tags=["accounts"],
    response_model=Token,
    summary="Sign in",
    responses=problem_responses(401, 422, 429),
)
def create_token(
    form: Annotated[TokenRequest, Form()],
    request: Request,
    session: SessionDep,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Token:
    """OAuth2 password flow (form fields `username` = e-mail, `password`), so Swagger's
    Authorize button works. Repeated failures for one e-mail from one address are refused
    for a while (429); sign-ins from elsewhere are not affected."""
    ip = request.client.host if request.client is not None else ""
    return service.issue_token(session, settings, form.username, form.password, ip)


@router.delete(
    "/auth/token",
    tags=["accounts"],
    status_code=204,
    summary="Sign out",
    responses=_AUTH,
)
def delete_token(principal: CurrentPrincipal, session: SessionDep) -> Response:
    """Revoke the token (or API key) this request presents."""
    service.revoke_credential(session, principal)
    return Response(status_code=204)


@router.get(
    "/me", tags=["accounts"], response_model=AccountPublic, summary="Who am I", responses=_AUTH
)
def get_me(principal: CurrentPrincipal, session: SessionDep) -> AccountPublic:
    """The signed-in account, with its client profile's id for a client."""
    return service.account_public(session, principal.account)


@router.post(
    "/api-keys",
    tags=["api keys"],
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key",
    responses={**_EXISTING, **problem_responses(400, 401, 403, 409, 413, 422)},
)
def create_api_key(
    payload: ApiKeyCreate,
    request: Request,
    coach: CoachPrincipal,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """For server-to-server use by a coach's systems. The secret is in this response only."""
    return respond_once(
        session,
        request,
        coach.id,
        idempotency_key,
        payload,
        lambda: service.create_api_key(session, coach, payload),
        redact=frozenset({"key"}),
    )


@router.get(
    "/api-keys",
    tags=["api keys"],
    response_model=ApiKeyPage,
    summary="List API keys",
    responses=problem_responses(400, 401, 403, 422),
)
def list_api_keys(
    coach: CoachPrincipal,
    session: SessionDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ApiKeyPage:
    """The coach's active keys, oldest first, without their secrets."""
    return service.list_api_keys(session, coach, limit, cursor)


@router.delete(
    "/api-keys/{key_id}",
    tags=["api keys"],
    status_code=204,
    summary="Revoke an API key",
    responses=problem_responses(401, 403, 404, 422),
)
def delete_api_key(key_id: uuid.UUID, coach: CoachPrincipal, session: SessionDep) -> Response:
    service.revoke_api_key(session, coach, key_id)
    return Response(status_code=204)


@router.post(
    "/clients",
    tags=["clients"],
    status_code=201,
    response_model=ClientPublic,
    summary="Create a managed client",
    responses={**_EXISTING, **problem_responses(400, 401, 403, 409, 413, 422)},
)
def create_client(
    payload: ClientCreate,
    request: Request,
    coach: CoachPrincipal,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A coach adds a client it manages (one who need not sign in)."""
    return respond_once(
        session,
        request,
        coach.id,
        idempotency_key,
        payload,
        lambda: service.create_client(session, coach, payload),
    )


@router.get(
    "/clients",
    tags=["clients"],
    response_model=ClientPage,
    summary="List clients",
    responses=problem_responses(400, 401, 422),
)
def list_clients(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ClientPage:
    """A coach's clients, oldest first; for a client, just itself."""
    return service.list_clients(session, principal, limit, cursor)


@router.get(
    "/clients/{client_id}",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Get a client",
    responses=problem_responses(401, 404, 422),
)
def get_client(client: ClientDep) -> ClientPublic:
    """One client the caller may see; `me` is the caller's own profile."""
    return service.client_public(client)
