"""Cursor pagination: `{items, next_cursor}` pages with opaque, validated cursors."""

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

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


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="This page's items.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


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
        raise ProblemError(
            400,
            "invalid-cursor",
            "The cursor is not one this list returned; start again without it.",
            errors=[
                {"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "invalid_cursor"}
            ],
        )
    return key
