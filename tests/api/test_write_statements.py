"""What a pain-log POST sends to the database (app/tracking/service.py, replay.py): the
statements of an append, counted rather than timed, and the answers they leave behind."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import Actor, assert_problem, managed_client, signup
from tests.statements import Statements

NOW = datetime.now(UTC).replace(microsecond=0)
STARTED = (NOW - timedelta(days=20)).replace(hour=0, minute=0, second=0)


def _enrol(client: TestClient, actor: Actor, ref: str = "me") -> None:
    body = {"protocol": "hip-impingement", "baseline_pain": 6, "started_at": STARTED.isoformat()}
    response = client.post(f"/v1/clients/{ref}/enrollments", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text


def _post(client: TestClient, actor: Actor, at: datetime, score: int = 3, ref: str = "me"):
    body = {"score": score, "context": "rest", "recorded_at": at.isoformat(), "side": "left"}
    return client.post(f"/v1/clients/{ref}/pain-logs", json=body, headers=actor.headers)


def _sent(sql: list[str]) -> list[str]:
    """The statements sent, without the test's SAVEPOINTs (a BEGIN and COMMIT in serving)."""
    return [s for s in sql if "SAVEPOINT" not in s.upper()]


def test_an_append_is_four_statements_on_postgresql_and_five_on_sqlite(client, engine):
    actor = signup(client, timezone="UTC")
    _enrol(client, actor)
    first = NOW - timedelta(hours=2)
    assert _post(client, actor, first).status_code == 201
    with Statements(engine) as sent:
        response = _post(client, actor, first + timedelta(minutes=1))
    assert response.status_code == 201, response.text
    statements = _sent(sent.sql)
    # The caller, the client and its enrolment (held); the log; the newest checkpoint with
    # the day's count; the checkpoint with the enrolment's standing (PostgreSQL: one
    # statement; SQLite: two, which cost it no round trip).
    expected = 3 if engine.dialect.name == "postgresql" else 5
    assert len(statements) == expected, statements
    assert "FOR NO KEY UPDATE" in statements[0] or engine.dialect.name == "sqlite"
    assert not [s for s in statements if s.lstrip().upper().startswith("DELETE")], statements


def test_what_the_lean_post_stores_is_what_the_reads_show(client):
    coach = signup(client, role="coach")
    managed = managed_client(client, coach)
    _enrol(client, coach, managed["id"])
    moments = [NOW - timedelta(days=2, hours=1), NOW - timedelta(hours=3), NOW - timedelta(hours=2)]
    for at, score in zip(moments, [4, 9, 3], strict=True):  # the 9: a severe flare
        assert _post(client, coach, at, score, managed["id"]).status_code == 201
    listed = client.get("/v1/clients", headers=coach.headers).json()["items"]
    (row,) = [item for item in listed if item["id"] == managed["id"]]
    assert datetime.fromisoformat(row["last_logged_at"]) == moments[-1]
    logs = client.get(f"/v1/clients/{managed['id']}/pain-logs", headers=coach.headers).json()
    assert [item["score"] for item in logs["items"]] == [3, 9, 4]


def test_a_client_without_an_active_enrolment_is_told_so_and_nothing_is_stored(client):
    actor = signup(client, timezone="UTC")
    assert_problem(_post(client, actor, NOW - timedelta(hours=1)), 409, "no-active-enrollment")
    _enrol(client, actor)
    logs = client.get("/v1/clients/me/pain-logs", headers=actor.headers).json()
    assert logs["items"] == []
