"""One writer floods, another writes at a steady pace: the flooder gets 429s, the other none,
and the other's writes stay about as fast as they were alone.

A real server (`hipfix serve`, one worker) with the default write limit. Client B first posts
pain logs alone, one every 0.1 s (its solo latency), then again while client A, from a process
of its own, posts pain logs on 8 keep-alive connections as fast as it is answered.

The bound, for B's write latency during the flood against the same measure alone:

    median <= 1.5 x solo median + 5 ms    and    p95 <= 3 x solo p95 + 10 ms

Why: the limit lets A write 20 times a second, and its turns (app/core/rate_limit.py) let at
most 2 of A's writes be ahead of one of B's at the writer, each about as long as one of B's:
at worst a write of B's takes its own time plus two more (p95: 3x). A's writes take the
writer about a fifth of each second, so most of B's writes meet none of them (median: 1.5x
leaves room for those that do). A's refusals are held up to a second before they are
answered, so its 8 connections cost the event loop a few answers a second, not hundreds. The
5 and 10 ms are for this 2-core machine, shared by the server, A's process and this one.
Without the limit B's median was about 3x its solo median (measured: it misses the bound);
app/core/rate_limit.py has the figures for each part of the limit alone.
"""

import itertools
import multiprocessing
import statistics
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from app.core.rate_limit import parse_rate
from tests.databases import KINDS, fresh_database, require
from tests.e2e.server import enrolled_client, serving

pytestmark = pytest.mark.e2e

DEFAULT_RATE = Settings.model_fields["write_rate_limit"].default
FLOOD_CONNECTIONS = 8
PACE = 0.1  # seconds between the starts of B's writes: well within the limit
SAMPLES = 100  # B's writes in each phase
WARM_UP = 10
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)


class Timeline:
    """One client's pain logs, each later than the one before (so each is its newest: cheap
    to add, as a phone logging now is), 15 minutes apart: under the 100 items a day allows."""

    STEP = timedelta(minutes=15)

    def __init__(self, first: datetime) -> None:
        self.first = first
        self.made = itertools.count()  # shared by threads: next() on it is atomic

    def pain(self) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "score": 4,
            "context": "rest",
            "recorded_at": (self.first + next(self.made) * self.STEP).isoformat(),
            "side": "left",
        }


def _sign_up(base: str, name: str) -> dict[str, str]:
    return enrolled_client(base, name, "UTC", STARTED)


def _flood(base: str, headers: dict[str, str], ready, stop, results) -> None:
    """In a process of its own: post as fast as answered on FLOOD_CONNECTIONS connections."""
    timeline = Timeline(STARTED + timedelta(days=1))  # room for 2,700 logs before it is now
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def connection() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            body = timeline.pain()
            while not stop.is_set():
                try:
                    status = http.post("/v1/clients/me/pain-logs", json=body).status_code
                except httpx.TransportError:
                    status = 0
                if status == 201:  # else the same log again, as a retry sends it
                    body = timeline.pain()
                with lock:
                    statuses[status] += 1
                ready.set()

    threads = [threading.Thread(target=connection) for _ in range(FLOOD_CONNECTIONS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((dict(statuses), time.monotonic() - started))


def _steady(http: httpx.Client, timeline: Timeline, count: int) -> list[float]:
    """B's writes at a steady pace; the latency of each (all must be 201)."""
    latencies = []
    for _ in range(count):
        body = timeline.pain()
        began = time.perf_counter()
        response = http.post("/v1/clients/me/pain-logs", json=body)
        took = time.perf_counter() - began
        assert response.status_code == 201, response.text
        latencies.append(took)
        time.sleep(max(0.0, PACE - took))
    return latencies


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_flooding_writer_is_refused_and_does_not_slow_another(kind: str, tmp_path: Path):
    require(kind)
    with (
        fresh_database(kind, tmp_path) as url,
        serving(
            url, tmp_path / "server.log", env={"HIPFIX_WRITE_RATE_LIMIT": DEFAULT_RATE}
        ) as server,
    ):
        flooder, steady = _sign_up(server.base, "a"), _sign_up(server.base, "b")
        with httpx.Client(base_url=server.base, headers=steady, timeout=30) as http:
            # B's logs end about now: the last ones its writes of the flood phase.
            timeline = Timeline(datetime.now(UTC) - (WARM_UP + 2 * SAMPLES) * Timeline.STEP)
            _steady(http, timeline, WARM_UP)
            solo = _steady(http, timeline, SAMPLES)

            context = multiprocessing.get_context("spawn")
            ready, stop, results = context.Event(), context.Event(), context.Queue()
            flood = context.Process(
                target=_flood, args=(server.base, flooder, ready, stop, results)
            )
            flood.start()
            try:
                assert ready.wait(60), "the flood never got an answer"
                time.sleep(1.0)  # past A's first second: it is being refused now
                during = _steady(http, timeline, SAMPLES)
            finally:
                stop.set()
                statuses, seconds = results.get(timeout=60)
                flood.join(timeout=30)

    solo_p50, solo_p95 = statistics.median(solo), _p95(solo)
    p50, p95 = statistics.median(during), _p95(during)
    print(
        f"\nflood ({kind}): A {statuses} in {seconds:.1f} s; B solo p50 {solo_p50 * 1000:.1f} "
        f"p95 {solo_p95 * 1000:.1f} ms, during p50 {p50 * 1000:.1f} p95 {p95 * 1000:.1f} ms"
    )
    assert statuses.get(429, 0) >= 50, statuses
    assert set(statuses) <= {201, 429}, statuses
    # The moving window: never more than N in any span of its length (20 in a second, 600
    # in a minute), so A got what the first second allows, and no more than each rate allows.
    rates = parse_rate(DEFAULT_RATE)
    allowed = min(rate.amount * (seconds // rate.get_expiry() + 1) for rate in rates)
    assert min(rate.amount for rate in rates) <= statuses[201] <= allowed, statuses
    assert p50 <= 1.5 * solo_p50 + 0.005, (solo_p50, p50)
    assert p95 <= 3 * solo_p95 + 0.010, (solo_p95, p95)
