"""Passwords, bearer secrets, and who is calling."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends
from fastapi.security import HTTPBearer, OAuth2PasswordBearer
from sqlalchemy import and_, bindparam, or_, update
from sqlmodel import Session, col, select
from starlette.requests import HTTPConnection

from app.core.actors import Actor
from app.core.db.unit_of_work import store_later
from app.core.problems import ProblemError
from app.core.rate_limit import VERIFIED
from app.models import Account, Credential
from app.models.base import utcnow

Role = Literal["client", "coach"]

# Argon2id at OWASP's recommended setting (19 MiB, 2 passes, 1 lane): about 20 ms a hash
# here, so sign-ins stay cheap on a 2-core server while guessing stays expensive.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# Verified against when the e-mail is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

TOKEN_PREFIX = "hft_"
API_KEY_PREFIX = "hfk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    # Secrets are 256 random bits: a fast hash is enough, and lookups stay indexable.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller: an account, through a login token or an API key."""

    account: Account
    credential_id: uuid.UUID
    credential_kind: str = "token"  # or "api_key"
    last_used_at: datetime | None = None  # the credential's, as read with it

    @property
    def id(self) -> uuid.UUID:
        return self.account.id

    @property
    def actor(self) -> Actor:
        key = self.credential_id if self.credential_kind == "api_key" else None
        return Actor(self.role, self.account.id, key)

    @property
    def role(self) -> Role:
        return self.account.role  # type: ignore[return-value]  # str column written from the Literal

    @property
    def is_coach(self) -> bool:
        return self.account.role == "coach"


api_key_scheme = HTTPBearer(
    scheme_name="ApiKey",
    auto_error=False,
    description="A coach's API key (or a login token) as `Authorization: Bearer <secret>`.",
)


def _unauthorized(detail: str, error: str | None = "invalid_token") -> ProblemError:
    challenge = 'Bearer realm="hipfix"' + (f', error="{error}"' if error else "")
    return ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


# A credential that lets its caller in: its secret's hash and the current moment are the
# parameters `secret_hash` and `now`.
LIVE_CREDENTIAL = and_(
    col(Credential.secret_hash) == bindparam("secret_hash"),
    col(Credential.revoked_at).is_(None),
    or_(col(Credential.expires_at).is_(None), col(Credential.expires_at) > bindparam("now")),
)
# Built once: composing a statement costs more than SQLite takes to run it.
_LIVE_CREDENTIAL = (
    select(col(Credential.id), Account, col(Credential.kind), col(Credential.last_used_at))
    .join(Account, col(Account.id) == Credential.account_id)
    .where(LIVE_CREDENTIAL)
)


def authenticate(session: Session, secret: str) -> Principal:
    digest = secret_hash(secret)
    row = session.exec(_LIVE_CREDENTIAL, params={"secret_hash": digest, "now": utcnow()}).first()
    if row is None:
        raise _unauthorized("The token is unknown, expired or revoked; sign in again.")
    VERIFIED.add(digest)  # its writes are now counted per credential (app/core/rate_limit.py)
    credential_id, account, kind, last_used_at = row
    note_key_use(session, credential_id, kind, last_used_at)
    return Principal(account, credential_id, kind, last_used_at)


# An API key's `last_used_at` moves at most this often: one UPDATE a minute per busy key.
LAST_USED_GRANULARITY = timedelta(minutes=1)
_TOUCH = (
    update(Credential)
    .where(col(Credential.id) == bindparam("key_id"))
    .values(last_used_at=bindparam("now"))
)


def note_key_use(
    session: Session, credential_id: uuid.UUID, kind: str, last_used_at: datetime | None
) -> None:
    """Note that an API key was used, in whichever unit of work found it: the UPDATE runs
    with that unit's commit, or after a read in a small write of its own (`store_later`).
    Skipped when the key was noted less than a minute ago, so a busy key costs one small
    UPDATE a minute, not one a request; login tokens have no `last_used_at`."""
    if kind != "api_key":
        return
    now = utcnow()
    if last_used_at is not None and now - last_used_at < LAST_USED_GRANULARITY:
        return

    def touch(session: Session) -> None:
        session.connection().execute(_TOUCH, {"key_id": credential_id, "now": now})

    store_later(session, ("api key used", credential_id), touch)


class _BearerSecret(OAuth2PasswordBearer):
    """The secret in `Authorization: Bearer <secret>` as sent: checking it needs the
    database. One dependency reads the header for both ways in (a login token, a coach's API
    key). The API-key scheme is listed beside this one in each operation's OpenAPI security
    by app/core/openapi.py, rather than declared as a second dependency that every request
    would pay for (about a tenth of a progress read's time, measured)."""

    async def __call__(self, request: HTTPConnection) -> str:
        token = await super().__call__(request)
        if not token:
            raise _unauthorized("Sign in: send `Authorization: Bearer <token>`.", error=None)
        return token


bearer_secret = _BearerSecret(
    tokenUrl="/v1/auth/token",
    scheme_name="OAuth2PasswordBearer",
    auto_error=False,
    description="A login token from `POST /v1/auth/token`, or a coach's API key.",
)
BearerSecret = Annotated[str, Depends(bearer_secret)]
