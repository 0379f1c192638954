"""Which transaction wrote a row, and which have all finished: what lets rows be numbered in
an order readers can trust without writers taking turns. The only dialect-specific piece of
that; the feed (app/progression/feed.py) builds on it.

PostgreSQL hands each writing transaction an increasing id (xid8, never wrapping). A row
stamped with its writer's id can be read as final once every transaction below that id has
finished: nothing stamped lower can appear after. SQLite runs one writer at a time, so
everything committed is final and there is nothing to stamp (both return None)."""

from sqlalchemy import BigInteger, ColumnElement, Text, cast, func, literal_column


def _as_bigint(xid8: ColumnElement[object]) -> ColumnElement[int]:
    # xid8 has no cast to bigint; its text is its number (below 2**63 for any real cluster).
    return cast(cast(xid8, Text), BigInteger)


def current_transaction(dialect: str) -> ColumnElement[int] | None:
    """This transaction's id (assigned by the call if it has none yet)."""
    if dialect == "sqlite":
        return None
    return _as_bigint(func.pg_current_xact_id())


# The lowest id of a transaction that may still add rows this statement cannot see. Those are
# the snapshot's running ids (xip) and every id from its xmax up; this transaction's own id is
# left out (its rows are seen), and so is any a backend of another database holds: a cluster's
# ids are shared, but only this database's transactions write its rows. A backend whose id
# is hidden from this role counts (a later answer, never a wrong one). Among xmax, xmax + 1,
# ... one more than the backends with an id is enough to find one that is neither.
_OLDEST_UNFINISHED = """(
SELECT min(candidate) FROM (
    SELECT running::text::bigint AS candidate
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    UNION ALL
    SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint + step
    FROM generate_series(
        0, (SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL) + 1
    ) AS step
) AS unfinished
WHERE candidate IS DISTINCT FROM pg_current_xact_id_if_assigned()::text::bigint
  AND NOT EXISTS (
    SELECT FROM pg_stat_activity AS elsewhere
    WHERE elsewhere.backend_xid::text::bigint = candidate % 4294967296
      AND elsewhere.datname <> current_database()
  )
)"""


def oldest_unfinished(dialect: str) -> ColumnElement[int] | None:
    """The lowest id of a transaction that may still add rows, other than this one, as of
    the statement's snapshot (pg_current_snapshot() is that snapshot, the same in every
    call): every transaction of this database below it has committed or rolled back, and
    any transaction yet to write gets a higher id.

    This one is left out so that a unit that wrote rows sees them (the tests' rolled-back
    transaction writes and reads in one); a unit that only reads has no id anyway."""
    if dialect == "sqlite":
        return None
    return literal_column(_OLDEST_UNFINISHED, BigInteger)
