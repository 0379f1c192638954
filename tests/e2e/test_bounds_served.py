"""No caller can slow another (issue 25, OWASP API4): one account runs the worst case of
every bounded route in a loop while another account's ordinary requests stay about as fast
as alone, and none of them gets 503.

A real server (`hipfix serve`, one worker, default limits). Account A holds the worst
history the bounds allow: enrolled `HISTORY_DAYS` ago with every local date full (100 pain
logs), its last days a little under, so that a pain log posted at the start of the day
before yesterday re-evaluates close to `REPLAY_CAP` items (the most backdated write that is
accepted). From a process of its own, A then loops: a simulation at the simulator's bounds
(signed out), the FHIR bundle's largest first page, the report, the chart and the export
over the fullest window accepted (just under `WINDOW_ITEMS` logs), a pain log dated at the
history bound (refused) and the most backdated accepted pain log, posted and deleted. In the
second case, beside that loop, from the end of its first round, A's coach changes A's
parameters over and over, each change a replay of the whole history (the only write that
still makes one): the replay budget lets the first through, as B's phase begins, and refuses
the rest with 429. The one let through replays outside the writer (the engine in the CPU
worker process, between a read and a short write: app/progression/history.py), so B's
writes do not wait for it; A's own backdated posts and deletes may find it stale, and it
is computed again.

Account B, from this process: `GET /v1/me`, its progress and a pain-log POST, in turn at a
steady pace, first alone and then during A's loop. For each, B's p95 during the loop must be
within 2x its p95 alone or 50 ms, whichever is larger, and every answer a success.
"""

import multiprocessing
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from app.core.types import HISTORY_DAYS
from app.progression.schemas import SIMULATION_DAYS, SIMULATION_ITEMS
from tests.databases import KINDS, fresh_database, require
from tests.e2e.server import enrolled_client, serving, signed_in

pytestmark = pytest.mark.e2e
# The replay budget as deployed (the suite turns it off: tests/__init__.py).
SERVED = {"HIPFIX_REPLAY_BUDGET": Settings.model_fields["replay_budget"].default}

PAIN_LOGS = "/v1/clients/me/pain-logs"
PER_DAY = 100  # the day cap
LAST_DAYS = 45  # a pain log at the start of the day before yesterday replays < REPLAY_CAP
BATCH = 500
PACE = 0.05  # seconds between the starts of B's requests
ROUNDS = 60  # B's rounds (one of each request) in each phase
WARM_UP = 5
LOOP_SECONDS = 120  # A's loop stops by then whatever happens
WINDOW_DATES = 10  # 7 full dates and 3 of LAST_DAYS: under WINDOW_ITEMS with A's decisions


def _worst_history(base: str) -> tuple[dict[str, str], datetime]:
    """Account A, enrolled at the history bound with every date full: its headers and the
    start of the day before yesterday (UTC)."""
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.replace(hour=0, minute=0, second=0)
    started = today - timedelta(days=HISTORY_DAYS - 1)
    headers = enrolled_client(base, "A", "UTC", started)
    logs, day = [], started
    while day < now:
        full = PER_DAY if day < today - timedelta(days=2) else LAST_DAYS
        for n in range(full - 1 if day == today - timedelta(days=2) else full):
            at = day + timedelta(minutes=1 + n * 14)
            if at < now - timedelta(minutes=1):
                pain = {"score": 3 + n % 3, "context": "rest", "side": "left"}
                logs.append({**pain, "recorded_at": at.isoformat()})
        day += timedelta(days=1)
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        for first in range(0, len(logs), BATCH):
            batch = {"items": logs[first : first + BATCH]}
            done = http.post("/v1/clients/me/pain-logs/batch", json=batch)
            assert done.status_code == 201, done.text
    return headers, today - timedelta(days=2)


def _coach_of(base: str, client: dict[str, str]) -> tuple[dict[str, str], str]:
    """A coach the client linked to: its headers and the path of the client's enrolment."""
    coach = signed_in(base, "Coach A", "coach")
    with httpx.Client(base_url=base, timeout=30) as http:
        invited = http.post("/v1/invitations", json={"display_name": "A"}, headers=coach)
        assert invited.status_code == 201, invited.text
        code = invited.json()["code"]
        accepted = http.post(f"/v1/invitations/{code}/accept", headers=client)
        assert accepted.status_code == 200, accepted.text
        [enrolment] = http.get("/v1/clients/me/enrollments", headers=client).json()["items"]
    return coach, f"/v1/clients/{accepted.json()['id']}/enrollments/{enrolment['id']}"


def _simulation() -> dict:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(days=SIMULATION_DAYS)
    step = timedelta(days=SIMULATION_DAYS - 1) / SIMULATION_ITEMS
    return {
        "protocol": "hip-impingement",
        "baseline_pain": 5,
        "started_at": started.isoformat(),
        "timezone": "UTC",
        "timeline": [
            {
                "type": "session",
                "performed_at": (started + step * n + timedelta(minutes=1)).isoformat(),
                "exercises": [{"exercise": "hip-flexor-ball-release"}],
                "pain_during": 2 + n % 3,
                "pain_after": 2,
            }
            for n in range(SIMULATION_ITEMS)
        ],
    }


def _loop(
    base: str,
    headers: dict[str, str],
    backdate: str,
    coach: dict[str, str],
    enrolment: str,
    changes_parameters: bool,
    ready,
    stop,
    results,
) -> None:
    """In a process of its own: A's worst cases, one after another, until told to stop; and
    from its first round on, beside them, its coach's changes of its parameters."""
    statuses: Counter[str] = Counter()
    slowest: dict[str, float] = {}
    lock = threading.Lock()
    simulation = _simulation()
    too_old = (datetime.now(UTC) - timedelta(days=HISTORY_DAYS, hours=1)).isoformat()
    deadline = time.monotonic() + LOOP_SECONDS
    # The fullest window accepted: the last days hold a little under WINDOW_ITEMS.
    window = {"from": (datetime.now(UTC) - timedelta(days=WINDOW_DATES - 1)).date().isoformat()}

    def note(what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        began = time.perf_counter()
        response = call()
        took = (time.perf_counter() - began) * 1000
        with lock:
            slowest[what] = round(max(slowest.get(what, 0.0), took))
            statuses[f"{what} {response.status_code}"] += 1
        return response

    def changes() -> None:
        """The coach's loop: each change accepted replays the whole history, and the
        refusals (held a second each) do not slow A's other worst cases down."""
        gate = 10
        with httpx.Client(base_url=base, headers=coach, timeout=60) as coaching:
            while not stop.is_set() and time.monotonic() < deadline:
                change = {"params": {"gate_min_days": 21 - gate}}
                changed = note("parameters", lambda b=change: coaching.patch(enrolment, json=b))
                if changed.status_code == 200:
                    gate = 21 - gate  # a change again next time, never the same values

    coaching = threading.Thread(target=changes)
    with (
        httpx.Client(base_url=base, timeout=60) as anonymous,
        httpx.Client(base_url=base, headers=headers, timeout=60) as http,
    ):
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            n += 1
            note("simulation", lambda: anonymous.post("/v1/simulations", json=simulation))
            note("fhir", lambda: http.get("/v1/clients/me/fhir?_count=100"))
            note("report", lambda: http.get("/v1/clients/me/report", params=window))
            note("chart", lambda: http.get("/v1/clients/me/charts/pain.svg", params=window))
            note("export", lambda: http.get("/v1/me/export", params=window))
            pain = {"score": 4, "context": "rest", "side": "left"}
            old = {**pain, "recorded_at": too_old}
            note("too old", lambda b=old: http.post(PAIN_LOGS, json=b))
            at = (datetime.fromisoformat(backdate) + timedelta(seconds=n % 50)).isoformat()
            early = {**pain, "recorded_at": at}
            made = note("backdated post", lambda b=early: http.post(PAIN_LOGS, json=b))
            if made.status_code == 201:
                path = f"{PAIN_LOGS}/{made.json()['id']}"
                note("backdated delete", lambda p=path: http.delete(p))
            if n == 1 and changes_parameters:  # as B's phase begins: the change let through
                coaching.start()
            ready.set()
    if changes_parameters:
        coaching.join()
    results.put((dict(statuses), slowest))


class Diary:
    """B's pain logs, each the newest (an append, as a phone logging now makes), 15 minutes
    apart from 32 hours ago: never more than 96 on one date (the cap is 100)."""

    def __init__(self) -> None:
        self.next = datetime.now(UTC) - timedelta(hours=32)

    def pain(self) -> dict:
        self.next += timedelta(minutes=15)
        at = self.next.isoformat()
        return {
            "id": str(uuid.uuid4()),
            "score": 3,
            "context": "rest",
            "side": "right",
            "recorded_at": at,
        }


def _round(
    http: httpx.Client, diary: Diary, results: dict[str, list[float]], statuses: Counter[str]
) -> None:
    for what, call in [
        ("me", lambda: http.get("/v1/me")),
        ("progress", lambda: http.get("/v1/clients/me/progress")),
        ("pain-log POST", lambda: http.post(PAIN_LOGS, json=diary.pain())),
    ]:
        began = time.perf_counter()
        response = call()
        took = time.perf_counter() - began
        statuses[f"{what} {response.status_code}"] += 1
        results.setdefault(what, []).append(took)
        time.sleep(max(0.0, PACE - took))


def _phase(
    http: httpx.Client, diary: Diary, rounds: int
) -> tuple[dict[str, list[float]], Counter[str]]:
    results: dict[str, list[float]] = {}
    statuses: Counter[str] = Counter()
    for _ in range(rounds):
        _round(http, diary, results, statuses)
    return results, statuses


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


WHOLE_HISTORY = pytest.param(True, id="with-parameter-changes")


@pytest.mark.parametrize(
    "changes_parameters", [pytest.param(False, id="bounded-routes"), WHOLE_HISTORY]
)
@pytest.mark.parametrize("kind", KINDS)
def test_one_callers_worst_cases_leave_anothers_requests_alone(
    kind: str, changes_parameters: bool, tmp_path: Path
):
    require(kind)
    with (
        fresh_database(kind, tmp_path) as url,
        serving(url, tmp_path / "server.log", env=SERVED) as server,
    ):
        heavy, backdate = _worst_history(server.base)
        coach, enrolment = _coach_of(server.base, heavy)
        b = enrolled_client(server.base, "B", "UTC", datetime.now(UTC) - timedelta(days=2))
        diary = Diary()
        with httpx.Client(base_url=server.base, headers=b, timeout=30) as http:
            _phase(http, diary, WARM_UP)
            solo, solo_statuses = _phase(http, diary, ROUNDS)

            context = multiprocessing.get_context("spawn")
            ready, stop, results = context.Event(), context.Event(), context.Queue()
            loop = context.Process(
                target=_loop,
                args=(
                    server.base,
                    heavy,
                    backdate.isoformat(),
                    coach,
                    enrolment,
                    changes_parameters,
                    ready,
                    stop,
                    results,
                ),
            )
            loop.start()
            try:
                assert ready.wait(LOOP_SECONDS), "A's loop never went round"
                during, during_statuses = _phase(http, diary, ROUNDS)
            finally:
                stop.set()
                heavy_statuses, slowest = results.get(timeout=LOOP_SECONDS)
                loop.join(timeout=30)

    lines = [f"\nbounds ({kind}): A {heavy_statuses}, slowest (ms) {slowest}"]
    for what in solo:
        lines.append(
            f"  B {what}: solo p95 {_p95(solo[what]) * 1000:.1f} ms, during p95 "
            f"{_p95(during[what]) * 1000:.1f} ms (median {statistics.median(solo[what]) * 1000:.1f}"
            f" -> {statistics.median(during[what]) * 1000:.1f})"
        )
    print("\n".join(lines))
    # A's worst cases ran, and were answered (the history bound refused, the rest served).
    for what in ("simulation 200", "fhir 200", "report 200", "chart 200", "export 200"):
        assert heavy_statuses.get(what, 0) >= 1, heavy_statuses
    assert heavy_statuses.get("too old 422", 0) >= 1, heavy_statuses
    assert heavy_statuses.get("backdated post 201", 0) >= 1, heavy_statuses
    if changes_parameters:
        assert heavy_statuses.get("parameters 200", 0) >= 1, heavy_statuses
    assert not any(s.endswith((" 500", " 503")) for s in heavy_statuses), heavy_statuses
    # B: every answer a success, and its p95 within 2x alone or 50 ms.
    for statuses in (solo_statuses, during_statuses):
        assert all(s.endswith((" 200", " 201")) for s in statuses), statuses
    for what, times in during.items():
        bound = max(2 * _p95(solo[what]), 0.050)
        assert _p95(times) <= bound, (what, _p95(solo[what]), _p95(times))
