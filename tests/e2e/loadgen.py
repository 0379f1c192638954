"""A small wrk in a process of its own: keep-alive HTTP/1.1 GETs from N connections, in steps.

    python tests/e2e/loadgen.py --connections 32 --plan \
        '[{"name": "health", "url": "http://127.0.0.1:8000/healthz", "seconds": 5}]'

The steps run back to back, as wrk runs do one after another; it prints a line of JSON when
each starts and when each ends (answers by status, latencies, requests abandoned on purpose,
transport errors). In its own process its event loop and the test's probes never wait for
each other's Python; it needs nothing beyond the venv.

Each connection sends one request at a time and reads the whole answer before the next, as
wrk does. A few requests are abandoned on purpose, as phones do when the user moves on: the
request is sent, then the connection is closed after a moment without reading the answer,
and a new connection is opened. When a step's time is up its connections are closed,
requests in flight included (counted as `unfinished`), as the next step's open.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Tally:
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    abandoned: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    connections_opened: int = 0
    in_flight: int = 0  # sent, not yet answered nor abandoned

    def status(self, code: int, retry_after: bool) -> None:
        key = str(code) if code != 503 or retry_after else "503-without-Retry-After"
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def error(self, error: BaseException) -> None:
        key = type(error).__name__
        self.errors[key] = self.errors.get(key, 0) + 1


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bool]:
    """One answer: its status, whether it had Retry-After, whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    elif status not in (204, 304) and not 100 <= status < 200:
        await reader.read()  # delimited by the end of the connection
        keep_alive = False
    return status, "retry-after" in headers, keep_alive


async def connection(
    host: str, port: int, request: bytes, abandon: float, rng: random.Random, tally: Tally
) -> None:
    """Requests over keep-alive connections until cancelled (the step's end)."""
    while True:
        writer = None
        pending = False  # a request sent and not yet answered on this connection
        try:
            reader, writer = await asyncio.open_connection(host, port)
            tally.connections_opened += 1
            while True:
                started = time.perf_counter()
                writer.write(request)
                pending = True
                tally.in_flight += 1
                if rng.random() < abandon:
                    # Sent, then gone before the answer: the server sees a disconnect.
                    await asyncio.sleep(rng.uniform(0, 0.01))
                    tally.in_flight -= 1
                    tally.abandoned += 1
                    break
                status, retry_after, keep_alive = await read_response(reader)
                pending = False
                tally.in_flight -= 1
                tally.latencies.append(time.perf_counter() - started)
                tally.status(status, retry_after)
                if not keep_alive:
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            if pending:
                tally.in_flight -= 1
            tally.error(e)
            await asyncio.sleep(0.01)  # no busy loop against a server that refuses
        finally:
            # Cancelled at the step's end: what is pending stays counted in `in_flight`.
            if writer is not None:
                writer.transport.abort()  # at once, as a phone that goes away


def _request(url: str, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return parts.hostname or "127.0.0.1", parts.port or 80, request


def _summary(step: dict, tally: Tally, elapsed: float, connections: int) -> dict:
    latencies = sorted(tally.latencies)

    def quantile(q: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 4)

    return {
        "step": step["name"],
        "url": step["url"],
        "seconds": round(elapsed, 3),
        "connections": connections,
        "responses": len(latencies),
        "per_second": round(len(latencies) / elapsed, 1),
        "statuses": tally.statuses,
        "abandoned": tally.abandoned,
        "unfinished": tally.in_flight,  # sent and not answered when the time was up
        "errors": tally.errors,
        "connections_opened": tally.connections_opened,
        "p50": quantile(0.5),
        "p99": quantile(0.99),
        "max": round(latencies[-1], 4) if latencies else None,
    }


def _emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def run(plan: list[dict], connections: int, abandon: float, seed: int) -> None:
    """The steps back to back, as wrk runs one after another: a step's connections are
    closed (requests in flight included) in the same moment the next step's open. A line
    of JSON when each step starts and when it ends."""
    rng = random.Random(seed)
    closing: list[asyncio.Task] = []
    for step in plan:
        host, port, request = _request(step["url"], step.get("headers", {}))
        tally = Tally()
        tasks = [
            asyncio.create_task(connection(host, port, request, abandon, rng, tally))
            for _ in range(connections)
        ]
        started = time.perf_counter()
        _emit({"event": "start", "step": step["name"]})
        await asyncio.sleep(step["seconds"])
        for task in tasks:
            task.cancel()  # each aborts its connection when it next runs
        elapsed = time.perf_counter() - started
        closing += tasks
        _emit({"event": "done", **_summary(step, tally, elapsed, connections)})
    await asyncio.gather(*closing, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--plan",
        required=True,
        help='JSON: [{"name": ..., "url": ..., "seconds": ..., "headers": {...}}, ...]',
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--abandon", type=float, default=0.01, help="share of requests dropped")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import uvloop  # the app's own dependency: a faster loop leaves the server more CPU
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        runner.run(run(json.loads(args.plan), args.connections, args.abandon, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
