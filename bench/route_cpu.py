"""The served process's CPU per request for each of the e2e bounds test's worst cases
(issue 25): what one heavy request takes from everyone else's GIL.

    .venv/bin/python bench/route_cpu.py                 # SQLite
    .venv/bin/python bench/route_cpu.py --db postgres   # HIPFIX_TEST_POSTGRES_URL's server

Serves one worker, builds account A's history as tests/e2e/test_bounds_served.py does, then
asks each route `--repeat` times in turn and reads the server process's user+system CPU
(/proc/<pid>/stat) around them: CPU ms per request (and wall ms) for each route.
"""

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import test_bounds_served as e2e  # noqa: E402
from tests.e2e.server import serving  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "postgres":
            import sqlalchemy

            base_url = os.environ["HIPFIX_TEST_POSTGRES_URL"]
            name = f"route_cpu_{uuid.uuid4().hex[:8]}"
            admin = sqlalchemy.create_engine(base_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
            url = base_url.rsplit("/", 1)[0] + "/" + name
        else:
            url = f"sqlite:///{tmp}/route_cpu.db"
        try:
            run(url, Path(tmp), args.repeat)
        finally:
            if args.db == "postgres":
                with admin.connect() as c:
                    c.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))


def run(url: str, tmp: Path, repeat: int) -> None:
    with serving(url, tmp / "server.log") as server:
        assert server.process is not None
        pid = server.process.pid
        headers, backdate = e2e._worst_history(server.base)
        b = e2e.enrolled_client(server.base, "B", "UTC", datetime.now(UTC) - timedelta(days=2))
        window = {"from": (datetime.now(UTC) - timedelta(days=e2e.WINDOW_DATES - 1)).date()}
        simulation = e2e._simulation()
        diary = e2e.Diary()
        n = 0

        def backdated(http: httpx.Client) -> httpx.Response:
            nonlocal n
            n += 1
            at = backdate + timedelta(seconds=n % 50)
            body = {"score": 4, "context": "rest", "side": "left", "recorded_at": at.isoformat()}
            made = http.post(e2e.PAIN_LOGS, json=body)
            assert made.status_code == 201, made.text
            return http.delete(f"{e2e.PAIN_LOGS}/{made.json()['id']}")

        with (
            httpx.Client(base_url=server.base, headers=headers, timeout=60) as a,
            httpx.Client(base_url=server.base, timeout=60) as anonymous,
            httpx.Client(base_url=server.base, headers=b, timeout=60) as bb,
        ):
            routes = {
                "simulation": lambda: anonymous.post("/v1/simulations", json=simulation),
                "fhir ?_count=100": lambda: a.get("/v1/clients/me/fhir?_count=100"),
                "report": lambda: a.get("/v1/clients/me/report", params=window),
                "chart": lambda: a.get("/v1/clients/me/charts/pain.svg", params=window),
                "export": lambda: a.get("/v1/me/export", params=window),
                "backdated post+delete": lambda: backdated(a),
                "B me": lambda: bb.get("/v1/me"),
                "B progress": lambda: bb.get("/v1/clients/me/progress"),
                "B pain-log POST": lambda: bb.post(e2e.PAIN_LOGS, json=diary.pain()),
            }
            print(f"{'route':<24}{'CPU ms':>8}{'wall ms':>9}")
            for what, call in routes.items():
                response = call()  # warm
                assert response.status_code < 300, (what, response.status_code)
                cpu, began = cpu_seconds(pid), time.perf_counter()
                for _ in range(repeat):
                    response = call()
                    assert response.status_code < 300, (what, response.status_code)
                wall = (time.perf_counter() - began) / repeat * 1000
                used = (cpu_seconds(pid) - cpu) / repeat * 1000
                print(f"{what:<24}{used:>8.1f}{wall:>9.1f}")


if __name__ == "__main__":
    main()
