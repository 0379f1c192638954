"""Faults and hostile surroundings: the database away or read-only, security headers."""

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, create_engine

from app.content.loader import load_content
from app.core.db import Database, build_engine, current_engine, get_session
from app.core.migrations import upgrade_to_head
from app.main import create_app
from tests.conftest import PASSWORD, assert_problem, signup


def _client_on(engine) -> TestClient:
    app = create_app()

    def session():
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = session
    app.dependency_overrides[current_engine] = lambda: engine
    app.state.database = Database.of_engine(lambda: engine)
    return TestClient(app, raise_server_exceptions=False)


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


def test_the_kept_read_connection_is_replaced_after_a_driver_error(tmp_path: Path):
    """On SQLite the one-statement reads keep one connection (app/core/db.py); when it
    breaks, that request fails and the next one reads on a new connection."""
    url = f"sqlite:///{tmp_path / 'hipfix.db'}"
    upgrade_to_head(url)
    engine = build_engine(url)  # WAL mode: the reads run on the event loop, kept connection
    with Session(engine) as session:
        load_content(session)
    engine.dispose()  # no idle connection left: each checkout below opens one
    opened = []
    event.listen(
        engine, "connect", lambda dbapi_connection, _record: opened.append(dbapi_connection)
    )
    client = _client_on(engine)
    client.app.state.database = Database.of_engine(lambda: engine)  # the real wiring
    # The first request's first statement is the one-statement read: it opens the kept one.
    assert_problem(
        client.get("/v1/clients/me/progress", headers={"Authorization": "Bearer x"}), 401
    )
    kept = opened[0]
    actor = signup(client, timezone="UTC")
    enrolment = {"protocol": "hip-impingement", "baseline_pain": 6}
    assert (
        client.post("/v1/clients/me/enrollments", json=enrolment, headers=actor.headers).status_code
        == 201
    )
    assert client.get("/v1/clients/me/progress", headers=actor.headers).status_code == 200

    kept.close()  # broken under the app's feet
    broken = client.get("/v1/clients/me/progress", headers=actor.headers)
    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    recovered = client.get("/v1/clients/me/progress", headers=actor.headers)
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "progressing"  # read on another connection
