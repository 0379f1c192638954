"""Driver values as the JSON values the response models write, for reads that turn rows
straight into an answer's bytes (docs/architecture.md, "A lean read").

Validating a page of 20 models from rows and serialising them costs more than the statement
that reads them (bench/RESULTS.md). What the models would write is a plain function of
what the driver returns: SQLite's UUIDs are 32 hex digits and its moments
`YYYY-MM-DD HH:MM:SS.ffffff` in UTC; PostgreSQL's are already `uuid.UUID` and aware
`datetime`. Each function here gives exactly the model's JSON for either (tests hold lean
answers byte for byte to the ORM read's), and anything shaped otherwise takes the models'
own serialiser.
"""

import functools
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from pydantic import TypeAdapter

_MOMENT = TypeAdapter(datetime)
_DAY = TypeAdapter(date)


@functools.lru_cache(maxsize=16384)
def uuid_text(value: Any) -> str | None:
    """A UUID as Pydantic writes it: lowercase, hyphenated. Kept by value (a pure function
    of it): a page repeats its client's and enrolment's ids in every item."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 32:
        value = value.lower()
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def moment_text(value: Any) -> str | None:
    """A stored moment (UTC) as Pydantic writes an aware UTC datetime: `Z`, and the
    microseconds only when there are some."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 26 and value[10] == " " and value[19] == ".":
        if value.endswith("000000"):
            return f"{value[:10]}T{value[11:19]}Z"
        return f"{value[:10]}T{value[11:]}Z"
    return str(_MOMENT.dump_python(moment_value(value) or value, mode="json"))


def day_text(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and len(value) == 10):
        return value
    return str(_DAY.dump_python(value, mode="json"))


def json_value(value: Any) -> Any:
    """A JSON column's value: SQLite's driver gives its text, psycopg the value."""
    if isinstance(value, str):
        return [] if value == "[]" else json.loads(value)
    return value


def moment_value(value: Any) -> datetime | None:
    """A stored moment as the aware UTC datetime the models hold."""
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
