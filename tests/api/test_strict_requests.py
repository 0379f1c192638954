"""What a newcomer hit (#16): bodies in another media type, unknown query parameters, and
messages that quoted validators and regular expressions."""

import pytest

from app.core.strict_requests import FORM, JSON, StrictRoute, expects
from tests.conftest import PASSWORD, assert_problem, pain_body, signup
from tests.routes import api_routes


def test_a_json_body_sent_as_a_form_is_415_naming_json(client):
    # curl -d without -H 'content-type: application/json' sends a form.
    response = client.post(
        "/v1/accounts",
        content=b'{"email": "x@example.com"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = assert_problem(response, 415, "unsupported-media-type")
    assert "Content-Type: application/json" in body["detail"]
    assert response.headers["accept-post"] == "application/json"


def test_a_json_body_without_content_type_is_415(client, me):
    response = client.post(
        "/v1/clients/me/pain-logs",
        content=b'{"score": 4}',
        headers={**me.headers, "content-type": ""},
    )
    body = assert_problem(response, 415, "unsupported-media-type")
    assert "no Content-Type" in body["detail"]


def test_json_with_a_charset_or_a_json_suffix_is_json(client, me):
    for media_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.post(
            "/v1/clients/me/pain-logs",
            content=b'{"score": 4}',
            headers={**me.headers, "content-type": media_type},
        )
        assert_problem(response, 422, "validation-error")  # read as JSON: fields missing


def test_the_token_endpoint_says_it_takes_the_oauth2_form(client):
    actor = signup(client)
    email = actor.account["email"]
    response = client.post("/v1/auth/token", json={"username": email, "password": PASSWORD})
    body = assert_problem(response, 415, "unsupported-media-type")
    assert "application/x-www-form-urlencoded" in body["detail"]
    assert "OAuth2 password form" in body["detail"]
    signed_in = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/clients/me/pain-logs", "sinse=2026-11-01T00:00:00Z"),
        ("/v1/events", "since=2026-11-01T00:00:00Z"),
        ("/v1/clients", "external_id=abc"),
        ("/v1/clients/me/today", "date=2026-10-20&day=2026-10-20"),
        ("/v1/me", "x=1"),
    ],
)
def test_unknown_query_parameters_are_refused_naming_them(client, path, query):
    coach = signup(client, role="coach")
    actor = coach if path in ("/v1/events", "/v1/clients") else signup(client)
    response = client.get(f"{path}?{query}", headers=actor.headers)
    body = assert_problem(response, 422, "validation-error")
    unknown = [e for e in body["errors"] if e["type"] == "extra_forbidden"]
    assert len(unknown) == 1
    assert unknown[0]["loc"][0] == "query"
    assert f"query.{unknown[0]['loc'][1]}" in body["detail"]
    assert unknown[0]["msg"].startswith("Unknown query parameter: this operation takes")


def test_declared_query_parameters_still_work(client, me):
    for url in (
        "/v1/clients/me/pain-logs?context=rest&limit=5",
        "/v1/clients/me/today?date=2026-10-20",
        "/v1/protocols/hip-impingement?version=1",
        "/v1/exercises?stage=ankle-and-foot&limit=2",
    ):
        assert client.get(url, headers=me.headers).status_code == 200, url


def test_unknown_query_on_a_write_stores_nothing(client, me):
    response = client.post(
        "/v1/clients/me/pain-logs?dry_run=true", json=pain_body(), headers=me.headers
    )
    assert_problem(response, 422, "validation-error")
    listed = client.get("/v1/clients/me/pain-logs", headers=me.headers).json()
    assert listed["items"] == []


def test_every_api_route_is_checked_from_what_it_declares(app):
    routes = api_routes(app)
    assert routes
    token = next(r for r in routes if r.path.endswith("/auth/token") and "POST" in r.methods)
    assert expects(token).body == FORM
    today = next(r for r in routes if r.path.endswith("/today"))
    assert expects(today).query == {"date"}
    assert expects(today).body is None
    create = next(r for r in routes if r.path.endswith("/pain-logs") and "POST" in r.methods)
    assert expects(create).body == JSON


def test_every_operation_declares_the_refusals(client):
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert "415" in operation["responses"], (method, path)


def test_messages_quote_no_validator_and_no_pattern(client, me):
    bad_ref = client.get("/v1/clients/not-a-client/progress", headers=me.headers)
    body = assert_problem(bad_ref, 422)
    assert body["errors"][0]["msg"] == "Input should be `me` or a client's id (a UUID)"
    future = client.post(
        "/v1/clients/me/pain-logs",
        json=pain_body(recorded_at="2999-01-01T00:00:00Z"),
        headers=me.headers,
    )
    body = assert_problem(future, 422)
    assert body["errors"][0]["msg"] == "Input is more than 5 minutes in the future"
    control = client.post(
        "/v1/clients/me/pain-logs", json=pain_body(note="a\x00b"), headers=me.headers
    )
    body = assert_problem(control, 422)
    message = body["errors"][0]["msg"]
    assert "pattern" not in message
    assert "\\x" not in message
    assert "Value error" not in message
    assert "control characters" in message


def test_every_documented_route_checks_its_requests(app):
    """The check lives in the route class: a router made without it would let a misspelt
    filter through again, so every documented route must be a `StrictRoute`."""
    routes = [r for r in api_routes(app) if r.include_in_schema]
    assert len(routes) > 50
    assert [r.path for r in routes if not isinstance(r, StrictRoute)] == []
