"""Request and response shapes for accounts, tokens, API keys and clients."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from pydantic.config import JsonDict

from app.core.pagination import Page
from app.core.types import ONE_LINE, Name, Timezone
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
        extra="forbid", json_schema_extra={"examples": [{"name": "clinic EHR sync"}]}
    )

    id: uuid.UUID | None = Field(None, description="Optional client-made id, for safe retries.")
    name: Name


_API_KEY: JsonDict = {
    "id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
    "name": "clinic EHR sync",
    "prefix": "hfk_Zx81",
    "created_at": "2026-11-26T08:00:00Z",
}


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_API_KEY]})

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime


class ApiKeyCreated(ApiKeyPublic):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
                    "name": "clinic EHR sync",
                    "prefix": "hfk_Zx81",
                    "created_at": "2026-11-26T08:00:00Z",
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
    external_id: str | None
    coach_id: uuid.UUID | None
    has_account: bool = Field(description="Whether the client signs in itself.")
    created_at: datetime


class ClientPage(Page[ClientPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CLIENT], "next_cursor": None}]}
    )
