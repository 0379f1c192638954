"""Every error is an RFC 9457 problem, whatever raised it."""

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from tests.conftest import assert_problem


def test_unknown_route_is_a_404_problem(client):
    body = assert_problem(client.get("/v1/nothing-here"), 404, "not-found")
    assert "/v1/nothing-here" in body["detail"]


def test_wrong_method_is_a_405_problem_with_allow(client):
    response = client.delete("/v1/protocols/hip-impingement")
    body = assert_problem(response, 405, "method-not-allowed")
    assert "DELETE" in body["detail"]
    assert "GET" in response.headers["allow"]


# The catalogue has no request bodies, so the body-handling side of the shared problem
# handlers is checked on a probe route mounted on a real app built by create_app().
class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int


@pytest.fixture
def probe_client(app: FastAPI) -> Iterator[TestClient]:
    router = APIRouter()

    @router.post("/v1/_probe")
    def probe(body: Probe) -> Probe:
        return body

    @router.get("/v1/_boom")
    def boom() -> None:
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_malformed_json_is_a_400_problem(probe_client):
    response = probe_client.post(
        "/v1/_probe", content=b'{"score": 3', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed-json")


def test_unknown_body_fields_are_refused(probe_client):
    body = assert_problem(probe_client.post("/v1/_probe", json={"score": 3, "mood": "ok"}), 422)
    assert body["errors"] == [
        {
            "loc": ["body", "mood"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]


def test_validation_problem_lists_each_field(probe_client):
    body = assert_problem(probe_client.post("/v1/_probe", json={"score": "x", "a": 1}), 422)
    assert sorted(tuple(e["loc"]) for e in body["errors"]) == [("body", "a"), ("body", "score")]
    assert all(e["msg"] and e["type"] for e in body["errors"])


def test_unexpected_errors_are_500_problems_without_internals(probe_client, caplog):
    response = probe_client.get("/v1/_boom")
    body = assert_problem(response, 500, "internal-error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text
    assert any("unhandled error" in r.message for r in caplog.records)
    assert body["detail"]
