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


def _flares(client: TestClient, coach: Actor, ref: str, **query: Any) -> list[dict]:
    listed = client.get(
        f"/v1/clients/{ref}/events", params={"type": "flare", **query}, headers=coach.headers
    )
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


def _meanwhile(
    monkeypatch: pytest.MonkeyPatch, write: Callable[[int], None], times: int
) -> list[int]:
    """Each of the first `times` replays runs `write(n)` before the engine does: a write
    the replay read too early to see. Counts the replays in the list it returns."""
    replays: list[int] = []
    engine = router.replay_history

    def replay_history(*args: Any) -> Any:
        replays.append(len(replays))
        if len(replays) <= times:
            write(len(replays))
        return engine(*args)

    monkeypatch.setattr(router, "replay_history", replay_history)
    return replays


def _coached(client: TestClient) -> tuple[Actor, str, str]:
    """A coach, its client's path and the path of the client's enrolment."""
    coach = signup(client, "coach")
    managed = managed_client(client, coach, timezone="UTC")["id"]
    enrollment = enrol(client, coach, managed)
    return coach, f"/v1/clients/{managed}", f"/v1/clients/{managed}/enrollments/{enrollment['id']}"


def test_a_log_written_while_the_history_replays_is_in_what_the_change_stores(client, monkeypatch):
    coach, ref, path = _coached(client)
    managed = ref.rsplit("/", 1)[1]
    # Pain 7 during exercise: a flare under the default threshold, and not under 7.
    flare = pain_body(2, score=7, context="during")
    assert client.post(f"{ref}/pain-logs", json=flare, headers=coach.headers).status_code == 201

    def log_pain_8(_: int) -> None:  # a flare under either threshold
        worse = pain_body(20, score=8, context="during")
        posted = client.post(f"{ref}/pain-logs", json=worse, headers=coach.headers)
        assert posted.status_code == 201, posted.text

    replays = _meanwhile(monkeypatch, log_pain_8, times=1)
    changed = client.patch(path, json={"params": {"flare_during_max": 7}}, headers=coach.headers)
    assert changed.status_code == 200, changed.text
    (record,) = changed.json()["param_changes"]
    assert record["after"] == {"flare_during_max": 7}
    # Stored from the history as it stood: the day-20 flare (posted during the first
    # replay, which never saw it) stands; the day-2 one, no flare under 7, is retracted.
    [current] = _flares(client, coach, managed)
    assert current["at"].startswith(pain_body(20)["recorded_at"][:10])
    every = _flares(client, coach, managed, include_retracted="true")
    day_2 = pain_body(2)["recorded_at"][:10]
    assert [e["retracted_at"] is not None for e in every if e["at"].startswith(day_2)] == [True]
    assert record["retracted"] == sum(e["retracted_at"] is not None for e in every)
    assert len(replays) == 2  # the first found stale, the second stored


def test_a_history_that_keeps_changing_gets_409_and_keeps_its_parameters(client, monkeypatch):
    coach, ref, path = _coached(client)

    def log_pain(n: int) -> None:
        posted = client.post(f"{ref}/pain-logs", json=pain_body(n), headers=coach.headers)
        assert posted.status_code == 201, posted.text

    replays = _meanwhile(monkeypatch, log_pain, times=router.REPLAY_TRIES)
    refused = client.patch(path, json={"params": {"flare_during_max": 7}}, headers=coach.headers)
    assert_problem(refused, 409, "history-changed")
    assert len(replays) == router.REPLAY_TRIES
    [enrollment] = client.get(f"{ref}/enrollments", headers=coach.headers).json()["items"]
    assert enrollment["param_changes"] == []
    assert enrollment["params"]["flare_during_max"] != 7
    # Every log written meanwhile was stored, each by its own write.
    logs = client.get(f"{ref}/pain-logs", headers=coach.headers).json()["items"]
    assert len(logs) == router.REPLAY_TRIES

    # Once quiet, the same change goes through at the first try.
    changed = client.patch(path, json={"params": {"flare_during_max": 7}}, headers=coach.headers)
    assert changed.status_code == 200, changed.text
    assert len(replays) == router.REPLAY_TRIES + 1
    assert changed.json()["params"]["flare_during_max"] == 7
