"""Progress and today through one statement (app/progression/reads.py): the same answers as
the full read, for every caller who may ask, and fresh after every write."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from app.accounts.access import ClientAccess
from app.progression import views
from tests.conftest import Actor, assert_problem, managed_client, signup
from tests.statements import Statements

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
STARTED = TODAY - timedelta(days=30) + timedelta(hours=8)


def _enrol(client: TestClient, actor: Actor, ref: str = "me") -> None:
    body = {"protocol": "hip-impingement", "baseline_pain": 6, "started_at": STARTED.isoformat()}
    response = client.post(f"/v1/clients/{ref}/enrollments", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text


def _log(client: TestClient, actor: Actor, day: int, score: int, ref: str = "me", **extra) -> None:
    body = {
        "score": score,
        "context": "rest",
        "recorded_at": (STARTED + timedelta(days=day, hours=2)).isoformat(),
        "side": "left",
        **extra,
    }
    response = client.post(f"/v1/clients/{ref}/pain-logs", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text


def _full_read(db: Session, actor: Actor, ref: str = "me") -> tuple[dict, dict]:
    """What the ORM read (`views`) answers for the same caller."""
    access = ClientAccess(actor.headers["Authorization"].removeprefix("Bearer "), ref)
    progress = views.progress(db, access).model_dump(mode="json")
    today = views.today(db, access, None).model_dump(mode="json")
    return progress, today


def _answers(client: TestClient, actor: Actor, ref: str = "me") -> tuple[dict, dict]:
    progress = client.get(f"/v1/clients/{ref}/progress", headers=actor.headers)
    today = client.get(f"/v1/clients/{ref}/today", headers=actor.headers)
    assert progress.status_code == today.status_code == 200, (progress.text, today.text)
    return progress.json(), today.json()


def _same(served: dict, full: dict) -> None:
    moment = datetime.fromisoformat(served.pop("evaluated_at"))
    assert abs(moment - datetime.fromisoformat(full.pop("evaluated_at"))) < timedelta(minutes=1)
    assert served == full


def test_a_progress_read_is_one_statement_and_writes_nothing(client, engine):
    actor = signup(client)
    _enrol(client, actor)
    for read in ("progress", "today"):
        with Statements(engine) as sent:
            response = client.get(f"/v1/clients/me/{read}", headers=actor.headers)
        assert response.status_code == 200
        selects = [s for s in sent.sql if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1, sent.sql
        assert not [s for s in sent.sql if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]


def test_the_answers_follow_every_write(client, db):
    actor = signup(client)
    _enrol(client, actor)
    seen = []
    for day, score in [(24, 6), (25, 4), (27, 2), (29, 9)]:  # the 9 is severe: a referral
        _log(client, actor, day, score)
        progress, today = _answers(client, actor)
        full_progress, full_today = _full_read(db, actor)
        _same(progress, full_progress)
        assert today == full_today
        seen.append((progress["status"], progress["current_pain"]))
    assert seen[-1][0] == "refer"
    assert len(set(seen)) == len(seen)  # each write changed the answer, none was kept stale


def test_a_coach_reads_a_managed_client_by_id_and_no_one_else_does(client, db):
    coach = signup(client, role="coach")
    managed = managed_client(client, coach)
    ref = managed["id"]
    _enrol(client, coach, ref)
    _log(client, coach, 1, 5, ref)
    progress, today = _answers(client, coach, ref)
    full_progress, full_today = _full_read(db, coach, ref)
    _same(progress, full_progress)
    assert today == full_today

    stranger = signup(client, role="coach")
    for read in ("progress", "today"):
        assert_problem(client.get(f"/v1/clients/{ref}/{read}", headers=stranger.headers), 404)
        assert_problem(client.get(f"/v1/clients/me/{read}", headers=coach.headers), 404)
        unknown = {"Authorization": "Bearer hft_unknown"}
        assert_problem(client.get(f"/v1/clients/{ref}/{read}", headers=unknown), 401)
    unenrolled = signup(client)
    assert_problem(client.get("/v1/clients/me/progress", headers=unenrolled.headers), 409)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.integers(1, 29),
            st.integers(0, 10),
            st.sampled_from(["rest", "during", "after", "next_morning"]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(["UTC", "Europe/Paris", "Pacific/Auckland", "America/Los_Angeles"]),
)
def test_property_the_one_statement_read_equals_the_full_read(client, db, logs, timezone):
    actor = signup(client, timezone=timezone)
    _enrol(client, actor)
    for day, score, context in logs:
        _log(client, actor, day, score, context=context)
    progress, today = _answers(client, actor)
    full_progress, full_today = _full_read(db, actor)
    _same(progress, full_progress)
    assert today == full_today
