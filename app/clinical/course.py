"""A client's course read off the record: pain per local date, the 7-day mean, stage
openings, holds and referrals. Shared by the chart, the report and FHIR's CarePlan."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.clinical.record import ClinicalRecord
from app.models import EngineEvent, Enrollment

WINDOW = 7  # the engine's week: the mean over the 7 local dates ending on a date


@dataclass(frozen=True, slots=True)
class StageOpened:
    enrollment: Enrollment
    order: int
    slug: str
    title: str
    at: datetime
    day: date
    by: str  # enrollment, engine, coach or client
    reason: str


@dataclass(frozen=True, slots=True)
class Span:
    """Local dates from `start` to `end`, both included; `end` None: still open."""

    start: date
    end: date | None
    event: EngineEvent
    closed_by: EngineEvent | None = None


def day_pain(record: ClinicalRecord) -> list[tuple[date, int]]:
    """The highest score logged on each local date (what the engine's rules count)."""
    highest: dict[date, int] = {}
    for log in record.pain_logs:
        if log.deleted_at is not None:
            continue
        day = record.local_date(log.recorded_at)
        highest[day] = max(log.score, highest.get(day, 0))
    return sorted(highest.items())


def weekly_mean(days: list[tuple[date, int]]) -> list[tuple[date, float]]:
    """On each logged date, the mean of the logged dates among the 7 ending on it."""
    means: list[tuple[date, float]] = []
    window: list[tuple[date, int]] = []
    for day, pain in days:
        window = [(d, p) for d, p in window if (day - d).days < WINDOW]
        window.append((day, pain))
        means.append((day, round(sum(p for _, p in window) / len(window), 2)))
    return means


def _stages(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["slug"]: stage for stage in document["stages"]}


def stages_opened(record: ClinicalRecord) -> list[StageOpened]:
    """Stages open from enrolment, then every standing unlock, in time order."""
    opened: list[StageOpened] = []
    by_id = {e.id: e for e in record.enrollments}
    for enrollment in record.enrollments:
        for stage in record.document_of(enrollment)["stages"]:
            if stage["unlock"]["by"] == "enrollment":
                opened.append(
                    StageOpened(
                        enrollment,
                        stage["order"],
                        stage["slug"],
                        stage["title"],
                        enrollment.started_at,
                        record.local_date(enrollment.started_at),
                        "enrollment",
                        stage["unlock"]["description"],
                    )
                )
    for event in record.events:
        of = by_id.get(event.enrollment_id)
        if event.type != "stage_unlocked" or of is None or event.stage is None:
            continue
        stage = _stages(record.document_of(of)).get(event.stage)
        if stage is None:
            continue
        by = str(event.data.get("by", "engine"))
        opened.append(
            StageOpened(
                of,
                stage["order"],
                stage["slug"],
                stage["title"],
                event.at,
                event.local_date,
                by,
                event.message,
            )
        )
    return sorted(opened, key=lambda s: (s.at, s.order))


def holds(record: ClinicalRecord) -> list[Span]:
    """Each flare's hold: from its date to the end of its `hold_until`."""
    spans = []
    for event in record.events:
        if event.type == "flare" and isinstance(event.data.get("hold_until"), str):
            spans.append(
                Span(event.local_date, date.fromisoformat(event.data["hold_until"]), event)
            )
    return spans


def referrals(record: ClinicalRecord) -> list[Span]:
    """From each referral to the date it was cleared (or still open)."""
    spans: list[Span] = []
    open_: EngineEvent | None = None
    for event in record.events:
        if event.type == "referral" and open_ is None:
            open_ = event
        elif event.type == "referral_cleared" and open_ is not None:
            spans.append(Span(open_.local_date, event.local_date, open_, event))
            open_ = None
    if open_ is not None:
        spans.append(Span(open_.local_date, None, open_))
    return spans


def open_referral(record: ClinicalRecord) -> EngineEvent | None:
    """The referral standing now on an active enrolment, if any."""
    active = {e.id for e in record.enrollments if e.status == "active"}
    spans = referrals(record)
    if spans and spans[-1].end is None and spans[-1].event.enrollment_id in active:
        return spans[-1].event
    return None


def last_day(span: Span, fallback: date) -> date:
    return span.end if span.end is not None else fallback


def turns(record: ClinicalRecord) -> list[tuple[date, str]]:
    """Where the course turned: each `Resolved` and `Relapse`, by local date."""
    words = {"resolved": "Resolved", "relapse": "Relapse"}
    return [(e.local_date, words[e.type]) for e in record.events if e.type in words]


def session_days(record: ClinicalRecord) -> dict[date, int]:
    """Sessions logged on each local date."""
    counted: dict[date, int] = {}
    for at in record.sessions:
        day = record.local_date(at)
        counted[day] = counted.get(day, 0) + 1
    return counted
