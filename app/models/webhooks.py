"""Webhooks: a coach's endpoints and the outbox of deliveries to them.

A delivery row is written in the same transaction as what it announces (a decision, a
retraction, a link), so nothing is sent for work that rolled back and nothing is lost when
a process dies; the delivery worker sends what is due and records each attempt on it."""

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, new_id, utcnow


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoint"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True, description="The coach.")
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=500)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(default=True)
    # Kept as given: signing needs the secret itself (a symmetric key), not a hash of it.
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(
        default=None, max_length=100, description="Still signed with until it expires."
    )
    previous_secret_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    failing_since: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime),
        description="First failed attempt since the last success.",
    )
    disabled_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class WebhookDelivery(SQLModel, table=True):
    """One message to one endpoint, and where its delivery stands."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "endpoint_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoint.id")
    message_id: str = Field(
        max_length=64, index=True, description="`webhook-id`: the receiver's duplicate key."
    )
    client_id: uuid.UUID | None = Field(default=None, foreign_key="client.id", index=True)
    type: str = Field(max_length=30)
    body: str = Field(sa_column=Column(Text, nullable=False), description="Exactly as signed.")
    status: str = Field(default="pending", max_length=12, description="pending, succeeded, failed")
    attempts: int = Field(default=0)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    retry_until: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    claimed_until: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime),
        description="A worker's lease: past it, another worker may claim the delivery again.",
    )
    claim: uuid.UUID | None = Field(default=None, description="Which claim holds the lease.")
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_status_code: int | None = Field(default=None)
    last_duration_ms: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    request_id: str | None = Field(
        default=None,
        max_length=128,
        description="The request whose unit of work wrote it; sent as `X-Request-ID`.",
    )
