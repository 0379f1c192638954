"""Adherence as pure calls: the engine's decisions and sessions in, weeks and ratios out."""

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from app.progression import adherence, engine
from app.progression.model import Plan
from tests.unit.test_engine import START, make_plan, pain, plateau, session

DAY0 = START.date()


def doses_for(plan: Plan, dose: int = 5, easy: int = 3) -> adherence.Doses:
    """Every exercise at `dose` sessions a week, its easy dose at `easy`."""
    return {
        slug: ({"sessions_per_week": dose}, {"sessions_per_week": easy})
        for stage in plan.stages
        for slug in stage.exercises
    }


def weeks_of(plan: Plan, items: list, through: date, **dose: int) -> dict:
    _, decisions = engine.evaluate(plan, items)
    course = adherence.course_of((d.type, d.day, d.stage, d.data) for d in decisions)
    days = [engine.local_date(plan, i.at) for i in items if type(i).__name__ == "SessionEntry"]
    logged = adherence.logged_by_week(plan, days)
    return adherence.summary(plan, course, logged, doses_for(plan, **dose), through)


def test_two_of_five_is_0_4_and_more_than_planned_is_capped():
    plan = make_plan()
    items = [session(1), session(3), *(session(d) for d in range(7, 14))]
    stored = weeks_of(plan, items, DAY0 + timedelta(days=15))
    found = adherence.figures(stored, DAY0 + timedelta(days=15))
    assert [(w.planned, w.logged, w.ratio) for w in found.last_4_weeks] == [
        (5, 2, 0.4),
        (5, 7, 1.0),
    ]
    # The whole caps each week first: 7 of 5 does not make up for 2 of 5.
    assert found.overall == 0.7
    assert found.last_2_weeks == 0.7
    assert found.this_week is not None
    assert (found.this_week.start, found.this_week.logged) == (DAY0 + timedelta(days=14), 0)


def test_a_hold_on_the_weeks_first_date_plans_the_easy_dose():
    plan = make_plan()
    # A flare on day 6 holds days 6-8: week 1 (from day 7) starts in the hold.
    items = [pain(1, 4), pain(6, 7, "during")]
    stored = weeks_of(plan, items, DAY0 + timedelta(days=15))
    assert [w[0] for w in stored["weeks"]] == [5, 3, 5]


def test_a_referred_date_leaves_the_week_out_until_cleared():
    plan = make_plan()
    items = [session(1), pain(9, 3, flags=("night_pain",))]
    stored = weeks_of(plan, items, DAY0 + timedelta(days=30))
    assert [w[0] for w in stored["weeks"]][:2] == [5, None]
    assert stored["onwards"] is None  # still referred: every later week is left out
    found = adherence.figures(stored, DAY0 + timedelta(days=30))
    assert [w.start for w in found.last_4_weeks] == [DAY0]
    assert found.this_week is None


def test_resolved_plans_the_maintenance_dose():
    plan = make_plan()
    items = [pain(d, 1) for d in range(1, 8)]
    stored = weeks_of(plan, items, DAY0 + timedelta(days=20))
    assert stored["weeks"][0][0] == 5
    assert stored["weeks"][1][0] == engine.MAINTENANCE_SESSIONS_PER_WEEK


def test_a_stage_counts_from_the_first_week_it_is_open_on():
    plan = make_plan()
    items = plateau(range(1, 30))
    stored = weeks_of(plan, items, DAY0 + timedelta(days=30), dose=5)
    _, decisions = engine.evaluate(plan, items)
    opened = next(d.day for d in decisions if d.type == "stage_unlocked")
    course = adherence.course_of((d.type, d.day, d.stage, d.data) for d in decisions)
    assert course.opened[plan.stages[2].slug] == opened
    assert stored["weeks"][0][1] == 6  # days 1-6


def test_an_append_goes_on_from_the_stored_weeks_as_a_full_count_would():
    plan = make_plan()
    first = [session(1), pain(2, 4)]
    more = [session(8), pain(9, 7, "during"), session(10)]
    through = DAY0 + timedelta(days=11)
    state, before = engine.evaluate(plan, first)
    stored = adherence.summary(
        plan,
        adherence.course_of((d.type, d.day, d.stage, d.data) for d in before),
        adherence.logged_by_week(plan, [DAY0 + timedelta(days=1)]),
        doses_for(plan),
        through,
    )
    after = engine.replay(plan, state, more)
    went_on = adherence.go_on(
        plan,
        stored,
        ((d.type, d.day, d.stage, d.data) for d in after),
        [DAY0 + timedelta(days=8), DAY0 + timedelta(days=10)],
        doses_for(plan),
        through,
    )
    assert went_on == weeks_of(plan, [*first, *more], through)


def test_the_dashboard_stretches_follow_the_weeks_and_end_open():
    plan = make_plan()
    stored = weeks_of(plan, [session(1), session(2)], DAY0 + timedelta(days=3))
    now = datetime.combine(DAY0 + timedelta(days=3), datetime.min.time(), UTC)
    steps = adherence.steps(plan, stored, now)
    assert steps[0][0] <= now < steps[0][1]
    assert [value for _, _, value in steps] == [None, 0.4, 0.2, 0.0]
    assert steps[-1][1] == adherence.FOREVER
    for (_, until, _), (begins, _, _) in pairwise(steps):
        assert until == begins
    # Each stretch says what the read would say on its first date.
    for begins, _, value in steps:
        assert value == adherence.adherence_14d(stored, engine.local_date(plan, begins))
