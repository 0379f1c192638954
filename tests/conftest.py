"""Test harness: one migrated database per run and kind (SQLite always, PostgreSQL when
HIPFIX_TEST_POSTGRES_URL is set), one rolled-back transaction per test."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

# Settings are read once, so the database must be chosen before the app is imported.
_RUN_DIR = Path(tempfile.mkdtemp(prefix="hipfix-tests-"))
TEST_DATABASE_URL = f"sqlite:///{_RUN_DIR / 'hipfix.db'}"
os.environ["HIPFIX_DATABASE_URL"] = TEST_DATABASE_URL
# Test apps share one connection: webhook rounds run when a test asks (`worker.run_once`).
os.environ.setdefault("HIPFIX_WEBHOOKS_WORKER", "false")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Connection, Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.content.loader import load_content  # noqa: E402
from app.core.caches import Caches  # noqa: E402
from app.core.config import get_settings  # noqa: E402
from app.core.db import build_engine  # noqa: E402
from app.core.db.unit_of_work import CACHES_KEY  # noqa: E402
from app.core.migrations import upgrade_to_head  # noqa: E402
from app.main import create_app  # noqa: E402
from tests.databases import KINDS, fresh_database, require  # noqa: E402


@pytest.fixture(scope="session", params=KINDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Every test that touches the database runs once per database kind."""
    require(request.param)
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    upgrade_to_head(database_url)
    engine = build_engine(database_url)
    with Session(engine) as session:
        load_content(session)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


def _session_on(conn: Connection) -> Session:
    # Commits release savepoints; the outer transaction keeps writes away from other tests.
    # It carries caches of its own, as a unit of work's session does.
    return Session(bind=conn, join_transaction_mode="create_savepoint", info={CACHES_KEY: Caches()})


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """A session for tests that look at or arrange rows directly."""
    with _session_on(connection) as session:
        yield session


@pytest.fixture
def app(connection: Connection) -> FastAPI:
    """The app as production wires it, its units of work bound to the test's connection:
    each one is a SAVEPOINT inside the transaction rolled back after the test. The simulator's
    engine runs on a thread: a worker process per test would cost a second of imports each
    (tests/api/test_progression.py runs one app with it)."""
    return create_app(get_settings().model_copy(update={"cpu_processes": 0}), bind=connection)


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


PASSWORD = "correct horse battery"


@dataclass
class Actor:
    """A signed-in account, as the tests drive it."""

    account: dict
    headers: dict[str, str]

    @property
    def client_id(self) -> str:
        return self.account["client_id"]


def signup(client: TestClient, role: str = "client", timezone: str = "Europe/London") -> Actor:
    email = f"{role}-{uuid.uuid4().hex[:12]}@example.com"
    created = client.post(
        "/v1/accounts",
        json={
            "email": email,
            "password": PASSWORD,
            "display_name": role.title(),
            "role": role,
            "timezone": timezone,
        },
    )
    assert created.status_code == 201, created.text
    token = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return Actor(created.json(), {"Authorization": f"Bearer {token.json()['access_token']}"})


def managed_client(client: TestClient, coach: Actor, **fields) -> dict:
    body = {"display_name": "Managed", "timezone": "America/New_York", **fields}
    response = client.post("/v1/clients", json=body, headers=coach.headers)
    assert response.status_code == 201, response.text
    return response.json()


STARTED = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def enrol(client: TestClient, actor: Actor, client_ref: str = "me", **fields) -> dict:
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        **fields,
    }
    response = client.post(
        f"/v1/clients/{client_ref}/enrollments", json=body, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def pain_body(day: int = 1, **fields) -> dict:
    moment = STARTED + timedelta(days=day, hours=1)
    return {
        "score": 4,
        "context": "rest",
        "recorded_at": moment.isoformat(),
        "side": "right",
        **fields,
    }


@pytest.fixture
def me(client: TestClient) -> Actor:
    """A client account enrolled on the protocol since STARTED."""
    actor = signup(client)
    enrol(client, actor)
    return actor


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Skips counted by reason, one line each: the PostgreSQL runs skipped without a server
    are one line with their count, not one per test (`-rs` still lists them all)."""
    skipped = terminalreporter.stats.get("skipped", [])
    reasons: dict[str, int] = {}
    for report in skipped:
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped", sep="-")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{count} skipped: {reason}")
