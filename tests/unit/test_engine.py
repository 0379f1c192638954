"""The progression engine by plain calls: every rule and its boundaries, as tables of cases."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.content.files import read_protocols
from app.progression import engine
from app.progression.model import (
    AssessmentEntry,
    Decision,
    Item,
    OverrideEntry,
    PainEntry,
    Plan,
    SessionEntry,
    StageSpec,
)
from app.progression.params import ProgressionParams

START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
STRETCH = "hip-flexor-stretch"
BALL = "hip-flexor-ball-release"
FOOT = "foot-sole-ball-massage"


def make_plan(
    timezone: str = "UTC", started_at: datetime = START, baseline: int = 6, **params: float
) -> Plan:
    protocol = next(p for p in read_protocols() if p.slug == "hip-impingement")
    stages = tuple(
        StageSpec(s.order, s.slug, s.title, s.unlock.by, s.unlock.rule, tuple(s.exercises))
        for s in protocol.stages
    )
    return Plan(
        enrollment_id="enrollment-1",
        protocol=protocol.slug,
        version=protocol.version,
        title=protocol.title,
        stages=stages,
        params=ProgressionParams.model_validate({**protocol.params.model_dump(), **params}),
        timezone=timezone,
        started_at=started_at,
        baseline_pain=baseline,
    )


def at(day: int, hour: int = 10, start: datetime = START) -> datetime:
    return start.replace(hour=0) + timedelta(days=day, hours=hour)


def pain(
    day: int, score: int, context: str = "rest", hour: int = 10, flags: tuple[str, ...] = ()
) -> PainEntry:
    return PainEntry(f"p{day:03d}{hour:02d}{context}", at(day, hour), score, context, flags)


def session(day: int, *exercises: str, hour: int = 9) -> SessionEntry:
    return SessionEntry(f"s{day:03d}{hour:02d}", at(day, hour), exercises or (BALL, STRETCH))


def plateau(days: range, score: int = 5) -> list[Item]:
    """Daily stage-2 sessions and the same pain every day: a plateau."""
    return [item for d in days for item in (session(d), pain(d, score))]


def unlocks(decisions: list[Decision]) -> dict[str, tuple[date, str]]:
    return {d.stage: (d.at.date(), d.rule) for d in decisions if d.type == "stage_unlocked"}


def day_of(decision_day: date) -> int:
    return (decision_day - START.date()).days


def rules_of(decisions: list[Decision]) -> list[str]:
    return [d.rule for d in decisions]


# --- gates --------------------------------------------------------------------------------


def test_enrolment_opens_stages_one_and_two():
    state, decisions = engine.evaluate(make_plan(), [])
    assert rules_of(decisions) == ["enrolled"]
    assert set(state.unlocked) == {"release-hip-flexors", "stretch-hip-flexors"}
    assert {u.by for u in state.unlocked.values()} == {"enrollment"}


@pytest.mark.parametrize(
    ("last_day", "unlocked_on"),
    [(13, None), (14, 14), (20, 14)],
    ids=["day-13-not-yet", "day-14-opens", "opens-on-day-14-not-later"],
)
def test_gate_a_needs_fourteen_days(last_day, unlocked_on):
    _, decisions = engine.evaluate(make_plan(), plateau(range(1, last_day + 1)))
    opened = unlocks(decisions).get("ankle-and-foot")
    assert (day_of(opened[0]) if opened else None) == unlocked_on
    if opened:
        assert opened[1] == "gate.ankle-and-foot"


@pytest.mark.parametrize(("sessions", "opens"), [(5, False), (6, True)])
def test_gate_a_needs_six_sessions_with_stage_two(sessions, opens):
    items = [pain(d, 5) for d in range(1, 16)] + [session(d) for d in range(1, sessions + 1)]
    _, decisions = engine.evaluate(make_plan(), items)
    assert ("ankle-and-foot" in unlocks(decisions)) is opens


def test_sessions_without_stage_two_work_do_not_count():
    items = [pain(d, 5) for d in range(1, 16)] + [session(d, BALL) for d in range(1, 15)]
    state, decisions = engine.evaluate(make_plan(), items)
    assert "ankle-and-foot" not in unlocks(decisions)
    assert state.sessions["stretch-hip-flexors"] == 0


@pytest.mark.parametrize(
    ("late_scores", "opens"),
    [((5, 5), False), ((5, 6), True), ((4, 4), False)],
    ids=["fell-exactly-plateau-delta", "fell-less-than-delta", "still-falling"],
)
def test_stopped_falling_is_strictly_above_previous_minus_delta(late_scores, opens):
    # Previous window (days 1–7): 6 and 6. Current window (days 8–14): days 13 and 14.
    items = [session(d) for d in range(1, 15)] + [pain(1, 6), pain(2, 6)]
    items += [pain(13, late_scores[0]), pain(14, late_scores[1])]
    _, decisions = engine.evaluate(make_plan(), items)
    assert ("ankle-and-foot" in unlocks(decisions)) is opens


def test_each_window_needs_min_logged_days():
    items = [session(d) for d in range(1, 15)] + [pain(3, 6), pain(13, 6), pain(14, 6)]
    _, decisions = engine.evaluate(make_plan(), items)
    assert "ankle-and-foot" not in unlocks(decisions)  # one logged day in the previous window
    _, decisions = engine.evaluate(make_plan(min_logged_days=1), items)
    assert "ankle-and-foot" in unlocks(decisions)


def test_pain_must_persist_above_resolved_max():
    _, decisions = engine.evaluate(make_plan(), plateau(range(1, 20), score=1))
    assert "ankle-and-foot" not in unlocks(decisions)


@pytest.mark.parametrize(
    ("left", "right", "unlocked_on"),
    [
        ("knee_medial_to_foot", "knee_over_foot", 7),
        ("knee_over_foot", "knee_medial_to_foot", 7),
        ("knee_over_foot", "knee_over_foot", 14),
    ],
)
def test_knees_inward_shortcut_for_gate_a(left, right, unlocked_on):
    # One logged day per window suffices here, so the day counts alone decide.
    items = [AssessmentEntry("squat", at(0, 12), left, right), pain(0, 5), *plateau(range(1, 16))]
    _, decisions = engine.evaluate(make_plan(min_logged_days=1), items)
    assert day_of(unlocks(decisions)["ankle-and-foot"][0]) == unlocked_on


def test_the_latest_squat_test_decides():
    items = [
        AssessmentEntry("first", at(0, 12), "knee_medial_to_foot", "knee_over_foot"),
        AssessmentEntry("second", at(3, 12), "knee_over_foot", "knee_over_foot"),
        *plateau(range(1, 16)),
    ]
    _, decisions = engine.evaluate(make_plan(), items)
    assert day_of(unlocks(decisions)["ankle-and-foot"][0]) == 14


def test_gate_b_follows_gate_a_without_the_shortcut():
    items = [
        AssessmentEntry("squat", at(0, 12), "knee_medial_to_foot", "knee_medial_to_foot"),
        pain(0, 5),
        *plateau(range(1, 7)),
        *[i for d in range(7, 30) for i in (session(d, STRETCH, FOOT), pain(d, 5))],
    ]
    _, decisions = engine.evaluate(make_plan(min_logged_days=1), items)
    opened = unlocks(decisions)
    assert day_of(opened["ankle-and-foot"][0]) == 7
    assert day_of(opened["hamstrings-last-resort"][0]) == 21  # 14 days after stage 3, not 7
    assert opened["hamstrings-last-resort"][1] == "gate.hamstrings-last-resort"


def test_gate_b_counts_sessions_with_stage_three_work():
    items = [*plateau(range(1, 15)), *[i for d in range(15, 40) for i in (session(d), pain(d, 5))]]
    _, decisions = engine.evaluate(make_plan(), items)
    assert "hamstrings-last-resort" not in unlocks(decisions)


def test_the_unlock_explains_itself():
    items = [*[i for d in range(1, 8) for i in (session(d), pain(d, 6))], *plateau(range(8, 15), 4)]
    items += [pain(15, 4)]
    _, decisions = engine.evaluate(make_plan(plateau_delta=3.0), items)
    event = next(d for d in decisions if d.type == "stage_unlocked")
    assert event.message == (
        "Stage 3, Work the feet and ankles, unlocked: 14 days and 14 sessions with stage 2 "
        "(Stretch the hip flexors) brought pain from 6 to 4, and it has stopped falling."
    )
    assert event.data["days"] == 14
    assert event.data["from_pain"] == 6
    assert event.data["current_pain"] == 4


# --- local dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "opens_at_instant"),
    [("Asia/Tokyo", True), ("UTC", False), ("America/Los_Angeles", False)],
    ids=["east-of-utc", "utc", "west-of-utc"],
)
def test_days_are_local_dates(timezone, opens_at_instant):
    start = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    plan = make_plan(timezone, started_at=start)
    instant = datetime(2026, 9, 14, 20, 0, tzinfo=UTC)  # Tokyo: the 15th; UTC, LA: the 14th
    items: list[Item] = []
    for d in range(1, 14):
        moment = start + timedelta(days=d)
        items += [SessionEntry(f"s{d}", moment, (STRETCH,)), PainEntry(f"p{d}", moment, 5, "rest")]
    items.append(PainEntry("edge", instant, 5, "rest"))
    _, decisions = engine.evaluate(plan, items)
    opened = [d for d in decisions if d.type == "stage_unlocked"]
    assert bool(opened and opened[0].at == instant) is opens_at_instant


def test_days_are_counted_across_a_dst_change():
    # London leaves summer time on 25 October 2026: local midnight moves from 23:00 to 00:00 UTC.
    start = datetime(2026, 10, 20, 23, 30, tzinfo=UTC)  # 21 Oct 00:30 BST
    plan = make_plan("Europe/London", started_at=start)
    items: list[Item] = []
    for d in range(1, 13):
        moment = start + timedelta(days=d, hours=1)
        items += [SessionEntry(f"s{d}", moment, (STRETCH,)), PainEntry(f"p{d}", moment, 5, "rest")]
    day_13 = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)  # 3 Nov 23:30 GMT: local day 13
    day_14 = datetime(2026, 11, 4, 0, 30, tzinfo=UTC)  # 4 Nov 00:30 GMT: local day 14
    items += [PainEntry("d13", day_13, 5, "rest"), PainEntry("d14", day_14, 5, "rest")]
    _, decisions = engine.evaluate(plan, items)
    opened = next(d for d in decisions if d.type == "stage_unlocked")
    assert opened.at == day_14
    assert day_13.astimezone(ZoneInfo("Europe/London")).date() == date(2026, 11, 3)


# --- flares and holds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        (pain(10, 6, "during"), "flare.during"),
        (pain(10, 5, "during"), None),  # up to 5/10 during exercise is acceptable
        (pain(10, 7, "next_morning"), "flare.next-morning"),  # recent pain 5, +2
        (pain(10, 6, "next_morning"), None),
        (pain(10, 7, "after"), None),
    ],
)
def test_flare_rules(entry, rule):
    _, decisions = engine.evaluate(make_plan(), [*plateau(range(1, 10)), entry])
    flares = [d.rule for d in decisions if d.type == "flare"]
    assert flares == ([rule] if rule else [])


def test_a_next_morning_flare_without_recent_logs_compares_with_the_baseline():
    _, decisions = engine.evaluate(make_plan(baseline=3), [pain(1, 5, "next_morning")])
    assert [d.rule for d in decisions if d.type == "flare"] == ["flare.next-morning"]


def test_a_hold_spans_the_flare_date_and_the_next_two_and_blocks_unlocks():
    items = [*plateau(range(1, 20)), pain(13, 7, "during", hour=20)]
    state, decisions = engine.evaluate(make_plan(), items)
    assert state.hold_until == at(15).date()
    for day, expected in [(13, "hold"), (14, "hold"), (15, "hold"), (16, "progressing")]:
        assert engine.status_on(state, at(day).date()) == expected
    # Criteria were met from day 14, but the hold kept stage 3 shut until day 16.
    assert day_of(unlocks(decisions)["ankle-and-foot"][0]) == 16


def test_two_flares_within_a_week_advise_a_clinician():
    items = [*plateau(range(1, 10)), pain(3, 7, "during", 20), pain(8, 7, "during", 20)]
    state, decisions = engine.evaluate(make_plan(), items)
    flares = [d for d in decisions if d.type == "flare"]
    assert [f.data["see_clinician"] for f in flares] == [False, True]
    assert "clinician" in flares[1].message
    view = engine.progress(make_plan(), state, at(9))
    assert any("clinician" in advice for advice in view.advice)


# --- referrals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        (pain(5, 3, flags=("night_pain",)), "refer.red-flag"),
        (pain(5, 0, flags=("numbness_or_tingling", "fever_or_unwell")), "refer.red-flag"),
        (pain(5, 8), "refer.severe-pain"),
        (pain(5, 10, "during"), "refer.severe-pain"),
        (pain(5, 7), None),
    ],
)
def test_referral_rules(entry, rule):
    state, decisions = engine.evaluate(make_plan(), [*plateau(range(1, 5)), entry])
    assert [d.rule for d in decisions if d.type == "referral"] == ([rule] if rule else [])
    assert (engine.status_on(state, at(5).date()) == "refer") is bool(rule)


def test_a_referral_blocks_unlocks_until_a_coach_clears_it():
    items = [*plateau(range(1, 25)), pain(3, 2, flags=("trauma_or_fall",), hour=20)]
    _, decisions = engine.evaluate(make_plan(), items)
    assert "ankle-and-foot" not in unlocks(decisions)

    clear = OverrideEntry("clear", at(20, 8), "clear_referral", None, "Seen by a physio.", "coach")
    state, decisions = engine.evaluate(make_plan(), [*items, clear])
    # The clearance itself lets the waiting gate open.
    assert [d.type for d in decisions if d.position.id == "clear"] == [
        "referral_cleared",
        "stage_unlocked",
    ]
    assert day_of(unlocks(decisions)["ankle-and-foot"][0]) == 20
    assert state.referral is None


@pytest.mark.parametrize(
    ("pain_then", "referred"),
    [(5, True), (4, False), (3, False)],
    ids=["fell-1", "fell-2-exactly", "fell-3"],
)
def test_no_progress_after_twelve_weeks(pain_then, referred):
    items = [pain(d, pain_then) for d in range(78, 85)]  # 12 weeks = day 84
    _, decisions = engine.evaluate(make_plan(), items)
    referrals = [d for d in decisions if d.rule == "refer.no-progress"]
    assert bool(referrals) is referred
    if referred:
        assert day_of(referrals[0].at.date()) == 84


def test_after_a_clearance_the_no_progress_clock_restarts_from_the_pain_then():
    items: list[Item] = [pain(d, 5) for d in range(78, 86)]
    clear = OverrideEntry(
        "clear", at(86, 8), "clear_referral", None, "Physio: keep going.", "client"
    )
    later = [pain(d, 5) for d in range(87, 200)]
    _, decisions = engine.evaluate(make_plan(), [*items, clear, *later])
    referrals = [day_of(d.at.date()) for d in decisions if d.type == "referral"]
    assert referrals == [84, 86 + 84]  # not again the next day: the clock restarted at 86


def test_status_precedence():
    items = [*plateau(range(1, 5), 1), pain(5, 1), pain(6, 1)]
    state, _ = engine.evaluate(make_plan(), items)
    assert engine.status_on(state, at(6).date()) == "resolved"
    state, _ = engine.evaluate(make_plan(), [*items, pain(6, 6, "during", 20)])
    # A during flare also ends "resolved" (pain above 1); the hold shows.
    assert engine.status_on(state, at(6).date()) == "hold"
    state, _ = engine.evaluate(make_plan(), [*items, pain(6, 6, "during", 20), pain(6, 9, hour=21)])
    assert engine.status_on(state, at(6).date()) == "refer"
    resolved_on_hold = replace(state, referral=None, resolved=True)
    assert engine.status_on(resolved_on_hold, at(6).date()) == "hold"


# --- resolved and relapse -----------------------------------------------------------------


def test_resolved_then_relapse():
    items = [pain(1, 1), pain(3, 0), pain(4, 1), pain(9, 3)]
    _, decisions = engine.evaluate(make_plan(), items)
    assert [
        (d.rule, day_of(d.at.date())) for d in decisions if d.type in ("resolved", "relapse")
    ] == [
        ("resolved", 4),
        ("relapse", 9),
    ]


def test_two_low_days_are_not_enough_to_resolve():
    _, decisions = engine.evaluate(make_plan(), [pain(1, 1), pain(3, 0)])
    assert "resolved" not in rules_of(decisions)


# --- overrides ----------------------------------------------------------------------------


def test_a_coach_unlocks_a_stage_and_those_before_it():
    item = OverrideEntry(
        "o1", at(2), "unlock_stage", "hamstrings-last-resort", "Tight hamstrings.", "coach"
    )
    state, decisions = engine.evaluate(make_plan(), [item])
    assert {s: u.by for s, u in state.unlocked.items()}["hamstrings-last-resort"] == "coach"
    assert state.unlocked["ankle-and-foot"].by == "coach"
    assert [(d.stage, d.rule) for d in decisions if d.type == "stage_unlocked"] == [
        ("ankle-and-foot", "override.unlock-stage"),
        ("hamstrings-last-resort", "override.unlock-stage"),
    ]


def test_an_unlock_while_referred_changes_nothing():
    items = [pain(1, 9), OverrideEntry("o1", at(2), "unlock_stage", None, "Try feet.", "coach")]
    state, decisions = engine.evaluate(make_plan(), items)
    assert "ankle-and-foot" not in state.unlocked
    assert decisions[-1].type == "override"
    assert decisions[-1].data == {"applied": False}


# --- reads --------------------------------------------------------------------------------


def test_progress_shows_the_next_gate_as_of_now():
    state, _ = engine.evaluate(make_plan(), plateau(range(1, 10)))
    view = engine.progress(make_plan(), state, at(10))
    locked = [s for s in view.stages if s.unlock is None]
    assert [s.stage.slug for s in locked] == ["ankle-and-foot", "hamstrings-last-resort"]
    assert locked[1].gate is None  # only the next stage has a gate to show
    criteria = {c.name: c for c in locked[0].gate.criteria}
    assert (
        criteria["days_on_previous_stage"].required,
        criteria["days_on_previous_stage"].actual,
    ) == (14, 10)
    assert criteria["days_on_previous_stage"].met is False
    assert criteria["sessions_with_previous_stage"].actual == 9
    assert locked[0].gate.ready is False
    # As of day 14 every criterion is met: the stage opens with the next check-in.
    later = engine.progress(make_plan(), state, at(14))
    assert later.stages[2].gate.ready is True
    assert later.stages[2].unlock is None


DOSES = {
    slug: (
        {"sets": 3, "per_side": True, "sessions_per_week": 5},
        {"sets": 1, "per_side": True, "sessions_per_week": 5},
    )
    for slug in (
        BALL,
        STRETCH,
        FOOT,
        "toe-and-foot-stretches",
        "midfoot-weight-shift",
        "hamstring-ball-massage",
        "hamstring-stretch",
        "underbutt-stretch",
    )
}


def test_today_follows_the_status():
    plan = make_plan()
    state, _ = engine.evaluate(plan, plateau(range(1, 5)))
    normal = engine.today(plan, state, at(5).date(), DOSES)
    assert [(r.stage.order, r.exercise) for r in normal.routine] == [(1, BALL), (2, STRETCH)]
    assert normal.routine[0].dose["sets"] == 3

    flared, _ = engine.evaluate(plan, [*plateau(range(1, 5)), pain(4, 6, "during", 20)])
    easy = engine.today(plan, flared, at(5).date(), DOSES)
    assert (easy.status, easy.routine[0].dose["sets"]) == ("hold", 1)

    referred, _ = engine.evaluate(plan, [pain(1, 9)])
    stop = engine.today(plan, referred, at(2).date(), DOSES)
    assert (stop.status, stop.routine) == ("refer", ())
    assert any("clinician" in a for a in stop.advice)

    resolved, _ = engine.evaluate(plan, [pain(1, 0), pain(2, 1), pain(3, 0)])
    upkeep = engine.today(plan, resolved, at(4).date(), DOSES)
    assert upkeep.status == "resolved"
    assert {r.dose["sessions_per_week"] for r in upkeep.routine} == {2}


def test_check_ins_due():
    plan = make_plan()
    state, _ = engine.evaluate(plan, [session(3)])
    due = engine.today(plan, state, at(4).date(), DOSES).check_ins_due
    assert [c["context"] for c in due] == ["next_morning", "rest"]
    state, _ = engine.evaluate(plan, [session(3), pain(4, 3, "next_morning", hour=7)])
    assert engine.today(plan, state, at(4).date(), DOSES).check_ins_due == ()


def test_an_items_position_does_not_depend_on_enum_or_string_values():
    from app.progression.model import position_of
    from app.tracking.schemas import PainContext

    as_enum = PainEntry("x", at(1), 3, PainContext.rest)  # type: ignore[arg-type]
    assert position_of(as_enum) == position_of(PainEntry("x", at(1), 3, "rest"))
