"""Who acted: the account behind a write, the API key it came through, and its role.

Every stored log, override and decision names its actor, so a clinic sees which coach, key
or client did what (not only "coach"). Who reads decides how much of it shows (`Reader`): a
client's history may hold the work of a coach it has since left, whose accounts and keys
are not its next coach's to see."""

import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

ActorRole = Literal["coach", "client", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    role: str
    account_id: uuid.UUID | None
    api_key_id: uuid.UUID | None = None


# Work nobody asked for in a request: `hipfix reevaluate` replaying histories under new rules.
SYSTEM = Actor("system", None, None)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads a client's history. A client reads all of it. A coach sees who acted where
    that was itself or the client; another coach (one the client had before) shows as the
    role `coach` only, with no account or API key: its work is the client's, its identity
    stays with the client."""

    account_id: uuid.UUID | None
    is_coach: bool

    def knows(self, role: str | None, account_id: uuid.UUID | None) -> bool:
        return not self.is_coach or role != "coach" or account_id == self.account_id


# The client itself (and its own export): its whole history.
EVERYTHING = Reader(None, is_coach=False)


class ActorPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "role": "coach",
                    "account_id": "7f3e2d1c-0b9a-4876-9543-21fedcba9876",
                    "api_key_id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
                }
            ]
        }
    )

    role: ActorRole = Field(
        description="`system`: HipFix itself (a re-evaluation under new rules)."
    )
    account_id: uuid.UUID | None = Field(
        description="The account that acted; null for `system`, and for a coach other than "
        "the one reading (one the client had before: only the client sees which)."
    )
    api_key_id: uuid.UUID | None = Field(
        description="The coach's API key the request came with; null for a login token, and "
        "for a coach other than the one reading."
    )


# Another coach's action, as a coach reads it.
_SOME_COACH = ActorPublic(role="coach", account_id=None, api_key_id=None)


def as_read_by(actor: ActorPublic, reader: Reader) -> ActorPublic:
    """`actor` as `reader` may see it (see `Reader`)."""
    return actor if reader.knows(actor.role, actor.account_id) else _SOME_COACH


def actor_public(
    role: str | None, account_id: uuid.UUID | None, api_key_id: uuid.UUID | None
) -> ActorPublic | None:
    """Stored actor columns as the API shows them; null when none was recorded (decisions
    stored before actors were kept)."""
    if role is None:
        return None
    return ActorPublic(role=role, account_id=account_id, api_key_id=api_key_id)  # type: ignore[arg-type]  # str column written from the Literal


class _Written(Protocol):
    created_by: uuid.UUID
    actor_role: str
    actor_key_id: uuid.UUID | None


def written_by(row: _Written) -> ActorPublic:
    """The actor of a stored log, override or enrolment (its `actor` property)."""
    return ActorPublic(role=row.actor_role, account_id=row.created_by, api_key_id=row.actor_key_id)  # type: ignore[arg-type]  # str column written from the Literal
