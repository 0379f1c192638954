"""The engine through HTTP: backfilled histories, referrals, flares, overrides, simulations."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.config import get_settings
from app.core.types import HISTORY_DAYS
from app.main import create_app
from app.models import Client
from tests.conftest import Actor, assert_problem, managed_client, signup
from tests.statements import Statements

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
STARTED = TODAY - timedelta(days=40) + timedelta(hours=8)
EARLY = ["hip-flexor-ball-release", "hip-flexor-stretch"]
FEET = ["foot-sole-ball-massage", "toe-and-foot-stretches", "midfoot-weight-shift"]


def moment(day: int, hour: int) -> str:
    return (TODAY - timedelta(days=40 - day) + timedelta(hours=hour)).isoformat()


def pain(day: int, score: int, context: str = "rest", hour: int = 10, **fields) -> dict:
    return {
        "score": score,
        "context": context,
        "recorded_at": moment(day, hour),
        "side": "right",
        **fields,
    }


def session_body(day: int, exercises: list[str], hour: int = 9, **fields) -> dict:
    return {
        "performed_at": moment(day, hour),
        "exercises": [{"exercise": e} for e in exercises],
        **fields,
    }


def enrol_at_start(client: TestClient, actor: Actor, ref: str = "me", **fields) -> dict:
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        **fields,
    }
    response = client.post(f"/v1/clients/{ref}/enrollments", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()


def backfill(client: TestClient, actor: Actor, ref: str = "me", last_day: int = 39) -> None:
    """Six weeks of a realistic diary, uploaded late: pain first, then the sessions in order."""
    scores = [6] * 7 + [5] * 33
    logs = [pain(day, scores[day]) for day in range(1, last_day + 1)]
    response = client.post(
        f"/v1/clients/{ref}/pain-logs/batch", json={"items": logs}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    for day in range(1, last_day + 1):
        done = EARLY if day <= 14 else EARLY + FEET
        response = client.post(
            f"/v1/clients/{ref}/sessions", json=session_body(day, done), headers=actor.headers
        )
        assert response.status_code == 201, (day, response.text)


def progress(client: TestClient, actor: Actor, ref: str = "me") -> dict:
    response = client.get(f"/v1/clients/{ref}/progress", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def events(client: TestClient, actor: Actor, ref: str = "me", **params) -> list[dict]:
    response = client.get(
        f"/v1/clients/{ref}/events", params={"limit": 200, **params}, headers=actor.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.fixture
def sam(client: TestClient) -> Actor:
    actor = signup(client, timezone="UTC")
    enrol_at_start(client, actor)
    return actor


def test_a_backfilled_history_unlocks_the_stages_on_the_days_the_rules_say(client, sam):
    backfill(client, sam)
    state = progress(client, sam)
    assert state["status"] == "progressing"
    stages = {s["slug"]: s for s in state["stages"]}
    assert [s["state"] for s in state["stages"]] == ["unlocked"] * 4
    feet, hamstrings = stages["ankle-and-foot"], stages["hamstrings-last-resort"]
    assert feet["unlocked_at"] == moment(14, 9).replace("+00:00", "Z")
    assert hamstrings["unlocked_at"] == moment(28, 9).replace("+00:00", "Z")
    assert (feet["unlocked_by"], hamstrings["unlocked_by"]) == ("engine", "engine")
    assert feet["reason"] == (
        "Stage 3, Work the feet and ankles, unlocked: 14 days and 14 sessions with stage 2 "
        "(Stretch the hip flexors) brought pain from 6 to 5, and it has stopped falling."
    )
    assert "14 days and 14 sessions with stage 3" in hamstrings["reason"]
    assert all(s["gate"] is None for s in state["stages"])
    assert state["current_pain"] == 5.0
    assert state["baseline_pain"] == 6

    unlocked = events(client, sam, type="stage_unlocked")
    assert [(e["stage"], e["rule"]) for e in unlocked] == [
        ("hamstrings-last-resort", "gate.hamstrings-last-resort"),
        ("ankle-and-foot", "gate.ankle-and-foot"),
    ]
    assert [e["type"] for e in events(client, sam)][-1] == "enrolled"


def test_a_locked_stage_shows_its_gate_as_of_now(client, sam):
    backfill(client, sam, last_day=10)
    feet = next(s for s in progress(client, sam)["stages"] if s["slug"] == "ankle-and-foot")
    assert feet["state"] == "locked"
    criteria = {c["name"]: c for c in feet["gate"]["criteria"]}
    assert criteria["days_on_previous_stage"] == {
        "name": "days_on_previous_stage",
        "required": 14,
        "actual": 40,
        "met": True,
        "note": None,
    }
    assert criteria["sessions_with_previous_stage"]["actual"] == 10
    # The last log is 30 days old: no logged days in either window now, so it is not ready.
    assert criteria["logged_days_this_week"]["met"] is False
    # …and the pain criteria say they cannot be computed, rather than show a threshold.
    for name in ("pain_persists", "stopped_falling"):
        assert (criteria[name]["required"], criteria[name]["met"]) == (None, False)
        assert criteria[name]["note"].startswith("Cannot be computed yet")
    assert feet["gate"]["ready"] is False


def test_sessions_follow_the_engine(client, sam):
    early_feet = client.post(
        "/v1/clients/me/sessions", json=session_body(3, FEET), headers=sam.headers
    )
    problem = assert_problem(early_feet, 422, "stage-locked")
    assert "ankle-and-foot" in problem["detail"]
    backfill(client, sam, last_day=20)
    later = client.post("/v1/clients/me/sessions", json=session_body(21, FEET), headers=sam.headers)
    assert later.status_code == 201
    # Still refused on a date before stage 3 opened (day 14), even now that it is open.
    backdated = client.post(
        "/v1/clients/me/sessions", json=session_body(12, FEET, hour=15), headers=sam.headers
    )
    assert_problem(backdated, 422, "stage-locked")


def test_a_red_flag_stops_the_routine_until_the_client_without_coach_clears_it(client, sam):
    backfill(client, sam, last_day=5)
    flagged = pain(39, 3, flags=["night_pain"])
    assert (
        client.post("/v1/clients/me/pain-logs", json=flagged, headers=sam.headers).status_code
        == 201
    )
    state = progress(client, sam)
    assert state["status"] == "refer"
    assert any("clinician" in a for a in state["advice"])
    today = client.get("/v1/clients/me/today", headers=sam.headers).json()
    assert (today["status"], today["routine"]) == ("refer", [])
    assert [e["rule"] for e in events(client, sam, type="referral")] == ["refer.red-flag"]
    # Logs are still accepted while referred.
    assert (
        client.post(
            "/v1/clients/me/pain-logs", json=pain(39, 3, hour=12), headers=sam.headers
        ).status_code
        == 201
    )

    # A client with no coach may clear it, confirming a clinician has seen it.
    unlock = client.post(
        "/v1/clients/me/overrides",
        json={"action": "unlock_stage", "reason": "Let me"},
        headers=sam.headers,
    )
    assert_problem(unlock, 403, "coach-only")
    cleared = client.post(
        "/v1/clients/me/overrides",
        json={"action": "clear_referral", "reason": "GP checked: sciatica ruled out."},
        headers=sam.headers,
    )
    assert cleared.status_code == 201
    assert cleared.json()["by"] == "client"
    assert progress(client, sam)["status"] == "progressing"
    assert client.get("/v1/clients/me/today", headers=sam.headers).json()["routine"]
    again = client.post(
        "/v1/clients/me/overrides",
        json={"action": "clear_referral", "reason": "Again"},
        headers=sam.headers,
    )
    assert_problem(again, 409, "not-referred")


def test_severe_pain_refers_and_only_the_coach_clears_a_coached_client(client):
    coach = signup(client, "coach")
    managed = managed_client(client, coach, timezone="UTC")["id"]
    enrol_at_start(client, coach, managed)
    client.post(f"/v1/clients/{managed}/pain-logs", json=pain(30, 9), headers=coach.headers)
    assert progress(client, coach, managed)["status"] == "refer"
    cleared = client.post(
        f"/v1/clients/{managed}/overrides",
        json={"action": "clear_referral", "reason": "Seen by orthopaedics."},
        headers=coach.headers,
    )
    assert cleared.status_code == 201
    assert progress(client, coach, managed)["status"] == "progressing"
    kinds = [e["type"] for e in events(client, coach, managed)]
    assert kinds[:2] == ["referral_cleared", "referral"]


def test_a_client_with_a_coach_may_not_clear_its_referral(client, db):
    me = signup(client, timezone="UTC")
    coach = signup(client, "coach")
    # Linking a client account to a coach has no endpoint yet: arrange it in the database.
    profile = db.get(Client, uuid.UUID(me.client_id))
    profile.coach_id = uuid.UUID(coach.account["id"])
    db.add(profile)
    db.commit()
    enrol_at_start(client, me)
    client.post("/v1/clients/me/pain-logs", json=pain(30, 9), headers=me.headers)
    clear = {"action": "clear_referral", "reason": "I feel fine now"}
    assert_problem(
        client.post("/v1/clients/me/overrides", json=clear, headers=me.headers),
        403,
        "coach-decides",
    )
    assert progress(client, me)["status"] == "refer"
    by_coach = client.post(
        f"/v1/clients/{me.client_id}/overrides", json=clear, headers=coach.headers
    )
    assert by_coach.status_code == 201
    assert progress(client, me)["status"] == "progressing"


def test_a_flare_holds_progress_with_a_lighter_routine(client, sam):
    backfill(client, sam, last_day=5)
    # A during-exercise flare yesterday: hold today and tomorrow, an easier dose.
    response = client.post(
        "/v1/clients/me/pain-logs", json=pain(39, 7, "during"), headers=sam.headers
    )
    assert response.status_code == 201
    assert progress(client, sam)["status"] == "hold"
    today = client.get("/v1/clients/me/today", headers=sam.headers).json()
    assert today["status"] == "hold"
    ball = next(r for r in today["routine"] if r["exercise"] == "hip-flexor-ball-release")
    normal = client.get("/v1/exercises/hip-flexor-ball-release").json()
    assert (
        ball["dose"]["duration_seconds"]
        == normal["easy_dose"]["duration_seconds"]
        < normal["dose"]["duration_seconds"]
    )
    flare = events(client, sam, type="flare")[0]
    assert flare["rule"] == "flare.during"
    assert flare["data"]["score"] == 7
    # Three dates later the hold is over.
    later = (TODAY + timedelta(days=2)).date().isoformat()
    assert (
        client.get("/v1/clients/me/today", params={"date": later}, headers=sam.headers).json()[
            "status"
        ]
        == "progressing"
    )


def test_today_lists_the_open_stages_with_check_ins(client, sam):
    client.post("/v1/clients/me/sessions", json=session_body(39, EARLY), headers=sam.headers)
    today = client.get("/v1/clients/me/today", headers=sam.headers).json()
    assert today["date"] == TODAY.date().isoformat()
    assert [(r["order"], r["exercise"]) for r in today["routine"]] == [(1, EARLY[0]), (2, EARLY[1])]
    assert all(r["title"] and r["dose"]["sessions_per_week"] for r in today["routine"])
    assert [c["context"] for c in today["check_ins_due"]] == ["next_morning", "rest"]
    assert_problem(client.get("/v1/clients/me/today?date=tomorrow", headers=sam.headers), 422)


def test_overrides_by_a_coach(client):
    coach = signup(client, "coach")
    managed = managed_client(client, coach, timezone="UTC")["id"]
    enrol_at_start(client, coach, managed)
    path = f"/v1/clients/{managed}/overrides"
    unknown = client.post(
        path,
        json={"action": "unlock_stage", "stage": "knees", "reason": "x" * 5},
        headers=coach.headers,
    )
    assert_problem(unknown, 422)
    made = client.post(
        path, json={"action": "unlock_stage", "reason": "Knees cave in."}, headers=coach.headers
    )
    assert made.status_code == 201
    assert (made.json()["stage"], made.json()["by"]) == ("ankle-and-foot", "coach")
    feet = next(
        s for s in progress(client, coach, managed)["stages"] if s["slug"] == "ankle-and-foot"
    )
    assert (feet["state"], feet["unlocked_by"]) == ("unlocked", "coach")
    assert "Knees cave in." in feet["reason"]
    again = client.post(
        path,
        json={"action": "unlock_stage", "stage": "ankle-and-foot", "reason": "Again"},
        headers=coach.headers,
    )
    assert_problem(again, 409, "already-unlocked")
    assert_problem(client.post(path, json={"action": "unlock_stage"}, headers=coach.headers), 422)


def test_deleting_a_log_retracts_what_it_caused(client, sam):
    log = client.post("/v1/clients/me/pain-logs", json=pain(38, 9), headers=sam.headers).json()
    assert progress(client, sam)["status"] == "refer"
    assert (
        client.delete(f"/v1/clients/me/pain-logs/{log['id']}", headers=sam.headers).status_code
        == 204
    )
    assert progress(client, sam)["status"] == "progressing"
    assert events(client, sam, type="referral") == []
    retracted = events(client, sam, type="referral", include_retracted="true")
    assert len(retracted) == 1
    assert retracted[0]["retracted_at"] is not None


def test_a_backfilled_item_re_evaluates_from_its_time(client, sam):
    client.post("/v1/clients/me/pain-logs", json=pain(30, 4), headers=sam.headers)
    client.post(
        "/v1/clients/me/pain-logs", json=pain(20, 8), headers=sam.headers
    )  # older, posted later
    referral = events(client, sam, type="referral")
    assert [(e["rule"], e["at"]) for e in referral] == [
        ("refer.severe-pain", moment(20, 10).replace("+00:00", "Z"))
    ]


def test_a_simulation_equals_the_stored_evaluation(client, sam):
    backfill(client, sam)
    client.post(
        "/v1/clients/me/pain-logs", json=pain(39, 7, "during", hour=19), headers=sam.headers
    )
    scores = [6] * 7 + [5] * 33
    timeline = [{"type": "pain", **pain(day, scores[day])} for day in range(1, 40)]
    timeline += [
        {"type": "session", **session_body(d, EARLY if d <= 14 else EARLY + FEET)}
        for d in range(1, 40)
    ]
    timeline.append({"type": "pain", **pain(39, 7, "during", hour=19)})
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        "timezone": "UTC",
        "timeline": timeline[::-1],
    }
    simulated = client.post("/v1/simulations", json=body)
    assert simulated.status_code == 200, simulated.text
    result = simulated.json()

    def decisions(items: list[dict]) -> list[tuple]:
        return sorted(
            (e["at"], e["type"], e["rule"], e["stage"], e["message"], str(e["data"])) for e in items
        )

    assert decisions(result["events"]) == decisions(events(client, sam))
    stored = progress(client, sam)
    assert result["status"] == "hold" == stored["status"]
    assert [
        (s["slug"], s["unlocked_at"], s["unlocked_by"], s["reason"]) for s in result["stages"]
    ] == [(s["slug"], s["unlocked_at"], s["unlocked_by"], s["reason"]) for s in stored["stages"]]


def test_simulations_are_public_validated_and_store_nothing(client, sam):
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 5,
        "started_at": STARTED.isoformat(),
        "timezone": "Asia/Tokyo",
        "params": {"severe_pain": 7},
        "timeline": [{"type": "pain", **pain(3, 7)}],
    }
    result = client.post("/v1/simulations", json=body).json()
    assert result["status"] == "refer"  # 7 is severe with this parameter
    assert [e["rule"] for e in result["events"]] == ["enrolled", "refer.severe-pain"]
    assert events(client, sam, type="referral") == []

    locked = {**body, "timeline": [{"type": "session", **session_body(3, FEET)}]}
    problem = assert_problem(client.post("/v1/simulations", json=locked), 422, "stage-locked")
    assert problem["errors"][0]["loc"][:3] == ["body", "timeline", 0]
    early = {**body, "timeline": [{"type": "pain", **pain(-5, 3)}]}
    assert_problem(client.post("/v1/simulations", json=early), 422, "before-enrollment")
    assert_problem(
        client.post("/v1/simulations", json={**body, "timeline": [{"type": "nap"}]}), 422
    )
    assert_problem(
        client.post("/v1/simulations", json={**body, "protocol": "knee"}), 422, "unknown-protocol"
    )


def test_the_worker_process_simulates_as_a_thread_does(client, connection):
    """Served, the engine runs in a worker process (app/core/cpu_pool.py): the same answers,
    its problems included, as on the thread the other tests use."""
    timeline = [{"type": "pain", **pain(day, 6 if day < 9 else 3)} for day in range(1, 30)]
    timeline += [{"type": "session", **session_body(d, EARLY)} for d in range(1, 30)]
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        "timezone": "Europe/Paris",
        "timeline": timeline,
    }
    locked = {**body, "timeline": [{"type": "session", **session_body(3, FEET)}]}
    served = create_app(get_settings().model_copy(update={"cpu_processes": 1}), bind=connection)
    with TestClient(served, raise_server_exceptions=False) as pooled:
        assert served.state.cpu_pool.processes == 1
        for sent in (body, locked):
            there, here = (
                pooled.post("/v1/simulations", json=sent),
                client.post("/v1/simulations", json=sent),
            )
            # Each answer has its own request id; all the rest is the same.
            assert (there.status_code, {**there.json(), "request_id": None}) == (
                here.status_code,
                {**here.json(), "request_id": None},
            )
    problem = assert_problem(there, 422, "stage-locked")  # raised in the worker, whole
    assert problem["errors"][0]["loc"][:3] == ["body", "timeline", 0]


def test_who_may_read_progress_and_override(client, sam):
    other = signup(client, timezone="UTC")
    coach = signup(client, "coach")
    for path in ("progress", "today", "events"):
        assert_problem(
            client.get(f"/v1/clients/{sam.client_id}/{path}", headers=other.headers), 404
        )
        assert_problem(
            client.get(f"/v1/clients/{sam.client_id}/{path}", headers=coach.headers), 404
        )
        assert_problem(client.get(f"/v1/clients/{sam.client_id}/{path}"), 401)
    override = {"action": "clear_referral", "reason": "Not yours"}
    assert_problem(
        client.post(f"/v1/clients/{sam.client_id}/overrides", json=override, headers=coach.headers),
        404,
    )
    assert_problem(
        client.get("/v1/clients/me/progress", headers=other.headers), 409, "no-active-enrollment"
    )


def test_events_page_and_filter(client, sam):
    for day in (5, 10, 15, 20, 25):
        client.post("/v1/clients/me/pain-logs", json=pain(day, 7, "during"), headers=sam.headers)
    every = events(client, sam)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/clients/me/events", params=params, headers=sam.headers).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == every
    assert len(every) == 6
    assert {e["type"] for e in events(client, sam, type=["flare", "enrolled"])} == {
        "flare",
        "enrolled",
    }
    assert_problem(client.get("/v1/clients/me/events?type=nap", headers=sam.headers), 422)


def _history(client: TestClient, actor: Actor, days: int) -> None:
    start = TODAY - timedelta(days=days)
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": (start + timedelta(hours=1)).isoformat(),
    }
    assert (
        client.post("/v1/clients/me/enrollments", json=body, headers=actor.headers).status_code
        == 201
    )
    logs = [
        {
            "score": 5,
            "context": "rest",
            "recorded_at": (start + timedelta(days=d, hours=10)).isoformat(),
            "side": "left",
        }
        for d in range(1, days)
    ]
    for chunk in range(0, len(logs), 500):
        response = client.post(
            "/v1/clients/me/pain-logs/batch",
            json={"items": logs[chunk : chunk + 500]},
            headers=actor.headers,
        )
        assert response.status_code == 201


def test_the_cost_of_writes_and_reads_does_not_grow_with_history(client, engine):
    counts = {}
    # The longest history the API accepts (HISTORY_DAYS) against a short one.
    for days in (10, HISTORY_DAYS - 1):
        actor = signup(client, timezone="UTC")
        _history(client, actor, days)
        today = {
            "score": 4,
            "context": "rest",
            "recorded_at": (TODAY + timedelta(minutes=1)).isoformat(),
            "side": "left",
        }
        with Statements(engine) as write:
            assert (
                client.post(
                    "/v1/clients/me/pain-logs", json=today, headers=actor.headers
                ).status_code
                == 201
            )
        with Statements(engine) as read:
            assert client.get("/v1/clients/me/progress", headers=actor.headers).status_code == 200
        with Statements(engine) as today_read:
            assert client.get("/v1/clients/me/today", headers=actor.headers).status_code == 200
        counts[days] = (len(write.sql), len(read.sql), len(today_read.sql))
        # Reads write nothing.
        assert not [
            s
            for s in read.sql + today_read.sql
            if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
        ]
    assert counts[10] == counts[HISTORY_DAYS - 1], counts


def _tables_read(sql: list[str]) -> set[str]:
    """Tables whose rows a statement reads back (the day's item count reads none)."""
    selects = [
        s for s in sql if s.lstrip().upper().startswith("SELECT") and "count(*)" not in s.lower()
    ]
    return {table for s in selects for table in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", s)}


def test_an_append_replays_only_itself_and_a_backfill_rereads_what_follows(client, engine):
    actor = signup(client, timezone="UTC")
    _history(client, actor, 10)

    def post(moment: datetime) -> list[str]:
        body = {"score": 4, "context": "rest", "recorded_at": moment.isoformat(), "side": "left"}
        with Statements(engine) as sent:
            response = client.post("/v1/clients/me/pain-logs", json=body, headers=actor.headers)
        assert response.status_code == 201, response.text
        return sent.sql

    # After everything stored: the new log is all the engine steps through; no stored item
    # is read back.
    appended = _tables_read(post(TODAY + timedelta(minutes=1)))
    assert not appended & {"pain_log", "exercise_session", "assessment", "override"}
    # Before the last log: what follows it is read again and replayed.
    backfilled = _tables_read(post(TODAY - timedelta(days=3)))
    assert {"pain_log", "exercise_session", "engine_event"} <= backfilled


def test_replays_are_idempotent_and_events_are_stored_once(client, sam):
    body = {**pain(30, 7, "during"), "id": str(uuid.uuid4())}
    for _ in range(3):
        client.post("/v1/clients/me/pain-logs", json=body, headers=sam.headers)
    assert len(events(client, sam, type="flare")) == 1
    assert len(events(client, sam, type="flare", include_retracted="true")) == 1


def test_the_documented_simulation_examples_do_what_they_say(client):
    examples = client.get("/openapi.json").json()["paths"]["/v1/simulations"]["post"][
        "requestBody"
    ]["content"]["application/json"]["examples"]
    plateau = client.post("/v1/simulations", json=examples["plateau"]["value"]).json()
    opened = [e for e in plateau["events"] if e["type"] == "stage_unlocked"]
    assert [(e["stage"], e["at"][:10]) for e in opened] == [("ankle-and-foot", "2026-09-15")]
    flare = client.post("/v1/simulations", json=examples["flare"]["value"]).json()
    assert [e["rule"] for e in flare["events"]] == ["enrolled", "flare.during"]
    assert flare["events"][1]["data"]["hold_until"] == "2026-09-06"


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.integers(1, 39),
            st.integers(6, 22),
            st.integers(0, 10),
            st.sampled_from(["rest", "during", "after", "next_morning"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_property_a_simulation_equals_the_stored_evaluation(client, entries, random):
    actor = signup(client, timezone="Europe/Paris")
    enrol_at_start(client, actor)
    timeline = []
    for day, hour, score, context, with_session in entries:
        if with_session:
            timeline.append(
                {"type": "session", **session_body(day, EARLY, hour=hour, pain_after=min(score, 7))}
            )
        timeline.append(
            {"type": "pain", **pain(day, score, context, hour=hour, id=str(uuid.uuid4()))}
        )
    random.shuffle(timeline)  # posted in any order
    for item in timeline:
        kind = item.pop("type")
        path = "pain-logs" if kind == "pain" else "sessions"
        response = client.post(f"/v1/clients/me/{path}", json=item, headers=actor.headers)
        assert response.status_code in (200, 201), response.text
        item["type"] = kind
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        "timezone": "Europe/Paris",
        "timeline": timeline,
    }
    simulated = client.post("/v1/simulations", json=body).json()

    def decisions(items: list[dict]) -> list[tuple]:
        return sorted(
            (e["at"], e["type"], e["rule"], e["stage"], e["message"], str(e["data"])) for e in items
        )

    assert decisions(simulated["events"]) == decisions(events(client, actor))


def test_a_simulation_refuses_a_clients_unlock_stage(client):
    """PRODUCT §3: only a coach's unlock_stage exists; a client's is refused, naming it."""
    override = {
        "type": "override",
        "action": "unlock_stage",
        "stage": "ankle-and-foot",
        "reason": "I feel ready.",
        "at": moment(5, 9),
    }
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        "timezone": "UTC",
        "timeline": [{"type": "pain", **pain(1, 5)}, {**override, "by": "client"}],
    }
    refused = client.post("/v1/simulations", json=body)
    problem = assert_problem(refused, 422, "coach-only")
    assert problem["errors"][0]["loc"] == ["body", "timeline", 1, "by"]
    body["timeline"][1] = {**override, "by": "coach"}
    unlocked = client.post("/v1/simulations", json=body)
    assert unlocked.status_code == 200, unlocked.text
    feet = next(s for s in unlocked.json()["stages"] if s["slug"] == "ankle-and-foot")
    assert feet["unlocked_by"] == "coach"
    # A client's clear_referral stays what it is: the client's own, for one with no coach.
    clear = {**override, "action": "clear_referral", "stage": None, "by": "client"}
    body["timeline"][1] = clear
    assert client.post("/v1/simulations", json=body).status_code == 200
