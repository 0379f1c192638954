"""API shapes of the progression: progress, today, events, overrides and simulations."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict, JsonValue

from app.catalogue.schemas import Dose
from app.core.actors import ActorPublic
from app.core.pagination import Page
from app.core.types import HISTORY_DAYS, Note, PainScore, PastMoment, Reason, Timezone
from app.progression.model import DecisionType, Status
from app.tracking.schemas import (
    AssessmentCreate,
    PainLogCreate,
    ProgressionParamsOverride,
    SessionCreate,
    Slug,
    Version,
)

# The engine's own names, as the API shows them.
EventType = DecisionType
StatusName = Status

_CRITERIA: list[JsonValue] = [
    {"name": "status", "required": "progressing or resolved", "actual": "progressing", "met": True},
    {"name": "days_on_previous_stage", "required": 14, "actual": 9, "met": False},
    {"name": "sessions_with_previous_stage", "required": 6, "actual": 5, "met": False},
    {"name": "pain_persists", "required": "> 1", "actual": 4.3, "met": True},
    {"name": "logged_days_this_week", "required": 2, "actual": 5, "met": True},
    {"name": "logged_days_previous_week", "required": 2, "actual": 6, "met": True},
    {"name": "stopped_falling", "required": "> 4.1", "actual": 4.3, "met": True},
]
_NOT_YET: JsonDict = {
    "name": "stopped_falling",
    "required": None,
    "actual": None,
    "met": False,
    "note": "Cannot be computed yet: needs 2 logged days in each of the last two weeks "
    "(this week 3, the week before 1).",
}


class Criterion(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CRITERIA[1], _NOT_YET]})

    name: str
    required: float | int | str | None = Field(
        description="The threshold; null while the criterion cannot be computed yet."
    )
    actual: float | int | str | None
    met: bool
    note: str | None = Field(
        None,
        description="Set when the criterion cannot be computed yet (too few logged days), "
        "saying why, or when its threshold needs a word.",
    )


class GateState(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ready": False, "criteria": _CRITERIA}]}
    )

    ready: bool = Field(description="All criteria met now: the stage opens with the next check-in.")
    criteria: list[Criterion]


_STAGES: list[JsonValue] = [
    {
        "order": 2,
        "slug": "stretch-hip-flexors",
        "title": "Stretch the hip flexors",
        "state": "unlocked",
        "unlocked_at": "2026-10-17T08:00:00Z",
        "unlocked_by": "enrollment",
        "reason": "Open from enrolment.",
        "gate": None,
    },
    {
        "order": 3,
        "slug": "ankle-and-foot",
        "title": "Work the feet and ankles",
        "state": "locked",
        "unlocked_at": None,
        "unlocked_by": None,
        "reason": None,
        "gate": {"ready": False, "criteria": _CRITERIA},
    },
]


class StageProgress(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_STAGES[1]]})

    order: int
    slug: str
    title: str
    state: Literal["locked", "unlocked"]
    unlocked_at: datetime | None
    unlocked_by: Literal["enrollment", "engine", "coach"] | None
    reason: str | None = Field(
        description="Why it opened, in words. Opened by a coach the client had before, and "
        "read by another coach: withheld (only the client reads that coach's words)."
    )
    gate: GateState | None = Field(
        description="For the next stage to open: its criteria as of now."
    )


_ADHERENCE: JsonDict = {
    "this_week": {"week_start": "2026-11-23", "planned": 5, "logged": 2, "ratio": 0.4},
    "last_4_weeks": [
        {"week_start": "2026-10-26", "planned": 5, "logged": 5, "ratio": 1.0},
        {"week_start": "2026-11-02", "planned": 5, "logged": 4, "ratio": 0.8},
        {"week_start": "2026-11-16", "planned": 5, "logged": 2, "ratio": 0.4},
    ],
    "last_2_weeks": 0.4,
    "overall": 0.79,
}


class AdherenceWeek(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ADHERENCE["this_week"]]})

    week_start: date = Field(description="The week's first local date (7 dates from enrolment).")
    planned: int = Field(
        description="The highest `sessions_per_week` among the exercises of the stages open on "
        "`week_start` (the easy dose when that date is in a flare hold, at most the maintenance "
        "2 when resolved)."
    )
    logged: int = Field(description="Sessions logged on the week's dates.")
    ratio: float = Field(description="`logged` / `planned`, capped at 1.")


class Adherence(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ADHERENCE]})

    this_week: AdherenceWeek | None = Field(
        description="The current week so far, against the whole week's plan; null when a date "
        "of it was spent referred, or the enrolment has ended."
    )
    last_4_weeks: list[AdherenceWeek] = Field(
        description="The last 4 complete weeks, oldest first; a week with any date spent "
        "referred is left out."
    )
    last_2_weeks: float | None = Field(
        description="The last 2 complete weeks together (the coach's list: `adherence_14d`)."
    )
    overall: float | None = Field(
        description="Every complete week of the enrolment: logged (capped at each week's "
        "plan) over planned; null before the first complete week."
    )


class Progress(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enrollment_id": "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09",
                    "protocol": "hip-impingement",
                    "version": 1,
                    "status": "progressing",
                    "baseline_pain": 6,
                    "current_pain": 4.3,
                    "previous_pain": 5.1,
                    "stages": _STAGES,
                    "advice": [],
                    "adherence": _ADHERENCE,
                    "evaluated_at": "2026-11-26T08:00:00Z",
                }
            ]
        }
    )

    enrollment_id: uuid.UUID
    protocol: str
    version: int
    status: StatusName
    baseline_pain: int
    current_pain: float | None = Field(description="Mean daily highest pain over the last 7 dates.")
    previous_pain: float | None = Field(description="The same over the 7 dates before those.")
    stages: list[StageProgress]
    advice: list[str]
    adherence: Adherence = Field(
        description="Sessions logged against sessions planned, per local week of the enrolment "
        "(7 dates from its start). Shown, never used to unlock."
    )
    evaluated_at: datetime


_ROUTINE_ENTRY: JsonDict = {
    "order": 2,
    "stage": "stretch-hip-flexors",
    "exercise": "hip-flexor-stretch",
    "title": "Hip-flexor stretch",
    "dose": {
        "sets": 3,
        "hold_seconds": 30,
        "per_side": True,
        "sessions_per_week": 5,
    },
}


class RoutineEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ROUTINE_ENTRY]})

    order: int = Field(description="The stage's order.")
    stage: str
    exercise: str
    title: str
    dose: Dose = Field(
        description="The catalogue's dose, or its easy dose on hold; at most the maintenance "
        "rhythm's sessions a week when resolved."
    )


class CheckIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"context": "next_morning", "reason": "You exercised yesterday."}]
        }
    )

    context: Literal["next_morning", "rest"] = Field(description="The pain log's context to use.")
    reason: str


class Today(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2026-11-26",
                    "status": "progressing",
                    "routine": [_ROUTINE_ENTRY],
                    "check_ins_due": [
                        {"context": "next_morning", "reason": "You exercised yesterday."}
                    ],
                    "advice": [],
                }
            ]
        }
    )

    date: date
    status: StatusName
    routine: list[RoutineEntry] = Field(
        description="Exercises of the open stages, in protocol order."
    )
    check_ins_due: list[CheckIn]
    advice: list[str]


_EVENT: JsonDict = {
    "id": "4d3c2b1a-0987-5654-8321-0fedcba98765",
    "type": "stage_unlocked",
    "rule": "gate.ankle-and-foot",
    "at": "2026-11-01T19:00:00Z",
    "local_date": "2026-11-01",
    "stage": "ankle-and-foot",
    "message": "Stage 3, Work the feet and ankles, unlocked: 14 days and 7 sessions with stage 2 "
    "(Stretch the hip flexors) brought pain from 6 to 4, and it has stopped falling.",
    "data": {"days": 14, "sessions": 7, "from_pain": 6, "current_pain": 4.0},
    "clinical_note": "Stage 3 (Work the feet and ankles) opened after 14 days (minimum 14) and "
    "7 sessions (minimum 6) of stage 2 (Stretch the hip flexors); 7-day mean NPRS 4/10 from "
    "6/10 when it opened, above the resolved level of 1/10 and no longer falling (previous week "
    "4.5/10, plateau margin 1 point). Day and session counts are engineering thresholds.",
    "retracted_at": None,
    "actor": {
        "role": "client",
        "account_id": "0b9c2f4e-6a51-4c1e-9d52-3f1a7c0e8b21",
        "api_key_id": None,
    },
}


class Event(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT]})

    id: uuid.UUID
    type: EventType
    rule: str
    at: datetime = Field(description="When the item that caused it happened.")
    local_date: date = Field(
        description="The client's local date of `at`: the date the rules counted (a flare's "
        "`hold_until` is a local date too)."
    )
    stage: str | None
    message: str = Field(
        description="In words. Made from an override by a coach the client had before, and "
        "read by another coach, that coach's reason is withheld here and in `data.reason`."
    )
    data: dict[str, Any] = Field(description="The figures the rule used.")
    clinical_note: str | None = Field(
        None,
        description="The decision for a clinician: one third-person sentence in clinical terms "
        "with its figures, the threshold and the rule's source where it has one (the reason of "
        "an override stays in `message` and `data.reason`). Null only for a decision stored "
        "before v1.2 whose history has not been re-evaluated since.",
    )
    retracted_at: datetime | None = Field(
        None,
        description="Set when a later re-evaluation (a backfill or deletion) no longer makes it.",
    )
    actor: ActorPublic | None = Field(
        None,
        description="Whose write made the engine decide it; null for decisions stored before "
        "HipFix kept actors.",
    )


class EventPage(Page[Event]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_EVENT], "next_cursor": None}]}
    )


FeedEventType = Literal[
    "enrolled",
    "stage_unlocked",
    "flare",
    "referral",
    "referral_cleared",
    "resolved",
    "relapse",
    "override",
    "decision_retracted",
    "decision_updated",
    "client_left",
    "enrollment_ended",
    "params_changed",
]
_FEED_EVENT: JsonDict = {
    "sequence": 1042,
    **{k: v for k, v in _EVENT.items() if k != "retracted_at"},
    "decision_type": "stage_unlocked",
    "client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
    "enrollment_id": "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09",
    "recorded_at": "2026-11-01T19:00:02Z",
}


class FeedEvent(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_FEED_EVENT]})

    sequence: int = Field(description="The feed's order: pass the last one seen as `after`.")
    id: uuid.UUID = Field(
        description="The decision's id (a retraction or an update carries the id of the "
        "decision it is about); a lifecycle event's own id."
    )
    type: FeedEventType = Field(
        description="The decision's type; `decision_retracted` when a re-evaluation (a "
        "backfill, a deletion) no longer makes a decision listed earlier; `decision_updated` "
        "when it makes it again (same type, rule, stage and local date: same id) with other "
        "figures; or a lifecycle event: `client_left` (the client left, was released or was "
        "erased: `data` holds its id and the reason, nothing else; listed to that coach "
        "alone), `enrollment_ended` (`data.outcome`), `params_changed` (`data.before`, "
        "`data.after`)."
    )
    decision_type: EventType | None = Field(
        description="The decision's own type, retracted or not; null for a lifecycle event "
        "(`client_left`, `enrollment_ended`, `params_changed`: `rule` is `lifecycle.` and its "
        "type)."
    )
    client_id: uuid.UUID
    enrollment_id: uuid.UUID | None = Field(
        description="Null only for a `client_left` (a client leaves its coach, not an enrolment)."
    )
    rule: str
    at: datetime = Field(description="When the item that caused the decision happened.")
    local_date: date = Field(description="The client's local date of `at`.")
    stage: str | None
    message: str = Field(
        description="In words. Made from an override by a coach the client had before, and "
        "read by another coach, that coach's reason is withheld here and in `data.reason`."
    )
    data: dict[str, Any] = Field(description="The figures the rule used.")
    clinical_note: str | None = Field(
        None,
        description="The decision for a clinician: one third-person sentence in clinical terms "
        "with its figures, the threshold and the rule's source where it has one (the reason of "
        "an override stays in `message` and `data.reason`). Null only for a decision stored "
        "before v1.2 whose history has not been re-evaluated since.",
    )
    recorded_at: datetime = Field(description="When this entry was added to the feed.")
    actor: ActorPublic | None = Field(
        description="Whose write caused this entry (`system`: a re-evaluation under new rules)."
    )


class FeedPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_FEED_EVENT], "next_cursor": "1042"}]}
    )

    items: list[FeedEvent] = Field(description="Oldest first.")
    next_cursor: str = Field(
        description="Pass as `after` next time. Never null: when `items` is empty you are "
        "caught up, and it is the `after` you sent."
    )


class OverrideCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "action": "unlock_stage",
                    "stage": "ankle-and-foot",
                    "reason": "Knees cave in on every squat.",
                },
                {
                    "action": "clear_referral",
                    "reason": "Seen by Dr Patel on 24 Nov: no red flags found.",
                },
            ]
        },
    )

    id: Annotated[
        uuid.UUID | None, Field(description="Optional client-made id, for safe retries.")
    ] = None
    action: Literal["unlock_stage", "clear_referral"]
    stage: Slug | None = Field(
        None, description="unlock_stage: the stage (default the next locked one)."
    )
    reason: Reason


class OverridePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0f1e2d3c-4b5a-4968-8776-655443322110",
                    "action": "unlock_stage",
                    "stage": "ankle-and-foot",
                    "reason": "Knees cave in on every squat.",
                    "by": "coach",
                    "at": "2026-11-26T08:00:00Z",
                    "actor": {
                        "role": "coach",
                        "account_id": "7f3e2d1c-0b9a-4876-9543-21fedcba9876",
                        "api_key_id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
                    },
                }
            ]
        }
    )

    id: uuid.UUID
    action: Literal["unlock_stage", "clear_referral"]
    stage: str | None
    reason: str
    by: Literal["coach", "client"] = Field(description="The actor's role (kept from v1).")
    at: datetime
    actor: ActorPublic = Field(description="Which account (and API key) made it.")


# --- simulations ---------------------------------------------------------------------------


def _first_example(model: type[BaseModel]) -> JsonDict:
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if not isinstance(examples, list) or not examples or not isinstance(examples[0], dict):
        raise TypeError(f"{model.__name__} has no example to build on")
    return examples[0]


def _example(model: type[BaseModel], type_: str) -> ConfigDict:
    example = _first_example(model)
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [{"type": type_, **example}]})


# A simulated timeline is not stored: it may lie anywhere in the past (the documented
# examples keep their dates), within `SIMULATION_DAYS` of its `started_at`. The bounds keep
# one request's engine work to a fraction of a second (bench/bounds.py), since anyone may
# ask, signed out too.
SIMULATION_DAYS = HISTORY_DAYS
SIMULATION_ITEMS = 300


class SimPain(PainLogCreate):
    model_config = _example(PainLogCreate, "pain")
    type: Literal["pain"]
    recorded_at: PastMoment


class SimSession(SessionCreate):
    model_config = _example(SessionCreate, "session")
    type: Literal["session"]
    performed_at: PastMoment


class SimAssessment(AssessmentCreate):
    model_config = _example(AssessmentCreate, "assessment")
    type: Literal["assessment"]
    performed_at: PastMoment


class SimOverride(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "override",
                    "action": "unlock_stage",
                    "stage": "ankle-and-foot",
                    "reason": "Trying the feet early.",
                    "by": "coach",
                    "at": "2026-09-05T09:00:00Z",
                }
            ]
        },
    )

    type: Literal["override"]
    action: Literal["unlock_stage", "clear_referral"]
    stage: Slug | None = None
    reason: Reason
    by: Literal["coach", "client"] = Field(
        "coach",
        description="Who made it. `unlock_stage` is the coach's alone (422 `coach-only` for "
        "a client's); `clear_referral` by the client is one with no coach confirming a "
        "clinician has seen it.",
    )
    at: PastMoment
    note: Note | None = None


TimelineItem = Annotated[
    SimPain | SimSession | SimAssessment | SimOverride, Field(discriminator="type")
]

_SIMULATION_EXAMPLE: JsonDict = {
    "protocol": "hip-impingement",
    "baseline_pain": 6,
    "started_at": "2026-09-01T08:00:00Z",
    "timezone": "Europe/London",
    "timeline": [
        {
            "type": "session",
            "performed_at": "2026-09-02T18:00:00Z",
            "exercises": [
                {"exercise": "hip-flexor-ball-release"},
                {"exercise": "hip-flexor-stretch"},
            ],
            "pain_during": 3,
        },
        {
            "type": "pain",
            "score": 6,
            "context": "rest",
            "recorded_at": "2026-09-02T20:00:00Z",
            "side": "right",
        },
        {
            "type": "pain",
            "score": 7,
            "context": "during",
            "recorded_at": "2026-09-04T18:30:00Z",
            "side": "right",
        },
    ],
}


def _plateau_example() -> dict[str, Any]:
    """Two weeks of daily hip-flexor sessions with pain stuck at 5: stage 3 opens on day 14."""
    timeline: list[dict[str, Any]] = []
    for day in range(1, 16):
        stamp = f"2026-09-{day + 1:02d}"
        timeline.append(
            {
                "type": "session",
                "performed_at": f"{stamp}T18:00:00Z",
                "exercises": [
                    {"exercise": "hip-flexor-ball-release"},
                    {"exercise": "hip-flexor-stretch"},
                ],
            }
        )
        timeline.append(
            {
                "type": "pain",
                "score": 6 if day < 7 else 5,
                "context": "rest",
                "recorded_at": f"{stamp}T07:30:00Z",
                "side": "right",
            }
        )
    return {**_SIMULATION_EXAMPLE, "timeline": timeline}


SIMULATION_EXAMPLES: dict[str, Example] = {
    "plateau": {
        "summary": "Pain stops falling: the feet open on day 14",
        "description": "Daily sessions of stages 1–2; pain 6 for a week, then 5. On day 14 "
        "(15 September) every gate-A criterion holds, so `ankle-and-foot` unlocks, with its "
        "reason.",
        "value": _plateau_example(),
    },
    "flare": {
        "summary": "A flare during exercise holds progress",
        "description": "Pain 7/10 during exercise on 4 September: `flare.during`, hold until the "
        "end of 6 September with a lighter routine.",
        "value": _SIMULATION_EXAMPLE,
    },
}


class SimZoneChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"at": "2026-09-10T12:00:00Z", "timezone": "Australia/Sydney"}]
        },
    )

    at: PastMoment = Field(description="From this moment on, the client lives in `timezone`.")
    timezone: Timezone


class SimulationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SIMULATION_EXAMPLE]})

    protocol: Slug
    version: Version | None = None
    baseline_pain: PainScore
    started_at: PastMoment
    timezone: Timezone = Field(description="The client's zone at `started_at`.")
    timezone_changes: list[SimZoneChange] | None = Field(
        default=None,
        max_length=100,
        description="Moves to other zones, each applying from its moment on (days already "
        "lived keep their dates), as `PATCH /v1/me` records them.",
    )
    params: ProgressionParamsOverride | None = None
    timeline: list[TimelineItem] = Field(
        max_length=SIMULATION_ITEMS,
        description=f"In any order: it is sorted by time. At most {SIMULATION_ITEMS} entries, "
        f"each within {SIMULATION_DAYS} days of `started_at` (as are `timezone_changes`): "
        "the longest course a stored history may hold, with two or three entries a day "
        "(more is refused, 422: the engine's work for one request stays bounded, as it runs "
        "for anyone, signed out too).",
    )


class SimulationResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "hold",
                    "current_pain": 7.0,
                    "previous_pain": None,
                    "stages": _STAGES,
                    "events": [{k: v for k, v in _EVENT.items() if k != "retracted_at"}],
                }
            ]
        }
    )

    status: StatusName
    current_pain: float | None
    previous_pain: float | None
    stages: list[StageProgress] = Field(description="With the next gate as of the last item.")
    events: list[Event]
