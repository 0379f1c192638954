"""A real HipFix server in a subprocess: migrate, serve, stop gently or kill -9."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx

HIPFIX = Path(sys.executable).parent / "hipfix"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(
        self, database_url: str, log: Path, workers: int = 1, env: dict[str, str] | None = None
    ) -> None:
        """`env`: more HIPFIX_ settings for the server (over this process's environment)."""
        self.env = {**os.environ, "HIPFIX_DATABASE_URL": database_url, **(env or {})}
        self.log = log
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def migrate(self) -> str:
        done = subprocess.run(
            [HIPFIX, "migrate"], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        with self.log.open("ab") as log:
            # Its own process group, so kill -9 reaches the workers too.
            self.process = subprocess.Popen(
                [HIPFIX, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """kill -9 the server and its workers: no shutdown, no flush, nothing."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def serving(
    database_url: str, log: Path, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    server = Server(database_url, log, workers, env)
    out = server.migrate()
    assert "published" in out
    server.start()
    try:
        yield server
    finally:
        server.stop()


def signed_in(base: str, name: str, role: str = "client", timezone: str = "UTC") -> dict[str, str]:
    """An account signed up and signed in over HTTP: its auth headers."""
    account = {
        "email": f"{name.lower().replace(' ', '-')}-{uuid.uuid4().hex[:8]}@example.com",
        "password": "correct horse battery",
        "display_name": name,
        "role": role,
        "timezone": timezone,
    }
    with httpx.Client(base_url=base, timeout=30) as http:
        created = http.post("/v1/accounts", json=account)
        assert created.status_code == 201, created.text
        login = {"username": account["email"], "password": account["password"]}
        token = http.post("/v1/auth/token", data=login)
        assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def enrolled_client(
    base: str, name: str, timezone: str, started_at: datetime | None = None
) -> dict[str, str]:
    """A client account signed up, signed in and enrolled over HTTP: its auth headers."""
    headers = signed_in(base, name, "client", timezone)
    enrolment: dict[str, object] = {"protocol": "hip-impingement", "baseline_pain": 6}
    if started_at is not None:
        enrolment["started_at"] = started_at.isoformat()
    with httpx.Client(base_url=base, timeout=30) as http:
        enrolled = http.post("/v1/clients/me/enrollments", json=enrolment, headers=headers)
        assert enrolled.status_code == 201, enrolled.text
    return headers
