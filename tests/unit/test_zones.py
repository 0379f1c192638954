"""Local dates under a history of time zones (issue #15): each moment is dated in the zone
in force at it, dates never go back, and a date's span holds exactly its moments."""

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.progression import engine
from app.progression.model import Plan, ZoneChange
from app.progression.params import ProgressionParams

LONDON, SYDNEY, HONOLULU = "Europe/London", "Australia/Sydney", "Pacific/Honolulu"
START = datetime(2026, 9, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_each_moment_is_dated_in_the_zone_in_force():
    moves = (ZoneChange(at("2026-09-10T12:00"), SYDNEY),)
    # Before the move: London (BST). After: Sydney (AEST, UTC+10).
    assert engine.zoned_date(LONDON, moves, at("2026-09-09T23:30")) == date(2026, 9, 10)
    assert engine.zoned_date(LONDON, moves, at("2026-09-10T11:59")) == date(2026, 9, 10)
    assert engine.zoned_date(LONDON, moves, at("2026-09-10T14:00")) == date(2026, 9, 11)


def test_a_move_west_keeps_the_date_until_the_new_zone_catches_up():
    moves = (ZoneChange(at("2026-09-10T23:00"), LONDON),)  # 09:00 on the 11th in Sydney
    assert engine.zoned_date(SYDNEY, moves, at("2026-09-10T22:59")) == date(2026, 9, 11)
    # 00:30 in London on the 11th, then 23:30 on the 11th: both the 11th.
    assert engine.zoned_date(SYDNEY, moves, at("2026-09-10T23:30")) == date(2026, 9, 11)
    assert engine.zoned_date(SYDNEY, moves, at("2026-09-11T22:30")) == date(2026, 9, 11)
    assert engine.zoned_date(SYDNEY, moves, at("2026-09-11T23:30")) == date(2026, 9, 12)


def _plan(first: str, moves: tuple[ZoneChange, ...]) -> Plan:  # only its zones matter here
    return Plan("e", "p", 1, "t", (), ProgressionParams(), first, START, 5, moves)


zones = st.sampled_from([LONDON, SYDNEY, HONOLULU, "UTC", "Asia/Kolkata"])
offsets = st.lists(st.integers(min_value=1, max_value=60 * 24 * 20), min_size=0, max_size=4)


@settings(max_examples=60, deadline=None)
@given(first=zones, later=st.lists(zones, min_size=4, max_size=4), minutes=offsets)
def test_dates_never_go_back_and_spans_hold_their_moments(first, later, minutes):
    moments = sorted({START + timedelta(minutes=m) for m in minutes})
    moves = tuple(ZoneChange(m, z) for m, z in zip(moments, later, strict=False))
    plan = _plan(first, moves)
    previous = None
    probe = START - timedelta(days=1)
    while probe < START + timedelta(days=25):
        day = engine.local_date(plan, probe)
        assert previous is None or day >= previous
        start, end = engine.local_span(plan, day)
        assert start <= probe < end
        previous = day
        probe += timedelta(minutes=97)
