"""A/B: the same app served twice or more with different environments, wrk alternating.

    .venv/bin/python bench/ab.py '{"A": {}, "B": {"HIPFIX_DB_THREADS": "2"}}' progress,me 3

One seeded SQLite database (64 clients with 30 days of history), one `hipfix serve` per
variant (its environment on top of this one's), then per round and endpoint one wrk run
(`-t1 -c32 -d4s`, the same Lua script as `bench/run.py`) against each variant in turn.
Prints each run and the medians. For a change's effect on one machine at one moment; the
issue's figures come from `bench/run.py`.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

PATHS = {
    "progress": "/v1/clients/me/progress",
    "today": "/v1/clients/me/today",
    "me": "/v1/me",
    "pain-logs": "/v1/clients/me/pain-logs?limit=20",
    "exercises": "/v1/exercises?limit=20",
    "protocol": "/v1/protocols/hip-impingement",
    "post": "/v1/clients/me/pain-logs",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", help='JSON: {"name": {"ENV": "value"}, ...}')
    parser.add_argument("endpoints", help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("rounds", type=int, nargs="?", default=3)
    given = parser.parse_args()
    variants: dict[str, dict[str, str]] = json.loads(given.variants)
    endpoints = given.endpoints.split(",")
    args = argparse.Namespace(
        db="sqlite", threads=1, connections=32, duration=4, settle=1, settle_post=3, keep=False
    )
    workdir = Path(tempfile.mkdtemp(prefix="hipfix-ab-"))
    url = bench.prepare_database(args, workdir, "ab")
    emails = bench.seed(url, [("main", 64, 30)], workdir)["main"]
    servers = {}
    for name, extra in variants.items():
        env = {
            **os.environ,
            "HIPFIX_DATABASE_URL": url,
            "HIPFIX_LOG_LEVEL": "WARNING",
            "HIPFIX_WRITE_RATE_LIMIT": "",
            **extra,
        }
        command = [str(bench.BIN / "hipfix"), "serve", "--workers", "1"]
        log = open(workdir / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the server
        servers[name] = bench.Server(name, command, env, "/readyz", log)
    try:
        tokens = bench.login(next(iter(servers.values())).base, emails)
        rates: dict[tuple[str, str], list[float]] = {}
        for _ in range(given.rounds):
            for endpoint in endpoints:
                body = bench.pain_body() if endpoint == "post" else None
                for name, server in servers.items():
                    run = bench.wrk(
                        f"{name} {endpoint}",
                        server.base + PATHS[endpoint],
                        args,
                        tokens=tokens,
                        body=body,
                    )
                    rates.setdefault((endpoint, name), []).append(run.rps)
    finally:
        for server in servers.values():
            server.stop()
    print("medians (req/s):")
    for (endpoint, name), values in sorted(rates.items()):
        print(f"  {endpoint:<10} {name:<8} {statistics.median(values):8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
