"""A Core SELECT compiled once and run on the unit of work's own DBAPI connection, for the
hottest reads.

A joined statement of the progress read takes SQLite microseconds; SQLAlchemy's statement
compilation cache, Result and ORM loading around it cost several times that
(bench/RESULTS.md). A read that is one statement per request can skip them inside its unit
of work and still be written with the models' columns: the statement is compiled for the
dialect once (kept in the app's caches), and its columns' types still convert what goes in
and comes out.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select
from sqlmodel import Session

from app.core.caches import CacheSpec
from app.core.db.unit_of_work import caches_of

# One per statement and dialect: a fixed set, written in the code.
PREPARED = CacheSpec("prepared statements", size=64)

# Runs SQL with parameters in the driver's style; returns the first row or None.
Execute = Callable[[str, Sequence[Any] | Mapping[str, Any]], Sequence[Any] | None]


class Prepared:
    """`statement` compiled for `dialect`; `first(execute, **params)` runs it."""

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
        self._readers = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def _params(self, given: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = {**self._defaults, **given}
        for name, process in self._binders.items():
            values[name] = process(values[name])
        if self._order is not None:  # qmark / numeric paramstyles: by position
            return tuple(values[name] for name in self._order)
        return values

    def first(self, execute: "Execute", **params: Any) -> "Fetched | None":
        row = execute(self.sql, self._params(params))
        return None if row is None else Fetched(tuple(row), self)

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


def first(session: Session, statement: Select[Any], **params: Any) -> Fetched | None:
    """The first row of `statement`, run as `Prepared` on the session's connection (as
    driver SQL: SQLAlchemy's events, error wrapping and invalidation still apply)."""
    connection = session.connection()
    dialect = connection.dialect
    cache = caches_of(session)[PREPARED]
    prepared: Prepared | None = cache.get((statement, dialect.name))
    if prepared is None:
        prepared = cache.put((statement, dialect.name), Prepared(statement, dialect))

    def execute(sql: str, values: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any] | None:
        return connection.exec_driver_sql(sql, values).first()

    return prepared.first(execute, **params)
