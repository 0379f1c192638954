"""Every rule's clinical note, as pure calls: third person, and naming its figures, the
threshold it was held to and the rule's source where it has one."""

import re
from collections.abc import Callable

import pytest

from app.progression import engine, rules
from app.progression.model import Decision, Item, OverrideEntry, Plan
from tests.unit.test_engine import FOOT, at, make_plan, pain, plateau, session

Expect = Callable[[Plan, Decision], list[str]]


def _clear(day: int, by: str = "coach") -> OverrideEntry:
    return OverrideEntry(f"c{day}", at(day), "clear_referral", None, "Seen by a GP.", by)


def _unlock(day: int, stage: str | None = None) -> OverrideEntry:
    return OverrideEntry(f"u{day}", at(day), "unlock_stage", stage, "Knees cave in.", "coach")


def _nprs(value: float) -> str:
    return f"{int(value) if value == int(value) else value}/10"


def _feet_plateau() -> list[Item]:
    """Stage 3 opens on day 14; then daily stage-3 work on a plateau opens stage 4."""
    items = plateau(range(1, 15))
    for day in range(15, 40):
        items += [session(day, FOOT), pain(day, 5)]
    return items


# rule id: (a timeline that makes it, what its note must say given the decision)
CASES: dict[str, tuple[list[Item], Expect]] = {
    rules.ENROLLED: (
        [],
        lambda plan, d: [f"baseline NPRS {_nprs(plan.baseline_pain)}", "stage 1", "stage 2"],
    ),
    rules.GATE_ANKLE_AND_FOOT: (
        plateau(range(1, 20)),
        lambda plan, d: [
            f"{d.data['days']} days (minimum {plan.params.gate_min_days})",
            f"{d.data['sessions']} sessions (minimum {plan.params.gate_min_sessions})",
            f"7-day mean NPRS {_nprs(d.data['current_pain'])}",
            f"from {_nprs(d.data['from_pain'])}",
            f"previous week {_nprs(d.data['previous_pain'])}",
            f"resolved level of {_nprs(plan.params.resolved_max)}",
            "plateau margin 1 point",
            "engineering thresholds",
        ],
    ),
    rules.GATE_HAMSTRINGS: (
        _feet_plateau(),
        lambda plan, d: [
            "Stage 4 (",
            f"{d.data['days']} days (minimum {plan.params.gate_min_days})",
            f"{d.data['sessions']} sessions (minimum {plan.params.gate_min_sessions})",
            f"7-day mean NPRS {_nprs(d.data['current_pain'])}",
        ],
    ),
    rules.FLARE_DURING: (
        [pain(1, 3), pain(2, 7, "during")],
        lambda plan, d: [
            f"NPRS {_nprs(d.data['score'])} during exercise",
            f"the {_nprs(plan.params.flare_during_max)} limit",
            "Silbernagel 2007",
            f"hold to {d.data['hold_until']}",
        ],
    ),
    rules.FLARE_NEXT_MORNING: (
        [pain(1, 3), pain(2, 3), pain(3, 6, "next_morning")],
        lambda plan, d: [
            f"Next-morning NPRS {_nprs(d.data['score'])}",
            f"{plan.params.flare_rise} points or more above the 7-day mean of "
            f"{_nprs(d.data['reference'])}",
            "Silbernagel 2007",
            f"hold to {d.data['hold_until']}",
        ],
    ),
    rules.REFER_RED_FLAG: (
        [pain(1, 3, flags=("night_pain",)), pain(2, 3, flags=("fever_or_unwell",))],
        lambda plan, d: [
            ", ".join(f.replace("_", " ") for f in d.data["flags"]),
            "NHS musculoskeletal triage guidance",
        ],
    ),
    rules.REFER_SEVERE_PAIN: (
        [pain(1, 9)],
        lambda plan, d: [
            f"NPRS {_nprs(d.data['score'])}",
            f"severe-pain threshold of {_nprs(plan.params.severe_pain)}",
            "engineering threshold",
        ],
    ),
    rules.REFER_NO_PROGRESS: (
        plateau(range(1, 88), 6),
        lambda plan, d: [
            f"After {d.data['weeks']} weeks",
            f"review point {plan.params.no_progress_weeks} weeks",
            "Kemp 2020",
            f"7-day mean NPRS {_nprs(d.data['current_pain'])} against "
            f"{_nprs(d.data['from_pain'])} at baseline",
            f"{plan.params.meaningful_drop}-point NPRS minimal important change (Salaffi 2004)",
        ],
    ),
    rules.RESOLVED: (
        [pain(day, 1) for day in range(1, 5)],
        lambda plan, d: [
            f"at or below {_nprs(plan.params.resolved_max)}",
            f"all {d.data['logged_days']} logged days",
            f"highest {_nprs(d.data['highest'])}",
            "at least 3 logged days",
        ],
    ),
    rules.RELAPSE: (
        [*(pain(day, 1) for day in range(1, 5)), pain(6, 4)],
        lambda plan, d: [
            f"NPRS {_nprs(d.data['highest'])}",
            f"resolved level of {_nprs(plan.params.resolved_max)}",
            f"{plan.params.meaningful_drop} points",
            "Salaffi 2004",
        ],
    ),
    rules.OVERRIDE_UNLOCK_STAGE: (
        [pain(1, 5), pain(2, 7, "during"), _unlock(2)],
        lambda plan, d: [
            f"Stage 3 ({plan.stages[2].title})",
            "coach's override",
            "reason on record",
            f"hold to {d.data['hold_until']}",
        ],
    ),
    rules.OVERRIDE_CLEAR_REFERRAL: (
        [pain(1, 4), pain(2, 4, flags=("night_pain",)), _clear(3)],
        lambda plan, d: [
            "Referral cleared by the coach",
            f"{plan.params.no_progress_weeks}-week no-progress review",
            f"7-day mean NPRS {_nprs(d.data['clock_pain'])}",
        ],
    ),
}


def test_every_rule_has_a_case():
    assert set(CASES) == {rule.id for rule in rules.RULES}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_note_names_its_figures_threshold_and_source(rule: str):
    plan = make_plan()
    items, expect = CASES[rule]
    _, decisions = engine.evaluate(plan, items)
    made = [d for d in decisions if d.rule == rule and d.data.get("applied", True)]
    assert made, f"the timeline makes no {rule}"
    for decision in made:
        for words in expect(plan, decision):
            assert words in decision.note, (words, decision.note)


def test_every_note_speaks_of_the_client_in_the_third_person():
    plan = make_plan()
    for items, _ in CASES.values():
        _, decisions = engine.evaluate(plan, [*items, _unlock(100, "knees"), _clear(101)])
        for decision in decisions:
            assert decision.note, decision
            assert not re.search(r"\b(you|your)\b", decision.note, re.IGNORECASE), decision.note
            # The client's own words stay out of the note (a previous coach's reason is
            # withheld from other coaches; the note never carries it).
            assert "Knees cave in." not in decision.note
            assert "Seen by a GP." not in decision.note
