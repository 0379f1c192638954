"""Accounts, sign-in, API keys and clients."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.accounts import erasure, export, invitations, person, service
from app.accounts.access import (
    Caller,
    CallerDep,
    ClientAccessDep,
    create_by_coach,
    plain_paging,
)
from app.accounts.person_schemas import (
    AccountUpdate,
    ErasureRequest,
    NewPassword,
    PasswordChange,
    PersonExport,
    ResetAccepted,
    ResetRequestBody,
)
from app.accounts.schemas import (
    AccountCreate,
    AccountPublic,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ClientCreate,
    ClientPublic,
    ClientSort,
    ClientStatus,
    ClientSummaryPage,
    InvitationCreate,
    InvitationCreated,
    InvitationPage,
    Token,
    TokenRequest,
)
from app.core.config import Settings
from app.core.costs import one_at_a_time
from app.core.db import DatabaseDep, database_of
from app.core.idempotency import IdempotencyKey
from app.core.mail import app_reset_link, public_link, send_mail
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import ProblemError, problem_responses
from app.core.quick import bearer, plain_query, quick
from app.core.responses import json_response
from app.core.security import (
    BearerSecret,
    hash_password,
    new_secret,
    secret_hash,
    verify_password,
)
from app.core.strict_requests import StrictRoute
from app.core.windows import FromQuery, ToQuery
from app.progression import dashboard

router = APIRouter(route_class=StrictRoute)

_AUTH = problem_responses(401)
_COACH = problem_responses(401, 403)


def _ip(request: Request) -> str:
    return request.client.host if request.client is not None else ""


_EXISTING: dict[int | str, dict[str, Any]] = {
    200: {"description": "A retry: the item already stored with this id and body."}
}


@router.post(
    "/accounts",
    tags=["accounts"],
    status_code=201,
    response_model=AccountPublic,
    summary="Sign up",
    responses=problem_responses(400, 413, 422),
)
async def create_account(
    payload: AccountCreate, request: Request, background: BackgroundTasks, db: DatabaseDep
) -> AccountPublic:
    """Create a client or coach account. A client account gets its own client profile
    (`me`). Then sign in with the e-mail and password (`POST /v1/auth/token`). The answer
    never says whether an e-mail is registered: with one that is, it looks the same (201,
    new ids) but stores nothing, and the address's owner gets a mail saying someone tried;
    signing in with a password other than the owner's then fails like any wrong password.
    A retried sign-up is answered alike: sign in."""
    settings: Settings = request.app.state.settings
    # Argon2 is slow on purpose: hashed on a thread of its own, before the unit of work,
    # whether or not the e-mail is registered (the time taken says nothing either).
    password_hash = await run_in_threadpool(hash_password, payload.password)
    reset_link = public_link(settings, request.app.url_path_for("request_password_reset"))
    signed_up = await db.write(service.create_account, payload, password_hash, reset_link)
    if signed_up.mail is not None:
        background.add_task(send_mail, settings, signed_up.mail)
    return signed_up.account


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
    settings: Settings = request.app.state.settings
    # Counted as a failure before Argon2 runs (app/accounts/throttle.py); forgiven on success.
    attempt = await db.write(service.start_sign_in, settings, form.username, _ip(request))
    # Between the two units of work: see `service.start_sign_in`.
    verified = await run_in_threadpool(verify_password, attempt.password_hash, form.password)
    if not verified or attempt.account_id is None:
        raise service.invalid_credentials()
    return await db.write(service.finish_sign_in, settings, attempt)


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


async def _plain_me(request: Request) -> Response | None:
    """`get_me` for a plain request (app/core/quick.py)."""
    secret = bearer(request)
    if secret is None or plain_query(request) != {}:
        return None
    return json_response(await database_of(request).read(service.me, Caller(secret)))


@router.get(
    "/me", tags=["accounts"], response_model=AccountPublic, summary="Who am I", responses=_AUTH
)
@quick(_plain_me)
async def get_me(request: Request, secret: BearerSecret) -> Response:
    """The signed-in account, with its client profile's id for a client."""
    # The caller from the bearer secret alone: one dependency to solve on a hot read.
    return json_response(await database_of(request).read(service.me, Caller(secret)))


# --- a person's own account --------------------------------------------------------------------

RESET_PREFIX = "hfr_"
ResetToken = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_-]{1,100}$",
        description="The token from the reset mail.",
        examples=["hfr_Jk3…"],
    ),
]


@router.patch(
    "/me",
    tags=["accounts"],
    response_model=AccountPublic,
    summary="Change your name or timezone",
    responses=problem_responses(400, 401, 413, 422),
)
async def update_me(payload: AccountUpdate, caller: CallerDep, db: DatabaseDep) -> Response:
    """`display_name` and `timezone`, on the account and its client profile. A new timezone
    applies from now on: what was logged before keeps its local dates (and the decisions
    their dates), what is logged from now is dated in the new zone. Moving west, today keeps
    its date until the new zone's own date catches up, so dates never go back."""
    return json_response(await db.write(person.update_me, caller, payload))


@router.post(
    "/me/password",
    tags=["accounts"],
    status_code=204,
    summary="Change your password",
    responses=problem_responses(400, 401, 403, 409, 413, 422, 429),
)
async def change_password(
    payload: PasswordChange, request: Request, caller: CallerDep, db: DatabaseDep
) -> Response:
    """The current password is required (a wrong one is 403 and counts as a failed sign-in,
    throttled alike). Every other sign-in token and every API key of the account is revoked
    (a key made with a stolen token must not outlive the change), and so is every reset link
    not used yet; the credential sending this stays. Sent again after it went through, it
    answers the same."""
    settings: Settings = request.app.state.settings
    check = await db.write(person.start_password_check, settings, caller, _ip(request))
    # Argon2 between the two units of work (see `service.start_sign_in`).
    verified = await run_in_threadpool(
        verify_password, check.password_hash, payload.current_password
    )
    already = not verified and await run_in_threadpool(
        verify_password, check.password_hash, payload.new_password
    )
    new_hash = await run_in_threadpool(hash_password, payload.new_password) if verified else None
    outcome = await db.write(
        person.finish_password_change,
        settings,
        caller,
        check,
        verified=verified,
        already=already,
        new_hash=new_hash,
    )
    if outcome is not None:
        raise outcome
    return Response(status_code=204)


@router.delete(
    "/auth/tokens",
    tags=["accounts"],
    status_code=204,
    summary="Sign out everywhere",
    responses=_AUTH,
)
async def delete_tokens(caller: CallerDep, db: DatabaseDep) -> Response:
    """Every sign-in token and API key of the account stops working, this one included, and
    so does every reset link not used yet: a key made with a stolen token goes with it.
    Create new keys afterwards for the systems that need one."""
    await db.write(person.sign_out_everywhere, caller)
    return Response(status_code=204)


@router.post(
    "/auth/password-reset",
    tags=["accounts"],
    status_code=202,
    response_model=ResetAccepted,
    summary="Forgotten password",
    responses=problem_responses(400, 413, 422, 429),
)
async def request_password_reset(
    payload: ResetRequestBody, request: Request, background: BackgroundTasks, db: DatabaseDep
) -> ResetAccepted:
    """Mails a one-time link to the address if an account has it; the answer is the same
    202 whether or not it does. The link works once, for an hour
    (`HIPFIX_PASSWORD_RESET_TTL_MINUTES`). Asking too often for one e-mail, or from one
    address, is 429 with Retry-After."""
    settings: Settings = request.app.state.settings
    token = new_secret(RESET_PREFIX)
    # From the configured base URL, never the request's Host header: the caller chooses that.
    api_link = public_link(settings, request.app.url_path_for("reset_password", token=token))
    links = person.ResetLinks(token, api_link, app_reset_link(settings, token))
    mail = await db.write(
        person.request_reset, settings, payload.email, _ip(request), secret_hash(token), links
    )
    if mail is not None:
        # After the response, on a worker thread: the token is committed by now, and how
        # long the answer takes says nothing about whether a mail went out.
        background.add_task(send_mail, settings, mail)
    return ResetAccepted()


@router.post(
    "/auth/password-reset/{token}",
    tags=["accounts"],
    status_code=204,
    summary="Set a new password with a reset link",
    responses=problem_responses(400, 404, 413, 422),
)
async def reset_password(token: ResetToken, payload: NewPassword, db: DatabaseDep) -> Response:
    """Sets the password once; the link (and any other of the account's) then stops
    working, and every sign-in token and API key is revoked. Unknown, used and expired links
    (a password change or signing out everywhere uses them up) are one 404."""
    # A dead link costs no Argon2 hash; a live one is checked again in the write.
    await db.read(person.check_reset, secret_hash(token))
    new_hash = await run_in_threadpool(hash_password, payload.new_password)
    await db.write(person.reset_password, secret_hash(token), new_hash)
    return Response(status_code=204)


@router.get(
    "/me/export",
    tags=["accounts"],
    response_model=PersonExport,
    summary="Export your data",
    responses=problem_responses(401, 422, 429),
)
async def export_me(
    request: Request,
    caller: CallerDep,
    db: DatabaseDep,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    """Everything HipFix holds about you as one JSON document: the account, its sign-ins
    (never their secrets), and for a client every enrolment, and the pain logs (deleted ones
    too), sessions, assessments, overrides and decisions (retracted ones too) dated within a
    window of UTC dates (`from`, `to`; older ones in further windows). One at a time per
    caller (a second waits, or gets 429)."""
    async with one_at_a_time(request):
        return json_response(await db.read(export.export_me_json, caller, start, end))


@router.post(
    "/me/erasure",
    tags=["accounts"],
    status_code=204,
    summary="Erase your account and data",
    responses=problem_responses(400, 401, 403, 409, 413, 422, 429),
)
async def erase_me(
    payload: ErasureRequest, request: Request, caller: CallerDep, db: DatabaseDep
) -> Response:
    """With your password (a wrong one is 403, counted as a failed sign-in): the account
    and every row about it (history, sign-ins, the coach's feed lines and webhook payloads
    about you, stored responses for retries) are deleted at once, for good. A coach is
    erased once it has no clients and no client's history names it (409 otherwise)."""
    settings: Settings = request.app.state.settings
    check = await db.write(person.start_password_check, settings, caller, _ip(request))
    verified = await run_in_threadpool(verify_password, check.password_hash, payload.password)
    outcome = await db.write(erasure.erase_me, settings, caller, check, verified=verified)
    if outcome is not None:
        raise outcome
    return Response(status_code=204)


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
    """For server-to-server use by a coach's systems. The secret is in this response only.
    Created with a coach's sign-in token only (an API key gets 403 `token-required`). A key
    lives until it expires or is revoked, and at most as long as the trust in the sign-in
    that made it: changing the password, signing out everywhere or resetting the password
    revokes every key of the account."""
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


async def _plain_clients(request: Request) -> Response | None:
    """`list_clients` for a plain request (app/core/quick.py)."""
    secret = bearer(request)
    paging = plain_paging(request)
    if secret is None or paging is None:
        return None
    limit, cursor = paging
    db = database_of(request)
    return await list_clients(Caller(secret), db, limit=limit, cursor=cursor)


@router.get(
    "/clients",
    tags=["clients"],
    response_model=ClientSummaryPage,
    summary="List clients",
    responses=problem_responses(400, 401, 422),
)
@quick(_plain_clients)
async def list_clients(
    caller: CallerDep,
    db: DatabaseDep,
    status: Annotated[
        ClientStatus | None, Query(description="Only clients with this status.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Part of the display name or external_id, in any case.",
        ),
    ] = None,
    sort: Annotated[
        ClientSort,
        Query(
            description="`created`: oldest first. `last_activity`: the latest log first "
            "(a client that never logged counts from when it was added)."
        ),
    ] = "created",
    adherence_below: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            description="Only clients whose `adherence_14d` is below this (a client with no "
            "figure is not listed).",
        ),
    ] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """The coach's dashboard: each client with its status now, current pain, highest
    unlocked stage, last log and adherence over the last two weeks. For a client account,
    just itself."""
    return json_response(
        await db.read(
            dashboard.list_clients,
            caller,
            status=status,
            q=q,
            sort=sort,
            adherence_below=adherence_below,
            limit=limit,
            cursor=cursor,
            lean=True,
        )
    )


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


@router.delete(
    "/clients/{client_id}",
    tags=["clients"],
    status_code=204,
    summary="Erase a managed client",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def erase_client(access: ClientAccessDep, db: DatabaseDep) -> Response:
    """A coach erases a client it manages, with every row about it, at once and for good.
    A client that signs in itself erases its own data (409 here; release it instead)."""
    await db.write(erasure.erase_managed_client, access)
    return Response(status_code=204)


# --- invitations and coach links --------------------------------------------------------------

InvitationCode = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_-]{1,100}$",
        description="The code from `POST /v1/invitations`.",
        examples=["hfi_k2Qw…"],
    ),
]


@router.post(
    "/invitations",
    tags=["clients"],
    status_code=201,
    response_model=InvitationCreated,
    summary="Invite a client",
    responses={**_EXISTING, **problem_responses(400, 401, 403, 409, 413, 422)},
)
async def create_invitation(
    payload: InvitationCreate,
    request: Request,
    caller: CallerDep,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A one-time code for a client to accept (shown in this response only, stored hashed),
    valid 7 days unless `expires_at` says otherwise. With `client_id` (a managed client),
    accepting gives that client the accepting account as its login, its history kept."""
    return await db.write(
        create_by_coach,
        caller,
        request,
        idempotency_key,
        payload,
        invitations.create_invitation,
        redact=frozenset({"code"}),
    )


@router.get(
    "/invitations",
    tags=["clients"],
    response_model=InvitationPage,
    summary="List invitations",
    responses=problem_responses(400, 401, 403, 422),
)
async def list_invitations(
    caller: CallerDep,
    db: DatabaseDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """The coach's invitations, newest first, with their status; never their codes."""
    return json_response(await db.read(invitations.list_invitations, caller, limit, cursor))


@router.delete(
    "/invitations/{invitation_id}",
    tags=["clients"],
    status_code=204,
    summary="Revoke an invitation",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def delete_invitation(
    invitation_id: uuid.UUID, caller: CallerDep, db: DatabaseDep
) -> Response:
    """Its code stops working. An accepted invitation cannot be revoked (409): release the
    client instead."""
    await db.write(invitations.revoke_invitation, caller, invitation_id)
    return Response(status_code=204)


@router.post(
    "/invitations/{code}/accept",
    tags=["clients"],
    response_model=ClientPublic,
    summary="Accept an invitation",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def accept_invitation(
    code: InvitationCode, request: Request, caller: CallerDep, db: DatabaseDep
) -> Response:
    """With a client account's token: the account becomes the inviting coach's client, or,
    for an invitation made for a managed client, that client's login (its history kept; the
    account must have no enrolment of its own yet, else 409). Unknown, used, revoked and
    expired codes all answer 404; too many of those from one address or account answer 429
    for a while. A client has at most one coach (409 while it has another)."""
    ip = request.client.host if request.client is not None else ""
    settings: Settings = request.app.state.settings
    outcome = await db.write(invitations.accept_invitation, caller, settings, code, ip)
    if isinstance(outcome, ProblemError):
        raise outcome
    return json_response(outcome)


@router.delete(
    "/me/coach",
    tags=["clients"],
    status_code=204,
    summary="Leave your coach",
    responses=problem_responses(401, 403, 404),
)
async def leave_coach(caller: CallerDep, db: DatabaseDep) -> Response:
    """The client account's link to its coach ends: the coach no longer sees it. Its history
    stays its own. 404 when it has no coach."""
    await db.write(invitations.leave_coach, caller)
    return Response(status_code=204)


@router.delete(
    "/clients/{client_id}/coach",
    tags=["clients"],
    status_code=204,
    summary="Release a client",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def release_client(access: ClientAccessDep, db: DatabaseDep) -> Response:
    """The coach ends its link with a client that signs in itself; the client keeps its
    history. A managed client (no login) cannot be released (409)."""
    await db.write(invitations.release_client, access)
    return Response(status_code=204)
