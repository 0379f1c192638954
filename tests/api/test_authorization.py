"""Who sees what: every role × every operation × own and others' resources.

A client sees only itself; a coach sees its own clients and may log for them; anything
else is 404 (never revealing that it exists); a client calling a coach-only operation is
403; no or a bad token is 401.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import STARTED, Actor, enrol, managed_client, pain_body, signup

PERFORMED = (STARTED + timedelta(days=3)).isoformat()


@dataclass
class World:
    alice: Actor  # a client account
    bob: Actor  # another client account
    carol: Actor  # a coach
    dave: Actor  # another coach
    carols_client: str
    daves_client: str


@pytest.fixture
def world(client: TestClient) -> World:
    alice, bob = signup(client), signup(client)
    carol, dave = signup(client, "coach"), signup(client, "coach")
    carols, daves = managed_client(client, carol)["id"], managed_client(client, dave)["id"]
    for actor, ref in ((alice, "me"), (bob, "me"), (carol, carols), (dave, daves)):
        enrol(client, actor, ref)
    return World(alice, bob, carol, dave, carols, daves)


def _new_log(client: TestClient, owner: Actor, ref: str) -> str:
    response = client.post(f"/v1/clients/{ref}/pain-logs", json=pain_body(1), headers=owner.headers)
    assert response.status_code == 201
    return response.json()["id"]


def _request(client: TestClient, op: str, ref: str, headers: dict, log_id: str):
    base = f"/v1/clients/{ref}"
    session = {"performed_at": PERFORMED, "exercises": [{"exercise": "hip-flexor-stretch"}]}
    assessment = {
        "kind": "squat-knee-tracking",
        "left": "knee_over_foot",
        "right": "knee_over_foot",
        "performed_at": PERFORMED,
    }
    calls = {
        "get client": lambda: client.get(base, headers=headers),
        "list enrollments": lambda: client.get(f"{base}/enrollments", headers=headers),
        "enrol": lambda: client.post(
            f"{base}/enrollments",
            json={"protocol": "hip-impingement", "baseline_pain": 5},
            headers=headers,
        ),
        "log pain": lambda: client.post(f"{base}/pain-logs", json=pain_body(2), headers=headers),
        "list pain": lambda: client.get(f"{base}/pain-logs", headers=headers),
        "batch": lambda: client.post(
            f"{base}/pain-logs/batch", json={"items": [pain_body(2)]}, headers=headers
        ),
        "delete pain": lambda: client.delete(f"{base}/pain-logs/{log_id}", headers=headers),
        "log session": lambda: client.post(f"{base}/sessions", json=session, headers=headers),
        "list sessions": lambda: client.get(f"{base}/sessions", headers=headers),
        "log assessment": lambda: client.post(
            f"{base}/assessments", json=assessment, headers=headers
        ),
        "list assessments": lambda: client.get(f"{base}/assessments", headers=headers),
    }
    return calls[op]()


# Allowed calls succeed with these statuses (enrol: access granted, then 409 because the
# client is already enrolled: only a caller who may see the client can learn that).
SUCCESS = {
    "get client": 200,
    "list enrollments": 200,
    "enrol": 409,
    "log pain": 201,
    "list pain": 200,
    "batch": 201,
    "delete pain": 204,
    "log session": 201,
    "list sessions": 200,
    "log assessment": 201,
    "list assessments": 200,
}


@pytest.mark.parametrize("op", list(SUCCESS))
def test_client_scoped_operations(client: TestClient, world: World, op: str):
    w = world
    # (caller, the path's client ref, the owner who can make a log there, expected status)
    cases = [
        (w.alice, "me", w.alice, "me", SUCCESS[op]),
        (w.alice, w.alice.client_id, w.alice, "me", SUCCESS[op]),
        (w.alice, w.bob.client_id, w.bob, "me", 404),
        (w.alice, w.carols_client, w.carol, w.carols_client, 404),
        (w.carol, w.carols_client, w.carol, w.carols_client, SUCCESS[op]),
        (w.carol, w.daves_client, w.dave, w.daves_client, 404),
        (w.carol, w.alice.client_id, w.alice, "me", 404),
        (w.carol, "me", w.carol, w.carols_client, 404),
        (w.dave, w.carols_client, w.carol, w.carols_client, 404),
        (None, w.alice.client_id, w.alice, "me", 401),
        (None, "me", w.alice, "me", 401),
    ]
    for caller, ref, owner, owner_ref, expected in cases:
        log_id = _new_log(client, owner, owner_ref)
        headers = caller.headers if caller else {}
        response = _request(client, op, ref, headers, log_id)
        who = caller.account["role"] if caller else "anonymous"
        assert response.status_code == expected, (op, who, ref, response.text)
        if expected >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        if expected == 404:
            assert owner.account["email"] not in response.text


def test_a_log_id_from_someone_else_is_404_under_your_own_path(client: TestClient, world: World):
    bobs_log = _new_log(client, world.bob, "me")
    assert (
        client.delete(
            f"/v1/clients/me/pain-logs/{bobs_log}", headers=world.alice.headers
        ).status_code
        == 404
    )
    carols_log = _new_log(client, world.carol, world.carols_client)
    response = client.delete(
        f"/v1/clients/{world.daves_client}/pain-logs/{carols_log}", headers=world.dave.headers
    )
    assert response.status_code == 404
    # Both logs are still there for their owners.
    assert bobs_log in client.get("/v1/clients/me/pain-logs", headers=world.bob.headers).text
    assert (
        carols_log
        in client.get(
            f"/v1/clients/{world.carols_client}/pain-logs", headers=world.carol.headers
        ).text
    )


def test_nobody_reads_anothers_lists_through_filters(client: TestClient, world: World):
    _new_log(client, world.bob, "me")
    mine = client.get(
        "/v1/clients/me/pain-logs", params={"context": "rest"}, headers=world.alice.headers
    ).json()
    assert all(log["client_id"] == world.alice.client_id for log in mine["items"])
    listed = client.get("/v1/clients", headers=world.carol.headers).json()["items"]
    assert [c["id"] for c in listed] == [world.carols_client]


COACH_ONLY = {
    "create client": (
        lambda c, h: c.post(
            "/v1/clients", json={"display_name": "X", "timezone": "UTC"}, headers=h
        ),
        201,
    ),
    "create api key": (lambda c, h: c.post("/v1/api-keys", json={"name": "k"}, headers=h), 201),
    "list api keys": (lambda c, h: c.get("/v1/api-keys", headers=h), 200),
    "revoke api key": (lambda c, h: c.delete(f"/v1/api-keys/{uuid.uuid4()}", headers=h), 404),
}


@pytest.mark.parametrize("op", list(COACH_ONLY))
def test_coach_only_operations(client: TestClient, world: World, op: str):
    call, coach_status = COACH_ONLY[op]
    assert call(client, world.carol.headers).status_code == coach_status
    forbidden = call(client, world.alice.headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["type"].endswith("/coach-only")
    assert call(client, {}).status_code == 401


def test_an_api_key_acts_as_its_coach(client: TestClient, world: World):
    key = client.post("/v1/api-keys", json={"name": "ehr"}, headers=world.carol.headers).json()[
        "key"
    ]
    headers = {"Authorization": f"Bearer {key}"}
    response = client.post(
        f"/v1/clients/{world.carols_client}/pain-logs", json=pain_body(2), headers=headers
    )
    assert response.status_code == 201
    assert client.get(f"/v1/clients/{world.daves_client}", headers=headers).status_code == 404


@pytest.mark.parametrize("path", ["/v1/me", "/v1/clients", "/v1/clients/me/pain-logs"])
def test_anonymous_calls_are_401_with_a_challenge(client: TestClient, path: str):
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
