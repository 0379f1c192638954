"""What contract fuzzing (`make fuzz`) found: the app and its OpenAPI document must agree."""

import re

import pytest

from app.core.types import zone_names
from app.main import create_app
from tests.conftest import assert_problem, pain_body, signup


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app().openapi()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/api-keys", "GET, POST"),
        ("PUT", "/v1/auth/token", "POST, DELETE"),
        ("PATCH", "/v1/clients/me/pain-logs", "GET, POST"),
        ("GET", "/v1/clients/me/overrides", "POST"),
    ],
)
def test_a_405_allows_every_method_of_the_path(client, method, path, allow):
    # It named only the first route whose path matched: `Allow: POST` on /v1/api-keys.
    response = client.request(method, path)
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == allow


def test_batch_is_not_read_as_a_pain_log_id(client):
    # DELETE /pain-logs/batch matched DELETE /pain-logs/{log_id}: a 422 about `log_id`.
    me = signup(client)
    response = client.delete("/v1/clients/me/pain-logs/batch", headers=me.headers)
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"
    not_an_id = client.delete("/v1/clients/me/pain-logs/not-an-id", headers=me.headers)
    assert_problem(not_an_id, 404)


@pytest.mark.parametrize("date", ["0", "1791000000", "2026-11-20T00:00:00", "20261120"])
def test_today_takes_only_an_iso_date(client, me, date):
    # "0" was read as a Unix time: 200 with the routine of 1970-01-01.
    response = client.get("/v1/clients/me/today", params={"date": date}, headers=me.headers)
    body = assert_problem(response, 422, "validation-error")
    assert [e["loc"] for e in body["errors"]] == [["query", "date"]]


def test_today_on_a_date(client, me):
    response = client.get("/v1/clients/me/today?date=2026-10-20", headers=me.headers)
    assert response.status_code == 200, response.text
    assert response.json()["date"] == "2026-10-20"


def test_time_zones_are_a_documented_string_checked_by_name(client, document):
    # An enum of ~600 names broke openapi-python-client ("Duplicate key GMT0": Etc/GMT+0,
    # Etc/GMT-0, Etc/GMT0); documented as a string, the names are still all that is accepted.
    schemas = document["components"]["schemas"]
    zone_schema = schemas["TimeZone"]
    assert zone_schema["type"] == "string"
    assert "enum" not in zone_schema
    assert "IANA" in zone_schema["description"]
    assert zone_schema["examples"] == ["Europe/London"]
    assert {"Europe/London", "UTC", "America/Argentina/Buenos_Aires"} <= set(zone_names())
    assert not {"Factory", "localtime", "posixrules"} & set(zone_names())
    for model in ("AccountCreate", "ClientCreate", "SimulationRequest"):
        ref = schemas[model]["properties"]["timezone"]["$ref"]
        assert ref == "#/components/schemas/TimeZone"
    zone = zone_names()[-1]
    assert signup(client, timezone=zone).account["timezone"] == zone
    for wrong in ("Mars/Olympus_Mons", "localtime", "europe/london", "GMT+1"):
        account = {
            "email": "tz@example.com",
            "password": "correct horse battery",
            "display_name": "Tz",
            "role": "client",
            "timezone": wrong,
        }
        body = assert_problem(client.post("/v1/accounts", json=account), 422)
        assert body["errors"] == [
            {
                "loc": ["body", "timezone"],
                "msg": "Input should be an IANA time zone name, such as Europe/Paris or "
                "America/New_York",
                "type": "time_zone",
            }
        ]


def test_every_json_body_may_be_malformed_or_too_large(document):
    # POST /v1/clients and POST /v1/api-keys answered 400 malformed-json undocumented.
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                assert {"400", "413", "422"} <= set(operation["responses"]), (method, path)


@pytest.mark.parametrize(("score", "status"), [(4.0, 201), ("4", 422), (4.5, 422), (True, 422)])
def test_integers_are_json_schema_integers(client, me, score, status):
    # JSON Schema's "integer" includes 4.0; the strict ints refused it.
    response = client.post(
        "/v1/clients/me/pain-logs", json=pain_body(score=score), headers=me.headers
    )
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["score"] == 4


def test_integral_floats_in_sessions_and_parameters(client):
    coach = signup(client, role="coach")
    managed = client.post(
        "/v1/clients", json={"display_name": "M", "timezone": "UTC"}, headers=coach.headers
    ).json()
    enrolled = client.post(
        f"/v1/clients/{managed['id']}/enrollments",
        json={
            "protocol": "hip-impingement",
            "version": 1.0,
            "baseline_pain": 6.0,
            "started_at": "2026-10-01T08:00:00Z",
            "params": {"gate_min_days": 10.0, "plateau_delta": 1},
        },
        headers=coach.headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["params"]["gate_min_days"] == 10
    session = client.post(
        f"/v1/clients/{managed['id']}/sessions",
        json={
            "performed_at": "2026-10-02T18:00:00Z",
            "exercises": [{"exercise": "hip-flexor-stretch", "sets": 3.0, "hold_seconds": 30.0}],
        },
        headers=coach.headers,
    )
    assert session.status_code == 201, session.text
    assert session.json()["exercises"][0]["sets"] == 3


@pytest.mark.parametrize(
    ("email", "accepted"),
    [
        ("sam@example.com", True),
        ("sam@test.example.org", True),
        ("sam@example.test", False),
        ("sam@clinic.LOCAL", False),
        ("sam@localhost.", False),
        ("sam@x.onion", False),
        ("sam@in-addr.arpa", False),
    ],
)
def test_special_use_e_mail_domains_are_documented(client, document, email, accepted):
    # The `email` format allows sam@example.test; sign-up refused it, undocumented.
    schema = document["components"]["schemas"]["AccountCreate"]["properties"]["email"]
    assert bool(re.search(schema["pattern"], email)) is accepted
    response = client.post(
        "/v1/accounts",
        json={
            "email": email,
            "password": "correct horse battery",
            "display_name": "Sam",
            "role": "client",
            "timezone": "UTC",
        },
    )
    assert response.status_code == (201 if accepted else 422), response.text


def test_sign_in_form_fields_are_not_nullable(client, document):
    # A form has no null: schemathesis sent `grant_type=null`, as the schema allowed.
    form = document["components"]["schemas"]["TokenRequest"]["properties"]
    assert "null" not in str(form)
    me = signup(client)
    response = client.post(
        "/v1/auth/token",
        data={"username": me.account["email"], "password": "correct horse battery"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("Sam", True),
        ("  Sam  ", True),
        ("x" * 100, True),
        ("\u00a0", False),
        (" \u3000\u2009 ", False),
        (" " + "x" * 100, False),
    ],
)
def test_names_are_documented_as_validated(client, document, name, accepted):
    # " " (U+00A0) fit minLength 1 and was refused once stripped; " " + 100 characters broke
    # maxLength 100 and was accepted once stripped.
    schema = document["components"]["schemas"]["ApiKeyCreate"]["properties"]["name"]
    fits = schema["minLength"] <= len(name) <= schema["maxLength"]
    assert (fits and bool(re.search(schema["pattern"], name))) is accepted
    coach = signup(client, role="coach")
    response = client.post("/v1/api-keys", json={"name": name}, headers=coach.headers)
    assert response.status_code == (201 if accepted else 422), response.text
    if accepted:
        assert response.json()["name"] == name.strip()


def test_a_revoked_api_key_is_not_a_stored_retry(client):
    # Its id and name sent again answered 200 with the revoked key, which then was a 404
    # (a deleted pain log under a reused id is a 409: so now is a revoked key).
    coach = signup(client, role="coach")
    body = {"id": "2a4b6c8d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "name": "clinic EHR sync"}
    assert client.post("/v1/api-keys", json=body, headers=coach.headers).status_code == 201
    retry = client.post("/v1/api-keys", json=body, headers=coach.headers)
    assert retry.status_code == 200, retry.text
    assert retry.json()["key"] is None
    revoked = client.delete(f"/v1/api-keys/{body['id']}", headers=coach.headers)
    assert revoked.status_code == 204
    assert_problem(
        client.post("/v1/api-keys", json=body, headers=coach.headers), 409, "id-conflict"
    )
    assert client.get("/v1/api-keys", headers=coach.headers).json()["items"] == []
