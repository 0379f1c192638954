"""Issue 25 against a served instance: throttles that hold when guesses arrive at once, and
no reset token or invitation code in any log line."""

import re
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.databases import KINDS, fresh_database, require
from tests.e2e.server import HIPFIX, Server, serving

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
BURST = 30


def _account(role: str = "client") -> dict[str, str]:
    return {
        "email": f"{role}-{uuid.uuid4().hex[:10]}@example.com",
        "password": PASSWORD,
        "display_name": role.title(),
        "role": role,
        "timezone": "UTC",
    }


def _at_once(count: int, send: Callable[[int], int]) -> list[int]:
    """`count` requests sent together, each on a connection of its own: their statuses."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


@pytest.mark.parametrize("kind", KINDS)
def test_guesses_sent_at_once_are_checked_no_more_than_the_limit(tmp_path, kind):
    require(kind)
    with (
        fresh_database(kind, tmp_path) as url,
        serving(url, tmp_path / "server.log") as running,
        httpx.Client(base_url=running.base, timeout=60) as http,
    ):
        account = _account()
        assert http.post("/v1/accounts", json=account).status_code == 201

        def guess(n: int, password: str = "wrong password!") -> int:
            form = {"username": account["email"], "password": password}
            return httpx.post(f"{running.base}/v1/auth/token", data=form, timeout=60).status_code

        answers = _at_once(BURST, guess)
        assert set(answers) <= {401, 429}, answers
        assert answers.count(401) <= 5, answers  # the limit: no more passwords checked
        # The right password, inside a burst after the limit: refused like the rest.
        burst = _at_once(BURST, lambda n: guess(n, PASSWORD if n == BURST // 2 else "nope!!!!"))
        assert set(burst) == {429}, burst

        # A signed-in thief guessing the current password to change it: the same limit.
        signed_in = http.post(
            "/v1/auth/token", data={"username": account["email"], "password": PASSWORD}
        )
        assert signed_in.status_code == 429  # still this address's window
        other = _account()
        assert http.post("/v1/accounts", json=other).status_code == 201
        token = http.post("/v1/auth/token", data={"username": other["email"], "password": PASSWORD})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        http.get("/v1/me", headers=auth)
        body = {"current_password": "not it at all", "new_password": "a new passphrase!"}

        def change(n: int) -> int:
            return httpx.post(
                f"{running.base}/v1/me/password", json=body, headers=auth, timeout=60
            ).status_code

        changes = _at_once(BURST, change)
        assert changes.count(403) <= 5, changes
        assert set(changes) <= {403, 429}, changes

        # Invitation codes guessed at once: no more than the limit looked up.
        def accept(n: int) -> int:
            return httpx.post(
                f"{running.base}/v1/invitations/hfi_guess{n}/accept", headers=auth, timeout=60
            ).status_code

        accepts = _at_once(BURST, accept)
        assert accepts.count(404) <= 5, accepts
        assert set(accepts) <= {404, 429}, accepts


class _LoggedServer(Server):
    """A server whose standard output goes to the log file too."""

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [HIPFIX, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = 300
        for _ in range(deadline):
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.1)
        raise AssertionError("server did not start")


def test_no_reset_token_or_invitation_code_in_any_log_line(tmp_path):
    mail_dir = tmp_path / "mail"
    log = tmp_path / "server.log"
    env = {"HIPFIX_MAIL_DIR": str(mail_dir), "HIPFIX_LOG_LEVEL": "DEBUG"}
    server = _LoggedServer(f"sqlite:///{tmp_path / 'hipfix.db'}", log, env=env)
    server.migrate()
    server.start()
    secrets: list[str] = []
    try:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            client, coach = _account(), _account("coach")
            headers = {}
            for account in (client, coach):
                assert http.post("/v1/accounts", json=account).status_code == 201
                login = {"username": account["email"], "password": PASSWORD}
                token = http.post("/v1/auth/token", data=login).json()["access_token"]
                headers[account["role"]] = {"Authorization": f"Bearer {token}"}

            # A reset: its link used, then used again (404), and a made-up one.
            assert (
                http.post("/v1/auth/password-reset", json={"email": client["email"]}).status_code
                == 202
            )
            for _ in range(100):  # written just after the answer (a background task)
                mails = list(mail_dir.glob("*.eml"))
                if mails:
                    break
                time.sleep(0.1)
            (mail,) = mails
            text = mail.read_text().replace("=\n", "")  # quoted-printable's soft breaks
            found = re.search(r"/v1/auth/password-reset/(hfr_[A-Za-z0-9_-]+)", text)
            assert found is not None, text
            reset = found.group(1)
            secrets.append(reset)
            new = {"new_password": "a new passphrase!"}
            assert http.post(f"/v1/auth/password-reset/{reset}", json=new).status_code == 204
            assert http.post(f"/v1/auth/password-reset/{reset}", json=new).status_code == 404
            assert http.post("/v1/auth/password-reset/madeUpGuess123", json=new).status_code == 404
            secrets.append("madeUpGuess123")

            # An invitation: accepted, then tried again (404), and a made-up code.
            created = http.post("/v1/invitations", json={}, headers=headers["coach"])
            assert created.status_code == 201, created.text
            code = created.json()["code"]
            secrets.append(code)
            login = {"username": client["email"], "password": "a new passphrase!"}
            token = http.post("/v1/auth/token", data=login).json()["access_token"]
            mine = {"Authorization": f"Bearer {token}"}
            assert http.post(f"/v1/invitations/{code}/accept", headers=mine).status_code == 200
            assert http.post(f"/v1/invitations/{code}/accept", headers=mine).status_code == 404
            assert (
                http.post("/v1/invitations/hfi_GuessedCode/accept", headers=mine).status_code == 404
            )
            secrets.append("hfi_GuessedCode")
    finally:
        server.stop()

    written = log.read_text()
    # The access log ran: one line per request, by route template (app/core/request_log.py).
    assert "POST /v1/auth/password-reset/[redacted] 204" in written
    assert "POST /v1/invitations/[redacted]/accept 200" in written
    for secret in secrets:
        assert secret not in written, secret
    assert reset[:12] not in written
    assert code[:12] not in written
