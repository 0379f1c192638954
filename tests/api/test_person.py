"""A person's own account and data (issue #15): profile and timezone, password, signing out
everywhere, the forgotten-password mail, export, and erasure that leaves no row behind."""

import email
import re
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlmodel import Session

from app.core.config import Settings, get_settings
from app.main import create_app
from app.models import metadata
from app.progression import replay
from tests.conftest import (
    PASSWORD,
    Actor,
    assert_problem,
    enrol,
    managed_client,
    pain_body,
    signup,
)

NEW_PASSWORD = "a longer passphrase, unguessable"
SEPTEMBER = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
FEET = "ankle-and-foot"


def plateau() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two weeks of daily sessions with pain stuck at 5: the feet open on 15 September at
    18:00 UTC (19:00 in London, 04:00 on the 16th in Sydney)."""
    sessions, pains = [], []
    for day in range(1, 16):
        stamp = f"2026-09-{day + 1:02d}"
        sessions.append(
            {
                "performed_at": f"{stamp}T18:00:00Z",
                "exercises": [
                    {"exercise": "hip-flexor-ball-release"},
                    {"exercise": "hip-flexor-stretch"},
                ],
            }
        )
        pains.append(
            {
                "score": 6 if day < 7 else 5,
                "context": "rest",
                "recorded_at": f"{stamp}T07:30:00Z",
                "side": "right",
            }
        )
    return sessions, pains


def log_plateau(client: TestClient, actor: Actor, ref: str = "me") -> None:
    sessions, pains = plateau()
    batch = client.post(
        f"/v1/clients/{ref}/pain-logs/batch", json={"items": pains}, headers=actor.headers
    )
    assert batch.status_code == 201, batch.text
    for body in sessions:
        made = client.post(f"/v1/clients/{ref}/sessions", json=body, headers=actor.headers)
        assert made.status_code == 201, made.text


def events(client: TestClient, actor: Actor, ref: str = "me") -> list[dict[str, Any]]:
    listed = client.get(f"/v1/clients/{ref}/events?limit=200", headers=actor.headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


def feet_unlock(items: list[dict[str, Any]]) -> dict[str, Any]:
    (unlock,) = [e for e in items if e["type"] == "stage_unlocked" and e["stage"] == FEET]
    return unlock


def sign_in(client: TestClient, email_address: str, password: str) -> Any:
    return client.post("/v1/auth/token", data={"username": email_address, "password": password})


def bearer(client: TestClient, email_address: str, password: str = PASSWORD) -> dict[str, str]:
    token = sign_in(client, email_address, password)
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


# --- profile and timezone -------------------------------------------------------------------


def test_patch_me_changes_name_and_timezone_and_refuses_bad_input(client):
    sam = signup(client)
    changed = client.patch("/v1/me", json={"display_name": "Sam B."}, headers=sam.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["display_name"] == "Sam B."
    assert changed.json()["timezone"] == "Europe/London"
    profile = client.get("/v1/clients/me", headers=sam.headers).json()
    assert profile["display_name"] == "Sam B."

    for body, loc in (
        ({"timezone": "Mars/Olympus"}, ["body", "timezone"]),
        ({"display_name": ""}, ["body", "display_name"]),
        ({"email": "x@example.com"}, ["body", "email"]),
    ):
        refused = assert_problem(client.patch("/v1/me", json=body, headers=sam.headers), 422)
        assert refused["errors"][0]["loc"] == loc
    assert client.get("/v1/me", headers=sam.headers).json()["timezone"] == "Europe/London"
    assert_problem(client.patch("/v1/me", json={"display_name": "x"}), 401)

    moved = client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=sam.headers)
    assert moved.json()["timezone"] == "Asia/Tokyo"
    assert client.get("/v1/clients/me", headers=sam.headers).json()["timezone"] == "Asia/Tokyo"
    again = client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=sam.headers)
    assert again.status_code == 200  # the same value: nothing new recorded
    export = client.get("/v1/me/export", headers=sam.headers).json()
    assert [(c["previous"], c["timezone"]) for c in export["timezone_changes"]] == [
        ("Europe/London", "Asia/Tokyo")
    ]


def test_a_timezone_change_keeps_the_days_already_lived(client, db: Session):
    sam = signup(client)  # Europe/London
    enrollment = enrol(client, sam, started_at=SEPTEMBER.isoformat())
    log_plateau(client, sam)
    before = events(client, sam)
    assert feet_unlock(before)["local_date"] == "2026-09-15"

    moved = client.patch("/v1/me", json={"timezone": "Australia/Sydney"}, headers=sam.headers)
    assert moved.status_code == 200, moved.text
    assert events(client, sam) == before

    # Replayed from the start, the history still dates each item in the zone it was lived
    # in: nothing retracted, every local date kept.
    changes = replay.reevaluate_history(db, uuid.UUID(enrollment["id"]), every=True)
    db.commit()
    assert changes is not None
    assert changes.retracted == 0
    assert events(client, sam) == before

    # A simulation of the same history agrees when told of the move, and not otherwise.
    moment = client.get("/v1/me/export", headers=sam.headers).json()["timezone_changes"][0]["at"]
    sessions, pains = plateau()
    timeline = [{"type": "session", **s} for s in sessions] + [{"type": "pain", **p} for p in pains]
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": SEPTEMBER.isoformat(),
        "timezone": "Europe/London",
        "timezone_changes": [{"at": moment, "timezone": "Australia/Sydney"}],
        "timeline": timeline,
    }
    simulated = client.post("/v1/simulations", json=body)
    assert simulated.status_code == 200, simulated.text

    def dated(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((e["type"], e["stage"], e["at"], e["local_date"]) for e in items)

    assert dated(simulated.json()["events"]) == dated(before)
    body |= {"timezone": "Australia/Sydney", "timezone_changes": None}
    in_sydney = client.post("/v1/simulations", json=body).json()["events"]
    assert dated(in_sydney) != dated(before)  # the zone matters: the test can tell


def test_dates_never_go_back_after_a_move_west(client):
    # Sydney's morning of the 11th is London's evening of the 10th: the 11th stays the 11th.
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": "2026-09-01T08:00:00Z",
        "timezone": "Australia/Sydney",
        "timezone_changes": [{"at": "2026-09-10T23:00:00Z", "timezone": "Europe/London"}],
        "timeline": [
            {
                "type": "pain",
                "score": 9,
                "context": "rest",
                "recorded_at": "2026-09-10T23:30:00Z",
                "side": "right",
                "flags": ["night_pain"],
            }
        ],
    }
    answer = client.post("/v1/simulations", json=body)
    assert answer.status_code == 200, answer.text
    dates = {e["local_date"] for e in answer.json()["events"] if e["type"] != "enrolled"}
    assert dates == {"2026-09-11"}
    bad = client.post("/v1/simulations", json={**body, "timezone_changes": [{"at": "x"}]})
    assert_problem(bad, 422)


# --- password and tokens --------------------------------------------------------------------


def test_changing_the_password_revokes_the_other_tokens(client):
    sam = signup(client)
    email_address = sam.account["email"]
    elsewhere = bearer(client, email_address)
    wrong = client.post(
        "/v1/me/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=sam.headers,
    )
    assert assert_problem(wrong, 403, "wrong-password")["errors"][0]["loc"] == [
        "body",
        "current_password",
    ]
    assert client.get("/v1/me", headers=elsewhere).status_code == 200
    short = client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=sam.headers,
    )
    assert_problem(short, 422)
    assert sign_in(client, email_address, PASSWORD).status_code == 200

    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = client.post("/v1/me/password", json=body, headers=sam.headers)
    assert changed.status_code == 204, changed.text
    assert client.get("/v1/me", headers=sam.headers).status_code == 200
    assert_problem(client.get("/v1/me", headers=elsewhere), 401)
    assert_problem(sign_in(client, email_address, PASSWORD), 401)
    assert sign_in(client, email_address, NEW_PASSWORD).status_code == 200
    # A retry of the change that went through answers the same.
    assert client.post("/v1/me/password", json=body, headers=sam.headers).status_code == 204


def test_guessing_the_current_password_is_throttled(client):
    sam = signup(client)
    body = {"current_password": "wrong guess", "new_password": NEW_PASSWORD}
    for _ in range(get_settings().login_max_failures):
        assert_problem(client.post("/v1/me/password", json=body, headers=sam.headers), 403)
    throttled = client.post("/v1/me/password", json=body, headers=sam.headers)
    assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) > 0


def test_sign_out_everywhere(client):
    sam = signup(client)
    other = bearer(client, sam.account["email"])
    assert client.delete("/v1/auth/tokens", headers=sam.headers).status_code == 204
    assert_problem(client.get("/v1/me", headers=sam.headers), 401)
    assert_problem(client.get("/v1/me", headers=other), 401)
    assert_problem(client.delete("/v1/auth/tokens", headers=sam.headers), 401)
    assert sign_in(client, sam.account["email"], PASSWORD).status_code == 200


# --- forgotten password ---------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:  # noqa: N802  # aiosmtpd's hook name
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    """A real SMTP server on a free local port."""
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a port number to check it is up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def mailing_client(connection: Connection, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(**settings), bind=connection))


def reset_link(message: email.message.Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"POST \S*(/v1/auth/password-reset/[A-Za-z0-9_-]+)", body.decode())
    assert found is not None, body
    return found.group(1)


def test_a_reset_mail_arrives_and_its_link_sets_the_password_once(connection, smtp):
    inbox, url = smtp
    with mailing_client(connection, smtp_url=url) as client:
        sam = signup(client)
        address = sam.account["email"]
        unknown = client.post("/v1/auth/password-reset", json={"email": "nobody@example.com"})
        asked = client.post("/v1/auth/password-reset", json={"email": address.upper()})
        assert unknown.status_code == asked.status_code == 202
        assert unknown.json() == asked.json()  # nothing says which e-mail is registered
        (message,) = inbox.messages
        assert message["To"] == address
        link = reset_link(message)

        assert_problem(client.post(link, json={"new_password": "short"}), 422)
        used = client.post(link, json={"new_password": NEW_PASSWORD})
        assert used.status_code == 204, used.text
        assert_problem(client.get("/v1/me", headers=sam.headers), 401)  # signed out
        assert sign_in(client, address, NEW_PASSWORD).status_code == 200
        assert_problem(
            client.post(link, json={"new_password": PASSWORD}), 404, "reset-link-invalid"
        )
        assert_problem(
            client.post("/v1/auth/password-reset/hfr_guess", json={"new_password": PASSWORD}), 404
        )
        assert sign_in(client, address, NEW_PASSWORD).status_code == 200


def test_the_token_copied_from_the_mail_file_works(connection, tmp_path):
    """Read as a person reads the .eml (its raw text, no MIME decoding): the token is whole
    on one line, never split by a quoted-printable soft line break."""
    with mailing_client(connection, mail_dir=str(tmp_path)) as client:
        sam = signup(client)
        client.post("/v1/auth/password-reset", json={"email": sam.account["email"]})
        (written,) = tmp_path.glob("*.eml")
        raw = written.read_text(encoding="utf-8")
        assert "quoted-printable" not in raw.lower()
        tokens = set(re.findall(r"hfr_[A-Za-z0-9_-]+", raw))
        assert len(tokens) == 1, raw
        (token,) = tokens
        assert f"    {token}\n" in raw  # on a line of its own, to copy
        used = client.post(f"/v1/auth/password-reset/{token}", json={"new_password": NEW_PASSWORD})
        assert used.status_code == 204, used.text
        assert sign_in(client, sam.account["email"], NEW_PASSWORD).status_code == 200


def test_the_reset_mail_links_to_the_apps_page_when_one_is_set(connection, tmp_path):
    page = "https://app.example.com/reset-password?token={token}"
    with mailing_client(connection, mail_dir=str(tmp_path), password_reset_url=page) as client:
        sam = signup(client)
        client.post("/v1/auth/password-reset", json={"email": sam.account["email"]})
        (written,) = tmp_path.glob("*.eml")
        raw = written.read_text(encoding="utf-8")
        found = re.search(r"https://app\.example\.com/reset-password\?token=(hfr_\S+)\n", raw)
        assert found is not None, raw
        used = client.post(
            f"/v1/auth/password-reset/{found.group(1)}", json={"new_password": NEW_PASSWORD}
        )
        assert used.status_code == 204, used.text
    with pytest.raises(ValueError, match="password_reset_url"):
        Settings(password_reset_url="https://app.example.com/reset")  # where would it go?


def test_resets_are_throttled_alike_for_every_email(client):
    sam = signup(client)
    limit = get_settings().password_reset_max_requests
    for address in (sam.account["email"], "nobody@example.com"):
        for _ in range(limit):
            assert (
                client.post("/v1/auth/password-reset", json={"email": address}).status_code == 202
            )
        throttled = client.post("/v1/auth/password-reset", json={"email": address})
        assert_problem(throttled, 429)
        assert int(throttled.headers["Retry-After"]) > 0
    assert_problem(client.post("/v1/auth/password-reset", json={"email": "not an e-mail"}), 422)


def test_an_expired_link_does_not_work(connection, tmp_path, db):
    with mailing_client(connection, mail_dir=str(tmp_path)) as client:
        sam = signup(client)
        client.post("/v1/auth/password-reset", json={"email": sam.account["email"]})
        (written,) = tmp_path.glob("*.eml")  # no SMTP URL: the mail is a file
        link = reset_link(email.message_from_bytes(written.read_bytes()))
        from app.models import PasswordReset

        for reset in db.exec(select(PasswordReset)).scalars():
            reset.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            db.add(reset)
        db.commit()
        assert_problem(client.post(link, json={"new_password": NEW_PASSWORD}), 404)
        assert sign_in(client, sam.account["email"], PASSWORD).status_code == 200


# --- export and erasure ---------------------------------------------------------------------


def test_export_holds_the_whole_history(client):
    sam = signup(client)
    enrollment = enrol(client, sam)
    log = client.post("/v1/clients/me/pain-logs", json=pain_body(1), headers=sam.headers).json()
    client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=sam.headers)
    client.delete(f"/v1/clients/me/pain-logs/{log['id']}", headers=sam.headers)
    exported = client.get("/v1/me/export", headers=sam.headers)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["account"]["email"] == sam.account["email"]
    assert document["client"]["id"] == sam.client_id
    assert [e["id"] for e in document["enrollments"]] == [enrollment["id"]]
    assert len(document["pain_logs"]) == 2
    assert [p["deleted_at"] is not None for p in document["pain_logs"]] == [True, False]
    assert {e["id"] for e in document["events"]} == {e["id"] for e in events(client, sam)}
    assert {c["kind"] for c in document["credentials"]} == {"token"}
    assert "password" not in exported.text
    assert "secret_hash" not in exported.text
    assert_problem(client.get("/v1/me/export"), 401)


def _values(value: Any) -> Iterator[str]:
    yield str(value).lower()


def traces(connection: Connection, marks: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every row of every table (from the metadata) in which any of `marks` appears, in any
    column, JSON and text included."""
    marks = {m.lower() for m in marks}
    found = []
    for table in metadata.sorted_tables:
        for row in connection.execute(select(table)).mappings():
            text = " ".join(str(v).lower() for v in row.values())
            if any(mark in text for mark in marks):
                found.append((table.name, dict(row)))
    return found


def _rich_history(client: TestClient, coach: Actor) -> tuple[Actor, set[str]]:
    """A client with a coach, a webhook subscription, every kind of log and the records
    around them; the identifiers that mark its rows."""
    hooked = client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://93.184.215.14/hooks", "event_types": ["stage_unlocked", "flare"]},
        headers=coach.headers,
    )
    assert hooked.status_code == 201, hooked.text
    sam = signup(client)
    # Sent with a key: the coach's record of the response names Sam's e-mail.
    invitation = client.post(
        "/v1/invitations",
        json={"email": sam.account["email"]},
        headers={"Idempotency-Key": f"invite-{sam.client_id}", **coach.headers},
    ).json()
    accepted = client.post(f"/v1/invitations/{invitation['code']}/accept", headers=sam.headers)
    assert accepted.status_code == 200, accepted.text
    enrollment = enrol(client, sam, "me", started_at=SEPTEMBER.isoformat())
    keyed = {"Idempotency-Key": f"k-{uuid.uuid4()}", **sam.headers}
    client.post("/v1/clients/me/pain-logs", json=pain_body(1), headers=keyed)
    ref = sam.client_id
    log_plateau(client, coach, ref)
    client.post(
        f"/v1/clients/{ref}/pain-logs",
        json=pain_body(2, score=8, context="during"),
        headers={"Idempotency-Key": f"c-{uuid.uuid4()}", **coach.headers},
    )
    assessed = client.post(
        f"/v1/clients/{ref}/assessments",
        json={
            "kind": "squat-knee-tracking",
            "left": "knee_over_foot",
            "right": "knee_over_foot",
            "performed_at": (SEPTEMBER + timedelta(days=3)).isoformat(),
        },
        headers=coach.headers,
    )
    assert assessed.status_code == 201, assessed.text
    overridden = client.post(
        f"/v1/clients/{ref}/overrides",
        json={"action": "clear_referral", "reason": "Seen by a clinician."},
        headers=coach.headers,
    )
    assert overridden.status_code == 201, overridden.text
    sign_in(client, sam.account["email"], "wrong password")
    client.post("/v1/auth/password-reset", json={"email": sam.account["email"]})
    client.post(f"/v1/invitations/hfi_{uuid.uuid4().hex}/accept", headers=sam.headers)
    client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=sam.headers)
    marks = {sam.account["id"], sam.client_id, sam.account["email"], enrollment["id"]}
    return sam, marks


def test_erasure_leaves_no_row_about_the_person(client, connection):
    coach = signup(client, "coach")
    other = managed_client(client, coach)
    enrol(client, coach, other["id"])
    sam, marks = _rich_history(client, coach)
    table_names = {name for name, _ in traces(connection, marks)}
    # The history reached every kind of table that can hold a person's rows.
    assert table_names >= {
        "account",
        "client",
        "credential",
        "enrollment",
        "pain_log",
        "exercise_session",
        "assessment",
        "override",
        "engine_event",
        "engine_checkpoint",
        "feed_entry",
        "idempotency_record",
        "invitation",
        "invitation_guess",
        "login_failure",
        "password_reset",
        "password_reset_request",
        "webhook_delivery",
    }, sorted(table_names)

    invitation_id = client.get("/v1/invitations", headers=coach.headers).json()["items"][0]["id"]
    wrong = client.post("/v1/me/erasure", json={"password": "not it"}, headers=sam.headers)
    assert_problem(wrong, 403, "wrong-password")
    assert_problem(client.post("/v1/me/erasure", json={}, headers=sam.headers), 422)
    assert client.get("/v1/me", headers=sam.headers).status_code == 200

    erased = client.post("/v1/me/erasure", json={"password": PASSWORD}, headers=sam.headers)
    assert erased.status_code == 204, erased.text
    # Only the coach's `client_left` names the client, by its id alone (PRODUCT §8).
    assert traces(connection, marks - {sam.client_id}) == []
    left = traces(connection, marks)
    assert [(table, row["type"], row["coach_id"]) for table, row in left] == [
        ("feed_entry", "client_left", uuid.UUID(coach.account["id"]))
    ]
    assert left[0][1]["detail"]["data"] == {
        "client_id": sam.client_id,
        "coach_id": coach.account["id"],
        "reason": "erased",
    }
    assert_problem(client.get("/v1/me", headers=sam.headers), 401)
    assert_problem(sign_in(client, sam.account["email"], PASSWORD), 401)
    # Everyone else's rows stay.
    assert client.get("/v1/me", headers=coach.headers).status_code == 200
    assert len(events(client, coach, other["id"])) > 0
    listed = client.get("/v1/clients", headers=coach.headers).json()["items"]
    assert [c["id"] for c in listed] == [other["id"]]
    # The coach's retry of the invitation no longer replays Sam's e-mail: it is a new request.
    retried = client.post(
        "/v1/invitations",
        json={"email": sam.account["email"]},
        headers={"Idempotency-Key": f"invite-{sam.client_id}", **coach.headers},
    )
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json()["id"] != invitation_id
    # The e-mail is free again.
    assert signup_with(client, sam.account["email"]).status_code == 201


def test_erasure_after_accepting_a_managed_client_invitation_leaves_no_row(client, connection):
    """The account's own profile from sign-up (its name and zone) gave way to the managed
    client when the invitation was accepted; erasing the account leaves neither."""
    coach = signup(client, "coach")
    managed = managed_client(client, coach, display_name="Pat As Managed")
    address = f"pat-{uuid.uuid4().hex[:12]}@example.com"
    invited = client.post(
        "/v1/invitations",
        json={"email": address, "client_id": managed["id"], "display_name": "Pat"},
        headers={"Idempotency-Key": "invite-pat", **coach.headers},
    )
    assert invited.status_code == 201, invited.text
    signed_up = client.post(
        "/v1/accounts",
        json={
            "email": address,
            "password": PASSWORD,
            "display_name": "Pat Own Profile",
            "role": "client",
            "timezone": "Pacific/Chatham",
        },
    )
    assert signed_up.status_code == 201, signed_up.text
    pat = Actor(signed_up.json(), bearer(client, address))
    own_profile = client.get("/v1/clients/me", headers=pat.headers).json()["id"]
    accepted = client.post(f"/v1/invitations/{invited.json()['code']}/accept", headers=pat.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == managed["id"]
    enrol(client, pat, "me", started_at=SEPTEMBER.isoformat())
    marks = {
        pat.account["id"],
        address,
        own_profile,
        "Pat Own Profile",
        "Pacific/Chatham",
        managed["id"],
        "Pat As Managed",
    }
    erased = client.post("/v1/me/erasure", json={"password": PASSWORD}, headers=pat.headers)
    assert erased.status_code == 204, erased.text
    # Only the coach's `client_left` names the client it managed, by its id alone.
    assert traces(connection, marks - {managed["id"]}) == []
    assert [(t, row["type"]) for t, row in traces(connection, marks)] == [
        ("feed_entry", "client_left")
    ]
    # The coach's retry of the invitation replays nothing about Pat: the client is gone.
    retried = client.post(
        "/v1/invitations",
        json={"email": address, "client_id": managed["id"], "display_name": "Pat"},
        headers={"Idempotency-Key": "invite-pat", **coach.headers},
    )
    assert_problem(retried, 422, "unknown-client")


def signup_with(client: TestClient, address: str) -> Any:
    return client.post(
        "/v1/accounts",
        json={
            "email": address,
            "password": PASSWORD,
            "display_name": "Again",
            "role": "client",
            "timezone": "UTC",
        },
    )


def test_a_coach_erases_a_managed_client(client, connection):
    coach = signup(client, "coach")
    kept = managed_client(client, coach)
    gone = client.post(
        "/v1/clients",
        json={"display_name": "Gone", "timezone": "UTC", "external_id": "ext-gone"},
        headers={"Idempotency-Key": "make-gone", **coach.headers},
    ).json()
    enrol(client, coach, gone["id"], started_at=SEPTEMBER.isoformat())
    log_plateau(client, coach, gone["id"])
    marks = {gone["id"], "ext-gone"}
    assert traces(connection, marks)

    sam = signup(client)
    stranger = signup(client, "coach")
    assert_problem(client.delete(f"/v1/clients/{gone['id']}", headers=stranger.headers), 404)
    assert_problem(client.delete(f"/v1/clients/{sam.client_id}", headers=coach.headers), 404)
    assert_problem(client.delete("/v1/clients/me", headers=sam.headers), 403)
    assert client.delete(f"/v1/clients/{gone['id']}", headers=coach.headers).status_code == 204
    # What stays is the coach's `client_left`, by the client's id alone (its tool may hold it).
    assert traces(connection, marks - {gone["id"]}) == []
    ((table, row),) = traces(connection, marks)
    assert (table, row["type"], row["detail"]["data"]["reason"]) == (
        "feed_entry",
        "client_left",
        "erased",
    )
    assert_problem(client.delete(f"/v1/clients/{gone['id']}", headers=coach.headers), 404)
    assert client.get(f"/v1/clients/{kept['id']}", headers=coach.headers).status_code == 200


def test_a_client_with_a_login_is_not_erased_by_its_coach_nor_a_coach_with_clients(client):
    coach = signup(client, "coach")
    sam = signup(client)
    code = client.post("/v1/invitations", json={}, headers=coach.headers).json()["code"]
    client.post(f"/v1/invitations/{code}/accept", headers=sam.headers)
    refused = client.delete(f"/v1/clients/{sam.client_id}", headers=coach.headers)
    assert_problem(refused, 409, "client-has-login")
    coach_erasure = client.post(
        "/v1/me/erasure", json={"password": PASSWORD}, headers=coach.headers
    )
    assert_problem(coach_erasure, 409, "has-clients")
    assert (
        client.delete(f"/v1/clients/{sam.client_id}/coach", headers=coach.headers).status_code
        == 204
    )
    erased = client.post("/v1/me/erasure", json={"password": PASSWORD}, headers=coach.headers)
    assert erased.status_code == 204, erased.text
    assert client.get("/v1/me", headers=sam.headers).status_code == 200
