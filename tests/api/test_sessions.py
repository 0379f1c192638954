"""Exercise sessions (with their linked pain logs) and squat self-tests."""

from datetime import timedelta

import pytest

from tests.conftest import STARTED, assert_problem

PERFORMED = (STARTED + timedelta(days=2)).isoformat()


def _session(**fields) -> dict:
    return {
        "performed_at": PERFORMED,
        "exercises": [
            {"exercise": "hip-flexor-ball-release", "duration_seconds": 90, "side": "both"},
            {"exercise": "hip-flexor-stretch", "sets": 3, "hold_seconds": 30},
        ],
        **fields,
    }


def _get(client, actor, what: str, **params) -> list[dict]:
    response = client.get(f"/v1/clients/me/{what}", params=params, headers=actor.headers)
    assert response.status_code == 200
    return response.json()["items"]


def test_a_session_makes_linked_pain_logs(client, me):
    response = client.post(
        "/v1/clients/me/sessions",
        json=_session(pain_during=4, pain_after=2, side="left", note="ok"),
        headers=me.headers,
    )
    assert response.status_code == 201
    session = response.json()
    assert session["performed_at"] == "2026-10-03T08:00:00Z"
    assert [e["exercise"] for e in session["exercises"]] == [
        "hip-flexor-ball-release",
        "hip-flexor-stretch",
    ]
    assert session["exercises"][1]["sets"] == 3
    assert (session["pain_during"], session["pain_after"], session["note"]) == (4, 2, "ok")

    logs = _get(client, me, "pain-logs")
    assert {log["id"] for log in logs} == set(session["pain_log_ids"])
    assert sorted((log["context"], log["score"], log["side"]) for log in logs) == [
        ("after", 2, "left"),
        ("during", 4, "left"),
    ]
    assert all(log["session_id"] == session["id"] for log in logs)
    assert _get(client, me, "sessions") == [session]


@pytest.mark.parametrize(
    "performed_at",
    [1791000000, "1791000000", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"],
)
@pytest.mark.parametrize("what", ["sessions", "assessments"])
def test_performed_at_must_be_an_iso_moment_in_range(client, me, what, performed_at):
    body = (
        _session(performed_at=performed_at)
        if what == "sessions"
        else {
            "kind": "squat-knee-tracking",
            "left": "knee_over_foot",
            "right": "knee_over_foot",
            "performed_at": performed_at,
        }
    )
    problem = assert_problem(
        client.post(f"/v1/clients/me/{what}", json=body, headers=me.headers), 422
    )
    assert problem["errors"][0]["loc"] == ["body", "performed_at"]
    assert _get(client, me, what) == []


def test_a_session_without_pain_scores_makes_no_pain_logs(client, me):
    response = client.post("/v1/clients/me/sessions", json=_session(), headers=me.headers)
    assert response.json()["pain_log_ids"] == []
    assert _get(client, me, "pain-logs") == []


@pytest.mark.parametrize(
    ("slug", "kind", "stage"),
    [
        ("foot-sole-ball-massage", "stage-locked", "ankle-and-foot"),
        ("underbutt-stretch", "stage-locked", "hamstrings-last-resort"),
        ("squat-knee-tracking-test", "unknown-exercise", None),
        ("knee-hug", "unknown-exercise", None),
    ],
)
def test_exercises_of_locked_stages_are_refused(client, me, slug, kind, stage):
    body = _session(pain_during=3)
    body["exercises"].append({"exercise": slug, "reps": 10})
    problem = assert_problem(
        client.post("/v1/clients/me/sessions", json=body, headers=me.headers), 422, kind
    )
    assert problem["errors"][0]["loc"] == ["body", "exercises", 2, "exercise"]
    if stage:
        assert stage in problem["detail"]
    assert _get(client, me, "sessions") == []
    assert _get(client, me, "pain-logs") == []


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"exercises": []}, ["body", "exercises"]),
        (
            {"exercises": [{"exercise": "hip-flexor-stretch", "sets": 0}]},
            ["body", "exercises", 0, "sets"],
        ),
        (
            {"exercises": [{"exercise": "hip-flexor-stretch", "sets": "3"}]},
            ["body", "exercises", 0, "sets"],
        ),
        (
            {"exercises": [{"exercise": "hip-flexor-stretch", "tempo": 2}]},
            ["body", "exercises", 0, "tempo"],
        ),
        ({"pain_during": 10.5}, ["body", "pain_during"]),
        ({"pain_after": "3"}, ["body", "pain_after"]),
        ({"performed_at": "2026-10-03 08:00"}, ["body", "performed_at"]),
        ({"performed_at": (STARTED - timedelta(hours=1)).isoformat()}, ["body", "performed_at"]),
        ({"note": "n" * 1001}, ["body", "note"]),
    ],
)
def test_refused_sessions_store_nothing(client, me, fields, loc):
    problem = assert_problem(
        client.post(
            "/v1/clients/me/sessions",
            json=_session(**{"pain_during": 2, **fields}),
            headers=me.headers,
        ),
        422,
    )
    assert loc in [e["loc"] for e in problem["errors"]]
    assert _get(client, me, "sessions") == []
    assert _get(client, me, "pain-logs") == []


def test_sessions_are_listed_newest_first_within_a_window(client, me):
    for day in (1, 5, 3):
        moment = (STARTED + timedelta(days=day)).isoformat()
        client.post(
            "/v1/clients/me/sessions",
            json=_session(performed_at=moment, pain_after=day),
            headers=me.headers,
        )
    assert [s["pain_after"] for s in _get(client, me, "sessions")] == [5, 3, 1]
    since = (STARTED + timedelta(days=2)).isoformat()
    assert [s["pain_after"] for s in _get(client, me, "sessions", since=since)] == [5, 3]
    page = client.get("/v1/clients/me/sessions", params={"limit": 2}, headers=me.headers).json()
    rest = client.get(
        "/v1/clients/me/sessions", params={"cursor": page["next_cursor"]}, headers=me.headers
    ).json()
    assert [s["pain_after"] for s in page["items"] + rest["items"]] == [5, 3, 1]


def test_a_squat_self_test(client, me):
    body = {
        "kind": "squat-knee-tracking",
        "left": "knee_over_foot",
        "right": "knee_medial_to_foot",
        "performed_at": PERFORMED,
    }
    response = client.post("/v1/clients/me/assessments", json=body, headers=me.headers)
    assert response.status_code == 201
    assessment = response.json()
    assert {k: assessment[k] for k in ("kind", "left", "right")} == {
        k: body[k] for k in ("kind", "left", "right")
    }
    assert _get(client, me, "assessments") == [assessment]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "hop-test"}, "kind"),
        ({"left": "knee_inward"}, "left"),
        ({"right": None}, "right"),
        ({"performed_at": "2026-10-03"}, "performed_at"),
    ],
)
def test_refused_assessments_store_nothing(client, me, fields, field):
    body = {
        "kind": "squat-knee-tracking",
        "left": "knee_over_foot",
        "right": "knee_over_foot",
        "performed_at": PERFORMED,
        **fields,
    }
    problem = assert_problem(
        client.post("/v1/clients/me/assessments", json=body, headers=me.headers), 422
    )
    assert problem["errors"][0]["loc"][:2] == ["body", field]
    assert _get(client, me, "assessments") == []
