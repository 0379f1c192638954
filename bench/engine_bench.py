"""The progression engine alone: evaluations per second of a whole timeline, in-process.

    .venv/bin/python bench/engine_bench.py --seconds 5

A generated timeline (one session and one pain log per local date, bench/seed.py's pain
pattern) evaluated from enrolment with `engine.evaluate` in a loop: sorting by position
(a SHA-1 per item) and every rule per item, as a full replay after a backfill does. The
Plan is built like tests/unit/test_engine.py's `make_plan`. Prints JSON.
"""

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.content.files import read_protocols
from app.progression import engine
from app.progression.model import Item, PainEntry, Plan, SessionEntry, StageSpec
from app.progression.params import ProgressionParams

BALL, STRETCH = "hip-flexor-ball-release", "hip-flexor-stretch"


def make_plan(started_at: datetime, timezone: str = "Europe/London", baseline: int = 6) -> Plan:
    protocol = next(p for p in read_protocols() if p.slug == "hip-impingement")
    stages = tuple(
        StageSpec(s.order, s.slug, s.title, s.unlock.by, s.unlock.rule, tuple(s.exercises))
        for s in protocol.stages
    )
    return Plan(
        enrollment_id="enrollment-1",
        protocol=protocol.slug,
        version=protocol.version,
        title=protocol.title,
        stages=stages,
        params=ProgressionParams.model_validate(protocol.params.model_dump()),
        timezone=timezone,
        started_at=started_at,
        baseline_pain=baseline,
    )


def pain_of(day: int) -> int:  # bench/seed.py's pattern
    return 6 if day < 14 else 5 if day < 42 else 3 + day % 2


def timeline(start: datetime, days: int) -> list[Item]:
    items: list[Item] = []
    for day in range(days):
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=day)
        items.append(SessionEntry(f"s{day}", midnight + timedelta(hours=18), (BALL, STRETCH)))
        items.append(PainEntry(f"p{day}", midnight + timedelta(hours=8), pain_of(day), "rest"))
    return items


def measure(days: int, seconds: float) -> dict[str, float]:
    start = (datetime.now(UTC) - timedelta(days=days)).replace(hour=6, minute=0)
    plan = make_plan(start)
    items = timeline(start, days)
    engine.evaluate(plan, items)  # warm caches (zone, imports)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        engine.evaluate(plan, items)
        times.append(time.perf_counter() - t0)
    per = statistics.median(times)
    return {
        "days": days,
        "items": len(items),
        "evaluations": len(times),
        "per_second": 1 / per,
        "ms": per * 1000,
        "us_per_item": per / len(items) * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="per timeline")
    args = parser.parse_args()
    result = {"timelines": [measure(days, args.seconds) for days in (365, 10)]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
