"""Request and response shapes for accounts, tokens, API keys and clients."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from pydantic.config import JsonDict

from app.core.pagination import Page
from app.core.types import ONE_LINE, FutureMoment, Name, Timezone
from app.core.types import Token as FormText

Role = Literal["client", "coach"]


def _any_case(word: str) -> str:
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# EmailStr refuses special-use domains (RFC 6761: .test, .local, …) though the `email`
# format allows them: the documented pattern says so. Not enforced by pydantic (its regex
# engine has no look-ahead); EmailStr enforces it.
_SPECIAL_USE = "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
Email = Annotated[
    EmailStr,
    Field(
        description="Not at a special-use domain (.test, .local, .localhost, .invalid, "
        ".onion, .arpa).",
        json_schema_extra={"pattern": rf"^[^@]+@(?!([^@.]+\.)*({_SPECIAL_USE})\.?$)"},
    ),
]

_ACCOUNT: JsonDict = {
    "id": "0b9c2f4e-6a51-4c1e-9d52-3f1a7c0e8b21",
    "email": "sam@example.com",
    "role": "client",
    "display_name": "Sam",
    "timezone": "Europe/London",
    "client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
    "created_at": "2026-11-26T08:00:00Z",
}
_CLIENT: JsonDict = {
    "id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
    "display_name": "Sam",
    "timezone": "Europe/London",
    "external_id": "clinic-4711",
    "coach_id": "7f3e2d1c-0b9a-4876-9543-21fedcba9876",
    "has_account": False,
    "created_at": "2026-11-26T08:00:00Z",
}


class AccountCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "sam@example.com",
                    "password": "correct horse battery",
                    "display_name": "Sam",
                    "role": "client",
                    "timezone": "Europe/London",
                }
            ]
        },
    )

    email: Email
    password: Annotated[str, Field(min_length=10, max_length=256)]
    display_name: Name
    role: Role
    timezone: Timezone


class AccountPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ACCOUNT]})

    id: uuid.UUID
    email: str
    role: Role
    display_name: str
    timezone: str
    client_id: uuid.UUID | None = Field(
        description="A client account's own profile; null for coaches."
    )
    created_at: datetime


class TokenRequest(BaseModel):
    """The OAuth2 password grant, form-encoded."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "password",
                    "username": "sam@example.com",
                    "password": "correct horse battery",
                }
            ]
        },
    )

    # Form fields: none is nullable, since a form has no null ("grant_type=null" is text).
    grant_type: Literal["password"] = Field("password", description="`password`, if sent.")
    username: Annotated[FormText, Field(min_length=1)] = Field(description="The account's e-mail.")
    password: Annotated[str, Field(min_length=1, max_length=256)]
    scope: Annotated[FormText, Field(description="Ignored: HipFix has no scopes.")] = ""
    client_id: FormText = ""
    client_secret: FormText = ""


class Token(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"access_token": "hft_3q2x…", "token_type": "bearer", "expires_in": 2592000}
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the token expires.")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "clinic EHR sync"},
                {"name": "pilot import", "expires_at": "2027-03-31T00:00:00Z"},
            ]
        },
    )

    id: uuid.UUID | None = Field(None, description="Optional client-made id, for safe retries.")
    name: Name
    expires_at: FutureMoment | None = Field(
        None,
        description="When the key stops working (at most a year ahead); none: until revoked. "
        "An expired key is refused like a revoked one.",
    )


_API_KEY: JsonDict = {
    "id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
    "name": "clinic EHR sync",
    "prefix": "hfk_Zx81",
    "created_at": "2026-11-26T08:00:00Z",
    "expires_at": None,
    "last_used_at": "2026-11-30T09:14:00Z",
}


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_API_KEY]})

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    expires_at: datetime | None = Field(description="Null: until revoked.")
    last_used_at: datetime | None = Field(
        description="When the key last made a change (a write), to the minute: kept at most "
        "once a minute. Null: never."
    )


class ApiKeyCreated(ApiKeyPublic):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
                    "name": "clinic EHR sync",
                    "prefix": "hfk_Zx81",
                    "created_at": "2026-11-26T08:00:00Z",
                    "expires_at": None,
                    "last_used_at": None,
                    "key": "hfk_Zx81…",
                }
            ]
        }
    )

    key: str | None = Field(
        description="The secret, shown only in this response (null when replayed for an "
        "Idempotency-Key). Send it as `Authorization: Bearer <key>`."
    )


class ApiKeyPage(Page[ApiKeyPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_API_KEY], "next_cursor": None}]}
    )


class ClientCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"display_name": "Sam", "timezone": "Europe/London", "external_id": "clinic-4711"}
            ]
        },
    )

    id: uuid.UUID | None = Field(None, description="Optional client-made id, for safe retries.")
    display_name: Name
    timezone: Timezone
    external_id: Annotated[str, Field(min_length=1, max_length=100, pattern=ONE_LINE)] | None = (
        Field(None, description="The coach's own reference for this client; unique per coach.")
    )


class ClientPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CLIENT]})

    id: uuid.UUID
    display_name: str
    timezone: str
    external_id: str | None = Field(
        description="The coach's own reference for the client; cleared when the link with "
        "that coach ends (it is not the next coach's)."
    )
    coach_id: uuid.UUID | None
    has_account: bool = Field(description="Whether the client signs in itself.")
    created_at: datetime


class ClientPage(Page[ClientPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CLIENT], "next_cursor": None}]}
    )


ClientStatus = Literal["progressing", "hold", "refer", "resolved", "not_enrolled"]
ClientSort = Literal["created", "last_activity"]

_CLIENT_SUMMARY: JsonDict = {
    **_CLIENT,
    "status": "refer",
    "current_pain": 6.5,
    "stage": "stretch-hip-flexors",
    "last_logged_at": "2026-11-30T07:45:00Z",
    "adherence_14d": 0.4,
}


class ClientSummary(ClientPublic):
    """A client as the coach's list shows it: where it stands now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CLIENT_SUMMARY]})

    status: ClientStatus = Field(
        description="The active enrolment's status now (a hold ends with its last local "
        "date), or `not_enrolled`."
    )
    current_pain: float | None = Field(
        description="Mean daily highest pain over the client's last 7 local dates; null "
        "without logs in them."
    )
    stage: str | None = Field(description="The highest unlocked stage's slug.")
    last_logged_at: datetime | None = Field(
        description="The latest pain log, session or assessment (its own time)."
    )
    adherence_14d: float | None = Field(
        None,
        description="Sessions logged over planned in the last 2 complete local weeks of the "
        "active enrolment (each week capped at its plan; a week with a date spent referred "
        "left out); null when neither counts, or not enrolled.",
    )


class ClientSummaryPage(Page[ClientSummary]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CLIENT_SUMMARY], "next_cursor": None}]}
    )


# --- invitations ---------------------------------------------------------------------------

InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"email": "sam@example.com", "display_name": "Sam"},
                {"client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60"},
            ]
        },
    )

    id: uuid.UUID | None = Field(None, description="Optional client-made id, for safe retries.")
    email: Email | None = Field(
        None, description="Only an account with this e-mail may accept it (when given)."
    )
    display_name: Name | None = Field(None, description="Whom you invite, for your own list.")
    expires_at: FutureMoment | None = Field(
        None, description="When the code stops working; default 7 days from now."
    )
    client_id: uuid.UUID | None = Field(
        None,
        description="One of your managed clients: accepting gives it the accepting account as "
        "its login, with its history.",
    )


_INVITATION: JsonDict = {
    "id": "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "prefix": "hfi_k2Qw",
    "email": "sam@example.com",
    "display_name": "Sam",
    "client_id": None,
    "status": "pending",
    "created_at": "2026-11-30T08:00:00Z",
    "expires_at": "2026-12-07T08:00:00Z",
    "accepted_at": None,
    "accepted_client_id": None,
    "revoked_at": None,
}


class InvitationPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_INVITATION]})

    id: uuid.UUID
    prefix: str = Field(description="The code's first characters, to tell codes apart.")
    email: str | None
    display_name: str | None
    client_id: uuid.UUID | None = Field(description="The managed client it gives a login.")
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    accepted_client_id: uuid.UUID | None = Field(description="The client it linked, once accepted.")
    revoked_at: datetime | None


class InvitationCreated(InvitationPublic):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_INVITATION, "code": "hfi_k2Qw…"}]}
    )

    code: str | None = Field(
        description="The one-time code, shown only in this response (null when replayed for "
        "an Idempotency-Key). The client accepts it with "
        "`POST /v1/invitations/{code}/accept`."
    )


class InvitationPage(Page[InvitationPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_INVITATION], "next_cursor": None}]}
    )
