"""Connections a lane's thread keeps for its life, owned by the `Database`.

A unit of work on a pooled connection pays for the checkout (and PostgreSQL's pre-ping, a
round trip), the pool's reset on return and the bookkeeping around both: more than a short
read takes (bench/RESULTS.md). A thread runs one unit at a time, so it can keep one
connection and begin and end each unit's transaction on it. Only the `Database` hands it
out (to its own units, on its own threads); one found closed or invalidated (the server went
away, a failed ping of a broken socket) is replaced before the next unit runs on it.
"""

import threading

from sqlalchemy import Connection, Engine


class KeptConnections:
    """One connection per thread and kind (`write` picks the engine it comes from: on
    SQLite a writer's connection begins with the write lock)."""

    def __init__(self, read: Engine, write: Engine) -> None:
        self._engines = {False: read, True: write}
        self._local = threading.local()

    def get(self, write: bool) -> Connection:
        """This thread's connection, opened (or replaced) when it has none that works."""
        kept: dict[bool, Connection] = self._local.__dict__.setdefault("kept", {})
        connection = kept.get(write)
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = kept[write] = self._engines[write].connect()
        return connection

    def release(self) -> None:
        """Close this thread's connections (the thread is stopping)."""
        kept: dict[bool, Connection] = self._local.__dict__.pop("kept", {})
        for connection in kept.values():
            connection.close()
