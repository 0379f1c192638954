"""The request a line of work belongs to: its request id, for logs, problems and webhooks.

The request middleware (`app/core/request_log.py`) sets it for the request's task; the lanes
copy the context into the worker thread that runs a unit of work (`app/core/db/lanes.py`), so
a log line written there, or a webhook delivery stored there, carries the same id.
"""

import os
import re
from contextvars import ContextVar

# What a caller may send as its own id: short, and nothing a log line could be forged with.
WELL_FORMED = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

REQUEST_ID: ContextVar[str | None] = ContextVar("hipfix_request_id", default=None)


def new_request_id() -> str:
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's `X-Request-ID` when well-formed, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            if WELL_FORMED.fullmatch(value):
                return value.decode("ascii")
            break
    return new_request_id()
