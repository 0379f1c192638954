"""Public shapes of the catalogue: exercises and protocols, as apps receive them."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app.core.pagination import Page
from app.progression.params import ProgressionParams


class ExerciseKind(StrEnum):
    massage = "massage"
    stretch = "stretch"
    mobility = "mobility"
    assessment = "assessment"


class BodyRegion(StrEnum):
    hip = "hip"
    foot = "foot"
    thigh = "thigh"
    buttock = "buttock"
    whole_leg = "whole_leg"


class RedFlagCode(StrEnum):
    night_pain = "night_pain"
    fever_or_unwell = "fever_or_unwell"
    trauma_or_fall = "trauma_or_fall"
    cannot_bear_weight = "cannot_bear_weight"
    numbness_or_tingling = "numbness_or_tingling"
    bladder_or_bowel_change = "bladder_or_bowel_change"
    sudden_severe_pain = "sudden_severe_pain"


class Dose(BaseModel):
    """How much of an exercise to do; absent fields do not apply to it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"sets": 3, "hold_seconds": 30, "per_side": True, "sessions_per_week": 5}]
        },
    )

    sets: int | None = Field(None, ge=1, le=20)
    reps: int | None = Field(None, ge=1, le=100)
    hold_seconds: int | None = Field(None, ge=1, le=600)
    duration_seconds: int | None = Field(None, ge=1, le=3600)
    per_side: bool = Field(description="Whether the dose is for each side in turn.")
    sessions_per_week: int = Field(ge=1, le=14)


_EXERCISE_EXAMPLE: JsonDict = {
    "slug": "hip-flexor-stretch",
    "version": 1,
    "title": "Hip-flexor stretch",
    "kind": "stretch",
    "region": "hip",
    "stage": "stretch-hip-flexors",
    "summary": "A kneeling lunge stretch for the front of the hip.",
    "equipment": ["a cushion for the knee"],
    "instructions": ["Kneel on one knee with the other foot in front.", "Tuck the pelvis under."],
    "cues": ["A stretch at the front of the hip of the kneeling leg."],
    "mistakes": ["Arching the lower back instead of tucking the pelvis."],
    "cautions": ["Stop if you feel a sharp pinch in the groin."],
    "dose": {"sets": 3, "hold_seconds": 30, "per_side": True, "sessions_per_week": 5},
    "easy_dose": {"sets": 2, "hold_seconds": 15, "per_side": True, "sessions_per_week": 5},
}


class Exercise(BaseModel):
    """One exercise of the catalogue, with everything an app needs to show it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXERCISE_EXAMPLE]})

    slug: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)
    version: int = Field(ge=1, description="Content version; a published version never changes.")
    title: str = Field(min_length=1, max_length=120)
    kind: ExerciseKind
    region: BodyRegion
    stage: str | None = Field(
        None, description="Slug of the protocol stage it belongs to; null for assessments."
    )
    summary: str
    equipment: list[str]
    instructions: list[str] = Field(min_length=1, description="Steps, in order.")
    cues: list[str]
    mistakes: list[str]
    cautions: list[str] = Field(description="When to stop or skip it.")
    dose: Dose
    easy_dose: Dose = Field(description="The lighter dose used while a flare holds progress.")


class StageUnlock(BaseModel):
    """How a stage becomes available."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "by": "engine",
                    "rule": "gate.ankle-and-foot",
                    "description": "Opens when hip-flexor work has stopped bringing pain down.",
                }
            ]
        },
    )

    by: Literal["enrollment", "engine"]
    rule: str | None = Field(None, description="The engine rule that opens the stage.")
    description: str


class Stage(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "order": 2,
                    "slug": "stretch-hip-flexors",
                    "title": "Stretch the hip flexors",
                    "goal": "Lengthen the hip flexors.",
                    "exercises": [_EXERCISE_EXAMPLE],
                    "unlock": {
                        "by": "enrollment",
                        "description": "Available from the day you enrol.",
                    },
                }
            ]
        },
    )

    order: int = Field(ge=1)
    slug: str
    title: str
    goal: str
    exercises: list[Exercise] = Field(description="In session order.")
    unlock: StageUnlock


class RedFlag(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"code": "night_pain", "description": "Pain that wakes you at night."}]
        },
    )

    code: RedFlagCode
    description: str


_PROTOCOL_SUMMARY: JsonDict = {
    "slug": "hip-impingement",
    "version": 1,
    "versions": [1],
    "title": "Hip impingement self-help protocol",
    "summary": "Relax and stretch the hip flexors, then work the feet.",
}


class ProtocolSummary(BaseModel):
    """A protocol in the list: its latest version and every published one."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PROTOCOL_SUMMARY]})

    slug: str
    version: int = Field(description="The latest published version.")
    versions: list[int] = Field(description="Every published version, oldest first.")
    title: str
    summary: str


class Protocol(BaseModel):
    """One published version of a protocol: its stages in order, assessment and red flags."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "slug": "hip-impingement",
                    "version": 1,
                    "title": "Hip impingement self-help protocol",
                    "summary": "Relax and stretch the hip flexors, then work the feet.",
                    "rationale": "Excess inward rotation of the leg irritates the hip flexors.",
                    "disclaimer": "Not medical advice.",
                    "stages": [],
                    "assessments": [],
                    "red_flags": [
                        {"code": "night_pain", "description": "Pain that wakes you at night."}
                    ],
                    "params": ProgressionParams().model_dump(),
                    "published_at": "2026-11-26T06:00:00Z",
                }
            ]
        },
    )

    slug: str
    version: int
    title: str
    summary: str
    rationale: str
    disclaimer: str
    stages: list[Stage] = Field(description="In protocol order.")
    assessments: list[Exercise]
    red_flags: list[RedFlag]
    params: ProgressionParams = Field(description="Default thresholds of the progression rules.")
    published_at: datetime


class ExercisePage(Page[Exercise]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_EXERCISE_EXAMPLE], "next_cursor": "eyJwb3NpdGlvbiI6Mn0"}]
        }
    )


class ProtocolPage(Page[ProtocolSummary]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_PROTOCOL_SUMMARY],
                    "next_cursor": None,
                }
            ]
        }
    )
