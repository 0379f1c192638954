"""Enrolments that end and follow one another, a coach's change of parameters, the default
start, and deleting sessions and assessments (issue #15)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import STARTED, Actor, assert_problem, enrol, managed_client, pain_body, signup

END = {"outcome": "completed", "reason": "Pain-free for a month."}


def _events(client: TestClient, actor: Actor, ref: str = "me", **query: Any) -> list[dict]:
    listed = client.get(
        f"/v1/clients/{ref}/events", params={"limit": 200, **query}, headers=actor.headers
    )
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


def test_an_enrolment_ends_and_another_follows_both_histories_readable(client):
    sam = signup(client)
    first = enrol(client, sam)
    logged = client.post("/v1/clients/me/pain-logs", json=pain_body(1), headers=sam.headers)
    assert logged.status_code == 201
    path = f"/v1/clients/me/enrollments/{first['id']}/end"

    for body in ({"outcome": "finished", "reason": "x" * 5}, {"outcome": "completed"}, {}):
        assert_problem(client.post(path, json=body, headers=sam.headers), 422)
    assert (
        client.get("/v1/clients/me/enrollments", headers=sam.headers).json()["items"][0]["status"]
        == "active"
    )

    ended = client.post(path, json=END, headers=sam.headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    assert ended.json()["outcome"] == "completed"
    assert ended.json()["end_reason"] == END["reason"]
    assert ended.json()["ended_by"]["account_id"] == sam.account["id"]
    assert client.post(path, json=END, headers=sam.headers).json() == ended.json()  # a retry
    other_end = {"outcome": "withdrawn", "reason": "Changed my mind."}
    assert_problem(client.post(path, json=other_end, headers=sam.headers), 409, "enrollment-ended")

    # Ended: logging needs a new enrolment; the old progress is still shown.
    refused = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=sam.headers)
    assert_problem(refused, 409, "no-active-enrollment")
    progress = client.get("/v1/clients/me/progress", headers=sam.headers)
    assert progress.json()["enrollment_id"] == first["id"]

    # The next one starts once this one ended, never before (the two never overlap).
    early = {"protocol": "hip-impingement", "baseline_pain": 3}
    early["started_at"] = (STARTED + timedelta(days=10)).isoformat()
    overlapping = client.post("/v1/clients/me/enrollments", json=early, headers=sam.headers)
    problem = assert_problem(overlapping, 422, "overlaps-previous-enrollment")
    assert problem["errors"][0]["loc"] == ["body", "started_at"]
    second = enrol(client, sam, baseline_pain=3, started_at=ended.json()["ended_at"])
    now = {**pain_body(), "recorded_at": datetime.now(UTC).isoformat()}
    assert client.post("/v1/clients/me/pain-logs", json=now, headers=sam.headers).status_code == 201
    listed = client.get("/v1/clients/me/enrollments", headers=sam.headers).json()["items"]
    assert [(e["id"], e["status"]) for e in listed] == [
        (second["id"], "active"),
        (first["id"], "ended"),
    ]
    progress = client.get("/v1/clients/me/progress", headers=sam.headers).json()
    assert progress["enrollment_id"] == second["id"]
    assert progress["baseline_pain"] == 3
    assert len(_events(client, sam, type="enrolled")) == 2
    logs = client.get("/v1/clients/me/pain-logs", headers=sam.headers).json()["items"]
    assert {log["enrollment_id"] for log in logs} == {first["id"], second["id"]}
    assert_problem(client.post(path, json=END, headers=signup(client).headers), 404)


def test_a_coach_changes_parameters_and_the_engine_replays(client):
    coach = signup(client, "coach")
    managed = managed_client(client, coach, timezone="UTC")["id"]
    enrollment = enrol(client, coach, managed)
    ref = f"/v1/clients/{managed}"
    # Pain 7 during exercise: a flare under the default threshold.
    flare = pain_body(2, score=7, context="during")
    assert client.post(f"{ref}/pain-logs", json=flare, headers=coach.headers).status_code == 201
    assert [e["type"] for e in _events(client, coach, managed, type="flare")] == ["flare"]

    path = f"{ref}/enrollments/{enrollment['id']}"
    threshold = {"params": {"flare_during_max": 7}}
    assert_problem(
        client.patch(path, json={"params": {"flare_during_max": 99}}, headers=coach.headers), 422
    )
    assert_problem(client.patch(path, json={"params": {"nope": 1}}, headers=coach.headers), 422)
    changed = client.patch(path, json=threshold, headers=coach.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["params"]["flare_during_max"] == 7
    (record,) = changed.json()["param_changes"]
    assert record["before"] == {}
    assert record["after"] == {"flare_during_max": 7}
    assert record["retracted"] >= 1
    assert record["actor"]["account_id"] == coach.account["id"]
    assert _events(client, coach, managed, type="flare") == []
    retracted = _events(client, coach, managed, type="flare", include_retracted="true")
    assert retracted[0]["retracted_at"] is not None

    again = client.patch(path, json=threshold, headers=coach.headers)
    assert again.json()["param_changes"] == changed.json()["param_changes"]  # nothing new


def test_only_a_coach_changes_parameters_and_not_after_the_end(client):
    sam = signup(client)
    enrollment = enrol(client, sam)
    path = f"/v1/clients/me/enrollments/{enrollment['id']}"
    assert_problem(
        client.patch(path, json={"params": {"flare_during_max": 7}}, headers=sam.headers), 403
    )
    coach = signup(client, "coach")
    managed = managed_client(client, coach)["id"]
    mine = enrol(client, coach, managed)
    client.post(
        f"/v1/clients/{managed}/enrollments/{mine['id']}/end", json=END, headers=coach.headers
    )
    ended = client.patch(
        f"/v1/clients/{managed}/enrollments/{mine['id']}",
        json={"params": {"flare_during_max": 7}},
        headers=coach.headers,
    )
    assert_problem(ended, 409, "enrollment-ended")


def test_the_default_start_is_the_start_of_the_local_day(client):
    sam = signup(client, timezone="Pacific/Auckland")
    enrollment = client.post(
        "/v1/clients/me/enrollments",
        json={"protocol": "hip-impingement", "baseline_pain": 5},
        headers=sam.headers,
    ).json()
    started = datetime.fromisoformat(enrollment["started_at"])
    from zoneinfo import ZoneInfo

    local = started.astimezone(ZoneInfo("Pacific/Auckland"))
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert local.date() == datetime.now(UTC).astimezone(ZoneInfo("Pacific/Auckland")).date()
    # A log from earlier today counts.
    morning = {**pain_body(), "recorded_at": (started + timedelta(minutes=1)).isoformat()}
    assert (
        client.post("/v1/clients/me/pain-logs", json=morning, headers=sam.headers).status_code
        == 201
    )


def test_a_re_enrolment_by_default_starts_when_the_previous_one_ended(client):
    """Ended this morning, then moved a zone back: the start of the new local day comes
    before the end, and the new enrolment must not (issue 22, item 6)."""
    sam = signup(client, timezone="Pacific/Kiritimati")  # UTC+14: today began long ago
    first = enrol(client, sam, started_at=(datetime.now(UTC) - timedelta(days=3)).isoformat())
    path = f"/v1/clients/me/enrollments/{first['id']}/end"
    ended = client.post(path, json=END, headers=sam.headers)
    assert ended.status_code == 200, ended.text
    moved = client.patch("/v1/me", json={"timezone": "Pacific/Pago_Pago"}, headers=sam.headers)
    assert moved.status_code == 200, moved.text
    again = client.post(
        "/v1/clients/me/enrollments",
        json={"protocol": "hip-impingement", "baseline_pain": 4},
        headers=sam.headers,
    )
    assert again.status_code == 201, again.text
    ended_at = datetime.fromisoformat(ended.json()["ended_at"])
    assert datetime.fromisoformat(again.json()["started_at"]) >= ended_at


def _session(day: int, **fields: Any) -> dict:
    return {
        "performed_at": (STARTED + timedelta(days=day, hours=10)).isoformat(),
        "exercises": [{"exercise": "hip-flexor-stretch"}],
        **fields,
    }


def test_deleting_a_session_removes_its_pain_and_reevaluates(client):
    sam = signup(client)
    enrol(client, sam)
    made = client.post(
        "/v1/clients/me/sessions", json=_session(2, pain_during=7), headers=sam.headers
    )
    assert made.status_code == 201, made.text
    session = made.json()
    assert [e["type"] for e in _events(client, sam, type="flare")] == ["flare"]

    other = signup(client)
    assert_problem(
        client.delete(f"/v1/clients/me/sessions/{session['id']}", headers=other.headers), 404
    )
    assert_problem(client.delete("/v1/clients/me/sessions/not-an-id", headers=sam.headers), 404)
    deleted = client.delete(f"/v1/clients/me/sessions/{session['id']}", headers=sam.headers)
    assert deleted.status_code == 204
    assert client.get("/v1/clients/me/sessions", headers=sam.headers).json()["items"] == []
    assert client.get("/v1/clients/me/pain-logs", headers=sam.headers).json()["items"] == []
    assert _events(client, sam, type="flare") == []
    retracted = _events(client, sam, type="flare", include_retracted="true")
    assert [e["retracted_at"] is not None for e in retracted] == [True]
    assert_problem(
        client.delete(f"/v1/clients/me/sessions/{session['id']}", headers=sam.headers), 404
    )
    # Its id stays spent: a late retry of the create does not bring it back.
    retried = client.post(
        "/v1/clients/me/sessions",
        json={"id": session["id"], **_session(2, pain_during=7)},
        headers=sam.headers,
    )
    assert_problem(retried, 409, "id-conflict")


def test_deleting_an_assessment_reevaluates(client):
    sam = signup(client)
    enrol(client, sam)
    body = {
        "kind": "squat-knee-tracking",
        "left": "knee_over_foot",
        "right": "knee_over_foot",
        "performed_at": (STARTED + timedelta(days=3)).isoformat(),
    }
    made = client.post("/v1/clients/me/assessments", json=body, headers=sam.headers)
    assert made.status_code == 201, made.text
    ident = made.json()["id"]
    assert (
        client.delete(f"/v1/clients/me/assessments/{ident}", headers=sam.headers).status_code == 204
    )
    assert client.get("/v1/clients/me/assessments", headers=sam.headers).json()["items"] == []
    assert_problem(client.delete(f"/v1/clients/me/assessments/{ident}", headers=sam.headers), 404)
