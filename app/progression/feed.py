"""The event feed: every decision made, made again or retracted, for all of a caller's
clients, in one fixed order, behind a cursor a poller keeps.

The order must never put a new entry behind one a poller has already read, or that poller
would never see it. An auto-increment does not ensure it on PostgreSQL: writers of different
enrolments run at once, and a lower number can commit after a higher one was read. A counter
row held until commit does, but makes every write that decides something wait for every
other one, whichever client it is for.

So on PostgreSQL an entry's number says which transaction wrote it: the writer's
transaction id plus the epoch, times `BLOCK`, plus its place among that transaction's entries
(`app/core/db/transactions.py`). Writers never wait for each other. A reader lists only the
entries numbered below the lowest number a transaction still running may commit: their
writers have all finished, and any transaction yet to write has a higher id, so nothing can
later appear below what was listed. A write held open holds back the entries numbered after
it, for as long as it is open, and never loses them. Entries numbered under the counter row
before keep their numbers, all below any transaction's, so cursors kept from then still work.

The epoch is the counter row's number on PostgreSQL (its last count where the row numbered
entries before: new numbers only rise by it), read in the statement that numbers or lists
entries. Transaction ids are the server's: restored into a fresh server, a database would
number new entries below the restored ones, and every poller past those would skip them.
`hipfix migrate`, which runs before anything serves, raises the epoch so that new numbers
are above the highest stored (`reconcile_epoch`); it never lowers it.

On SQLite one writer runs at a time, so taking numbers from the counter row costs no wait and
follows commit order, and a reader lists everything. The row, not the highest number stored,
so that no number comes back after an erasure removes the highest.
"""

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, false, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.accounts.access import Caller
from app.accounts.visibility import find_visible_client, visible_client_ids
from app.core.actors import EVERYTHING, Actor, Reader, actor_public
from app.core.db import transactions
from app.core.pagination import MAX_LIMIT
from app.models import EngineEvent
from app.models.base import utcnow
from app.models.progression import FeedClock, FeedEntry
from app.progression.previous_coach import decision_as_read, reader_of, withheld_decisions
from app.progression.schemas import FeedEvent, FeedPage

RETRACTED = "decision_retracted"
UPDATED = "decision_updated"  # a decision kept by a replay whose figures changed


@dataclass(frozen=True, slots=True)
class Line:
    """A feed entry to add: a decision (its type), its update or retraction, or a lifecycle
    event (`lifecycle.py`: its own id, `detail`, and `coach_id` when for one coach alone)."""

    client_id: uuid.UUID
    event_id: uuid.UUID
    type: str
    coach_id: uuid.UUID | None = None
    detail: dict[str, Any] | None = None


# SQLite's numbers: its writers run one at a time, so holding the row costs no wait.
_TAKE = (
    update(FeedClock)
    .where(col(FeedClock.id) == 1)
    .values(seq=col(FeedClock.seq) + bindparam("count"))
    .returning(col(FeedClock.seq))
)
_ADD = insert(FeedEntry)
# PostgreSQL's epoch, added to the transaction id (see the module's docstring).
_EPOCH = "(SELECT feed_clock.seq FROM feed_clock WHERE feed_clock.id = 1)"
_EPOCH_HELD = sa_select(col(FeedClock.seq)).where(col(FeedClock.id) == 1).with_for_update()
_SET_EPOCH = update(FeedClock).where(col(FeedClock.id) == 1).values(seq=bindparam("epoch"))


def append(session: Session, lines: Sequence[Line], actor: Actor) -> None:
    """Add `lines` to the feed, numbered after everything a poller may have read (see the
    module's docstring). Called after the unit's decisions are stored."""
    if not lines:
        return
    session.flush()  # the decisions they refer to, added to the session just before
    connection = session.connection()
    first = transactions.take_numbers(connection, "hipfix.feed_entries", len(lines), _EPOCH)
    if first is None:
        last = int(connection.execute(_TAKE, {"count": len(lines)}).scalar_one())
        first = last - len(lines) + 1
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
                "coach_id": line.coach_id,
                "detail": line.detail,
            }
            for number, line in enumerate(lines)
        ],
    )


def reconcile_epoch(session: Session) -> tuple[int, int] | None:
    """Raise PostgreSQL's epoch so that new entries are numbered above every stored one, as
    after a restore into a fresh server: the epoch before and after. Never lowers it. Run by
    `hipfix migrate` in a unit of work of its own, while no process serves. None on SQLite."""
    connection = session.connection()
    highest = connection.execute(sa_select(func.max(FeedEntry.seq))).scalar_one()
    needed = transactions.offset_above(connection, highest or 0)
    if needed is None:
        return None
    # Held to the end: another run waits, then starts from this one's epoch.
    before = int(connection.execute(_EPOCH_HELD).scalar_one())
    if needed > before:
        connection.execute(_SET_EPOCH, {"epoch": needed})
    return before, max(before, needed)


@functools.cache
def _page_query(dialect: str) -> Select[FeedEntry, EngineEvent]:
    query = (
        sa_select(FeedEntry, EngineEvent)
        # A lifecycle entry has no decision behind it.
        .outerjoin(EngineEvent, col(EngineEvent.id) == FeedEntry.event_id)
        .where(col(FeedEntry.seq) > bindparam("after"))
        .order_by(col(FeedEntry.seq))
        .limit(bindparam("limit"))
    )
    if (unsettled := transactions.lowest_unsettled_number(dialect, _EPOCH)) is not None:
        # Only finished transactions' entries: nothing can appear below them later.
        query = query.where(col(FeedEntry.seq) < unsettled)
    return query


def _lifecycle_event(entry: FeedEntry, detail: dict[str, Any]) -> FeedEvent:
    enrollment_id = detail.get("enrollment_id")
    return FeedEvent(
        sequence=entry.seq,
        id=entry.event_id,
        type=entry.type,  # type: ignore[arg-type]  # str column written from the Literal
        decision_type=None,
        client_id=entry.client_id,
        enrollment_id=uuid.UUID(enrollment_id) if enrollment_id else None,
        rule=f"lifecycle.{entry.type}",
        at=datetime.fromisoformat(detail["at"]),
        local_date=date.fromisoformat(detail["local_date"]),
        stage=None,
        message=detail["message"],
        data=detail["data"],
        recorded_at=entry.recorded_at,
        actor=actor_public(entry.actor_role, entry.actor_account_id, entry.actor_key_id),
    )


def feed_event(
    entry: FeedEntry,
    event: EngineEvent | None,
    reader: Reader = EVERYTHING,
    *,
    withheld: bool = False,
) -> FeedEvent:
    """An entry as `reader` may see it: another coach's actor unnamed, and its words withheld
    from a decision made from its override (`previous_coach`)."""
    if event is None:
        return decision_as_read(_lifecycle_event(entry, entry.detail or {}), reader, withheld=False)
    shown = FeedEvent(
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
        clinical_note=event.clinical_note,
        recorded_at=entry.recorded_at,
        actor=actor_public(entry.actor_role, entry.actor_account_id, entry.actor_key_id),
    )
    return decision_as_read(shown, reader, withheld=withheld)


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
    shared = col(FeedEntry.coach_id).is_(None)
    # An entry for one coach (a client that left it) is that coach's alone, and stays listed
    # once the client is no longer visible to it.
    mine = col(FeedEntry.coach_id) == principal.id if principal.is_coach else false()
    if client_ref is not None:
        client = find_visible_client(session, principal, str(client_ref))
        query = query.where(col(FeedEntry.client_id) == client.id).where(or_(shared, mine))
    else:
        visible = col(FeedEntry.client_id).in_(visible_client_ids(principal))
        query = query.where(or_(and_(visible, shared), mine))
    rows = session.execute(query, {"after": after, "limit": min(limit, MAX_LIMIT)}).all()
    reader = reader_of(principal)
    withheld = withheld_decisions(session, reader, (e for _, e in rows if e is not None))
    items = [
        feed_event(entry, event, reader, withheld=event is not None and event.id in withheld)
        for entry, event in rows
    ]
    # Never null: a poller passes it back as `after`, caught up or not.
    return FeedPage(items=items, next_cursor=str(items[-1].sequence if items else after))
