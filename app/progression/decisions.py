"""Which decisions are one: what a clinic tool keys its records on (PRODUCT §8).

A decision is the same one when it has the same type, rule, stage and local date, whatever
its figures say and whichever item made it. Its id derives from that key alone, so a replay
that makes it again (a backfill changed the pain it was measured from) keeps the id instead
of retracting it and making a new one. The engine may make a key twice on one date (a second
flare that day); the first is the decision, the later ones add nothing a tool keys on.
Pure: the replay and the simulator both use it.
"""

import uuid
from collections.abc import Iterable
from datetime import date

from app.progression.model import Decision

EVENT_NAMESPACE = uuid.UUID("6f1c3a52-9b7e-4f0a-8d21-5e4b7c9a0d13")

Key = tuple[str, str, str | None, date]


def key_of(decision: Decision) -> Key:
    return (decision.type, decision.rule, decision.stage, decision.day)


def event_id(enrollment_id: str, key: Key) -> uuid.UUID:
    kind, rule, stage, day = key
    return uuid.uuid5(EVENT_NAMESPACE, f"{enrollment_id}|{kind}|{rule}|{stage}|{day.isoformat()}")


def distinct(decisions: Iterable[Decision], known: Iterable[Key] = ()) -> list[Decision]:
    """The decisions in their order, each key once (its first), leaving out the `known` keys
    (made before, by items the caller did not step through again)."""
    seen = set(known)
    kept: list[Decision] = []
    for decision in decisions:
        key = key_of(decision)
        if key not in seen:
            seen.add(key)
            kept.append(decision)
    return kept
