"""Decisions a clinic tool can key on (PRODUCT §8): a replay keeps a decision that happens
again (same type, rule, stage and local date) under its id, says `decision_updated` when
only its figures changed, and never retracts and re-issues an override."""

import uuid
from typing import Any, get_args

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.progression.model import DecisionType
from tests.api.test_progression import EARLY, STARTED, enrol_at_start, pain, session_body
from tests.api.test_webhooks import URL, Receiver, Rounds
from tests.conftest import Actor, managed_client, signup

DECISION_TYPES = set(get_args(DecisionType))


def feed(client: TestClient, actor: Actor, client_id: str) -> list[dict[str, Any]]:
    """Every entry for one client, paged as a poller pages."""
    entries: list[dict[str, Any]] = []
    after = "0"
    while True:
        params = {"after": after, "limit": 50, "client_id": client_id}
        page = client.get("/v1/events", params=params, headers=actor.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        entries += body["items"]
        if not body["items"]:
            return entries
        after = body["next_cursor"]


def key(entry: dict[str, Any]) -> tuple:
    return (entry["decision_type"], entry["rule"], entry["stage"], entry["local_date"])


def poll(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a clinic tool holds after applying the feed in order, checking on the way that
    it never holds two live decisions of one key."""
    live: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry["type"] == "decision_retracted":
            assert live.pop(entry["id"], None) is not None, entry
        elif entry["type"] == "decision_updated":
            assert entry["id"] in live, entry
            live[entry["id"]] = entry
        elif entry["type"] in DECISION_TYPES:
            others = [key(e) for i, e in live.items() if i != entry["id"]]
            assert key(entry) not in others, entry
            live[entry["id"]] = entry
    return live


def shown(entry: dict[str, Any]) -> tuple:
    kind = entry.get("decision_type", entry.get("type"))
    return (kind, entry["rule"], entry["stage"], entry["local_date"], entry["at"], entry["message"])


def test_a_clearance_then_older_logs_is_one_referral_cleared_and_no_retraction(client, app):
    coach = signup(client, "coach")
    client_id = managed_client(client, coach, timezone="UTC")["id"]
    enrol_at_start(client, coach, client_id)
    types = ["referral", "referral_cleared", "decision_retracted", "decision_updated"]
    body = {"url": URL, "event_types": types}
    assert client.post("/v1/webhook-endpoints", json=body, headers=coach.headers).status_code == 201
    path = f"/v1/clients/{client_id}"
    severe = client.post(f"{path}/pain-logs", json=pain(38, 9), headers=coach.headers)
    assert severe.status_code == 201, severe.text
    clear = {"action": "clear_referral", "reason": "Seen by Dr Patel: no red flags found."}
    cleared = client.post(f"{path}/overrides", json=clear, headers=coach.headers)
    assert cleared.status_code == 201, cleared.text
    first = [e for e in feed(client, coach, client_id) if e["type"] == "referral_cleared"]
    # Then the clinic tool uploads older logs, one at a time: each moves the pain the
    # clearance is measured from.
    for day, score in zip(range(31, 38), (2, 7, 3, 6, 4, 5, 2), strict=True):
        logged = client.post(f"{path}/pain-logs", json=pain(day, score), headers=coach.headers)
        assert logged.status_code == 201, logged.text

    entries = feed(client, coach, client_id)
    types_seen = [e["type"] for e in entries]
    assert types_seen.count("referral_cleared") == 1
    assert types_seen.count("decision_retracted") == 0
    assert 1 <= types_seen.count("decision_updated") <= 7
    (clearance,) = [e for e in poll(entries).values() if e["decision_type"] == "referral_cleared"]
    assert clearance["id"] == first[0]["id"]
    assert clearance["data"]["clock_pain"] != first[0]["data"]["clock_pain"]
    # Credited to the coach who cleared it, not to the writes that moved its figures.
    assert clearance["actor"]["account_id"] == coach.account["id"]

    receiver = Receiver(200)
    Rounds(client, app, receiver).run()
    sent = [b["type"] for b in receiver.bodies()]
    assert sent.count("referral_cleared") == 1
    assert sent.count("decision_retracted") == 0
    assert sent.count("decision_updated") == types_seen.count("decision_updated")
    updated = [b for b in receiver.bodies() if b["type"] == "decision_updated"]
    assert {b["data"]["decision"]["id"] for b in updated} == {clearance["id"]}


# A history: (day, hour, score, context, a red flag, a session with it); and where in the
# posting order the coach clears a referral (if there is one then).
_ENTRIES = st.lists(
    st.tuples(
        st.integers(1, 39),
        st.integers(6, 22),
        st.integers(0, 10),
        st.sampled_from(["rest", "during", "after", "next_morning"]),
        st.booleans().map(lambda b: ["night_pain"] if b else []),
        st.booleans(),
    ),
    min_size=1,
    max_size=24,
)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(_ENTRIES, st.integers(0, 24), st.integers(1, 5), st.randoms(use_true_random=False))
def test_property_the_feed_holds_one_live_decision_per_key_and_ends_as_the_engine(
    client, entries, clear_at, batch, random
):
    coach = signup(client, "coach")
    client_id = managed_client(client, coach, timezone="Europe/Paris")["id"]
    enrol_at_start(client, coach, client_id)
    path = f"/v1/clients/{client_id}"
    timeline: list[dict[str, Any]] = []
    for day, hour, score, context, flags, with_session in entries:
        if with_session:
            item = session_body(day, EARLY, hour=hour, id=str(uuid.uuid4()))
            timeline.append({"type": "session", **item})
        item = pain(day, score, context, hour=hour, flags=flags, id=str(uuid.uuid4()))
        timeline.append({"type": "pain", **item})
    random.shuffle(timeline)  # posted in any order: every later item older is a backfill
    posted: list[dict[str, Any]] = []
    index = 0
    while index <= len(timeline):
        cleared = any(p["type"] == "override" for p in posted)
        if index == min(clear_at, len(timeline)) and not cleared:
            clear = {"action": "clear_referral", "reason": "Seen by a clinician today."}
            made = client.post(f"{path}/overrides", json=clear, headers=coach.headers)
            if made.status_code == 201:  # 409 when not referred then
                at = made.json()["at"]
                posted.append({"type": "override", **clear, "by": "coach", "at": at})
        chunk = timeline[index : index + batch]
        index += batch
        if not chunk:
            continue
        logs = [{k: v for k, v in i.items() if k != "type"} for i in chunk if i["type"] == "pain"]
        if len(logs) > 1:
            response = client.post(
                f"{path}/pain-logs/batch", json={"items": logs}, headers=coach.headers
            )
            assert response.status_code == 201, response.text
        for item in chunk:
            if item["type"] == "pain" and len(logs) > 1:
                continue
            kind = "pain-logs" if item["type"] == "pain" else "sessions"
            body = {k: v for k, v in item.items() if k != "type"}
            response = client.post(f"{path}/{kind}", json=body, headers=coach.headers)
            assert response.status_code == 201, response.text
        posted += chunk

    live = poll(feed(client, coach, client_id))

    simulation = {
        "protocol": "hip-impingement",
        "baseline_pain": 6,
        "started_at": STARTED.isoformat(),
        "timezone": "Europe/Paris",
        "timeline": posted,
    }
    simulated = client.post("/v1/simulations", json=simulation)
    assert simulated.status_code == 200, simulated.text
    engine = sorted(shown(e) for e in simulated.json()["events"])
    assert sorted(shown(e) for e in live.values()) == engine
