"""Bounded writers: a caller writing too fast gets a 429 problem with Retry-After, and nobody
else notices (app/core/rate_limit.py, enforced by app/core/edge.py)."""

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Connection

from app.core.config import Settings
from app.main import create_app
from tests.conftest import Actor, assert_problem, enrol, pain_body
from tests.conftest import signup as signed_up

PAIN = "/v1/clients/me/pain-logs"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@pytest.fixture
def limited(connection: Connection) -> Iterator[Callable[[str], TestClient]]:
    """`limited("3/minute")`: a client of an app built with that write limit, bound to the
    test's rolled-back connection as conftest.py's `app` fixture binds it."""
    clients: list[TestClient] = []

    def build(rate: str) -> TestClient:
        app = create_app(Settings(write_rate_limit=rate), bind=connection)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def signup(client: TestClient) -> Actor:
    """Signed up, and its token seen live once (`GET /v1/me`): from then on its writes are
    counted per token, not per address (app/core/rate_limit.py)."""
    actor = signed_up(client)
    assert client.get("/v1/me", headers=actor.headers).status_code == 200
    return actor


def _post_pain(client: TestClient, actor: Actor, day: int = 2, **headers: str):
    body = pain_body(day, id=str(uuid.uuid4()))
    return body, client.post(PAIN, json=body, headers={**actor.headers, **headers})


def _until_refused(client: TestClient, actor: Actor, tries: int = 10):
    """Post pain logs until one is refused; (accepted ids, the refused body, its response)."""
    accepted = []
    for _ in range(tries):
        body, response = _post_pain(client, actor)
        if response.status_code != 201:
            return accepted, body, response
        accepted.append(body["id"])
    raise AssertionError(f"{tries} writes in a row were accepted")


def _stored_ids(client: TestClient, actor: Actor) -> list[str]:
    listed = client.get(PAIN, params={"limit": 200}, headers=actor.headers)
    assert listed.status_code == 200, listed.text
    return [item["id"] for item in listed.json()["items"]]


def test_over_the_limit_is_a_429_problem_with_retry_after_and_stores_nothing(limited):
    client = limited("3/minute")
    me = signup(client)
    enrol(client, me)  # the token's first write
    accepted, refused_body, refused = _until_refused(client, me)

    assert len(accepted) == 2  # 3 a minute: the enrolment and two pain logs
    problem = assert_problem(refused, 429, "too-many-requests")
    assert problem["instance"] == PAIN
    assert "Try again in" in problem["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    for name, value in SECURITY_HEADERS.items():
        assert refused.headers[name] == value
    # Refused before anything read it: not stored.
    assert refused_body["id"] not in _stored_ids(client, me)
    assert sorted(_stored_ids(client, me)) == sorted(accepted)


def test_another_principal_is_not_affected(limited):
    client = limited("3/minute")
    flooder, other = signup(client), signup(client)
    enrol(client, flooder)
    enrol(client, other)
    _until_refused(client, flooder)

    assert _post_pain(client, other)[1].status_code == 201


def test_reads_simulations_and_sign_in_are_never_limited(limited):
    client = limited("3/minute")
    me = signup(client)
    enrol(client, me)
    _until_refused(client, me)

    for _ in range(5):
        assert client.get(PAIN, headers=me.headers).status_code == 200
        assert client.get("/v1/clients/me/progress", headers=me.headers).status_code == 200
        simulation = client.post(
            "/v1/simulations",
            json={
                "protocol": "hip-impingement",
                "baseline_pain": 6,
                "started_at": "2026-10-01T08:00:00Z",
                "timezone": "UTC",
                "timeline": [],
            },
            headers=me.headers,
        )
        assert simulation.status_code == 200, simulation.text
    signed_in = client.post(
        "/v1/auth/token",
        data={"username": me.account["email"], "password": "correct horse battery"},
        headers=me.headers,
    )
    assert signed_in.status_code == 200, signed_in.text


def test_after_retry_after_the_writer_may_write_again_and_its_key_was_not_kept(limited):
    client = limited("2/second")
    me = signup(client)
    enrol(client, me)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    for _ in range(10):
        body = pain_body(3, id=str(uuid.uuid4()))
        refused = client.post(PAIN, json=body, headers={**me.headers, **key})
        if refused.status_code == 429:
            break
        key = {"Idempotency-Key": str(uuid.uuid4())}
    assert_problem(refused, 429, "too-many-requests")
    wait = int(refused.headers["retry-after"])
    assert wait == 1  # the oldest counted write leaves a 1-second window within 1 s

    time.sleep(wait)
    again = client.post(PAIN, json=body, headers={**me.headers, **key})
    # Created now, not replayed: the refused request left no idempotency record behind.
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert _stored_ids(client, me).count(body["id"]) == 1


def test_sign_ups_are_counted_by_address(limited):
    client = limited("2/minute")
    elsewhere = TestClient(client.app, raise_server_exceptions=False, client=("203.0.113.9", 1))
    signup(client)
    signup(client)
    third = client.post(
        "/v1/accounts",
        json={
            "email": f"third-{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse battery",
            "display_name": "Third",
            "role": "client",
            "timezone": "UTC",
        },
    )
    assert_problem(third, 429, "too-many-requests")
    signup(elsewhere)  # another address


def test_a_made_up_bearer_does_not_escape_the_address_limit(limited):
    client = limited("10/minute")
    answers: list[int] = []
    for n in range(100):  # each with a bearer of its own, made up
        answers.append(
            client.post(
                "/v1/accounts",
                json={
                    "email": f"junk-{n}-{uuid.uuid4().hex[:8]}@example.com",
                    "password": "correct horse battery",
                    "display_name": "Junk",
                    "role": "client",
                    "timezone": "UTC",
                },
                headers={"Authorization": f"Bearer junk-{n}"},
            ).status_code
        )
        if answers[-1] == 429:
            break
    assert answers == [201] * 10 + [429]  # the address's ten, then refused


def test_a_token_is_counted_apart_once_a_unit_of_work_found_it_live(limited):
    client = limited("3/minute")
    sam = signed_up(client)  # its token not used yet: its first write counts by address
    enrol(client, sam)
    accepted, _, refused = _until_refused(client, sam)
    assert len(accepted) == 3  # the enrolment was the address's; the token's own three
    assert_problem(refused, 429)


def test_deletes_count_too(limited):
    client = limited("3/minute")
    me = signup(client)
    enrol(client, me)
    body, created = _post_pain(client, me)
    assert created.status_code == 201
    assert client.delete(f"{PAIN}/{body['id']}", headers=me.headers).status_code == 204
    assert_problem(client.delete(f"{PAIN}/{body['id']}", headers=me.headers), 429)


def test_off_when_the_setting_is_empty(limited):
    client = limited("")
    me = signup(client)
    enrol(client, me)
    answers = [_post_pain(client, me, day)[1].status_code for day in range(1, 31)]
    assert answers == [201] * 30


@pytest.mark.parametrize("rate", ["often", "20/fortnight", "0/second", "20/second;", "-1/minute"])
def test_a_bad_rate_is_refused_at_start_up(rate, monkeypatch):
    with pytest.raises(ValidationError, match="write_rate_limit"):
        Settings(write_rate_limit=rate)
    monkeypatch.setenv("HIPFIX_WRITE_RATE_LIMIT", rate)
    with pytest.raises(ValidationError, match="write_rate_limit"):
        Settings()


def test_rates_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("HIPFIX_WRITE_RATE_LIMIT", " 5/second; 100 per 10 minutes ")
    assert Settings().write_rate_limit == "5/second; 100 per 10 minutes"
    monkeypatch.setenv("HIPFIX_WRITE_RATE_LIMIT", "")
    assert Settings().write_rate_limit == ""
    monkeypatch.delenv("HIPFIX_WRITE_RATE_LIMIT")
    assert Settings(_env_file=None).write_rate_limit == "20/second;600/minute"
