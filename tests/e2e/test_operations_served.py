"""Operating a served instance: JSON logs with no secret in any line of a walkthrough, metrics
added up across worker processes, and a backup taken under load that restores every write
acknowledged before it began (docs/operations.md)."""

import json
import os
import re
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import HIPFIX, enrolled_client, serving

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
PAIN_LOGS = "/v1/clients/me/pain-logs"


def _account(role: str = "client") -> dict[str, str]:
    return {
        "email": f"{role}-{uuid.uuid4().hex[:10]}@example.com",
        "password": PASSWORD,
        "display_name": role.title(),
        "role": role,
        "timezone": "UTC",
    }


def _wait_for_mail(folder: Path) -> str:
    for _ in range(100):  # written just after the answer (a background task)
        mails = list(folder.glob("*.eml"))
        if mails:
            return mails[0].read_text().replace("=\n", "")  # quoted-printable's soft breaks
        time.sleep(0.1)
    raise AssertionError("no mail written")


def test_a_walkthrough_logs_json_lines_found_by_request_id_and_no_secret(tmp_path):
    mail_dir = tmp_path / "mail"
    log = tmp_path / "server.log"
    env = {
        "HIPFIX_LOG_FORMAT": "json",
        "HIPFIX_LOG_LEVEL": "DEBUG",
        "HIPFIX_MAIL_DIR": str(mail_dir),
        "HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
    }
    secrets: list[str] = [PASSWORD, "a new passphrase!"]
    with (
        serving(f"sqlite:///{tmp_path / 'hipfix.db'}", log, env=env) as running,
        httpx.Client(base_url=running.base, timeout=30) as http,
    ):
        client, coach = _account(), _account("coach")
        secrets += [client["email"], coach["email"]]
        headers = {}
        for account in (client, coach):
            assert http.post("/v1/accounts", json=account).status_code == 201
            login = {"username": account["email"], "password": PASSWORD}
            token = http.post("/v1/auth/token", data=login).json()["access_token"]
            secrets.append(token)
            headers[account["role"]] = {"Authorization": f"Bearer {token}"}
        wrong = {"username": client["email"], "password": "not the password"}
        assert http.post("/v1/auth/token", data=wrong).status_code == 401
        secrets.append("not the password")

        key = http.post("/v1/api-keys", json={"name": "ehr"}, headers=headers["coach"])
        assert key.status_code == 201, key.text
        secrets.append(key.json()["key"])

        endpoint = http.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/hook", "event_types": ["referral"]},
            headers=headers["coach"],
        )
        assert endpoint.status_code == 201, endpoint.text
        secrets.append(endpoint.json()["secret"])

        invitation = http.post("/v1/invitations", json={}, headers=headers["coach"])
        assert invitation.status_code == 201, invitation.text
        code = invitation.json()["code"]
        secrets.append(code)
        accepted = http.post(f"/v1/invitations/{code}/accept", headers=headers["client"])
        assert accepted.status_code == 200, accepted.text

        assert (
            http.post("/v1/auth/password-reset", json={"email": client["email"]}).status_code == 202
        )
        found = re.search(r"/v1/auth/password-reset/(hfr_[A-Za-z0-9_-]+)", _wait_for_mail(mail_dir))
        assert found is not None
        reset = found.group(1)
        secrets.append(reset)
        new = {"new_password": "a new passphrase!"}
        assert http.post(f"/v1/auth/password-reset/{reset}", json=new).status_code == 204

        missing = http.get("/v1/exercises/no-such-thing", headers={"X-Request-ID": "walk-404"})
        assert missing.status_code == 404
        assert missing.json()["request_id"] == "walk-404"

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is JSON, uvicorn's own too
    (request,) = [line for line in parsed if line["request_id"] == "walk-404" and "route" in line]
    assert request["route"] == "/v1/exercises/{slug}"
    assert request["method"] == "GET"
    assert request["status"] == 404
    assert request["duration_ms"] > 0
    assert request["caller_kind"] == "anonymous"
    # The app's own INFO lines are there: the reset mail, written to the mail folder.
    assert any(line["logger"] == "hipfix.mail" for line in parsed)
    assert sum(line.get("logger") == "hipfix.access" for line in parsed) >= 12
    written = log.read_text()
    for secret in secrets:
        assert secret not in written, secret
        if len(secret) > 16:
            assert secret[4:16] not in written, secret


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_add_up_every_worker_process(tmp_path):
    route = frozenset({("route", "/v1/protocols/{slug}"), ("method", "GET"), ("status", "200")})
    with (
        serving(f"sqlite:///{tmp_path / 'hipfix.db'}", tmp_path / "server.log", workers=2) as s,
        httpx.Client(base_url=s.base, timeout=30) as http,
    ):
        for _ in range(3):
            samples = _samples(http.get("/metrics").text)
            assert samples.get(("hipfix_http_request_duration_seconds_count", route), 0) == 0
        for _ in range(40):
            # A new connection each: uvicorn's workers share the listening socket, so both
            # answer some of them.
            assert httpx.get(f"{s.base}/v1/protocols/hip-impingement").status_code == 200
        for _ in range(3):  # whichever worker answers the scrape counts them all
            samples = _samples(http.get("/metrics").text)
            assert samples[("hipfix_http_request_duration_seconds_count", route)] == 40


# --- backups --------------------------------------------------------------------------------


def _cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HIPFIX_DATABASE_URL": database_url}
    return subprocess.run(
        [HIPFIX, *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )


class Writers:
    """Threads posting pain logs as fast as they are answered, each for its own client, and
    the time each was acknowledged."""

    def __init__(self, base: str, clients: list[dict[str, str]], started: datetime) -> None:
        self.base = base
        self.clients = clients
        self.started = started
        self.acknowledged: list[tuple[float, str, str]] = []  # (monotonic, who, id)
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._write, args=(n,)) for n in range(len(clients))
        ]

    def _write(self, number: int) -> None:
        headers = self.clients[number]
        with httpx.Client(base_url=self.base, timeout=30) as http:
            step = 0
            while not self.stop.is_set():
                step += 1
                ident = str(uuid.uuid4())
                body = {
                    "id": ident,
                    "score": step % 10,
                    "context": "rest",
                    "side": "right",
                    # Appends, in order: 20 minutes apart from the enrolment on.
                    "recorded_at": (self.started + timedelta(minutes=20 * step)).isoformat(),
                }
                answer = http.post(PAIN_LOGS, json=body, headers=headers)
                if answer.status_code == 201:
                    with self.lock:
                        self.acknowledged.append((time.monotonic(), str(number), ident))
                elif answer.status_code != 503:  # busy: not stored, and said so
                    self.failures.append(answer.text)
                    return

    def __enter__(self) -> "Writers":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def _stored_ids(base: str, headers: dict[str, str]) -> set[str]:
    ids: set[str] = set()
    cursor = None
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            params: dict[str, str | int] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = http.get(PAIN_LOGS, params=params, headers=headers)
            assert page.status_code == 200, page.text
            ids |= {item["id"] for item in page.json()["items"]}
            cursor = page.json().get("next_cursor")
            if not cursor:
                return ids


def test_a_backup_under_load_restores_every_write_acknowledged_before_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'live' / 'hipfix.db'}"
    backup = tmp_path / "backups" / "hipfix-backup.db"
    env = {"HIPFIX_WRITE_RATE_LIMIT": "", "HIPFIX_REPLAY_BUDGET": ""}
    started = datetime.now(UTC) - timedelta(days=100)
    with serving(url, tmp_path / "live.log", env=env) as running:
        clients = [enrolled_client(running.base, f"W{n}", "UTC", started) for n in range(2)]
        with Writers(running.base, clients, started) as writers:
            # Writing at full speed before the backup (however slow the machine is today).
            deadline = time.monotonic() + 30
            while len(writers.acknowledged) < 40 and time.monotonic() < deadline:
                time.sleep(0.1)
            began = time.monotonic()
            copied = _cli("backup", str(backup), database_url=url)
            ended = time.monotonic()
            while not any(at > ended for at, _, _ in writers.acknowledged):  # and after it
                assert time.monotonic() < deadline + 30, "no write after the backup"
                time.sleep(0.1)
        assert not writers.failures, writers.failures[:3]
        assert copied.returncode == 0, copied.stderr
        assert "backup: wrote" in copied.stdout
        # A restore into the served database is refused, and changes nothing.
        refused = _cli("restore", str(backup), database_url=url)
        assert refused.returncode == 1
        assert "being served" in refused.stderr
        assert _cli("backup", str(backup), database_url=url).returncode == 1  # exists: kept
        live = [_stored_ids(running.base, headers) for headers in clients]

    before = {(who, ident) for at, who, ident in writers.acknowledged if at < began}
    after = [at for at, _, _ in writers.acknowledged if at > ended]
    assert len(before) >= 40, len(before)  # it was under load
    assert after, "writes went on after the backup"
    assert all(ident in live[int(who)] for who, ident in before)

    restored_url = f"sqlite:///{tmp_path / 'restored' / 'hipfix.db'}"
    put_back = _cli("restore", str(backup), database_url=restored_url)
    assert put_back.returncode == 0, put_back.stderr
    with serving(restored_url, tmp_path / "restored.log") as restored:
        found = [_stored_ids(restored.base, headers) for headers in clients]
        # The restored instance works: the same sign-ins, and it takes new writes.
        more = {
            "score": 1,
            "context": "rest",
            "side": "right",
            "recorded_at": datetime.now(UTC).isoformat(),
        }
        assert httpx.post(
            restored.base + PAIN_LOGS, json=more, headers=clients[0], timeout=30
        ).is_success
    missing = [(who, ident) for who, ident in before if ident not in found[int(who)]]
    assert not missing, f"{len(missing)} of {len(before)} acknowledged writes lost"
    # A snapshot: nothing in it that was never acknowledged.
    acknowledged = {(who, ident) for _, who, ident in writers.acknowledged}
    assert {(str(n), ident) for n, ids in enumerate(found) for ident in ids} <= acknowledged


def test_restore_refuses_a_file_that_is_no_hipfix_database(tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not a database at all" * 100)
    url = f"sqlite:///{tmp_path / 'target.db'}"
    done = _cli("restore", str(bogus), database_url=url)
    assert done.returncode == 1
    assert "restore: refused" in done.stderr
    assert not (tmp_path / "target.db").exists()
