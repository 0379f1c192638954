"""Adherence through HTTP: progress's weeks, the coach's list and its `adherence_below=`."""

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from app.accounts.access import ClientAccess
from app.models import EngineEvent, Enrollment
from app.progression import replay, views
from tests.conftest import Actor, assert_problem, managed_client, signup

EARLY = ["hip-flexor-ball-release", "hip-flexor-stretch"]  # 5 sessions a week each


def _enrol(client: TestClient, coach: Actor, days_ago: int, name: str) -> tuple[str, datetime]:
    managed = managed_client(client, coach, display_name=name, timezone="UTC")["id"]
    started = datetime.now(UTC) - timedelta(days=days_ago)
    body = {"protocol": "hip-impingement", "baseline_pain": 5, "started_at": started.isoformat()}
    response = client.post(f"/v1/clients/{managed}/enrollments", json=body, headers=coach.headers)
    assert response.status_code == 201, response.text
    return managed, started


def _sessions(client: TestClient, coach: Actor, ref: str, moments: list[datetime]) -> None:
    for at in moments:
        body = {"performed_at": at.isoformat(), "exercises": [{"exercise": e} for e in EARLY]}
        response = client.post(f"/v1/clients/{ref}/sessions", json=body, headers=coach.headers)
        assert response.status_code == 201, response.text


def _progress(client: TestClient, coach: Actor, ref: str) -> dict:
    response = client.get(f"/v1/clients/{ref}/progress", headers=coach.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _listed(client: TestClient, coach: Actor, **params) -> dict[str, dict]:
    response = client.get("/v1/clients", params=params, headers=coach.headers)
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def test_two_of_five_planned_sessions_last_week_is_0_4_and_found_below_0_5(client):
    coach = signup(client, "coach")
    # Started 8 days ago: one complete week behind, the second week under way.
    lagging, started = _enrol(client, coach, 8, "Lagging")
    _sessions(client, coach, lagging, [started + timedelta(days=1), started + timedelta(days=3)])
    keen, keen_started = _enrol(client, coach, 8, "Keen")
    _sessions(client, coach, keen, [keen_started + timedelta(days=d) for d in range(1, 7)])

    weeks = _progress(client, coach, lagging)["adherence"]
    assert weeks["last_4_weeks"] == [
        {
            "week_start": started.date().isoformat(),
            "planned": 5,
            "logged": 2,
            "ratio": 0.4,
        }
    ]
    assert (weeks["last_2_weeks"], weeks["overall"]) == (0.4, 0.4)
    # This week so far: nothing logged yet, against the whole week's 5.
    assert weeks["this_week"] == {
        "week_start": (started + timedelta(days=7)).date().isoformat(),
        "planned": 5,
        "logged": 0,
        "ratio": 0.0,
    }
    keen_weeks = _progress(client, coach, keen)["adherence"]
    assert keen_weeks["last_4_weeks"][0]["logged"] == 6
    assert keen_weeks["last_4_weeks"][0]["ratio"] == 1.0  # capped

    everyone = _listed(client, coach)
    assert everyone[lagging]["adherence_14d"] == 0.4
    assert everyone[keen]["adherence_14d"] == 1.0
    assert set(_listed(client, coach, adherence_below=0.5)) == {lagging}
    assert set(_listed(client, coach, adherence_below=1)) == {lagging}
    assert _listed(client, coach, adherence_below=0.4) == {}


def test_a_session_logged_this_week_counts_now_and_in_the_list_next_week(client):
    coach = signup(client, "coach")
    ref, _ = _enrol(client, coach, 9, "Now")
    _sessions(client, coach, ref, [datetime.now(UTC) - timedelta(minutes=5)])
    weeks = _progress(client, coach, ref)["adherence"]
    assert weeks["this_week"]["logged"] == 1
    # Last week had none: 0 of 5, and the list agrees.
    assert weeks["last_4_weeks"][0]["logged"] == 0
    assert _listed(client, coach)[ref]["adherence_14d"] == 0.0


def test_a_week_with_a_date_referred_is_left_out(client):
    coach = signup(client, "coach")
    ref, started = _enrol(client, coach, 16, "Referred")
    _sessions(client, coach, ref, [started + timedelta(days=1)])
    # Referred on the second week's third date, cleared on its fifth: that week is left out.
    body = {
        "score": 3,
        "context": "rest",
        "recorded_at": (started + timedelta(days=9)).isoformat(),
        "side": "right",
        "flags": ["night_pain"],
    }
    response = client.post(f"/v1/clients/{ref}/pain-logs", json=body, headers=coach.headers)
    assert response.status_code == 201, response.text
    weeks = _progress(client, coach, ref)["adherence"]
    # Still referred: every week since is left out, this one too.
    assert [w["week_start"] for w in weeks["last_4_weeks"]] == [started.date().isoformat()]
    assert weeks["this_week"] is None
    assert _listed(client, coach)[ref]["adherence_14d"] == 0.2  # the first week alone


def test_deleting_a_session_counts_again(client):
    coach = signup(client, "coach")
    ref, started = _enrol(client, coach, 8, "Deleted")
    _sessions(client, coach, ref, [started + timedelta(days=1), started + timedelta(days=2)])
    sessions = client.get(f"/v1/clients/{ref}/sessions", headers=coach.headers).json()["items"]
    gone = client.delete(f"/v1/clients/{ref}/sessions/{sessions[0]['id']}", headers=coach.headers)
    assert gone.status_code == 204, gone.text
    assert _progress(client, coach, ref)["adherence"]["last_4_weeks"][0]["logged"] == 1
    assert _listed(client, coach)[ref]["adherence_14d"] == 0.2


def test_adherence_below_is_a_ratio(client):
    coach = signup(client, "coach")
    for bad in ("-0.1", "1.5", "half"):
        response = client.get("/v1/clients", params={"adherence_below": bad}, headers=coach.headers)
        assert_problem(response, 422)


def test_the_lean_read_and_the_full_read_agree_and_old_rows_are_counted(client, db):
    coach = signup(client, "coach")
    ref, started = _enrol(client, coach, 20, "Agreed")
    _sessions(client, coach, ref, [started + timedelta(days=d) for d in (1, 2, 9, 15)])
    access = ClientAccess(coach.headers["Authorization"].removeprefix("Bearer "), ref)
    served = _progress(client, coach, ref)["adherence"]
    assert served == views.progress(db, access).model_dump(mode="json")["adherence"]
    # An enrolment stored before v1.2 has no weeks yet: both reads count them from the tables.
    client_id = uuid.UUID(ref)
    db.execute(
        update(Enrollment).where(col(Enrollment.client_id) == client_id).values(adherence=None)
    )
    db.expire_all()
    assert _progress(client, coach, ref)["adherence"] == served


def test_a_history_stored_before_v1_2_is_filled_in_once_by_reevaluate(client, db):
    coach = signup(client, "coach")
    ref, started = _enrol(client, coach, 10, "Old")
    _sessions(client, coach, ref, [started + timedelta(days=1)])
    client_id = uuid.UUID(ref)
    db.execute(
        update(Enrollment).where(col(Enrollment.client_id) == client_id).values(adherence=None)
    )
    db.execute(
        update(EngineEvent)
        .where(col(EngineEvent.client_id) == client_id)
        .values(clinical_note=None)
    )
    enrollment = db.exec(select(Enrollment).where(col(Enrollment.client_id) == client_id)).one()
    db.expire_all()
    assert replay.reevaluate_history(db, enrollment.id) is not None
    db.flush()
    db.expire_all()
    assert db.get(Enrollment, enrollment.id).adherence["weeks"][0] == [5, 1]
    notes = db.exec(select(EngineEvent.clinical_note).where(EngineEvent.client_id == client_id))
    assert all(notes.all())
    assert replay.reevaluate_history(db, enrollment.id) is None  # once
