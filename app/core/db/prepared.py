"""A Core SELECT compiled once and run on the unit of work's own DBAPI connection, for the
hottest reads.

A joined statement of the progress read takes SQLite microseconds; SQLAlchemy's statement
compilation cache, Result and ORM loading around it cost several times that
(bench/RESULTS.md). A read that is one statement per request can skip them inside its unit
of work and still be written with the models' columns: the statement is compiled for the
dialect once (kept in the app's caches), and its columns' types still convert what goes in
and comes out.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Float, Select
from sqlmodel import Session

from app.core.caches import CacheSpec
from app.core.db.unit_of_work import caches_of

# One per statement and dialect: a fixed set, written in the code.
PREPARED = CacheSpec("prepared statements", size=64)


def _reader(type_: Any, dialect: Dialect) -> Any:
    # A float column comes back from every driver as a float; psycopg's dialect would ask for
    # the column's type code, which a statement compiled ahead of its rows does not have.
    if isinstance(type_, Float) and not type_.asdecimal:
        return None
    return type_.dialect_impl(dialect).result_processor(dialect, None)


class Prepared:
    """`statement` compiled for `dialect`, its parameters and its columns' conversions."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        # Values fixed in the statement (e.g. status = 'active'); the named ones are given.
        self._defaults = dict(compiled.params)
        self._order: Sequence[str] | None = compiled.positiontup
        self._binders = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        }
        self._readers = [_reader(column.type, dialect) for column in statement.selected_columns]

    def params(self, given: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = {**self._defaults, **given}
        for name, process in self._binders.items():
            values[name] = process(values[name])
        if self._order is not None:  # qmark / numeric paramstyles: by position
            return tuple(values[name] for name in self._order)
        return values

    def all(self, found: Sequence[Sequence[Any]], as_read: frozenset[int]) -> list[tuple[Any, ...]]:
        """Rows as read, converted by their columns' types but for the columns `as_read`."""
        # Only the columns that have a conversion are visited: most have none.
        readers = [
            (i, read)
            for i, read in enumerate(self._readers)
            if read is not None and i not in as_read
        ]
        converted = []
        for row in found:
            values = list(row)
            for i, read in readers:
                if values[i] is not None:
                    values[i] = read(values[i])
            converted.append(tuple(values))
        return converted

    def convert(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            value if read is None or value is None else read(value)
            for read, value in zip(self._readers, raw, strict=True)
        )


@dataclass(frozen=True, slots=True)
class Fetched:
    """A row as the driver returned it (`raw`: hashable, a memo's key) and, converted by its
    columns' types, as the models would hold it (`values()`)."""

    raw: tuple[Any, ...]
    prepared: Prepared

    def values(self) -> tuple[Any, ...]:
        return self.prepared.convert(self.raw)


def _prepared(session: Session, statement: Select[Any]) -> Prepared:
    dialect = session.get_bind().dialect  # no transaction begun for it
    cache = caches_of(session)[PREPARED]
    prepared: Prepared | None = cache.get((statement, dialect.name))
    if prepared is None:
        prepared = cache.put((statement, dialect.name), Prepared(statement, dialect))
    return prepared


def first(session: Session, statement: Select[Any], **params: Any) -> Fetched | None:
    """The first row of `statement`, run as `Prepared` on the unit's own driver connection
    (`driver_rows`)."""
    found = driver_rows(session, statement, **params)
    return Fetched(tuple(found[0]), _prepared(session, statement)) if found else None


def rows(
    session: Session,
    statement: Select[Any],
    as_read: frozenset[int] = frozenset(),
    **params: Any,
) -> list[tuple[Any, ...]]:
    """Every row of `statement`, run like `first`, converted by its columns' types: values as
    the models would hold them, with no ORM object built. The columns `as_read` (by
    position) are left as the driver gave them, for a reader that parses them anyway (a
    UUID's text for a Pydantic model: SQLite's are hex, PostgreSQL's already UUIDs)."""
    found = driver_rows(session, statement, **params)
    return _prepared(session, statement).all(found, as_read)


def _driver_connection(session: Session) -> tuple[Connection, Any]:
    """The unit's SQLAlchemy Connection and its driver connection, for one statement.

    A unit whose Session has begun nothing yet, on a connection that runs each statement on
    its own (SQLite as set up here, PostgreSQL's autocommit reads) or already inside a
    transaction (the test suite's), reads without beginning one: one statement is its own
    snapshot, and SQLite's BEGIN and ROLLBACK around it cost more than the read. Otherwise
    the Session begins its transaction, as for any statement."""
    bind = session.get_bind()
    if session.in_transaction() or not isinstance(bind, Connection):
        connection = session.connection()
        return connection, connection.connection.driver_connection
    driver = bind.connection.driver_connection
    if bind.in_transaction() or _runs_alone(driver):
        return bind, driver
    connection = session.connection()
    return connection, connection.connection.driver_connection


def _runs_alone(driver: Any) -> bool:
    """True when the driver runs each statement in a transaction of its own."""
    try:
        autocommit = getattr(driver, "autocommit", None)  # psycopg, sqlite3 from 3.12
        if isinstance(autocommit, bool):
            return autocommit
        return getattr(driver, "isolation_level", "") is None  # sqlite3: no implicit BEGIN
    except Exception:  # a closed connection: the Session's BEGIN meets it, and reports it
        return False


def driver_rows(session: Session, statement: Select[Any], **params: Any) -> list[Any]:
    """Every row of `statement` as the driver returns it (no conversion: a reader that turns
    rows straight into JSON converts what it needs itself), run on the unit's own driver
    connection. A driver error goes through SQLAlchemy's handling as any statement's does:
    wrapped, and a connection found broken is invalidated (and replaced by its owner)."""
    connection, driver = _driver_connection(session)
    prepared = _prepared(session, statement)
    values = prepared.params(params)
    # Cursor events still fire (statement counts in tests, metrics), with no execution
    # context: none is built here.
    events = connection._has_events or connection.engine._has_events
    cursor = None
    try:
        cursor = driver.cursor()
        if events:
            connection.dispatch.before_cursor_execute(
                connection, cursor, prepared.sql, values, None, False
            )
        cursor.execute(prepared.sql, values)
        if events:
            connection.dispatch.after_cursor_execute(
                connection, cursor, prepared.sql, values, None, False
            )
        found: list[Any] = cursor.fetchall()
        cursor.close()
    except connection.dialect.loaded_dbapi.Error as error:
        connection._handle_dbapi_exception(error, prepared.sql, values, cursor, None)
        raise  # not reached: the handler raises SQLAlchemy's wrapped error
    return found
