"""Retries are safe: client-made ids, Idempotency-Key headers and idempotent batches."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from app.models import IdempotencyRecord
from app.tracking import service as tracking
from tests.conftest import STARTED, assert_problem, enrol, managed_client, pain_body, signup

PERFORMED = (STARTED + timedelta(days=2)).isoformat()


def _creates(me_client_id: str) -> list[tuple[str, dict, str]]:
    """(path, body, list path) for every create under a client."""
    return [
        ("pain-logs", pain_body(2), "pain-logs"),
        (
            "sessions",
            {
                "performed_at": PERFORMED,
                "exercises": [{"exercise": "hip-flexor-stretch"}],
                "pain_after": 3,
            },
            "sessions",
        ),
        (
            "assessments",
            {
                "kind": "squat-knee-tracking",
                "left": "knee_over_foot",
                "right": "knee_over_foot",
                "performed_at": PERFORMED,
            },
            "assessments",
        ),
    ]


def _count(client, actor, what: str) -> int:
    return len(client.get(f"/v1/clients/me/{what}", headers=actor.headers).json()["items"])


@pytest.mark.parametrize("index", [0, 1, 2], ids=["pain-log", "session", "assessment"])
def test_same_id_same_body_returns_the_stored_item(client, me, index):
    path, body, listing = _creates(me.client_id)[index]
    body = {**body, "id": str(uuid.uuid4())}
    first = client.post(f"/v1/clients/me/{path}", json=body, headers=me.headers)
    again = client.post(f"/v1/clients/me/{path}", json=body, headers=me.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["id"] == body["id"]
    assert _count(client, me, listing) == 1


@pytest.mark.parametrize("index", [0, 1, 2], ids=["pain-log", "session", "assessment"])
def test_same_id_different_body_is_a_409(client, me, index):
    path, body, listing = _creates(me.client_id)[index]
    body = {**body, "id": str(uuid.uuid4())}
    assert client.post(f"/v1/clients/me/{path}", json=body, headers=me.headers).status_code == 201
    changed = {**body, "note": "changed"}
    problem = assert_problem(
        client.post(f"/v1/clients/me/{path}", json=changed, headers=me.headers), 409, "id-conflict"
    )
    assert problem["errors"][0]["loc"] == ["body", "id"]
    assert _count(client, me, listing) == 1


def test_the_same_moment_in_another_offset_is_the_same_body(client, me):
    body = pain_body(2, id=str(uuid.uuid4()), recorded_at="2026-10-03T09:00:00+00:00")
    assert client.post("/v1/clients/me/pain-logs", json=body, headers=me.headers).status_code == 201
    shifted = {**body, "recorded_at": "2026-10-03T11:00:00+02:00"}
    assert (
        client.post("/v1/clients/me/pain-logs", json=shifted, headers=me.headers).status_code == 200
    )


def test_an_id_used_by_another_client_is_a_409_that_reveals_nothing(client, me):
    other = signup(client)
    enrol(client, other)
    body = pain_body(2, id=str(uuid.uuid4()))
    theirs = client.post("/v1/clients/me/pain-logs", json=body, headers=other.headers).json()
    problem = assert_problem(
        client.post("/v1/clients/me/pain-logs", json=body, headers=me.headers), 409
    )
    assert theirs["client_id"] not in str(problem)
    assert _count(client, me, "pain-logs") == 0


@pytest.mark.parametrize("index", [0, 1, 2], ids=["pain-log", "session", "assessment"])
def test_an_idempotency_key_replays_the_first_response(client, me, index):
    path, body, listing = _creates(me.client_id)[index]
    headers = {**me.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post(f"/v1/clients/me/{path}", json=body, headers=headers)
    again = client.post(f"/v1/clients/me/{path}", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _count(client, me, listing) == 1


def test_an_idempotency_key_reused_for_another_request_is_refused(client, me):
    headers = {**me.headers, "Idempotency-Key": "retry-1"}
    assert (
        client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers).status_code
        == 201
    )
    problem = client.post("/v1/clients/me/pain-logs", json=pain_body(3), headers=headers)
    assert_problem(problem, 422, "idempotency-key-reused")
    assert _count(client, me, "pain-logs") == 1


def test_idempotency_keys_belong_to_their_principal(client, me):
    other = signup(client)
    enrol(client, other)
    for actor in (me, other):
        response = client.post(
            "/v1/clients/me/pain-logs",
            json=pain_body(2),
            headers={**actor.headers, "Idempotency-Key": "same-key"},
        )
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers
        assert _count(client, actor, "pain-logs") == 1


def test_failed_requests_are_not_remembered(client, me):
    headers = {**me.headers, "Idempotency-Key": "after-a-fix"}
    bad = pain_body(2, recorded_at=(STARTED - timedelta(days=1)).isoformat())
    assert_problem(client.post("/v1/clients/me/pain-logs", json=bad, headers=headers), 422)
    # The same key with the corrected body is a new request, not a reuse.
    assert (
        client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers).status_code
        == 201
    )


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey"])
def test_malformed_idempotency_keys_are_refused(client, me, key):
    response = client.post(
        "/v1/clients/me/pain-logs",
        json=pain_body(2),
        headers={**me.headers, "Idempotency-Key": key},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert _count(client, me, "pain-logs") == 0


def test_batches_are_idempotent_by_item_id(client, me):
    items = [pain_body(day, id=str(uuid.uuid4())) for day in (1, 2, 3)]
    first = client.post("/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers)
    assert first.status_code == 201
    assert (first.json()["created"], first.json()["existing"]) == (3, 0)

    replay = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert replay.status_code == 200
    assert (replay.json()["created"], replay.json()["existing"]) == (0, 3)
    assert replay.json()["items"] == first.json()["items"]

    # A retry that overlaps: two known items and one new.
    more = [*items[1:], pain_body(4, id=str(uuid.uuid4()))]
    overlap = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": more}, headers=me.headers
    )
    assert overlap.status_code == 201
    assert (overlap.json()["created"], overlap.json()["existing"]) == (1, 2)
    assert _count(client, me, "pain-logs") == 4


def test_a_batch_with_one_conflicting_id_stores_nothing(client, me):
    known = pain_body(1, id=str(uuid.uuid4()))
    client.post("/v1/clients/me/pain-logs", json=known, headers=me.headers)
    items = [pain_body(2, id=str(uuid.uuid4())), {**known, "score": 9}]
    problem = assert_problem(
        client.post("/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers),
        409,
    )
    assert problem["errors"][0]["loc"] == ["body", "items", 1, "id"]
    assert _count(client, me, "pain-logs") == 1


def test_a_batch_repeating_an_id_with_two_bodies_is_refused(client, me):
    same = str(uuid.uuid4())
    items = [pain_body(1, id=same), pain_body(2, id=same)]
    assert_problem(
        client.post("/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers),
        409,
    )
    assert _count(client, me, "pain-logs") == 0


def test_enrolments_and_clients_take_ids_and_keys_too(client):
    coach = signup(client, "coach")
    body = {"id": str(uuid.uuid4()), "display_name": "Kim", "timezone": "Asia/Tokyo"}
    first = client.post("/v1/clients", json=body, headers=coach.headers)
    again = client.post("/v1/clients", json=body, headers=coach.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert_problem(
        client.post("/v1/clients", json={**body, "display_name": "Kai"}, headers=coach.headers), 409
    )

    enrollment = {
        "id": str(uuid.uuid4()),
        "protocol": "hip-impingement",
        "baseline_pain": 5,
        "started_at": STARTED.isoformat(),
    }
    path = f"/v1/clients/{body['id']}/enrollments"
    assert client.post(path, json=enrollment, headers=coach.headers).status_code == 201
    assert client.post(path, json=enrollment, headers=coach.headers).status_code == 200
    assert_problem(
        client.post(path, json={**enrollment, "baseline_pain": 4}, headers=coach.headers), 409
    )

    keyed = {**coach.headers, "Idempotency-Key": "new-client"}
    made = client.post(
        "/v1/clients", json={"display_name": "Lee", "timezone": "UTC"}, headers=keyed
    )
    replay = client.post(
        "/v1/clients", json={"display_name": "Lee", "timezone": "UTC"}, headers=keyed
    )
    assert replay.json() == made.json()
    assert len(client.get("/v1/clients", headers=coach.headers).json()["items"]) == 2


def test_a_coach_logging_for_a_client_is_recorded_under_that_client(client):
    coach = signup(client, "coach")
    managed = managed_client(client, coach)
    enrol(client, coach, managed["id"])
    log = client.post(
        f"/v1/clients/{managed['id']}/pain-logs", json=pain_body(2), headers=coach.headers
    ).json()
    assert log["client_id"] == managed["id"]


def test_idempotency_keys_are_kept_at_least_a_day(client, me, db):
    headers = {**me.headers, "Idempotency-Key": "day-old"}
    first = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers)
    record = db.exec(select(IdempotencyRecord)).one()
    record.created_at -= timedelta(hours=25)
    db.add(record)
    db.commit()
    again = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def test_an_idempotency_key_names_the_target_not_the_spelling_of_its_path(client, me):
    headers = {**me.headers, "Idempotency-Key": "me-or-id"}
    first = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers)
    again = client.post(f"/v1/clients/{me.client_id}/pain-logs", json=pain_body(2), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert _count(client, me, "pain-logs") == 1


def test_an_idempotency_key_reused_for_another_client_is_refused(client):
    coach = signup(client, "coach")
    first, second = managed_client(client, coach), managed_client(client, coach)
    for managed in (first, second):
        enrol(client, coach, managed["id"])
    headers = {**coach.headers, "Idempotency-Key": "one-per-client"}
    path = "/v1/clients/{}/pain-logs"
    assert (
        client.post(path.format(first["id"]), json=pain_body(2), headers=headers).json()[
            "client_id"
        ]
        == first["id"]
    )
    assert_problem(
        client.post(path.format(second["id"]), json=pain_body(2), headers=headers),
        422,
        "idempotency-key-reused",
    )


def _collides(times: int):
    """create_pain_log that adds its rows, then fails to flush `times` times, as a
    concurrent insert of the same key or id would make it."""
    real = tracking.create_pain_log
    calls = []

    def create(*args):
        calls.append(1)
        result = real(*args)
        if len(calls) <= times:
            raise IntegrityError("INSERT INTO pain_log ...", {}, Exception("UNIQUE failed"))
        return result

    return create


def test_a_collision_while_creating_is_retried_once(client, me, monkeypatch):
    monkeypatch.setattr(tracking, "create_pain_log", _collides(1))
    headers = {**me.headers, "Idempotency-Key": "collided"}
    response = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers)
    assert response.status_code == 201, response.text
    assert _count(client, me, "pain-logs") == 1
    again = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers)
    assert again.headers["idempotent-replayed"] == "true"


def test_a_second_collision_is_a_409_that_stores_nothing(client, me, monkeypatch, db):
    monkeypatch.setattr(tracking, "create_pain_log", _collides(2))
    headers = {**me.headers, "Idempotency-Key": "collided-twice"}
    response = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=headers)
    problem = assert_problem(response, 409, "conflict")
    assert "retry" in problem["detail"]
    assert _count(client, me, "pain-logs") == 0
    assert db.exec(select(IdempotencyRecord)).all() == []
