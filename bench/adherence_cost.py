"""What keeping adherence costs a write (issue 21): the replay's `adherence_store.store`
(the weeks on the enrolment, the dashboard's stretches beside it), timed in process through
HTTP, with it and with it replaced by nothing, on a fresh migrated database.

    .venv/bin/python bench/adherence_cost.py [--kind sqlite|postgresql] [--writes 200]

Per kind: the median time of a session POST appended at the end of a history (4 a day), of a
pain log appended after them (no decision: the stored weeks do not change, nothing is
written), of a backdated pain log (a replay that counts the weeks again from the tables), of
the coach's list of 50 clients, and of the same filtered by `adherence_below=` (without the
store no client has a figure, so that page is empty). PostgreSQL needs
HIPFIX_TEST_POSTGRES_URL.
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session

from app.content.loader import load_content
from app.core.config import get_settings
from app.core.db import build_engine
from app.core.migrations import upgrade_to_head
from app.main import create_app
from app.progression import adherence_store
from tests.conftest import signup
from tests.databases import fresh_database

EARLY = [{"exercise": "hip-flexor-ball-release"}, {"exercise": "hip-flexor-stretch"}]


def _ms(call: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(client: TestClient, writes: int) -> dict[str, float]:
    coach = signup(client, "coach")
    refs = []
    started = datetime.now(UTC) - timedelta(days=60)
    for n in range(50):
        made = client.post(
            "/v1/clients", json={"display_name": f"C{n}", "timezone": "UTC"}, headers=coach.headers
        ).json()
        body = {
            "protocol": "hip-impingement",
            "baseline_pain": 5,
            "started_at": started.isoformat(),
        }
        client.post(f"/v1/clients/{made['id']}/enrollments", json=body, headers=coach.headers)
        refs.append(made["id"])
    ref = refs[0]
    moment = [started]

    def session() -> None:
        moment[0] += timedelta(hours=6)
        body = {"performed_at": moment[0].isoformat(), "exercises": EARLY}
        answer = client.post(f"/v1/clients/{ref}/sessions", json=body, headers=coach.headers)
        assert answer.status_code == 201, answer.text

    appended = _ms(session, writes)

    def pain() -> None:
        moment[0] += timedelta(hours=6)
        body = {"score": 4, "context": "rest", "recorded_at": moment[0].isoformat(), "side": "left"}
        answer = client.post(f"/v1/clients/{ref}/pain-logs", json=body, headers=coach.headers)
        assert answer.status_code == 201, answer.text

    logged = _ms(pain, writes // 3)
    # Among the last two days' sessions: each replays about 8 stored items.
    early = [moment[0] - timedelta(days=2, minutes=3)]

    def backdated() -> None:
        early[0] += timedelta(seconds=1)
        body = {"score": 4, "context": "rest", "recorded_at": early[0].isoformat(), "side": "left"}
        answer = client.post(f"/v1/clients/{ref}/pain-logs", json=body, headers=coach.headers)
        assert answer.status_code == 201, answer.text

    replayed = _ms(backdated, 20)

    def listed(**params: float) -> Callable[[], None]:
        def read() -> None:
            answer = client.get(
                "/v1/clients", params={"limit": 50, **params}, headers=coach.headers
            )
            assert answer.status_code == 200, answer.text

        return read

    return {
        "session appended": appended,
        "pain log appended": logged,
        "pain log backdated (replays)": replayed,
        "coach's list of 50": _ms(listed(), 50),
        "the same, adherence_below=0.5": _ms(listed(adherence_below=0.5), 50),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="sqlite")
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    results = {}
    kept = adherence_store.store
    for label, store in (("with", kept), ("without", lambda *a, **k: None)):
        adherence_store.store = store  # type: ignore[assignment]
        with (
            tempfile.TemporaryDirectory() as folder,
            fresh_database(args.kind, Path(folder)) as url,
        ):
            upgrade_to_head(url)
            engine = build_engine(url)
            with Session(engine) as session:
                load_content(session)
            settings = get_settings().model_copy(
                update={
                    "database_url": url,
                    "cpu_processes": 0,
                    "write_rate_limit": "",
                    "replay_budget": "",
                }
            )
            with TestClient(create_app(settings, bind=engine)) as client:
                results[label] = run(client, args.writes)
            engine.dispose()
    adherence_store.store = kept
    print(f"{args.kind}: median ms     with   without")
    for name in results["with"]:
        print(f"{name:<32} {results['with'][name]:7.2f} {results['without'][name]:8.2f}")


if __name__ == "__main__":
    main()
