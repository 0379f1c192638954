"""The peer: what a user who wants a fast FastAPI service on PostgreSQL would write, shaped
after the FastAPI entries of the TechEmpower Framework Benchmarks (one on raw asyncpg, one on
SQLAlchemy's async ORM), written here from their idea.

    GET /json                       the ceiling: a constant JSON object
    GET /raw/db, /orm/db            one `world` row by a random primary key
    GET /raw/fortunes, /orm/...     every `fortune` row plus one added in the request,
                                    sorted by message, rendered as an HTML table
    GET /raw/updates?queries=1      read `queries` random `world` rows, give each a new
        /orm/updates?queries=1      random number, write them back, answer them

Served like HipFix (`bench/run.py` does this):

    PEER_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/hipfix_bench_peer \\
        .venv/bin/uvicorn bench.peer_app:app --loop uvloop --http httptools --workers 1

At start it creates and fills its two tables if they are missing (10,000 worlds, 12
fortunes), so a fresh empty database is all it needs.
"""

import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jinja2
from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

URL = os.environ.get("PEER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/hipfix_bench_peer")
POOL = int(os.environ.get("PEER_POOL", "32"))  # connections per driver, as many as wrk's
WORLDS = 10_000

FORTUNES = [
    "A journey of a thousand miles begins with a single stretch.",
    "Rest is part of the protocol.",
    "fortune: No such file or directory",
    "Pain that lingers past a day is a message, not a failure.",
    "Computers make very fast, very accurate mistakes.",
    "<script>alert('this should be escaped');</script>",
    "The hip remembers what the calendar forgets.",
    "A benchmark measured once is an anecdote.",
    "Any program that runs right is obsolete.",
    "フレームワークのベンチマーク",
    "Feature: a bug with seniority.",
    "Slow is smooth, smooth is fast.",
]

TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    "<tr><th>id</th><th>message</th></tr>"
    "{% for id, message in fortunes %}<tr><td>{{ id }}</td><td>{{ message }}</td></tr>"
    "{% endfor %}</table></body></html>"
)


class Base(DeclarativeBase):
    pass


class World(Base):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    randomnumber: Mapped[int] = mapped_column(Integer)


class Fortune(Base):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message: Mapped[str] = mapped_column(String(2048))


async def _fill(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS world (id integer PRIMARY KEY, randomnumber integer "
            "NOT NULL); CREATE TABLE IF NOT EXISTS fortune (id integer PRIMARY KEY, "
            "message varchar(2048) NOT NULL)"
        )
        if not await conn.fetchval("SELECT count(*) FROM world"):
            await conn.executemany(
                "INSERT INTO world (id, randomnumber) VALUES ($1, $2)",
                [(i, random.randint(1, WORLDS)) for i in range(1, WORLDS + 1)],
            )
        if not await conn.fetchval("SELECT count(*) FROM fortune"):
            await conn.executemany(
                "INSERT INTO fortune (id, message) VALUES ($1, $2)",
                list(enumerate(FORTUNES, start=1)),
            )


state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(URL, min_size=POOL // 2, max_size=POOL)
    await _fill(pool)
    engine = create_async_engine(
        URL.replace("postgresql://", "postgresql+asyncpg://"),
        pool_size=POOL // 2,
        max_overflow=POOL - POOL // 2,
    )
    state["pool"] = pool
    state["sessions"] = async_sessionmaker(engine, expire_on_commit=False)
    yield
    await pool.close()
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


def _random_id() -> int:
    return random.randint(1, WORLDS)


def _count(queries: str) -> int:
    # TechEmpower's rule: not a number or below 1 is 1, above 500 is 500.
    try:
        return min(max(int(queries), 1), 500)
    except ValueError:
        return 1


def _fortunes_page(rows: list[tuple[int, str]]) -> HTMLResponse:
    rows.append((0, "Additional fortune added at request time."))
    rows.sort(key=lambda row: row[1])
    return HTMLResponse(TEMPLATE.render(fortunes=rows))


@app.get("/json")
async def json_ceiling() -> dict[str, str]:
    return {"message": "Hello, World!"}


# --- raw asyncpg ------------------------------------------------------------------------------


@app.get("/raw/db")
async def raw_db() -> dict[str, int]:
    key = _random_id()
    async with state["pool"].acquire() as conn:
        number = await conn.fetchval("SELECT randomnumber FROM world WHERE id = $1", key)
    return {"id": key, "randomNumber": number}


@app.get("/raw/fortunes")
async def raw_fortunes() -> HTMLResponse:
    async with state["pool"].acquire() as conn:
        rows = [tuple(row) for row in await conn.fetch("SELECT id, message FROM fortune")]
    return _fortunes_page(rows)


@app.get("/raw/updates")
async def raw_updates(queries: str = Query("1")) -> list[dict[str, int]]:
    keys = sorted(_random_id() for _ in range(_count(queries)))  # sorted: no deadlocks
    worlds = []
    async with state["pool"].acquire() as conn:
        statement = await conn.prepare("SELECT randomnumber FROM world WHERE id = $1")
        for key in keys:
            await statement.fetchval(key)
            worlds.append((key, _random_id()))
        await conn.executemany("UPDATE world SET randomnumber = $2 WHERE id = $1", worlds)
    return [{"id": key, "randomNumber": number} for key, number in worlds]


# --- SQLAlchemy's async ORM ---------------------------------------------------------------------


@app.get("/orm/db")
async def orm_db() -> dict[str, int]:
    session: AsyncSession
    async with state["sessions"]() as session:
        world = await session.get(World, _random_id())
        assert world is not None
        return {"id": world.id, "randomNumber": world.randomnumber}


@app.get("/orm/fortunes")
async def orm_fortunes() -> HTMLResponse:
    session: AsyncSession
    async with state["sessions"]() as session:
        fortunes = (await session.scalars(select(Fortune))).all()
        rows = [(fortune.id, fortune.message) for fortune in fortunes]
    return _fortunes_page(rows)


@app.get("/orm/updates")
async def orm_updates(queries: str = Query("1")) -> list[dict[str, int]]:
    keys = sorted(_random_id() for _ in range(_count(queries)))
    session: AsyncSession
    async with state["sessions"]() as session, session.begin():
        worlds = []
        for key in keys:
            world = await session.get(World, key)
            assert world is not None
            world.randomnumber = _random_id()
            worlds.append(world)
    return [{"id": world.id, "randomNumber": world.randomnumber} for world in worlds]
