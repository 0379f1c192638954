"""Accounts, sign-in, API keys and client profiles."""

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, bindparam, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.schemas import (
    AccountCreate,
    AccountPublic,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyPublic,
    ClientCreate,
    ClientPage,
    ClientPublic,
    Token,
)
from app.core.config import Settings
from app.core.fingerprint import body_hash
from app.core.idempotency import Created
from app.core.pagination import keyset_page
from app.core.problems import NotFoundError, ProblemError
from app.core.retries import stored_retry
from app.core.security import (
    API_KEY_PREFIX,
    TOKEN_PREFIX,
    Principal,
    hash_password,
    new_secret,
    secret_hash,
    verify_password,
)
from app.models import Account, Client, Credential, LoginFailure
from app.models.base import utcnow


def account_public(session: Session, account: Account) -> AccountPublic:
    client_id = None
    if account.role == "client":
        client_id = session.exec(select(Client.id).where(Client.account_id == account.id)).first()
    return AccountPublic(
        id=account.id,
        email=account.email,
        role=account.role,  # type: ignore[arg-type]
        display_name=account.display_name,
        timezone=account.timezone,
        client_id=client_id,
        created_at=account.created_at,
    )


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


def _email_taken() -> ProblemError:
    return ProblemError(
        409,
        "email-taken",
        "An account with this e-mail exists; sign in instead.",
        errors=[{"loc": ["body", "email"], "msg": "Already registered", "type": "email_taken"}],
    )


def create_account(session: Session, payload: AccountCreate) -> AccountPublic:
    # Hashed before the first query: Argon2 must not run while the write lock is held.
    password_hash = hash_password(payload.password)
    email = payload.email.lower()
    if session.exec(select(Account.id).where(Account.email == email)).first() is not None:
        raise _email_taken()
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
    try:
        session.commit()
    except IntegrityError:  # the same e-mail signed up concurrently
        session.rollback()
        raise _email_taken() from None
    return account_public(session, account)


def _failures(email: str, ip: str) -> ColumnElement[bool]:
    return and_(col(LoginFailure.email) == email, col(LoginFailure.ip) == ip)


def _check_throttle(
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


def _record_failure(
    session: Session, settings: Settings, email: str, ip: str, now: datetime
) -> ProblemError:
    window = timedelta(seconds=settings.login_failure_window_seconds)
    session.add(LoginFailure(email=email, ip=ip, at=now))
    session.exec(delete(LoginFailure).where(col(LoginFailure.at) < now - window))
    session.commit()
    return ProblemError(
        401,
        "invalid-credentials",
        "The e-mail or password is wrong.",
        headers={"WWW-Authenticate": 'Bearer realm="hipfix"'},
    )


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
    session.commit()
    return Token(access_token=secret, token_type="bearer", expires_in=int(ttl.total_seconds()))


def issue_token(session: Session, settings: Settings, email: str, password: str, ip: str) -> Token:
    """Sign in; failures per e-mail and client address are counted in the database and
    throttled. The password is checked between two short transactions, never inside one:
    Argon2 is slow on purpose, and a writer's transaction holds SQLite's write lock."""
    email = email.strip().lower()
    now = utcnow()
    _check_throttle(session, settings, email, ip, now)
    account = session.exec(
        select(Account.id, Account.password_hash).where(Account.email == email)
    ).first()
    session.rollback()  # nothing written yet: end the transaction before the slow part
    account_id, password_hash = account if account is not None else (None, None)
    if not verify_password(password_hash, password) or account_id is None:
        raise _record_failure(session, settings, email, ip, now)
    return _record_token(session, settings, account_id, email, ip)


def revoke_credential(session: Session, principal: Principal) -> None:
    credential = session.get(Credential, principal.credential_id)
    assert credential is not None
    credential.revoked_at = utcnow()
    session.add(credential)
    session.commit()


def _api_key_public(credential: Credential) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=credential.id,
        name=credential.name or "",
        prefix=credential.prefix,
        created_at=credential.created_at,
    )


def create_api_key(session: Session, coach: Principal, payload: ApiKeyCreate) -> Created:
    existing = stored_retry(
        session,
        Credential,
        payload.id,
        lambda c: (
            c.account_id == coach.id
            and c.kind == "api_key"
            and c.name == payload.name
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


def list_api_keys(session: Session, coach: Principal, limit: int, cursor: str | None) -> ApiKeyPage:
    rows, next_cursor = keyset_page(
        session,
        _active_api_keys(coach),
        moment=Credential.created_at,  # type: ignore[arg-type]
        ident=Credential.id,  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        newest_first=False,
    )
    return ApiKeyPage(items=[_api_key_public(r) for r in rows], next_cursor=next_cursor)


def revoke_api_key(session: Session, coach: Principal, key_id: uuid.UUID) -> None:
    credential = session.exec(_active_api_keys(coach).where(Credential.id == key_id)).first()
    if credential is None:
        raise NotFoundError(f"No API key {key_id}.")
    credential.revoked_at = utcnow()
    session.add(credential)
    session.commit()


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


# Clients a principal may see, by role: a coach's own, or a client account's own profile.
# The column that ties such a client to the principal's account:
_SEEN_THROUGH = {"coach": Client.coach_id, "client": Client.account_id}
# Built once with the principal as a parameter: every request that names a client runs them.
_VISIBLE = {
    role: select(Client).where(col(column) == bindparam("principal"))
    for role, column in _SEEN_THROUGH.items()
}
_VISIBLE_BY_ID = {
    role: query.where(col(Client.id) == bindparam("client_id")) for role, query in _VISIBLE.items()
}


def visible_clients(principal: Principal) -> SelectOfScalar[Client]:
    """Clients the principal may see: a coach's own, or a client account's own profile."""
    return _VISIBLE[principal.role].params(principal=principal.id)


def visible_to_account(*, me: bool) -> ColumnElement[bool]:
    """The same rule as a join condition between `Client` and the caller's `Account` row, for
    a statement that finds both at once; `me`: only a client account's own profile."""
    roles = ("client",) if me else tuple(_SEEN_THROUGH)
    return or_(
        *(and_(col(Account.role) == role, _SEEN_THROUGH[role] == Account.id) for role in roles)
    )


def list_clients(
    session: Session, principal: Principal, limit: int, cursor: str | None
) -> ClientPage:
    rows, next_cursor = keyset_page(
        session,
        visible_clients(principal),
        moment=Client.created_at,  # type: ignore[arg-type]
        ident=Client.id,  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        newest_first=False,
    )
    return ClientPage(items=[client_public(r) for r in rows], next_cursor=next_cursor)


def find_visible_client(session: Session, principal: Principal, client_ref: str) -> Client:
    """`me` or an id, if the principal may see it; otherwise a 404 that reveals nothing."""
    params: dict[str, object] = {"principal": principal.id}
    if client_ref == "me":
        if principal.is_coach:
            raise NotFoundError("A coach has no client profile of its own; use a client's id.")
        query = _VISIBLE["client"]
    else:
        try:
            params["client_id"] = uuid.UUID(client_ref)
        except ValueError:
            raise NotFoundError(f"No client {client_ref}.") from None
        query = _VISIBLE_BY_ID[principal.role]
    client = session.exec(query, params=params).first()
    if client is None:
        raise NotFoundError(f"No client {client_ref}.")
    return client
