"""Issue #13, items 1-4: invitations and coach links, who acted, the coach's dashboard, and
the event feed."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.models import Credential
from app.models.accounts import Invitation
from tests.conftest import Actor, assert_problem, enrol, managed_client, pain_body, signup
from tests.statements import Statements


def _invite(client, coach: Actor, **body) -> dict:
    response = client.post("/v1/invitations", json=body, headers=coach.headers)
    assert response.status_code == 201, response.text
    return response.json()


def _accept(client, actor: Actor, code: str):
    return client.post(f"/v1/invitations/{code}/accept", headers=actor.headers)


def _api_key(client, coach: Actor, **body) -> tuple[dict, dict[str, str]]:
    created = client.post("/v1/api-keys", json={"name": "sync", **body}, headers=coach.headers)
    assert created.status_code == 201, created.text
    return created.json(), {"Authorization": f"Bearer {created.json()['key']}"}


def _now_pain(**fields) -> dict:
    return {
        "score": 4,
        "context": "rest",
        "recorded_at": datetime.now(UTC).isoformat(),
        "side": "left",
        **fields,
    }


# --- invitations ------------------------------------------------------------------------------


def test_an_invitation_links_a_client_account_once(client):
    coach, sam = signup(client, "coach"), signup(client)
    invitation = _invite(client, coach, email=sam.account["email"], display_name="Sam")
    assert invitation["code"].startswith("hfi_")
    expires = datetime.fromisoformat(invitation["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    listed = client.get("/v1/invitations", headers=coach.headers).json()["items"]
    assert [(i["id"], i["status"]) for i in listed] == [(invitation["id"], "pending")]
    assert "code" not in listed[0]

    accepted = _accept(client, sam, invitation["code"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == sam.client_id
    assert accepted.json()["coach_id"] == coach.account["id"]
    assert client.get(f"/v1/clients/{sam.client_id}", headers=coach.headers).status_code == 200
    listed = client.get("/v1/invitations", headers=coach.headers).json()["items"]
    assert listed[0]["status"] == "accepted"
    assert listed[0]["accepted_client_id"] == sam.client_id
    # Single use: the same 404 as a code that never existed.
    used = assert_problem(_accept(client, sam, invitation["code"]), 404)
    unknown = assert_problem(_accept(client, sam, "hfi_" + "x" * 43), 404)
    assert used["detail"] == unknown["detail"]


def test_revoked_and_expired_codes_answer_the_same_404(client, db):
    coach, sam = signup(client, "coach"), signup(client)
    revoked, expired = _invite(client, coach), _invite(client, coach)
    assert (
        client.delete(f"/v1/invitations/{revoked['id']}", headers=coach.headers).status_code == 204
    )
    db.exec(
        update(Invitation)
        .where(Invitation.id == uuid.UUID(expired["id"]))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()
    details = {
        assert_problem(_accept(client, sam, i["code"]), 404)["detail"] for i in (revoked, expired)
    }
    assert len(details) == 1
    statuses = {
        i["id"]: i["status"]
        for i in client.get("/v1/invitations", headers=coach.headers).json()["items"]
    }
    assert statuses == {revoked["id"]: "revoked", expired["id"]: "expired"}
    assert client.get(f"/v1/clients/{sam.client_id}", headers=coach.headers).status_code == 404
    # Another coach cannot revoke it, nor see it.
    other = signup(client, "coach")
    assert_problem(client.delete(f"/v1/invitations/{expired['id']}", headers=other.headers), 404)


def test_guessing_codes_is_throttled_even_for_a_good_code(client):
    coach, sam = signup(client, "coach"), signup(client)
    good = _invite(client, coach)
    for _ in range(5):
        assert_problem(_accept(client, sam, f"hfi_{uuid.uuid4().hex}"), 404)
    refused = _accept(client, sam, good["code"])
    assert_problem(refused, 429, "too-many-requests")
    assert int(refused.headers["Retry-After"]) >= 1
    # Another account from the same address is throttled too (per address).
    other = signup(client)
    assert_problem(_accept(client, other, good["code"]), 429)
    assert (
        client.get("/v1/invitations", headers=coach.headers).json()["items"][0]["status"]
        == "pending"
    )


def test_who_may_accept_and_at_most_one_coach(client):
    coach, rival, sam = signup(client, "coach"), signup(client, "coach"), signup(client)
    first, second = _invite(client, coach), _invite(client, rival)
    assert_problem(_accept(client, coach, first["code"]), 403, "client-only")
    assert _accept(client, sam, first["code"]).status_code == 200
    assert_problem(_accept(client, sam, second["code"]), 409, "has-coach")
    assert client.get(f"/v1/clients/{sam.client_id}", headers=rival.headers).status_code == 404
    named = _invite(client, rival, email="someone-else@example.com")
    assert_problem(
        _accept(client, signup(client), named["code"]), 403, "invitation-for-another-email"
    )


def test_a_retried_invitation_does_not_repeat_its_code(client):
    coach = signup(client, "coach")
    headers = {**coach.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/v1/invitations", json={"display_name": "Kim"}, headers=headers)
    again = client.post("/v1/invitations", json={"display_name": "Kim"}, headers=headers)
    assert first.status_code == 201
    assert first.json()["code"]
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["code"] is None
    assert len(client.get("/v1/invitations", headers=coach.headers).json()["items"]) == 1


def test_bad_invitations_are_refused_and_store_nothing(client):
    coach = signup(client, "coach")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert_problem(
        client.post("/v1/invitations", json={"expires_at": past}, headers=coach.headers), 422
    )
    foreign = managed_client(client, signup(client, "coach"))
    assert_problem(
        client.post("/v1/invitations", json={"client_id": foreign["id"]}, headers=coach.headers),
        422,
        "unknown-client",
    )
    assert_problem(client.post("/v1/invitations", json={}, headers=signup(client).headers), 403)
    assert client.get("/v1/invitations", headers=coach.headers).json()["items"] == []


def test_a_managed_client_gets_a_login_with_its_history(client):
    coach = signup(client, "coach")
    managed = managed_client(client, coach, external_id="ehr-7")
    enrol(client, coach, managed["id"])
    logged = client.post(
        f"/v1/clients/{managed['id']}/pain-logs", json=pain_body(2), headers=coach.headers
    )
    assert logged.status_code == 201
    invitation = _invite(client, coach, client_id=managed["id"])

    busy = signup(client)
    enrol(client, busy)  # an account with data of its own cannot take the managed history
    assert_problem(_accept(client, busy, invitation["code"]), 409, "account-has-data")

    sam = signup(client)
    accepted = _accept(client, sam, invitation["code"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == managed["id"]
    assert accepted.json()["has_account"] is True
    assert client.get("/v1/me", headers=sam.headers).json()["client_id"] == managed["id"]
    mine = client.get("/v1/clients/me/pain-logs", headers=sam.headers).json()["items"]
    assert [log["id"] for log in mine] == [logged.json()["id"]]
    # The coach still follows it; the account's old empty profile is nobody's.
    assert client.get(f"/v1/clients/{managed['id']}", headers=coach.headers).status_code == 200
    assert sam.client_id not in [
        c["id"] for c in client.get("/v1/clients", headers=coach.headers).json()["items"]
    ]


def test_a_client_leaves_and_a_coach_releases(client):
    coach = signup(client, "coach")
    sam, kim = signup(client), signup(client)
    for person in (sam, kim):
        assert _accept(client, person, _invite(client, coach)["code"]).status_code == 200
    assert client.delete("/v1/me/coach", headers=sam.headers).status_code == 204
    assert client.get(f"/v1/clients/{sam.client_id}", headers=coach.headers).status_code == 404
    assert_problem(client.delete("/v1/me/coach", headers=sam.headers), 404)
    assert_problem(client.delete(f"/v1/clients/{kim.client_id}/coach", headers=kim.headers), 403)
    assert (
        client.delete(f"/v1/clients/{kim.client_id}/coach", headers=coach.headers).status_code
        == 204
    )
    assert client.get("/v1/clients/me", headers=kim.headers).json()["coach_id"] is None
    managed = managed_client(client, coach)
    assert_problem(
        client.delete(f"/v1/clients/{managed['id']}/coach", headers=coach.headers),
        409,
        "managed-client",
    )
    # Free again: another coach may invite them.
    assert _accept(client, sam, _invite(client, signup(client, "coach"))["code"]).status_code == 200


# --- who acted --------------------------------------------------------------------------------


def test_logs_overrides_and_decisions_name_who_acted(client):
    coach = signup(client, "coach")
    key, key_headers = _api_key(client, coach)
    assert key["last_used_at"] is None
    managed = managed_client(client, coach)
    enrolled = client.post(
        f"/v1/clients/{managed['id']}/enrollments",
        json={
            "protocol": "hip-impingement",
            "baseline_pain": 6,
            "started_at": "2026-10-01T08:00:00Z",
        },
        headers=coach.headers,
    )
    assert enrolled.json()["actor"] == {
        "role": "coach",
        "account_id": coach.account["id"],
        "api_key_id": None,
    }
    by_key = {"role": "coach", "account_id": coach.account["id"], "api_key_id": key["id"]}
    log = client.post(
        f"/v1/clients/{managed['id']}/pain-logs",
        json=pain_body(3, flags=["night_pain"]),
        headers=key_headers,
    )
    assert log.json()["actor"] == by_key
    events = client.get(f"/v1/clients/{managed['id']}/events", headers=coach.headers).json()[
        "items"
    ]
    assert [(e["type"], e["actor"]["api_key_id"]) for e in events] == [
        ("referral", key["id"]),
        ("enrolled", None),
    ]
    override = client.post(
        f"/v1/clients/{managed['id']}/overrides",
        json={"action": "clear_referral", "reason": "Seen by a clinician."},
        headers=key_headers,
    )
    assert override.status_code == 201, override.text
    assert override.json()["actor"] == by_key
    assert override.json()["by"] == "coach"
    used = client.get("/v1/api-keys", headers=coach.headers).json()["items"][0]["last_used_at"]
    assert used is not None
    assert datetime.now(UTC) - datetime.fromisoformat(used) < timedelta(minutes=1)

    me = signup(client)
    enrol(client, me)
    own = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=me.headers).json()
    assert own["actor"] == {"role": "client", "account_id": me.account["id"], "api_key_id": None}


@pytest.mark.parametrize(
    "read",
    ["/v1/clients", "/v1/events", "/v1/clients/{id}/progress", "/v1/clients/{id}/today"],
)
def test_a_key_used_only_to_read_shows_when_it_was_last_used(client, read):
    """A clinic's integration mostly polls (the dashboard, the feed, a client's progress):
    its key's `last_used_at` moves on reads too, or a coach could not tell a live key from a
    forgotten one."""
    coach = signup(client, "coach")
    _, key_headers = _api_key(client, coach)
    managed = managed_client(client, coach)
    enrolled = client.post(
        f"/v1/clients/{managed['id']}/enrollments",
        json={"protocol": "hip-impingement", "baseline_pain": 5},
        headers=coach.headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    assert client.get(read.format(id=managed["id"]), headers=key_headers).status_code == 200
    used = client.get("/v1/api-keys", headers=coach.headers).json()["items"][0]["last_used_at"]
    assert used is not None
    assert datetime.now(UTC) - datetime.fromisoformat(used) < timedelta(minutes=1)
    # A login token has no such field to move, and reading with it changes no key.
    assert client.get(read.format(id=managed["id"]), headers=coach.headers).status_code == 200
    again = client.get("/v1/api-keys", headers=coach.headers).json()["items"][0]["last_used_at"]
    assert again == used


def test_api_keys_may_expire(client, db):
    coach = signup(client, "coach")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert_problem(
        client.post("/v1/api-keys", json={"name": "x", "expires_at": past}, headers=coach.headers),
        422,
    )
    soon = datetime.now(UTC) + timedelta(days=1)
    key, headers = _api_key(client, coach, expires_at=soon.isoformat())
    assert datetime.fromisoformat(key["expires_at"]) == soon
    assert client.get("/v1/me", headers=headers).status_code == 200
    db.exec(
        update(Credential)
        .where(Credential.id == uuid.UUID(key["id"]))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()
    assert_problem(client.get("/v1/me", headers=headers), 401)


# --- the dashboard ----------------------------------------------------------------------------


def _dashboard(client, coach: Actor, **params) -> dict:
    response = client.get("/v1/clients", params=params, headers=coach.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_dashboard_says_where_each_client_stands(client):
    coach = signup(client, "coach")
    names = ["Ada", "Ben", "Cleo", "Dan"]
    people = {
        n: managed_client(client, coach, display_name=n, external_id=f"EHR-{n}", timezone="UTC")[
            "id"
        ]
        for n in names
    }
    for name in ("Ben", "Cleo", "Dan"):
        enrol(client, coach, people[name])

    def post(name, **f):
        return client.post(
            f"/v1/clients/{people[name]}/pain-logs", json=_now_pain(**f), headers=coach.headers
        )

    assert post("Cleo", score=7, context="during").status_code == 201  # a flare: hold
    assert post("Dan", score=3, flags=["fever_or_unwell"]).status_code == 201  # red flag
    assert post("Ben", score=4).status_code == 201
    items = {c["display_name"]: c for c in _dashboard(client, coach)["items"]}
    assert {n: items[n]["status"] for n in names} == {
        "Ada": "not_enrolled",
        "Ben": "progressing",
        "Cleo": "hold",
        "Dan": "refer",
    }
    assert items["Ben"]["current_pain"] == 4.0
    assert items["Cleo"]["current_pain"] == 7.0
    assert items["Ada"]["current_pain"] is None
    assert items["Ada"]["stage"] is None
    assert items["Ben"]["stage"] == "stretch-hip-flexors"
    assert items["Ben"]["last_logged_at"] is not None
    assert items["Ada"]["last_logged_at"] is None

    assert [c["display_name"] for c in _dashboard(client, coach, status="refer")["items"]] == [
        "Dan"
    ]
    assert [c["display_name"] for c in _dashboard(client, coach, q="ehr-cl")["items"]] == ["Cleo"]
    assert [c["display_name"] for c in _dashboard(client, coach, q="a")["items"]] == ["Ada", "Dan"]
    recent = [c["display_name"] for c in _dashboard(client, coach, sort="last_activity")["items"]]
    assert recent[:3] == ["Ben", "Dan", "Cleo"]
    # Pages of one, both orders, end to end.
    for sort in ("created", "last_activity"):
        seen, cursor = [], None
        while True:
            page = _dashboard(
                client, coach, sort=sort, limit=1, **({"cursor": cursor} if cursor else {})
            )
            seen += [c["display_name"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == (names if sort == "created" else recent)
    assert_problem(
        client.get("/v1/clients", params={"status": "asleep"}, headers=coach.headers), 422
    )
    assert_problem(client.get("/v1/clients", params={"cursor": "nope"}, headers=coach.headers), 400)


def test_a_deleted_last_log_moves_last_logged_at_back(client):
    me = signup(client, timezone="UTC")
    enrol(client, me)
    first = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=me.headers).json()
    second = client.post("/v1/clients/me/pain-logs", json=pain_body(4), headers=me.headers).json()
    assert _dashboard(client, me)["items"][0]["last_logged_at"] == second["recorded_at"]
    assert (
        client.delete(f"/v1/clients/me/pain-logs/{second['id']}", headers=me.headers).status_code
        == 204
    )
    assert _dashboard(client, me)["items"][0]["last_logged_at"] == first["recorded_at"]


def test_the_dashboard_takes_the_same_statements_for_1_and_50_clients(client, engine):
    coach = signup(client, "coach")
    for index in range(50):
        ref = managed_client(client, coach, display_name=f"P{index}", timezone="UTC")["id"]
        if index % 2:
            enrol(client, coach, ref)
            client.post(
                f"/v1/clients/{ref}/pain-logs",
                json=_now_pain(score=index % 10),
                headers=coach.headers,
            )
    counts = {}
    for limit in (1, 50):
        with Statements(engine) as sent:
            page = _dashboard(client, coach, limit=limit, sort="last_activity")
        assert len(page["items"]) == limit
        counts[limit] = len(sent.sql)
        # The caller, then the page: nothing per client.
        assert len([q for q in sent.sql if q.lstrip().upper().startswith("SELECT")]) == 2
    assert counts[1] == counts[50], counts


# --- the feed ---------------------------------------------------------------------------------


def _feed(client, actor: Actor, **params) -> dict:
    response = client.get("/v1/events", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_poller_sees_every_event_once_in_order_retractions_included(client):
    coach = signup(client, "coach")
    ada, ben = (
        managed_client(client, coach, display_name=n, timezone="UTC")["id"] for n in ("Ada", "Ben")
    )
    enrol(client, coach, ada)
    first = _feed(client, coach)
    assert [(e["type"], e["client_id"]) for e in first["items"]] == [("enrolled", ada)]
    cursor = first["next_cursor"]
    assert _feed(client, coach, after=cursor) == {"items": [], "next_cursor": cursor}

    enrol(client, coach, ben)
    flare = client.post(
        f"/v1/clients/{ben}/pain-logs",
        json=pain_body(2, score=7, context="during"),
        headers=coach.headers,
    ).json()
    # Deleting the flare's log undoes it: a retraction, once.
    assert (
        client.delete(
            f"/v1/clients/{ben}/pain-logs/{flare['id']}", headers=coach.headers
        ).status_code
        == 204
    )
    page = _feed(client, coach, after=cursor, limit=2)
    assert [e["type"] for e in page["items"]] == ["enrolled", "flare"]
    rest = _feed(client, coach, after=page["next_cursor"])
    assert [e["type"] for e in rest["items"]] == ["decision_retracted"]
    retraction = rest["items"][0]
    assert retraction["id"] == page["items"][1]["id"]
    assert retraction["decision_type"] == "flare"
    assert retraction["actor"]["account_id"] == coach.account["id"]
    assert retraction["local_date"] == page["items"][1]["local_date"]
    sequences = [e["sequence"] for e in first["items"] + page["items"] + rest["items"]]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 3 + 1
    assert _feed(client, coach, after=rest["next_cursor"])["items"] == []

    # Filters, and the client's own view.
    assert [e["type"] for e in _feed(client, coach, type="decision_retracted")["items"]] == [
        "decision_retracted"
    ]
    assert {e["client_id"] for e in _feed(client, coach, client_id=ben)["items"]} == {ben}


def test_the_feed_shows_only_the_callers_clients(client):
    coach, other = signup(client, "coach"), signup(client, "coach")
    me = signup(client)
    enrol(client, me)
    theirs = managed_client(client, other)
    enrol(client, other, theirs["id"])
    assert _feed(client, coach)["items"] == []
    assert [e["client_id"] for e in _feed(client, me)["items"]] == [me.client_id]
    assert_problem(
        client.get("/v1/events", params={"client_id": theirs["id"]}, headers=coach.headers), 404
    )
    assert_problem(client.get("/v1/events", params={"after": "-1"}, headers=coach.headers), 422)
    assert_problem(client.get("/v1/events", params={"type": "nap"}, headers=coach.headers), 422)
    # Linked: its history joins the coach's feed.
    assert _accept(client, me, _invite(client, coach)["code"]).status_code == 200
    assert [e["type"] for e in _feed(client, coach)["items"]] == ["enrolled"]


def test_feed_entries_are_numbered_in_the_order_writes_decide(client):
    """Each write that decides something gets higher numbers than every one before it."""
    coach = signup(client, "coach")
    seen = []
    for _ in range(3):
        ref = managed_client(client, coach)["id"]
        enrol(client, coach, ref)
        seen.append(_feed(client, coach, client_id=ref)["items"][0]["sequence"])
    assert seen == sorted(seen)
    assert len(set(seen)) == 3
