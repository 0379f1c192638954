"""The real thing: `hipfix migrate` then `hipfix serve`, spoken to over loopback HTTP."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

HIPFIX = Path(sys.executable).parent / "hipfix"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    env = {**os.environ, "HIPFIX_DATABASE_URL": f"sqlite:///{folder / 'nested' / 'hipfix.db'}"}
    migrate = subprocess.run(
        [HIPFIX, "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "10 published" in migrate.stdout
    port = _free_port()
    process = subprocess.Popen(
        [HIPFIX, "serve", "--port", str(port)],
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
