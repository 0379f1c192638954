"""The one way to the database: `await db.read(work, ...)` and `await db.write(work, ...)`.

`work(session, *args, **kwargs)` is a plain function (a service) that runs on a worker
thread, never on the event loop, inside one unit of work: its own Session, committed once
when `work` returns (writes) and rolled back when it raises or only read. Services never
commit; what `work` returns is built before the commit, and the route answers only after it.

Writes take one lane: on SQLite, one writer thread per process taking turns with other
processes (`WriterTurn`), each transaction starting with the write lock; on PostgreSQL the
worker threads, where writers of one enrolment take turns by its row lock
(`lock_for_update`). A write that collides with a concurrent one on a unique key (the same
client-made id or Idempotency-Key) runs once more, and then finds the winner's row.

No coroutine waits for a connection: units of work run on the lanes' threads (`lanes`), the
threads never outnumber the pool, and a request whose unit has not started within
`admission_seconds` is answered 503 with Retry-After rather than left queued behind the
others.
"""

import contextlib
import functools
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.core.caches import Caches
from app.core.db.engine import WRITE_OPTION, is_sqlite_file
from app.core.db.kept import KeptConnections
from app.core.db.lanes import Lane
from app.core.db.writers import WriterTurn
from app.core.metrics import LANE_QUEUE, POOL_CHECKED_OUT, POOL_SIZE, ScrapeHook
from app.core.problems import ProblemError

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("hipfix.db")

CACHES_KEY = "hipfix.caches"


# Small writes a unit noticed it owes (`store_later`), by what they are about.
_LATER = "hipfix.later"


def store_later(session: Session, key: Hashable, work: Callable[[Session], None]) -> None:
    """A small write a unit of work noticed it owes, such as an API key's `last_used_at`.
    In a writing unit it runs just before the commit; after a read (which stores nothing), in
    a writing unit of its own before the answer goes out, and a failure there is logged, not
    answered: the read's answer stands. One per `key` and unit."""
    later: dict[Hashable, Callable[[Session], None]] = session.info.setdefault(_LATER, {})
    later[key] = work


@dataclass(frozen=True, slots=True)
class _Owed:
    """A read's answer, and the writes it noticed."""

    answer: Any
    writes: list[Callable[[Session], None]]


def _store(session: Session, writes: list[Callable[[Session], None]]) -> None:
    for write in writes:
        write(session)


def collided() -> ProblemError:
    return ProblemError(
        409,
        "conflict",
        "This request collided with a concurrent one that stored the same item or used "
        "the same Idempotency-Key; retry it.",
    )


class Database:
    """Runs units of work for one app. `bind` is the process's Engine, or in the test suite a
    Connection inside a transaction that is rolled back after each test."""

    def __init__(
        self,
        bind: Engine | Connection,
        *,
        threads: int,
        caches: Caches,
        admission_seconds: float = 1.0,
        metrics: bool = True,
    ) -> None:
        engine = bind if isinstance(bind, Engine) else bind.engine
        self.engine = engine
        self.caches = caches
        # An OpenTelemetry tracer once tracing is installed (app/core/tracing.py); None: off.
        self.tracer: Any = None
        self.dialect = engine.dialect.name
        self._admission_seconds = admission_seconds
        serial = engine.dialect.name == "sqlite"
        self._read_bind: Engine | Connection = bind
        # An Engine's writer connections begin with the write lock; a test's Connection is
        # already inside its outer transaction, so its units are SAVEPOINTs.
        self._write_bind: Engine | Connection = (
            bind.execution_options(**{WRITE_OPTION: True})
            if serial and isinstance(bind, Engine)
            else bind
        )
        self._turn = (
            WriterTurn(str(engine.url.database))
            if isinstance(bind, Engine) and is_sqlite_file(engine)
            else None
        )
        self._serial = serial
        # An Engine's lane threads keep their connections; a test's Connection is the bind.
        self._kept = (
            KeptConnections(bind, self._write_bind, autocommit_reads=not serial)
            if isinstance(bind, Engine) and isinstance(self._write_bind, Engine)
            else None
        )
        leave = self._kept.release if self._kept is not None else None
        self._reads = Lane("hipfix-db", threads, admission_seconds, leave, observe=metrics)
        self._writes = (
            Lane("hipfix-writer", 1, admission_seconds, leave, observe=metrics)
            if serial
            else self._reads
        )

    async def read(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work`'s answer from a unit of work that stores nothing."""
        return await self._run(False, work, *args, **kwargs)

    async def write(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work`'s answer once what it added is committed."""
        return await self._run(True, work, *args, **kwargs)

    async def _run(self, write: bool, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        lane = self._writes if write else self._reads
        answer = await lane.run(functools.partial(self._unit, write, work, *args, **kwargs))
        if isinstance(answer, _Owed):
            try:
                await self.write(_store, answer.writes)
            except Exception:  # the read's answer stands: these writes are bookkeeping
                log.warning("a read's follow-up writes failed", exc_info=True)
            answer = answer.answer
        done: T = answer
        return done

    def scrape_hook(self) -> ScrapeHook:
        """For `GET /metrics`: the pool's state and the lanes' queues, read at scrape time."""
        lanes = {self._reads, self._writes}

        async def connection_state() -> None:
            pool: Any = self.engine.pool
            checked_out = getattr(pool, "checkedout", None)
            size = getattr(pool, "size", None)
            if callable(checked_out):
                POOL_CHECKED_OUT.set(checked_out())
            if callable(size):
                POOL_SIZE.set(size())
            for lane in lanes:
                LANE_QUEUE.labels(lane.name).set(lane.waiting())

        return connection_state

    def close(self) -> None:
        """Stop the threads once they finish what they hold (the app's shutdown)."""
        self._reads.close()
        self._writes.close()

    def session(self, write: bool, *, kept: bool = False) -> Session:
        """A unit's Session. `kept`: on this thread's kept connection (units on the lanes),
        else on the bind (a pooled connection, or the test's Connection). On a Connection
        not in a transaction the Session begins one and ends it; inside the test's outer
        transaction, a SAVEPOINT: the same path above the connection either way."""
        bind: Engine | Connection = self._write_bind if write else self._read_bind
        if kept and self._kept is not None:
            # PostgreSQL's writers and readers share threads and one kind of connection.
            bind = self._kept.get(write and self._serial, reading=not write)
        return (Session if write else _ReadSession)(
            bind,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            info={CACHES_KEY: self.caches},
        )

    def _unit(self, write: bool, work: Callable[..., T], *args: Any, **kwargs: Any) -> "T | _Owed":
        if self.tracer is not None:
            name = f"unit {'write' if write else 'read'} {getattr(work, '__name__', 'work')}"
            with self.tracer.start_as_current_span(name):
                return self._untraced_unit(write, work, *args, **kwargs)
        return self._untraced_unit(write, work, *args, **kwargs)

    def _untraced_unit(
        self, write: bool, work: Callable[..., T], *args: Any, **kwargs: Any
    ) -> "T | _Owed":
        with self._turn() if write and self._turn else contextlib.nullcontext():
            for attempt in (1, 2):
                with self.session(write, kept=True) as session:
                    try:
                        answer = work(session, *args, **kwargs)
                        later = session.info.pop(_LATER, None)
                        if write:
                            _store(session, list(later.values()) if later else [])
                            session.commit()
                        elif later:
                            return _Owed(answer, list(later.values()))
                        return answer
                    except IntegrityError as exc:
                        if not write:
                            raise
                        log.warning("write collided, attempt %d: %s", attempt, exc.orig)
        raise collided()


class _ReadSession(Session):
    """A read's unit's Session. A read stores nothing: on PostgreSQL its statements run in
    autocommit (app/core/db/kept.py), so a flush there would not be rolled back. Everywhere
    (the tests too), a read that would flush is a bug, answered as one. (Listening on the
    class, once: a listener added to each Session cost a tenth of a short read.)"""


@event.listens_for(_ReadSession, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read's unit of work changed stored objects; use db.write")


def caches_of(session: Session) -> Caches:
    """The app's caches, from inside a unit of work."""
    caches: Caches = session.info[CACHES_KEY]
    return caches


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _database(request: Request) -> Database:
    return database_of(request)


# Async, so FastAPI calls it in place rather than on a thread of its own.
DatabaseDep = Annotated[Database, Depends(_database)]
