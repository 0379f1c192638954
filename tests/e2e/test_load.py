"""Nothing lost under load and crashes: many concurrent writers against a real server.

Writers post pain logs, sessions and batches for shared and separate clients, each create
carrying its own id and Idempotency-Key and retried on timeouts until acknowledged. Then:
every acknowledged item is stored exactly once, no answer was a 5xx, the log never says
"database is locked", and the engine's stored decisions equal a full replay of what is
stored (a simulation of the same history).
"""

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.databases import KINDS, fresh_database, require
from tests.e2e.server import Server, enrolled_client, serving

pytestmark = pytest.mark.e2e

# 16 writers on 4 accounts post as fast as the server answers, far beyond what one person
# writes: the per-principal write limit is not what this test is about.
UNLIMITED = {"HIPFIX_WRITE_RATE_LIMIT": ""}
WRITERS = 16
CLIENTS = 4
REQUESTS_PER_WRITER = 12
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
EARLY = ["hip-flexor-ball-release", "hip-flexor-stretch"]


@dataclass
class Client:
    headers: dict[str, str]
    acknowledged: dict[str, dict] = field(default_factory=dict)  # pain log id → body
    sessions: dict[str, dict] = field(default_factory=dict)
    batches: list[set[str]] = field(default_factory=list)  # every batch sent, answered or not
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Tally:
    statuses: list[int] = field(default_factory=list)
    retries: int = 0
    busy: int = 0  # 503s with Retry-After, each retried
    # 422s' problem types: a write landing deep in a history replays more than a write may
    # (`too-far-back`), and is refused whole, storing nothing.
    refused: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _moment(rng: random.Random) -> str:
    return (STARTED + timedelta(days=rng.randint(1, 38), minutes=rng.randint(0, 1439))).isoformat()


def _pain(rng: random.Random) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "score": rng.choice([2, 3, 4, 4, 5, 5, 6, 7, 9]),
        "context": rng.choice(["rest", "rest", "during", "after", "next_morning"]),
        "recorded_at": _moment(rng),
        "side": "left",
    }


def _sign_up(base: str, index: int) -> Client:
    return Client(enrolled_client(base, f"load-{index}", "Europe/Berlin", STARTED))


def _until_acknowledged(
    base: str, path: str, body: dict, client: Client, tally: Tally, stop: threading.Event
) -> httpx.Response | None:
    """Post until a definite answer, retrying with the same key as a phone would: after
    timeouts and refused connections, and after a 503 at its Retry-After (the server at
    capacity stores nothing and says when to come back)."""
    headers = {**client.headers, "Idempotency-Key": str(uuid.uuid4())}
    while not stop.is_set():
        try:
            response = httpx.post(f"{base}{path}", json=body, headers=headers, timeout=3)
        except httpx.TransportError:
            with tally.lock:
                tally.retries += 1
            continue
        if response.status_code == 503 and "retry-after" in response.headers:
            with tally.lock:
                tally.busy += 1
            stop.wait(float(response.headers["retry-after"]))
            continue
        with tally.lock:
            tally.statuses.append(response.status_code)
            if response.status_code == 422:
                tally.refused.add(response.json()["type"].rsplit("/", 1)[-1])
        return response
    return None


def _writer(
    base: str, clients: list[Client], seed: int, tally: Tally, stop: threading.Event
) -> None:
    rng = random.Random(seed)
    for _ in range(REQUESTS_PER_WRITER):
        client = rng.choice(clients)
        roll = rng.random()
        if roll < 0.5:
            body = _pain(rng)
            response = _until_acknowledged(
                base, "/v1/clients/me/pain-logs", body, client, tally, stop
            )
            if response is not None and response.status_code in (200, 201):
                with client.lock:
                    client.acknowledged[body["id"]] = body
        elif roll < 0.8:
            body = {
                "id": str(uuid.uuid4()),
                "performed_at": _moment(rng),
                "exercises": [{"exercise": e} for e in EARLY],
                "pain_during": rng.randint(1, 6),
            }
            response = _until_acknowledged(
                base, "/v1/clients/me/sessions", body, client, tally, stop
            )
            if response is not None and response.status_code in (200, 201):
                with client.lock:
                    client.sessions[body["id"]] = {
                        **body,
                        "pain_log_ids": response.json()["pain_log_ids"],
                    }
        else:
            items = [_pain(rng) for _ in range(rng.randint(5, 40))]
            with client.lock:
                client.batches.append({item["id"] for item in items})
            response = _until_acknowledged(
                base, "/v1/clients/me/pain-logs/batch", {"items": items}, client, tally, stop
            )
            if response is not None and response.status_code in (200, 201):
                with client.lock:
                    client.acknowledged.update({item["id"]: item for item in items})
        if stop.is_set():
            return


def _stored(base: str, client: Client, what: str) -> list[dict]:
    items, cursor = [], None
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = http.get(f"/v1/clients/me/{what}", params=params, headers=client.headers).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


def _check_everything_acknowledged_is_stored_once(base: str, clients: list[Client]) -> int:
    total = 0
    for client in clients:
        logs = _stored(base, client, "pain-logs")
        sessions = _stored(base, client, "sessions")
        ids = [log["id"] for log in logs]
        assert len(ids) == len(set(ids)), "a pain log is stored twice"
        assert set(client.acknowledged) <= set(ids), "an acknowledged pain log is missing"
        assert {s["id"] for s in sessions} >= set(client.sessions), (
            "an acknowledged session is missing"
        )
        # Nothing half-written: each stored session has its linked pain log, and every
        # stored pain log is either posted by us or made by one of the stored sessions.
        linked = {log_id for s in sessions for log_id in s["pain_log_ids"]}
        assert all(s["pain_log_ids"] for s in sessions)
        assert set(ids) == linked | (set(ids) - linked)
        assert set(ids) - linked <= set(client.acknowledged) | _unacknowledged_ok(
            client, ids, linked
        )
        total += len(client.acknowledged) + len(client.sessions)
    return total


def _unacknowledged_ok(client: Client, ids: list[str], linked: set[str]) -> set[str]:
    # A request can be stored yet its answer lost (the connection dropped, or the server was
    # killed after the commit): those ids are stored but were never acknowledged to us.
    return set(ids) - linked - set(client.acknowledged)


def _check_engine_equals_a_full_replay(base: str, clients: list[Client]) -> None:
    with httpx.Client(base_url=base, timeout=60) as http:
        for client in clients:
            logs = [log for log in _stored(base, client, "pain-logs") if log["session_id"] is None]
            sessions = _stored(base, client, "sessions")
            timeline = [
                {
                    "type": "pain",
                    **{k: log[k] for k in ("score", "context", "recorded_at", "side", "flags")},
                }
                for log in logs
            ]
            timeline += [
                {
                    "type": "session",
                    "performed_at": s["performed_at"],
                    "exercises": [{"exercise": e["exercise"]} for e in s["exercises"]],
                    "pain_during": s["pain_during"],
                    "side": s["side"],
                }
                for s in sessions
            ]
            body = {
                "protocol": "hip-impingement",
                "baseline_pain": 6,
                "started_at": STARTED.isoformat(),
                "timezone": "Europe/Berlin",
                "timeline": timeline,
            }
            replay = http.post("/v1/simulations", json=body)
            assert replay.status_code == 200, replay.text
            stored = _stored(base, client, "events")

            def decisions(items: list[dict]) -> list[tuple]:
                return sorted(
                    (e["at"], e["type"], e["rule"], e["stage"], str(e["data"])) for e in items
                )

            assert decisions(stored) == decisions(replay.json()["events"])


def _run_load(
    base: str, clients: list[Client], tally: Tally, stop: threading.Event
) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=_writer, args=(base, clients, seed, tally, stop), daemon=True)
        for seed in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_writers_lose_nothing_and_store_nothing_twice(kind: str, tmp_path: Path):
    require(kind)
    log = tmp_path / "server.log"
    with (
        fresh_database(kind, tmp_path) as url,
        serving(url, log, workers=2, env=UNLIMITED) as server,
    ):
        clients = [_sign_up(server.base, i) for i in range(CLIENTS)]
        tally, stop = Tally(), threading.Event()
        for thread in _run_load(server.base, clients, tally, stop):
            thread.join(timeout=300)
        assert tally.statuses, "no request was answered"
        assert all(status < 500 for status in tally.statuses), sorted(set(tally.statuses))
        assert set(tally.statuses) <= {200, 201, 422}, sorted(set(tally.statuses))
        assert tally.refused <= {"too-far-back"}, tally.refused
        acknowledged = _check_everything_acknowledged_is_stored_once(server.base, clients)
        assert acknowledged > WRITERS * REQUESTS_PER_WRITER // 2
        _check_engine_equals_a_full_replay(server.base, clients)
        print(
            f"load: {len(tally.statuses)} answers, {tally.retries} retries, {tally.busy} busy, "
            f"{acknowledged} items acknowledged, 0 lost"
        )
    assert "database is locked" not in log.read_text()
    assert "Traceback" not in log.read_text()


def test_kill_9_mid_load_loses_nothing_acknowledged(tmp_path: Path):
    log = tmp_path / "server.log"
    server = Server(f"sqlite:///{tmp_path / 'crash.db'}", log, workers=2, env=UNLIMITED)
    server.migrate()
    server.start()
    try:
        clients = [_sign_up(server.base, i) for i in range(CLIENTS)]
        tally, stop = Tally(), threading.Event()
        threads = _run_load(server.base, clients, tally, stop)
        # Let some writes land, then kill the server in the middle of the load.
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while len(tally.statuses) < 40 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        server.start()  # the same file, after a crash
        _check_everything_acknowledged_is_stored_once(server.base, clients)
        _check_engine_equals_a_full_replay(server.base, clients)
        assert len(tally.statuses) >= 40
        acknowledged = sum(len(c.acknowledged) + len(c.sessions) for c in clients)
        print(
            f"crash: killed after {len(tally.statuses)} answers, "
            f"{acknowledged} items acknowledged, 0 lost"
        )
    finally:
        server.stop()


def test_shutdown_finishes_requests_in_flight(tmp_path: Path):
    server = Server(f"sqlite:///{tmp_path / 'drain.db'}", tmp_path / "server.log", env=UNLIMITED)
    server.migrate()
    server.start()
    try:
        client = _sign_up(server.base, 0)
        rng = random.Random(7)
        items = [_pain(rng) for _ in range(500)]
        answers: list[httpx.Response] = []
        answered_at: list[float] = []

        def send() -> None:
            answers.append(
                httpx.post(
                    f"{server.base}/v1/clients/me/pain-logs/batch",
                    json={"items": items},
                    headers=client.headers,
                    timeout=60,
                )
            )
            answered_at.append(time.monotonic())

        sender = threading.Thread(target=send)
        sender.start()
        threading.Event().wait(0.15)  # the batch is being handled
        assert server.process is not None
        terminated_at = time.monotonic()
        server.process.terminate()  # SIGTERM: a graceful shutdown
        sender.join(timeout=60)
        server.process.wait(timeout=30)
        assert [a.status_code for a in answers] == [201]
        assert answered_at[0] > terminated_at  # it was still in flight when the signal came
        server.start()
        assert len(_stored(server.base, client, "pain-logs")) == 500
    finally:
        server.stop()
