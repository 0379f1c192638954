"""Request and response shapes for a person's own account: profile, password, reset, export,
erasure."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.accounts.schemas import AccountPublic, ClientPublic, Email
from app.core.actors import ActorPublic
from app.core.types import Name, Timezone
from app.progression.schemas import Event
from app.tracking.schemas import (
    AssessmentPublic,
    EnrollmentPublic,
    PainLogPublic,
    SessionPublic,
)

Password = Annotated[str, Field(min_length=10, max_length=256)]
GivenPassword = Annotated[str, Field(min_length=1, max_length=256)]


class AccountUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"timezone": "Australia/Sydney"}, {"display_name": "Sam B."}]
        },
    )

    display_name: Name | None = None
    timezone: Timezone | None = Field(
        None,
        description="Applies from now on: days already lived keep their dates, and what is "
        "logged from now is dated in the new zone.",
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "current_password": "correct horse battery",
                    "new_password": "a longer passphrase, unguessable",
                }
            ]
        },
    )

    current_password: GivenPassword
    new_password: Password


class ResetRequestBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "sam@example.com"}]}
    )

    email: Email


class ResetAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "If an account has this e-mail, a link to reset its password is on "
                    "its way."
                }
            ]
        }
    )

    message: str = Field(
        default="If an account has this e-mail, a link to reset its password is on its way.",
        examples=["If an account has this e-mail, a link to reset its password is on its way."],
    )


class NewPassword(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"new_password": "a longer passphrase, unguessable"}]},
    )

    new_password: Password


class ErasureRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"password": "correct horse battery"}]}
    )

    password: GivenPassword


class OverrideRecord(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "enrollment_id": "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09",
                    "action": "clear_referral",
                    "stage": None,
                    "reason": "Seen by a clinician.",
                    "by": "coach",
                    "at": "2026-11-20T10:00:00Z",
                    "actor": {
                        "role": "coach",
                        "account_id": "7f3e2d1c-0b9a-4876-9543-21fedcba9876",
                        "api_key_id": None,
                    },
                }
            ]
        }
    )

    id: uuid.UUID
    enrollment_id: uuid.UUID
    action: str
    stage: str | None
    reason: str
    by: str
    at: datetime
    actor: ActorPublic


class CredentialRecord(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
                    "kind": "token",
                    "name": None,
                    "prefix": "hft_Qw3e",
                    "created_at": "2026-11-26T08:00:00Z",
                    "expires_at": "2026-12-26T08:00:00Z",
                    "revoked_at": None,
                    "last_used_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    kind: str = Field(description="`token` (a sign-in) or `api_key`.")
    name: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ExportedPainLog(PainLogPublic):
    deleted_at: datetime | None


class ExportedSession(SessionPublic):
    deleted_at: datetime | None


class ExportedAssessment(AssessmentPublic):
    deleted_at: datetime | None


class PersonExport(BaseModel):
    """Everything HipFix holds about the caller (GDPR article 20), secrets excepted (their
    hashes are of no use to anyone)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "exported_at": "2026-11-30T12:00:00Z",
                    "account": {
                        "id": "0b9c2f4e-6a51-4c1e-9d52-3f1a7c0e8b21",
                        "email": "sam@example.com",
                        "role": "client",
                        "display_name": "Sam",
                        "timezone": "Europe/London",
                        "client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
                        "created_at": "2026-11-26T08:00:00Z",
                    },
                    "client": None,
                    "timezone_changes": [],
                    "credentials": [],
                    "enrollments": [],
                    "pain_logs": [],
                    "sessions": [],
                    "assessments": [],
                    "overrides": [],
                    "events": [],
                }
            ]
        }
    )

    exported_at: datetime
    dated_from: date | None = Field(
        None,
        description="The first UTC date of the window whose pain logs, sessions, assessments, "
        "overrides and decisions this export holds (`from`); the rest is always whole.",
    )
    dated_to: date | None = Field(None, description="The window's last UTC date (`to`).")
    account: AccountPublic | None = Field(description="Null for a managed client's export.")
    client: ClientPublic | None = Field(description="The client profile; null for a coach.")
    timezone_changes: list[dict[str, Any]] = Field(
        description="Each change of zone: {at, timezone, previous}."
    )
    credentials: list[CredentialRecord] = Field(description="Sign-ins and API keys, no secrets.")
    enrollments: list[EnrollmentPublic]
    pain_logs: list[ExportedPainLog] = Field(description="Deleted ones too, with `deleted_at`.")
    sessions: list[ExportedSession]
    assessments: list[ExportedAssessment]
    overrides: list[OverrideRecord]
    events: list[Event] = Field(description="Every decision, retracted ones too.")
