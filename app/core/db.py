"""The database engine and sessions. Everything SQLite-specific lives here."""

import asyncio
import contextlib
import contextvars
import fcntl
import functools
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Dialect, Engine, Select, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

from app.core.config import get_settings
from app.core.prepared import Execute, Fetched, Prepared, on_cursor

SQLITE_BUSY_TIMEOUT_MS = 5_000
WRITE_OPTION = "hipfix_writer"


# SQLite engines whose every connection runs in WAL mode (see `_reads_never_wait`).
_IN_WAL_MODE: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def _prepare_sqlite(engine: Engine) -> None:
    _IN_WAL_MODE.add(engine)

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


async def current_engine() -> Engine:
    # Async, so FastAPI calls it in place rather than on a worker thread.
    return get_engine()


EngineDep = Annotated[Engine, Depends(current_engine)]


def session_for(engine: Engine, *, write: bool) -> Session:
    if write:
        engine = engine.execution_options(**{WRITE_OPTION: True})
    return Session(engine)


def lock_for_update(session: Session, statement: Select[Any]) -> None:
    """Hold the rows `statement` selects until the transaction ends, so that concurrent
    writers of them take turns (PostgreSQL: SELECT ... FOR NO KEY UPDATE). SQLite needs
    nothing: a writer holds the whole database from its first statement (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name != "sqlite":
        # NO KEY UPDATE, not UPDATE: inserting a row that refers to these takes KEY SHARE on
        # them, which UPDATE would wait for (two writers deadlocked so); only writers wait.
        session.execute(statement.with_for_update(key_share=True)).all()


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_session(request: Request, engine: EngineDep) -> Iterator[Session]:
    """The request's session. Requests that write start their transaction holding the
    write lock (on SQLite), so a read-then-write never fails half-way with SQLITE_BUSY."""
    with session_for(engine, write=request.method in _WRITE_METHODS) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


# --- one hop per request -------------------------------------------------------------------
#
# FastAPI runs every sync dependency and sync endpoint in its own trip to anyio's thread
# pool; measured here with wrk, each trip costs about as much as a bare endpoint's whole
# request (bench/RESULTS.md). The hot routes are async instead: they resolve the caller,
# the client and their answer in one unit of work, run on one of these threads.

P = ParamSpec("P")
T = TypeVar("T")


@functools.cache
def _workers() -> ThreadPoolExecutor:
    # Fewer than SQLAlchemy's pool (5 + 10 overflow), so no thread waits for a connection.
    # Few: the work is mostly Python holding the GIL, and more threads only queue for it
    # (progress read, 1 worker: 0.070x the bare endpoint with 1 thread, 0.064x with 4,
    # 0.052x with 15); a few let PostgreSQL's network waits overlap.
    return ThreadPoolExecutor(get_settings().db_threads, thread_name_prefix="hipfix-db")


@functools.cache
def _sqlite_writer() -> ThreadPoolExecutor:
    # SQLite takes one writer at a time: one thread per process queues them in order, where
    # many threads would wait on the file lock with the busy handler's sleeps.
    return ThreadPoolExecutor(1, thread_name_prefix="hipfix-writer")


class WriterTurn:
    """Worker processes take turns writing to one SQLite file through an advisory lock on a
    file beside it. A process waiting on SQLite's own lock polls it with sleeps of up to
    100 ms while the holder's next write takes it again at once, so one process's writes
    could wait for seconds (measured: POST p99 1.8-2.7 s with 2 workers). A blocked flock
    is woken when the lock is let go. The kernel drops it if the process dies."""

    def __init__(self, database: str) -> None:
        self._path = f"{database}.writer-lock"
        self._fd: int | None = None

    def __call__(self) -> AbstractContextManager[None]:
        return self._held()

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        if self._fd is None:  # only the writer thread gets here: no race on opening
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


@functools.cache
def _writer_turn(engine: Engine) -> WriterTurn | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return WriterTurn(database)


class Database:
    """Runs a unit of work with its own session on a worker thread, off the event loop."""

    def __init__(
        self,
        make_session: Callable[[bool], Session],
        *,
        serial_writes: Callable[[], bool] = lambda: False,
        writer_turn: Callable[[], WriterTurn | None] = lambda: None,
        executor: Callable[[], AbstractContextManager[tuple[Execute, Dialect]]] | None = None,
        inline_reads: Callable[[], bool] = lambda: False,
    ) -> None:
        self._make_session = make_session  # called with True for a unit of work that writes
        self._serial_writes = serial_writes
        self._writer_turn = writer_turn
        # For `first`: where its statement runs (by default through `make_session`), and
        # whether that may happen on the event loop.
        self._executor = executor or self._session_connection
        self._inline_reads = inline_reads
        self._prepared: dict[tuple[Select[Any], str], Prepared] = {}

    @classmethod
    def of_settings(cls) -> "Database":
        """The process's engine, built on first use (so creating the app connects nowhere)."""
        return cls.of_engine(get_engine)

    @classmethod
    def of_engine(cls, engine: Callable[[], Engine]) -> "Database":
        held = _HeldConnection(engine)
        return cls(
            lambda write: session_for(engine(), write=write),
            serial_writes=lambda: engine().dialect.name == "sqlite",
            writer_turn=lambda: _writer_turn(engine()),
            # Inline reads all run on the event loop's thread, one at a time: one connection
            # kept for them saves the pool's checkout and reset on every read.
            executor=lambda: held() if _reads_never_wait(engine()) else _pooled(engine()),
            inline_reads=lambda: _reads_never_wait(engine()),
        )

    @contextlib.contextmanager
    def _session_connection(self) -> Iterator[tuple[Execute, Dialect]]:
        """Through a session of `make_session` (what the test suite gives): the statement is
        the same, and SQLAlchemy's events see it."""
        with self._make_session(False) as session:
            connection = session.connection()

            def execute(sql: str, params: Any) -> Sequence[Any] | None:
                return connection.exec_driver_sql(sql, params).first()

            yield execute, connection.dialect

    async def first(self, statement: Select[Any], **params: Any) -> Fetched | None:
        """The first row of one SELECT, run as `Prepared` (see app/core/prepared.py): on the
        event loop where a read never waits (SQLite in WAL mode), else on a worker thread."""
        if self._inline_reads():
            return self._first(statement, params)
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        call = functools.partial(context.run, self._first, statement, params)
        return await loop.run_in_executor(_workers(), call)

    def _first(self, statement: Select[Any], params: dict[str, Any]) -> Fetched | None:
        with self._executor() as (execute, dialect):
            key = (statement, dialect.name)
            prepared = self._prepared.get(key)
            if prepared is None:
                prepared = self._prepared[key] = Prepared(statement, dialect)
            try:
                return prepared.first(execute, **params)
            except dialect.loaded_dbapi.Error as error:
                raise _as_sqlalchemy(error, dialect, prepared.sql) from error

    async def read(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(_workers(), False, work, *args, **kwargs)

    async def write(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work` commits what it stores; what it leaves uncommitted is rolled back."""
        pool = _sqlite_writer() if self._serial_writes() else _workers()
        return await self._run(pool, True, work, *args, **kwargs)

    async def _run(
        self,
        pool: ThreadPoolExecutor,
        write: bool,
        work: Callable[..., T],
        *args: Any,
        **kwargs: Any,
    ) -> T:
        turn = self._writer_turn() if write else None

        def unit() -> T:
            with turn() if turn else contextlib.nullcontext(), self._make_session(write) as session:
                return work(session, *args, **kwargs)

        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, functools.partial(context.run, unit))


def _as_sqlalchemy(error: Exception, dialect: Dialect, sql: str | None = None) -> DBAPIError:
    # A driver's error as SQLAlchemy raises it, so the fault handlers answer 503 for an
    # unavailable database on these reads too.
    return DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error)


def _checkout(engine: Engine) -> Any:
    try:
        return engine.raw_connection()  # the pool's: pragmas set, reset when returned
    except engine.dialect.loaded_dbapi.Error as error:
        raise _as_sqlalchemy(error, engine.dialect) from error


@contextlib.contextmanager
def _pooled(engine: Engine) -> Iterator[tuple[Execute, Dialect]]:
    connection = _checkout(engine)
    try:
        yield on_cursor(connection.dbapi_connection), engine.dialect
    except (DBAPIError, engine.dialect.loaded_dbapi.Error):
        connection.invalidate()  # it may be broken: the next checkout opens a new one
        raise
    finally:
        connection.close()


class _HeldConnection:
    """One of the pool's connections, kept until an error says it may be broken."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine
        self._held: tuple[Any, Execute] | None = None  # the pool's connection, its Execute

    @contextlib.contextmanager
    def __call__(self) -> Iterator[tuple[Execute, Dialect]]:
        engine = self._engine()
        if self._held is None:
            connection = _checkout(engine)
            self._held = (connection, on_cursor(connection.dbapi_connection))
        connection, execute = self._held
        try:
            yield execute, engine.dialect
        except (DBAPIError, engine.dialect.loaded_dbapi.Error):
            connection.invalidate()
            self._held = None
            raise


def _reads_never_wait(engine: Engine) -> bool:
    # A SQLite file in WAL mode: readers take no lock a writer holds, so a one-statement read
    # is CPU work of tens of microseconds, less than the hop to a thread costs. A server's
    # database is a network round trip away: that waits on a worker thread.
    database = engine.url.database
    return engine in _IN_WAL_MODE and bool(database) and database != ":memory:"


def database_of(request: Request) -> Database:
    """The app's Database (`app.state.database`), for a route that needs it only sometimes."""
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    return database_of(request)


DatabaseDep = Annotated[Database, Depends(get_database)]
