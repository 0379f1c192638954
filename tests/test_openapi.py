"""The committed contract matches the app, and says what a developer needs."""

from pathlib import Path

import pytest

from app.core.openapi import render_openapi
from app.main import create_app

CONTRACT = Path(__file__).parents[1] / "openapi" / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app().openapi()


def test_committed_contract_matches_the_app():
    assert CONTRACT.read_text(encoding="utf-8") == render_openapi(create_app()), (
        "openapi/openapi.json is stale: run `make openapi` and commit the result"
    )


def test_rendering_is_stable():
    assert render_openapi(create_app()) == render_openapi(create_app())


def test_describes_hipfix_with_the_medical_notice(document):
    info = document["info"]
    assert info["title"] == "HipFix API"
    assert "hip impingement" in info["description"]
    assert "Not medical advice" in info["description"]
    assert {t["name"] for t in document["tags"]} >= {"catalogue", "operations"}


def _operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_operation_ids_are_stable_camel_case(document):
    ids = {(m, p): op["operationId"] for p, m, op in _operations(document)}
    assert ids[("get", "/v1/exercises")] == "listExercises"
    assert ids[("get", "/v1/exercises/{slug}")] == "getExercise"
    assert ids[("get", "/v1/protocols")] == "listProtocols"
    assert ids[("get", "/v1/protocols/{slug}")] == "getProtocol"
    assert len(set(ids.values())) == len(ids)
    for operation_id in ids.values():
        assert operation_id[0].islower()
        assert "_" not in operation_id


def test_every_operation_has_a_summary_tag_and_problem_errors(document):
    for path, method, operation in _operations(document):
        assert operation.get("summary"), (method, path)
        assert operation.get("tags"), (method, path)
        errors = {s: r for s, r in operation["responses"].items() if s.startswith(("4", "5"))}
        assert "500" in errors, (method, path)
        for status, response in errors.items():
            assert list(response["content"]) == ["application/problem+json"], (method, path, status)


def test_every_schema_has_examples(document):
    for name, schema in document["components"]["schemas"].items():
        assert schema.get("examples"), name


def test_no_default_validation_error_schema(document):
    # 422s are problems: FastAPI's {"detail": [...]} shape must not be advertised.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_security_schemes_and_protected_operations(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "http", "scheme": "bearer"}
    public = {
        ("get", "/v1/exercises"),
        ("get", "/v1/exercises/{slug}"),
        ("get", "/v1/protocols"),
        ("get", "/v1/protocols/{slug}"),
        ("get", "/v1/protocols/{slug}/fhir"),
        ("post", "/v1/accounts"),
        ("post", "/v1/auth/token"),
        ("post", "/v1/auth/password-reset"),
        ("post", "/v1/auth/password-reset/{token}"),
        ("post", "/v1/simulations"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    }
    for path, method, operation in _operations(document):
        if (method, path) in public:
            assert "security" not in operation, (method, path)
        else:
            assert {next(iter(r)) for r in operation["security"]} == {
                "OAuth2PasswordBearer",
                "ApiKey",
            }
            assert "401" in operation["responses"], (method, path)


def test_creates_document_retries(document):
    for path, method, operation in _operations(document):
        # Ending an enrolment changes it, creating nothing: the same end again is the retry.
        if method == "post" and path.startswith("/v1/clients") and not path.endswith("/end"):
            headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
            assert "Idempotency-Key" in headers, path
            assert {"200", "201", "409", "422"} <= set(operation["responses"]), path
