"""Adherence (PRODUCT.md §8): sessions logged against sessions planned, per local week.

A week is 7 local dates from the enrolment's start date. Planned: the highest
`sessions_per_week` among the exercises of the stages open on the week's first date, with the
easy dose when that date is in a flare hold, and at most the maintenance 2 a week when it is
resolved (what `engine.today` shows that day). A week with any date spent referred is left
out. A week's ratio is logged / planned, capped at 1; the whole and the last 2 weeks add the
capped weeks up (a busy week does not make up for a missed one).

Pure: `course_of` reads the decisions, `summary` is what the replay stores on the enrolment,
`figures` and `adherence_14d` read it for a date, `steps` are the dashboard's stretches.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.progression import engine
from app.progression.model import Plan

WEEK = 7
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
Doses = Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]]  # exercise: (dose, easy)


@dataclass(frozen=True, slots=True)
class Span:
    first: date
    last: date | None  # inclusive; None: still open

    def covers(self, day: date) -> bool:
        return self.first <= day and (self.last is None or day <= self.last)

    def meets(self, first: date, last: date) -> bool:
        return self.first <= last and (self.last is None or self.last >= first)


@dataclass(slots=True)
class Course:
    """What the decisions say about the dates: stages opened, holds, referrals, resolved."""

    opened: dict[str, date] = field(default_factory=dict)
    holds: list[Span] = field(default_factory=list)
    referred: list[Span] = field(default_factory=list)
    resolved: list[Span] = field(default_factory=list)

    def known_dates(self) -> list[date]:
        spans = [*self.holds, *self.referred, *self.resolved]
        return [
            *self.opened.values(),
            *(s.first for s in spans),
            *(s.last for s in spans if s.last),
        ]


def _close(spans: list[Span], day: date) -> None:
    if spans and spans[-1].last is None:
        spans[-1] = Span(spans[-1].first, day)


def course_of(
    decisions: Iterable[tuple[str, date, str | None, Mapping[str, Any]]],
    course: Course | None = None,
) -> Course:
    """The course from current decisions `(type, local_date, stage, data)` in position order,
    or `course` gone on with the decisions that follow it."""
    course = course if course is not None else Course()
    for type_, day, stage, data in decisions:
        if type_ == "enrolled":
            for slug in data.get("unlocked", ()):
                course.opened.setdefault(slug, day)
        elif type_ == "stage_unlocked" and stage is not None:
            course.opened.setdefault(stage, day)
        elif type_ == "flare":
            course.holds.append(Span(day, date.fromisoformat(data["hold_until"])))
        elif type_ == "referral" and not data.get("while_referred"):
            if not course.referred or course.referred[-1].last is not None:
                course.referred.append(Span(day, None))
        elif type_ == "referral_cleared":
            _close(course.referred, day)
        elif type_ == "resolved":
            if not course.resolved or course.resolved[-1].last is not None:
                course.resolved.append(Span(day, None))
        elif type_ == "relapse":
            _close(course.resolved, day)
    return course


def planned(plan: Plan, course: Course, doses: Doses, week_start: date) -> int | None:
    """Sessions planned for the week from `week_start`; None when it is left out (a date
    referred) or nothing is planned."""
    last = week_start + timedelta(days=WEEK - 1)
    if any(span.meets(week_start, last) for span in course.referred):
        return None
    hold = any(span.covers(week_start) for span in course.holds)
    resolved = not hold and any(span.covers(week_start) for span in course.resolved)
    most = 0
    for stage in plan.stages:
        opened = course.opened.get(stage.slug)
        if opened is None or opened > week_start:
            continue
        for slug in stage.exercises:
            dose, easy = doses[slug]
            per_week = int((easy if hold else dose).get("sessions_per_week") or 0)
            if resolved:
                per_week = min(per_week, engine.MAINTENANCE_SESSIONS_PER_WEEK)
            most = max(most, per_week)
    return most or None


def start_of(plan: Plan) -> date:
    return engine.local_date(plan, plan.started_at)


def logged_by_week(plan: Plan, session_days: Iterable[date]) -> dict[int, int]:
    start = start_of(plan)
    logged: dict[int, int] = {}
    for day in session_days:
        index = (day - start).days // WEEK
        logged[index] = logged.get(index, 0) + 1
    return logged


def summary(
    plan: Plan, course: Course, logged: Mapping[int, int], doses: Doses, through: date
) -> dict[str, Any]:
    """Planned and logged (sessions by week index) for each week up to the one holding
    `through` (or any date the course names, or a session), and what every later week plans:
    the enrolment's stored adherence, with the course it came from (an append goes on from
    it: `go_on`)."""
    start = start_of(plan)
    last = max([through, *course.known_dates()])
    count = max([(last - start).days // WEEK + 1, *(k + 1 for k in logged)])
    weeks = [
        [planned(plan, course, doses, start + timedelta(days=WEEK * k)), logged.get(k, 0)]
        for k in range(count)
    ]
    # Every later week starts after all the course names: it plans what the last one would.
    onwards = planned(plan, course, doses, start + timedelta(days=WEEK * count))
    return {
        "start": start.isoformat(),
        "weeks": weeks,
        "onwards": onwards,
        "course": _course_json(course),
    }


def go_on(
    plan: Plan,
    stored: Mapping[str, Any],
    decisions: Iterable[tuple[str, date, str | None, Mapping[str, Any]]],
    session_days: Iterable[date],
    doses: Doses,
    through: date,
) -> dict[str, Any]:
    """`stored` with what an append added: its decisions and its sessions' dates."""
    course = course_of(decisions, _course_of_json(stored["course"]))
    logged = {k: week[1] for k, week in enumerate(stored["weeks"]) if week[1]}
    for index, count in logged_by_week(plan, session_days).items():
        logged[index] = logged.get(index, 0) + count
    return summary(plan, course, logged, doses, through)


def _spans_json(spans: list[Span]) -> list[list[str | None]]:
    return [[s.first.isoformat(), s.last.isoformat() if s.last else None] for s in spans]


def _spans_of(rows: list[list[str | None]]) -> list[Span]:
    return [
        Span(date.fromisoformat(a or ""), date.fromisoformat(b) if b else None) for a, b in rows
    ]


def _course_json(course: Course) -> dict[str, Any]:
    return {
        "opened": {slug: day.isoformat() for slug, day in course.opened.items()},
        "holds": _spans_json(course.holds),
        "referred": _spans_json(course.referred),
        "resolved": _spans_json(course.resolved),
    }


def _course_of_json(stored: Mapping[str, Any]) -> Course:
    return Course(
        opened={slug: date.fromisoformat(day) for slug, day in stored["opened"].items()},
        holds=_spans_of(stored["holds"]),
        referred=_spans_of(stored["referred"]),
        resolved=_spans_of(stored["resolved"]),
    )


@dataclass(frozen=True, slots=True)
class Week:
    start: date
    planned: int | None
    logged: int

    @property
    def ratio(self) -> float | None:
        if not self.planned:
            return None
        return round(min(1.0, self.logged / self.planned), 2)


@dataclass(frozen=True, slots=True)
class Figures:
    this_week: Week | None  # None when left out, or the enrolment has ended
    last_4_weeks: tuple[Week, ...]  # complete weeks, oldest first, those left out omitted
    overall: float | None  # every complete week counted
    last_2_weeks: float | None


def week_at(stored: Mapping[str, Any], index: int) -> Week:
    start = date.fromisoformat(stored["start"]) + timedelta(days=WEEK * index)
    weeks = stored["weeks"]
    if index < len(weeks):
        return Week(start, weeks[index][0], weeks[index][1])
    return Week(start, stored["onwards"], 0)


def _together(weeks: Iterable[Week]) -> float | None:
    counted = [w for w in weeks if w.planned]
    total = sum(w.planned or 0 for w in counted)
    if not total:
        return None
    return round(sum(min(w.logged, w.planned or 0) for w in counted) / total, 2)


def index_of(stored: Mapping[str, Any], day: date) -> int:
    return (day - date.fromisoformat(stored["start"])).days // WEEK


def figures(stored: Mapping[str, Any], today: date, ended: date | None = None) -> Figures:
    """Adherence as of the local date `today`; an ended enrolment's stops at its end date."""
    current = index_of(stored, min(today, ended) if ended else today)
    complete = [week_at(stored, k) for k in range(max(0, current))]
    counted = [w for w in complete if w.planned]
    this_week = week_at(stored, current) if ended is None and current >= 0 else None
    if this_week is not None and not this_week.planned:
        this_week = None
    return Figures(
        this_week=this_week,
        last_4_weeks=tuple(w for w in complete[-4:] if w.planned),
        overall=_together(counted),
        last_2_weeks=_together(complete[-2:]),
    )


def adherence_14d(stored: Mapping[str, Any], today: date) -> float | None:
    current = index_of(stored, today)
    return _together(week_at(stored, k) for k in range(max(0, current - 2), max(0, current)))


def steps(
    plan: Plan, stored: Mapping[str, Any], now: datetime
) -> list[tuple[datetime, datetime, float | None]]:
    """`adherence_14d` for each week from the one holding `now` on: (from, until, value), the
    last open-ended. Two weeks past the stored ones every value is the same."""
    start = date.fromisoformat(stored["start"])
    first = max(0, index_of(stored, engine.local_date(plan, now)))
    last = max(first, len(stored["weeks"]) + 2)
    out = []
    for k in range(first, last + 1):
        begins = engine.local_span(plan, start + timedelta(days=WEEK * k))[0]
        ends = (
            engine.local_span(plan, start + timedelta(days=WEEK * (k + 1)))[0]
            if k < last
            else FOREVER
        )
        out.append((begins, ends, adherence_14d(stored, start + timedelta(days=WEEK * k))))
    return out
