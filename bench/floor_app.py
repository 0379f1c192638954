"""The floor under item 5: what a read costs served when it must leave the event loop.

Each endpoint adds one piece of HipFix's one path to the bare endpoint (bench/bare_app.py),
so `bench/floor.py` can say how far any route on that path can get, whatever it does:

    /             the bare endpoint
    /executor     a no-op on a worker thread through `loop.run_in_executor`, behind an
                  admission semaphore (the hop before app/core/db/lanes.py)
    /lane         a no-op on one of a `Lane`'s threads (the hop every unit of work takes)
    /lane-raw     the lane and one primary-key SELECT on a raw sqlite3 connection kept by
                  the thread (no SQLAlchemy, no transaction)
    /lane-unit    HipFix's `Database.read` of that SELECT: the lane, a Session, its pooled
                  connection, BEGIN, the statement, ROLLBACK
    /loop-raw     the SELECT on the event loop itself (what item 5 forbids), for scale
    /clients/me/progress-shaped
                  progress's route as HipFix declares it (the client in the path, the bearer
                  secret, the router's prefix) answering a kept body after a no-op on the
                  lane: what progress could reach if its unit of work cost nothing
    /clients/me/pain-logs-shaped (GET)
                  the pain-log list's route answering a page of 20 logs built on the lane
                  from rows kept in memory (each made a PainLogPublic and serialised, as the
                  list's service does): a list's bound with no statement run
    /clients/me/pain-logs-shaped (POST)
                  the pain-log POST's route (body validated as PainLogCreate, the client and
                  caller as dependencies, Idempotency-Key) with a no-op on the lane and a
                  kept 201 body: the POST's bound with no database, engine or commit

It serves the database named by HIPFIX_DATABASE_URL, a migrated SQLite file (bench/floor.py
makes one).
"""

import asyncio
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from sqlmodel import Session

from app.accounts.access import ClientRef
from app.core.caches import Caches
from app.core.config import get_settings
from app.core.db import Database, build_engine
from app.core.db.lanes import Lane
from app.core.idempotency import IdempotencyKey
from app.core.responses import json_response
from app.core.security import BearerSecret
from app.tracking.schemas import PainLogCreate, PainLogPage, PainLogPublic

THREADS = 2  # HipFix's default on SQLite
SELECT = "SELECT slug, version FROM exercise WHERE slug = ?"

settings = get_settings()
path = settings.database_url.removeprefix("sqlite:///")
database = Database(build_engine(settings.database_url), threads=THREADS, caches=Caches())
lane = Lane("floor", THREADS, admission_seconds=1)
executor = ThreadPoolExecutor(THREADS)
slots: asyncio.Semaphore | None = None
kept = threading.local()
loop_connection = sqlite3.connect(path, check_same_thread=False)
SLUG = loop_connection.execute("SELECT slug FROM exercise LIMIT 1").fetchone()[0]

app = FastAPI()


def _raw() -> Any:
    connection = getattr(kept, "connection", None)
    if connection is None:
        connection = kept.connection = sqlite3.connect(path)
    return connection.execute(SELECT, (SLUG,)).fetchone()


def _unit(session: Session) -> Any:
    return session.connection().exec_driver_sql(SELECT, (SLUG,)).first()


@app.get("/")
async def bare() -> dict[str, bool]:
    return {"ok": True}


@app.get("/executor")
async def through_executor() -> dict[str, bool]:
    global slots
    if slots is None:
        slots = asyncio.Semaphore(THREADS)
    async with slots:
        await asyncio.get_running_loop().run_in_executor(executor, lambda: None)
    return {"ok": True}


@app.get("/lane")
async def through_lane() -> dict[str, bool]:
    await lane.run(lambda: None)
    return {"ok": True}


@app.get("/lane-raw")
async def lane_raw() -> dict[str, bool]:
    await lane.run(_raw)
    return {"ok": True}


@app.get("/lane-unit")
async def lane_unit() -> dict[str, bool]:
    await database.read(_unit)
    return {"ok": True}


@app.get("/loop-raw")
async def loop_raw() -> dict[str, bool]:
    loop_connection.execute(SELECT, (SLUG,)).fetchone()
    return {"ok": True}


# A body of progress's size (about 1.7 kB), made once.
KEPT = b'{"status":"progressing",' + b'"x":"' + b"." * 1700 + b'"}'
shaped = APIRouter(prefix="/v1")


@shaped.get("/clients/{client_id}/progress-shaped")
async def progress_shaped(client_id: ClientRef, secret: BearerSecret) -> Response:
    await lane.run(lambda: None)
    return Response(KEPT, media_type="application/json")


@shaped.post("/clients/{client_id}/pain-logs-shaped", status_code=201)
async def pain_log_shaped(
    client_id: ClientRef,
    secret: BearerSecret,
    payload: PainLogCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    await lane.run(lambda: None)
    return Response(payload.model_dump_json().encode(), 201, media_type="application/json")


# Twenty rows as a query returns them (driver types): what the list's service turns into its
# page.
_ROW = {
    "id": uuid.UUID("0b6f2f1e-8a7c-4a49-9d0e-3c1c8f7d9a10"),
    "client_id": uuid.UUID("5f0c7a8e-1d2b-4c3a-9e8f-7a6b5c4d3e2f"),
    "enrollment_id": uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
    "session_id": None,
    "score": 4,
    "context": "rest",
    "recorded_at": datetime(2026, 11, 20, 7, 30, tzinfo=UTC),
    "side": "right",
    "location": None,
    "flags": [],
    "note": None,
    "created_at": datetime(2026, 11, 20, 7, 30, 1, tzinfo=UTC),
    "actor": {"role": "client", "account_id": None, "api_key_id": None},
}
ROWS = [_ROW] * 20


def _page() -> PainLogPage:
    return PainLogPage(items=[PainLogPublic.model_validate(row) for row in ROWS], next_cursor=None)


@shaped.get("/clients/{client_id}/pain-logs-shaped")
async def pain_logs_shaped(client_id: ClientRef, secret: BearerSecret) -> Response:
    return json_response(await lane.run(_page))


app.include_router(shaped)
