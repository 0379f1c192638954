"""Client profiles: a coach's managed clients and a client's own."""

import uuid

import pytest

from tests.conftest import assert_problem, managed_client, signup


def test_coach_creates_and_reads_a_managed_client(client):
    coach = signup(client, "coach")
    created = managed_client(client, coach, external_id="ehr-1")
    assert created["coach_id"] == coach.account["id"]
    assert created["has_account"] is False
    assert (created["display_name"], created["timezone"], created["external_id"]) == (
        "Managed",
        "America/New_York",
        "ehr-1",
    )
    fetched = client.get(f"/v1/clients/{created['id']}", headers=coach.headers)
    assert fetched.json() == created


def test_external_ids_are_unique_per_coach(client):
    coach, other = signup(client, "coach"), signup(client, "coach")
    managed_client(client, coach, external_id="ehr-1")
    response = client.post(
        "/v1/clients",
        json={"display_name": "B", "timezone": "UTC", "external_id": "ehr-1"},
        headers=coach.headers,
    )
    body = assert_problem(response, 409, "external-id-taken")
    assert body["errors"][0]["loc"] == ["body", "external_id"]
    managed_client(client, other, external_id="ehr-1")  # another coach may use it
    assert len(client.get("/v1/clients", headers=coach.headers).json()["items"]) == 1


def test_clients_may_not_create_clients(client):
    me = signup(client)
    assert_problem(
        client.post(
            "/v1/clients", json={"display_name": "X", "timezone": "UTC"}, headers=me.headers
        ),
        403,
        "coach-only",
    )
    assert [c["id"] for c in client.get("/v1/clients", headers=me.headers).json()["items"]] == [
        me.client_id
    ]


def test_list_shows_a_coachs_own_clients_only(client):
    coach, other = signup(client, "coach"), signup(client, "coach")
    mine = [managed_client(client, coach)["id"] for _ in range(3)]
    managed_client(client, other)
    signup(client)
    listed = client.get("/v1/clients", headers=coach.headers).json()
    assert [c["id"] for c in listed["items"]] == mine
    assert listed["next_cursor"] is None


def test_pages_cover_every_client_exactly_once(client):
    coach = signup(client, "coach")
    made = [managed_client(client, coach)["id"] for _ in range(7)]
    for limit in (1, 3, 7, 200):
        seen, cursor = [], None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/clients", params=params, headers=coach.headers).json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == made, limit


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"display_name": ""}, "display_name"),
        ({"external_id": ""}, "external_id"),
        ({"id": "not-a-uuid"}, "id"),
        ({"coach_id": str(uuid.uuid4())}, "coach_id"),
    ],
)
def test_refused_clients_store_nothing(client, fields, field):
    coach = signup(client, "coach")
    body = {"display_name": "Sam", "timezone": "UTC", **fields}
    problem = assert_problem(client.post("/v1/clients", json=body, headers=coach.headers), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", field]]
    assert client.get("/v1/clients", headers=coach.headers).json()["items"] == []


def test_unknown_and_malformed_client_ids_are_404_or_422(client):
    coach = signup(client, "coach")
    assert_problem(client.get(f"/v1/clients/{uuid.uuid4()}", headers=coach.headers), 404)
    assert_problem(client.get("/v1/clients/someone", headers=coach.headers), 422)
