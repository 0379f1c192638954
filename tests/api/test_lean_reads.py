"""The lean reads (one statement, rows straight to the answer: docs/architecture.md) answer
exactly what the ORM reads they stand in for answer, byte for byte. A list asked with a
filter that cannot change its page (`since` before every item) takes the ORM read: the two
must agree, page by page, for every way of asking."""

import json
from datetime import UTC, datetime, timedelta
from typing import get_args

from app.accounts.access import Caller
from app.core.responses import model_json
from app.progression import dashboard
from app.progression.schemas import EventType
from tests.conftest import STARTED, assert_problem, enrol, managed_client, pain_body, signup

EARLY = (STARTED - timedelta(days=400)).isoformat()  # before every item: the ORM read


def _pages(client, path: str, headers: dict[str, str], limit: int, **filters) -> list[bytes]:
    """Every page's body, following the cursors."""
    pages, cursor = [], None
    while True:
        params = {"limit": limit, **filters, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        pages.append(response.content)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


def _same_as_orm(client, path: str, headers: dict[str, str], **orm_filters) -> list[dict]:
    """The lean read's pages are the ORM read's, byte for byte (cursors included); its
    items."""
    for limit in (1, 3, 50):
        lean = _pages(client, path, headers, limit)
        orm = _pages(client, path, headers, limit, **(orm_filters or {"since": EARLY}))
        assert lean == orm
    return [item for page in lean for item in json.loads(page)["items"]]


def test_the_pain_log_list_answers_as_the_orm_read_does(client, me):
    flagged = pain_body(2, score=7, flags=["night_pain"], location="groin", note="après")
    items = [pain_body(day % 4, score=day % 11) for day in range(9)] + [flagged]
    created = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert created.status_code == 201, created.text
    gone = created.json()["items"][0]["id"]
    assert client.delete(f"/v1/clients/me/pain-logs/{gone}", headers=me.headers).status_code == 204
    listed = _same_as_orm(client, "/v1/clients/me/pain-logs", me.headers)
    assert len(listed) == 9
    assert gone not in {item["id"] for item in listed}
    assert {item["id"] for item in listed} <= {item["id"] for item in created.json()["items"]}
    by_id = {item["id"]: item for item in created.json()["items"]}
    assert all(item == by_id[item["id"]] for item in listed)  # as the POST answered them
    # By the client's id as well as `me`.
    assert _same_as_orm(client, f"/v1/clients/{me.client_id}/pain-logs", me.headers) == listed


def test_a_coach_and_an_api_key_list_a_managed_clients_pain_logs(client):
    coach = signup(client, role="coach")
    managed = managed_client(client, coach)
    enrol(client, coach, managed["id"])
    path = f"/v1/clients/{managed['id']}/pain-logs"
    for day in (1, 2, 3):
        assert client.post(path, json=pain_body(day), headers=coach.headers).status_code == 201
    key = client.post("/v1/api-keys", json={"name": "sync"}, headers=coach.headers).json()
    with_key = {"Authorization": f"Bearer {key['key']}"}
    assert _same_as_orm(client, path, with_key) == _same_as_orm(client, path, coach.headers)
    # The key's use is noted by the lean read too.
    [listed_key] = client.get("/v1/api-keys", headers=coach.headers).json()["items"]
    assert listed_key["last_used_at"] is not None
    # Nobody else sees them, whichever read answers.
    stranger = signup(client, role="coach")
    for filters in ({}, {"since": EARLY}):
        assert_problem(client.get(path, params=filters, headers=stranger.headers), 404)
        assert_problem(client.get(path, params=filters, headers={"Authorization": "Bearer x"}), 401)


def test_me_answers_the_account_as_sign_up_did(client):
    for role in ("client", "coach"):
        actor = signup(client, role=role)
        answer = client.get("/v1/me", headers=actor.headers)
        assert answer.status_code == 200
        assert answer.json() == actor.account
        assert (answer.json()["client_id"] is None) == (role == "coach")
    key = client.post("/v1/api-keys", json={"name": "sync"}, headers=actor.headers).json()
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {key['key']}"}).json() == (
        actor.account
    )
    assert_problem(client.get("/v1/me", headers={"Authorization": "Bearer nope"}), 401)


def test_the_session_list_answers_as_the_orm_read_does(client, me):
    posted = []
    for day, scores in [(2, {"pain_during": 4, "pain_after": 2}), (3, {}), (3, {"pain_after": 1})]:
        body = {
            "performed_at": (STARTED + timedelta(days=day, hours=2)).isoformat(),
            "exercises": [{"exercise": "hip-flexor-stretch", "sets": 2, "hold_seconds": 30}],
            "side": "left",
            **scores,
        }
        response = client.post("/v1/clients/me/sessions", json=body, headers=me.headers)
        assert response.status_code == 201, response.text
        posted.append(response.json())
    listed = _same_as_orm(client, "/v1/clients/me/sessions", me.headers)
    assert sorted(listed, key=lambda s: s["id"]) == sorted(posted, key=lambda s: s["id"])
    # Exercises with other fields set, and a linked pain log deleted: still the same bytes.
    body = {
        "performed_at": (STARTED + timedelta(days=4, hours=2)).isoformat(),
        "exercises": [
            {"exercise": "hip-flexor-stretch", "reps": 5, "side": "right"},
            {"exercise": "hip-flexor-ball-release", "duration_seconds": 90},
        ],
        "side": "right",
        "pain_during": 3,
        "pain_after": 2,
        "note": 'Tight "today"\n— better after.',
    }
    response = client.post("/v1/clients/me/sessions", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    during = response.json()["pain_log_ids"][0]
    assert (
        client.delete(f"/v1/clients/me/pain-logs/{during}", headers=me.headers).status_code == 204
    )
    listed = _same_as_orm(client, "/v1/clients/me/sessions", me.headers)
    assert listed[0]["pain_log_ids"] == response.json()["pain_log_ids"][1:]
    assert _same_as_orm(client, f"/v1/clients/{me.client_id}/sessions", me.headers) == listed


def test_the_event_list_answers_as_the_orm_read_does(client, me):
    severe = client.post(
        "/v1/clients/me/pain-logs", json=pain_body(3, score=9), headers=me.headers
    ).json()
    assert (
        client.post(
            "/v1/clients/me/pain-logs", json=pain_body(4, score=8), headers=me.headers
        ).status_code
        == 201
    )
    assert (
        client.delete(f"/v1/clients/me/pain-logs/{severe['id']}", headers=me.headers).status_code
        == 204
    )  # what it caused is retracted: not listed
    every_type = {"type": list(get_args(EventType))}  # the same events, by the ORM read
    for ref in ("me", me.client_id):
        listed = _same_as_orm(client, f"/v1/clients/{ref}/events", me.headers, **every_type)
    assert {item["type"] for item in listed} >= {"enrolled", "referral"}
    assert all(item["retracted_at"] is None for item in listed)
    assert listed[0]["actor"] == {
        "role": "client",
        "account_id": me.account["id"],
        "api_key_id": None,
    }


def test_the_dashboard_answers_as_the_orm_read_does(client, db):
    coach = signup(client, role="coach")
    recent = (datetime.now(UTC) - STARTED).days - 1  # a log within the last 7 local dates
    for n in range(5):
        managed = managed_client(client, coach, display_name=f'Client "{n}"', external_id=None)
        if n % 2:
            enrol(client, coach, managed["id"])
            for day in (1, recent):
                body = pain_body(day, score=3 + n)
                posted = client.post(
                    f"/v1/clients/{managed['id']}/pain-logs", json=body, headers=coach.headers
                )
                assert posted.status_code == 201, posted.text
    key = client.post("/v1/api-keys", json={"name": "sync"}, headers=coach.headers).json()
    own = signup(client)
    enrol(client, own)
    secret = coach.headers["Authorization"].removeprefix("Bearer ")
    own_secret = own.headers["Authorization"].removeprefix("Bearer ")
    for caller, count in ((Caller(secret), 5), (Caller(key["key"]), 5), (Caller(own_secret), 1)):
        for limit in (1, 2, 50):
            cursor, pages = None, 0
            while True:
                lean = dashboard.lean_page(db, caller, limit, cursor)
                orm = dashboard.list_clients(
                    db, caller, status=None, q=None, sort="created", limit=limit, cursor=cursor
                )
                assert lean == model_json(orm)
                pages += 1
                cursor = json.loads(lean)["next_cursor"]
                if cursor is None:
                    break
            assert pages == -(-count // limit)
    items = json.loads(dashboard.lean_page(db, Caller(secret), 50, None))["items"]
    assert {item["status"] for item in items} == {"not_enrolled", "progressing"}
    assert any(item["current_pain"] is not None for item in items)
    assert dashboard.lean_page(db, Caller("nope"), 50, None) is None  # the full read's 401
