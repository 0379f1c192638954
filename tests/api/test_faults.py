"""Faults and hostile surroundings: the database away or read-only, security headers."""

import shutil
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine

from app.catalogue import service as catalogue_service
from app.content.loader import load_content
from app.core.config import Settings
from app.core.db import build_engine
from app.core.db.engine import POOL_TIMEOUT_SECONDS
from app.core.migrations import upgrade_to_head
from app.main import create_app
from tests.conftest import PASSWORD, assert_problem, signup


def _client_on(engine, settings: Settings | None = None) -> TestClient:
    return TestClient(create_app(settings, bind=engine), raise_server_exceptions=False)


def _account() -> dict:
    return {
        "email": "ro@example.com",
        "password": PASSWORD,
        "display_name": "Ro",
        "role": "client",
        "timezone": "UTC",
    }


def test_an_unreachable_database_is_a_503_that_recovers_by_itself(tmp_path: Path):
    folder = tmp_path / "not-yet"
    engine = create_engine(f"sqlite:///{folder / 'hipfix.db'}")
    client = _client_on(engine)
    progress = client.get("/v1/clients/me/progress", headers={"Authorization": "Bearer hft_x"})
    for response in (
        client.get("/v1/protocols"),
        client.post("/v1/accounts", json=_account()),
        progress,  # the one-statement read (app/progression/reads.py)
    ):
        body = assert_problem(response, 503, "database-unavailable")
        assert response.headers["retry-after"] == "5"
        assert "not-yet" not in response.text  # no file names or hosts leak
        assert body["detail"]
    assert_problem(client.get("/readyz"), 503)

    # The database comes back: the same process serves again, nothing restarted.
    folder.mkdir()
    url = f"sqlite:///{folder / 'hipfix.db'}"
    upgrade_to_head(url)
    with Session(build_engine(url)) as session:
        load_content(session)
    assert client.get("/v1/protocols").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/accounts", json=_account()).status_code == 201


def test_a_read_only_database_serves_reads_and_refuses_writes_with_503(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hipfix.db'}"
    upgrade_to_head(url)
    writable = build_engine(url)
    with Session(writable) as session:
        load_content(session)
    writable.dispose()
    shutil.copy(tmp_path / "hipfix.db", tmp_path / "ro.db")
    read_only = create_engine(f"sqlite:///file:{tmp_path / 'ro.db'}?mode=ro&uri=true")
    client = _client_on(read_only)
    assert client.get("/v1/protocols/hip-impingement").status_code == 200
    refused = client.post("/v1/accounts", json=_account())
    assert_problem(refused, 503, "database-unavailable")
    assert refused.headers["retry-after"] == "5"


def test_security_headers(client):
    api = client.get("/v1/protocols")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    problem = client.get("/v1/nowhere")
    assert problem.headers["x-content-type-options"] == "nosniff"
    docs = client.get("/docs")
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    assert "http" not in docs.headers["content-security-policy"]  # no other origin allowed


def _served_database(tmp_path: Path, **engine_options) -> Engine:
    url = f"sqlite:///{tmp_path / 'hipfix.db'}"
    upgrade_to_head(url)
    engine = build_engine(url, **engine_options)
    with Session(engine) as session:
        load_content(session)
    return engine


def test_a_broken_connection_fails_one_request_and_is_replaced(tmp_path: Path):
    """A pooled connection that breaks under the app fails the request using it (a 500
    problem) and is dropped: the next request reads on a new one."""
    engine = _served_database(tmp_path, connections=1)
    engine.dispose()  # no idle connection left: each checkout below opens one
    opened = []
    event.listen(
        engine, "connect", lambda dbapi_connection, _record: opened.append(dbapi_connection)
    )
    client = _client_on(engine, Settings(db_threads=1))
    actor = signup(client, timezone="UTC")
    enrolment = {"protocol": "hip-impingement", "baseline_pain": 6}
    assert (
        client.post("/v1/clients/me/enrollments", json=enrolment, headers=actor.headers).status_code
        == 201
    )
    assert client.get("/v1/clients/me/progress", headers=actor.headers).status_code == 200

    for connection in opened:
        connection.close()  # broken under the app's feet
    broken = client.get("/v1/clients/me/progress", headers=actor.headers)
    assert broken.status_code >= 500
    assert broken.headers["content-type"] == "application/problem+json"
    recovered = client.get("/v1/clients/me/progress", headers=actor.headers)
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "progressing"  # read on another connection


def test_a_dry_pool_answers_503_with_retry_after_at_once(tmp_path: Path):
    """Connections held outside the units of work (here by the test) leave none for a
    request: it is answered 503 with Retry-After within the pool's timeout, not queued."""
    engine = _served_database(tmp_path, connections=1)
    client = _client_on(engine)
    anyone = {"Authorization": "Bearer hft_unknown"}  # a read that needs the database
    # Held before the app's first unit of work: a lane's thread keeps the connection its
    # first unit takes (app/core/db/kept.py), so this is when it needs the pool.
    held = [engine.connect() for _ in range(3)]  # the pool's one, and both overflow slots
    try:
        started = time.monotonic()
        response = client.get("/v1/me", headers=anyone)
        waited = time.monotonic() - started
        assert_problem(response, 503, "busy")
        assert response.headers["retry-after"] == "1"
        assert waited < POOL_TIMEOUT_SECONDS + 2  # not the 30 s default of a pool
        assert client.get("/healthz").status_code == 200
    finally:
        for connection in held:
            connection.close()
    assert_problem(client.get("/v1/me", headers=anyone), 401)


def test_a_request_that_cannot_get_a_thread_is_answered_503(connection):
    """Units of work never queue behind busy threads for long: with every thread taken, a
    request is answered 503 with Retry-After within the admission time."""
    release = threading.Event()
    entered = threading.Event()
    real = catalogue_service.list_protocols

    def slow(*args, **kwargs):
        entered.set()
        release.wait(10)
        return real(*args, **kwargs)

    app = create_app(Settings(db_threads=1), bind=connection)
    with TestClient(app, raise_server_exceptions=False) as client:
        catalogue_service.list_protocols = slow
        try:
            waiting = threading.Thread(target=client.get, args=("/v1/protocols",))
            waiting.start()
            assert entered.wait(5)
            response = client.get("/v1/exercises")
            assert_problem(response, 503, "busy")
            assert response.headers["retry-after"] == "1"
            assert client.get("/healthz").status_code == 200
        finally:
            release.set()
            catalogue_service.list_protocols = real
            waiting.join(10)
        assert client.get("/v1/exercises").status_code == 200
