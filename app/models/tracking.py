"""What a client logs: enrolments, pain logs, exercise sessions and assessments."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKeyConstraint, Index, literal_column, text
from sqlmodel import Field, SQLModel, col

from app.core.actors import ActorPublic, written_by
from app.models.base import UTCDateTime, utcnow


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollment"
    __table_args__ = (
        ForeignKeyConstraint(["protocol", "version"], ["protocol.slug", "protocol.version"]),
        # One active enrolment per client, enforced by the database itself.
        Index(
            "uq_enrollment_active_client",
            "client_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id", index=True)
    protocol: str = Field(max_length=80)
    version: int
    baseline_pain: int
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    params: dict[str, Any] = Field(
        sa_column=Column(JSON, nullable=False), description="Overrides only."
    )
    status: str = Field(max_length=10, default="active", description="active or ended")
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    outcome: str | None = Field(default=None, max_length=10, description="completed or withdrawn")
    end_reason: str | None = Field(default=None, max_length=1000)
    ended_by: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON), description="Who ended it: an actor."
    )
    param_changes: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
        description="Each change of parameters while active: {at, actor, before, after, "
        "added, retracted} (the decisions the replay made anew and withdrew).",
    )
    body_hash: str = Field(max_length=64)
    # The engine's newest state in the columns a coach's list filters and sorts by: written
    # by the replay in the unit of work that writes the checkpoint they are read from.
    referred: bool = Field(default=False)
    resolved: bool = Field(default=False)
    hold_ends_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime), description="End of the hold's last date."
    )
    top_stage: str | None = Field(
        default=None, max_length=80, description="The highest unlocked stage."
    )
    last_logged_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime),
        description="The latest pain log, session or assessment.",
    )
    # Moved on by every replay stored (`replay.store`): a replay computed outside the
    # writer, from what an older revision held, is stale (`app/progression/history.py`).
    revision: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    adherence: dict[str, Any] | None = Field(
        default=None,
        sa_column=Column(JSON(none_as_null=True)),
        description="Sessions planned and logged per local week (`adherence.py`), written by "
        "the replay; null before v1.2 until the next write.",
    )
    created_by: uuid.UUID = Field(foreign_key="account.id")
    actor_role: str = Field(max_length=10, description="coach or client: who wrote it.")
    actor_key_id: uuid.UUID | None = Field(
        default=None, description="The API key it was written with, if any."
    )

    @property
    def actor(self) -> ActorPublic:
        return written_by(self)

    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


# The condition as SQL text, not a bound value: SQLite plans a statement again on every run
# when a bound value could decide whether a partial index (the one above) applies, which
# cost the progress read four times what running it does (bench/RESULTS.md).
ENROLLMENT_IS_ACTIVE = col(Enrollment.status) == literal_column("'active'")


# Names under which a write's unit notes an enrolment it holds for writing
# (app/core/db/writers.py `hold`), so that it is neither read nor locked twice.
def held_enrollment(enrollment_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    return ("enrollment", enrollment_id)


def held_active_enrollment(client_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    return ("active enrollment of", client_id)


class ExerciseSession(SQLModel, table=True):
    __tablename__ = "exercise_session"
    # By client for the lists; by enrolment for the engine's replay of what followed a moment.
    __table_args__ = (
        Index(None, "client_id", "performed_at"),
        Index(None, "enrollment_id", "performed_at"),
    )

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id")
    enrollment_id: uuid.UUID = Field(foreign_key="enrollment.id")
    performed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    exercises: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    pain_during: int | None = None
    pain_after: int | None = None
    side: str = Field(max_length=10, description="The painful side, for the linked pain logs.")
    note: str | None = Field(default=None, max_length=1000)
    body_hash: str = Field(max_length=64)
    created_by: uuid.UUID = Field(foreign_key="account.id")
    actor_role: str = Field(max_length=10, description="coach or client: who wrote it.")
    actor_key_id: uuid.UUID | None = Field(
        default=None, description="The API key it was written with, if any."
    )

    @property
    def actor(self) -> ActorPublic:
        return written_by(self)

    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class PainLog(SQLModel, table=True):
    __tablename__ = "pain_log"
    __table_args__ = (
        Index(None, "client_id", "recorded_at"),
        Index(None, "enrollment_id", "recorded_at"),
    )

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id")
    enrollment_id: uuid.UUID = Field(foreign_key="enrollment.id")
    session_id: uuid.UUID | None = Field(
        default=None, foreign_key="exercise_session.id", index=True
    )
    score: int
    context: str = Field(max_length=20)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    side: str = Field(max_length=10)
    location: str | None = Field(default=None, max_length=10)
    flags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, max_length=1000)
    body_hash: str = Field(max_length=64)
    created_by: uuid.UUID = Field(foreign_key="account.id")
    actor_role: str = Field(max_length=10, description="coach or client: who wrote it.")
    actor_key_id: uuid.UUID | None = Field(
        default=None, description="The API key it was written with, if any."
    )

    @property
    def actor(self) -> ActorPublic:
        return written_by(self)

    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class Assessment(SQLModel, table=True):
    __tablename__ = "assessment"
    __table_args__ = (
        Index(None, "client_id", "performed_at"),
        Index(None, "enrollment_id", "performed_at"),
    )

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id")
    enrollment_id: uuid.UUID = Field(foreign_key="enrollment.id")
    kind: str = Field(max_length=40)
    left: str = Field(max_length=30)
    right: str = Field(max_length=30)
    performed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    note: str | None = Field(default=None, max_length=1000)
    body_hash: str = Field(max_length=64)
    created_by: uuid.UUID = Field(foreign_key="account.id")
    actor_role: str = Field(max_length=10, description="coach or client: who wrote it.")
    actor_key_id: uuid.UUID | None = Field(
        default=None, description="The API key it was written with, if any."
    )

    @property
    def actor(self) -> ActorPublic:
        return written_by(self)

    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
