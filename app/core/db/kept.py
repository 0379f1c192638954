"""Connections a lane's thread keeps for its life, owned by the `Database`.

A unit of work on a pooled connection pays for the checkout (and PostgreSQL's pre-ping, a
round trip), the pool's reset on return and the bookkeeping around both: more than a short
read takes (bench/RESULTS.md). A thread runs one unit at a time, so it can keep one
connection and begin and end each unit's transaction on it. Only the `Database` hands it
out (to its own units, on its own threads); one found closed or invalidated (the server went
away, a failed ping of a broken socket) is replaced before the next unit runs on it.

On PostgreSQL a read's unit runs in autocommit: each statement is then its own transaction,
which at READ COMMITTED (the isolation level here) is what every statement of a transaction
gets anyway, a snapshot of its own, so a read sees exactly what it would have seen. It saves
the BEGIN and the ROLLBACK, two of a one-statement read's three round trips. Writes keep
their transaction. SQLite's BEGIN and ROLLBACK cost no round trip, and its read transaction
holds one snapshot for all of the unit's statements: it keeps them.
"""

import threading

from sqlalchemy import Connection, Engine

_AUTOCOMMIT = "AUTOCOMMIT"


class KeptConnections:
    """One connection per thread and kind (`write` picks the engine it comes from: on
    SQLite a writer's connection begins with the write lock). `autocommit_reads`: reads
    run in autocommit (PostgreSQL; see above)."""

    def __init__(self, read: Engine, write: Engine, *, autocommit_reads: bool) -> None:
        self._engines = {False: read, True: write}
        self._autocommit_reads = autocommit_reads
        self._local = threading.local()

    def get(self, write: bool, *, reading: bool) -> Connection:
        """This thread's connection, opened (or replaced) when it has none that works, set
        up for a unit that only reads (`reading`) or may write."""
        kept: dict[bool, Connection] = self._local.__dict__.setdefault("kept", {})
        connection = kept.get(write)
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = kept[write] = self._engines[write].connect()
        if self._autocommit_reads:
            level = _AUTOCOMMIT if reading else connection.default_isolation_level
            if connection.get_execution_options().get("isolation_level") != level:
                # A setting of the driver's connection, no round trip.
                connection.execution_options(isolation_level=level)
        return connection

    def release(self) -> None:
        """Close this thread's connections (the thread is stopping)."""
        kept: dict[bool, Connection] = self._local.__dict__.pop("kept", {})
        for connection in kept.values():
            connection.close()
