"""The event feed: every decision made, made again or retracted, for all of a caller's
clients, in one fixed order, behind a cursor a poller keeps.

The order must never put a new entry behind one a poller has already read, or that poller
would never see it. Numbers handed out at insert time (an auto-increment) do not ensure it on
PostgreSQL: writers of different enrolments run at once, and a lower number can commit after
a higher one was read. Nor does any lock writers share, without making every write that
decides something wait for every other one until it commits.

So an entry's number says which transaction wrote it (`app/core/db/transactions.py`): on
PostgreSQL the writer's transaction id times `BLOCK`, plus its place among that transaction's
entries. Writers never wait for each other. A reader lists only the entries of transactions
below the oldest one still running: those have all finished, and every transaction yet to
write an entry has a higher id, so nothing can later appear below what was listed. An entry
shows once every transaction that started writing before its own has finished (a write held
open holds back the entries numbered after it, never loses them). On SQLite one writer runs
at a time, so the next number after the highest stored is already in commit order, and a
reader lists everything.

Entries stored before this numbering keep theirs (all below any transaction id times BLOCK),
so cursors kept from then still work.
"""

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, func, insert, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.accounts.access import Caller
from app.accounts.visibility import find_visible_client, visible_client_ids
from app.core.actors import Actor, actor_public
from app.core.db import transactions
from app.core.pagination import MAX_LIMIT
from app.models import EngineEvent
from app.models.base import utcnow
from app.models.progression import FeedEntry
from app.progression.schemas import FeedEvent, FeedPage

RETRACTED = "decision_retracted"


@dataclass(frozen=True, slots=True)
class Line:
    """A feed entry to add: a decision (its type) or its retraction."""

    client_id: uuid.UUID
    event_id: uuid.UUID
    type: str


# A transaction's entries: numbers from its id times BLOCK, at most BLOCK of them. The
# numbers stay within the 18 digits `after` takes for any transaction id below 9.5e11.
BLOCK = 1 << 20
_ADD = insert(FeedEntry)


@functools.cache
def _first_free(dialect: str) -> Select[int]:
    """The first number free for this transaction's entries (built once per dialect)."""
    transaction = transactions.current_transaction(dialect)
    if transaction is None:  # one writer at a time: after everything stored
        return sa_select(func.coalesce(func.max(FeedEntry.seq), 0) + 1)
    base = sa_select((transaction * BLOCK).label("base")).subquery()
    # Past any entries this transaction has already added.
    ours = and_(col(FeedEntry.seq) >= base.c.base, col(FeedEntry.seq) < base.c.base + BLOCK)
    return (
        sa_select(func.coalesce(func.max(FeedEntry.seq) + 1, base.c.base))
        .select_from(base.outerjoin(FeedEntry, ours))
        .group_by(base.c.base)
    )


def append(session: Session, lines: Sequence[Line], actor: Actor) -> None:
    """Add `lines` to the feed, numbered after everything a poller may have read (see the
    module's docstring). Called after the unit's decisions are stored."""
    if not lines:
        return
    session.flush()  # the decisions they refer to, added to the session just before
    connection = session.connection()
    dialect = connection.dialect.name
    first = int(connection.execute(_first_free(dialect)).scalar_one())
    if dialect != "sqlite" and (first + len(lines) - 1) // BLOCK != first // BLOCK:
        raise RuntimeError(f"more than {BLOCK} feed entries in one transaction")
    now = utcnow()
    connection.execute(
        _ADD,
        [
            {
                "seq": first + number,
                "client_id": line.client_id,
                "event_id": line.event_id,
                "type": line.type,
                "actor_role": actor.role,
                "actor_account_id": actor.account_id,
                "actor_key_id": actor.api_key_id,
                "recorded_at": now,
            }
            for number, line in enumerate(lines)
        ],
    )


@functools.cache
def _page_query(dialect: str) -> Select[FeedEntry, EngineEvent]:
    query = (
        sa_select(FeedEntry, EngineEvent)
        .join(EngineEvent, col(EngineEvent.id) == FeedEntry.event_id)
        .where(col(FeedEntry.seq) > bindparam("after"))
        .order_by(col(FeedEntry.seq))
        .limit(bindparam("limit"))
    )
    if (horizon := transactions.oldest_unfinished(dialect)) is not None:
        # Only finished transactions' entries: nothing can appear below them later.
        query = query.where(col(FeedEntry.seq) < horizon * literal_column(str(BLOCK)))
    return query


def feed_event(entry: FeedEntry, event: EngineEvent) -> FeedEvent:
    return FeedEvent(
        sequence=entry.seq,
        id=event.id,
        type=entry.type,  # type: ignore[arg-type]  # str column written from the Literal
        decision_type=event.type,  # type: ignore[arg-type]  # str column written from the Literal
        client_id=entry.client_id,
        enrollment_id=event.enrollment_id,
        rule=event.rule,
        at=event.at,
        local_date=event.local_date,
        stage=event.stage,
        message=event.message,
        data=event.data,
        recorded_at=entry.recorded_at,
        actor=actor_public(entry.actor_role, entry.actor_account_id, entry.actor_key_id),
    )


def list_feed(
    session: Session,
    caller: Caller,
    *,
    after: int,
    types: list[str] | None,
    client_ref: uuid.UUID | None,
    limit: int,
) -> FeedPage:
    """Entries after `after`, oldest first: a coach's for all its clients, a client's own."""
    principal = caller.principal(session)
    query = _page_query(session.get_bind().dialect.name)
    if types:
        query = query.where(col(FeedEntry.type).in_(types))
    if client_ref is not None:
        client = find_visible_client(session, principal, str(client_ref))
        query = query.where(col(FeedEntry.client_id) == client.id)
    else:
        query = query.where(col(FeedEntry.client_id).in_(visible_client_ids(principal)))
    rows = session.execute(query, {"after": after, "limit": min(limit, MAX_LIMIT)}).all()
    items = [feed_event(entry, event) for entry, event in rows]
    # Never null: a poller passes it back as `after`, caught up or not.
    return FeedPage(items=items, next_cursor=str(items[-1].sequence if items else after))
