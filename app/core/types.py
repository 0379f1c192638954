"""Field types shared by request models: strict, validated, normalised."""

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from app.core.problems import describe_pattern

FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# How far back a stored item or an enrolment's start may be dated. The protocol judges over
# days to weeks and its course runs about three months (see a clinician if not clearly
# better by then): 120 days hold a whole course and a month's margin for a clinic or an app
# catching up on recent history. It also bounds what one write re-evaluates and what one
# enrolment can hold (100 items a local date).
HISTORY_DAYS = 120
HISTORY_BOUND = (
    f"no earlier than {HISTORY_DAYS} days before now: the protocol's course of about three "
    "months and a month's margin to catch up on recent history"
)

# Names that are not IANA zones: the host's own setting, a placeholder, a POSIX rule
# template, and whole copies of the database (posix/, right/: the latter counts leap
# seconds, which no client means).
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
_NOT_ZONE_FOLDERS = ("posix/", "right/")


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The zones accepted, sorted: those of the locked `tzdata` package, not the host's, so
    that every machine accepts the same names."""
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return tuple(
        sorted(
            name
            for name in listed
            if name not in _NOT_ZONES and not name.startswith(_NOT_ZONE_FOLDERS)
        )
    )


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zone_names())


def _known_zone(name: str) -> str:
    if name not in _zones():
        raise PydanticCustomError(
            "time_zone",
            "Input should be an IANA time zone name, such as Europe/Paris or America/New_York",
        )
    return name


ZONE_DESCRIPTION = (
    "An IANA time zone name, such as `Europe/London`, `America/New_York` or `UTC`: the names "
    "of the tz database (Python's `zoneinfo`, `Intl.supportedValuesOf('timeZone')` in "
    "JavaScript). Any other string is refused with a 422."
)


class _TimeZoneName:
    """A string checked against `zone_names()`, documented once as the `TimeZone` string.

    Not an enum: its ~600 names bloat every client, and names such as `Etc/GMT+0`,
    `Etc/GMT-0` and `Etc/GMT0` become one identifier in generators (openapi-python-client
    refused the document with "Duplicate key GMT0")."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            _known_zone, core_schema.str_schema(), ref="TimeZone"
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        handler.resolve_ref_schema(json_schema).update(
            description=ZONE_DESCRIPTION, examples=["Europe/London"]
        )
        return json_schema


# A date, a T (or space) and a time: pydantic would also read a bare number as a Unix time.
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_text(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_MOMENT.match(value):
        raise ValueError("must be an ISO 8601 date and time with an offset")
    return value


def _iso_only(value: Any) -> Any:
    """Strict for bodies: ISO 8601 text (or, from Python, a datetime); never a number.

    Not pydantic's strict mode: it still reads "1791000000" as a Unix time, and behind any
    validator (needed to catch that) it refuses every string."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "datetime_type", "Input should be an ISO 8601 date and time string with an offset"
        )
    return _iso_text(value)


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the last year datetime holds
        raise ValueError("is out of range") from None


def _not_too_early(value: datetime) -> datetime:
    if value < EARLIEST:
        raise ValueError("is before the year 2000")
    return value


def _past_or_now(value: datetime) -> datetime:
    value = _not_too_early(_in_utc(value))
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError("is more than 5 minutes in the future")
    return value


def _not_after_now(value: datetime) -> datetime:
    value = _not_too_early(_in_utc(value))
    if value > datetime.now(UTC):
        raise ValueError("is in the future")
    return value


def _recent(value: datetime) -> datetime:
    if value < datetime.now(UTC) - timedelta(days=HISTORY_DAYS):
        raise ValueError(f"is more than {HISTORY_DAYS} days ago (the most a history holds)")
    return value


Timezone = Annotated[str, _TimeZoneName, Field(examples=["Europe/Paris"])]
# Body times: an ISO 8601 string with an offset, never a number (no Unix times).
_BodyMoment = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
# A moment that has happened: at most 5 minutes ahead (clock drift), in UTC.
PastMoment = Annotated[
    _BodyMoment,
    AfterValidator(_past_or_now),
    Field(examples=["2026-11-20T07:30:00+01:00"]),
]
# When something began (an enrolment): not ahead of now at all, in UTC. No drift allowance,
# so that a start is never later than the log a client makes right after it.
StartMoment = Annotated[
    _BodyMoment,
    AfterValidator(_not_after_now),
    Field(examples=["2026-10-17T08:00:00Z"]),
]
# What is stored in a client's history: a moment that has happened, and not more than
# `HISTORY_DAYS` ago.
RecentMoment = Annotated[
    PastMoment, AfterValidator(_recent), Field(description=f"A moment {HISTORY_BOUND}.")
]
RecentStart = Annotated[
    StartMoment, AfterValidator(_recent), Field(description=f"A moment {HISTORY_BOUND}.")
]


def _ahead(value: datetime) -> datetime:
    value = _in_utc(value)
    now = datetime.now(UTC)
    if value <= now:
        raise ValueError("is not in the future")
    if value > now + FUTURE_LIMIT:
        raise ValueError("is more than a year ahead")
    return value


# An expiry: ahead of now, at most a year, in UTC.
FUTURE_LIMIT = timedelta(days=366)
FutureMoment = Annotated[
    _BodyMoment,
    AfterValidator(_ahead),
    Field(examples=["2027-06-30T00:00:00Z"]),
]
# A query parameter's moment (since/until): ISO 8601 text too, in UTC.
QueryMoment = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_utc)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_text(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_type", "Input should be an ISO 8601 date (YYYY-MM-DD)")
    return value


# A query parameter's date: YYYY-MM-DD only (pydantic alone reads "0" as 1970-01-01).
QueryDate = Annotated[date, BeforeValidator(_iso_date_text)]


def _not_before_2000(value: date) -> date:
    if value < EARLIEST.date():
        raise ValueError("is before the year 2000, the earliest date HipFix knows")
    return value


# A date the engine is asked about (today's routine): from 2000 on, as every stored moment
# (at the calendar's first date, the day before it cannot be computed).
EngineDate = Annotated[QueryDate, AfterValidator(_not_before_2000)]


def _whole_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An int as the OpenAPI document's `integer` means it: 5, or 5.0 (JSON Schema counts a
# number without a fraction as an integer); never "5", true or 5.5 (strict otherwise).
# Spelled out in each alias, not built by a call, so that type checkers see an `int`.
WHOLE_NUMBER = BeforeValidator(_whole_number)


def integer(**constraints: Any) -> Any:
    """`Annotated[int, Field(strict=True, **constraints), WHOLE_NUMBER]`, built at run time:
    for annotations made dynamically (a static alias spells it out instead)."""
    return Annotated[int, Field(strict=True, **constraints), WHOLE_NUMBER]


PainScore = Annotated[
    int,
    Field(strict=True, ge=0, le=10, description="Numeric pain rating, 0 (none) to 10 (worst)."),
    WHOLE_NUMBER,
]
# Text people type: no control characters (NUL cannot even be stored by PostgreSQL), but
# line breaks and tabs in longer text.
ONE_LINE = describe_pattern(
    r"^[^\x00-\x1F\x7F]*$", "Input should be one line, without control characters"
)
MULTI_LINE = describe_pattern(
    r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$",
    "Input should be text without control characters (line breaks and tabs are fine)",
)
# Unicode White_Space, which pydantic strips: a name needs one other character.
_SPACE = r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
NOT_BLANK_ONE_LINE = describe_pattern(
    rf"^[^\x00-\x1F\x7F]*[^\x00-\x1F\x7F{_SPACE}][^\x00-\x1F\x7F]*$",
    "Input should be one line, not blank, without control characters",
)
# A catalogue slug, as content files, paths and bodies name exercises, stages and protocols.
SLUG_PATTERN = describe_pattern(
    r"^[a-z0-9]+(-[a-z0-9]+)*$",
    "Input should be a slug: lowercase letters and digits, words joined by single hyphens",
)


def _as_sent_at_most(limit: int) -> BeforeValidator:
    """maxLength as documented, on the text as sent: pydantic's applies after stripping."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": limit},
            )
        return value

    return BeforeValidator(check)


Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=NOT_BLANK_ONE_LINE
    ),
    _as_sent_at_most(100),
]
Note = Annotated[str, Field(max_length=1000, pattern=MULTI_LINE)]
Reason = Annotated[str, Field(min_length=3, max_length=1000, pattern=MULTI_LINE)]
Token = Annotated[str, Field(max_length=254, pattern=ONE_LINE)]
