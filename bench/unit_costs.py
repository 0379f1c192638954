"""What a unit of work costs before the service's own work: each piece timed alone.

    .venv/bin/python bench/unit_costs.py

On a fresh migrated SQLite file, in-process, one thread at a time: the unit of work around
nothing, its Session's connection (pool checkout, BEGIN, ROLLBACK, return), a statement
through it, the same through a bare SQLAlchemy Connection and a raw DBAPI cursor, and the
hop to a worker thread and back (`Database.read`, as every request makes it). Mean µs per
call over 3,000 calls after 200 to warm up. bench/RESULTS.md uses it to say where a read's
time goes besides FastAPI's.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CALLS = 3_000


def timed(name: str, call: Callable[[], Any]) -> None:
    for _ in range(200):
        call()
    started = time.perf_counter()
    for _ in range(CALLS):
        call()
    print(f"{name:<52} {(time.perf_counter() - started) / CALLS * 1e6:7.1f} µs")


async def timed_async(name: str, call: Callable[[], Any]) -> None:
    for _ in range(200):
        await call()
    started = time.perf_counter()
    for _ in range(CALLS):
        await call()
    print(f"{name:<52} {(time.perf_counter() - started) / CALLS * 1e6:7.1f} µs")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="hipfix-unit-costs-"))
    url = f"sqlite:///{workdir / 'costs.db'}"
    os.environ["HIPFIX_DATABASE_URL"] = url
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "hipfix"), "migrate"], check=True, capture_output=True
    )
    sys.path.insert(0, str(ROOT))
    from app.core.caches import Caches
    from app.core.db import Database, build_engine

    engine = build_engine(url)
    db = Database(engine, threads=2, caches=Caches())

    def select_one(session: Any) -> Any:
        return session.connection().exec_driver_sql("SELECT 1").first()

    timed("unit of work around nothing", lambda: db._unit(False, lambda _s: None))
    timed("unit of work: its connection", lambda: db._unit(False, lambda s: s.connection()))
    timed("unit of work: one statement", lambda: db._unit(False, select_one))
    with engine.connect() as connection:
        timed(
            "SQLAlchemy Connection: one statement (no unit)",
            lambda: connection.exec_driver_sql("SELECT 1").first(),
        )
    raw = engine.raw_connection()

    def on_cursor() -> None:
        cursor = raw.dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchone()
        cursor.close()

    timed("raw DBAPI cursor: one statement", on_cursor)
    raw.close()

    async def hops() -> None:
        loop = asyncio.get_running_loop()
        await timed_async(
            "thread hop: run_in_executor round trip",
            lambda: loop.run_in_executor(None, lambda: None),
        )
        await timed_async("Database.read(nothing): hop and unit", lambda: db.read(lambda _s: None))

    asyncio.run(hops())
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
