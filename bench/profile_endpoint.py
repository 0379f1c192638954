"""Where an endpoint's time goes: cProfile of in-process requests, one thread.

    .venv/bin/python bench/profile_endpoint.py progress    # or any name in ENDPOINTS below
    .venv/bin/python bench/profile_endpoint.py pain-log --days 120 --requests 300 --top 40

Builds a temporary SQLite database (migrated, seeded by bench/seed.py), then sends requests
straight to the ASGI app (no sockets, no HTTP parsing: those are the same for the bare app)
with FastAPI's thread-pool hop made inline, so every call of a request is in one thread
and cProfile sees all of it. Prints the mean time per request of the endpoint and of the
bare endpoint measured the same way (their ratio is the ceiling a served ratio can reach),
then the profile's top functions by own time and by cumulative time.
"""

import argparse
import asyncio
import atexit
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PASSWORD = "bench-password-0123"
ENDPOINTS = {
    "protocol": ("GET", "/v1/protocols/hip-impingement"),
    "progress": ("GET", "/v1/clients/me/progress"),
    "today": ("GET", "/v1/clients/me/today"),
    "pain-log": ("POST", "/v1/clients/me/pain-logs"),
    "same-moment": ("POST", "/v1/clients/me/pain-logs"),
    "exercises": ("GET", "/v1/exercises?limit=20"),
    "exercise": ("GET", "/v1/exercises/hip-flexor-stretch"),
    "pain-logs": ("GET", "/v1/clients/me/pain-logs?limit=20"),
    "sessions": ("GET", "/v1/clients/me/sessions?limit=20"),
    "events": ("GET", "/v1/clients/me/events?limit=20"),
    "me": ("GET", "/v1/me"),
    "clients": ("GET", "/v1/clients?limit=20"),  # as a client account: itself
    "bare": ("GET", "/"),
}


async def call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
    """One request through the ASGI app; returns (status, body)."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def inline_threads() -> None:
    """FastAPI runs sync endpoints and dependencies with anyio.to_thread.run_sync: run them
    here instead, so that the profile sees them (cProfile follows one thread)."""
    import anyio.to_thread

    async def run_sync(func, *args, abandon_on_cancel=False, cancellable=None, limiter=None):
        return func(*args)

    anyio.to_thread.run_sync = run_sync

    # Units of work run on the Database's own threads: run them inline too, the same way.
    from app.core.db import Database

    async def run_inline(self, write, work, *args, **kwargs):
        return self._unit(write, work, *args, **kwargs)

    Database._run = run_inline


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("endpoint", choices=sorted(ENDPOINTS))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--days", type=int, default=30, help="history of each client")
    parser.add_argument("--clients", type=int, default=20, help="used in turn")
    parser.add_argument(
        "--others", default="", help="CLIENTS:DAYS of other clients, to fill the tables too"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--callees", help="also print what functions matching this call")
    parser.add_argument("--rounds", type=int, default=9, help="alternating timed blocks")
    parser.add_argument(
        "--database-url",
        help="an empty database to migrate and seed instead of a temporary SQLite file "
        "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/hipfix_profile, created first)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="hipfix-profile-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    url = args.database_url or f"sqlite:///{workdir / 'profile.db'}"
    os.environ["HIPFIX_DATABASE_URL"] = url
    os.environ.setdefault("HIPFIX_LOG_LEVEL", "WARNING")
    # The write limiter runs, so its cost is in the profile, but never refuses: requests here
    # come as fast as the app answers (bench/run.py serves with it off).
    os.environ["HIPFIX_WRITE_RATE_LIMIT"] = "100000/second;1000000/minute"
    subprocess.run([str(BIN / "hipfix"), "migrate"], cwd=ROOT, check=True, capture_output=True)
    groups = ["--group", f"prof:{args.clients}:{args.days}"]
    if args.others:
        groups += ["--group", f"other:{args.others}"]
    subprocess.run(
        [str(BIN / "python"), str(ROOT / "bench" / "seed.py"), *groups],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )

    sys.path.insert(0, str(ROOT))
    inline_threads()
    from app.main import app  # after HIPFIX_DATABASE_URL is set
    from bench.bare_app import app as bare

    loop = asyncio.new_event_loop()

    def request(target: Any, method: str, path: str, headers: dict[str, str], body: bytes):
        return loop.run_until_complete(call(target, method, path, headers, body))

    tokens = []
    for i in range(args.clients):
        form = urlencode({"username": f"prof-{i}@bench.hipfix.dev", "password": PASSWORD})
        status, body = request(
            app,
            "POST",
            "/v1/auth/token",
            {"content-type": "application/x-www-form-urlencoded"},
            form.encode(),
        )
        assert status == 200, body
        tokens.append(json.loads(body)["access_token"])

    method, path = ENDPOINTS[args.endpoint]
    target = bare if args.endpoint == "bare" else app
    # A minute ago, a microsecond later each request (as bench/wrk.lua sends them).
    start = datetime.now(UTC) - timedelta(minutes=1)

    def payload_for(turn: int) -> bytes:
        if method != "POST":
            return b""
        # `same-moment`: one fixed clock reading in every request, as a stuck clock sends.
        step = 0 if args.endpoint == "same-moment" else turn
        moment = (start + timedelta(microseconds=step)).isoformat()
        return json.dumps(
            {"score": 3, "context": "rest", "recorded_at": moment, "side": "right"}
        ).encode()

    turn = 0

    def one(target: Any = target, method: str = method, path: str = path) -> None:
        nonlocal turn
        turn += 1
        headers = {"authorization": f"Bearer {tokens[turn % len(tokens)]}"}
        payload = payload_for(turn) if target is app else b""
        if payload:
            headers["content-type"] = "application/json"
        status, out = request(target, method, path, headers, payload)
        assert status < 300, (status, out[:500])

    for _ in range(30):
        one()
        one(bare, "GET", "/")

    def mean_us(send: Any, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            send()
        return (time.perf_counter() - started) / count * 1e6

    # Alternating blocks, medians: this machine's speed drifts within seconds.
    block = max(args.requests // args.rounds, 1)
    pairs = [
        (mean_us(lambda: one(bare, "GET", "/"), block), mean_us(one, block))
        for _ in range(args.rounds)
    ]
    bare_us = statistics.median(b for b, _ in pairs)
    app_us = statistics.median(a for _, a in pairs)
    ratio = statistics.median(b / a for b, a in pairs)
    status, out = request(
        target,
        method,
        path,
        {"authorization": f"Bearer {tokens[0]}", "content-type": "application/json"},
        payload_for(turn + 1),
    )
    print(f"{method} {path}: {app_us:.0f} µs per request in-process ({len(out)} bytes out)")
    print(f"bare GET /: {bare_us:.0f} µs per request in-process")
    print(f"in-process ratio (bare time / endpoint time, median of {args.rounds}): {ratio:.3f}\n")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        one()
    profiler.disable()
    for key in ("tottime", "cumulative"):
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats(key).print_stats(args.top)
        print(f"--- by {key} ({args.requests} requests) ---")
        print(text.getvalue().strip("\n"), "\n")
    if args.callees:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_callees(args.callees)
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
