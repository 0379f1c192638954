"""Browsers may call the API only from configured origins."""

from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app


def _client(connection, origins: list[str]) -> TestClient:
    return TestClient(create_app(Settings(cors_origins=origins), bind=connection))


def test_configured_origin_is_allowed(connection):
    client = _client(connection, ["https://app.example"])
    response = client.get("/v1/protocols", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    preflight = client.options(
        "/v1/exercises",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200


def test_browsers_may_read_the_headers_the_api_documents(connection):
    client = _client(connection, ["https://app.example"])
    response = client.get("/v1/protocols", headers={"Origin": "https://app.example"})
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "retry-after", "idempotent-replayed", "www-authenticate"} <= exposed


def test_other_origins_get_no_cors_headers(connection):
    client = _client(connection, ["https://app.example"])
    response = client.get("/v1/protocols", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_no_origins_by_default(connection):
    client = _client(connection, [])
    response = client.get("/v1/protocols", headers={"Origin": "https://app.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_origins_setting_reads_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("HIPFIX_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


def test_a_browser_may_read_the_edges_refusals_too(connection):
    """The edge (body limit, write limit) answers inside CORS, so a web app sees its 413."""
    settings = Settings(cors_origins=["https://app.example"], max_body_bytes=1024)
    client = TestClient(create_app(settings, bind=connection))
    response = client.post(
        "/v1/accounts",
        content=b"x" * 2048,
        headers={"Origin": "https://app.example", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == "https://app.example"
