"""Throttles that hold under concurrency: each attempt is counted before it is checked.

A throttle read in one unit of work and written in another lets every attempt that starts
before the first failure is stored through: thirty guesses sent at once were all checked.
So an attempt first takes its place in the count, in a small write of its own, and only then
is its password (Argon2) or code checked; a success takes its place back as the flow says.

Counting and taking a place must not interleave with another attempt's. On SQLite a writer
holds the whole database from its first statement (BEGIN IMMEDIATE), so a unit of work is
already alone. On PostgreSQL two transactions could both count four and both add a fifth,
so each takes a transaction-scoped advisory lock per counted key first: attempts on one key
take turns for the few milliseconds of the count, others are not held at all.
"""

import hashlib

from sqlalchemy import text
from sqlmodel import Session

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def _lock_id(key: str) -> int:
    # PostgreSQL's advisory locks are named by a signed 64-bit integer.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def take_turn(session: Session, *keys: str) -> None:
    """Until this unit of work ends, no other one holding a turn on any of `keys` runs past
    this call. Keys are locked in one order, so two attempts never wait for each other."""
    if session.get_bind().dialect.name == "sqlite":
        return  # the unit of work holds the writer already
    for key in sorted(set(keys)):
        session.execute(_LOCK, {"key": _lock_id(key)})
