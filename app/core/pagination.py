"""Cursor pagination: `{items, next_cursor}` pages with opaque, validated cursors."""

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import and_, or_
from sqlalchemy.orm import Mapped, QueryableAttribute
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from app.core.problems import ProblemError

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=512,
        description="The `next_cursor` of the previous page; omit it for the first page.",
    ),
]

T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="This page's items.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid_cursor() -> ProblemError:
    return ProblemError(
        400,
        "invalid-cursor",
        "The cursor is not one this list returned; start again without it.",
        errors=[{"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "invalid_cursor"}],
    )


def decode_cursor(cursor: str, expected: dict[str, type]) -> dict[str, Any]:
    """Decode a cursor holding exactly the `expected` keys and types, or raise a 400 problem."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        key = None
    if (
        not isinstance(key, dict)
        or set(key) != set(expected)
        or not all(type(key[name]) is kind for name, kind in expected.items())
    ):
        raise _invalid_cursor()
    return key


def keyset_after(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (moment, id) of the row a keyset cursor resumes after, or the 400 problem."""
    after = decode_cursor(cursor, {"t": str, "id": str})
    try:
        moment_after = datetime.fromisoformat(after["t"])
        id_after = uuid.UUID(after["id"])
        # Converted here, not when the query binds it: a moment whose UTC falls outside
        # the years datetime holds raises OverflowError, and would be a 500 there.
        if moment_after.tzinfo is None:
            raise ValueError("naive moment")
        moment_after = moment_after.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid_cursor() from None
    return moment_after, id_after


def keyset_cursor(moment: datetime, ident: uuid.UUID) -> str:
    """The cursor of a page whose last row is at (moment, ident)."""
    return encode_cursor({"t": moment.isoformat(), "id": str(ident)})


def keyset_page(
    session: Session,
    query: SelectOfScalar[Row],
    *,
    moment: Mapped[datetime],
    ident: Mapped[uuid.UUID],
    limit: int,
    cursor: str | None,
    newest_first: bool,
) -> tuple[Sequence[Row], str | None]:
    """One page of rows ordered by (moment, id), resuming after the cursor's row."""
    if cursor is not None:
        moment_after, id_after = keyset_after(cursor)
        if newest_first:
            query = query.where(
                or_(moment < moment_after, and_(moment == moment_after, ident < id_after))
            )
        else:
            query = query.where(
                or_(moment > moment_after, and_(moment == moment_after, ident > id_after))
            )
    order = (moment.desc(), ident.desc()) if newest_first else (moment.asc(), ident.asc())
    rows = session.exec(query.order_by(*order).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    # `col(Model.field)` is the mapped attribute itself, which knows its name.
    moment_name, ident_name = (cast(QueryableAttribute[Any], c).key for c in (moment, ident))
    return rows, keyset_cursor(getattr(last, moment_name), getattr(last, ident_name))
