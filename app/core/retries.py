"""Client-made ids: a create retried with the same id and body finds what it stored."""

import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session, SQLModel

from app.core.problems import ProblemError

Row = TypeVar("Row", bound=SQLModel)


def id_conflict(loc: list[str | int] | None = None) -> ProblemError:
    return ProblemError(
        409,
        "id-conflict",
        "This id is already used by an item with a different body; use a new id.",
        errors=[{"loc": loc or ["body", "id"], "msg": "Id already used", "type": "id_conflict"}],
    )


def stored_retry(
    session: Session,
    model: type[Row],
    item_id: uuid.UUID | None,
    same: Callable[[Row], bool],
    loc: list[str | int] | None = None,
) -> Row | None:
    """The row a retry of this create already stored, or None if the id is new.

    `same` says whether the stored row is this caller's, with this body; anything else under
    that id (another owner's item, another body, a deleted item) is a 409.
    """
    if item_id is None:
        return None
    row = session.get(model, item_id)
    if row is None:
        return None
    if not same(row):
        raise id_conflict(loc)
    return row
