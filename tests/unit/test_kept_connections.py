"""A lane's thread keeps its connection between units of work, and one found broken is
replaced (app/core/db/kept.py): units on an Engine, as the served app runs them."""

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import Engine, func, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from app.core.caches import Caches
from app.core.db import Database
from app.models import LoginFailure


def _driver_connection(session: Session) -> Any:
    session.execute(text("SELECT 1")).one()
    return session.connection().connection.dbapi_connection


def test_units_on_one_thread_share_its_connection_and_each_ends_its_transaction(engine: Engine):
    database = Database(engine, threads=1, caches=Caches())
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]

    async def main() -> list[Any]:
        return [await database.read(_driver_connection) for _ in range(3)]

    first, second, third = asyncio.run(main())
    assert first is second is third
    # Kept, not returned to the pool, and no transaction left open on it between units.
    assert engine.pool.checkedout() == checked_out + 1  # type: ignore[attr-defined]
    kept = first
    assert asyncio.run(database.read(_driver_connection)) is kept
    database.close()
    for _ in range(100):  # the thread lets go of its connection as it stops
        if engine.pool.checkedout() == checked_out:  # type: ignore[attr-defined]
            break
        time.sleep(0.05)
    assert engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]


def test_a_broken_kept_connection_fails_its_unit_and_is_replaced(engine: Engine):
    database = Database(engine, threads=1, caches=Caches())

    def breaks(session: Session) -> Any:
        session.connection().connection.dbapi_connection.close()  # the server went away
        return _driver_connection(session)

    async def main() -> tuple[Any, Any, Any]:
        before = await database.read(_driver_connection)
        with pytest.raises(DBAPIError):
            await database.read(breaks)
        return (
            before,
            await database.read(_driver_connection),
            await database.read(_driver_connection),
        )

    before, replaced, after = asyncio.run(main())
    assert replaced is not before  # the next unit runs on a new connection
    assert after is replaced  # which is kept in its turn
    database.close()


def _autocommit(session: Session) -> bool:
    session.execute(text("SELECT 1")).one()
    return bool(session.connection().connection.dbapi_connection.autocommit)


def _note(session: Session, value: int) -> None:
    session.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS kept_note (value integer)"))
    session.execute(text("INSERT INTO kept_note (value) VALUES (:value)"), {"value": value})


def _notes(session: Session) -> list[int]:
    return list(session.execute(text("SELECT value FROM kept_note ORDER BY value")).scalars())


def test_reads_run_in_autocommit_on_postgresql_and_writes_in_a_transaction(engine: Engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's reads keep their transaction: one snapshot, no round trip")
    database = Database(engine, threads=1, caches=Caches())

    async def main() -> tuple[bool, list[int], bool, list[int]]:
        read = await database.read(_autocommit)
        await database.write(_note, 1)
        after_write = await database.read(_notes)
        await database.write(_note, 2)
        return read, after_write, await database.read(_autocommit), await database.read(_notes)

    read, after_write, read_again, notes = asyncio.run(main())
    # One round trip for a one-statement read, not BEGIN, SELECT, ROLLBACK.
    assert read is read_again is True
    # Writes on the same kept connection still commit (a temporary table: this connection's).
    assert (after_write, notes) == ([1], [1, 2])
    database.close()


def test_a_read_that_would_store_something_is_refused_and_stores_nothing(engine: Engine):
    """On PostgreSQL a read's statements run in autocommit: a flush there would stay. A read
    that changes stored objects is refused before anything is sent, on both databases."""
    database = Database(engine, threads=1, caches=Caches())
    email = "read-unit-writes@example.com"

    def sneaks_a_write(session: Session) -> None:
        session.add(LoginFailure(email=email, ip="127.0.0.1"))
        session.flush()

    def count(session: Session) -> int:
        query = select(func.count()).select_from(LoginFailure).where(LoginFailure.email == email)
        return session.exec(query).one()

    async def main() -> int:
        with pytest.raises(RuntimeError, match=r"use db\.write"):
            await database.read(sneaks_a_write)
        return await database.read(count)

    assert asyncio.run(main()) == 0
    database.close()
