"""Webhook endpoints through HTTP, and deliveries driven round by round: the app's worker is
off in tests, so each test runs `worker.run_once()` itself, with its clock set and a
receiver standing in for the coach's server (httpx's MockTransport)."""

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from app.models import Enrollment, WebhookDelivery
from app.models.base import utcnow
from app.webhooks import delivery, outbox
from app.webhooks.worker import DeliveryWorker
from tests.conftest import Actor, assert_problem, enrol, managed_client, pain_body, signup

# A public address, given literally: nothing is resolved and the check still applies.
URL = "https://93.184.215.14/hooks/hipfix"


class Receiver:
    """The coach's server: answers from `statuses` in turn (then the last one forever)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses or (200,))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return httpx.Response(status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


class Rounds:
    """The app's worker, run one round at a time at a clock the test sets."""

    def __init__(self, client: TestClient, app: FastAPI, receiver: Receiver) -> None:
        self.client = client
        self.worker: DeliveryWorker = app.state.webhooks
        self.worker.transport = httpx.MockTransport(receiver)
        self.worker.rand = lambda: 0.0
        # The test's time runs ahead of the real one by `ahead` (what was written just now,
        # at the real time, is due).
        self.ahead = timedelta()
        self.worker.clock = lambda: self.now

    @property
    def now(self) -> datetime:
        return utcnow() + self.ahead

    def run(self, after: timedelta = timedelta()) -> int:
        self.ahead += after
        sent: int = self.client.portal.call(self.worker.run_once)  # type: ignore[union-attr]
        return sent


@pytest.fixture
def receiver() -> Receiver:
    return Receiver(200)


@pytest.fixture
def rounds(client: TestClient, app: FastAPI, receiver: Receiver) -> Rounds:
    return Rounds(client, app, receiver)


@pytest.fixture
def coach(client: TestClient) -> Actor:
    return signup(client, "coach")


def register(client: TestClient, coach: Actor, **fields: Any) -> dict[str, Any]:
    body = {"url": URL, "event_types": ["referral"], **fields}
    created = client.post("/v1/webhook-endpoints", json=body, headers=coach.headers)
    assert created.status_code == 201, created.text
    return created.json()


def enrolled_client(client: TestClient, coach: Actor) -> str:
    managed = managed_client(client, coach)
    enrol(client, coach, managed["id"])
    return str(managed["id"])


def flag(client: TestClient, coach: Actor, client_id: str, day: int = 2) -> dict[str, Any]:
    body = pain_body(day, flags=["night_pain"])
    logged = client.post(f"/v1/clients/{client_id}/pain-logs", json=body, headers=coach.headers)
    assert logged.status_code == 201, logged.text
    return logged.json()


def deliveries(client: TestClient, coach: Actor, endpoint_id: str) -> list[dict[str, Any]]:
    page = client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=coach.headers)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def verify(secret: str, request: httpx.Request) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(request.content, dict(request.headers))
    return payload


# --- endpoints -----------------------------------------------------------------------------


def test_a_coach_registers_reads_changes_and_deletes_an_endpoint(client, coach):
    created = register(client, coach, description="clinic EHR", event_types=["referral", "flare"])
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    endpoint_id = created["id"]
    shown = client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=coach.headers).json()
    assert "secret" not in shown
    assert shown["event_types"] == ["referral", "flare"]
    listed = client.get("/v1/webhook-endpoints", headers=coach.headers).json()
    assert [e["id"] for e in listed["items"]] == [endpoint_id]
    assert "secret" not in listed["items"][0]

    changed = client.patch(
        f"/v1/webhook-endpoints/{endpoint_id}",
        json={"event_types": ["resolved"], "enabled": False},
        headers=coach.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["event_types"], changed.json()["enabled"]) == (["resolved"], False)
    assert changed.json()["description"] == "clinic EHR"

    gone = client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=coach.headers)
    assert gone.status_code == 204
    missing = client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=coach.headers)
    assert_problem(missing, 404, "not-found")


def test_a_retried_registration_finds_the_first_endpoint_without_its_secret(client, coach):
    """A coach's integration that times out and retries with its Idempotency-Key must not end
    up with two endpoints (each event would arrive twice), nor see the secret again."""
    body = {"url": URL, "event_types": ["referral"]}
    headers = {**coach.headers, "Idempotency-Key": "register-ehr-1"}
    first = client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["secret"].startswith("whsec_")
    again = client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["secret"] is None
    listed = client.get("/v1/webhook-endpoints", headers=coach.headers).json()
    assert [e["id"] for e in listed["items"]] == [first.json()["id"]]
    other = client.post(
        "/v1/webhook-endpoints", json={**body, "event_types": ["flare"]}, headers=headers
    )
    assert_problem(other, 422, "idempotency-key-reused")


def test_clients_have_no_endpoints_and_coaches_see_only_their_own(client, coach):
    me = signup(client)
    refused = client.post(
        "/v1/webhook-endpoints", json={"url": URL, "event_types": ["referral"]}, headers=me.headers
    )
    assert_problem(refused, 403, "coach-only")
    endpoint_id = register(client, coach)["id"]
    other = signup(client, "coach")
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/ping"),
        ("GET", "/deliveries"),
    ]:
        answer = client.request(
            method,
            f"/v1/webhook-endpoints/{endpoint_id}{path}",
            headers=other.headers,
            json={} if method == "PATCH" else None,
        )
        assert_problem(answer, 404, "not-found")
    assert client.get("/v1/webhook-endpoints", headers=other.headers).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"url": URL, "event_types": ["override"]},
        {"url": URL, "event_types": []},
        {"url": URL},
        {"url": "not a url", "event_types": ["referral"]},
        {"url": URL, "event_types": ["referral"], "secret": "whsec_mine"},
    ],
)
def test_bad_endpoints_are_refused_and_nothing_is_stored(client, coach, body):
    refused = client.post("/v1/webhook-endpoints", json=body, headers=coach.headers)
    assert_problem(refused, 422)
    assert client.get("/v1/webhook-endpoints", headers=coach.headers).json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        # IPv6 forms that carry a loopback or link-local IPv4 address (issue #25)
        "https://[::127.0.0.1]/hook",
        "https://[::ffff:0:7f00:1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "https://100.64.0.1/hook",
        "http://93.184.215.14/hook",  # public, but plain http
    ],
)
def test_urls_that_are_not_public_https_are_refused(client, coach, url):
    refused = client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "event_types": ["referral"]},
        headers=coach.headers,
    )
    body = assert_problem(refused, 422, "webhook-url-not-allowed")
    assert body["errors"][0]["loc"] == ["body", "url"]
    assert client.get("/v1/webhook-endpoints", headers=coach.headers).json()["items"] == []


@pytest.mark.parametrize(
    "url", ["https://user:pw@93.184.215.14/hook", "ftp://93.184.215.14/hook", "clinic.example"]
)
def test_urls_of_another_form_are_invalid_as_the_schema_says(client, coach, url):
    refused = client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "event_types": ["referral"]},
        headers=coach.headers,
    )
    body = assert_problem(refused, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", "url"]
    assert "absolute http(s) URL" in body["errors"][0]["msg"]


def test_a_coach_has_at_most_twenty_endpoints_then_409_until_one_is_deleted(client, coach):
    ids = [register(client, coach)["id"] for _ in range(20)]
    body = {"url": URL, "event_types": ["referral"]}
    refused = client.post("/v1/webhook-endpoints", json=body, headers=coach.headers)
    assert_problem(refused, 409, "too-many-webhook-endpoints")
    deleted = client.delete(f"/v1/webhook-endpoints/{ids[0]}", headers=coach.headers)
    assert deleted.status_code == 204
    again = client.post("/v1/webhook-endpoints", json=body, headers=coach.headers)
    assert again.status_code == 201, again.text


def test_enabled_is_true_or_false_not_a_number(client, coach):
    created = client.post(
        "/v1/webhook-endpoints",
        json={"url": URL, "event_types": ["referral"], "enabled": 0},
        headers=coach.headers,
    )
    assert_problem(created, 422, "validation-error")
    endpoint_id = register(client, coach)["id"]
    changed = client.patch(
        f"/v1/webhook-endpoints/{endpoint_id}", json={"enabled": 1}, headers=coach.headers
    )
    assert_problem(changed, 422, "validation-error")


def test_a_change_of_url_is_checked_too(client, coach):
    endpoint_id = register(client, coach)["id"]
    refused = client.patch(
        f"/v1/webhook-endpoints/{endpoint_id}",
        json={"url": "https://127.0.0.1/x"},
        headers=coach.headers,
    )
    assert_problem(refused, 422, "webhook-url-not-allowed")
    shown = client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=coach.headers).json()
    assert shown["url"] == URL


@pytest.mark.parametrize(
    "url",
    [
        "HTTPS://" + "0" * 1990,  # one label, within the URL's 2,000 characters
        "https://" + "a" * 64 + ".example.com/hook",
    ],
)
def test_a_host_name_beyond_dns_limits_is_refused_not_a_500(client, coach, url):
    body = {"url": url, "event_types": ["referral"]}
    refused = client.post("/v1/webhook-endpoints", json=body, headers=coach.headers)
    problem = assert_problem(refused, 422, "webhook-url-not-allowed")
    assert problem["errors"][0]["loc"] == ["body", "url"]
    assert "host name" in problem["errors"][0]["msg"]
    assert client.get("/v1/webhook-endpoints", headers=coach.headers).json()["items"] == []

    endpoint_id = register(client, coach)["id"]
    path = f"/v1/webhook-endpoints/{endpoint_id}"
    refused = client.patch(path, json={"url": url}, headers=coach.headers)
    problem = assert_problem(refused, 422, "webhook-url-not-allowed")
    assert problem["errors"][0]["loc"] == ["body", "url"]
    assert client.get(path, headers=coach.headers).json()["url"] == URL


@pytest.mark.parametrize(
    "url",
    [
        "https://xn--.example.com/hook",  # an IDNA label with nothing after xn--
        "HTTPS://xn--zz-zzzzzzz.example/hook",  # Punycode for code points IDNA forbids
        "https://example.com:65536/hook",
        "https://example.com:0/hook",
        "https://example.com:99999999999999999999/hook",
        "https://[::1/hook",
    ],
)
def test_odd_hosts_and_ports_are_a_422_naming_the_url_on_post_and_patch(client, coach, url):
    body = {"url": url, "event_types": ["referral"]}
    refused = client.post("/v1/webhook-endpoints", json=body, headers=coach.headers)
    problem = assert_problem(refused, 422, "webhook-url-not-allowed")
    assert problem["errors"][0]["loc"] == ["body", "url"]
    endpoint_id = register(client, coach)["id"]
    path = f"/v1/webhook-endpoints/{endpoint_id}"
    refused = client.patch(path, json={"url": url}, headers=coach.headers)
    assert assert_problem(refused, 422, "webhook-url-not-allowed")["errors"][0]["loc"] == [
        "body",
        "url",
    ]
    assert client.get(path, headers=coach.headers).json()["url"] == URL


# --- deliveries ----------------------------------------------------------------------------


def test_a_referral_is_delivered_signed_with_the_client_enrolment_and_decision(
    client, coach, rounds, receiver
):
    endpoint = register(client, coach)
    client_id = enrolled_client(client, coach)  # `enrolled` is not subscribed: not sent
    flag(client, coach, client_id)
    assert rounds.run() == 1
    (request,) = receiver.requests
    payload = verify(endpoint["secret"], request)
    assert payload["type"] == "referral"
    assert request.headers["webhook-id"] == payload["id"]
    assert payload["data"]["client"]["id"] == client_id
    assert payload["data"]["enrollment"]["protocol"] == "hip-impingement"
    decision = payload["data"]["decision"]
    assert (decision["type"], decision["rule"]) == ("referral", "refer.red-flag")
    # Sent to the address checked, under the name registered; the body is JSON.
    assert request.url.host == "93.184.215.14"
    assert request.headers["content-type"] == "application/json"
    (logged,) = deliveries(client, coach, endpoint["id"])
    assert logged["status"] == "succeeded"
    assert (logged["attempts"], logged["response_status_code"]) == (1, 200)
    assert logged["message_id"] == payload["id"]
    assert logged["duration_ms"] >= 0
    assert rounds.run() == 0  # nothing twice


def test_a_failed_attempt_is_retried_later_with_the_same_id(client, app, coach):
    receiver = Receiver(500, 200)
    rounds = Rounds(client, app, receiver)
    endpoint = register(client, coach)
    flag(client, coach, enrolled_client(client, coach))
    assert rounds.run() == 1
    (failed,) = deliveries(client, coach, endpoint["id"])
    assert (failed["status"], failed["response_status_code"]) == ("pending", 500)
    # Not due before its backoff (5 s at the least, jitter 0 halves the first 5 s)...
    assert rounds.run(timedelta(seconds=2)) == 0
    # ...and due after it.
    assert rounds.run(timedelta(seconds=1)) == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verify(endpoint["secret"], second)["type"] == "referral"
    (done,) = deliveries(client, coach, endpoint["id"])
    assert (done["status"], done["attempts"], done["response_status_code"]) == (
        "succeeded",
        2,
        200,
    )


def test_a_redirect_is_not_followed_but_counts_as_a_failure(client, app, coach):
    receiver = Receiver(302)
    rounds = Rounds(client, app, receiver)
    endpoint = register(client, coach)
    flag(client, coach, enrolled_client(client, coach))
    rounds.run()
    assert len(receiver.requests) == 1
    (logged,) = deliveries(client, coach, endpoint["id"])
    assert (logged["status"], logged["response_status_code"]) == ("pending", 302)


def test_retries_stop_after_24_hours(client, app, coach):
    rounds = Rounds(client, app, Receiver(503))
    endpoint = register(client, coach)
    flag(client, coach, enrolled_client(client, coach))
    while rounds.run(timedelta(hours=1)):
        pass
    (given_up,) = deliveries(client, coach, endpoint["id"])
    assert given_up["status"] == "failed"
    assert rounds.now - utcnow() <= timedelta(hours=25)
    assert given_up["attempts"] >= 20


def test_a_retracted_decision_is_announced(client, rounds, receiver, coach):
    endpoint = register(client, coach, event_types=["referral", "decision_retracted"])
    client_id = enrolled_client(client, coach)
    log = flag(client, coach, client_id)
    deleted = client.delete(f"/v1/clients/{client_id}/pain-logs/{log['id']}", headers=coach.headers)
    assert deleted.status_code == 204
    rounds.run()
    referral, retracted = sorted(
        (verify(endpoint["secret"], r) for r in receiver.requests),
        key=lambda p: p["type"] != "referral",
    )
    assert retracted["type"] == "decision_retracted"
    assert retracted["data"]["decision"]["id"] == referral["data"]["decision"]["id"]
    assert retracted["data"]["decision"]["retracted_at"] is not None
    assert retracted["id"] != referral["id"]


def test_only_the_clients_coach_and_the_types_subscribed_receive(client, rounds, receiver, coach):
    register(client, coach, event_types=["enrolled"])
    register(client, signup(client, "coach"), event_types=["enrolled", "referral"])
    disabled = register(client, coach, event_types=["enrolled"], enabled=False)
    flag(client, coach, enrolled_client(client, coach))
    assert rounds.run() == 1
    assert [p["type"] for p in receiver.bodies()] == ["enrolled"]
    assert deliveries(client, coach, disabled["id"]) == []


def test_a_client_without_coach_sends_nothing(client, rounds, receiver, coach):
    register(client, coach, event_types=["enrolled", "referral"])
    me = signup(client)
    enrol(client, me)
    flag(client, me, "me")
    assert rounds.run() == 0


def test_nothing_is_sent_for_a_unit_of_work_that_rolled_back(client, app, coach, db):
    register(client, coach, event_types=["enrolled"])
    client_id = enrolled_client(client, coach)
    enrollment = db.exec(
        select(Enrollment).where(col(Enrollment.client_id) == uuid.UUID(client_id))
    ).one()
    before = len(db.exec(select(WebhookDelivery)).all())

    def decide_then_fail(session: Session) -> None:
        event = session.exec(
            select(outbox.EngineEvent).where(col(outbox.EngineEvent.enrollment_id) == enrollment.id)
        ).first()
        assert event is not None
        outbox.on_decisions(session, enrollment, made=[event])
        assert len(session.exec(select(WebhookDelivery)).all()) == before + 1
        raise RuntimeError("the rest of the work failed")

    with pytest.raises(RuntimeError):
        client.portal.call(app.state.database.write, decide_then_fail)
    assert len(db.exec(select(WebhookDelivery)).all()) == before


def test_a_rotated_secret_signs_and_the_old_one_still_does_for_a_day(
    client, rounds, receiver, coach
):
    endpoint = register(client, coach)
    rotated = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=coach.headers
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != endpoint["secret"]
    flag(client, coach, enrolled_client(client, coach))
    rounds.run()
    (request,) = receiver.requests
    assert verify(new_secret, request)["type"] == "referral"
    assert verify(endpoint["secret"], request)["type"] == "referral"
    # A day later only the new secret signs.
    client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/"
        f"{deliveries(client, coach, endpoint['id'])[0]['id']}/redeliver",
        headers=coach.headers,
    )
    rounds.run(timedelta(hours=25))
    later = receiver.requests[-1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert later.headers["webhook-id"] == request.headers["webhook-id"]


def test_a_ping_is_sent_at_once_and_logged(client, app, coach):
    receiver = Receiver(204, 500)
    Rounds(client, app, receiver)
    endpoint = register(client, coach)
    ping = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/ping", headers=coach.headers)
    assert ping.status_code == 200, ping.text
    assert ping.json()["ok"] is True
    assert ping.json()["delivery"]["status"] == "succeeded"
    assert verify(endpoint["secret"], receiver.requests[0])["type"] == "ping"
    failed = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/ping", headers=coach.headers)
    assert failed.json()["ok"] is False
    # A ping is not retried.
    assert failed.json()["delivery"]["status"] == "failed"
    assert failed.json()["delivery"]["response_status_code"] == 500
    assert [d["type"] for d in deliveries(client, coach, endpoint["id"])] == ["ping", "ping"]


def test_redeliver_sends_the_same_message_again(client, rounds, receiver, coach):
    endpoint = register(client, coach)
    flag(client, coach, enrolled_client(client, coach))
    rounds.run()
    (sent,) = deliveries(client, coach, endpoint["id"])
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    again = client.post(f"{path}/{sent['id']}/redeliver", headers=coach.headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "pending"
    assert rounds.run() == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.content == second.content
    (log,) = deliveries(client, coach, endpoint["id"])
    assert (log["status"], log["attempts"]) == ("succeeded", 2)
    missing = client.post(f"{path}/{uuid.uuid4()}/redeliver", headers=coach.headers)
    assert_problem(missing, 404, "not-found")


def test_an_endpoint_failing_for_5_days_is_disabled_with_an_event(client, app, coach):
    receiver = Receiver(500)
    rounds = Rounds(client, app, receiver)
    failing = register(client, coach, event_types=["referral"])
    # Another endpoint of the coach's hears about it; it answers through the same transport,
    # so it is told apart by its path.
    watcher = register(client, coach, url=URL + "/watch", event_types=["endpoint_disabled"])
    flag(client, coach, enrolled_client(client, coach))
    path = f"/v1/webhook-endpoints/{failing['id']}"

    def attempt_again_after(wait: timedelta) -> None:
        (last,) = deliveries(client, coach, failing["id"])
        client.post(f"{path}/deliveries/{last['id']}/redeliver", headers=coach.headers)
        rounds.run(wait)

    rounds.run()
    attempt_again_after(timedelta(days=4, hours=23))
    assert client.get(path, headers=coach.headers).json()["enabled"] is True
    attempt_again_after(timedelta(hours=1))
    shown = client.get(path, headers=coach.headers).json()
    assert shown["enabled"] is False
    assert "5 days" in shown["disabled_reason"]
    # Nothing more is sent to it...
    attempt_again_after(timedelta(hours=1))
    assert [r.url.path for r in receiver.requests].count("/hooks/hipfix") == 3
    # ...and the watcher got the event.
    receiver.statuses = [200]
    rounds.run()
    (notice,) = [r for r in receiver.requests if r.url.path.endswith("/watch")]
    payload = verify(watcher["secret"], notice)
    assert payload["type"] == "endpoint_disabled"
    assert payload["data"]["endpoint"]["id"] == failing["id"]
    # Enabled again, it starts afresh.
    enabled = client.patch(path, json={"enabled": True}, headers=coach.headers).json()
    assert (enabled["enabled"], enabled["disabled_reason"], enabled["failing_since"]) == (
        True,
        None,
        None,
    )


def test_a_success_ends_the_failure_streak(client, app, coach):
    receiver = Receiver(500, 200)
    rounds = Rounds(client, app, receiver)
    endpoint = register(client, coach)
    flag(client, coach, enrolled_client(client, coach))
    rounds.run()
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    assert client.get(path, headers=coach.headers).json()["failing_since"] is not None
    rounds.run(timedelta(minutes=1))
    assert client.get(path, headers=coach.headers).json()["failing_since"] is None


# --- the schedule and the lease ------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "rand", "seconds"),
    [
        (1, 0.0, 2.5),
        (1, 0.999999, 5.0),
        (1, 0.5, 3.75),
        (2, 0.0, 5.0),
        (3, 0.0, 10.0),
        (5, 1.0, 80.0),
        (10, 1.0, 2560.0),
        (11, 1.0, 3600.0),  # capped at an hour
        (11, 0.0, 1800.0),
        (50, 1.0, 3600.0),
    ],
)
def test_backoff_doubles_up_to_an_hour_jittered_into_its_upper_half(attempts, rand, seconds):
    assert delivery.backoff(attempts, rand).total_seconds() == pytest.approx(seconds, abs=1e-3)


def test_a_lease_keeps_others_off_until_it_expires(client, coach, db):
    register(client, coach, event_types=["enrolled"])
    enrolled_client(client, coach)
    now = utcnow() + timedelta(seconds=1)
    (held,) = delivery.claim(db, now=now, limit=10)
    assert delivery.claim(db, now=now + delivery.LEASE - timedelta(seconds=1), limit=10) == []
    # The holder died: past its lease the delivery is claimed again, same message.
    later = now + delivery.LEASE
    (again,) = delivery.claim(db, now=later, limit=10)
    assert (again.id, again.message_id) == (held.id, held.message_id)
    assert again.claim != held.claim
    # The first holder's late outcome is not recorded over the new claim's.
    stale = delivery.Outcome(held.id, held.claim, later, 5, status_code=200)
    delivery.record(db, [stale], now=later, rand=0.0)
    row = db.get(WebhookDelivery, held.id)
    assert row is not None
    db.refresh(row)
    assert (row.status, row.attempts, row.claim) == ("pending", 0, again.claim)


def _resolver(addresses: list[str]) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        return addresses

    return resolve


@pytest.mark.parametrize(
    ("addresses", "allowed"),
    [
        (["93.184.215.14"], True),
        (["2606:2800:21f:cb07:6820:80da:af6b:8b2c"], True),
        (["127.0.0.1"], False),
        (["93.184.215.14", "10.0.0.7"], False),  # every address must be public
        (["::ffff:192.168.1.1"], False),
        (["224.0.0.1"], False),
        ([], False),
    ],
)
def test_names_are_resolved_and_every_address_checked(client, addresses, allowed):
    from app.webhooks import urls

    async def check() -> urls.Target:
        return await urls.target(
            "https://hooks.example.com:8443/in", allow_private=False, resolver=_resolver(addresses)
        )

    if not allowed:
        with pytest.raises(urls.UrlRefusedError):
            client.portal.call(check)
        return
    target = client.portal.call(check)
    # Pinned to the address checked; the name kept for Host and TLS.
    assert target.url.host == addresses[0]
    assert (target.url.port, target.url.path) == (8443, "/in")
    assert target.host == "hooks.example.com"
    assert target.host_header == "hooks.example.com:8443"


def test_links_made_and_ended_are_announced_to_the_coach(client, app, rounds, receiver, coach):
    """Through `change_coach`, the one function every link change takes (its HTTP routes,
    invitations and leaving, are tested with them)."""
    from app.accounts.links import change_coach
    from app.core.actors import SYSTEM
    from app.models import Client

    endpoint = register(client, coach, event_types=["client_linked", "client_left"])
    me = signup(client)
    coach_id = uuid.UUID(coach.account["id"])

    def relink(session: Session, to: uuid.UUID | None) -> None:
        profile = session.get(Client, uuid.UUID(me.client_id))
        assert profile is not None
        change_coach(session, profile, to, SYSTEM, "invitation" if to else "client_left")

    client.portal.call(app.state.database.write, relink, coach_id)
    client.portal.call(app.state.database.write, relink, None)
    rounds.run()
    linked, left = (verify(endpoint["secret"], r) for r in receiver.requests)
    assert (linked["type"], left["type"]) == ("client_linked", "client_left")
    assert linked["data"]["client"]["id"] == left["data"]["client"]["id"] == me.client_id


def test_a_decision_is_sent_with_its_clinical_note(client, coach, rounds, receiver):
    register(client, coach)
    flag(client, coach, enrolled_client(client, coach))
    assert rounds.run() == 1
    (sent,) = receiver.bodies()
    note = sent["data"]["decision"]["clinical_note"]
    assert "night pain" in note
    assert "NHS musculoskeletal triage guidance" in note
    assert sent["data"]["decision"]["message"] != note  # the client's words stay the client's
