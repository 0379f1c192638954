"""Numbers for rows that order them by the transaction that wrote them, without a lock
writers share, and the lowest number a transaction still running may yet commit: what lets
readers trust an order while writers never wait for each other. The only dialect-specific
piece of that; the feed (app/progression/feed.py) builds on it.

PostgreSQL hands each writing transaction an increasing id (xid8, never wrapping): a
transaction numbers its rows from its id plus an offset, times BLOCK. A row is final once
every transaction below its writer has finished: nothing numbered lower can appear after.
SQLite runs one writer at a time, so everything committed is final; it has no use for either
(both None).

The ids are the server's: a database dumped and restored into a fresh server finds ids there
lower than its rows were numbered with (pg_upgrade keeps the ids). The offset is the caller's,
kept in the database and read in the same statement as the id: raised by `offset_above`
before anything is written there, it numbers new rows above the restored ones. It may change
only while nothing writes or reads those rows, as every number and bound depends on it.
"""

import functools

from sqlalchemy import BigInteger, ColumnElement, Connection, TextClause, literal_column, text

# A transaction's rows: at most BLOCK numbers. Numbers stay below 10**18 while a transaction's
# id plus the offset stays below 9.5e11.
BLOCK = 1 << 20

# The transaction's id plus the offset, times BLOCK, plus how many numbers it took before:
# counted in a setting local to the transaction (gone at its end, undone with a rolled-back
# savepoint), so a row deleted in it never frees a number for a later one.
_TAKE = (
    "SELECT (pg_current_xact_id()::text::bigint + {offset}) * :block"
    " + CAST(taken AS bigint) - :count,"
    " CAST(taken AS bigint) FROM set_config(:counter, CAST(coalesce(nullif("
    "current_setting(:counter, true), ''), '0')::bigint + :count AS text), true) AS taken"
)


@functools.cache
def _take(offset: str) -> TextClause:
    return text(_TAKE.format(offset=offset))


def take_numbers(connection: Connection, counter: str, count: int, offset: str = "0") -> int | None:
    """The first of `count` numbers for this transaction's rows (the others follow it),
    after those it took before under `counter` (a setting name: "hipfix.<name>"). `offset`
    is an SQL expression from code (a bigint, such as a scalar subquery), read in the same
    statement. None on SQLite."""
    if connection.dialect.name == "sqlite":
        return None
    params = {"block": BLOCK, "counter": counter, "count": count}
    first, taken = connection.execute(_take(offset), params).one()
    if taken > BLOCK:
        raise RuntimeError(f"more than {BLOCK} numbers in one transaction")
    return int(first)


def offset_above(connection: Connection, highest: int) -> int | None:
    """The least offset that numbers this transaction's rows, and every later one's, above
    `highest`: what a database restored into a fresh server needs before it takes numbers.
    The transaction takes an id for it. None on SQLite."""
    if connection.dialect.name == "sqlite":
        return None
    current = connection.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
    return highest // BLOCK - int(current) + 1


# The lowest id of a transaction that may still commit rows this statement cannot see. Those
# are the snapshot's running ids (xip) and every id from its xmax up, bar any a backend of
# another database holds: a server's ids are shared by its databases, but only this one's
# transactions write its rows, and a long one elsewhere should not hold this one back. An id
# not found among the backends (hidden from this role, or its transaction just ended) counts:
# a later answer, never a wrong one. Among xmax, xmax + 1, ... one more than the backends with
# an id is enough to find one held by none of another database.
# pg_current_snapshot() is the statement's own snapshot, the one its rows are read with.
_LOWEST_UNSETTLED = f"""(CASE WHEN pg_current_xact_id_if_assigned() IS NOT NULL
THEN {2**63 - 1} ELSE ((
SELECT min(candidate) FROM (
    SELECT running::text::bigint AS candidate
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    UNION ALL
    SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint + step
    FROM generate_series(
        0, (SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL)
    ) AS step
) AS unfinished
WHERE NOT EXISTS (
    SELECT FROM pg_stat_activity AS elsewhere
    WHERE elsewhere.backend_xid::text::bigint = candidate % 4294967296
      AND elsewhere.datname <> current_database()
)) + {{offset}}) * {BLOCK} END)"""


def lowest_unsettled_number(dialect: str, offset: str = "0") -> ColumnElement[int] | None:
    """The lowest number a transaction may still commit, as of the statement's snapshot, with
    the same `offset` its rows are numbered with (`take_numbers`): every row numbered below
    it is final (its writer committed or rolled back, and a transaction yet to write gets a
    higher id). None on SQLite.

    A unit that has written is not bounded (no reader of the feed writes; the tests'
    rolled-back transaction writes and then reads, and must see its own rows)."""
    if dialect == "sqlite":
        return None
    return literal_column(_LOWEST_UNSETTLED.format(offset=offset), BigInteger)
