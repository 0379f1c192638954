"""Browsers may call the API only from configured origins."""

from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.db import get_session
from app.main import create_app


def _client(db, origins: list[str]) -> TestClient:
    app = create_app(Settings(cors_origins=origins))
    app.dependency_overrides[get_session] = lambda: db
    return TestClient(app)


def test_configured_origin_is_allowed(db):
    client = _client(db, ["https://app.example"])
    response = client.get("/v1/protocols", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    preflight = client.options(
        "/v1/exercises",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200


def test_browsers_may_read_the_headers_the_api_documents(db):
    client = _client(db, ["https://app.example"])
    response = client.get("/v1/protocols", headers={"Origin": "https://app.example"})
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "retry-after", "idempotent-replayed", "www-authenticate"} <= exposed


def test_other_origins_get_no_cors_headers(db):
    client = _client(db, ["https://app.example"])
    response = client.get("/v1/protocols", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_no_origins_by_default(db):
    client = _client(db, [])
    response = client.get("/v1/protocols", headers={"Origin": "https://app.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_origins_setting_reads_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("HIPFIX_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
