"""Enrolling a client in a protocol version."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import STARTED, assert_problem, enrol, managed_client, signup


def _list(client, actor, ref="me") -> list[dict]:
    return client.get(f"/v1/clients/{ref}/enrollments", headers=actor.headers).json()["items"]


def test_enrolment_shape(client):
    me = signup(client)
    enrollment = enrol(client, me)
    assert enrollment["client_id"] == me.client_id
    assert (enrollment["protocol"], enrollment["version"], enrollment["status"]) == (
        "hip-impingement",
        1,
        "active",
    )
    assert enrollment["baseline_pain"] == 6
    assert enrollment["started_at"] == "2026-10-01T08:00:00Z"
    assert enrollment["params"]["gate_min_days"] == 14
    assert _list(client, me) == [enrollment]


def test_started_at_defaults_to_the_start_of_the_local_day_in_utc(client):
    me = signup(client)  # Europe/London
    response = client.post(
        "/v1/clients/me/enrollments",
        json={"protocol": "hip-impingement", "baseline_pain": 5},
        headers=me.headers,
    )
    assert response.status_code == 201
    assert response.json()["started_at"].endswith("Z")
    started = datetime.fromisoformat(response.json()["started_at"])
    london = ZoneInfo("Europe/London")
    midnight = datetime.combine(datetime.now(london).date(), time.min, tzinfo=london)
    assert started == midnight.astimezone(UTC)


def test_offsets_are_normalised_to_utc(client):
    me = signup(client)
    enrollment = enrol(client, me, started_at="2026-10-01T10:00:00+02:00")
    assert enrollment["started_at"] == "2026-10-01T08:00:00Z"


def test_a_second_active_enrolment_is_a_409(client):
    me = signup(client)
    enrol(client, me)
    response = client.post(
        "/v1/clients/me/enrollments",
        json={"protocol": "hip-impingement", "baseline_pain": 3},
        headers=me.headers,
    )
    assert_problem(response, 409, "enrollment-exists")
    assert len(_list(client, me)) == 1


def test_a_coach_may_set_parameters(client):
    coach = signup(client, "coach")
    managed = managed_client(client, coach)
    enrollment = enrol(
        client, coach, managed["id"], params={"gate_min_days": 10, "plateau_delta": 0.5}
    )
    assert enrollment["params"]["gate_min_days"] == 10
    assert enrollment["params"]["plateau_delta"] == 0.5
    assert enrollment["params"]["severe_pain"] == 8  # the rest keep the protocol's defaults


def test_a_client_may_not_set_parameters(client):
    me = signup(client)
    response = client.post(
        "/v1/clients/me/enrollments",
        json={"protocol": "hip-impingement", "baseline_pain": 6, "params": {"severe_pain": 9}},
        headers=me.headers,
    )
    body = assert_problem(response, 403, "coach-only")
    assert body["errors"][0]["loc"] == ["body", "params"]
    assert _list(client, me) == []


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"baseline_pain": 11}, ["body", "baseline_pain"]),
        ({"baseline_pain": "6"}, ["body", "baseline_pain"]),
        ({"baseline_pain": 5.5}, ["body", "baseline_pain"]),
        ({"baseline_pain": True}, ["body", "baseline_pain"]),
        ({"baseline_pain": None}, ["body", "baseline_pain"]),
        ({"protocol": "Hip Impingement"}, ["body", "protocol"]),
        ({"started_at": "2026-10-01T08:00:00"}, ["body", "started_at"]),
        (
            {"started_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
            ["body", "started_at"],
        ),
        ({"started_at": "9999-12-31T23:00:00-05:00"}, ["body", "started_at"]),
        ({"started_at": 1791000000}, ["body", "started_at"]),
        ({"started_at": "1791000000"}, ["body", "started_at"]),
        ({"params": {"gate_min_days": 0}}, ["body", "params", "gate_min_days"]),
        ({"params": {"severe_pain": 11}}, ["body", "params", "severe_pain"]),
        ({"params": {"severe_pain": "8"}}, ["body", "params", "severe_pain"]),
        ({"params": {"sleep_hours": 8}}, ["body", "params", "sleep_hours"]),
        ({"status": "ended"}, ["body", "status"]),
    ],
)
def test_refused_enrolments_name_the_field_and_store_nothing(client, fields, loc):
    coach = signup(client, "coach")
    managed = managed_client(client, coach)
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        **fields,
    }
    response = client.post(
        f"/v1/clients/{managed['id']}/enrollments", json=body, headers=coach.headers
    )
    problem = assert_problem(response, 422)
    assert loc in [e["loc"] for e in problem["errors"]]
    assert _list(client, coach, managed["id"]) == []


def test_a_start_just_ahead_is_refused_too(client):
    # No drift allowance for a start. Computed here, not in the parameters above: those are
    # computed when the tests are collected, minutes before a full run gets to them.
    coach = signup(client, "coach")
    managed = managed_client(client, coach)
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    response = client.post(
        f"/v1/clients/{managed['id']}/enrollments",
        json={"protocol": "hip-impingement", "baseline_pain": 6, "started_at": soon},
        headers=coach.headers,
    )
    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "started_at"]]
    assert _list(client, coach, managed["id"]) == []


def test_unknown_protocol_or_version(client):
    me = signup(client)
    unknown = client.post(
        "/v1/clients/me/enrollments",
        json={"protocol": "knee-pain", "baseline_pain": 4},
        headers=me.headers,
    )
    assert assert_problem(unknown, 422, "unknown-protocol")["errors"][0]["loc"] == [
        "body",
        "protocol",
    ]
    version = client.post(
        "/v1/clients/me/enrollments",
        json={"protocol": "hip-impingement", "version": 9, "baseline_pain": 4},
        headers=me.headers,
    )
    assert assert_problem(version, 422, "unknown-protocol")["errors"][0]["loc"] == [
        "body",
        "version",
    ]
    assert _list(client, me) == []


def test_logging_without_an_enrolment_is_a_409(client):
    me = signup(client)
    response = client.post(
        "/v1/clients/me/pain-logs",
        json={"score": 3, "context": "rest", "recorded_at": STARTED.isoformat(), "side": "left"},
        headers=me.headers,
    )
    assert_problem(response, 409, "no-active-enrollment")
