"""Properties of the engine over generated timelines (hypothesis)."""

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.progression import engine
from app.progression.codec import dump_state, load_state
from app.progression.model import (
    AssessmentEntry,
    Enrolled,
    Item,
    OverrideEntry,
    PainEntry,
    SessionEntry,
    position_of,
)
from tests.unit.test_engine import START, make_plan

PLAN = make_plan("Europe/Paris", min_logged_days=1, gate_min_days=5, gate_min_sessions=2)
EXERCISES = [slug for stage in PLAN.stages for slug in stage.exercises]
FLAGS = ["night_pain", "trauma_or_fall", "cannot_bear_weight"]

moments = st.builds(
    lambda day, minute: START + timedelta(days=day, minutes=minute),
    st.integers(0, 70),
    st.integers(0, 24 * 60 - 1),
)


def _pain(i: int, at, score: int, context: str, flagged: bool) -> PainEntry:
    return PainEntry(f"p{i}", at, score, context, (FLAGS[i % 3],) if flagged else ())


pains = st.builds(
    _pain,
    st.just(0),
    moments,
    st.integers(0, 10),
    st.sampled_from(["rest", "during", "after", "next_morning"]),
    st.integers(0, 19).map(lambda n: n == 0),  # a red flag now and then
)
sessions = st.builds(
    lambda at, done: SessionEntry("s", at, tuple(done)),
    moments,
    st.lists(st.sampled_from(EXERCISES), min_size=1, max_size=4, unique=True),
)
assessments = st.builds(
    lambda at, left, right: AssessmentEntry("a", at, left, right),
    moments,
    st.sampled_from(["knee_over_foot", "knee_medial_to_foot"]),
    st.sampled_from(["knee_over_foot", "knee_medial_to_foot"]),
)
overrides = st.builds(
    lambda at, action, stage: OverrideEntry("o", at, action, stage, "Because.", "coach"),
    moments,
    st.sampled_from(["unlock_stage", "clear_referral"]),
    st.sampled_from([None, *[s.slug for s in PLAN.stages]]),
)


def _numbered(items: list[Item]) -> list[Item]:
    """Give every item its own id, as stored items have."""
    out: list[Item] = []
    for index, item in enumerate(items):
        fields = {k: getattr(item, k) for k in item.__slots__}  # type: ignore[union-attr]
        fields["id"] = f"{fields['id']}{index}"
        out.append(type(item)(**fields))
    return out


@st.composite
def _days(draw: st.DrawFn) -> list[Item]:
    """A plausible history: most days a session and a pain log around a slowly moving level."""
    items: list[Item] = []
    level = draw(st.integers(2, 7))
    for day in range(draw(st.integers(0, 60))):
        at = START + timedelta(days=day, hours=draw(st.integers(1, 12)))
        if draw(st.integers(0, 9)) < 7:
            items.append(
                SessionEntry(
                    "s", at, tuple(draw(st.sampled_from([EXERCISES[:2], EXERCISES[:5], EXERCISES])))
                )
            )
        if draw(st.integers(0, 9)) < 8:
            level = min(7, max(0, level + draw(st.integers(-1, 1))))
            items.append(PainEntry("p", at + timedelta(minutes=5), level, "rest"))
    return items


noise = st.lists(st.one_of(pains, sessions, assessments, overrides), max_size=6)
timelines = st.builds(lambda days, extra: _numbered(days + extra), _days(), noise)

PROFILE = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(timelines)
def test_stages_unlock_only_in_order(items):
    _, decisions = engine.evaluate(PLAN, items)
    order = {s.slug: s.order for s in PLAN.stages}
    opened = {"release-hip-flexors", "stretch-hip-flexors"}
    for decision in decisions:
        if decision.type == "stage_unlocked":
            previous = next(s.slug for s in PLAN.stages if s.order == order[decision.stage] - 1)
            assert previous in opened, decision
            opened.add(decision.stage)


@PROFILE
@given(timelines)
def test_refer_always_blocks_unlocks(items):
    _, decisions = engine.evaluate(PLAN, items)
    referred = False
    for decision in decisions:
        if decision.type == "referral":
            referred = True
        elif decision.type == "referral_cleared":
            referred = False
        elif decision.type == "stage_unlocked":
            assert not referred, decision


@PROFILE
@given(timelines, st.randoms(use_true_random=False))
def test_any_posting_order_gives_the_same_decisions(items, random):
    shuffled = list(items)
    random.shuffle(shuffled)
    assert engine.evaluate(PLAN, shuffled) == engine.evaluate(PLAN, items)


@PROFILE
@given(timelines, st.integers(0, 80))
def test_replaying_from_a_checkpoint_equals_a_full_replay(items, cut):
    full_state, full = engine.evaluate(PLAN, items)
    ordered = sorted(items, key=position_of)
    # A checkpoint ends a moment (the last item of a day): cut after the cut item's moment.
    while 0 < cut < len(ordered) and ordered[cut].at == ordered[cut - 1].at:
        cut += 1
    head, tail = ordered[:cut], ordered[cut:]
    state, decisions = engine.evaluate(PLAN, head)
    restored = load_state(dump_state(state))  # through JSON, as checkpoints are stored
    decisions += engine.replay(PLAN, restored, tail)
    assert decisions == full
    assert restored == full_state


@PROFILE
@given(timelines)
def test_the_state_stays_bounded(items):
    state, _ = engine.evaluate(PLAN, items)
    assert len(state.day_pain) <= 14
    assert len(state.session_dates) <= 14
    assert len(state.flare_dates) <= 7


def test_an_enrolment_alone():
    state, decisions = engine.evaluate(PLAN, [])
    assert [d.type for d in decisions] == ["enrolled"]
    assert state.last == position_of(Enrolled(PLAN.enrollment_id, PLAN.started_at))


@PROFILE
@given(timelines, st.integers(0, 80))
def test_a_dumped_state_does_not_change_as_the_engine_goes_on(items, cut):
    ordered = sorted(items, key=position_of)
    state, _ = engine.evaluate(PLAN, ordered[:cut])
    dumped = dump_state(state)
    frozen = json.loads(json.dumps(dumped))
    engine.replay(PLAN, state, ordered[cut:])
    assert dumped == frozen


@st.composite
def _flagged_moments(draw: st.DrawFn) -> list[Item]:
    """A timeline with red flags logged at the moments of some of its items, most often at
    those where it opens a stage unflagged (a session's, a pain log's, an override's)."""
    items = draw(timelines)
    _, decisions = engine.evaluate(PLAN, items)
    unlocking = sorted({d.at for d in decisions if d.type == "stage_unlocked"})
    candidates = unlocking + sorted({item.at for item in items})
    if not candidates:
        return items
    for n, moment in enumerate(draw(st.lists(st.sampled_from(candidates), max_size=4))):
        score = draw(st.integers(0, 10))
        context = draw(st.sampled_from(["rest", "during", "after", "next_morning"]))
        items.append(PainEntry(f"flag{n}", moment, score, context, (FLAGS[n % 3],)))
    return items


@PROFILE
@given(_flagged_moments())
def test_a_red_flag_at_any_moment_leaves_no_unlock_at_that_moment(items):
    _, decisions = engine.evaluate(PLAN, items)
    flagged = {item.at for item in items if isinstance(item, PainEntry) and item.flags}
    for moment in flagged:
        at_moment = [d.type for d in decisions if d.at == moment]
        # Only a clearance made at that very moment, after the flag, may let a stage open.
        opened = at_moment.index("stage_unlocked") if "stage_unlocked" in at_moment else None
        if opened is not None:
            assert "referral_cleared" in at_moment[:opened], at_moment
