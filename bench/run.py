"""HipFix's benchmark: the app against a bare FastAPI endpoint, driven by wrk on loopback.

    .venv/bin/python bench/run.py                       # SQLite, 1 worker, every phase
    .venv/bin/python bench/run.py --db postgres --workers 2 --phases main,scale

Phases (see bench/README.md):
  main    every endpoint the issue names (--endpoints: reads, lists of 20, single objects,
          pain-log POST at distinct moments and at one moment), each app run paired with a
          bare run before it, medians of --runs rounds; targets checked (1 worker)
  scale   progress GET and pain-log POST for clients with 10 days vs the longest history
          an enrolment may have (120 days: HISTORY_DAYS in app/core/types.py)
  big     progress GET and pain-log POST on a database of 1,000 clients x 1 year
  engine  the engine alone: evaluations per second of a year of history
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BIN = ROOT / ".venv" / "bin"
LUA = BENCH / "wrk.lua"
PASSWORD = "bench-password-0123"  # bench/seed.py's
TIMEZONE = "Europe/London"  # bench/seed.py's
LOG_LEVEL = os.environ.get("HIPFIX_LOG_LEVEL", "INFO")

PROTOCOL = "/v1/protocols/hip-impingement"
PROGRESS = "/v1/clients/me/progress"
TODAY = "/v1/clients/me/today"
PAIN_LOGS = "/v1/clients/me/pain-logs"

LIST = 20  # items per page of the lists measured


@dataclass(frozen=True)
class Endpoint:
    """One row of the main phase. `pool` is whose tokens wrk sends: `reads` (the 30-day
    clients), `coaches` (coaches managing ≥ LIST clients each), `post`/`same` (fresh clients
    per round), or None (public). `target` is the ratio to bare required on SQLite."""

    name: str  # for --endpoints, and the key in --json
    method: str
    path: str
    pool: str | None
    target: float | None
    page: bool = False  # a list: the probe counts its items
    server: str = "app"  # or "peer": bench/peer_app.py (PostgreSQL only)


ENDPOINTS = [
    Endpoint("protocol", "GET", PROTOCOL, None, 0.7),
    Endpoint("exercise", "GET", "/v1/exercises/hip-flexor-stretch", None, 0.5),
    Endpoint("me", "GET", "/v1/me", "reads", 0.5),
    Endpoint("progress", "GET", PROGRESS, "reads", 0.4),
    Endpoint("today", "GET", TODAY, "reads", 0.4),
    Endpoint("exercises", "GET", f"/v1/exercises?limit={LIST}", None, 0.25, page=True),
    Endpoint("pain-logs", "GET", f"{PAIN_LOGS}?limit={LIST}", "reads", 0.25, page=True),
    Endpoint("sessions", "GET", f"/v1/clients/me/sessions?limit={LIST}", "reads", 0.25, True),
    Endpoint("events", "GET", f"/v1/clients/me/events?limit={LIST}", "reads", 0.25, page=True),
    Endpoint("clients", "GET", f"/v1/clients?limit={LIST}", "coaches", 0.25, page=True),
    Endpoint("post", "POST", PAIN_LOGS, "post", 0.25),
    Endpoint("post-same", "POST", PAIN_LOGS, "same", None),
]
# The peer (bench/peer_app.py, PostgreSQL only): TechEmpower's FastAPI entries, raw asyncpg
# and SQLAlchemy's async ORM, served like HipFix. Its /json is the ceiling it names.
PEER_ENDPOINTS = [
    Endpoint("peer-json", "GET", "/json", None, None, server="peer"),
    Endpoint("peer-db-raw", "GET", "/raw/db", None, None, server="peer"),
    Endpoint("peer-db-orm", "GET", "/orm/db", None, None, server="peer"),
    Endpoint("peer-fortunes-raw", "GET", "/raw/fortunes", None, None, server="peer"),
    Endpoint("peer-fortunes-orm", "GET", "/orm/fortunes", None, None, server="peer"),
    Endpoint("peer-updates-raw", "GET", "/raw/updates?queries=1", None, None, server="peer"),
    Endpoint("peer-updates-orm", "GET", "/orm/updates?queries=1", None, None, server="peer"),
]
BY_NAME = {e.name: e for e in ENDPOINTS + PEER_ENDPOINTS}
# Issue 20's targets on PostgreSQL: HipFix's req/s over its peer's, measured in one run.
# (HipFix endpoint, peer endpoint, target); a second row for the same HipFix endpoint is
# a moonshot.
PEER_TARGETS = [
    ("me", "peer-db-orm", 1.0),
    ("me", "peer-db-raw", 0.5),
    ("progress", "peer-db-orm", 1.0),
    ("today", "peer-db-orm", 1.0),
    ("pain-logs", "peer-fortunes-orm", 1.0),
    ("sessions", "peer-fortunes-orm", None),
    ("events", "peer-fortunes-orm", None),
    ("clients", "peer-fortunes-orm", None),
    ("pain-logs", "peer-fortunes-raw", None),
    ("post", "peer-updates-orm", 1.0),
    ("post", "peer-updates-raw", None),
]

# Ratios to the bare endpoint's requests/s, judged with 1 worker (issue 5 and its sequel).
POST_TARGET = {"sqlite": 0.25, "postgres": 0.15}
POST_MOONSHOT = 0.5  # SQLite
PG_READ_TARGET = 0.3  # every read on PostgreSQL
SAME_TARGET = 0.8  # same-moment POST req/s over distinct-moment POST req/s, same round
SCALE_TARGET = 1.3  # progress p50, the longest history / 10 days
# The longest history: enrolments and items are dated at most this far back
# (HISTORY_DAYS, app/core/types.py); the "2 years" predates that bound.
LONG_DAYS = 120


def target_of(endpoint: Endpoint, db: str) -> float | None:
    if endpoint.name == "post-same" or endpoint.server == "peer":
        return None  # judged against the distinct-moment POST, not the bare endpoint
    if endpoint.method == "POST":
        return POST_TARGET[db]
    return endpoint.target if db == "sqlite" else PG_READ_TARGET


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- wrk -----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx/3xx responses plus socket errors
    raw: str = field(repr=False, default="")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    number = text.rstrip("usmh")
    return float(number) * _UNITS[text[len(number) :]]


def parse_wrk(name: str, out: str) -> Run:
    rps = p50 = p99 = 0.0
    requests = bad = 0
    for line in out.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "50%":
            p50 = _ms(words[1])
        elif words[0] == "99%":
            p99 = _ms(words[1])
        elif words[0] == "Requests/sec:":
            rps = float(words[1])
        elif len(words) > 2 and words[1] == "requests" and words[2] == "in":
            requests = int(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            bad += int(words[-1])
        elif words[0] == "Socket" and words[1] == "errors:":
            bad += sum(int(w.rstrip(",")) for w in words[2:] if w.rstrip(",").isdigit())
            log(f"  wrk: {line.strip()}")
    return Run(name, rps, p50, p99, requests, bad, out)


def wrk(
    name: str,
    url: str,
    args: argparse.Namespace,
    *,
    tokens: list[str] | None = None,
    body: str | None = None,
    duration: float | None = None,
) -> Run:
    env = {**os.environ, "BENCH_METHOD": "POST" if body else "GET"}
    env.pop("BENCH_BODY", None)
    if body:
        env["BENCH_BODY"] = body
    env["BENCH_TOKENS"] = ",".join(tokens or [])
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration or args.duration:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    # Let what wrk left in flight finish before the next run: a write still waiting for
    # SQLite's lock (up to its 5 s busy timeout) would otherwise slow the next run down.
    time.sleep(args.settle_post if body else args.settle)
    run = parse_wrk(name, out)
    if run.requests == 0:
        run.bad += 1  # not one answer within the run: every request took longer
    if duration is None:
        warn = f"  ({run.bad} errors!)" if run.bad else ""
        log(f"  {name:<28} {run.rps:8.0f} req/s  p50 {run.p50_ms:7.2f} ms{warn}")
    return run


def pain_body(recorded_at: str = "{now}") -> str:
    # wrk.lua puts a moment a minute ago in place of {now}, a microsecond later each request:
    # in the past, on today's date, after every enrolment, and never two at one moment.
    return json.dumps({"score": 3, "context": "rest", "recorded_at": recorded_at, "side": "right"})


def same_moment_body() -> str:
    """One fixed clock reading, a minute before now, in every request of the run: each new
    log sorts among the logs already stored at that moment."""
    moment = datetime.now(UTC) - timedelta(minutes=1)
    return pain_body(moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


# --- databases and servers -----------------------------------------------------------------


def pg_admin(args: argparse.Namespace, sql: str) -> None:
    import psycopg

    conninfo = args.pg_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql)


def prepare_database(args: argparse.Namespace, workdir: Path, name: str) -> str:
    """A fresh, migrated database; returns its URL."""
    if args.db == "sqlite":
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        db = f"{args.pg_db}_{name}"
        pg_admin(args, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        pg_admin(args, f'CREATE DATABASE "{db}"')
        url = f"{args.pg_url}/{db}"
    env = {**os.environ, "HIPFIX_DATABASE_URL": url}
    subprocess.run(
        [str(BIN / "hipfix"), "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    return url


def drop_database(args: argparse.Namespace, name: str) -> None:
    if args.db == "postgres" and not args.keep:
        pg_admin(args, f'DROP DATABASE IF EXISTS "{args.pg_db}_{name}" WITH (FORCE)')


def seed(url: str, groups: Iterable[tuple[str, int, int]], workdir: Path) -> dict[str, list[str]]:
    out = workdir / "seeded.json"
    command = [str(BIN / "python"), str(BENCH / "seed.py"), "--out", str(out)]
    for name, count, days in groups:
        command += ["--group", f"{name}:{count}:{days}"]
    started = time.perf_counter()
    subprocess.run(command, env={**os.environ, "HIPFIX_DATABASE_URL": url}, cwd=ROOT, check=True)
    log(f"seeded in {time.perf_counter() - started:.0f} s")
    return json.loads(out.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, command: list[str], env: dict[str, str], health: str, logfile):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=ROOT,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers stop with it
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{name} exited at start: see {logfile.name}")
            try:
                if httpx.get(self.base + health, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{name} did not answer {health} within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def serve_both(
    args: argparse.Namespace, url: str, workdir: Path, tag: str
) -> tuple[Server, Server]:
    env = {
        **os.environ,
        "HIPFIX_DATABASE_URL": url,
        "HIPFIX_LOG_LEVEL": LOG_LEVEL,
        "HIPFIX_WRITE_RATE_LIMIT": "",  # empty: no per-principal write limit on the POST runs
    }
    app_log = open(workdir / f"{tag}-app.log", "w")  # noqa: SIM115 - lives as long as the server
    bare_log = open(workdir / f"{tag}-bare.log", "w")  # noqa: SIM115
    app = Server(
        "hipfix",
        [str(BIN / "hipfix"), "serve", "--workers", str(args.workers)],
        env,
        "/readyz",
        app_log,
    )
    bare = Server(
        "bare",
        [
            str(BIN / "uvicorn"),
            "bench.bare_app:app",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--workers",
            str(args.workers),
            "--log-level",
            LOG_LEVEL.lower(),
        ],
        env,
        "/",
        bare_log,
    )
    return app, bare


# Issue 24's pairing: the same HipFix with its per-request operations work off (no metrics,
# no request log line), served beside the default one on the same database.
OPS_OFF_ENV = {"HIPFIX_METRICS": "off", "HIPFIX_ACCESS_LOG": "off"}


def serve_ops_off(url: str, workdir: Path, tag: str, workers: int) -> Server:
    env = {
        **os.environ,
        "HIPFIX_DATABASE_URL": url,
        "HIPFIX_LOG_LEVEL": LOG_LEVEL,
        "HIPFIX_WRITE_RATE_LIMIT": "",
        **OPS_OFF_ENV,
    }
    off_log = open(workdir / f"{tag}-ops-off.log", "w")  # noqa: SIM115 - lives with the server
    return Server(
        "hipfix-ops-off",
        [str(BIN / "hipfix"), "serve", "--workers", str(workers)],
        env,
        "/readyz",
        off_log,
    )


def serve_peer(args: argparse.Namespace, workdir: Path) -> Server:
    """bench/peer_app.py on a database of its own (dropped and created), served like HipFix."""
    db = f"{args.pg_db}_peer"
    pg_admin(args, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    pg_admin(args, f'CREATE DATABASE "{db}"')
    url = args.pg_url.replace("postgresql+psycopg://", "postgresql://") + f"/{db}"
    env = {**os.environ, "PEER_DATABASE_URL": url}
    peer_log = open(workdir / "peer.log", "w")  # noqa: SIM115 - lives as long as the server
    command = [str(BIN / "uvicorn"), "bench.peer_app:app", "--loop", "uvloop", "--http"]
    command += ["httptools", "--workers", str(args.workers), "--log-level", LOG_LEVEL.lower()]
    return Server("peer", command, env, "/json", peer_log)


def login(base: str, emails: list[str]) -> list[str]:
    def one(email: str) -> str:
        response = httpx.post(
            base + "/v1/auth/token", data={"username": email, "password": PASSWORD}, timeout=30
        )
        response.raise_for_status()
        return response.json()["access_token"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, emails))


def seed_coaches(base: str, coaches: int, clients_each: int) -> list[str]:
    """Coaches signed up over HTTP (`POST /v1/accounts`, role coach), each adding
    `clients_each` managed clients (`POST /v1/clients`); returns one token per coach."""
    tokens = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(coaches):
            email = f"coach-{i}@bench.hipfix.dev"
            account = {
                "email": email,
                "password": PASSWORD,
                "display_name": f"Coach {i}",
                "role": "coach",
                "timezone": TIMEZONE,
            }
            _ok(http.post("/v1/accounts", json=account), "coach sign-up")
            [token] = login(base, [email])
            auth = {"Authorization": f"Bearer {token}"}
            for j in range(clients_each):
                client = {
                    "display_name": f"Client {i}-{j}",
                    "timezone": TIMEZONE,
                    "external_id": f"bench-{j}",
                }
                _ok(http.post("/v1/clients", json=client, headers=auth), "POST /v1/clients")
            tokens.append(token)
    return tokens


def _ok(response: httpx.Response, what: str) -> httpx.Response:
    if not response.is_success:
        raise SystemExit(f"{what}: {response.status_code} {response.text[:500]}")
    return response


def probe(base: str, endpoint: Endpoint, token: str | None, body: str | None) -> int | None:
    """One request as wrk will send it, which must answer 2xx; a list's item count."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = httpx.request(
        endpoint.method, base + endpoint.path, headers=headers, content=body, timeout=30
    )
    _ok(response, f"{endpoint.name}: {endpoint.method} {endpoint.path}")
    return len(response.json()["items"]) if endpoint.page else None


def check(base: str, token: str, what: str) -> str:
    response = httpx.get(base + PROGRESS, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    body = response.json()
    unlocked = sum(s["state"] == "unlocked" for s in body["stages"])
    return (
        f"{what}: {body['status']}, {unlocked} stages unlocked, current pain {body['current_pain']}"
    )


def server_errors(workdir: Path, tag: str) -> int:
    """Unhandled exceptions (each a 500) in the app's log, SQLite's lock timeouts among them,
    and the access log's answers other than 2xx, by route and status."""
    text = (workdir / f"{tag}-app.log").read_text(errors="replace")
    errors = text.count("Exception in ASGI application")
    if errors:
        locked = text.count("database is locked") // 4  # each is quoted four times
        log(f"{tag}: the app logged {errors} unhandled exceptions ({locked} 'database is locked')")
    # uvicorn's access line ("GET /path HTTP/1.1" 200) or HipFix's own (GET /route 200 1.2ms).
    answered = re.finditer(r'"?([A-Z]+ /\S*)(?: HTTP/1.1")? (\d{3})', text)
    statuses = Counter(f"{m.group(1)} {m.group(2)}" for m in answered)
    for answer, count in sorted(statuses.items()):
        if not answer.endswith(("200", "201")):
            log(f"{tag}: {count} x {answer}")
    return errors


# --- phases ----------------------------------------------------------------------------------


def median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def summary(runs: list[Run]) -> dict[str, Any]:
    return {
        "rps": median(runs, "rps"),
        "p50_ms": median(runs, "p50_ms"),
        "p99_ms": median(runs, "p99_ms"),
        "runs": len(runs),
        "errors": sum(r.bad for r in runs),
        "rps_each": [round(r.rps) for r in runs],
    }


def phase_main(
    args,
    app: Server,
    bare: Server,
    pools: dict[str, list[str]],
    peer: Server | None = None,
    ops_off: Server | None = None,
) -> dict[str, Any]:
    endpoints = [BY_NAME[name] for name in args.endpoints]
    if peer is None:
        endpoints = [e for e in endpoints if e.server == "app"]
    base = {"app": app.base, "peer": peer.base if peer else ""}

    def tokens_of(endpoint: Endpoint, round_: int | None) -> list[str] | None:
        if endpoint.pool in ("post", "same"):
            # Each round writes to its own fresh clients, so every round starts alike;
            # probes and warm-up writes go to the read pool.
            return pools["reads"] if round_ is None else pools[f"{endpoint.pool}{round_}"]
        return pools[endpoint.pool] if endpoint.pool else None

    def body_of(endpoint: Endpoint) -> str | None:
        if endpoint.method != "POST":
            return None
        return same_moment_body() if endpoint.name == "post-same" else pain_body()

    items: dict[str, int | None] = {}
    for endpoint in endpoints:
        tokens = tokens_of(endpoint, None)
        body = body_of(endpoint)
        if body is not None:
            body = body.replace("{now}", datetime.now(UTC).isoformat())
        items[endpoint.name] = probe(
            base[endpoint.server], endpoint, tokens[0] if tokens else None, body
        )
        count = "" if items[endpoint.name] is None else f", {items[endpoint.name]} items"
        log(f"main: {endpoint.method} {endpoint.path}: 2xx{count}")
    log("main: warming up")
    wrk("bare", bare.base + "/", args, duration=2)
    for endpoint in endpoints:
        wrk(
            endpoint.name,
            base[endpoint.server] + endpoint.path,
            args,
            tokens=tokens_of(endpoint, None),
            body=body_of(endpoint),
            duration=2,
        )
    bares: list[Run] = []
    pairs: dict[str, list[tuple[Run, Run]]] = {e.name: [] for e in endpoints}
    # --ops-off: (on, off) runs of the same endpoint, back to back, their order swapped every
    # other round; writes go to the round's clients from both servers.
    ops: dict[str, list[tuple[Run, Run]]] = {e.name: [] for e in endpoints if e.server == "app"}
    for round_ in range(args.runs):
        log(f"main: round {round_ + 1}/{args.runs}")
        order = list(endpoints)
        if round_ % 2 and "post" in pairs and "post-same" in pairs:
            # The two POSTs swap places every other round: neither is always second.
            i, j = order.index(BY_NAME["post"]), order.index(BY_NAME["post-same"])
            order[i], order[j] = order[j], order[i]
        for endpoint in order:
            before = wrk("bare", bare.base + "/", args)
            bares.append(before)
            run = wrk(
                endpoint.name,
                base[endpoint.server] + endpoint.path,
                args,
                tokens=tokens_of(endpoint, round_),
                body=body_of(endpoint),
            )
            pairs[endpoint.name].append((before, run))
            if ops_off is not None and endpoint.server == "app":
                off = wrk(
                    endpoint.name + " (ops off)",
                    ops_off.base + endpoint.path,
                    args,
                    tokens=tokens_of(endpoint, round_),
                    body=body_of(endpoint),
                )
                if round_ % 2:  # off first this round: measure on again after it
                    run = wrk(
                        endpoint.name,
                        base[endpoint.server] + endpoint.path,
                        args,
                        tokens=tokens_of(endpoint, round_),
                        body=body_of(endpoint),
                    )
                ops[endpoint.name].append((run, off))
    result: dict[str, Any] = {"bare": summary(bares)}
    for endpoint in endpoints:
        runs = [run for _, run in pairs[endpoint.name]]
        r = summary(runs)
        r["method"], r["path"], r["items"] = endpoint.method, endpoint.path, items[endpoint.name]
        r["ratio"] = r["rps"] / result["bare"]["rps"]
        # Paired: each app run against the bare run just before it.
        r["paired_ratio"] = statistics.median(a.rps / b.rps for b, a in pairs[endpoint.name])
        target = target_of(endpoint, args.db)
        r["target"] = target
        r["met"] = r["ratio"] >= target if target is not None and args.workers == 1 else None
        if endpoint.name == "post" and args.db == "sqlite":
            r["moonshot"] = POST_MOONSHOT
            r["moonshot_met"] = r["ratio"] >= POST_MOONSHOT if args.workers == 1 else None
        result[endpoint.name] = r
    if "post-same" in result:
        # Against the distinct-moment POST of the same round.
        each = [
            same.rps / distinct.rps
            for (_, same), (_, distinct) in zip(pairs["post-same"], pairs["post"], strict=True)
        ]
        same = result["post-same"]
        same["ratio_to_post"] = statistics.median(each)
        same["ratio_to_post_each"] = [round(x, 3) for x in each]
        same["target_to_post"] = SAME_TARGET
        same["met"] = same["ratio_to_post"] >= SAME_TARGET if args.workers == 1 else None
    result["peer"] = peer_pairs(args, result, pairs)
    if ops_off is not None:
        result["ops"] = {
            name: {
                "on_rps": statistics.median(on.rps for on, _ in runs),
                "off_rps": statistics.median(off.rps for _, off in runs),
                "on_p50_ms": statistics.median(on.p50_ms for on, _ in runs),
                "off_p50_ms": statistics.median(off.p50_ms for _, off in runs),
                # Paired: each on run over the off run beside it; 1 - this is the cost.
                "paired": statistics.median(on.rps / off.rps for on, off in runs),
                "each": [round(on.rps / off.rps, 3) for on, off in runs],
            }
            for name, runs in ops.items()
            if runs
        }
    return result


def peer_pairs(
    args: argparse.Namespace, result: dict[str, Any], pairs: dict[str, list[tuple[Run, Run]]]
) -> list[dict[str, Any]]:
    """Each HipFix endpoint over its peer's: medians of the run (`ratio`) and the median of
    the per-round ratios (`paired_ratio`: the two were measured minutes apart, no more)."""
    rows = []
    for ours, theirs, target in PEER_TARGETS:
        if ours not in result or theirs not in result:
            continue
        each = [a.rps / b.rps for (_, a), (_, b) in zip(pairs[ours], pairs[theirs], strict=True)]
        ratio = result[ours]["rps"] / result[theirs]["rps"]
        rows.append(
            {
                "hipfix": ours,
                "peer": theirs,
                "ratio": ratio,
                "paired_ratio": statistics.median(each),
                "target": target,
                "met": ratio >= target if target is not None and args.workers == 1 else None,
            }
        )
    return rows


def phase_scale(args, app: Server, pools: dict[str, list[str]]) -> dict[str, Any]:
    runs: dict[str, list[Run]] = {
        k: [] for k in ("progress 10d", "progress long", "post 10d", "post long")
    }
    for round_ in range(args.runs):
        log(f"scale: round {round_ + 1}/{args.runs}")
        order = ("10d", "long") if round_ % 2 == 0 else ("long", "10d")
        for span in order:
            runs[f"progress {span}"].append(
                wrk(f"progress {span}", app.base + PROGRESS, args, tokens=pools[f"s{span}-reads"])
            )
        for span in order:
            runs[f"post {span}"].append(
                wrk(
                    f"pain-log POST {span}",
                    app.base + PAIN_LOGS,
                    args,
                    tokens=pools[f"s{span}-post{round_}"],
                    body=pain_body(),
                )
            )
    result = {name: summary(r) for name, r in runs.items()}
    for what in ("progress", "post"):
        result[f"{what} p50 long/10d"] = (
            result[f"{what} long"]["p50_ms"] / result[f"{what} 10d"]["p50_ms"]
        )
    return result


def phase_big(args, app: Server, bare: Server, pools: dict[str, list[str]]) -> dict[str, Any]:
    runs: dict[str, list[Run]] = {"bare": [], "progress": [], "pain-log POST": []}
    wrk("bare", bare.base + "/", args, duration=2)
    wrk("progress", app.base + PROGRESS, args, tokens=pools["reads"], duration=2)
    for round_ in range(args.runs):
        log(f"big: round {round_ + 1}/{args.runs}")
        runs["bare"].append(wrk("bare", bare.base + "/", args))
        runs["progress"].append(
            wrk("progress (big)", app.base + PROGRESS, args, tokens=pools["reads"])
        )
        runs["bare"].append(wrk("bare", bare.base + "/", args))
        runs["pain-log POST"].append(
            wrk(
                "pain-log POST (big)",
                app.base + PAIN_LOGS,
                args,
                tokens=pools[f"post{round_}"],
                body=pain_body(),
            )
        )
    result = {name: summary(r) for name, r in runs.items()}
    for name in ("progress", "pain-log POST"):
        result[name]["ratio"] = result[name]["rps"] / result["bare"]["rps"]
    return result


def phase_engine(args) -> dict[str, Any]:
    out = subprocess.run(
        [
            str(BIN / "python"),
            str(BENCH / "engine_bench.py"),
            "--seconds",
            str(args.engine_seconds),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


# --- report ----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main_table(args: argparse.Namespace, m: dict[str, Any]) -> list[str]:
    judged = args.workers == 1
    lines = [
        "| endpoint | items | req/s | p50 ms | p99 ms | ratio to bare | (paired) | target "
        "| verdict | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
        f"| bare `GET /` | | {m['bare']['rps']:.0f} | {m['bare']['p50_ms']:.2f} "
        f"| {m['bare']['p99_ms']:.2f} | 1 | | | | {m['bare']['errors']} |",
    ]
    short = []
    for endpoint in ENDPOINTS + PEER_ENDPOINTS:
        if endpoint.name not in m:
            continue
        r = m[endpoint.name]
        label = f"`{endpoint.method} {endpoint.path}`"
        if endpoint.server == "peer":
            label = f"peer {label}" + (
                " (the peer's ceiling)" if endpoint.name == "peer-json" else ""
            )
        if endpoint.name == "clients":
            label += " (coach)"
        elif endpoint.name == "post":
            label += " (distinct moments)"
        elif endpoint.name == "post-same":
            label += " (same moment)"
        if endpoint.name == "post-same" and "ratio_to_post" in r:
            target = f"≥ {r['target_to_post']}× distinct POST (here {r['ratio_to_post']:.2f}×)"
        elif r["target"] is not None:
            target = f"≥ {r['target']}×"
            if "moonshot" in r:
                target += f" (moonshot {r['moonshot']}×)"
        else:
            target = ""
        if not judged or r["met"] is None:
            outcome = ""
        else:
            outcome = verdict(r["met"])
            if r.get("moonshot_met") is not None:
                outcome += f"; moonshot {verdict(r['moonshot_met'])}"
        items = "" if r["items"] is None else str(r["items"])
        if r["items"] is not None and r["items"] < LIST:
            short.append(f"{endpoint.name} ({r['items']})")
        lines.append(
            f"| {label} | {items} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['ratio']:.2f} | {r['paired_ratio']:.2f} | {target} | {outcome} "
            f"| {r['errors']} |"
        )
    lines.append("")
    if short:
        lines += [
            f"Lists with fewer than {LIST} items per page (there are no more to list): "
            + ", ".join(short)
            + ".",
            "",
        ]
    if not judged:
        lines += ["Targets are judged with 1 worker: no verdicts here.", ""]
    if m.get("peer"):
        ceiling = m.get("peer-json", m["bare"])["rps"]
        lines += [
            f"Against the peer (bench/peer_app.py; its ceiling `/json` {ceiling:.0f} req/s):",
            "",
            "| HipFix | peer | HipFix × ceiling | peer × ceiling | HipFix / peer | (paired) "
            "| target | verdict |",
            "|---|---|---:|---:|---:|---:|---|---|",
        ]
        for row in m["peer"]:
            ours, theirs = m[row["hipfix"]], m[row["peer"]]
            target = "" if row["target"] is None else f"≥ {row['target']}×"
            outcome = "" if row["met"] is None else verdict(row["met"])
            lines.append(
                f"| {row['hipfix']} | {BY_NAME[row['peer']].path} | {ours['rps'] / ceiling:.2f} "
                f"| {theirs['rps'] / ceiling:.2f} | {row['ratio']:.2f} "
                f"| {row['paired_ratio']:.2f} | {target} | {outcome} |"
            )
        lines.append("")
    return lines


def report(args: argparse.Namespace, results: dict[str, Any]) -> str:
    lines = [
        f"## {args.db}, {args.workers} worker(s): wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration:g}s, medians of {args.runs} runs",
        "",
    ]
    if "main" in results:
        lines += main_table(args, results["main"])
        if results["main"].get("ops"):
            lines += ["", "Metrics and the request log, on over off (paired, back to back):", ""]
            lines += [
                "| endpoint | on req/s | off req/s | on p50 ms | off p50 ms | paired | each |",
                "|---|---:|---:|---:|---:|---:|---|",
            ]
            for name, o in results["main"]["ops"].items():
                lines.append(
                    f"| {name} | {o['on_rps']:.0f} | {o['off_rps']:.0f} | {o['on_p50_ms']:.2f} "
                    f"| {o['off_p50_ms']:.2f} | {o['paired']:.3f} | {o['each']} |"
                )
    if "scale" in results:
        s = results["scale"]
        lines += [
            "| history (one client) | req/s | p50 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in ("progress 10d", "progress long", "post 10d", "post long"):
            r = s[name]
            label = (
                name.replace("post", "pain-log POST")
                .replace("long", f"{LONG_DAYS} days")
                .replace("10d", "10 days")
            )
            lines.append(
                f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {r['errors']} |"
            )
        ok = s["progress p50 long/10d"] <= SCALE_TARGET
        lines += [
            "",
            f"progress p50, {LONG_DAYS} days / 10 days: {s['progress p50 long/10d']:.2f}× "
            f"(target ≤ {SCALE_TARGET}×: {verdict(ok)}); "
            f"pain-log POST p50, {LONG_DAYS} days / 10 days: {s['post p50 long/10d']:.2f}×",
            "",
        ]
    if "big" in results:
        b = results["big"]
        lines += [
            f"{args.big_clients:,} clients × {args.big_days} days "
            f"({args.big_clients * args.big_days * 2:,} pain logs and sessions):",
            "",
            "| endpoint | req/s | p50 ms | p99 ms | ratio to bare | errors |",
            "|---|---:|---:|---:|---:|---:|",
            f"| bare `GET /` | {b['bare']['rps']:.0f} | {b['bare']['p50_ms']:.2f} "
            f"| {b['bare']['p99_ms']:.2f} | 1 | {b['bare']['errors']} |",
        ]
        for name in ("progress", "pain-log POST"):
            r = b[name]
            lines.append(
                f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {r['ratio']:.2f} | {r['errors']} |"
            )
        lines.append("")
    if "engine" in results:
        e = results["engine"]
        lines += ["Engine alone (`engine.evaluate`, in-process, one core):", ""]
        lines += [
            "| timeline | items | evaluations/s | ms per evaluation | µs per item |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in e["timelines"]:
            lines.append(
                f"| {row['days']} days | {row['items']} | {row['per_second']:.1f} "
                f"| {row['ms']:.2f} | {row['us_per_item']:.1f} |"
            )
        lines.append("")
    if results.get("server_errors"):
        lines.append(
            f"The app logged {results['server_errors']} unhandled exceptions (500s): see the log."
        )
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, choices=(1, 2), default=1)
    parser.add_argument("--phases", default="main,scale,big,engine", help="comma-separated")
    parser.add_argument(
        "--endpoints",
        default="all",
        help="main phase: comma-separated, of " + ",".join(BY_NAME) + " (default all; "
        "post-same brings post, its yardstick)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (≥ 3)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pool", type=int, default=64, help="clients per token pool")
    parser.add_argument("--settle", type=float, default=1, help="pause after a GET run (s)")
    parser.add_argument("--settle-post", type=float, default=6, help="pause after a POST run")
    parser.add_argument("--coaches", type=int, default=8, help="coach tokens for `clients`")
    parser.add_argument(
        "--coach-clients", type=int, default=25, help=f"clients per coach (≥ {LIST})"
    )
    parser.add_argument("--big-clients", type=int, default=1000)
    parser.add_argument("--big-days", type=int, default=365)
    parser.add_argument("--engine-seconds", type=float, default=5)
    parser.add_argument(
        "--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432", help="without a db"
    )
    parser.add_argument("--pg-db", default="hipfix_bench", help="prefix of the databases made")
    parser.add_argument(
        "--no-peer", action="store_true", help="PostgreSQL: leave out bench/peer_app.py"
    )
    parser.add_argument(
        "--ops-off",
        action="store_true",
        help="main phase: also serve HipFix with HIPFIX_METRICS=off HIPFIX_ACCESS_LOG=off and "
        "measure each endpoint on both, back to back (issue 24's cost of metrics and logs)",
    )
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and databases")
    args = parser.parse_args(argv)
    phases = set(args.phases.split(","))
    if args.endpoints == "all":
        args.endpoints = [e.name for e in ENDPOINTS]
        if args.db == "postgres" and not args.no_peer:
            args.endpoints += [e.name for e in PEER_ENDPOINTS]
    else:
        chosen = {name.strip() for name in args.endpoints.split(",") if name.strip()}
        if unknown := chosen - set(BY_NAME):
            parser.error(f"unknown endpoints {', '.join(sorted(unknown))}: {', '.join(BY_NAME)}")
        if "post-same" in chosen:
            chosen.add("post")
        args.endpoints = [name for name in BY_NAME if name in chosen]

    if shutil.which("wrk") is None:
        print(
            "bench: wrk is not installed. On Debian/Ubuntu: sudo apt-get install -y wrk",
            file=sys.stderr,
        )
        return 2
    if not (BIN / "hipfix").exists():
        print("bench: no .venv: run `make test` or `make run` once first", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="hipfix-bench-"))
    log(f"bench: {args.db}, {args.workers} worker(s), phases {args.phases}; work dir {workdir}")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "server_errors": 0,
    }
    servers: list[Server] = []
    app_url = ""

    def with_database(tag: str, groups: list[tuple[str, int, int]], pools_of, measure) -> None:
        """A fresh database for one phase: migrate, seed, serve both apps, sign the clients
        in (`pools_of` maps the seeded e-mails to token pools), measure, stop, drop."""
        nonlocal servers
        log(f"{tag}: preparing the database")
        nonlocal app_url
        url = app_url = prepare_database(args, workdir, tag)
        emails = seed(url, groups, workdir)
        servers = list(serve_both(args, url, workdir, tag))
        app, bare = servers
        pools = {name: login(app.base, group) for name, group in pools_of(emails).items()}
        log(f"{tag}: signed in {sum(map(len, pools.values()))} clients")
        results[tag] = measure(app, bare, pools)
        for server in servers:
            server.stop()
        servers = []
        results["server_errors"] += server_errors(workdir, tag)
        drop_database(args, tag)

    def main_phase(app: Server, bare: Server, pools: dict[str, list[str]]) -> dict[str, Any]:
        log(check(app.base, pools["reads"][0], "30-day client"))
        if "clients" in args.endpoints:
            pools["coaches"] = seed_coaches(app.base, args.coaches, args.coach_clients)
            log(f"main: {args.coaches} coaches with {args.coach_clients} clients each")
        peer = None
        if any(BY_NAME[name].server == "peer" for name in args.endpoints):
            if args.db != "postgres":
                raise SystemExit("the peer (bench/peer_app.py) runs on PostgreSQL only")
            peer = serve_peer(args, workdir)
            servers.append(peer)
            log("main: the peer is up")
        ops_off = None
        if args.ops_off:
            ops_off = serve_ops_off(app_url, workdir, "main", args.workers)
            servers.append(ops_off)
            log("main: HipFix with operations off is up (--ops-off)")
        return phase_main(args, app, bare, pools, peer, ops_off)

    def scale_phase(app: Server, _bare: Server, pools: dict[str, list[str]]) -> dict[str, Any]:
        log(check(app.base, pools["s10d-reads"][0], "10-day client"))
        log(check(app.base, pools["slong-reads"][0], f"{LONG_DAYS}-day client"))
        return phase_scale(args, app, pools)

    def big_phase(app: Server, bare: Server, pools: dict[str, list[str]]) -> dict[str, Any]:
        log(check(app.base, pools["reads"][0], "1-year client"))
        return phase_big(args, app, bare, pools)

    def big_pools(emails: dict[str, list[str]]) -> dict[str, list[str]]:
        # Disjoint slices of the 1,000: one to read, one per round to write to.
        size = min(args.pool, args.big_clients // (args.runs + 1))
        slices = {"reads": emails["big"][:size]}
        for r in range(args.runs):
            slices[f"post{r}"] = emails["big"][size * (r + 1) : size * (r + 2)]
        return slices

    try:
        if "main" in phases:
            groups = [("reads", args.pool, 30)]
            for kind in ("post", "same"):
                if any(BY_NAME[name].pool == kind for name in args.endpoints):
                    groups += [(f"{kind}{r}", args.pool, 30) for r in range(args.runs)]
            with_database("main", groups, lambda emails: emails, main_phase)
            drop_database(args, "peer")
        if "scale" in phases:
            size = max(8, args.pool // 4)
            groups = []
            for span, days in (("10d", 10), ("long", LONG_DAYS)):
                groups.append((f"s{span}-reads", size, days))
                groups += [(f"s{span}-post{r}", size, days) for r in range(args.runs)]
            with_database("scale", groups, lambda emails: emails, scale_phase)
        if "big" in phases:
            groups = [("big", args.big_clients, args.big_days)]
            with_database("big", groups, big_pools, big_phase)
        if "engine" in phases:
            log("engine: evaluating")
            results["engine"] = phase_engine(args)
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    text = report(args, results)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
