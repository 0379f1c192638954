"""Who acted: the account behind a write, the API key it came through, and its role.

Every stored log, override and decision names its actor, so a clinic sees which coach, key
or client did what (not only "coach")."""

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
    account_id: uuid.UUID | None = Field(description="The account that acted; null for `system`.")
    api_key_id: uuid.UUID | None = Field(
        description="The coach's API key the request came with; null for a login token."
    )


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
