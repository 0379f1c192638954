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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from sqlmodel import Session

from app.accounts.access import ClientRef
from app.core.caches import Caches
from app.core.config import get_settings
from app.core.db import Database, build_engine
from app.core.db.lanes import Lane
from app.core.idempotency import IdempotencyKey
from app.core.security import BearerSecret
from app.tracking.schemas import PainLogCreate

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


app.include_router(shaped)
