"""What a webhook subscription costs a pain-log POST, and how fast deliveries go out.

    .venv/bin/python bench/webhooks.py                 # defaults: 5 rounds of 200 POSTs each
    .venv/bin/python bench/webhooks.py --rounds 7 --requests 300 --deliveries 2000

1. In process, like bench/profile_endpoint.py (requests straight to the ASGI app, units of
   work inline): a coach with managed clients, enrolled. Blocks of pain-log POSTs alternate
   between "without" (the coach's endpoint disabled: nobody subscribes) and "with" (enabled,
   subscribed to every event type), in two kinds: pain logs that make no decision (the
   common case), and POSTs that each make a decision and so write an outbox row when
   subscribed. Medians over the rounds; the cost is the median of with / without - 1.
2. Served: the outbox filled with pending deliveries, then `hipfix serve` with its worker
   on the same database and a receiver on loopback (a threaded http.server, keep-alive):
   deliveries per second from the first arrival to the last.
"""

import argparse
import asyncio
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))

from bench.profile_endpoint import call, inline_threads  # noqa: E402

PASSWORD = "bench-password-0123"


class Counting:
    """A receiver that answers 204 and notes when each delivery arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        counting = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()
                counting.arrivals.append(time.perf_counter())

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops a batch's connections (SYN retries)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating pairs of blocks")
    parser.add_argument("--requests", type=int, default=200, help="POSTs per block")
    parser.add_argument("--clients", type=int, default=40, help="a day holds 100 items each")
    parser.add_argument("--deliveries", type=int, default=2000, help="at least, for part 2")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="hipfix-webhooks-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    url = f"sqlite:///{workdir / 'bench.db'}"
    os.environ.update(
        HIPFIX_DATABASE_URL=url,
        HIPFIX_LOG_LEVEL="WARNING",
        HIPFIX_WRITE_RATE_LIMIT="",
        HIPFIX_WEBHOOKS_WORKER="false",
        HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS="true",
    )
    subprocess.run([str(BIN / "hipfix"), "migrate"], cwd=ROOT, check=True, capture_output=True)
    receiver = Counting()

    inline_threads()
    from app.main import app

    loop = asyncio.new_event_loop()

    def request(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        raw = json.dumps(body).encode() if body is not None else b""
        if path == "/v1/auth/token":
            headers["content-type"] = "application/x-www-form-urlencoded"
            raw = urlencode(body).encode()
        status, out = loop.run_until_complete(call(app, method, path, headers, raw))
        assert status < 300, (status, out[:300])
        return json.loads(out) if out else None

    email = "coach@bench.hipfix.dev"
    request(
        "POST",
        "/v1/accounts",
        {
            "email": email,
            "password": PASSWORD,
            "display_name": "Coach",
            "role": "coach",
            "timezone": "UTC",
        },
    )
    token = request("POST", "/v1/auth/token", {"username": email, "password": PASSWORD})[
        "access_token"
    ]
    start = datetime.now(UTC) - timedelta(days=60)
    clients = []
    for index in range(args.clients):
        made = request(
            "POST", "/v1/clients", {"display_name": f"C{index}", "timezone": "UTC"}, token
        )
        request(
            "POST",
            f"/v1/clients/{made['id']}/enrollments",
            {"protocol": "hip-impingement", "baseline_pain": 5, "started_at": start.isoformat()},
            token,
        )
        clients.append(made["id"])
    all_types = [
        "enrolled",
        "stage_unlocked",
        "flare",
        "referral",
        "referral_cleared",
        "resolved",
        "relapse",
        "decision_retracted",
    ]
    endpoint = request(
        "POST", "/v1/webhook-endpoints", {"url": receiver.url, "event_types": all_types}, token
    )

    turn = 0
    referred: set[str] = set()

    def post(decides: bool) -> None:
        """One POST for the next client. `decides`: one that makes a decision every time (a
        red flag while not referred, then the coach clearing the referral, in turn)."""
        nonlocal turn
        turn += 1
        client = clients[turn % len(clients)]
        # Each client's items move forward 15 minutes a turn: appends, under the day cap.
        moment = start + timedelta(minutes=15 * (turn // len(clients)) + 1)
        if decides:
            # Overrides happen now: the logs that alternate with them are at now too.
            moment = datetime.now(UTC)
            if client in referred:
                referred.discard(client)
                clear = {"action": "clear_referral", "reason": "Seen"}
                request("POST", f"/v1/clients/{client}/overrides", clear, token)
                return
            referred.add(client)
        body: dict[str, Any] = {
            "score": 5,
            "context": "rest",
            "side": "right",
            "recorded_at": moment.isoformat(),
        }
        if decides:
            body["flags"] = ["night_pain"]
        request("POST", f"/v1/clients/{client}/pain-logs", body, token)

    def subscribed(on: bool) -> None:
        request("PATCH", f"/v1/webhook-endpoints/{endpoint['id']}", {"enabled": on}, token)

    def block_us(decides: bool) -> float:
        started = time.perf_counter()
        for _ in range(args.requests):
            post(decides)
        return (time.perf_counter() - started) / args.requests * 1e6

    print(f"{args.clients} managed clients of one coach, SQLite, in process")
    kinds = (
        (False, "pain-log POST, no decision (the common case)"),
        (True, "POST making a decision (red-flag log / clear_referral override in turn)"),
    )
    for decides, kind in kinds:
        for _ in range(2 * len(clients)):  # warm up
            post(decides)
        pairs = []
        for _ in range(args.rounds):
            subscribed(False)
            without = block_us(decides)
            subscribed(True)
            pairs.append((without, block_us(decides)))
        without_us = statistics.median(w for w, _ in pairs)
        with_us = statistics.median(w for _, w in pairs)
        cost = statistics.median(w / o - 1 for o, w in pairs)
        print(
            f"{kind}: without {without_us:.0f} µs, with {with_us:.0f} µs, "
            f"cost {cost * 100:+.1f} % (median of {args.rounds} paired blocks of "
            f"{args.requests})"
        )
    # Part 2: the outbox filled up to --deliveries, then a served process sends them.
    from sqlmodel import col, select

    from app.models import WebhookDelivery
    from app.webhooks import outbox

    pending = col(WebhookDelivery.status) == "pending"

    def fill(session: Any) -> int:
        count = len(session.exec(select(WebhookDelivery.id).where(pending)).all())
        for _ in range(max(args.deliveries - count, 0)):
            outbox.add_deliveries(
                session, [uuid.UUID(endpoint["id"])], "referral", {"bench": True}, client_id=None
            )
        return len(session.exec(select(WebhookDelivery.id).where(pending)).all())

    listed = loop.run_until_complete(app.state.database.write(fill))
    loop.close()

    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [str(BIN / "hipfix"), "serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "HIPFIX_WEBHOOKS_WORKER": "true", "HIPFIX_WEBHOOKS_POLL_SECONDS": "0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while len(receiver.arrivals) < listed:
            assert time.monotonic() < deadline, f"{len(receiver.arrivals)} of {listed} arrived"
            assert server.poll() is None, "the server stopped"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/healthz").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    seconds = receiver.arrivals[-1] - receiver.arrivals[0]
    print(
        f"deliveries: {listed} sent by one served process (SQLite) to a loopback receiver in "
        f"{seconds:.2f} s from first to last arrival: {(listed - 1) / seconds:.0f} per second"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
