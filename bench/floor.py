"""How far a read on the one path can get at best: bench/floor_app.py's endpoints, each a
piece of that path on its own, as ratios to the bare endpoint in the same process.

    .venv/bin/python bench/floor.py [--runs 3] [--duration 5]

Served as HipFix is (1 uvicorn worker, uvloop, httptools), driven by wrk -t1 -c32 on
loopback like bench/run.py. bench/RESULTS.md uses it to say which item-6 targets any route
that leaves the event loop can meet on this machine.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import BIN, Server, pain_body, wrk  # noqa: E402

PATHS = ["/", "/executor", "/lane", "/lane-raw", "/lane-unit", "/loop-raw"]
SHAPED = "/v1/clients/me/progress-shaped"
LIST = "/v1/clients/me/pain-logs-shaped?limit=20"
POST = "/v1/clients/me/pain-logs-shaped"
TOKENS = ["hft_floor"]  # any secret: the shaped routes read it and look nothing up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    args = parser.parse_args()
    args.threads, args.connections, args.settle, args.settle_post = 1, 32, 0.5, 0.5
    workdir = Path(tempfile.mkdtemp(prefix="hipfix-floor-"))
    url = f"sqlite:///{workdir / 'floor.db'}"
    env = {**os.environ, "HIPFIX_DATABASE_URL": url}
    subprocess.run([str(BIN / "hipfix"), "migrate"], env=env, check=True, capture_output=True)
    command = [str(BIN / "uvicorn"), "bench.floor_app:app", "--loop", "uvloop", "--http"]
    command += ["httptools", "--workers", "1", "--log-level", "warning"]
    with open(workdir / "floor.log", "w") as logfile:
        server = Server("floor", command, env, "/", logfile)
        try:

            def one(path: str, duration: float | None = None) -> float:
                body = pain_body() if path == POST else None  # LIST: the same path, GET
                tokens = TOKENS if path.startswith("/v1") else None
                url = server.base + path
                return wrk(path, url, args, tokens=tokens, body=body, duration=duration).rps

            for path in [*PATHS, SHAPED, LIST, POST]:
                one(path, duration=1)
            rps: dict[str, list[float]] = {path: [] for path in [*PATHS, SHAPED, LIST, POST]}
            for _ in range(args.runs):
                for path in rps:
                    rps[path].append(one(path))
        finally:
            server.stop()
    bare = statistics.median(rps["/"])
    print(f"\n{'endpoint':<36} {'req/s':>8} {'ratio':>6}   (median of {args.runs})")
    for path in rps:
        median = statistics.median(rps[path])
        print(f"{path:<36} {median:8.0f} {median / bare:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
