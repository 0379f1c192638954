"""Seed a migrated HipFix database with clients and their daily histories, in-process.

Run with HIPFIX_DATABASE_URL set (the app reads it on import):

    HIPFIX_DATABASE_URL=sqlite:////tmp/x.db .venv/bin/python bench/seed.py \
        --group main:64:30 --group long:16:730 --out seeded.json

Each `--group NAME:COUNT:DAYS` makes COUNT client accounts (e-mail `NAME-<i>@bench.hipfix.dev`,
password PASSWORD), each enrolled DAYS days ago (baseline pain 6, zone Europe/London), with
one exercise session (ball release + stretch) and one `rest` pain log on every past date and
nothing today. The rows are the app's own:

- accounts go through `accounts.service.create_account` (with one Argon2 hash computed once
  and reused: hashing 1,000 times would only measure Argon2);
- enrolments through `tracking.service.create_enrollment`;
- the history's rows are built like the create services build them (same body hashes),
  inserted in bulk, then `progression.replay.reevaluate` replays the whole timeline once,
  storing checkpoints and decisions exactly as the app does after a backfill.

The pain pattern keeps every client `progressing` (no referral, no flare, not resolved):
6 for two weeks, 5 until day 42, then 3 and 4 on alternate days.
"""

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.schemas import AccountCreate
from app.core.caches import Caches
from app.core.db import Database, get_engine
from app.core.fingerprint import body_hash
from app.core.security import Principal, hash_password
from app.models import Account, Client, ExerciseSession, PainLog
from app.progression import plans, replay
from app.progression.model import position_of
from app.progression.timeline import enrolled_entry
from app.tracking import service as tracking
from app.tracking.schemas import (
    EnrollmentCreate,
    PainLogCreate,
    SessionCreate,
    SessionExercise,
)

PASSWORD = "bench-password-0123"
TIMEZONE = "Europe/London"
BASELINE = 6
EXERCISES = [
    {"exercise": "hip-flexor-ball-release", "duration_seconds": 90},
    {"exercise": "hip-flexor-stretch", "sets": 3, "hold_seconds": 30},
]


def pain_of(day: int) -> int:
    """Falls by 2+ points within 12 weeks (no `refer.no-progress`), stays above 1."""
    return 6 if day < 14 else 5 if day < 42 else 3 + day % 2


def history_rows(
    principal: Principal, client: Client, enrollment: Any, start: datetime, days: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sessions: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    exercises = [SessionExercise.model_validate(e) for e in EXERCISES]
    for day in range(days):
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=day)
        performed_at = midnight + timedelta(hours=18)
        payload = SessionCreate(performed_at=performed_at, exercises=exercises)
        sessions.append(
            ExerciseSession(
                id=uuid.uuid4(),
                client_id=client.id,
                enrollment_id=enrollment.id,
                performed_at=performed_at,
                exercises=[e.model_dump(mode="json", exclude_none=True) for e in exercises],
                pain_during=None,
                pain_after=None,
                side=payload.side,
                note=None,
                body_hash=body_hash(payload),
                created_by=principal.id,
                actor_role=principal.role,
                actor_key_id=None,
            ).model_dump()
        )
        pain = PainLogCreate(
            score=pain_of(day),
            context="rest",
            recorded_at=midnight + timedelta(hours=8),
            side="right",
            location="groin",
        )
        log = tracking._new_pain_log(principal, client, enrollment, pain, body_hash(pain))
        logs.append(log.model_dump())
    return sessions, logs


def seed_client(session: Session, email: str, days: int, now: datetime, password_hash: str) -> None:
    signed_up = accounts.create_account(
        session,
        AccountCreate(
            email=email,
            password=PASSWORD,
            display_name=email.split("@")[0],
            role="client",
            timezone=TIMEZONE,
        ),
        password_hash,
        "http://127.0.0.1/unused",  # a mail only for an e-mail already registered: never here
    )
    public = signed_up.account
    account = session.get(Account, public.id)
    client = session.get(Client, public.client_id)
    assert account is not None
    assert client is not None
    principal = Principal(account=account, credential_id=uuid.uuid4())
    # Enrolled at 06:00 UTC `days` dates ago: the first pain log (08:00) is after it.
    start = (now - timedelta(days=days)).replace(hour=6, minute=0, second=0, microsecond=0)
    tracking.create_enrollment(
        session,
        principal,
        client,
        EnrollmentCreate(protocol="hip-impingement", baseline_pain=BASELINE, started_at=start),
    )
    enrollment = plans.active_enrollment(session, client)
    assert enrollment is not None
    sessions, logs = history_rows(principal, client, enrollment, start, days)
    if sessions:
        session.execute(insert(ExerciseSession), sessions)
        session.execute(insert(PainLog), logs)
        start_position = position_of(enrolled_entry(enrollment))
        replay.reevaluate(session, enrollment, client, start_position, actor=principal.actor)
    session.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--group", action="append", required=True, help="NAME:COUNT:DAYS (repeatable)"
    )
    parser.add_argument("--out", help="write {group: [e-mails]} here as JSON")
    args = parser.parse_args(argv)

    # One real Argon2 hash of PASSWORD, reused: signing in over HTTP verifies it for real.
    shared_hash = hash_password(PASSWORD)

    now = datetime.now(UTC)
    seeded: dict[str, list[str]] = {}
    started = time.perf_counter()
    # A session as a unit of work's (with the app's caches), committed by this script.
    with Database(get_engine(), threads=1, caches=Caches()).session(write=True) as session:
        for spec in args.group:
            name, count, days = spec.split(":")
            emails = [f"{name}-{i}@bench.hipfix.dev" for i in range(int(count))]
            for email in emails:
                seed_client(session, email, int(days), now, shared_hash)
            seeded[name] = emails
            rows = int(count) * int(days) * 2
            print(
                f"seed: {name}: {count} clients x {days} days ({rows} rows) "
                f"at {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
    if args.out:
        Path(args.out).write_text(json.dumps(seeded), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
