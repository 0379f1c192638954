"""Replays charged per caller (issue 25, OWASP API4): a coach whose changes re-evaluate more
than the budget gets 429 with Retry-After on its next write, stores nothing, and another
coach's writes go on (app/core/replay_budget.py, enforced by app/core/edge.py)."""

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Connection

from app.core.config import Settings
from app.main import create_app
from tests.conftest import (
    STARTED,
    Actor,
    assert_problem,
    enrol,
    managed_client,
    pain_body,
    signup,
)

LOGS = 60  # a managed client's history: its PATCH replays these and the enrolment


@pytest.fixture
def budgeted(connection: Connection) -> Iterator[Callable[[str], TestClient]]:
    """`budgeted("50/minute")`: a client of an app with that replay budget."""
    clients: list[TestClient] = []

    def build(budget: str) -> TestClient:
        app = create_app(Settings(replay_budget=budget), bind=connection)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def _coach_with_history(client: TestClient) -> tuple[Actor, str, str]:
    """A coach (its token seen live, so it is charged apart from its address) and a managed
    client enrolled with `LOGS` pain logs: (coach, client id, enrolment path)."""
    coach = signup(client, "coach")
    assert client.get("/v1/me", headers=coach.headers).status_code == 200
    managed = managed_client(client, coach)["id"]
    enrolment = enrol(client, coach, managed)["id"]
    logs = [
        {**pain_body(), "recorded_at": (STARTED + timedelta(days=1, hours=n)).isoformat()}
        for n in range(LOGS)
    ]
    batch = client.post(
        f"/v1/clients/{managed}/pain-logs/batch", json={"items": logs}, headers=coach.headers
    )
    assert batch.status_code == 201, batch.text
    return coach, managed, f"/v1/clients/{managed}/enrollments/{enrolment}"


def _enrolment(client: TestClient, coach: Actor, managed: str) -> dict:
    listed = client.get(f"/v1/clients/{managed}/enrollments", headers=coach.headers)
    assert listed.status_code == 200, listed.text
    [enrolment] = listed.json()["items"]
    return enrolment


def _change(client: TestClient, coach: Actor, path: str, days: int):
    return client.patch(path, json={"params": {"gate_min_days": days}}, headers=coach.headers)


def test_a_coach_past_the_budget_gets_429_and_another_coach_does_not(budgeted):
    client = budgeted("50/minute")
    greedy, managed, path = _coach_with_history(client)
    other, _, other_path = _coach_with_history(client)
    # The batch appended its logs (no stored item re-evaluated: nothing charged); the change
    # replays the whole history (LOGS and the enrolment), past the budget.
    assert _change(client, greedy, path, 10).status_code == 200
    refused = _change(client, greedy, path, 12)
    body = assert_problem(refused, 429, "too-many-requests")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "re-evaluate" in body["detail"]
    # Any write, not only the change that cost the replays; and nothing is stored.
    log = pain_body(20, id=str(uuid.uuid4()))
    pain = client.post(f"/v1/clients/{managed}/pain-logs", json=log, headers=greedy.headers)
    assert_problem(pain, 429, "too-many-requests")
    enrolment = _enrolment(client, greedy, managed)
    assert enrolment["params"]["gate_min_days"] == 10
    assert len(enrolment["param_changes"]) == 1
    logs = client.get(f"/v1/clients/{managed}/pain-logs?limit=100", headers=greedy.headers)
    assert log["id"] not in {item["id"] for item in logs.json()["items"]}
    assert len(logs.json()["items"]) == LOGS
    # Another coach, charged apart, changes its client's parameters meanwhile.
    assert _change(client, other, other_path, 10).status_code == 200


def test_a_clients_backdated_writes_are_charged_and_its_appends_are_not(budgeted):
    client = budgeted("50/minute")
    me = signup(client)
    assert client.get("/v1/me", headers=me.headers).status_code == 200
    enrol(client, me)
    for batch in range(3):  # 3 x LOGS appended: each after everything stored
        logs = [
            {
                **pain_body(),
                "recorded_at": (STARTED + timedelta(days=1 + batch, hours=n)).isoformat(),
            }
            for n in range(LOGS // 3)
        ]
        posted = client.post(
            "/v1/clients/me/pain-logs/batch", json={"items": logs}, headers=me.headers
        )
        assert posted.status_code == 201, posted.text
    # Before all of them: the write re-evaluates LOGS stored items, past the budget.
    early = {**pain_body(), "recorded_at": (STARTED + timedelta(minutes=30)).isoformat()}
    assert (
        client.post("/v1/clients/me/pain-logs", json=early, headers=me.headers).status_code == 201
    )
    late = {**pain_body(), "recorded_at": (STARTED + timedelta(days=9)).isoformat()}
    refused = client.post("/v1/clients/me/pain-logs", json=late, headers=me.headers)
    assert_problem(refused, 429, "too-many-requests")


def test_reads_are_never_refused_for_replays(budgeted):
    client = budgeted("50/minute")
    coach, managed, path = _coach_with_history(client)
    assert _change(client, coach, path, 10).status_code == 200
    assert_problem(_change(client, coach, path, 12), 429, "too-many-requests")
    assert _enrolment(client, coach, managed)["params"]["gate_min_days"] == 10
    assert client.get(f"/v1/clients/{managed}/progress", headers=coach.headers).status_code == 200


def test_within_the_budget_nothing_is_refused(budgeted):
    client = budgeted("1000/minute")
    coach, _, path = _coach_with_history(client)
    for days in (10, 12, 14):
        assert _change(client, coach, path, days).status_code == 200


def test_off_when_the_setting_is_empty(budgeted):
    client = budgeted("")
    coach, _, path = _coach_with_history(client)
    for days in (10, 12, 14, 10, 12):
        assert _change(client, coach, path, days).status_code == 200


@pytest.mark.parametrize("budget", ["lots", "0/minute"])
def test_a_bad_budget_is_refused_at_start_up(budget):
    with pytest.raises(ValidationError, match="replay_budget"):
        Settings(replay_budget=budget)
