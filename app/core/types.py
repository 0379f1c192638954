"""Field types shared by request models: strict, validated, normalised."""

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(
            "not an IANA time zone name (for example Europe/Paris or America/New_York)"
        )
    return name


def _past_or_now(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError("is more than 5 minutes in the future")
    if value < EARLIEST:
        raise ValueError("is before the year 2000")
    return value


Timezone = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["Europe/Paris"]),
    AfterValidator(_known_zone),
]
# A moment that has happened: timezone-aware, at most 5 minutes ahead (clock drift), in UTC.
PastMoment = Annotated[
    AwareDatetime,
    AfterValidator(_past_or_now),
    Field(examples=["2026-11-20T07:30:00+01:00"]),
]
PainScore = Annotated[
    int,
    Field(strict=True, ge=0, le=10, description="Numeric pain rating, 0 (none) to 10 (worst)."),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Note = Annotated[str, Field(max_length=1000)]
