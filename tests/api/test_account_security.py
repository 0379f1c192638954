"""Issue 25's account findings, through HTTP: mail links from the configured base URL, API
keys that neither mint keys nor outlive a revocation of their account's sign-ins, reset
links that die with them, and a sign-up that does not tell who is registered."""

import email
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Connection

from app.accounts import router
from app.core import security
from app.core.config import Settings
from app.main import create_app
from tests.conftest import PASSWORD, Actor, assert_problem, signup

BASE = "https://hipfix.example.org/app"
NEW_PASSWORD = "a brand new passphrase"


class Mailbox:
    """The mails an app without SMTP wrote to its folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self) -> list[email.message.Message]:
        return [
            email.message_from_bytes(path.read_bytes())
            for path in sorted(self.folder.glob("*.eml"))
        ]

    @staticmethod
    def text(message: email.message.Message) -> str:
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        return body.decode()

    def links(self, to: str) -> list[str]:
        return [
            found
            for message in self.messages()
            if message["To"] == to
            for found in re.findall(r"^ +POST (\S+)$", self.text(message), re.M)
        ]


@pytest.fixture
def mailing(connection: Connection, tmp_path: Path) -> Iterator[tuple[TestClient, Mailbox]]:
    settings = Settings(mail_dir=str(tmp_path), public_base_url=BASE + "/")
    with TestClient(create_app(settings, bind=connection)) as client:
        yield client, Mailbox(tmp_path)


def _sign_in(client: TestClient, address: str, password: str = PASSWORD):
    return client.post("/v1/auth/token", data={"username": address, "password": password})


def _bearer(client: TestClient, address: str, password: str = PASSWORD) -> dict[str, str]:
    token = _sign_in(client, address, password)
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _reset_link(client: TestClient, mailbox: Mailbox, address: str) -> str:
    assert client.post("/v1/auth/password-reset", json={"email": address}).status_code == 202
    return mailbox.links(address)[-1]


def _use(client: TestClient, link: str):
    return client.post(link.removeprefix(BASE), json={"new_password": NEW_PASSWORD})


# --- finding 1: links from the configured base URL ------------------------------------------


def test_a_reset_link_starts_with_the_public_base_url_whatever_the_host_header(mailing):
    client, mailbox = mailing
    sam = signup(client)
    address = sam.account["email"]
    asked = client.post(
        "/v1/auth/password-reset",
        json={"email": address},
        headers={"Host": "evil.attacker.example"},
    )
    assert asked.status_code == 202
    (link,) = mailbox.links(address)
    assert link.startswith(BASE + "/v1/auth/password-reset/hfr_"), link
    assert "attacker" not in mailbox.text(mailbox.messages()[0])
    assert _use(client, link).status_code == 204


def test_a_public_base_url_must_be_an_http_url():
    for bad in ("evil.example", "ftp://x.example", "https://x.example/?next=evil", ""):
        with pytest.raises(ValidationError, match="public_base_url"):
            Settings(public_base_url=bad)


# --- finding 4: API keys --------------------------------------------------------------------


def _key(client: TestClient, headers: dict[str, str], **fields) -> dict:
    created = client.post("/v1/api-keys", json={"name": "sync", **fields}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


def _as_key(key: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def test_an_api_key_cannot_create_api_keys(client):
    coach = signup(client, "coach")
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    key = _key(client, coach.headers, expires_at=soon)  # the finding's: it minted one forever
    refused = client.post("/v1/api-keys", json={"name": "forever"}, headers=_as_key(key))
    assert_problem(refused, 403, "token-required")
    listed = client.get("/v1/api-keys", headers=coach.headers).json()["items"]
    assert [k["id"] for k in listed] == [key["id"]]  # nothing stored


def _stolen_key(client: TestClient, coach: Actor) -> tuple[dict[str, str], dict]:
    """A thief's copy of the coach's token, and the key it minted."""
    stolen = _bearer(client, coach.account["email"])
    key = _key(client, stolen)
    assert client.get("/v1/me", headers=_as_key(key)).status_code == 200
    return stolen, key


def test_a_password_change_revokes_the_keys_a_stolen_token_made(client):
    coach = signup(client, "coach")
    stolen, key = _stolen_key(client, coach)
    own = _key(client, coach.headers)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post("/v1/me/password", json=body, headers=coach.headers).status_code == 204
    for gone in (stolen, _as_key(key), _as_key(own)):
        assert_problem(client.get("/v1/me", headers=gone), 401)
    assert client.get("/v1/me", headers=coach.headers).status_code == 200  # the asker's stays
    assert client.get("/v1/api-keys", headers=coach.headers).json()["items"] == []


def test_signing_out_everywhere_revokes_the_keys_too(client):
    coach = signup(client, "coach")
    stolen, key = _stolen_key(client, coach)
    assert client.delete("/v1/auth/tokens", headers=coach.headers).status_code == 204
    for gone in (stolen, _as_key(key), coach.headers):
        assert_problem(client.get("/v1/me", headers=gone), 401)


def test_a_completed_reset_revokes_the_keys_too(mailing):
    client, mailbox = mailing
    coach = signup(client, "coach")
    _, key = _stolen_key(client, coach)
    link = _reset_link(client, mailbox, coach.account["email"])
    assert _use(client, link).status_code == 204
    assert_problem(client.get("/v1/me", headers=_as_key(key)), 401)


# --- finding 8: reset links die with the sign-ins -------------------------------------------


@pytest.mark.parametrize("event", ["password change", "sign out everywhere", "another reset"])
def test_a_reset_link_stops_working_after(mailing, event):
    client, mailbox = mailing
    sam = signup(client)
    address = sam.account["email"]
    link = _reset_link(client, mailbox, address)
    if event == "password change":
        body = {"current_password": PASSWORD, "new_password": "yet another passphrase"}
        assert client.post("/v1/me/password", json=body, headers=sam.headers).status_code == 204
    elif event == "sign out everywhere":
        assert client.delete("/v1/auth/tokens", headers=sam.headers).status_code == 204
    else:
        assert _use(client, _reset_link(client, mailbox, address)).status_code == 204
    assert_problem(_use(client, link), 404, "reset-link-invalid")


# --- finding 7: sign-up does not tell who is registered -------------------------------------


def _account(address: str, role: str = "client") -> dict:
    return {
        "email": address,
        "password": "somebody else's passphrase",
        "display_name": "Someone",
        "role": role,
        "timezone": "Europe/Paris",
    }


def test_signing_up_with_a_registered_email_looks_like_a_new_sign_up(mailing):
    client, mailbox = mailing
    sam = signup(client)
    address = sam.account["email"]
    new = client.post("/v1/accounts", json=_account(f"new-{uuid.uuid4().hex[:8]}@example.com"))
    taken = client.post("/v1/accounts", json=_account(address.upper()))
    assert new.status_code == taken.status_code == 201
    assert new.headers["content-type"] == taken.headers["content-type"]
    assert set(new.json()) == set(taken.json())
    answer = taken.json()
    assert answer["email"] == address
    assert (answer["role"], answer["display_name"]) == ("client", "Someone")
    assert answer["id"] != sam.account["id"]
    assert answer["client_id"] not in (None, sam.account["client_id"])

    # Nothing changed: the owner's password still works, the newcomer's does not.
    assert _sign_in(client, address).status_code == 200
    assert_problem(_sign_in(client, address, "somebody else's passphrase"), 401)
    assert client.get("/v1/me", headers=sam.headers).json() == sam.account
    # The owner is told, with a link from the configured base URL.
    (told,) = [m for m in mailbox.messages() if m["To"] == address]
    assert "sign up" in told["Subject"]
    assert mailbox.links(address) == [BASE + "/v1/auth/password-reset"]
    # A coach sign-up with the address answers as a coach's would.
    as_coach = client.post("/v1/accounts", json=_account(address, "coach"))
    assert as_coach.status_code == 201
    assert (as_coach.json()["role"], as_coach.json()["client_id"]) == ("coach", None)


def test_a_dead_reset_link_costs_no_password_hash(client, monkeypatch):
    hashed: list[str] = []

    def counted(password: str) -> str:
        hashed.append(password)
        return security.hash_password(password)

    monkeypatch.setattr(router, "hash_password", counted)
    made_up = client.post("/v1/auth/password-reset/hfr_madeUp", json={"new_password": NEW_PASSWORD})
    assert_problem(made_up, 404, "reset-link-invalid")
    assert hashed == []
