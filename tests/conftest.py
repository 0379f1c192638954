"""Test harness: one migrated SQLite file per run, one rolled-back transaction per test."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Settings are read once, so the database must be chosen before the app is imported.
_RUN_DIR = Path(tempfile.mkdtemp(prefix="hipfix-tests-"))
TEST_DATABASE_URL = f"sqlite:///{_RUN_DIR / 'hipfix.db'}"
os.environ["HIPFIX_DATABASE_URL"] = TEST_DATABASE_URL

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.content.loader import load_content  # noqa: E402
from app.core.db import get_engine, get_session  # noqa: E402
from app.core.migrations import upgrade_to_head  # noqa: E402
from app.main import create_app  # noqa: E402


@pytest.fixture(scope="session")
def engine() -> Engine:
    upgrade_to_head(TEST_DATABASE_URL)
    engine = get_engine()
    with Session(engine) as session:
        load_content(session)
    return engine


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test.

    Services commit as usual; with `create_savepoint` their commits release savepoints
    and the outer transaction keeps every test's writes away from the next test.
    """
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def app(db: Session) -> Iterator[FastAPI]:
    application = create_app()
    application.dependency_overrides[get_session] = lambda: db
    yield application
    application.dependency_overrides.clear()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_problem(response, status: int, kind: str | None = None) -> dict:
    """The response is an RFC 9457 problem with this status (and type ending in `kind`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"].startswith("https://")
    if kind is not None:
        assert body["type"].endswith("/" + kind), body["type"]
    assert body["instance"] == response.request.url.path
    return body
