"""Rules v1.1 through HTTP: one test per precision of PRODUCT.md §3, and the re-evaluation
of a history stored under rules v1."""

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.models import EngineCheckpoint, EngineEvent
from app.progression import replay
from tests.api.test_progression import (
    EARLY,
    STARTED,
    backfill,
    enrol_at_start,
    events,
    moment,
    pain,
    progress,
    session_body,
)
from tests.conftest import Actor, managed_client, signup


@pytest.fixture
def sam(client: TestClient) -> Actor:
    actor = signup(client, timezone="UTC")
    enrol_at_start(client, actor)
    return actor


def z(stamp: str) -> str:
    return stamp.replace("+00:00", "Z")


def post(client: TestClient, actor: Actor, path: str, body: dict, ref: str = "me") -> dict:
    response = client.post(f"/v1/clients/{ref}/{path}", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_pain_during_a_session_stops_the_unlock_at_its_moment(client, sam):
    backfill(client, sam, last_day=13)
    # Day 14's session meets every gate-A criterion, but its own pain during exercise flares.
    post(client, sam, "sessions", session_body(14, EARLY, pain_during=7))
    at_14 = [(e["type"], e["rule"]) for e in events(client, sam) if e["at"] == z(moment(14, 9))]
    assert at_14 == [("flare", "flare.during")]
    feet = next(s for s in progress(client, sam)["stages"] if s["slug"] == "ankle-and-foot")
    assert feet["state"] == "locked"


def test_resolved_is_judged_at_a_session_and_one_day_up_is_no_relapse(client, sam):
    post(client, sam, "pain-logs", pain(30, 3))
    for day in (34, 35, 36):
        post(client, sam, "pain-logs", pain(day, 0))
    assert progress(client, sam)["status"] == "progressing"  # day 30's 3 is in the week
    post(client, sam, "sessions", session_body(37, EARLY))
    assert progress(client, sam)["status"] == "resolved"
    assert [e["at"] for e in events(client, sam, type="resolved")] == [z(moment(37, 9))]
    post(client, sam, "pain-logs", pain(38, 2))  # one day one point up
    assert progress(client, sam)["status"] == "resolved"
    post(client, sam, "pain-logs", pain(39, 2))  # and a second: pain has returned
    assert progress(client, sam)["status"] == "progressing"
    assert [e["data"]["days_above"] for e in events(client, sam, type="relapse")] == [2]


def test_a_coach_unlock_during_a_hold_is_applied_and_says_so(client):
    coach = signup(client, "coach")
    managed = managed_client(client, coach, timezone="UTC")["id"]
    enrol_at_start(client, coach, managed)
    post(client, coach, "pain-logs", pain(39, 7, "during"), ref=managed)
    assert progress(client, coach, managed)["status"] == "hold"
    post(
        client,
        coach,
        "overrides",
        {"action": "unlock_stage", "reason": "Feet are fine to start."},
        ref=managed,
    )
    unlocked = events(client, coach, managed, type="stage_unlocked")
    assert [e["stage"] for e in unlocked] == ["ankle-and-foot"]
    assert unlocked[0]["data"]["during_hold"] is True
    assert "Made during a hold" in unlocked[0]["message"]


def test_a_new_red_flag_while_referred_is_recorded(client, sam):
    post(client, sam, "pain-logs", pain(38, 3, flags=["night_pain"]))
    post(client, sam, "pain-logs", pain(39, 3, flags=["night_pain"]))  # told already
    post(client, sam, "pain-logs", pain(39, 3, hour=12, flags=["night_pain", "trauma_or_fall"]))
    referrals = events(client, sam, type="referral")
    assert [(e["at"], e["data"]) for e in referrals] == [
        (z(moment(39, 12)), {"flags": ["trauma_or_fall"], "while_referred": True}),
        (z(moment(38, 10)), {"flags": ["night_pain"]}),
    ]


def test_a_next_morning_flare_names_the_starting_pain_it_compared_with(client):
    actor = signup(client, timezone="UTC")
    enrol_at_start(client, actor, baseline_pain=3)
    post(client, actor, "pain-logs", pain(39, 5, "next_morning"))
    (flare,) = events(client, actor, type="flare")
    assert (
        "no pain logged in the last 7 days, so compared with your starting pain 3"
        in (flare["message"])
    )
    assert flare["data"]["compared_with"] == "starting_pain"


def test_events_carry_the_local_date_and_hold_until_is_local(client):
    actor = signup(client, timezone="Pacific/Auckland")
    enrol_at_start(client, actor)
    log = pain(39, 7, "during", hour=20)  # 20:00 UTC: the next morning in Auckland
    post(client, actor, "pain-logs", log)
    local = datetime.fromisoformat(log["recorded_at"]).astimezone(ZoneInfo("Pacific/Auckland"))
    assert local.date() != datetime.fromisoformat(log["recorded_at"]).date()
    (flare,) = events(client, actor, type="flare")
    assert flare["local_date"] == local.date().isoformat()
    assert flare["data"]["hold_until"] == (local.date() + timedelta(days=2)).isoformat()
    simulated = client.post(
        "/v1/simulations",
        json={
            "protocol": "hip-impingement",
            "baseline_pain": 6,
            "started_at": STARTED.isoformat(),
            "timezone": "Pacific/Auckland",
            "timeline": [{"type": "pain", **log}],
        },
    ).json()
    assert [e["local_date"] for e in simulated["events"]][-1] == local.date().isoformat()


def _as_v1(db: Session, enrollment_id: uuid.UUID, unlock_at: datetime, local: date) -> EngineEvent:
    """Make the stored history look as rules v1 left it: checkpoints without the rules
    marker, and the unlock v1 made at the session whose own pain flared."""
    for checkpoint in db.exec(
        select(EngineCheckpoint).where(col(EngineCheckpoint.enrollment_id) == enrollment_id)
    ):
        checkpoint.state = {k: v for k, v in checkpoint.state.items() if k != "rules"}
        db.add(checkpoint)
    some = db.exec(select(EngineEvent).where(col(EngineEvent.enrollment_id) == enrollment_id))
    client_id = next(iter(some)).client_id
    stale = EngineEvent(
        id=uuid.uuid4(),
        client_id=client_id,
        enrollment_id=enrollment_id,
        position=f"{unlock_at.strftime('%Y-%m-%dT%H:%M:%S.%f')}|1|0|v1",
        type="stage_unlocked",
        rule="gate.ankle-and-foot",
        at=unlock_at,
        local_date=local,
        stage="ankle-and-foot",
        message="Stage 3 unlocked (as rules v1 judged it).",
        data={},
    )
    db.add(stale)
    db.commit()
    return stale


def test_a_history_stored_under_v1_is_re_evaluated_once(client, sam, db):
    backfill(client, sam, last_day=13)
    post(client, sam, "sessions", session_body(14, EARLY, pain_during=7))
    before = events(client, sam)
    enrollment_id = uuid.UUID(progress(client, sam)["enrollment_id"])
    unlock_at = datetime.fromisoformat(moment(14, 9))
    stale = _as_v1(db, enrollment_id, unlock_at, unlock_at.date())

    changes = replay.reevaluate_history(db, enrollment_id)
    db.commit()
    assert changes == replay.Changes(added=0, retracted=1)
    # The unlock is retracted, never deleted; every other decision kept its id.
    assert events(client, sam) == before
    retracted = events(client, sam, type="stage_unlocked", include_retracted="true")
    assert [(e["id"], e["retracted_at"] is not None) for e in retracted] == [(str(stale.id), True)]
    # Once is enough: the history is now marked as evaluated by the current rules.
    assert replay.reevaluate_history(db, enrollment_id) is None
    assert replay.reevaluate_history(db, enrollment_id, every=True) == replay.Changes(0, 0)


@pytest.mark.parametrize("score", [2, 3, 4, 5])
def test_a_red_flag_posted_later_at_an_unlocking_moment_retracts_the_unlock(client, sam, score):
    # The gate opens at day 14's pain log; a red flag then posted for that same moment sorts
    # before or after it (by content), and either way nothing may stay unlocked there.
    backfill(client, sam, last_day=13)
    post(client, sam, "pain-logs", pain(14, 5))
    assert [e["at"] for e in events(client, sam, type="stage_unlocked")] == [z(moment(14, 10))]
    post(client, sam, "pain-logs", pain(14, score, flags=["night_pain"]))
    assert events(client, sam, type="stage_unlocked") == []
    assert [e["at"] for e in events(client, sam, type="referral")] == [z(moment(14, 10))]
    assert progress(client, sam)["status"] == "refer"
