"""What goes in and out of /v1/webhook-endpoints."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app.core.pagination import Page
from app.core.problems import describe_pattern
from app.core.types import ONE_LINE

EventType = Literal[
    "enrolled",
    "stage_unlocked",
    "flare",
    "referral",
    "referral_cleared",
    "resolved",
    "relapse",
    "decision_retracted",
    "decision_updated",
    "client_linked",
    "client_left",
    "enrollment_ended",
    "params_changed",
    "endpoint_disabled",
]
DeliveryStatus = Literal["pending", "succeeded", "failed"]

# An absolute http(s) URL with a host and no user name or password, on one line. Whether the
# host resolves, and to public addresses only, is checked by the server (app/webhooks/urls.py).
URL_PATTERN = describe_pattern(
    r"^[hH][tT][tT][pP][sS]?://[^\x00-\x20\x7F/?#@\\]+([/?#][^\x00-\x1F\x7F]*)?$",
    "Input should be an absolute http(s) URL with a host, without a user name or password",
)
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        pattern=URL_PATTERN,
        description="Where deliveries are POSTed: https, at a public address (see "
        "HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS). Redirects are not followed.",
        examples=["https://clinic.example.com/hooks/hipfix"],
    ),
]
EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=20,
        description="The events to receive.",
        examples=[["referral", "flare", "stage_unlocked"]],
    ),
]
Description = Annotated[str, Field(max_length=500, pattern=ONE_LINE)]

_ENDPOINT: JsonDict = {
    "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    "url": "https://clinic.example.com/hooks/hipfix",
    "event_types": ["referral", "flare", "stage_unlocked"],
    "description": "clinic EHR",
    "enabled": True,
    "disabled_reason": None,
    "failing_since": None,
    "created_at": "2026-11-26T08:00:00Z",
    "updated_at": "2026-11-26T08:00:00Z",
}


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://clinic.example.com/hooks/hipfix",
                    "event_types": ["referral", "flare", "stage_unlocked"],
                    "description": "clinic EHR",
                }
            ]
        },
    )

    url: Url
    event_types: EventTypes
    description: Description = ""
    enabled: bool = Field(True, strict=True)  # true or false, never 0 or "yes"


class WebhookEndpointUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"enabled": True}, {"event_types": ["referral"]}]},
    )

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        None,
        strict=True,
        description="true enables it again (after being disabled for failing too).",
    )


class WebhookEndpointPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT]})

    id: uuid.UUID
    url: str
    event_types: list[EventType]
    description: str
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why HipFix disabled it (every delivery failing for 5 days), if it did."
    )
    failing_since: datetime | None = Field(
        description="The first failed attempt since the last success."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointPublic):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_ENDPOINT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZI"}]}
    )

    secret: str | None = Field(
        description="The signing secret (`whsec_…`), shown only in this response: keep it to "
        "verify `webhook-signature` (Standard Webhooks). Null when a retry with the same "
        "Idempotency-Key replays the creation."
    )


class WebhookEndpointPage(Page[WebhookEndpointPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ENDPOINT], "next_cursor": None}]}
    )


_DELIVERY: JsonDict = {
    "id": "8e7f6a5b-4c3d-4e2f-9a1b-0c9d8e7f6a5b",
    "message_id": "msg_5f0c1e2d3b4a49688796a5b4c3d2e1f0",
    "type": "referral",
    "status": "succeeded",
    "attempts": 2,
    "created_at": "2026-11-26T08:00:00Z",
    "next_attempt_at": "2026-11-26T08:00:07Z",
    "last_attempt_at": "2026-11-26T08:00:07Z",
    "response_status_code": 200,
    "duration_ms": 41,
    "error": None,
    "delivered_at": "2026-11-26T08:00:07Z",
}


class WebhookDeliveryPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY]})

    id: uuid.UUID
    message_id: str = Field(description="The `webhook-id` sent: the same on every attempt.")
    type: str = Field(description="An event type, or `ping`.")
    status: DeliveryStatus = Field(
        description="pending (due at `next_attempt_at`), succeeded, or failed (retries over)."
    )
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    response_status_code: int | None = Field(description="The last attempt's HTTP status.")
    duration_ms: int | None = Field(description="How long the last attempt took.")
    error: str | None = Field(description="Why the last attempt got no HTTP status.")
    delivered_at: datetime | None


class WebhookDeliveryPage(Page[WebhookDeliveryPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_DELIVERY], "next_cursor": None}]}
    )


class WebhookPing(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"delivery": _DELIVERY | {"type": "ping", "attempts": 1}, "ok": True},
            ]
        }
    )

    ok: bool = Field(description="The endpoint answered 2xx.")
    delivery: WebhookDeliveryPublic
