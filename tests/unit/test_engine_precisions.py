"""Rules v1.1 (PRODUCT.md §3, "Precisions"), as tables of cases. Each fails on the v1 engine."""

from datetime import UTC, date, datetime, timedelta

import pytest

from app.progression import engine
from app.progression.model import (
    AssessmentEntry,
    Decision,
    Item,
    OverrideEntry,
    PainEntry,
    SessionEntry,
    position_of,
)
from tests.unit.test_engine import at, day_of, make_plan, pain, plateau, session

FEET = "ankle-and-foot"


def at_moment(decisions: list[Decision], moment: datetime) -> list[tuple[str, str]]:
    return [(d.type, d.rule) for d in decisions if d.at == moment]


# --- same-moment order --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logged_with_the_session", "stopped_by"),
    [
        (PainEntry("during", at(14, 9), 7, "during"), ("flare", "flare.during")),
        (PainEntry("flag", at(14, 9), 2, "rest", ("night_pain",)), ("referral", "refer.red-flag")),
        (PainEntry("severe", at(14, 9), 9, "after"), ("referral", "refer.severe-pain")),
        (PainEntry("during", at(14, 9), 6, "during"), ("flare", "flare.during")),
    ],
    ids=["own-pain-during-flares", "red-flag", "severe-pain-after", "during-6"],
)
def test_pain_logged_with_an_unlocking_session_stops_the_unlock(
    logged_with_the_session, stopped_by
):
    # Day 14's session would open stage 3 (v1 judged it before the pain logged with it).
    items: list[Item] = [*plateau(range(1, 14)), session(14), logged_with_the_session]
    # A quiet log at the same moment too: whichever of the two sorts first, nothing opens.
    items.append(PainEntry("quiet", at(14, 9), 3, "after"))
    _, decisions = engine.evaluate(make_plan(), items)
    happened = at_moment(decisions, at(14, 9))
    assert stopped_by in happened
    assert not [d for d in happened if d[0] == "stage_unlocked"]


def test_a_session_alone_at_that_moment_still_opens_the_gate():
    _, decisions = engine.evaluate(make_plan(), [*plateau(range(1, 14)), session(14)])
    assert at_moment(decisions, at(14, 9)) == [("stage_unlocked", "gate.ankle-and-foot")]


def test_items_at_one_moment_are_evaluated_pain_assessment_session_override():
    moment = at(3)
    items: list[Item] = [
        SessionEntry("s", moment, ("hip-flexor-stretch",)),
        OverrideEntry("o", moment, "clear_referral", None, "Seen.", "coach"),
        AssessmentEntry("a", moment, "knee_over_foot", "knee_over_foot"),
        PainEntry("p", moment, 3, "rest"),
    ]
    assert [i.id for i in sorted(items, key=position_of)] == ["p", "a", "s", "o"]


# --- resolved after every item; relapse only when pain returns -----------------------------


@pytest.mark.parametrize(
    "next_item",
    [session(8), AssessmentEntry("a", at(8), "knee_over_foot", "knee_over_foot"), pain(8, 0)],
    ids=["session", "assessment", "pain-log"],
)
def test_resolved_is_judged_after_any_item(next_item):
    # On day 7 the 3 of day 1 is still in the week; on day 8 only the three 0s are.
    items = [pain(1, 3), pain(5, 0), pain(6, 0), pain(7, 0), next_item]
    state, decisions = engine.evaluate(make_plan(), items)
    assert [(d.type, day_of(d.at.date())) for d in decisions if d.type == "resolved"] == [
        ("resolved", 8)
    ]
    assert engine.status_on(state, at(8).date()) == "resolved"


@pytest.mark.parametrize(
    ("later", "relapse_on"),
    [
        ([pain(4, 2)], None),  # one day one point up: no flip
        ([pain(4, 2), pain(5, 0), pain(6, 1)], None),
        ([pain(4, 2), pain(12, 2)], None),  # 8 dates apart: never 2 in one week
        ([pain(4, 2), pain(6, 2)], 6),  # 2 of the last 7 dates
        ([pain(4, 3)], 4),  # one day at resolved_max + meaningful_drop
        ([pain(4, 2, hour=8), pain(4, 2, hour=9)], None),  # one date, whatever the logs
    ],
    ids=["single-2", "single-2-then-low", "two-2s-too-far-apart", "two-2s", "one-3", "one-date"],
)
def test_relapse_only_when_pain_returns(later, relapse_on):
    items = [pain(1, 0), pain(2, 1), pain(3, 0), *later]
    _, decisions = engine.evaluate(make_plan(), items)
    turns = [(d.type, day_of(d.at.date())) for d in decisions if d.type in ("resolved", "relapse")]
    assert turns == [("resolved", 3), *([("relapse", relapse_on)] if relapse_on else [])]


def test_a_relapse_says_why():
    _, decisions = engine.evaluate(
        make_plan(), [pain(1, 0), pain(2, 1), pain(3, 0), pain(4, 2), pain(6, 2)]
    )
    relapse = next(d for d in decisions if d.type == "relapse")
    assert relapse.message == (
        "Pain was above 1/10 on 2 of the last 7 days (highest 2/10): the protocol resumes."
    )
    assert relapse.data == {"days_above": 2, "highest": 2, "resolved_max": 1}


# --- a coach's unlock during a hold --------------------------------------------------------


@pytest.mark.parametrize(("override_day", "during_hold"), [(4, True), (6, False)])
def test_a_coach_unlock_during_a_hold_is_applied_and_says_so(override_day, during_hold):
    items = [
        pain(3, 7, "during"),  # hold through day 5
        OverrideEntry("o", at(override_day), "unlock_stage", None, "Feet now.", "coach"),
    ]
    state, decisions = engine.evaluate(make_plan(), items)
    assert state.unlocked[FEET].by == "coach"
    unlocked = next(d for d in decisions if d.type == "stage_unlocked")
    assert unlocked.data.get("during_hold", False) is during_hold
    assert ("during a hold" in unlocked.message) is during_hold
    if during_hold:
        assert unlocked.data["hold_until"] == at(5).date().isoformat()


# --- new red flags while referred ----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "new_flags"),
    [
        (
            pain(2, 3, flags=("night_pain",)),
            pain(4, 3, flags=("trauma_or_fall",)),
            ["trauma_or_fall"],
        ),
        (
            pain(2, 3, flags=("night_pain",)),
            pain(4, 3, flags=("night_pain", "fever_or_unwell")),
            ["fever_or_unwell"],
        ),
        (pain(2, 3, flags=("night_pain",)), pain(4, 3, flags=("night_pain",)), None),
        (pain(2, 9), pain(4, 3, flags=("night_pain",)), ["night_pain"]),  # referred for pain
        (pain(2, 3, flags=("night_pain",)), pain(4, 9), None),  # not a red flag
    ],
    ids=["another-flag", "one-new-of-two", "same-flag-again", "flag-after-severe", "severe-after"],
)
def test_a_new_red_flag_while_referred_is_an_event_of_its_own(first, second, new_flags):
    _, decisions = engine.evaluate(make_plan(), [first, second])
    later = [d for d in decisions if d.type == "referral" and d.at == second.at]
    if new_flags is None:
        assert later == []
        return
    assert [(d.rule, d.data) for d in later] == [
        ("refer.red-flag", {"flags": new_flags, "while_referred": True})
    ]
    assert "new warning sign" in later[0].message


def test_a_flag_told_before_a_clearance_is_new_again_after_it():
    items = [
        pain(2, 3, flags=("night_pain",)),
        OverrideEntry("c", at(3), "clear_referral", None, "Seen by a GP.", "coach"),
        pain(4, 3, flags=("night_pain",)),
    ]
    _, decisions = engine.evaluate(make_plan(), items)
    referrals = [
        (day_of(d.at.date()), d.data.get("while_referred", False))
        for d in decisions
        if d.type == "referral"
    ]
    assert referrals == [(2, False), (4, False)]


# --- messages name their true reference -----------------------------------------------------


def test_no_progress_after_a_clearance_names_the_clearance():
    items: list[Item] = [pain(d, 5) for d in range(78, 86)]
    items.append(OverrideEntry("c", at(86, 8), "clear_referral", None, "Keep going.", "client"))
    items += [pain(d, 5) for d in range(87, 172)]
    _, decisions = engine.evaluate(make_plan(), items)
    first, second = [d.message for d in decisions if d.rule == "refer.no-progress"]
    assert "pain is 5 against 6 at the start" in first
    assert "pain is 5 against 5 when the referral was cleared" in second


def test_no_progress_after_a_clearance_with_nothing_logged_names_the_starting_pain():
    items: list[Item] = [pain(1, 9)]  # referred at once
    items.append(OverrideEntry("c", at(20), "clear_referral", None, "Seen.", "coach"))
    items += [pain(d, 6) for d in range(100, 105)]
    _, decisions = engine.evaluate(make_plan(), items)
    cleared = next(d for d in decisions if d.type == "referral_cleared")
    assert (
        "measured from your starting pain 6 (no pain logged in the last 7 days)" in cleared.message
    )
    referral = next(d for d in decisions if d.rule == "refer.no-progress")
    assert "against your starting pain 6 (no pain was logged" in referral.message
    assert referral.data["measured_from"] == "clearance_without_logs"


@pytest.mark.parametrize(
    ("items", "says"),
    [
        (
            [pain(1, 5, "next_morning")],
            "no pain logged in the last 7 days, so compared with your starting pain 3",
        ),
        ([pain(1, 3), pain(2, 5, "next_morning")], "2 or more above your recent 3"),
        ([pain(1, 3), pain(9, 5, "next_morning")], "so compared with your starting pain 3"),
    ],
    ids=["nothing-logged", "recent-log", "last-log-8-days-ago"],
)
def test_a_next_morning_flare_names_what_it_compared_with(items, says):
    _, decisions = engine.evaluate(make_plan(baseline=3), items)
    flare = next(d for d in decisions if d.type == "flare")
    assert says in flare.message


# --- local dates and criteria that cannot be computed yet -----------------------------------


@pytest.mark.parametrize(
    ("timezone", "local_day"),
    [
        ("Pacific/Auckland", date(2026, 9, 5)),
        ("UTC", date(2026, 9, 4)),
        ("America/Los_Angeles", date(2026, 9, 4)),
    ],
)
def test_events_carry_the_local_date_and_the_hold_ends_on_a_local_date(timezone, local_day):
    moment = datetime(2026, 9, 4, 20, 30, tzinfo=UTC)
    _, decisions = engine.evaluate(make_plan(timezone), [PainEntry("f", moment, 7, "during")])
    flare = next(d for d in decisions if d.type == "flare")
    assert flare.day == local_day
    assert flare.data["hold_until"] == (local_day + timedelta(days=2)).isoformat()
    assert f"until the end of {flare.data['hold_until']}" in flare.message


def _criteria(items: list[Item], day: int, **params: float) -> dict[str, engine.Criterion]:
    plan = make_plan(**params)
    state, _ = engine.evaluate(plan, items)
    view = engine.progress(plan, state, at(day))
    feet = next(s for s in view.stages if s.stage.slug == FEET)
    assert feet.gate is not None
    return {c.name: c for c in feet.gate.criteria}


@pytest.mark.parametrize(
    ("items", "day", "required", "met", "note"),
    [
        # One logged day the week before: not computable, whatever the figures.
        (
            [pain(3, 5), pain(9, 6), pain(10, 7), pain(11, 6)],
            12,
            None,
            False,
            "Cannot be computed yet",
        ),
        ([pain(9, 6), pain(10, 7)], 12, None, False, "the week before 0"),
        # Computable: a threshold to compare with.
        ([pain(3, 6), pain(4, 6), pain(9, 6), pain(10, 6)], 12, "> 5", True, None),
        # The week before averaged 0.5, less than plateau_delta: no threshold below 0.
        ([pain(3, 0), pain(4, 1), pain(9, 2), pain(10, 2)], 12, "any", True, "any pain now"),
    ],
    ids=["one-day-before", "none-before", "threshold", "no-negative-threshold"],
)
def test_stopped_falling_says_when_it_cannot_be_computed(items, day, required, met, note):
    criterion = _criteria(items, day)["stopped_falling"]
    assert (criterion.required, criterion.met) == (required, met)
    assert (note in criterion.note) if note else criterion.note is None
    if required is None:
        assert criterion.actual is None


def test_pain_persists_says_when_nothing_was_logged_this_week():
    criterion = _criteria([pain(1, 5)], 12)["pain_persists"]
    assert (criterion.required, criterion.actual, criterion.met) == (None, None, False)
    assert criterion.note == "Cannot be computed yet: no pain logged in the last 7 days."
