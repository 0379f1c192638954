"""The session rule: each exercise of a session belongs to a stage open at the session's
moment. Pure, so that a logged session (app/tracking) and a simulated one
(`simulation`) are refused alike."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from app.progression.model import Plan, StageSpec


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the exercise at `index` of a session may not be logged."""

    index: int
    exercise: str
    kind: Literal["unknown-exercise", "stage-locked"]
    stage: StageSpec | None

    def message(self, plan: Plan) -> str:
        if self.stage is None:
            return (
                f"'{self.exercise}' is not an exercise of {plan.protocol} v{plan.version} "
                "(assessments are logged at /assessments)."
            )
        return (
            f"'{self.exercise}' belongs to stage '{self.stage.slug}' ({self.stage.title}), "
            "which is still locked for this client."
        )


def refusal(plan: Plan, unlocked: Collection[str], exercises: Sequence[str]) -> Refusal | None:
    """The first exercise not in a stage `unlocked` at the session's moment, if any."""
    stage_of = {slug: stage for stage in plan.stages for slug in stage.exercises}
    for index, exercise in enumerate(exercises):
        stage = stage_of.get(exercise)
        if stage is None:
            return Refusal(index, exercise, "unknown-exercise", None)
        if stage.slug not in unlocked:
            return Refusal(index, exercise, "stage-locked", stage)
    return None
