"""A coach's change of parameters replays the whole history outside the writer (issue 25):
what it stores is what the history holds when it is stored, whatever was written while the
engine ran.

The engine runs between a read and a write unit of work (`app/progression/history.py`). To
write at exactly that moment, these tests wrap the engine's call with one that first sends
a request of its own through the app, as another caller would: a pain log posted while the
replay runs."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.tracking import router
from tests.conftest import Actor, assert_problem, enrol, managed_client, pain_body, signup


def _meanwhile(
    monkeypatch: pytest.MonkeyPatch, write: Callable[[int], None], times: int
) -> list[int]:
    """The first `times` whole-history replays each run `write(n)` (n from 1) before the
    engine does: a write the replay read too early to see. The replays (their numbers) are
    listed in the list returned, those `write` makes itself aside."""
    replays: list[int] = []
    engine = router.replay_history
    writing = []

    def replay_history(*args: Any) -> Any:
        if not writing:
            replays.append(len(replays) + 1)
            if len(replays) <= times:
                writing.append(True)
                try:
                    write(len(replays))
                finally:
                    writing.clear()
        return engine(*args)

    monkeypatch.setattr(router, "replay_history", replay_history)
    return replays


def _coached(client: TestClient, coach: Actor | None = None) -> tuple[Actor, str, str]:
    """A coach, its new client's path and the path of the client's enrolment."""
    coach = coach or signup(client, "coach")
    managed = managed_client(client, coach, timezone="UTC")["id"]
    enrollment = enrol(client, coach, managed)
    return coach, f"/v1/clients/{managed}", f"/v1/clients/{managed}/enrollments/{enrollment['id']}"


def _log(client: TestClient, coach: Actor, ref: str, body: dict) -> None:
    posted = client.post(f"{ref}/pain-logs", json=body, headers=coach.headers)
    assert posted.status_code == 201, posted.text


def _history(client: TestClient, coach: Actor, ref: str) -> None:
    """Ten days of pain, a flare (7 during exercise) on the third."""
    for day in range(1, 11):
        _log(client, coach, ref, pain_body(day, score=7 if day == 3 else 4, context="during"))


def _decisions(client: TestClient, coach: Actor, ref: str) -> list[tuple]:
    """The current decisions as the engine makes them (what follows from the history)."""
    listed = client.get(f"{ref}/events", params={"limit": 200}, headers=coach.headers)
    assert listed.status_code == 200, listed.text
    return [
        (e["type"], e["rule"], e["at"], e["stage"], e["message"], e["data"])
        for e in listed.json()["items"]
    ]


def test_what_was_logged_while_the_history_replays_is_caught_up_with(client, monkeypatch):
    """A log written while the engine replays (day 9, a flare under either threshold) is in
    what the change stores, as if it had been written before: the change's write replays
    what followed the newest checkpoint the log left alone, without a second whole replay."""
    coach, early, early_path = _coached(client)
    _, later, later_path = _coached(client, coach)
    _history(client, coach, early)
    _history(client, coach, later)
    flare = pain_body(9, score=8, context="during", side="left")
    change = {"params": {"flare_during_max": 7}}

    _log(client, coach, early, flare)  # before the change: the reference
    assert client.patch(early_path, json=change, headers=coach.headers).status_code == 200
    replays = _meanwhile(monkeypatch, lambda _: _log(client, coach, later, flare), times=1)
    changed = client.patch(later_path, json=change, headers=coach.headers)
    assert changed.status_code == 200, changed.text
    assert replays == [1]  # one whole replay, caught up with in the change's write
    (record,) = changed.json()["param_changes"]
    assert record["after"] == {"flare_during_max": 7}

    # (Listed newest first; decisions at one moment in the order they were stored.)
    assert sorted(_decisions(client, coach, later), key=str) == sorted(
        _decisions(client, coach, early), key=str
    )
    flares = [d for d in _decisions(client, coach, later) if d[0] == "flare"]
    assert [d[2][:10] for d in flares] == [flare["recorded_at"][:10]]  # day 3's is gone
    progress = [client.get(f"{r}/progress", headers=coach.headers).json() for r in (early, later)]
    for each in progress:
        each.pop("enrollment_id")
        each.pop("client_id", None)
        each.pop("evaluated_at", None)
    assert progress[0] == progress[1]


def test_a_history_that_keeps_changing_gets_409_and_keeps_its_parameters(client, monkeypatch):
    """Another change of parameters while the engine replays changes the plan: none of the
    replay holds, it is computed again, and after three tries the change is refused."""
    coach, _, path = _coached(client)

    def another_change(n: int) -> None:
        other = client.patch(path, json={"params": {"hold_days": n + 1}}, headers=coach.headers)
        assert other.status_code == 200, other.text

    replays = _meanwhile(monkeypatch, another_change, times=router.REPLAY_TRIES)
    refused = client.patch(path, json={"params": {"flare_during_max": 7}}, headers=coach.headers)
    assert_problem(refused, 409, "history-changed")
    assert replays == list(range(1, router.REPLAY_TRIES + 1))
    listed = client.get(path.rsplit("/", 1)[0], headers=coach.headers)
    [enrollment] = listed.json()["items"]
    # The other changes were stored, each in its own write; this one was not.
    assert [c["after"] for c in enrollment["param_changes"]] == [
        {"hold_days": n + 1} for n in range(1, router.REPLAY_TRIES + 1)
    ]
    assert enrollment["params"]["flare_during_max"] != 7

    # Once quiet, the same change goes through at the first try.
    changed = client.patch(path, json={"params": {"flare_during_max": 7}}, headers=coach.headers)
    assert changed.status_code == 200, changed.text
    assert len(replays) == router.REPLAY_TRIES + 1
    assert changed.json()["params"]["flare_during_max"] == 7
