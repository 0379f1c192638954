"""Clinical notes: each decision said for a clinician (rules v1.2, PRODUCT.md §8).

The client's `message` speaks to the client ("your recent 5"); a note is one third-person
sentence in clinical terms that names the figure, the threshold it was held to and the
rule's source where the rule has one. Pure: the engine calls these as it decides.
"""

from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING

from app.progression.model import ClockFrom, Plan, StageSpec
from app.progression.params import ProgressionParams

if TYPE_CHECKING:  # the engine imports this module
    from app.progression.engine import Gate

PAIN_MONITORING = "pain-monitoring model (Silbernagel 2007)"
NPRS_MIC = "NPRS minimal important change (Salaffi 2004)"
RED_FLAGS = "NHS musculoskeletal triage guidance"
CONSERVATIVE_CARE = "Zurich FAIS consensus (Kemp 2020)"
ENGINEERING = "an engineering threshold, not a clinical finding"


def nprs(value: Fraction | float | int | None) -> str:
    """A pain figure on the 0-10 scale, one decimal at most."""
    if value is None:
        return "not recorded"
    shown = round(float(value), 1)
    return f"{int(shown) if shown == int(shown) else shown}/10"


def points(value: float | int) -> str:
    shown = round(float(value), 1)
    figure = int(shown) if shown == int(shown) else shown
    return f"{figure} point" if figure == 1 else f"{figure} points"


def _stage(stage: StageSpec) -> str:
    return f"stage {stage.order} ({stage.title})"


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


def _flags(flags: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f.replace("_", " ") for f in flags)


def enrolled(plan: Plan) -> str:
    opened = ", ".join(_stage(s) for s in plan.stages if s.unlock_by == "enrollment")
    return (
        f"Enrolled in {plan.title} (version {plan.version}) with baseline NPRS "
        f"{nprs(plan.baseline_pain)}; {opened} open from enrolment."
    )


def gate_opened(plan: Plan, gate: "Gate", from_pain: float | None) -> str:
    p = plan.params
    shortcut = gate.shortcut
    min_days = p.knees_inward_min_days if shortcut else p.gate_min_days
    min_sessions = p.knees_inward_min_sessions if shortcut else p.gate_min_sessions
    start = (
        f" from {nprs(from_pain)} when stage {gate.previous.order} opened"
        if from_pain is not None
        else ""
    )
    why = (
        "; the shorter criteria applied because the latest squat test showed the knee medial "
        "to the foot (dynamic valgus)"
        if shortcut
        else ""
    )
    return (
        f"{_first_up(_stage(gate.stage))} opened after {gate.days} days (minimum {min_days}) "
        f"and {gate.sessions} sessions (minimum {min_sessions}) of {_stage(gate.previous)}; "
        f"7-day mean NPRS {nprs(gate.windows.current)}{start}, above the resolved level of "
        f"{nprs(p.resolved_max)} and no longer falling (previous week "
        f"{nprs(gate.windows.previous)}, plateau margin {points(p.plateau_delta)})"
        f"{why}. Day and session counts are engineering thresholds."
    )


def flare(
    plan: Plan,
    rule: str,
    score: int,
    before: Fraction | None,
    hold_until: date | None,
    *,
    repeated: bool,
) -> str:
    p = plan.params
    until = hold_until.isoformat() if hold_until else "the next date"
    review = " Second flare within 7 days: clinical review advised." if repeated else ""
    if rule.endswith("during"):
        return (
            f"NPRS {nprs(score)} during exercise above the {nprs(p.flare_during_max)} limit of "
            f"the {PAIN_MONITORING}: hold to {until}, easier dose.{review}"
        )
    reference = (
        f"the 7-day mean of {nprs(before)}"
        if before is not None
        else f"baseline NPRS {nprs(plan.baseline_pain)} (no pain logged in the previous 7 days)"
    )
    return (
        f"Next-morning NPRS {nprs(score)}, {points(p.flare_rise)} or more above {reference}: "
        f"pain not settled overnight, against the {PAIN_MONITORING}; hold to {until}, easier "
        f"dose.{review}"
    )


def red_flag(flags: tuple[str, ...] | list[str], *, while_referred: bool) -> str:
    if while_referred:
        return (
            f"Further red flag reported during the open referral ({_flags(flags)}; "
            f"{RED_FLAGS}): for the assessing clinician."
        )
    return (
        f"Red flag reported ({_flags(flags)}; {RED_FLAGS}): exercise paused and referred for "
        "clinical assessment."
    )


def severe_pain(score: int, threshold: int) -> str:
    return (
        f"NPRS {nprs(score)} at or above the severe-pain threshold of {nprs(threshold)} "
        f"({ENGINEERING}): exercise paused and referred for clinical assessment."
    )


def no_progress(
    p: ProgressionParams,
    weeks: int,
    current: Fraction | None,
    clock_pain: float | None,
    clock_from: ClockFrom,
) -> str:
    reference = {
        "start": "baseline",
        "clearance": "the level when the last referral was cleared",
        "clearance_without_logs": "baseline (no pain logged before the last clearance)",
    }[clock_from]
    return (
        f"After {weeks} weeks of exercise (review point {p.no_progress_weeks} weeks, after the "
        f"{CONSERVATIVE_CARE}), 7-day mean NPRS {nprs(current)} against {nprs(clock_pain)} at "
        f"{reference}: reduction below the {p.meaningful_drop}-point {NPRS_MIC}; referred for "
        "review of the plan."
    )


def resolved(p: ProgressionParams, logged_days: int, highest: int) -> str:
    return (
        f"NPRS at or below {nprs(p.resolved_max)} on all {logged_days} logged days of the last "
        f"7 (highest {nprs(highest)}; at least 3 logged days required; {ENGINEERING}): "
        "resolved, maintenance dosing."
    )


def relapse(p: ProgressionParams, days_above: int, highest: int) -> str:
    if days_above >= 2:
        return (
            f"NPRS above the resolved level of {nprs(p.resolved_max)} on {days_above} of the "
            f"last 7 days (threshold 2 days; highest {nprs(highest)}): relapse, protocol resumed."
        )
    return (
        f"NPRS {nprs(highest)}, at least {points(p.meaningful_drop)} above the resolved level "
        f"of {nprs(p.resolved_max)}, the {NPRS_MIC}: relapse, protocol resumed."
    )


def unlocked_by_coach(stage: StageSpec, hold_until: date | None) -> str:
    during = f", during a flare hold to {hold_until.isoformat()}" if hold_until else ""
    return (
        f"{_first_up(_stage(stage))} opened by the coach's override (clinical judgement; "
        f"reason on record){during}."
    )


def unlock_refused(stage: str | None, *, referred: bool) -> str:
    what = f"stage {stage}" if stage else "the next stage"
    why = "the referral is still open" if referred else "it was already open"
    return f"Coach's override to open {what} not applied: {why}."


def referral_cleared(plan: Plan, by: str, clock_pain: float | None, clock_from: ClockFrom) -> str:
    who = "the coach" if by == "coach" else "the client, confirming a clinician has seen them"
    measured = (
        f"7-day mean NPRS {nprs(clock_pain)}"
        if clock_from == "clearance"
        else f"baseline NPRS {nprs(plan.baseline_pain)} (no pain logged in the previous 7 days)"
    )
    return (
        f"Referral cleared by {who} (reason on record); the {plan.params.no_progress_weeks}-week "
        f"no-progress review restarts from {measured}."
    )


def nothing_to_clear(by: str) -> str:
    who = "coach" if by == "coach" else "client"
    return f"Clear-referral override by the {who} recorded with no referral open: no change."
