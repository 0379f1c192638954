"""What a coach reads of a client's time with another coach.

A client with a login may leave its coach (or be released) and link to another. Its history
stays whole and it sees all of it. The next coach sees what was done, not who did it nor in
whose words: another coach's actions show as the role `coach` with no account or API key
(`app.core.actors.Reader`), and the reason another coach gave for an override is withheld
wherever it shows: the override, the decisions it made (their message and `data.reason`),
the reason a stage opened, the clinician's report. The coach's own work, the client's, and
the engine's stay as they are. (The client's `external_id`, a coach's own reference, is
cleared when its link ends: `app.accounts.links`.)
"""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from app.core.actors import EVERYTHING, Reader, as_read_by
from app.core.security import Principal
from app.models import EngineEvent, Override
from app.progression import rules
from app.progression.schemas import Event, FeedEvent

WITHHELD = "(withheld: a previous coach's words)"
_FROM_OVERRIDES = frozenset({rules.OVERRIDE_UNLOCK_STAGE, rules.OVERRIDE_CLEAR_REFERRAL})


def reader_of(principal: Principal) -> Reader:
    return Reader(principal.id, principal.is_coach) if principal.is_coach else EVERYTHING


def _override_of(event: EngineEvent) -> uuid.UUID | None:
    """The override a decision came from: the last part of its item's position."""
    if event.rule not in _FROM_OVERRIDES:
        return None
    try:
        return uuid.UUID(event.position.rsplit("|", 1)[-1])
    except ValueError:
        return None


def withheld_decisions(
    session: Session, reader: Reader, events: Iterable[EngineEvent]
) -> set[uuid.UUID]:
    """The ids of those `events` made from another coach's override."""
    if not reader.is_coach:
        return set()
    from_override = {e.id: o for e in events if (o := _override_of(e)) is not None}
    if not from_override:
        return set()
    query = select(col(Override.id), col(Override.actor_role), col(Override.created_by)).where(
        col(Override.id).in_(set(from_override.values()))
    )
    others = {ident for ident, role, by in session.exec(query) if not reader.knows(role, by)}
    return {event_id for event_id, override in from_override.items() if override in others}


def withheld_unlocks(session: Session, reader: Reader, enrollment_id: uuid.UUID) -> set[datetime]:
    """When another coach's overrides of this enrolment were made: a stage opened by a coach
    at one of these moments opened for that coach's reason."""
    if not reader.is_coach:
        return set()
    query = (
        select(col(Override.at))
        .where(col(Override.enrollment_id) == enrollment_id)
        .where(col(Override.actor_role) == "coach")
        .where(col(Override.created_by) != reader.account_id)
    )
    return set(session.exec(query).all())


def withheld_words(message: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A decision's message and figures without the override's reason in them."""
    reason = data.get("reason")
    if isinstance(reason, str) and reason:
        # The engine writes "…by coach: <reason>…": the reason follows the first ": ".
        message = message.replace(f": {reason}", f": {WITHHELD}", 1)
    return message, {**data, "reason": None} if "reason" in data else data


Shown = TypeVar("Shown", Event, FeedEvent)


def decision_as_read(model: Shown, reader: Reader, *, withheld: bool) -> Shown:
    """A decision as the API shows it (an `Event` or a `FeedEvent`), as `reader` may see it."""
    update: dict[str, Any] = {}
    if model.actor is not None and not reader.knows(model.actor.role, model.actor.account_id):
        update["actor"] = as_read_by(model.actor, reader)
    if withheld:
        update["message"], update["data"] = withheld_words(model.message, model.data)
    return model.model_copy(update=update) if update else model
