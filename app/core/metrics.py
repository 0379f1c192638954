"""Prometheus metrics: what they are, and `GET /metrics` (docs/operations.md says what to
scrape and which alerts are worth setting).

The instruments are module globals in prometheus_client's default registry, one set per
process. With several worker processes, `hipfix serve --workers N` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh folder before the workers start (unless it is set
already), so each process writes its values there and any worker answering a scrape adds them
all up (prometheus_client's multiprocess mode).

What is known only at scrape time (the outbox's depth, the pool, the lanes' queues) is read
then, by the app's scrape hooks, rather than kept up to date on every request.

Per request the cost is one histogram observation (its count is the request counter), on a
child found in a dict by (route template, method, status) rather than through `labels()`.
"""

import os
from collections.abc import Awaitable, Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from starlette.requests import Request
from starlette.responses import Response

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Histogram(
    "hipfix_http_request_duration_seconds",
    "Requests by route template, method and status, and how long each took (its _count is "
    "the request count).",
    ("route", "method", "status"),
    buckets=_FAST,
)
UNIT_QUEUE = Histogram(
    "hipfix_unit_queue_seconds",
    "How long a unit of work waited for its lane's thread.",
    ("lane",),
    buckets=_FAST,
)
UNIT_RUN = Histogram(
    "hipfix_unit_run_seconds",
    "How long a unit of work ran on its lane's thread (its transaction included).",
    ("lane",),
    buckets=_FAST,
)
REFUSED = Counter(
    "hipfix_refused",
    "Requests refused to protect the service: busy (503, a unit not admitted in time), "
    "pool_dry (503), database_unavailable (503), write_limit (429), replay_budget (429).",
    ("reason",),
)
WEBHOOK_DELIVERIES = Counter(
    "hipfix_webhook_deliveries",
    "Webhook delivery attempts by outcome: succeeded, retry (failed, tried again later), "
    "failed (given up).",
    ("outcome",),
)
WEBHOOK_PENDING = Gauge(
    "hipfix_webhook_outbox_pending",
    "Webhook deliveries waiting in the outbox (read from the database at scrape time).",
    multiprocess_mode="max",
)
WEBHOOK_OLDEST = Gauge(
    "hipfix_webhook_oldest_pending_age_seconds",
    "Age of the oldest undelivered webhook delivery; 0 when none waits.",
    multiprocess_mode="max",
)
REPLAYS = Histogram(
    "hipfix_engine_replay_items",
    "Engine replays after a write, by the number of stored items each re-evaluated (its "
    "_count is the number of replays).",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000, 20000),
)
POOL_CHECKED_OUT = Gauge(
    "hipfix_db_connections_checked_out",
    "Database connections in use: the pool's checked out ones (lanes' kept connections included).",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "hipfix_db_pool_size", "The connection pool's configured size.", multiprocess_mode="livesum"
)
LANE_QUEUE = Gauge(
    "hipfix_unit_queue_depth",
    "Units of work waiting for a lane's thread at scrape time.",
    ("lane",),
    multiprocess_mode="livesum",
)

_children: dict[tuple[str, str, int], Histogram] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    child = _children.get(key)
    if child is None:
        child = _children[key] = REQUESTS.labels(route, method, str(status))
    child.observe(seconds)


# Children looked up once: these are counted on hot paths (a refused write, a replay).
_REFUSED = {
    reason: REFUSED.labels(reason)
    for reason in ("busy", "pool_dry", "database_unavailable", "write_limit", "replay_budget")
}


def refused(reason: str) -> None:
    _REFUSED[reason].inc()


def replayed(items: int) -> None:
    REPLAYS.observe(items)


ScrapeHook = Callable[[], Awaitable[None]]


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped lib
        return registry
    return REGISTRY


def metrics_endpoint(hooks: list[ScrapeHook]) -> Callable[[Request], Awaitable[Response]]:
    """`GET /metrics`: the hooks refresh what is read at scrape time, then every metric in
    Prometheus' text format."""

    async def metrics(_: Request) -> Response:
        for hook in hooks:
            await hook()
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics
