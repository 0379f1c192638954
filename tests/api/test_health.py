"""Liveness and readiness."""

from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import create_engine

from app.core.db import build_engine
from app.main import create_app
from tests.conftest import assert_problem


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "head"}


def test_readyz_is_503_when_migrations_are_pending(tmp_path: Path):
    empty = build_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    response = TestClient(create_app(bind=empty)).get("/readyz")
    body = assert_problem(response, 503, "migrations-pending")
    assert "hipfix migrate" in body["detail"]
    assert response.headers["retry-after"].isdigit()
    empty.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path):
    missing = tmp_path / "no-such-dir" / "x.db"
    unreachable = create_engine(f"sqlite:///file:{missing}?mode=ro&uri=true")
    response = TestClient(create_app(bind=unreachable)).get("/readyz")
    assert_problem(response, 503, "database-unavailable")
    assert response.headers["retry-after"].isdigit()
    assert str(missing) not in response.text
