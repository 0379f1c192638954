"""Responses to creates sent with an `Idempotency-Key`, replayed on retries."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, utcnow


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"

    account_id: uuid.UUID = Field(foreign_key="account.id", primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    fingerprint: str = Field(max_length=64, description="SHA-256 of method, path and body.")
    status_code: int
    body: Any = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False, index=True)
    )
