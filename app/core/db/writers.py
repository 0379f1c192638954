"""How writers take turns: one at a time per SQLite file, one at a time per enrolment on
PostgreSQL. Used only inside the unit of work (app/core/db/unit_of_work.py)."""

import contextlib
import fcntl
import os
from collections.abc import Hashable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlparse

from sqlalchemy import Select
from sqlmodel import Session


class WriterTurn:
    """Worker processes take turns writing to one SQLite file through an advisory lock on a
    file beside it. A process waiting on SQLite's own lock polls it with sleeps of up to
    100 ms while the holder's next write takes it again at once, so one process's writes
    could wait for seconds (bench/RESULTS.md). A blocked flock is woken when the lock is let
    go, and the kernel drops it if the process dies. Taken on the writer thread only."""

    def __init__(self, database: str) -> None:
        path = urlparse(database).path if database.startswith("file:") else database
        self._path = f"{path}.writer-lock"
        self._fd: int | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self._fd is None:  # only the writer thread gets here: no race on opening
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                # No folder, or a read-only one: SQLite's own lock still orders the writers
                # (slower), and a database that is away answers with its own error.
                yield
                return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


S = TypeVar("S", bound=Select[Any])

# What this unit's transaction already holds (`hold`, `lock_for_update`'s `key`).
_HELD = "hipfix.held"


def for_writing(statement: S, of: Any = None) -> S:
    """`statement`, holding the rows it selects (of the table `of` only, if given) until the
    transaction ends (PostgreSQL: FOR NO KEY UPDATE; SQLite's compiler leaves it out, its
    writer holds the whole file). NO KEY UPDATE, not UPDATE: inserting a row that refers to
    these takes KEY SHARE on them, which UPDATE would wait for (two writers deadlocked so);
    only writers wait. What it reads replaces what the unit's Session held of those rows:
    they are as the writers before left them."""
    held = statement.with_for_update(key_share=True, of=of)
    return held.execution_options(populate_existing=True)


def hold(session: Session, key: Hashable, value: object = True) -> None:
    """Note that this unit's transaction holds what `key` names (a statement made
    `for_writing` selected it, `value`): a later `lock_for_update` of it sends nothing."""
    session.info.setdefault(_HELD, {})[key] = value


def held(session: Session, key: Hashable) -> Any:
    """What `hold` noted under `key` in this unit, or None."""
    return session.info.get(_HELD, {}).get(key)


def lock_for_update(session: Session, statement: Select[Any], key: Hashable = None) -> None:
    """Hold the rows `statement` selects until the transaction ends, so that concurrent
    writers of them take turns (`for_writing`). SQLite needs nothing: a writer holds the
    whole database from its first statement (BEGIN IMMEDIATE). `key`: a name for them,
    when this unit may already hold them (`hold`); then nothing is sent."""
    if key is not None and held(session, key) is not None:
        return
    if session.get_bind().dialect.name != "sqlite":
        session.execute(for_writing(statement)).all()
    if key is not None:
        hold(session, key)
