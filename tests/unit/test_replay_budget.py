"""The replay budget's window (app/core/replay_budget.py), on a clock the test moves."""

import pytest

from app.core.replay_budget import ReplayBudget, Tally, note_replayed, tallied


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_refused_from_the_budget_until_enough_charges_leave_the_window():
    clock = Clock()
    budget = ReplayBudget("100/minute", clock)
    budget.charge("a", 60)
    assert budget.wait("a") is None  # 60 of 100
    clock.now += 10
    budget.charge("a", 50)  # charged after the fact, past the budget
    clock.now += 5
    # 110 within the window: back under 100 when the first charge (at 1000) leaves it.
    assert budget.wait("a") == pytest.approx(45)
    assert budget.wait("b") is None  # callers are charged apart
    clock.now += 45
    assert budget.wait("a") is None  # 50 left within the window


def test_one_charge_larger_than_the_budget_waits_for_itself():
    clock = Clock()
    budget = ReplayBudget("100/minute", clock)
    budget.charge("a", 12_000)
    assert budget.wait("a") == pytest.approx(60)
    clock.now += 60
    assert budget.wait("a") is None


def test_every_window_of_several_counts():
    clock = Clock()
    budget = ReplayBudget("100/minute;150/hour", clock)
    budget.charge("a", 90)
    clock.now += 61
    assert budget.wait("a") is None
    budget.charge("a", 90)  # 180 within the hour
    clock.now += 61
    assert budget.wait("a") == pytest.approx(3600 - 122)


def test_callers_whose_charges_left_the_window_are_forgotten():
    clock = Clock()
    budget = ReplayBudget("100/minute", clock)
    for n in range(3):
        budget.charge(f"caller-{n}", 10)
    budget.charge("anyone", 0)  # nothing to remember
    assert len(budget) == 3
    clock.now += 61
    budget.charge("late", 1)
    assert len(budget) == 1


def test_a_tally_counts_only_inside_its_block():
    note_replayed(5)  # outside any request: nowhere to go, nothing fails
    with tallied() as tally:
        note_replayed(3)
        note_replayed(4)
    note_replayed(9)
    assert isinstance(tally, Tally)
    assert tally.items == 7
