"""How long the pain chart takes to draw: two years of daily pain logs (730 days), with
stage openings, flare holds and a referral, rendered by app/clinical/chart.py in process (no
database, no HTTP: the drawing alone). Prints the median and worst of the runs.

    .venv/bin/python bench/chart.py [--days 730] [--runs 30]

The target (issue #14): under 100 ms for two years. Recorded in bench/RESULTS.md.
"""

import argparse
import random
import statistics
import time
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.clinical.chart import pain_chart
from app.clinical.record import ClinicalRecord
from app.models import Client, EngineEvent, Enrollment, PainLog

PROTOCOL = Path(__file__).parents[1] / "app/content/data/protocols/hip-impingement/v1.toml"


def _record(days: int) -> ClinicalRecord:
    rng = random.Random(14)
    document = tomllib.loads(PROTOCOL.read_text(encoding="utf-8"))
    start = datetime(2024, 1, 1, 8, tzinfo=UTC)
    client = Client(id=uuid.uuid4(), display_name="Bench", timezone="Europe/London", body_hash="")
    enrollment = Enrollment(
        id=uuid.uuid4(),
        client_id=client.id,
        protocol="hip-impingement",
        version=1,
        baseline_pain=6,
        started_at=start,
        params={},
        status="active",
        body_hash="",
        created_by=uuid.uuid4(),
        created_at=start,
    )
    logs = [
        PainLog(
            id=uuid.uuid4(),
            client_id=client.id,
            enrollment_id=enrollment.id,
            score=max(0, min(10, round(6 - 4 * day / days + rng.gauss(0, 1)))),
            context="rest",
            recorded_at=start + timedelta(days=day, hours=1),
            side="right",
            flags=[],
            body_hash="",
            created_by=enrollment.created_by,
            created_at=start + timedelta(days=day, hours=1),
        )
        for day in range(days)
    ]

    def event(day: int, type_: str, stage: str | None = None, **data: object) -> EngineEvent:
        at = start + timedelta(days=day, hours=2)
        return EngineEvent(
            id=uuid.uuid4(),
            client_id=client.id,
            enrollment_id=enrollment.id,
            position=f"{day:06d}",
            type=type_,
            rule=type_,
            at=at,
            local_date=at.date(),
            stage=stage,
            message=type_,
            data=data,
            recorded_at=at,
        )

    events = [
        event(day, "flare", hold_until=str((start + timedelta(days=day + 2)).date()))
        for day in range(30, days, 45)
    ]
    events += [
        event(60, "stage_unlocked", "ankle-and-foot"),
        event(200, "stage_unlocked", "hamstrings-last-resort"),
    ]
    events += [event(400, "referral"), event(420, "referral_cleared")]
    events.sort(key=lambda e: e.at)
    return ClinicalRecord(
        client=client,
        enrollments=[enrollment],
        documents={("hip-impingement", 1): document},
        pain_logs=logs,
        events=events,
        overrides=[],
        generated_at=start + timedelta(days=days),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    record = _record(args.days)
    size = len(pain_chart(record, None, None))  # the first run warms imports and caches
    times = []
    for _ in range(args.runs):
        began = time.perf_counter()
        pain_chart(record, None, None)
        times.append((time.perf_counter() - began) * 1000)
    median = statistics.median(times)
    print(
        f"pain chart, {args.days} days, {args.runs} runs: median {median:.1f} ms, "
        f"worst {max(times):.1f} ms, {size / 1024:.0f} KiB of SVG"
    )


if __name__ == "__main__":
    main()
