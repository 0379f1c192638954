"""Engines: SQLite's per-connection settings and the pool's size. Everything SQLite-specific
about connections lives here."""

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

from app.core.config import Settings, get_settings

SQLITE_BUSY_TIMEOUT_MS = 5_000
# Set on a connection that writes: its transaction begins by taking SQLite's write lock.
WRITE_OPTION = "hipfix_writer"
# A connection not free within this long is a full pool: the request is answered 503 rather
# than left waiting (see app/core/faults.py). Units of work never outnumber the pool.
POOL_TIMEOUT_SECONDS = 1.0


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


def build_engine(url: str, *, connections: int = 5) -> Engine:
    """An engine whose pool holds `connections` (a few more may open while others close)."""
    pool = {
        "pool_size": connections,
        "max_overflow": 2,
        "pool_timeout": POOL_TIMEOUT_SECONDS,
    }
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **pool)
    if not parsed.database or parsed.database == ":memory:":
        return create_engine(url, connect_args={"check_same_thread": False})
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
    _prepare_sqlite(engine)
    return engine


def database_threads(settings: Settings) -> int:
    """`HIPFIX_DB_THREADS`, or its default for the database's kind (see the setting)."""
    if settings.db_threads is not None:
        return settings.db_threads
    return 2 if make_url(settings.database_url).get_backend_name() == "sqlite" else 4


@functools.cache
def get_engine() -> Engine:
    """The process's engine, from the settings: one pool connection per unit of work that
    may run at once (the database threads and SQLite's writer), and one for probes."""
    settings = get_settings()
    return build_engine(settings.database_url, connections=database_threads(settings) + 2)


def is_sqlite_file(engine: Engine) -> bool:
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"
