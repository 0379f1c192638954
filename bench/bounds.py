"""The worst case each bound allows, measured on a served instance (issue 25, OWASP API4).

    .venv/bin/python bench/bounds.py                    # SQLite, the longest history (119 days)
    .venv/bin/python bench/bounds.py --days 30 90 --items 300 --span 119
    .venv/bin/python bench/bounds.py --db postgres      # HIPFIX_TEST_POSTGRES_URL's server

For each history length: a client enrolled that many days ago with every local date full
(100 pain logs, the day cap; 99 on the first and last three), then the wall time of the
heavy routes as that client asks them one at a time: a pain log dated at its first day (the
replay of the whole history; refused since the replay bound), the most backdated pain log
accepted, posted and deleted, the FHIR bundle (its first page, a page of 100, every page),
the report, the chart and the export (default window; refused past the window's item bound:
pass `--window` dates to measure the fullest accepted). Then a simulation of N sessions
(each with two pain scores) over `--span` days. Median of `--repeat` calls, in ms.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.server import serving  # noqa: E402

PER_DAY = 100  # the day cap (replay.DAY_CAP)
CHART = "/v1/clients/me/charts/pain.svg"
BATCH = 500


def timed(call: Callable[[], httpx.Response], repeat: int) -> tuple[float, int, int]:
    """Median ms, the last status and body size."""
    times = []
    response = None
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
    assert response is not None
    return statistics.median(times), response.status_code, len(response.content)


def signed_up(http: httpx.Client) -> dict[str, str]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    account = {
        "email": email,
        "password": "bench-password-0123",
        "display_name": "Bench",
        "role": "client",
        "timezone": "UTC",
    }
    assert http.post("/v1/accounts", json=account).status_code == 201
    token = http.post("/v1/auth/token", data={"username": email, "password": account["password"]})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def history(http: httpx.Client, days: int) -> tuple[dict[str, str], datetime]:
    """A client enrolled `days` days ago with every date full (its first but one)."""
    headers = signed_up(http)
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0)
    body = {"protocol": "hip-impingement", "baseline_pain": 5, "started_at": start.isoformat()}
    enrolled = http.post("/v1/clients/me/enrollments", json=body, headers=headers)
    assert enrolled.status_code == 201, enrolled.text
    logs = []
    for day in range(days):
        for n in range(PER_DAY - 1 if day == 0 or day >= days - 3 else PER_DAY):  # room to backdate
            at = start + timedelta(days=day, minutes=10 + n * 14)
            if at < now - timedelta(minutes=1):
                logs.append(
                    {"score": 3, "context": "rest", "side": "left", "recorded_at": at.isoformat()}
                )
    for first in range(0, len(logs), BATCH):
        batch = {"items": logs[first : first + BATCH]}
        done = http.post("/v1/clients/me/pain-logs/batch", json=batch, headers=headers)
        assert done.status_code == 201, done.text
    return headers, start


def fhir_pages(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    url: str | None = "/v1/clients/me/fhir"
    response = None
    while url is not None:
        response = http.get(url, headers=headers)
        assert response.status_code == 200, response.text
        links = {link["relation"]: link["url"] for link in response.json().get("link", [])}
        url = links.get("next")
    assert response is not None
    return response


def measure_history(http: httpx.Client, days: int, repeat: int, window_dates: int) -> None:
    seeding = time.perf_counter()
    headers, start = history(http, days)
    print(f"\n{days} days x {PER_DAY} logs seeded in {time.perf_counter() - seeding:.0f} s")
    early = {"score": 2, "context": "rest", "side": "left"}
    url = "/v1/clients/me/pain-logs"
    refused = {**early, "recorded_at": (start + timedelta(minutes=1)).isoformat()}
    ms, status, _ = timed(lambda: http.post(url, json=refused, headers=headers), repeat)
    print(f"  pain log at the first day     {ms:8.1f} ms  {status}")
    # The most backdated write accepted: the earliest hour whose replay stays under the cap.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for back in range(72, 0, -1):
        at = now - timedelta(hours=back, minutes=-7)
        made = http.post(url, json={**early, "recorded_at": at.isoformat()}, headers=headers)
        if made.status_code == 201:
            http.delete(f"{url}/{made.json()['id']}", headers=headers)
            break
    times = []
    for n in range(repeat):
        body = {**early, "recorded_at": (at + timedelta(seconds=n)).isoformat()}
        began = time.perf_counter()
        made = http.post(url, json=body, headers=headers)
        assert made.status_code == 201, made.text
        posted = time.perf_counter()
        gone = http.delete(f"{url}/{made.json()['id']}", headers=headers)
        assert gone.status_code == 204, gone.text
        times.append(((posted - began) * 1000, (time.perf_counter() - posted) * 1000))
    print(f"  backdated {back} hours: POST     {statistics.median(t[0] for t in times):8.1f} ms")
    print(f"  backdated {back} hours: DELETE   {statistics.median(t[1] for t in times):8.1f} ms")
    window = f"from={(today - timedelta(days=window_dates - 1)).date().isoformat()}"
    for name, call in [
        ("FHIR (first page)", lambda: http.get("/v1/clients/me/fhir", headers=headers)),
        ("FHIR (100)", lambda: http.get("/v1/clients/me/fhir?_count=100", headers=headers)),
        ("FHIR (every page)", lambda: fhir_pages(http, headers)),
        ("report", lambda: http.get("/v1/clients/me/report", headers=headers)),
        ("chart", lambda: http.get("/v1/clients/me/charts/pain.svg", headers=headers)),
        ("export", lambda: http.get("/v1/me/export", headers=headers)),
        ("report (window)", lambda: http.get(f"/v1/clients/me/report?{window}", headers=headers)),
        ("chart (window)", lambda: http.get(f"{CHART}?{window}", headers=headers)),
        ("export (window)", lambda: http.get(f"/v1/me/export?{window}", headers=headers)),
    ]:
        ms, status, size = timed(call, repeat)
        print(f"  {name:<25} {ms:8.1f} ms  {status}  {size / 1024:8.0f} KiB")


def simulation(sessions: int, days: int) -> dict[str, object]:
    start = (datetime.now(UTC) - timedelta(days=days)).replace(microsecond=0)
    step = timedelta(days=days) / max(sessions, 1)
    timeline = [
        {
            "type": "session",
            "performed_at": (start + step * n + timedelta(minutes=1)).isoformat(),
            "exercises": [{"exercise": "hip-flexor-ball-release"}],
            "pain_during": 2,
            "pain_after": 2,
        }
        for n in range(sessions)
    ]
    return {
        "protocol": "hip-impingement",
        "baseline_pain": 5,
        "started_at": start.isoformat(),
        "timezone": "UTC",
        "timeline": timeline,
    }


def measure_simulations(http: httpx.Client, items: list[int], days: int, repeat: int) -> None:
    print()
    for count in items:
        body = simulation(count, days)
        ms, status, _ = timed(lambda b=body: http.post("/v1/simulations", json=b), repeat)
        print(f"  simulation {count:>5} sessions over {days} days {ms:8.1f} ms  {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--days", type=int, nargs="*", default=[119])
    parser.add_argument("--items", type=int, nargs="*", default=[300])
    parser.add_argument("--span", type=int, default=119, help="a simulation's days")
    parser.add_argument("--window", type=int, default=10, help="dates of the fullest window")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hipfix-bounds-"))
    if args.db == "postgres":
        from tests.databases import fresh_database

        with fresh_database("postgres", workdir) as url:
            return run(url, workdir, args)
    return run(f"sqlite:///{workdir / 'bounds.db'}", workdir, args)


def run(url: str, workdir: Path, args: argparse.Namespace) -> int:
    env = {"HIPFIX_WRITE_RATE_LIMIT": "", "HIPFIX_LOG_LEVEL": "WARNING"}
    with (
        serving(url, workdir / "server.log", env=env) as server,
        httpx.Client(base_url=server.base, timeout=300) as http,
    ):
        for days in args.days:
            measure_history(http, days, args.repeat, args.window)
        measure_simulations(http, args.items, args.span, args.repeat)
    print(f"\n{os.cpu_count()} cores; log in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
