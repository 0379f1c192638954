"""Lifecycle events in the feed and webhooks (PRODUCT §8): `client_left` (left, released,
erased: ids and the reason only), `enrollment_ended`, `params_changed`."""

from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_webhooks import URL, Receiver, Rounds
from tests.conftest import PASSWORD, Actor, enrol, managed_client, signup

LIFECYCLE = ["client_left", "enrollment_ended", "params_changed"]


def hook(client: TestClient, coach: Actor) -> None:
    body = {"url": URL, "event_types": LIFECYCLE}
    assert client.post("/v1/webhook-endpoints", json=body, headers=coach.headers).status_code == 201


def linked(client: TestClient, coach: Actor) -> Actor:
    """A client that signs in itself, linked to `coach` by an invitation."""
    person = signup(client)
    code = client.post("/v1/invitations", json={}, headers=coach.headers).json()["code"]
    accepted = client.post(f"/v1/invitations/{code}/accept", headers=person.headers)
    assert accepted.status_code == 200, accepted.text
    return person


def feed(client: TestClient, actor: Actor, **params: Any) -> list[dict[str, Any]]:
    page = client.get("/v1/events", params={"limit": 200, **params}, headers=actor.headers)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def sent(client: TestClient, app: Any) -> list[dict[str, Any]]:
    receiver = Receiver(200)
    Rounds(client, app, receiver).run()
    return receiver.bodies()


def test_a_client_that_leaves_is_told_to_its_coach_alone_by_id_and_reason(client, app):
    coach = signup(client, "coach")
    hook(client, coach)
    person = linked(client, coach)
    assert client.delete("/v1/me/coach", headers=person.headers).status_code == 204

    (left,) = feed(client, coach, type="client_left")
    assert (left["client_id"], left["enrollment_id"], left["decision_type"]) == (
        person.client_id,
        None,
        None,
    )
    assert left["data"] == {
        "client_id": person.client_id,
        "coach_id": coach.account["id"],
        "reason": "left",
    }
    assert left["actor"] == {"role": "client", "account_id": None, "api_key_id": None}
    # The coach's alone: not the client's, nor another coach's.
    assert feed(client, person, type="client_left") == []
    assert feed(client, signup(client, "coach")) == []
    (body,) = sent(client, app)
    assert body["type"] == "client_left"
    assert body["data"]["client"] == {"id": person.client_id}
    assert body["data"]["reason"] == "left"
    assert body["created_at"].endswith("Z")
    assert body["data"]["at"].endswith("Z")


def test_a_coach_that_releases_a_client_hears_it_as_released(client, app):
    coach = signup(client, "coach")
    hook(client, coach)
    person = linked(client, coach)
    path = f"/v1/clients/{person.client_id}/coach"
    assert client.delete(path, headers=coach.headers).status_code == 204
    (left,) = feed(client, coach, type="client_left")
    assert left["data"]["reason"] == "released"
    assert [b["data"]["reason"] for b in sent(client, app)] == ["released"]


def test_an_erased_linked_client_leaves_one_client_left_with_nothing_personal(client, app):
    coach = signup(client, "coach")
    hook(client, coach)
    person = linked(client, coach)
    enrol(client, person)
    client.patch("/v1/me", json={"display_name": "Robin Private"}, headers=person.headers)
    erased = client.post("/v1/me/erasure", json={"password": PASSWORD}, headers=person.headers)
    assert erased.status_code == 204, erased.text

    entries = feed(client, coach)
    assert [e["type"] for e in entries] == ["client_left"]
    assert entries[0]["data"]["reason"] == "erased"
    bodies = sent(client, app)
    assert [(b["type"], b["data"]["client"]) for b in bodies] == [
        ("client_left", {"id": person.client_id})
    ]
    for shown in (str(entries), str(bodies)):
        for personal in (person.account["email"], "Robin Private", person.account["id"]):
            assert personal not in shown


def test_an_enrolment_that_ends_and_a_change_of_parameters_are_in_the_feed_and_sent(client, app):
    coach = signup(client, "coach")
    hook(client, coach)
    managed = managed_client(client, coach)
    enrollment = enrol(client, coach, managed["id"])
    path = f"/v1/clients/{managed['id']}/enrollments/{enrollment['id']}"
    changed = client.patch(path, json={"params": {"hold_days": 3}}, headers=coach.headers)
    assert changed.status_code == 200, changed.text
    same = client.patch(path, json={"params": {"hold_days": 3}}, headers=coach.headers)
    assert same.status_code == 200  # the same values change nothing, and say nothing
    body = {"outcome": "completed", "reason": "Back to running."}
    ended = client.post(f"{path}/end", json=body, headers=coach.headers)
    assert ended.status_code == 200, ended.text
    assert client.post(f"{path}/end", json=body, headers=coach.headers).status_code == 200

    entries = feed(client, coach, type=["params_changed", "enrollment_ended"])
    assert [e["type"] for e in entries] == ["params_changed", "enrollment_ended"]
    params, end = entries
    assert params["enrollment_id"] == end["enrollment_id"] == enrollment["id"]
    assert params["data"]["changed"] == ["hold_days"]
    assert params["data"]["after"]["hold_days"] == 3
    assert params["actor"]["account_id"] == coach.account["id"]
    assert end["data"]["outcome"] == "completed"
    assert end["rule"] == "lifecycle.enrollment_ended"
    bodies = sent(client, app)
    assert [b["type"] for b in bodies] == ["params_changed", "enrollment_ended"]
    assert {b["data"]["enrollment"]["id"] for b in bodies} == {enrollment["id"]}
    assert bodies[1]["data"]["outcome"] == "completed"
