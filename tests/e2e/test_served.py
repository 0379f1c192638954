"""The real thing: `hipfix migrate` then `hipfix serve`, spoken to over loopback HTTP."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.databases import KINDS, fresh_database, require

pytestmark = pytest.mark.e2e

HIPFIX = Path(sys.executable).parent / "hipfix"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(database_url: str, workers: int = 1) -> Iterator[str]:
    """`hipfix migrate`, then `hipfix serve` on a free port; yields its base URL."""
    env = {**os.environ, "HIPFIX_DATABASE_URL": database_url}
    migrate = subprocess.run(
        [HIPFIX, "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "10 published" in migrate.stdout
    port = _free_port()
    process = subprocess.Popen(
        [HIPFIX, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    with serving(f"sqlite:///{folder / 'nested' / 'hipfix.db'}") as base:
        yield base


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
        serving(url, workers=2) as base,
        httpx.Client(base_url=base, timeout=20) as http,
    ):
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
