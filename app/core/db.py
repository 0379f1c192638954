"""The database engine and sessions. Everything SQLite-specific lives here."""

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from app.core.config import get_settings

SQLITE_BUSY_TIMEOUT_MS = 5_000
WRITE_OPTION = "hipfix_writer"


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin,
        # so that SAVEPOINTs (and the test suite's rolled-back outer transaction) work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL survives a process crash; FULL would also
        # survive power loss at the cost of an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads and
        # then writes can fail at once with SQLITE_BUSY when another writer got there first.
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def build_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    _prepare_sqlite(engine)
    return engine


_engine: Engine | None = None


def get_engine() -> Engine:
    """The process's engine, built on first use from the settings."""
    global _engine
    if _engine is None:
        _engine = build_engine(get_settings().database_url)
    return _engine


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_session(request: Request) -> Iterator[Session]:
    """The request's session. Requests that write start their transaction holding the
    write lock (on SQLite), so a read-then-write never fails half-way with SQLITE_BUSY."""
    engine = get_engine()
    if request.method in _WRITE_METHODS:
        engine = engine.execution_options(**{WRITE_OPTION: True})
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
EngineDep = Annotated[Engine, Depends(get_engine)]
