"""Sign-up, sign-in, tokens, API keys and `me`, through HTTP."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.accounts import router
from app.core import security
from app.models import Credential, LoginFailure
from tests.conftest import PASSWORD, assert_problem, signup


def _account(**fields) -> dict:
    return {
        "email": "sam@example.com",
        "password": PASSWORD,
        "display_name": "Sam",
        "role": "client",
        "timezone": "Europe/London",
        **fields,
    }


def _token(client, email: str, password: str = PASSWORD):
    return client.post("/v1/auth/token", data={"username": email, "password": password})


def test_client_signup_gets_an_account_and_its_own_profile(client):
    response = client.post("/v1/accounts", json=_account(email="Sam@Example.COM"))
    assert response.status_code == 201
    account = response.json()
    assert account["email"] == "sam@example.com"
    assert (account["role"], account["display_name"], account["timezone"]) == (
        "client",
        "Sam",
        "Europe/London",
    )
    assert account["created_at"].endswith("Z")
    assert "password" not in response.text
    assert "argon2" not in response.text

    token = _token(client, "SAM@example.com").json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/v1/me", headers=headers).json() == account
    profile = client.get("/v1/clients/me", headers=headers).json()
    assert profile["id"] == account["client_id"]
    assert profile["has_account"] is True
    assert profile["coach_id"] is None


def test_coach_signup_has_no_client_profile(client):
    coach = signup(client, "coach")
    assert coach.account["client_id"] is None
    assert_problem(client.get("/v1/clients/me", headers=coach.headers), 404)


def test_a_taken_email_in_any_case_changes_nothing_and_says_nothing(client):
    first = client.post("/v1/accounts", json=_account())
    again = client.post("/v1/accounts", json=_account(email="SAM@example.com", role="coach"))
    assert first.status_code == again.status_code == 201  # a retry, or someone else: alike
    assert (
        again.json()["id"] != first.json()["id"]
    )  # nothing stored (tests/api/test_account_security.py)
    # The first account is untouched: still a client, still its password.
    token = _token(client, "sam@example.com").json()["access_token"]
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["role"]
        == "client"
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"password": "short9char"[:9]}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"role": "admin"}, "role"),
        ({"role": "Client"}, "role"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "GMT+2"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": "Factory"}, "timezone"),
        ({"timezone": "posixrules"}, "timezone"),
        ({"timezone": "posix/Europe/Paris"}, "timezone"),
        ({"timezone": "right/UTC"}, "timezone"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"is_admin": True}, "is_admin"),
    ],
)
def test_refused_signups_name_the_field_and_store_nothing(client, fields, field):
    body = assert_problem(
        client.post("/v1/accounts", json=_account(**fields)), 422, "validation-error"
    )
    assert [e["loc"] for e in body["errors"]] == [["body", field]]
    assert _token(client, "sam@example.com").status_code == 401
    assert client.post("/v1/accounts", json=_account()).status_code == 201


@pytest.mark.parametrize("timezone", ["Europe/Paris", "America/New_York", "UTC", "Etc/GMT+2"])
def test_canonical_timezones_are_accepted(client, timezone):
    response = client.post("/v1/accounts", json=_account(timezone=timezone))
    assert response.status_code == 201, response.text
    assert response.json()["timezone"] == timezone


def test_missing_fields_are_each_named(client):
    body = assert_problem(client.post("/v1/accounts", json={}), 422)
    assert {e["loc"][-1] for e in body["errors"]} == {
        "email",
        "password",
        "display_name",
        "role",
        "timezone",
    }


def test_malformed_json_is_a_400(client):
    response = client.post(
        "/v1/accounts", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed-json")


def test_token_shape(client):
    client.post("/v1/accounts", json=_account())
    response = _token(client, "sam@example.com")
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 30 * 24 * 3600
    assert len(token["access_token"]) > 40


def test_wrong_password_and_unknown_email_get_the_same_401(client):
    client.post("/v1/accounts", json=_account())
    wrong = _token(client, "sam@example.com", "wrong password!")
    unknown = _token(client, "nobody@example.com")
    for response in (wrong, unknown):
        assert_problem(response, 401, "invalid-credentials")
        assert response.headers["www-authenticate"].startswith("Bearer")
    # The same problem, each with its own request id.
    assert {**wrong.json(), "request_id": None} == {**unknown.json(), "request_id": None}


def test_the_token_endpoint_takes_a_form_not_json(client):
    client.post("/v1/accounts", json=_account())
    response = client.post(
        "/v1/auth/token", json={"username": "sam@example.com", "password": PASSWORD}
    )
    # 415 saying which form it takes (it was a 422 "Field required" for fields that were sent).
    body = assert_problem(response, 415, "unsupported-media-type")
    assert "application/x-www-form-urlencoded" in body["detail"]


def test_repeated_failures_are_throttled_then_forgiven(client, db):
    client.post("/v1/accounts", json=_account())
    for _ in range(5):
        assert _token(client, "sam@example.com", "wrong password!").status_code == 401
    throttled = _token(client, "sam@example.com")  # even the right password waits
    assert_problem(throttled, 429, "too-many-requests")
    assert 1 <= int(throttled.headers["retry-after"]) <= 900
    # Another e-mail is not affected.
    assert _token(client, "other@example.com", "wrong password!").status_code == 401

    # Fifteen minutes later (the window), the failures no longer count.
    for failure in db.exec(select(LoginFailure)).all():
        failure.at -= timedelta(minutes=16)
        db.add(failure)
    db.commit()
    assert _token(client, "sam@example.com").status_code == 200


def _client_at(app, host: str) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(host, 123))


def test_throttling_is_per_email_and_address_so_a_victim_can_still_sign_in(app, client):
    client.post("/v1/accounts", json=_account())
    for _ in range(5):
        assert _token(client, "sam@example.com", "wrong password!").status_code == 401
    throttled = _token(client, "sam@example.com")
    assert_problem(throttled, 429, "too-many-requests")
    assert "retry-after" in throttled.headers

    # The account's owner, elsewhere, is not locked out by someone else's guesses.
    with _client_at(app, "10.0.0.9") as elsewhere:
        assert _token(elsewhere, "sam@example.com").status_code == 200
    # Their success does not forgive the guesser's failures.
    assert_problem(_token(client, "sam@example.com"), 429, "too-many-requests")


def test_failures_from_several_addresses_are_counted_apart(app, client, db):
    client.post("/v1/accounts", json=_account())
    with _client_at(app, "10.0.0.9") as other:
        for _ in range(4):
            assert _token(other, "sam@example.com", "wrong password!").status_code == 401
    for _ in range(4):
        assert _token(client, "sam@example.com", "wrong password!").status_code == 401
    assert _token(client, "sam@example.com").status_code == 200
    failures = db.exec(select(LoginFailure)).all()
    assert [(f.email, f.ip) for f in failures] == [("sam@example.com", "10.0.0.9")] * 4


def test_a_success_clears_earlier_failures(client):
    client.post("/v1/accounts", json=_account())
    for _ in range(4):
        _token(client, "sam@example.com", "wrong password!")
    assert _token(client, "sam@example.com").status_code == 200
    for _ in range(4):
        assert _token(client, "sam@example.com", "wrong password!").status_code == 401
    assert _token(client, "sam@example.com").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nonsense", "Basic c2FtOnB3", "Bearer hft_" + "A" * 43],
)
def test_missing_or_unknown_tokens_are_401_with_a_challenge(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/v1/me", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith('Bearer realm="hipfix"')


def test_signing_out_revokes_only_that_token(client):
    actor = signup(client)
    second = _token(client, actor.account["email"]).json()["access_token"]
    assert client.delete("/v1/auth/token", headers=actor.headers).status_code == 204
    revoked = client.get("/v1/me", headers=actor.headers)
    assert_problem(revoked, 401)
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_expired_tokens_are_refused(client, db):
    actor = signup(client)
    for credential in db.exec(select(Credential)).all():
        credential.expires_at = credential.created_at - timedelta(seconds=1)
        db.add(credential)
    db.commit()
    assert_problem(client.get("/v1/me", headers=actor.headers), 401)


def test_coach_api_keys(client):
    coach = signup(client, "coach")
    created = client.post("/v1/api-keys", json={"name": "clinic sync"}, headers=coach.headers)
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith(key["prefix"])
    key_headers = {"Authorization": f"Bearer {key['key']}"}
    assert client.get("/v1/me", headers=key_headers).json()["id"] == coach.account["id"]

    listed = client.get("/v1/api-keys", headers=coach.headers)
    assert listed.status_code == 200
    assert [(k["id"], k["name"]) for k in listed.json()["items"]] == [(key["id"], "clinic sync")]
    assert key["key"] not in listed.text
    assert "key" not in listed.json()["items"][0]

    assert client.delete(f"/v1/api-keys/{key['id']}", headers=coach.headers).status_code == 204
    assert_problem(client.get("/v1/me", headers=key_headers), 401)
    assert client.get("/v1/api-keys", headers=coach.headers).json()["items"] == []
    assert_problem(client.delete(f"/v1/api-keys/{key['id']}", headers=coach.headers), 404)


def test_api_keys_are_the_owner_coachs_alone(client):
    coach, other = signup(client, "coach"), signup(client, "coach")
    key = client.post("/v1/api-keys", json={"name": "mine"}, headers=coach.headers).json()
    assert client.get("/v1/api-keys", headers=other.headers).json()["items"] == []
    assert_problem(client.delete(f"/v1/api-keys/{key['id']}", headers=other.headers), 404)
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 200
    )


def test_api_key_retries_never_repeat_the_secret(client):
    coach = signup(client, "coach")
    headers = {**coach.headers, "Idempotency-Key": "key-1"}
    first = client.post("/v1/api-keys", json={"name": "sync"}, headers=headers)
    again = client.post("/v1/api-keys", json={"name": "sync"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "key": None}
    assert len(client.get("/v1/api-keys", headers=coach.headers).json()["items"]) == 1


def test_pages_of_api_keys(client):
    coach = signup(client, "coach")
    made = [
        client.post("/v1/api-keys", json={"name": f"k{i}"}, headers=coach.headers).json()["id"]
        for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/api-keys", params=params, headers=coach.headers).json()
        seen += [k["id"] for k in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made


def test_passwords_are_never_hashed_or_checked_inside_a_unit_of_work(
    client, connection, monkeypatch
):
    # Argon2 takes tens of milliseconds: inside a unit of work it would hold a database thread
    # (on SQLite, the one writer). Each unit of work here is a SAVEPOINT on the connection.
    inside: list[bool] = []

    def watched(work: Callable[..., object]) -> Callable[..., object]:
        def run(*args: object) -> object:
            inside.append(connection.in_nested_transaction())
            return work(*args)

        return run

    monkeypatch.setattr(router, "hash_password", watched(security.hash_password))
    monkeypatch.setattr(router, "verify_password", watched(security.verify_password))
    assert client.post("/v1/accounts", json=_account()).status_code == 201
    assert _token(client, "sam@example.com").status_code == 200
    assert _token(client, "sam@example.com", "wrong password!").status_code == 401
    assert _token(client, "nobody@example.com").status_code == 401
    assert inside == [False] * 4
    # and what each wrote was committed all the same
    assert _token(client, "sam@example.com").status_code == 200
