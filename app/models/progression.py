"""The engine's records: coach overrides, decision events and state checkpoints."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from app.core.actors import ActorPublic, actor_public, written_by
from app.models.base import UTCDateTime, utcnow


class Override(SQLModel, table=True):
    __tablename__ = "override"
    __table_args__ = (Index(None, "enrollment_id", "at"),)

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id")
    enrollment_id: uuid.UUID = Field(foreign_key="enrollment.id")
    action: str = Field(max_length=20)
    stage: str | None = Field(default=None, max_length=80)
    reason: str = Field(max_length=1000)
    by: str = Field(max_length=10, description="coach or client")
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    body_hash: str = Field(max_length=64)
    created_by: uuid.UUID = Field(foreign_key="account.id")
    actor_role: str = Field(max_length=10, description="coach or client: who wrote it.")
    actor_key_id: uuid.UUID | None = Field(
        default=None, description="The API key it was written with, if any."
    )

    @property
    def actor(self) -> ActorPublic:
        return written_by(self)


class EngineEvent(SQLModel, table=True):
    """A decision. Never deleted: one a re-evaluation no longer makes is marked retracted."""

    __tablename__ = "engine_event"
    __table_args__ = (
        Index(None, "enrollment_id", "at"),
        Index(None, "client_id", "at"),
    )

    id: uuid.UUID = Field(primary_key=True, description="Derived from the decision's content.")
    client_id: uuid.UUID = Field(foreign_key="client.id")
    enrollment_id: uuid.UUID = Field(foreign_key="enrollment.id")
    position: str = Field(max_length=120, description="Sortable key of the item that caused it.")
    type: str = Field(max_length=20)
    rule: str = Field(max_length=40)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    local_date: date = Field(description="The client's local date of `at`, as the engine saw it.")
    stage: str | None = Field(default=None, max_length=80)
    message: str = Field(max_length=2000)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    clinical_note: str | None = Field(
        default=None,
        max_length=2000,
        description="The decision for a clinician (`notes.py`); null only before v1.2 until "
        "the history is re-evaluated.",
    )
    recorded_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    retracted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # Whose write made the engine decide it (null: stored before actors were kept).
    actor_role: str | None = Field(default=None, max_length=10)
    actor_account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id")
    actor_key_id: uuid.UUID | None = None

    @property
    def actor(self) -> ActorPublic | None:
        return actor_public(self.actor_role, self.actor_account_id, self.actor_key_id)


class FeedEntry(SQLModel, table=True):
    """One line of the event feed: a decision made, made again, updated or retracted, or a
    lifecycle event (a client left its coach, an enrolment ended, parameters changed).

    `seq` follows the transaction that wrote it on PostgreSQL (commit order on SQLite), and
    the feed lists an entry only once every transaction numbered below it has finished (see
    `app.progression.feed`), so a poller that keeps the last one it saw gets every entry
    exactly once. A lifecycle entry has no decision: `event_id` is its own id and `detail`
    what it says. `client_id` names no row: a `client_left` outlives the client's erasure."""

    __tablename__ = "feed_entry"
    __table_args__ = (Index(None, "client_id", "seq"), Index(None, "coach_id", "seq"))

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    client_id: uuid.UUID
    event_id: uuid.UUID = Field(index=True, description="The decision's id, or the event's own.")
    type: str = Field(max_length=20, description="The decision's type, or what else happened.")
    actor_role: str = Field(max_length=10)
    actor_account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id")
    actor_key_id: uuid.UUID | None = None
    recorded_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    coach_id: uuid.UUID | None = Field(
        default=None, description="Set: an entry for this coach alone (`client_left`)."
    )
    detail: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="A lifecycle event's."
    )


class FeedClock(SQLModel, table=True):
    """SQLite's last feed number: one row, taken by each writer that adds feed entries
    (SQLite's writers run one at a time anyway). Kept past deletions, so no number comes
    back after an erasure removed the highest. PostgreSQL numbers by transaction instead
    (`app.progression.feed`): there it is the epoch added to transaction ids, raised by
    `hipfix migrate` after a restore into a fresh server."""

    __tablename__ = "feed_clock"

    id: int = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class EngineCheckpoint(SQLModel, table=True):
    """The engine's state after the last item of a local date, to replay from."""

    __tablename__ = "engine_checkpoint"

    enrollment_id: uuid.UUID = Field(foreign_key="enrollment.id", primary_key=True)
    day: date = Field(primary_key=True)
    last_key: str = Field(max_length=120, description="Position key of the last item included.")
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    weekly: bool = Field(description="Kept for good: the others are pruned after 5 weeks.")
    # The enrolment's revision that wrote it: a checkpoint a later replay left alone says the
    # history up to its day is unchanged (app/progression/history.py).
    revision: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})


class AdherenceStanding(SQLModel, table=True):
    """An active enrolment's `adherence_14d` from `from_at` until `until_at`, written by the
    replay from the moment of the write onwards (the last stretch open-ended), so the
    coach's list filters by it in its one statement whatever the date (`adherence.py`)."""

    __tablename__ = "adherence_standing"

    enrollment_id: uuid.UUID = Field(foreign_key="enrollment.id", primary_key=True)
    from_at: datetime = Field(sa_column=Column(UTCDateTime, primary_key=True))
    until_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    adherence_14d: float | None = None
