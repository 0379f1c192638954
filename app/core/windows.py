"""Bounded windows of local dates for reads that render a history (the chart, the report,
the export): `from`/`to` span at most `WINDOW_DAYS` dates, and default to the newest ones.

A history grows with time and with what a client logs (up to 100 items a local date), so a
read of all of it has no bound; a window of dates has one. 120 dates are the longest history
a client may still add to (`HISTORY_DAYS`): a whole course of about three months and a
month's margin, in one answer by default."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Query

from app.core.problems import ProblemError
from app.core.types import HISTORY_DAYS, QueryDate

WINDOW_DAYS = HISTORY_DAYS
# What a window may hold: a client may log up to 100 items a local date, and what these
# reads cost grows with the items, not the dates (about a tenth of a millisecond each to
# read, more to render: bench/bounds.py). 1,000 hold the longest window of an honest diary
# (five or so a day) and keep the densest answer to a fraction of a second.
WINDOW_ITEMS = 1_000
WINDOW_BOUND = (
    f"At most {WINDOW_DAYS} local dates from `from` to `to` (both included): a whole course "
    "of about three months and a month's margin, in one answer of bounded size. Without "
    f"either, the newest {WINDOW_DAYS} dates; with one, {WINDOW_DAYS} dates from it (or to it). "
    f"A window holding more than {WINDOW_ITEMS} items is refused (422 `window-too-full`): ask "
    "for shorter ones."
)

FromQuery = Annotated[
    QueryDate | None,
    Query(alias="from", description=f"First local date, YYYY-MM-DD. {WINDOW_BOUND}"),
]
ToQuery = Annotated[
    QueryDate | None, Query(alias="to", description="Last local date, YYYY-MM-DD (included).")
]


def _shifted(day: date, days: int) -> date:
    """`day` moved by `days`, held at the calendar's ends (0001-01-01 and 9999-12-31 are
    valid dates to ask from or to)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def _problem(kind: str, detail: str) -> ProblemError:
    return ProblemError(
        422,
        kind,
        detail,
        errors=[{"loc": ["query", "from"], "msg": detail, "type": kind.replace("-", "_")}],
    )


def window(start: date | None, end: date | None, *, today: date | None = None) -> tuple[date, date]:
    """The local dates to read, first and last included (422 for a window too long or
    reversed). `today`: the newest date a default window ends on (default: UTC's today and
    the next, so a client ahead of UTC loses no date)."""
    if start is not None and end is not None:
        if start > end:
            raise _problem("invalid-range", "`from` is after `to`.")
        if (end - start).days >= WINDOW_DAYS:
            raise _problem(
                "window-too-long",
                f"`from`..`to` holds {(end - start).days + 1} dates; at most {WINDOW_DAYS} "
                "(ask for the rest in further windows).",
            )
        return start, end
    if start is not None:
        return start, _shifted(start, WINDOW_DAYS - 1)
    if end is None:
        end = today if today is not None else _shifted(datetime.now(UTC).date(), 1)
    return _shifted(end, 1 - WINDOW_DAYS), end


def check_items(held: int) -> None:
    """422 for a window that holds more than `WINDOW_ITEMS` items."""
    if held > WINDOW_ITEMS:
        raise _problem(
            "window-too-full",
            f"These dates hold {held} items; one answer holds at most {WINDOW_ITEMS} (ask for "
            "fewer dates).",
        )
