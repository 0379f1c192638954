"""Request and response shapes for enrolments, pain logs, sessions and assessments."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from app.catalogue.schemas import RedFlagCode
from app.core.actors import ActorPublic
from app.core.pagination import Page
from app.core.types import (
    HISTORY_BOUND,
    WHOLE_NUMBER,
    Note,
    PainScore,
    Reason,
    RecentMoment,
    RecentStart,
    integer,
)
from app.progression.params import ProgressionParams

Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
ItemId = Annotated[
    uuid.UUID | None,
    Field(
        description="Optional client-made id: a retry with the same id and body returns "
        "the stored item."
    ),
]
Count = Annotated[int, Field(strict=True, ge=1, le=1000), WHOLE_NUMBER]
Seconds = Annotated[int, Field(strict=True, ge=1, le=7200), WHOLE_NUMBER]
Version = Annotated[int, Field(strict=True, ge=1), WHOLE_NUMBER]


class PainContext(StrEnum):
    rest = "rest"
    during = "during"
    after = "after"
    next_morning = "next_morning"


class Side(StrEnum):
    left = "left"
    right = "right"
    both = "both"


class PainLocation(StrEnum):
    groin = "groin"
    front = "front"
    side = "side"
    buttock = "buttock"
    other = "other"


class KneeTracking(StrEnum):
    knee_over_foot = "knee_over_foot"
    knee_medial_to_foot = "knee_medial_to_foot"


def _override_field(info: FieldInfo) -> tuple[Any, Any]:
    ge, le = _bound(info, "ge"), _bound(info, "le")
    annotation = info.annotation
    assert annotation is not None  # every ProgressionParams field is annotated
    if annotation is int:
        return integer(ge=ge, le=le) | None, Field(None, description=info.description)
    return annotation | None, Field(None, ge=ge, le=le, strict=True, description=info.description)


def _override_model() -> type[BaseModel]:
    # Every parameter, optional, with the same ranges: a coach overrides only what it names.
    fields: dict[str, Any] = {
        name: _override_field(info) for name, info in ProgressionParams.model_fields.items()
    }
    return create_model(
        "ProgressionParamsOverride",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"gate_min_days": 10, "severe_pain": 7}]},
        ),
        __doc__="Parameters to change for one enrolment; the rest keep the protocol's defaults.",
        **fields,
    )


def _bound(info: FieldInfo, name: str) -> float | None:
    for item in info.metadata:
        if hasattr(item, name):
            value: float | None = getattr(item, name)
            return value
    return None


if TYPE_CHECKING:
    # Built at import time from ProgressionParams (below), so its fields cannot drift from
    # the parameters'; a type checker knows it only as a model.
    ProgressionParamsOverride = BaseModel
else:
    ProgressionParamsOverride = _override_model()

_ACTOR: JsonDict = {
    "role": "client",
    "account_id": "0b9c2f4e-6a51-4c1e-9d52-3f1a7c0e8b21",
    "api_key_id": None,
}
_ENROLLMENT: JsonDict = {
    "id": "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09",
    "client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
    "protocol": "hip-impingement",
    "version": 1,
    "baseline_pain": 6,
    "started_at": "2026-10-17T08:00:00Z",
    "params": ProgressionParams().model_dump(),
    "status": "active",
    "created_at": "2026-11-26T08:00:00Z",
    "actor": _ACTOR,
    "ended_at": None,
    "outcome": None,
    "end_reason": None,
    "ended_by": None,
    "param_changes": [],
}


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "protocol": "hip-impingement",
                    "baseline_pain": 6,
                    "started_at": "2026-10-17T08:00:00Z",
                }
            ]
        },
    )

    id: ItemId = None
    protocol: Slug
    version: Version | None = Field(
        None,
        description="A published version; default the latest. Pinned for the enrolment's life.",
    )
    baseline_pain: PainScore
    started_at: RecentStart | None = Field(
        None,
        description="Default: the start of the client's local day, so the day's earlier logs "
        f"count. May be in the past ({HISTORY_BOUND}), not in the future.",
    )
    params: ProgressionParamsOverride | None = Field(
        None, description="Coach only: thresholds to change for this client."
    )


class ParamChange(BaseModel):
    """A coach's change of an active enrolment's parameters and what the replay changed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "at": "2026-11-27T09:00:00Z",
                    "actor": {
                        "role": "coach",
                        "account_id": "7f3e2d1c-0b9a-4876-9543-21fedcba9876",
                        "api_key_id": None,
                    },
                    "before": {},
                    "after": {"flare_during_max": 6},
                    "added": 1,
                    "retracted": 2,
                }
            ]
        }
    )

    at: datetime
    actor: ActorPublic
    before: dict[str, Any] = Field(description="The overrides before (protocol defaults aside).")
    after: dict[str, Any] = Field(description="The overrides after.")
    added: int = Field(description="Decisions the replay made (or made again).")
    retracted: int = Field(description="Decisions the replay no longer makes, now retracted.")


EnrollmentOutcome = Literal["completed", "withdrawn"]


class EnrollmentPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENROLLMENT]})

    id: uuid.UUID
    client_id: uuid.UUID
    protocol: str
    version: int
    baseline_pain: int
    started_at: datetime
    params: ProgressionParams = Field(
        description="The thresholds in force: defaults and overrides."
    )
    status: Literal["active", "ended"]
    created_at: datetime
    actor: ActorPublic = Field(description="Who wrote it.")
    ended_at: datetime | None = Field(None, description="When it ended; null while active.")
    outcome: EnrollmentOutcome | None = None
    end_reason: str | None = Field(
        None,
        description="Withheld when a coach the client had before ended it and another coach reads.",
    )
    ended_by: ActorPublic | None = Field(None, description="Who ended it.")
    param_changes: list[ParamChange] = Field(
        default_factory=list, description="Each change of parameters while it was active."
    )


class EnrollmentEnd(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"outcome": "completed", "reason": "Pain-free for a month; discharged."}]
        },
    )

    outcome: EnrollmentOutcome = Field(
        description="`completed`: the programme is done; `withdrawn`: stopped before."
    )
    reason: Reason


class EnrollmentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"params": {"gate_min_days": 10}}]}
    )

    params: ProgressionParamsOverride = Field(
        description="Thresholds to change; those not named keep their current values."
    )


class EnrollmentPage(Page[EnrollmentPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ENROLLMENT], "next_cursor": None}]}
    )


def _distinct(flags: list[RedFlagCode]) -> list[RedFlagCode]:
    if len(set(flags)) != len(flags):
        raise ValueError("names a red flag more than once")
    return flags


RedFlags = Annotated[list[RedFlagCode], AfterValidator(_distinct)]

_PAIN_CREATE: JsonDict = {
    "score": 4,
    "context": "next_morning",
    "recorded_at": "2026-11-26T07:30:00+01:00",
    "side": "right",
    "location": "groin",
    "flags": [],
    "note": "Stiff getting out of bed, eased after a few minutes.",
}
_PAIN: JsonDict = {
    **_PAIN_CREATE,
    "id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
    "client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
    "enrollment_id": "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09",
    "session_id": None,
    "recorded_at": "2026-11-26T06:30:00Z",
    "created_at": "2026-11-26T06:31:00Z",
    "actor": _ACTOR,
}


class PainLogCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PAIN_CREATE]})

    id: ItemId = None
    score: PainScore
    context: PainContext
    recorded_at: RecentMoment
    side: Side
    location: PainLocation | None = None
    flags: RedFlags = Field(
        default_factory=list,
        max_length=7,
        json_schema_extra={"uniqueItems": True},
        description="Red-flag symptoms noticed (see the protocol), each once.",
    )
    note: Note | None = None


class PainLogPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PAIN]})

    id: uuid.UUID
    client_id: uuid.UUID
    enrollment_id: uuid.UUID
    session_id: uuid.UUID | None = Field(description="The session this pain was logged with.")
    score: int
    context: PainContext
    recorded_at: datetime
    side: Side
    location: PainLocation | None
    flags: list[RedFlagCode]
    note: str | None
    created_at: datetime
    actor: ActorPublic = Field(description="Who wrote it.")


class PainLogPage(Page[PainLogPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_PAIN], "next_cursor": None}]}
    )


class PainLogBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [{**_PAIN_CREATE, "id": _PAIN["id"]}]}]},
    )

    items: list[PainLogCreate] = Field(min_length=1, max_length=500)


class PainLogBatchResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_PAIN], "created": 1, "existing": 0}]}
    )

    items: list[PainLogPublic] = Field(description="Every item, in the order posted.")
    created: int = Field(description="Items stored by this request.")
    existing: int = Field(description="Items already stored by an earlier try.")


class SessionExercise(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"exercise": "hip-flexor-stretch", "sets": 3, "hold_seconds": 30, "side": "both"}
            ]
        },
    )

    exercise: Slug
    sets: Count | None = None
    reps: Count | None = None
    hold_seconds: Seconds | None = None
    duration_seconds: Seconds | None = None
    side: Side | None = None


_SESSION_CREATE: JsonDict = {
    "performed_at": "2026-11-25T18:00:00Z",
    "exercises": [
        {"exercise": "hip-flexor-ball-release", "duration_seconds": 90, "side": "both"},
        {"exercise": "hip-flexor-stretch", "sets": 3, "hold_seconds": 30, "side": "both"},
    ],
    "pain_during": 3,
    "pain_after": 2,
    "note": None,
}
_SESSION: JsonDict = {
    **_SESSION_CREATE,
    "id": "6f5e4d3c-2b1a-4098-8765-4321fedcba98",
    "client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
    "enrollment_id": "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09",
    "pain_log_ids": [
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
    ],
    "created_at": "2026-11-25T18:30:00Z",
    "actor": _ACTOR,
}


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SESSION_CREATE]})

    id: ItemId = None
    performed_at: RecentMoment
    exercises: list[SessionExercise] = Field(min_length=1, max_length=30)
    pain_during: PainScore | None = Field(None, description="Logged as a `during` pain log.")
    pain_after: PainScore | None = Field(None, description="Logged as an `after` pain log.")
    side: Side = Field(Side.both, description="The painful side, for the linked pain logs.")
    note: Note | None = None


class SessionPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{**_SESSION, "side": "both"}]})

    id: uuid.UUID
    client_id: uuid.UUID
    enrollment_id: uuid.UUID
    performed_at: datetime
    exercises: list[SessionExercise]
    pain_during: int | None
    pain_after: int | None
    side: Side
    pain_log_ids: list[uuid.UUID] = Field(
        description="The pain logs made from pain_during/pain_after."
    )
    note: str | None
    created_at: datetime
    actor: ActorPublic = Field(description="Who wrote it.")


class SessionPage(Page[SessionPublic]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [{**_SESSION, "side": "both"}], "next_cursor": None}]
        }
    )


_ASSESSMENT_CREATE: JsonDict = {
    "kind": "squat-knee-tracking",
    "left": "knee_over_foot",
    "right": "knee_medial_to_foot",
    "performed_at": "2026-11-20T09:00:00Z",
}
_ASSESSMENT: JsonDict = {
    **_ASSESSMENT_CREATE,
    "id": "8a9b0c1d-2e3f-4a5b-9c6d-7e8f9a0b1c2d",
    "client_id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
    "enrollment_id": "9e8d7c6b-5a49-4382-9176-5e4d3c2b1a09",
    "note": None,
    "created_at": "2026-11-20T09:01:00Z",
    "actor": _ACTOR,
}


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ASSESSMENT_CREATE]})

    id: ItemId = None
    kind: Literal["squat-knee-tracking"]
    left: KneeTracking
    right: KneeTracking
    performed_at: RecentMoment
    note: Note | None = None


class AssessmentPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ASSESSMENT]})

    id: uuid.UUID
    client_id: uuid.UUID
    enrollment_id: uuid.UUID
    kind: Literal["squat-knee-tracking"]
    left: KneeTracking
    right: KneeTracking
    performed_at: datetime
    note: str | None
    created_at: datetime
    actor: ActorPublic = Field(description="Who wrote it.")


class AssessmentPage(Page[AssessmentPublic]):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ASSESSMENT], "next_cursor": None}]}
    )
