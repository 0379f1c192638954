"""A coach's change of parameters at the history bound, and what it costs another caller's
writes (issue 25: the whole-history replay off the writer).

    .venv/bin/python bench/param_change.py                 # SQLite
    .venv/bin/python bench/param_change.py --db postgres   # HIPFIX_TEST_POSTGRES_URL's server

A served instance (one worker, the replay budget off). Client A is enrolled 119 days ago
with every local date full (about 11,900 pain logs) and linked to a coach. Measured: the
wall time of the coach's PATCH of A's parameters (each a whole-history replay; median of
`--repeat`), then client B's pain-log POSTs (appends, one every 50 ms) alone, and again
while the coach changes A's parameters over and over: B's median, p95 and slowest, in ms.

Run with another checkout's interpreter (its `hipfix` serves) to measure that checkout: the
figures before this change were taken with main's `.venv/bin/python bench/param_change.py`.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bounds import history  # noqa: E402

from tests.e2e.server import enrolled_client, serving, signed_in  # noqa: E402

PACE = 0.05
REFUSED: dict[int, int] = {}


def coached(http: httpx.Client, client: dict[str, str]) -> tuple[dict[str, str], str]:
    coach = signed_in(str(http.base_url), "Coach", "coach")
    invited = http.post("/v1/invitations", json={"display_name": "A"}, headers=coach)
    assert invited.status_code == 201, invited.text
    accepted = http.post(f"/v1/invitations/{invited.json()['code']}/accept", headers=client)
    assert accepted.status_code == 200, accepted.text
    [enrolment] = http.get("/v1/clients/me/enrollments", headers=client).json()["items"]
    return coach, f"/v1/clients/{accepted.json()['id']}/enrollments/{enrolment['id']}"


def b_posts(base: str, headers: dict[str, str], count: int, start: datetime) -> list[float]:
    """B's POSTs' times in ms (a refusal's too: each 503 is counted in `REFUSED`)."""
    times = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for n in range(count):
            at = (start + timedelta(minutes=15 * n)).isoformat()
            body = {"score": 3, "context": "rest", "side": "right", "recorded_at": at}
            began = time.perf_counter()
            done = http.post("/v1/clients/me/pain-logs", json=body)
            took = time.perf_counter() - began
            if done.status_code != 201:
                REFUSED[done.status_code] = REFUSED.get(done.status_code, 0) + 1
            times.append(took * 1000)
            time.sleep(max(0.0, PACE - took))
    return times


def summary(times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1]
    return f"median {statistics.median(times):7.1f}  p95 {p95:7.1f}  max {max(times):7.1f}"


def run(url: str, workdir: Path, repeat: int, rounds: int) -> None:
    env = {"HIPFIX_WRITE_RATE_LIMIT": "", "HIPFIX_REPLAY_BUDGET": "", "HIPFIX_LOG_LEVEL": "WARNING"}
    with (
        serving(url, workdir / "server.log", env=env) as server,
        httpx.Client(base_url=server.base, timeout=300) as http,
    ):
        a, _ = history(http, 119)
        coach, path = coached(http, a)
        gate = [10]

        def change() -> float:
            gate[0] = 21 - gate[0]
            began = time.perf_counter()
            done = http.patch(path, json={"params": {"gate_min_days": gate[0]}}, headers=coach)
            assert done.status_code == 200, done.text
            return (time.perf_counter() - began) * 1000

        walls = [change() for _ in range(repeat)]
        print(f"coach's PATCH (whole history): median {statistics.median(walls):.0f} ms")
        # B's logs 15 minutes apart (96 a date, under the day cap), ending about now.
        start = datetime.now(UTC) - timedelta(minutes=15 * (2 * rounds + 2))
        b = enrolled_client(server.base, "B", "UTC", start - timedelta(days=1))
        solo = b_posts(server.base, b, rounds, start)
        refused_alone = dict(REFUSED)
        REFUSED.clear()
        stop = threading.Event()
        changes: list[float] = []

        def loop() -> None:
            while not stop.is_set():
                changes.append(change())

        coaching = threading.Thread(target=loop)
        coaching.start()
        try:
            during = b_posts(server.base, b, rounds, start + timedelta(minutes=15 * rounds))
        finally:
            stop.set()
            coaching.join()
        print(
            f"B's pain-log POST alone:                 {summary(solo)} ms  refused {refused_alone}"
        )
        print(f"B's pain-log POST during A's changes:    {summary(during)} ms  refused {REFUSED}")
        print(f"  ({len(changes)} changes meanwhile, median {statistics.median(changes):.0f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=100, help="B's POSTs in each phase")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hipfix-param-change-"))
    if args.db == "postgres":
        from tests.databases import fresh_database

        with fresh_database("postgres", workdir) as url:
            run(url, workdir, args.repeat, args.rounds)
        return 0
    run(f"sqlite:///{workdir / 'bench.db'}", workdir, args.repeat, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
