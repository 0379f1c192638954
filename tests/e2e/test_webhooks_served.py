"""Webhooks for real: `hipfix serve` with its delivery worker, and a receiver on loopback
started by the test, as a coach's server would be."""

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.databases import fresh_database, require
from tests.e2e.receiver import Receiver
from tests.e2e.server import Server, serving

pytestmark = pytest.mark.e2e

# The receiver is on loopback, which only this setting allows; rounds often, so tests wait
# little; no write limit in the way of the tests' bursts.
WORKER = {
    "HIPFIX_WEBHOOKS_WORKER": "true",
    "HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
    "HIPFIX_WEBHOOKS_POLL_SECONDS": "0.2",
    "HIPFIX_WRITE_RATE_LIMIT": "",
}


def coach_headers(http: httpx.Client) -> dict[str, str]:
    account = {
        "email": f"coach-{uuid.uuid4().hex[:8]}@example.com",
        "password": "correct horse battery",
        "display_name": "Coach",
        "role": "coach",
        "timezone": "UTC",
    }
    assert http.post("/v1/accounts", json=account).status_code == 201
    login = {"username": account["email"], "password": account["password"]}
    token = http.post("/v1/auth/token", data=login).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def subscribe(http: httpx.Client, headers: dict[str, str], url: str, *types: str) -> str:
    body = {"url": url, "event_types": list(types or ("referral",))}
    created = http.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert created.status_code == 201, created.text
    secret: str = created.json()["secret"]
    return secret


def referred_client(http: httpx.Client, headers: dict[str, str]) -> str:
    """A managed client enrolled, then a red flag logged: one `enrolled`, one `referral`."""
    managed = http.post(
        "/v1/clients", json={"display_name": "Sam", "timezone": "UTC"}, headers=headers
    )
    assert managed.status_code == 201, managed.text
    client_id: str = managed.json()["id"]
    enrol = {"protocol": "hip-impingement", "baseline_pain": 5}
    enrolled = http.post(f"/v1/clients/{client_id}/enrollments", json=enrol, headers=headers)
    assert enrolled.status_code == 201, enrolled.text
    flagged = {
        "score": 4,
        "context": "rest",
        "side": "right",
        "flags": ["night_pain"],
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    logged = http.post(f"/v1/clients/{client_id}/pain-logs", json=flagged, headers=headers)
    assert logged.status_code == 201, logged.text
    return client_id


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(200).running() as running:
        yield running


def test_a_referral_is_delivered_and_verifies(tmp_path: Path, receiver: Receiver) -> None:
    with (
        serving(f"sqlite:///{tmp_path / 'hipfix.db'}", tmp_path / "server.log", env=WORKER) as s,
        httpx.Client(base_url=s.base, timeout=20) as http,
    ):
        headers = coach_headers(http)
        secret = subscribe(http, headers, receiver.url)
        client_id = referred_client(http, headers)
        receiver.wait_for(lambda r: len(r.received) >= 1)
    (got,) = receiver.received
    payload: dict[str, Any] = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "referral"
    assert payload["id"] == got.headers["webhook-id"]
    assert payload["data"]["client"]["id"] == client_id
    assert payload["data"]["decision"]["rule"] == "refer.red-flag"
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(got.body.replace(b"referral", b"resolved"), got.headers)


def test_a_receiver_failing_once_gets_the_event_again_with_the_same_id(tmp_path: Path) -> None:
    with (
        Receiver(500, 200).running() as receiver,
        serving(f"sqlite:///{tmp_path / 'hipfix.db'}", tmp_path / "server.log", env=WORKER) as s,
        httpx.Client(base_url=s.base, timeout=20) as http,
    ):
        headers = coach_headers(http)
        secret = subscribe(http, headers, receiver.url)
        referred_client(http, headers)
        receiver.wait_for(lambda r: len(r.received) >= 2)
        endpoints = http.get("/v1/webhook-endpoints", headers=headers).json()["items"]
        deliveries = f"/v1/webhook-endpoints/{endpoints[0]['id']}/deliveries"
        # The worker records an outcome in a unit of work after the receiver has answered:
        # the log may still show the first attempt for a moment.
        deadline = time.monotonic() + 30
        while True:
            log = http.get(deliveries, headers=headers).json()["items"]
            if log[0]["status"] != "pending" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert Webhook(secret).verify(second.body, second.headers)["type"] == "referral"
    assert [(d["status"], d["attempts"], d["response_status_code"]) for d in log] == [
        ("succeeded", 2, 200)
    ]


def test_deliveries_pending_when_the_server_is_killed_are_sent_after_a_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite:///{tmp_path / 'hipfix.db'}"
    # First without a worker, so that the deliveries are surely still pending when it dies.
    first = Server(url, tmp_path / "server.log", env={**WORKER, "HIPFIX_WEBHOOKS_WORKER": "false"})
    first.migrate()
    first.start()
    with httpx.Client(base_url=first.base, timeout=20) as http:
        headers = coach_headers(http)
        secret = subscribe(http, headers, receiver.url, "enrolled", "referral")
        for _ in range(3):
            referred_client(http, headers)
    first.kill()
    assert receiver.received == []
    with serving(url, tmp_path / "server.log", env=WORKER):
        receiver.wait_for(lambda r: len(r.received) >= 6)
    types = sorted(Webhook(secret).verify(r.body, r.headers)["type"] for r in receiver.received)
    assert types == ["enrolled"] * 3 + ["referral"] * 3
    assert set(receiver.ids().values()) == {1}


def test_two_servers_on_postgresql_send_each_event_exactly_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    require("postgresql")
    with fresh_database("postgresql", tmp_path) as url:
        one = Server(url, tmp_path / "one.log", env=WORKER)
        two = Server(url, tmp_path / "two.log", env=WORKER)
        one.migrate()
        one.start()
        two.start()
        try:
            # Both workers run; events are written through both servers in turn.
            with (
                httpx.Client(base_url=one.base, timeout=20) as via_one,
                httpx.Client(base_url=two.base, timeout=20) as via_two,
            ):
                headers = coach_headers(via_one)
                subscribe(via_one, headers, receiver.url, "enrolled", "referral")
                clients = 12
                for index in range(clients):
                    referred_client(via_one if index % 2 else via_two, headers)
                expected = 2 * clients
                receiver.wait_for(lambda r: len(r.ids()) >= expected)
                # A few more rounds of both workers: a second sending would show up now.
                endpoint = via_one.get("/v1/webhook-endpoints", headers=headers).json()["items"][0]
                receiver.wait_for(
                    lambda r: all(
                        d["status"] == "succeeded"
                        for d in via_two.get(
                            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries",
                            headers=headers,
                        ).json()["items"]
                    )
                )
        finally:
            one.stop()
            two.stop()
    counts = receiver.ids()
    assert len(counts) == expected
    assert set(counts.values()) == {1}, counts
    assert len(receiver.received) == expected


def test_a_loopback_url_is_refused_with_the_setting_off(tmp_path: Path) -> None:
    settings = {**WORKER, "HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS": "false"}
    with (
        serving(f"sqlite:///{tmp_path / 'hipfix.db'}", tmp_path / "server.log", env=settings) as s,
        httpx.Client(base_url=s.base, timeout=20) as http,
    ):
        headers = coach_headers(http)
        refused = http.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1/hooks", "event_types": ["referral"]},
            headers=headers,
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        problem = json.loads(refused.content)
        assert problem["type"].endswith("/webhook-url-not-allowed")
        assert "127.0.0.1" in problem["detail"]
        assert http.get("/v1/webhook-endpoints", headers=headers).json()["items"] == []
