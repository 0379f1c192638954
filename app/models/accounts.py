"""People and their credentials: accounts, client profiles, tokens and API keys."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, new_id, utcnow


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=254, unique=True, description="Stored lower-cased.")
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=10)
    display_name: str = Field(max_length=100)
    timezone: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class Client(SQLModel, table=True):
    """A person following a protocol: a client account's own profile, or one a coach manages."""

    __tablename__ = "client"
    __table_args__ = (UniqueConstraint("coach_id", "external_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id", unique=True)
    coach_id: uuid.UUID | None = Field(default=None, foreign_key="account.id", index=True)
    display_name: str = Field(max_length=100)
    timezone: str = Field(max_length=64, description="The zone in force now.")
    timezone_changes: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
        description="Each change of zone, oldest first: {at, timezone, previous}. A zone applies "
        "from the moment it was set, so days already lived keep their dates.",
    )
    external_id: str | None = Field(default=None, max_length=100)
    body_hash: str = Field(max_length=64, description="Fingerprint of the create request.")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class Credential(SQLModel, table=True):
    """A bearer secret, stored only as its SHA-256: a login token or a coach's API key."""

    __tablename__ = "credential"
    __table_args__ = (Index(None, "account_id", "kind"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    kind: str = Field(max_length=10, description="token or api_key")
    secret_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(
        max_length=12, description="The secret's first characters, to recognise it."
    )
    name: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_used_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime),
        description="API keys: moved by the key's writes, at most once a minute.",
    )


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, kept for the throttling window (in the database, shared by workers).

    Counted per e-mail and address: someone guessing a password from one address must not
    lock the account's owner out everywhere else."""

    __tablename__ = "login_failure"
    __table_args__ = (Index(None, "email", "ip", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    ip: str = Field(max_length=64, description="The client's address, as the server saw it.")
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Invitation(SQLModel, table=True):
    """A coach's one-time code for a client to accept: the code is stored only as its
    SHA-256, like every bearer secret."""

    __tablename__ = "invitation"
    __table_args__ = (Index(None, "coach_id", "created_at"),)

    id: uuid.UUID = Field(primary_key=True)
    coach_id: uuid.UUID = Field(foreign_key="account.id")
    code_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12, description="The code's first characters.")
    email: str | None = Field(default=None, max_length=254, description="Stored lower-cased.")
    display_name: str | None = Field(default=None, max_length=100)
    client_id: uuid.UUID | None = Field(
        default=None, foreign_key="client.id", description="A managed client to give a login."
    )
    body_hash: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    accepted_client_id: uuid.UUID | None = Field(default=None, foreign_key="client.id")


class InvitationGuess(SQLModel, table=True):
    """A code that matched no live invitation, kept for the throttling window: counted per
    address and per account, so guessing is slow from anywhere."""

    __tablename__ = "invitation_guess"
    __table_args__ = (Index(None, "ip", "at"), Index(None, "account_id", "at"))

    id: int | None = Field(default=None, primary_key=True)
    ip: str = Field(max_length=64)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class PasswordReset(SQLModel, table=True):
    """A forgotten-password token: mailed once, stored only as its SHA-256, usable once
    before it expires."""

    __tablename__ = "password_reset"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class ResetRequest(SQLModel, table=True):
    """A forgotten-password request, registered e-mail or not, kept for the throttling window:
    counted per e-mail and per address, the same way whether the e-mail is known or not."""

    __tablename__ = "password_reset_request"
    __table_args__ = (Index(None, "email", "at"), Index(None, "ip", "at"))

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    ip: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
