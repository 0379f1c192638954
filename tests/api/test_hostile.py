"""Hostile input, as a table of attacks and the outcome each must get (docs/reliability.md).

Every attack is refused with a problem+json (or, where the input is harmless, treated as
plain data), stores nothing it should not, and never reaches a 500.
"""

import json
import logging
import uuid

import pytest

from tests.conftest import PASSWORD, STARTED, assert_problem, pain_body, signup

PAIN = "/v1/clients/me/pain-logs"


def _raw(client, actor, path: str, text: str):
    headers = {**actor.headers, "content-type": "application/json"}
    return client.post(path, content=text.encode("utf-8", "surrogatepass"), headers=headers)


def _note(text: str) -> str:
    return json.dumps({**pain_body(2), "note": text})


ATTACKS = [
    # (name, method, path, body or None, expected status, stored?)
    ("sql in a filter", "get", PAIN + "?context=rest'%20OR%201=1--", None, 422, False),
    (
        "sql in a time filter",
        "get",
        PAIN + "?since=2026-10-01T00:00:00Z'%20OR%20'1'='1",
        None,
        422,
        False,
    ),
    ("sql in a stage filter", "get", "/v1/exercises?stage=x'%20OR%201=1--", None, 422, False),
    (
        "sql in a cursor",
        "get",
        PAIN + "?cursor=%27%3B%20DROP%20TABLE%20pain_log%3B--",
        None,
        400,
        False,
    ),
    (
        "forged cursor",
        "get",
        PAIN + "?cursor=eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImlkIjoiMSJ9",
        None,
        400,
        False,
    ),
    (
        "cursor from the far future",
        "get",
        PAIN + "?cursor=eyJ0IjoiOTk5OS0xMi0zMVQyMzowMDowMC0wNTowMCIsImlkIjoiMDAwMDAwMDAtMDAwMC0w"
        "MDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0",
        None,
        400,
        False,
    ),
    (
        "client id smuggled into a body",
        "post",
        PAIN,
        json.dumps({**pain_body(2), "client_id": str(uuid.uuid4())}),
        422,
        False,
    ),
    (
        "prototype pollution keys",
        "post",
        PAIN,
        json.dumps({**pain_body(2), "__proto__": {"admin": True}}),
        422,
        False,
    ),
    ("NUL in a note", "post", PAIN, _note("a\u0000b"), 422, False),
    ("control characters in a note", "post", PAIN, _note("bell\u0007"), 422, False),
    ("lone surrogate in a note", "post", PAIN, _note("\ud800"), 422, False),
    ("right-to-left override in a note", "post", PAIN, _note("\u202egnp.exe"), 201, True),
    ("emoji and astral characters", "post", PAIN, _note("𝓗𝓲𝓹 😣 ﷽"), 201, True),
    ("deep JSON", "post", PAIN, "[" * 50_000 + "]" * 50_000, 400, False),
    ("JSON with a trailing comma", "post", PAIN, json.dumps(pain_body(2))[:-1] + ",}", 400, False),
    (
        "a number too large",
        "post",
        PAIN,
        json.dumps({**pain_body(2), "score": 10**400}),
        422,
        False,
    ),
    (
        "NaN for a score",
        "post",
        PAIN,
        json.dumps(pain_body(2))[:-1] + ', "score": NaN}',
        422,
        False,
    ),
    (
        "far-future time",
        "post",
        PAIN,
        json.dumps(pain_body(2, recorded_at="9999-12-31T23:59:59+14:00")),
        422,
        False,
    ),
    (
        "far-past time",
        "post",
        PAIN,
        json.dumps(pain_body(2, recorded_at="0001-01-01T00:00:00+00:00")),
        422,
        False,
    ),
    ("a Unix time", "post", PAIN, json.dumps(pain_body(2, recorded_at=1791000000)), 422, False),
    (
        "a batch of 5,000",
        "post",
        PAIN + "/batch",
        json.dumps({"items": [pain_body(2)] * 5000}),
        422,
        False,
    ),
    (
        "a 2 MB body",
        "post",
        PAIN + "/batch",
        json.dumps({"items": [pain_body(2, note="n" * 1000)] * 2000}),
        413,
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "status", "stored"), ATTACKS, ids=[a[0] for a in ATTACKS]
)
def test_attacks(client, me, name, method, path, body, status, stored):
    if method == "get":
        response = client.get(path, headers=me.headers)
    else:
        response = _raw(client, me, path, body)
    assert response.status_code == status, response.text
    if status >= 400:
        assert_problem(response, status)
    logs = client.get(PAIN, headers=me.headers).json()["items"]
    assert bool(logs) is stored


def test_nul_in_a_sign_in_is_refused_not_a_crash(client):
    response = client.post(
        "/v1/auth/token", data={"username": "a\u0000b@example.com", "password": "x"}
    )
    assert_problem(response, 422)


def test_tokens_of_others_and_of_nobody(client, me):
    other = signup(client)
    assert (
        client.get(f"/v1/clients/{other.client_id}/pain-logs", headers=me.headers).status_code
        == 404
    )
    token = me.headers["Authorization"].removeprefix("Bearer ")
    for forged in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token.upper(),
        token + "x",
        "hfk_" + token[4:],
    ):
        assert_problem(client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_no_secret_or_hash_in_any_answer_or_log_line(client, caplog):
    caplog.set_level(logging.DEBUG)
    email = f"secret-{uuid.uuid4().hex[:6]}@example.com"
    account = {
        "email": email,
        "password": PASSWORD,
        "display_name": "S",
        "role": "coach",
        "timezone": "UTC",
    }
    answers = [client.post("/v1/accounts", json=account)]
    answers.append(client.post("/v1/auth/token", data={"username": email, "password": PASSWORD}))
    answers.append(
        client.post("/v1/auth/token", data={"username": email, "password": "wrong password!"})
    )
    token = answers[1].json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    key = client.post("/v1/api-keys", json={"name": "k"}, headers=headers).json()["key"]
    answers += [client.get("/v1/me", headers=headers), client.get("/v1/api-keys", headers=headers)]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (PASSWORD, token, key, "$argon2"):
        assert secret not in logged
    for answer in answers[2:]:
        for secret in (PASSWORD, token, key, "$argon2", "password_hash", "secret_hash"):
            assert secret not in answer.text
    assert "$argon2" not in answers[0].text
    assert PASSWORD not in answers[0].text + answers[1].text


def test_started_at_cannot_be_before_2000(client):
    me = signup(client)
    body = {"protocol": "hip-impingement", "baseline_pain": 5, "started_at": "1999-12-31T23:59:59Z"}
    assert_problem(client.post("/v1/clients/me/enrollments", json=body, headers=me.headers), 422)
    assert STARTED.year >= 2000
