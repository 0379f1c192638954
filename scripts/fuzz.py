"""Contract fuzzing: schemathesis, every operation and every check, against `hipfix serve`.

`make fuzz` runs this. It migrates a temporary SQLite database, serves it on a free port
(webhook URLs on any address allowed and no delivery worker, mail written to the temporary
folder), signs up a client (enrolled 30 days ago) and a coach (with a managed client),
takes their Bearer tokens, and runs

    schemathesis run <url>/openapi.json --checks all --max-examples N

with the tokens sent as `Authorization: Bearer …` by scripts/fuzz_hooks.py (which says why
a hook and not `--header`, and what else it supplies that only a real client would know).
Any failure, error, server traceback or overrun fails it. No check or operation is excluded.

    .venv/bin/python scripts/fuzz.py [more schemathesis options, e.g. --seed 1]

`make fuzz` and `make test` (so CI) pass `--seed $(FUZZ_SEED)` (default 1) and
`--generation-database none`, so every machine generates the same inputs.

FUZZ_EXAMPLES (default 100) bounds the examples per operation; FUZZ_TIMEOUT (seconds,
default 480) bounds the schemathesis run.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
HOOKS = Path(__file__).resolve().parent / "fuzz_hooks.py"
PASSWORD = "fuzzing is fun"
CLIENT = "fuzz-client@example.com"
COACH = "fuzz-coach@example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"fuzz: the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("fuzz: the server was not ready within 30 s")


def sign_up(http: httpx.Client, email: str, role: str) -> str:
    """A new account, signed in: its Bearer token."""
    account = {"email": email, "password": PASSWORD, "display_name": "Fuzz", "role": role}
    http.post("/v1/accounts", json={**account, "timezone": "Europe/London"}).raise_for_status()
    token = http.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    return token.raise_for_status().json()["access_token"]


def run(base: str, env: dict[str, str], extra: list[str], closed_port: int) -> int:
    started = datetime.now(UTC) - timedelta(days=30)
    with httpx.Client(base_url=base, timeout=10) as http:
        client_token, coach_token = sign_up(http, CLIENT, "client"), sign_up(http, COACH, "coach")
        enrollment = http.post(
            "/v1/clients/me/enrollments",
            json={
                "protocol": "hip-impingement",
                "baseline_pain": 6,
                "started_at": started.isoformat(),
            },
            headers={"Authorization": f"Bearer {client_token}"},
        )
        managed = http.post(
            "/v1/clients",
            json={"display_name": "Managed", "timezone": "Europe/London"},
            headers={"Authorization": f"Bearer {coach_token}"},
        )
    hooks = {
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "FUZZ_BASE_URL": base,
        "FUZZ_CLIENT_TOKEN": client_token,
        "FUZZ_COACH_TOKEN": coach_token,
        "FUZZ_PASSWORD": PASSWORD,
        "FUZZ_ENROLLMENT_ID": enrollment.raise_for_status().json()["id"],
        "FUZZ_MANAGED_CLIENT_ID": managed.raise_for_status().json()["id"],
        "FUZZ_STARTED": started.isoformat(),
        "FUZZ_CLOSED_PORT": str(closed_port),
    }
    budget = env.get("FUZZ_TIMEOUT", "480")
    command = [
        *("timeout", budget, BIN / "schemathesis", "run", f"{base}/openapi.json"),
        *("--checks", "all", "--max-examples", env.get("FUZZ_EXAMPLES", "100")),
        # One worker: with two threads, Hypothesis parsing source for a strategy's description
        # in both at once can trip CPython 3.11.7's AST recursion-depth check (a spurious
        # SystemError, python/cpython#106905, fixed in later releases), failing the run.
        *("--workers", "1", "--no-color", *extra),
    ]
    status = subprocess.run(command, env={**env, **hooks}, check=False).returncode
    if status == 124:
        print(f"fuzz: schemathesis did not finish within {budget} s", file=sys.stderr)
    return status


def main(extra: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="hipfix-fuzz-") as folder:
        env = {
            **os.environ,
            "HIPFIX_DATABASE_URL": f"sqlite:///{folder}/hipfix.db",
            "HIPFIX_LOG_LEVEL": "WARNING",
            # schemathesis writes with one token as fast as it can: 429s would only hide cases.
            "HIPFIX_WRITE_RATE_LIMIT": "",
            # Nothing resolves names here, and nothing should be sent off this machine: any
            # URL is accepted (fuzz_hooks.py points them at a closed local port) and only a
            # ping sends, at once; no worker retries deliveries in the background.
            "HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
            "HIPFIX_WEBHOOKS_WORKER": "false",
            # Forgotten-password mails go to the temporary folder, not ./data/mail.
            "HIPFIX_MAIL_DIR": f"{folder}/mail",
        }
        subprocess.run([BIN / "hipfix", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        log_path = Path(folder) / "server.log"
        port = free_port()
        # A port bound and never listened on, held for the run: connecting to it is refused
        # at once, and nothing else can take it meanwhile.
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        with closed, log_path.open("w") as log:
            server = subprocess.Popen(
                [BIN / "hipfix", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                wait_until_ready(base, server)
                status = run(base, env, extra, closed.getsockname()[1])
            finally:
                server.terminate()
                server.wait(timeout=30)
        server_log = log_path.read_text()
    if "Traceback" in server_log:
        print("fuzz: the server logged errors:\n" + server_log, file=sys.stderr)
        status = status or 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
