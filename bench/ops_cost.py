"""What the per-request operations work costs in CPU, measured in one process without a
server: a trivial ASGI app called directly, bare and behind `RequestLog` (request id, one
histogram observation, one log line written through HipFix's handler to /dev/null), in
alternating blocks. The difference is the microseconds each request pays; bench/RESULTS.md
("Issue #24") sets it against a request's whole cost. Tracing off adds nothing to measure: no
OpenTelemetry module is imported, and a unit of work tests one attribute.

    .venv/bin/python bench/ops_cost.py [--requests 20000] [--blocks 7] [--format text|json]
"""

import argparse
import asyncio
import logging
import logging.config
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.logs import install, log_config
from app.core.request_log import RequestLog

_BODY = {"type": "http.response.body", "body": b"{}"}


class _Route:
    path = "/v1/clients/{client_id}/progress"


_ROUTE = _Route()


async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope["route"] = _ROUTE  # as the router leaves it
    # A fresh message each time, as a response makes it (the middleware adds a header to it).
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send(_BODY)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(_: dict[str, Any]) -> None:
    return None


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/v1/clients/me/progress",
        "headers": [(b"host", b"x"), (b"authorization", b"Bearer hft_" + b"a" * 43)],
    }


async def _block(app: Any, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await app(_scope(), _receive, _send)
    return (time.perf_counter() - started) / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    logging.config.dictConfig(log_config("INFO", args.format))
    install("INFO", args.format)
    for handler in logging.getLogger("hipfix").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives with the process
    apps = {
        "bare": endpoint,
        "metrics": RequestLog(endpoint, metrics=True, log_requests=False),
        "metrics+log": RequestLog(endpoint, metrics=True, log_requests=True),
    }
    times: dict[str, list[float]] = {name: [] for name in apps}

    async def run() -> None:
        for app in apps.values():  # warm-up
            await _block(app, 1000)
        for _ in range(args.blocks):
            for name, app in apps.items():
                times[name].append(await _block(app, args.requests))

    asyncio.run(run())
    bare = statistics.median(times["bare"])
    for name, each in times.items():
        median = statistics.median(each)
        print(f"{name:12} {median:7.2f} us/request  (+{median - bare:6.2f} us over bare)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
