"""Operating it: /metrics after known traffic, request ids on answers, problems and log lines,
and the per-request log line (docs/operations.md)."""

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection

from app.core.config import get_settings
from app.core.logs import JsonFormatter, TextFormatter
from app.main import create_app
from tests.api.test_webhooks import Receiver, Rounds, enrolled_client, flag, register
from tests.conftest import assert_problem, pain_body, signup

PROGRESS = "/v1/clients/{client_id}/progress"
PAIN_LOGS = "/v1/clients/{client_id}/pain-logs"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(
        samples,
        "hipfix_http_request_duration_seconds_count",
        route=route,
        method=method,
        status=str(status),
    )


def test_metrics_count_known_traffic_by_route_template(client, me):
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"/v1/clients/{me.client_id}/progress", headers=me.headers).is_success
    for day in (2, 3):
        posted = client.post("/v1/clients/me/pain-logs", json=pain_body(day), headers=me.headers)
        assert posted.status_code == 201, posted.text
    assert client.get("/v1/nowhere/at/all").status_code == 404
    after = scrape(client)

    def grew(route: str, method: str, status: int) -> float:
        return requests(after, route, method, status) - requests(before, route, method, status)

    assert grew(PROGRESS, "GET", 200) == 3
    assert grew(PAIN_LOGS, "POST", 201) == 2
    assert grew("unmatched", "GET", 404) == 1  # never the path itself: it may hold a secret
    assert not any("/v1/nowhere" in str(labels) for _, labels in after)
    # Units of work by lane: every request above ran at least one.
    units = sum(
        value(after, "hipfix_unit_run_seconds_count", lane=lane)
        - value(before, "hipfix_unit_run_seconds_count", lane=lane)
        for lane in ("hipfix-db", "hipfix-writer")
    )
    assert units >= 5
    waited = sum(
        value(after, "hipfix_unit_queue_seconds_count", lane=lane)
        - value(before, "hipfix_unit_queue_seconds_count", lane=lane)
        for lane in ("hipfix-db", "hipfix-writer")
    )
    assert waited == units
    # Each pain log replayed the engine over the new item.
    replays = value(after, "hipfix_engine_replay_items_count") - value(
        before, "hipfix_engine_replay_items_count"
    )
    assert replays == 2
    assert value(after, "hipfix_engine_replay_items_sum") - value(
        before, "hipfix_engine_replay_items_sum"
    ) == pytest.approx(2)
    assert ("hipfix_db_pool_size", frozenset()) in after


@pytest.fixture
def limited(connection: Connection) -> Iterator[TestClient]:
    settings = get_settings().model_copy(
        update={"cpu_processes": 0, "write_rate_limit": "2/minute"}
    )
    with TestClient(create_app(settings, bind=connection)) as client:
        yield client


def test_metrics_count_write_limit_refusals(limited):
    me = signup(limited)
    assert limited.get("/v1/me", headers=me.headers).status_code == 200  # counted per token
    before = scrape(limited)
    answers = [
        limited.post("/v1/clients/me/pain-logs", json=pain_body(1), headers=me.headers)
        for _ in range(4)
    ]
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 2, [a.status_code for a in answers]
    after = scrape(limited)
    grew = value(after, "hipfix_refused_total", reason="write_limit") - value(
        before, "hipfix_refused_total", reason="write_limit"
    )
    assert grew == len(refused)


def test_metrics_show_the_outbox_and_deliveries_by_outcome(client, app: FastAPI):
    receiver = Receiver(500, 200)
    rounds = Rounds(client, app, receiver)
    coach = signup(client, "coach")
    register(client, coach)
    managed = enrolled_client(client, coach)
    before = scrape(client)
    flag(client, coach, managed)
    waiting = scrape(client)
    assert value(waiting, "hipfix_webhook_outbox_pending") >= 1
    assert value(waiting, "hipfix_webhook_oldest_pending_age_seconds") >= 0
    rounds.run()  # the receiver fails it: tried again later
    rounds.run(after=timedelta(minutes=5))  # then succeeds
    after = scrape(client)

    def grew(outcome: str) -> float:
        return value(after, "hipfix_webhook_deliveries_total", outcome=outcome) - value(
            before, "hipfix_webhook_deliveries_total", outcome=outcome
        )

    assert grew("retry") == 1
    assert grew("succeeded") == 1
    assert value(after, "hipfix_webhook_outbox_pending") == 0
    assert value(after, "hipfix_webhook_oldest_pending_age_seconds") == 0


def test_a_webhook_delivery_carries_the_request_id_that_made_it(client, app: FastAPI):
    receiver = Receiver(200)
    rounds = Rounds(client, app, receiver)
    coach = signup(client, "coach")
    register(client, coach)
    managed = enrolled_client(client, coach)
    body = pain_body(2, flags=["night_pain"])
    logged = client.post(
        f"/v1/clients/{managed}/pain-logs",
        json=body,
        headers={**coach.headers, "X-Request-ID": "made-the-news-1"},
    )
    assert logged.status_code == 201, logged.text
    assert rounds.run() == 1
    (sent,) = receiver.requests
    assert sent.headers["x-request-id"] == "made-the-news-1"
    assert receiver.bodies()[0]["type"] == "referral"


def test_metrics_off_serves_none(connection: Connection):
    settings = get_settings().model_copy(update={"cpu_processes": 0, "metrics": False})
    with TestClient(create_app(settings, bind=connection)) as client:
        assert_problem(client.get("/metrics"), 404)


def test_metrics_are_not_in_the_public_docs(client):
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


# --- request ids ------------------------------------------------------------------------------


def test_every_answer_has_a_request_id_and_a_problem_quotes_it(client):
    ok = client.get("/healthz")
    made = ok.headers["x-request-id"]
    assert len(made) == 32
    missing = client.get("/v1/exercises/nothing-like-this")
    body = assert_problem(missing, 404)
    assert body["request_id"] == missing.headers["x-request-id"] != made
    refused = client.post("/v1/clients/me/pain-logs", json=pain_body(1))
    assert assert_problem(refused, 401)["request_id"] == refused.headers["x-request-id"]


def test_a_well_formed_caller_id_is_kept_and_any_other_replaced(client):
    mine = "req-2026.12.08:abc_DEF"
    answer = client.get("/v1/exercises/nothing-like-this", headers={"X-Request-ID": mine})
    assert answer.headers["x-request-id"] == mine
    assert answer.json()["request_id"] == mine
    for bad in ("has space", "x" * 129, "new\\nline", ""):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad})
        assert replaced.headers["x-request-id"] != bad
        assert len(replaced.headers["x-request-id"]) == 32


def test_an_edge_refusal_has_a_request_id_too(client):
    big = client.post(
        "/v1/clients/me/pain-logs",
        content=b"{}",
        headers={"Content-Length": str(10**9), "X-Request-ID": "edge-1"},
    )
    assert assert_problem(big, 413)["request_id"] == "edge-1"


# --- the request's log line ------------------------------------------------------------------


def test_a_request_is_one_json_line_found_by_its_request_id(client, me, caplog):
    caplog.set_level(logging.INFO)
    answer = client.post(
        "/v1/clients/me/pain-logs",
        json=pain_body(2),
        headers={**me.headers, "X-Request-ID": "find-me-1"},
    )
    assert answer.status_code == 201
    lines = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if getattr(record, "request_id", None) == "find-me-1"
    ]
    (access,) = [line for line in lines if line["logger"] == "hipfix.access"]
    assert access["route"] == PAIN_LOGS
    assert access["method"] == "POST"
    assert access["status"] == 201
    assert access["duration_ms"] > 0
    assert access["caller_kind"] == "bearer"
    assert len(access["caller_id"]) == 12
    assert access["request_id"] == "find-me-1"
    assert access["time"].endswith("Z")
    token = me.headers["Authorization"].removeprefix("Bearer ")
    assert token not in json.dumps(lines)
    assert token[:12] not in json.dumps(lines)
    # The readable form carries the same id.
    record = next(r for r in caplog.records if r.name == "hipfix.access")
    assert f"[{record.request_id}]" in TextFormatter().format(record)


def test_a_line_written_inside_a_unit_of_work_carries_its_request_id(client, caplog):
    """A failed sign-in's unit logs on a lane thread: the id crosses over with the context."""
    caplog.set_level(logging.DEBUG)
    client.post(
        "/v1/auth/token",
        data={"username": "nobody@example.com", "password": "wrong password!"},
        headers={"X-Request-ID": "thread-1"},
    )
    ours = [r for r in caplog.records if getattr(r, "request_id", None) == "thread-1"]
    assert any(r.name == "hipfix.access" for r in ours)
    formatted = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "nobody@example.com" not in formatted
    assert "wrong password!" not in formatted


def test_the_access_log_can_be_turned_off(connection: Connection, caplog):
    caplog.set_level(logging.INFO)
    settings = get_settings().model_copy(update={"cpu_processes": 0, "access_log": False})
    with TestClient(create_app(settings, bind=connection)) as client:
        client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "hipfix.access"]
