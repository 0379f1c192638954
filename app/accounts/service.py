"""Accounts, sign-in, API keys and client profiles."""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, delete, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.access import Caller, ClientAccess
from app.accounts.schemas import (
    AccountCreate,
    AccountPublic,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyPublic,
    ClientCreate,
    ClientPublic,
    Token,
)
from app.accounts.throttle import take_turn
from app.core.config import Settings
from app.core.db import prepared
from app.core.fingerprint import body_hash
from app.core.idempotency import Created
from app.core.mail import Mail
from app.core.pagination import keyset_page
from app.core.problems import NotFoundError, ProblemError
from app.core.rate_limit import VERIFIED
from app.core.retries import stored_retry
from app.core.security import (
    API_KEY_PREFIX,
    LIVE_CREDENTIAL,
    TOKEN_PREFIX,
    Principal,
    new_secret,
    secret_hash,
)
from app.models import Account, Client, Credential, LoginFailure
from app.models.base import utcnow

# Built once: every `/v1/me` runs it, as a `Prepared` statement (no ORM object: the answer is
# validated once from the row). The caller's account and its own client profile's id.
_ME_FIELDS = ("id", "email", "role", "display_name", "timezone", "created_at", "client_id")
_ME = cast(
    "Select[Any]",
    sa_select(
        col(Account.id),
        col(Account.email),
        col(Account.role),
        col(Account.display_name),
        col(Account.timezone),
        col(Account.created_at),
        col(Client.id),
    )
    .select_from(Credential)
    .join(Account, col(Account.id) == Credential.account_id)
    .outerjoin(Client, col(Client.account_id) == Account.id)
    .where(LIVE_CREDENTIAL),
)
_OWN_CLIENT = select(col(Client.id)).where(col(Client.account_id) == bindparam("account_id"))


def account_public(
    session: Session, account: Account, client_id: uuid.UUID | None = None
) -> AccountPublic:
    """`client_id`: the account's client profile, looked up when not given."""
    if client_id is None and account.role == "client":
        client_id = session.exec(_OWN_CLIENT, params={"account_id": account.id}).first()
    return AccountPublic(
        id=account.id,
        email=account.email,
        role=account.role,  # type: ignore[arg-type]  # str column written from the Literal
        display_name=account.display_name,
        timezone=account.timezone,
        client_id=client_id,
        created_at=account.created_at,
    )


def get_client(session: Session, access: ClientAccess) -> ClientPublic:
    return client_public(access.client(session))


def client_public(client: Client) -> ClientPublic:
    return ClientPublic(
        id=client.id,
        display_name=client.display_name,
        timezone=client.timezone,
        external_id=client.external_id,
        coach_id=client.coach_id,
        has_account=client.account_id is not None,
        created_at=client.created_at,
    )


@dataclass(frozen=True, slots=True)
class SignUp:
    """A sign-up's answer, and the mail to send once its unit of work commits (or None)."""

    account: AccountPublic
    mail: Mail | None


def _already_registered(payload: AccountCreate, email: str, reset_link: str) -> SignUp:
    """The answer to a sign-up with a registered e-mail: shaped as a new account's (fresh
    ids, nothing stored), so that it says nothing about which e-mails are registered, and
    a mail telling the address's owner."""
    answer = AccountPublic(
        id=uuid.uuid4(),
        email=email,
        role=payload.role,
        display_name=payload.display_name,
        timezone=payload.timezone,
        client_id=uuid.uuid4() if payload.role == "client" else None,
        created_at=utcnow(),
    )
    mail = Mail(
        to=email,
        subject="Someone tried to sign up to HipFix with your address",
        body=(
            "Someone (you, we hope) tried to create a HipFix account with this e-mail address, "
            "which already has one. No account was created and yours is unchanged.\n\n"
            "If it was you, sign in with your password. If you forgot it, ask for a reset:\n\n"
            f"    POST {reset_link}\n"
            '    {"email": "…"}\n\n'
            "If it was not you, there is nothing to do.\n"
        ),
    )
    return SignUp(answer, mail)


def create_account(
    session: Session, payload: AccountCreate, password_hash: str, reset_link: str
) -> SignUp:
    """A new account (and a client account's own client profile). `password_hash` is made
    by the caller before the unit of work: Argon2 is slow on purpose and must not hold the
    writer. A registered e-mail (in any case) gets an answer shaped the same and a mail to
    its owner, never an error: sign-up must not tell who is registered. The same e-mail
    signing up concurrently collides on its unique index; the unit of work then runs this
    again, which finds it taken."""
    email = payload.email.lower()
    if session.exec(select(Account.id).where(Account.email == email)).first() is not None:
        return _already_registered(payload, email, reset_link)
    account = Account(
        email=email,
        password_hash=password_hash,
        role=payload.role,
        display_name=payload.display_name,
        timezone=payload.timezone,
    )
    session.add(account)
    if payload.role == "client":
        session.add(
            Client(
                account_id=account.id,
                display_name=payload.display_name,
                timezone=payload.timezone,
                body_hash="",
            )
        )
    session.flush()
    return SignUp(account_public(session, account), None)


def _failures(email: str, ip: str) -> ColumnElement[bool]:
    return and_(col(LoginFailure.email) == email, col(LoginFailure.ip) == ip)


def check_throttle(
    session: Session, settings: Settings, email: str, ip: str, now: datetime
) -> None:
    """A 429 once this e-mail has failed too often from this address within the window."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    count, oldest = session.exec(
        select(func.count(), func.min(LoginFailure.at))
        .where(_failures(email, ip))
        .where(col(LoginFailure.at) > now - window)
    ).one()
    if count >= settings.login_max_failures and oldest is not None:
        wait = max(1, math.ceil((oldest + window - now).total_seconds()))
        raise ProblemError(
            429,
            "too-many-requests",
            f"Too many failed sign-ins for this e-mail from here; try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )


def invalid_credentials() -> ProblemError:
    return ProblemError(
        401,
        "invalid-credentials",
        "The e-mail or password is wrong.",
        headers={"WWW-Authenticate": 'Bearer realm="hipfix"'},
    )


def reserve_attempt(
    session: Session, settings: Settings, email: str, ip: str, now: datetime
) -> int:
    """Count a password attempt for this e-mail from this address as a failure before the
    password is checked (app/accounts/throttle.py): a 429 once the window holds the limit,
    else the id of the failure just stored, which a success takes back."""
    take_turn(session, f"password:{email}:{ip}")
    check_throttle(session, settings, email, ip, now)
    window = timedelta(seconds=settings.login_failure_window_seconds)
    session.exec(delete(LoginFailure).where(col(LoginFailure.at) < now - window))
    failure = LoginFailure(email=email, ip=ip, at=now)
    session.add(failure)
    session.flush()
    assert failure.id is not None
    return failure.id


def _record_token(
    session: Session, settings: Settings, account_id: uuid.UUID, email: str, ip: str
) -> Token:
    ttl = timedelta(days=settings.token_ttl_days)
    secret = new_secret(TOKEN_PREFIX)
    session.add(
        Credential(
            account_id=account_id,
            kind="token",
            secret_hash=secret_hash(secret),
            prefix=secret[:8],
            expires_at=utcnow() + ttl,
        )
    )
    # Only this address's failures: another address's guesses still count against it.
    session.exec(delete(LoginFailure).where(_failures(email, ip)))
    return Token(access_token=secret, token_type="bearer", expires_in=int(ttl.total_seconds()))


@dataclass(frozen=True, slots=True)
class SignIn:
    """A sign-in between its two units of work: the password is checked in neither (see
    `start_sign_in`)."""

    email: str
    ip: str
    account_id: uuid.UUID | None
    password_hash: str | None


def start_sign_in(session: Session, settings: Settings, email: str, ip: str) -> SignIn:
    """Sign in, first half (a small write): the attempt counted as a failure (429 past the
    limit), then the account. The route checks the password after this unit of work and
    before `finish_sign_in`'s: Argon2 is slow on purpose, and must hold neither a connection
    nor SQLite's writer. A wrong password needs no second unit: it was counted already."""
    email = email.strip().lower()
    reserve_attempt(session, settings, email, ip, utcnow())
    account = session.exec(
        select(Account.id, Account.password_hash).where(Account.email == email)
    ).first()
    account_id, password_hash = account if account is not None else (None, None)
    return SignIn(email, ip, account_id, password_hash)


def finish_sign_in(session: Session, settings: Settings, attempt: SignIn) -> Token:
    """Sign in, second half, once the password matched: a token, and this address's
    failures for the e-mail (this attempt's included) forgiven."""
    assert attempt.account_id is not None
    return _record_token(session, settings, attempt.account_id, attempt.email, attempt.ip)


def me(session: Session, caller: Caller) -> AccountPublic:
    digest = secret_hash(caller.secret)
    row = prepared.first(session, _ME, secret_hash=digest, now=utcnow())
    if row is None:  # the lookup on its own says why: the 401 problem
        return account_public(session, caller.principal(session).account)
    VERIFIED.add(digest)  # see app/core/rate_limit.py
    return AccountPublic.model_validate(dict(zip(_ME_FIELDS, row.values(), strict=True)))


def revoke_credential(session: Session, caller: Caller) -> None:
    """Sign out: the credential this request presents stops working."""
    principal = caller.principal(session)
    credential = session.get(Credential, principal.credential_id)
    assert credential is not None
    credential.revoked_at = utcnow()
    session.add(credential)


def _api_key_public(credential: Credential) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=credential.id,
        name=credential.name or "",
        prefix=credential.prefix,
        created_at=credential.created_at,
        expires_at=credential.expires_at,
        last_used_at=credential.last_used_at,
    )


def create_api_key(session: Session, coach: Principal, payload: ApiKeyCreate) -> Created:
    """Only with a signed-in coach's token: a key that could mint keys would let one leaked
    or short-lived key make itself permanent."""
    if coach.credential_kind != "token":
        raise ProblemError(
            403,
            "token-required",
            "API keys are created with a coach's sign-in token, not with an API key.",
        )
    existing = stored_retry(
        session,
        Credential,
        payload.id,
        lambda c: (
            c.account_id == coach.id
            and c.kind == "api_key"
            and c.name == payload.name
            and c.expires_at == payload.expires_at
            and c.revoked_at is None
        ),
    )
    if existing is not None:
        return 200, ApiKeyCreated(**_api_key_public(existing).model_dump(), key=None)
    secret = new_secret(API_KEY_PREFIX)
    credential = Credential(
        id=payload.id or uuid.uuid4(),
        account_id=coach.id,
        kind="api_key",
        secret_hash=secret_hash(secret),
        prefix=secret[:8],
        name=payload.name,
        expires_at=payload.expires_at,
    )
    session.add(credential)
    session.flush()
    return 201, ApiKeyCreated(**_api_key_public(credential).model_dump(), key=secret)


def _active_api_keys(coach: Principal) -> SelectOfScalar[Credential]:
    return (
        select(Credential)
        .where(Credential.account_id == coach.id)
        .where(Credential.kind == "api_key")
        .where(col(Credential.revoked_at).is_(None))
    )


def list_api_keys(session: Session, caller: Caller, limit: int, cursor: str | None) -> ApiKeyPage:
    coach = caller.coach(session)
    rows, next_cursor = keyset_page(
        session,
        _active_api_keys(coach),
        moment=col(Credential.created_at),
        ident=col(Credential.id),
        limit=limit,
        cursor=cursor,
        newest_first=False,
    )
    return ApiKeyPage(items=[_api_key_public(r) for r in rows], next_cursor=next_cursor)


def revoke_api_key(session: Session, caller: Caller, key_id: uuid.UUID) -> None:
    coach = caller.coach(session)
    credential = session.exec(_active_api_keys(coach).where(Credential.id == key_id)).first()
    if credential is None:
        raise NotFoundError(f"No API key {key_id}.")
    credential.revoked_at = utcnow()
    session.add(credential)


def create_client(session: Session, coach: Principal, payload: ClientCreate) -> Created:
    digest = body_hash(payload)
    existing = stored_retry(
        session, Client, payload.id, lambda c: c.coach_id == coach.id and c.body_hash == digest
    )
    if existing is not None:
        return 200, client_public(existing)
    if payload.external_id is not None:
        taken = session.exec(
            select(Client.id)
            .where(Client.coach_id == coach.id)
            .where(Client.external_id == payload.external_id)
        ).first()
        if taken is not None:
            raise ProblemError(
                409,
                "external-id-taken",
                f"You already have a client with external_id '{payload.external_id}'.",
                errors=[
                    {
                        "loc": ["body", "external_id"],
                        "msg": "Already used",
                        "type": "external_id_taken",
                    }
                ],
            )
    client = Client(
        id=payload.id or uuid.uuid4(),
        coach_id=coach.id,
        display_name=payload.display_name,
        timezone=payload.timezone,
        external_id=payload.external_id,
        body_hash=digest,
    )
    session.add(client)
    session.flush()
    return 201, client_public(client)
