"""Counting the SQL statements a request sends: costs asserted without timing anything."""

from sqlalchemy import Engine, event


class Statements:
    """Counts the SQL statements sent while it is active."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sql: list[str] = []

    def __enter__(self) -> "Statements":
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        self.sql.append(statement)
