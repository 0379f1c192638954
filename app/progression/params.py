"""The engine's parameters: defaults live in each protocol version, coaches may override them."""

from pydantic import BaseModel, ConfigDict, Field


class ProgressionParams(BaseModel):
    """Thresholds of the progression rules (v1). Ranges keep overrides clinically sane."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "resolved_max": 1,
                    "gate_min_days": 14,
                    "gate_min_sessions": 6,
                    "plateau_delta": 1.0,
                    "min_logged_days": 2,
                    "knees_inward_min_days": 7,
                    "knees_inward_min_sessions": 3,
                    "flare_during_max": 5,
                    "flare_rise": 2,
                    "hold_days": 2,
                    "severe_pain": 8,
                    "no_progress_weeks": 12,
                    "meaningful_drop": 2,
                }
            ]
        },
    )

    resolved_max: int = Field(
        1, ge=0, le=3, description="Daily pain at or below this counts as resolved."
    )
    gate_min_days: int = Field(
        14, ge=1, le=90, description="Days on the previous stage before a gate may open."
    )
    gate_min_sessions: int = Field(
        6,
        ge=1,
        le=60,
        description="Sessions with the previous stage's exercises before a gate may open.",
    )
    plateau_delta: float = Field(
        1.0,
        ge=0.0,
        le=5.0,
        description="Pain that fell less than this week on week has stopped falling.",
    )
    min_logged_days: int = Field(
        2, ge=1, le=7, description="Logged days needed in each 7-day window to judge the trend."
    )
    knees_inward_min_days: int = Field(
        7,
        ge=1,
        le=90,
        description="Gate A's days when the squat test shows a knee drifting inward.",
    )
    knees_inward_min_sessions: int = Field(
        3,
        ge=1,
        le=60,
        description="Gate A's sessions when the squat test shows a knee drifting inward.",
    )
    flare_during_max: int = Field(
        5, ge=1, le=10, description="Pain during exercise above this is a flare."
    )
    flare_rise: int = Field(
        2, ge=1, le=10, description="A next-morning score this far above current pain is a flare."
    )
    hold_days: int = Field(
        2, ge=0, le=14, description="Dates a flare holds progress after the flare's own date."
    )
    severe_pain: int = Field(
        8, ge=5, le=10, description="Any score at or above this refers the client on."
    )
    no_progress_weeks: int = Field(
        12,
        ge=4,
        le=52,
        description="Weeks after which too little improvement refers the client on.",
    )
    meaningful_drop: int = Field(
        2, ge=1, le=10, description="Fall from baseline pain that counts as progress."
    )
