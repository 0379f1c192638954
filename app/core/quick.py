"""Plain requests of the hottest reads, answered without FastAPI's parameter solving.

This FastAPI solves every declared parameter of a route on every request, sent or not: on
the pain-log list (five query parameters, the path and the bearer) that was a quarter of
the request's time in-process (bench/RESULTS.md). Most requests of a hot read are plain: a
bearer, `me` or a client's id, at most `limit` and `cursor`, written the one way a client
writes them. A route marked `@quick(read)` first offers the request to `read`, which reads
such a request itself with the functions below and answers it by the same service call as
the endpoint; anything else (a parameter spelt another way, a value out of bounds, no
bearer, a filter) makes them return None, and FastAPI's own handler answers it, errors
included. So a quick read accepts only values whose meaning is beyond doubt, and
`tests/api/test_quick_reads.py` holds its answers to the full handler's.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response

from app.core.pagination import MAX_LIMIT

QuickRead = Callable[[Request], Awaitable[Response | None]]
F = TypeVar("F", bound=Callable[..., Any])

_QUICK = "__hipfix_quick__"
# Values a client writes with no escaping: digits, a cursor's URL-safe base64.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_-]+")
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_CURSOR_MAX = 512  # CursorQuery's max_length


def quick(read: QuickRead) -> Callable[[F], F]:
    """Mark an endpoint (below its route decorator) as offering plain requests to `read`
    first (`StrictRoute` calls it)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _QUICK, read)
        return endpoint

    return mark


def quick_read_of(endpoint: Callable[..., Any]) -> QuickRead | None:
    read: QuickRead | None = getattr(endpoint, _QUICK, None)
    return read


def bearer(request: Request) -> str | None:
    """The bearer secret as `BearerSecret` reads it; None when there is none (the full
    handler answers the 401)."""
    for key, value in request.scope["headers"]:
        if key == b"authorization":
            scheme, _, param = value.decode("latin-1").partition(" ")
            secret = param.strip()
            return secret if scheme.lower() == "bearer" and secret else None
    return None


def plain_query(request: Request, *names: str) -> dict[str, str] | None:
    """The query parameters when each is one of `names`, sent once, with a plain value;
    otherwise None."""
    raw: bytes = request.scope["query_string"]
    if not raw:
        return {}
    found: dict[str, str] = {}
    for part in raw.decode("latin-1").split("&"):
        name, sep, value = part.partition("=")
        if not sep or name not in names or name in found or not _PLAIN_VALUE.fullmatch(value):
            return None
        found[name] = value
    return found


def plain_limit(query: dict[str, str], default: int) -> int | None:
    """`limit` as `LimitQuery` reads it, when written as plain digits in its bounds."""
    value = query.get("limit")
    if value is None:
        return default
    if not _LIMIT.fullmatch(value) or int(value) > MAX_LIMIT:
        return None
    return int(value)


def plain_cursor(query: dict[str, str]) -> tuple[bool, str | None]:
    """(`cursor` is plain, its value): any plain value within `CursorQuery`'s length."""
    value = query.get("cursor")
    return (value is None or len(value) <= _CURSOR_MAX), value
