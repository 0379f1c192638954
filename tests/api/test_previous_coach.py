"""A client moving from one coach to the next (issue #25, finding 12): the next coach reads
what the previous one did, never who it was (account, API key, name), in what words (an
override's reason), nor its reference for the client (`external_id`). The client still reads
its whole history."""

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.models import EngineEvent, Enrollment, WebhookDelivery
from app.webhooks import outbox
from tests.conftest import PASSWORD, Actor, enrol, pain_body

REASON = "Private note of the first coach: knee surgery in 2019."
A_NAME = "Dr Ariadne Firstcoach"
EXTERNAL_ID = "first-clinic-4711"
HOOK = "https://93.184.215.14/hooks"  # public, given literally: nothing is resolved


def _signup(client: TestClient, role: str, name: str) -> Actor:
    address = f"{role}-{uuid.uuid4().hex[:12]}@example.com"
    created = client.post(
        "/v1/accounts",
        json={
            "email": address,
            "password": PASSWORD,
            "display_name": name,
            "role": role,
            "timezone": "Europe/London",
        },
    )
    assert created.status_code == 201, created.text
    token = client.post("/v1/auth/token", data={"username": address, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return Actor(created.json(), {"Authorization": f"Bearer {token.json()['access_token']}"})


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


def _moved_client(client: TestClient) -> tuple[Actor, Actor, Actor, str, dict[str, Any]]:
    """Coach A manages a client (with its external_id), gives it a login, overrides with a
    reason through an API key; the client leaves A and accepts coach B's invitation."""
    coach_a = _signup(client, "coach", A_NAME)
    hooked = client.post(
        "/v1/webhook-endpoints",
        json={"url": HOOK, "event_types": ["client_left"]},
        headers=coach_a.headers,
    )
    _ok(hooked, 201)
    key = _ok(
        client.post("/v1/api-keys", json={"name": "clinic sync"}, headers=coach_a.headers), 201
    ).json()
    by_key = {"Authorization": f"Bearer {key['key']}"}
    managed = _ok(
        client.post(
            "/v1/clients",
            json={"display_name": "Robin", "timezone": "Europe/London", "external_id": EXTERNAL_ID},
            headers=coach_a.headers,
        ),
        201,
    ).json()
    robin = _signup(client, "client", "Robin")
    code = _ok(
        client.post(
            "/v1/invitations",
            json={"email": robin.account["email"], "client_id": managed["id"]},
            headers=coach_a.headers,
        ),
        201,
    ).json()["code"]
    _ok(client.post(f"/v1/invitations/{code}/accept", headers=robin.headers))
    client_id = managed["id"]
    enrol(client, coach_a, client_id)
    _ok(client.post(f"/v1/clients/{client_id}/pain-logs", json=pain_body(1), headers=by_key), 201)
    _ok(
        client.post(
            f"/v1/clients/{client_id}/overrides",
            json={"action": "unlock_stage", "reason": REASON},
            headers=by_key,
        ),
        201,
    )
    # A's own reads, before the move: all of it, its reference included.
    assert (
        _ok(client.get(f"/v1/clients/{client_id}", headers=coach_a.headers)).json()["external_id"]
        == EXTERNAL_ID
    )
    assert REASON in client.get(f"/v1/clients/{client_id}/events", headers=by_key).text

    _ok(client.delete("/v1/me/coach", headers=robin.headers), 204)
    coach_b = _signup(client, "coach", "Dr Bo Nextcoach")
    code = _ok(client.post("/v1/invitations", json={}, headers=coach_b.headers), 201).json()["code"]
    _ok(client.post(f"/v1/invitations/{code}/accept", headers=robin.headers))
    return coach_a, coach_b, robin, client_id, key


def test_the_next_coach_reads_none_of_the_previous_coachs_private_data(client):
    coach_a, coach_b, _robin, client_id, key = _moved_client(client)
    private = [coach_a.account["id"], key["id"], A_NAME, REASON, EXTERNAL_ID]
    reads = {
        path: _ok(client.get(path, headers=coach_b.headers))
        for path in (
            f"/v1/clients/{client_id}",
            "/v1/clients",
            "/v1/events",
            f"/v1/events?client_id={client_id}",
            f"/v1/clients/{client_id}/events",
            f"/v1/clients/{client_id}/progress",
            f"/v1/clients/{client_id}/today",
            f"/v1/clients/{client_id}/report",
            f"/v1/clients/{client_id}/fhir",
            f"/v1/clients/{client_id}/charts/pain.svg",
            f"/v1/clients/{client_id}/enrollments",
            f"/v1/clients/{client_id}/pain-logs",
            f"/v1/clients/{client_id}/sessions",
            f"/v1/clients/{client_id}/assessments",
        )
    }
    for path in (f"/v1/clients/{client_id}/pain-logs", f"/v1/clients/{client_id}/events"):
        as_csv = {"Accept": "text/csv", **coach_b.headers}
        reads[f"{path} (csv)"] = _ok(client.get(path, headers=as_csv))
    for path, response in reads.items():
        for secret in private:
            assert secret not in response.text, (path, secret)

    # What A did still shows: a coach's unlock, its decision, without whose or why.
    events = reads[f"/v1/clients/{client_id}/events"].json()["items"]
    unlocked = next(e for e in events if e["rule"] == "override.unlock-stage")
    assert unlocked["actor"] == {"role": "coach", "account_id": None, "api_key_id": None}
    assert unlocked["data"]["reason"] is None
    assert "withheld" in unlocked["message"]
    feed = reads["/v1/events"].json()["items"]
    assert {e["client_id"] for e in feed} == {client_id}
    assert all(e["actor"]["account_id"] != coach_a.account["id"] for e in feed)
    stages = reads[f"/v1/clients/{client_id}/progress"].json()["stages"]
    opened = next(s for s in stages if s["unlocked_by"] == "coach")
    assert "withheld" in opened["reason"]
    assert "A previous coach" in reads[f"/v1/clients/{client_id}/report"].text
    assert reads[f"/v1/clients/{client_id}"].json()["external_id"] is None
    logged = reads[f"/v1/clients/{client_id}/pain-logs"].json()["items"]
    assert [log["actor"] for log in logged] == [
        {"role": "coach", "account_id": None, "api_key_id": None}
    ]

    # B's own work is B's: named in full.
    own = _ok(
        client.post(
            f"/v1/clients/{client_id}/pain-logs", json=pain_body(3), headers=coach_b.headers
        ),
        201,
    ).json()
    assert own["actor"]["account_id"] == coach_b.account["id"]


def test_the_client_still_reads_its_whole_history(client):
    coach_a, _coach_b, robin, _client_id, key = _moved_client(client)
    events = _ok(client.get("/v1/clients/me/events", headers=robin.headers)).json()["items"]
    unlocked = next(e for e in events if e["rule"] == "override.unlock-stage")
    assert unlocked["actor"] == {
        "role": "coach",
        "account_id": coach_a.account["id"],
        "api_key_id": key["id"],
    }
    assert unlocked["data"]["reason"] == REASON
    assert REASON in unlocked["message"]
    logged = _ok(client.get("/v1/clients/me/pain-logs", headers=robin.headers)).json()["items"]
    assert [log["actor"]["api_key_id"] for log in logged] == [key["id"]]
    feed = _ok(client.get("/v1/events", headers=robin.headers)).json()["items"]
    assert any(e["actor"]["api_key_id"] == key["id"] for e in feed)
    stages = _ok(client.get("/v1/clients/me/progress", headers=robin.headers)).json()["stages"]
    assert REASON in [s["reason"] for s in stages]
    report = _ok(client.get("/v1/clients/me/report", headers=robin.headers)).text
    assert A_NAME in report
    assert REASON in report
    exported = _ok(client.get("/v1/me/export", headers=robin.headers)).text
    assert REASON in exported
    assert coach_a.account["id"] in exported


def _bodies(db: Session, endpoint_id: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == uuid.UUID(endpoint_id))
    ).all()
    return [json.loads(row.body) for row in rows]


def test_webhooks_tell_each_coach_only_its_own(client, db):
    coach_a, coach_b, _robin, client_id, _key = _moved_client(client)
    # A learns which of its clients left by its id, and nothing else (PRODUCT §8).
    a_hooks = client.get("/v1/webhook-endpoints", headers=coach_a.headers).json()["items"]
    left = _bodies(db, a_hooks[0]["id"])
    assert [(b["type"], b["data"]["client"], b["data"]["reason"]) for b in left] == [
        ("client_left", {"id": client_id}, "left")
    ]
    # A decision made from A's override, announced to B (a re-evaluation retracting it, as
    # a backdated log would): without A's words.
    hooked = client.post(
        "/v1/webhook-endpoints",
        json={"url": HOOK, "event_types": ["stage_unlocked", "decision_retracted"]},
        headers=coach_b.headers,
    )
    b_hook = _ok(hooked, 201).json()["id"]
    enrollment = db.exec(
        select(Enrollment).where(col(Enrollment.client_id) == uuid.UUID(client_id))
    ).one()
    unlocked = db.exec(
        select(EngineEvent)
        .where(col(EngineEvent.client_id) == uuid.UUID(client_id))
        .where(col(EngineEvent.rule) == "override.unlock-stage")
    ).all()
    outbox.on_decisions(db, enrollment, made=unlocked, retracted=unlocked)
    db.flush()
    sent = _bodies(db, b_hook)
    assert len(sent) == 2 * len(unlocked) > 0
    for body in sent:
        assert REASON not in json.dumps(body)
        assert body["data"]["decision"]["data"]["reason"] is None
        assert body["data"]["client"]["external_id"] is None
