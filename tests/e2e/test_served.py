"""The real thing: `hipfix migrate` then `hipfix serve`, spoken to over loopback HTTP."""

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.databases import KINDS, fresh_database, require
from tests.e2e.server import HIPFIX, serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    with serving(f"sqlite:///{folder / 'nested' / 'hipfix.db'}", folder / "server.log") as running:
        yield running.base


def test_served_protocol_ready_and_docs(server):
    with httpx.Client(base_url=server, timeout=10) as http:
        assert http.get("/readyz").status_code == 200
        protocol = http.get("/v1/protocols/hip-impingement").json()
        assert [s["slug"] for s in protocol["stages"]] == [
            "release-hip-flexors",
            "stretch-hip-flexors",
            "ankle-and-foot",
            "hamstrings-last-resort",
        ]
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert http.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        missing = http.get("/v1/nowhere")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_migrate_twice_publishes_nothing_new(server, tmp_path):
    env = {**os.environ, "HIPFIX_DATABASE_URL": f"sqlite:///{tmp_path / 'again.db'}"}
    for expected in ("10 published", "0 published, 10 unchanged"):
        result = subprocess.run(
            [HIPFIX, "migrate"], env=env, capture_output=True, text=True, check=True
        )
        assert expected in result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_two_workers_share_everything_through_the_database(tmp_path, kind):
    """Retries, throttling and the engine hold whichever worker answers."""
    require(kind)
    with (
        fresh_database(kind, tmp_path) as url,
        serving(url, tmp_path / "server.log", workers=2) as running,
        httpx.Client(base_url=running.base, timeout=20) as http,
    ):
        base = running.base
        account = {
            "email": "two@example.com",
            "password": "correct horse battery",
            "display_name": "Two",
            "role": "client",
            "timezone": "UTC",
        }
        assert http.post("/v1/accounts", json=account).status_code == 201
        token = http.post(
            "/v1/auth/token", data={"username": account["email"], "password": account["password"]}
        ).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert (
            http.post(
                "/v1/clients/me/enrollments",
                json={"protocol": "hip-impingement", "baseline_pain": 5},
                headers=auth,
            ).status_code
            == 201
        )
        moment = datetime.now(UTC).isoformat()
        body = {"score": 3, "context": "rest", "recorded_at": moment, "side": "left"}
        # New connections each time, so both workers answer some of these.
        answers = [
            httpx.post(
                f"{base}/v1/clients/me/pain-logs",
                json=body,
                headers={**auth, "Idempotency-Key": "once"},
                timeout=20,
            )
            for _ in range(12)
        ]
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["id"] for a in answers}) == 1
        assert len(http.get("/v1/clients/me/pain-logs", headers=auth).json()["items"]) == 1
        for _ in range(5):
            httpx.post(
                f"{base}/v1/auth/token",
                data={"username": account["email"], "password": "wrong password!"},
                timeout=20,
            )
        assert (
            httpx.post(
                f"{base}/v1/auth/token",
                data={"username": account["email"], "password": account["password"]},
                timeout=20,
            ).status_code
            == 429
        )
        assert http.get("/v1/clients/me/progress", headers=auth).json()["status"] == "progressing"
        # Each worker's one-statement read (its own connection, its own kept answers) agrees.
        todays = [httpx.get(f"{base}/v1/clients/me/today", headers=auth) for _ in range(6)]
        assert {(t.status_code, t.json()["status"]) for t in todays} == {(200, "progressing")}
