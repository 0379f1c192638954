"""Published content: each (slug, version) is stored once and never changes."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime


class ExerciseRow(SQLModel, table=True):
    __tablename__ = "exercise"

    slug: str = Field(primary_key=True, max_length=80)
    version: int = Field(primary_key=True)
    position: int = Field(description="Catalogue order.")
    kind: str = Field(max_length=20, index=True)
    region: str = Field(max_length=20)
    stage: str | None = Field(default=None, max_length=80)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    checksum: str = Field(max_length=64)
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ProtocolRow(SQLModel, table=True):
    __tablename__ = "protocol"

    slug: str = Field(primary_key=True, max_length=80)
    version: int = Field(primary_key=True)
    title: str = Field(max_length=200)
    # The whole public document, exercises included, as published: reads serve it as is.
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    checksum: str = Field(max_length=64)
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
