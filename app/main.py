"""The ASGI application: `app.main:app`."""

import gc
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import Connection, Engine

from app import __version__
from app.accounts.router import router as accounts_router
from app.catalogue.router import router as catalogue_router
from app.clinical.router import router as clinical_router
from app.core.backups import ServingLock
from app.core.caches import Caches
from app.core.config import Settings, get_settings
from app.core.costs import GIL_SWITCH_SECONDS
from app.core.cpu_pool import CpuPool
from app.core.db import Database, get_engine
from app.core.db.engine import database_threads
from app.core.docs import install_docs
from app.core.edge import Edge
from app.core.faults import install_fault_handlers
from app.core.logs import install as install_logging
from app.core.metrics import metrics_endpoint
from app.core.openapi import install_openapi, operation_id
from app.core.problems import install_problem_handlers, problem_responses
from app.core.request_log import RequestLog
from app.core.routes import add_routes, match_first
from app.core.tracing import install_tracing
from app.description import DESCRIPTION, TAGS
from app.health.router import router as health_router
from app.progression.router import router as progression_router
from app.tracking.router import router as tracking_router
from app.webhooks.outbox import outbox_scrape_hook
from app.webhooks.router import router as webhooks_router
from app.webhooks.worker import DeliveryWorker, running

# The most asked, matched first (app/core/routes.py): a phone's reads and its pain log.
HOT_ROUTES = (
    "get_protocol",
    "get_exercise",
    "get_progress",
    "get_today",
    "get_me",
    "list_pain_logs",
    "create_pain_log",
    "list_sessions",
    "list_events",
    "list_clients",
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # A restore refuses while this process serves the file (app/core/backups.py).
    serving = ServingLock(app.state.database.engine)
    serving.hold()
    # The webhook worker stops (its round recorded) before the database it writes to closes.
    async with running(app.state.webhooks, enabled=app.state.settings.webhooks_worker):
        # A serving process's own tuning (app/core/costs.py says why): threads hand the GIL
        # over sooner, and what startup built lives as long as the process, kept out of the
        # collector's full passes, which otherwise stop every thread for a long while.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        gc.freeze()
        app.state.cpu_pool.start()
        try:
            yield
        finally:
            app.state.cpu_pool.shutdown()
            gc.unfreeze()
            provider = getattr(app.state, "tracer_provider", None)
            if provider is not None:
                provider.shutdown()  # the last spans exported
    app.state.database.close()  # its threads finish what they hold and stop
    serving.release()


def _telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry, on when the environment configures OpenTelemetry (an
    `OTEL_` variable) as the process starts. Left to itself FastAPI asks on every request
    whether a provider has been set since, a twentieth of a short read (bench/RESULTS.md)."""
    on = any(name.startswith("OTEL_") for name in os.environ)
    return TelemetryConfig(tracing=on, metrics=on, logs=on)


def create_app(
    settings: Settings | None = None, bind: Engine | Connection | None = None
) -> FastAPI:
    """The app. `bind`: where its units of work run; by default the settings' database (the
    test suite gives a connection inside a transaction it rolls back)."""
    settings = settings or get_settings()
    caches = Caches()
    # Readable or JSON lines, a request id on each, no secret in any (app/core/logs.py).
    install_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="HipFix API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        license_info={"name": "MIT", "identifier": "MIT"},
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
        telemetry=_telemetry(),
    )
    app.state.settings = settings
    app.state.caches = caches
    app.state.database = Database(
        bind if bind is not None else get_engine(),
        threads=database_threads(settings),
        caches=caches,
        metrics=settings.metrics,
    )
    # The simulator's engine runs in the worker: its modules are imported as it starts.
    app.state.cpu_pool = CpuPool(
        settings.cpu_processes, warm=("app.progression.simulation", "app.progression.history")
    )
    app.state.webhooks = DeliveryWorker(
        app.state.database,
        poll_seconds=settings.webhooks_poll_seconds,
        allow_private=settings.webhooks_allow_private_urls,
    )
    install_problem_handlers(app)
    install_fault_handlers(app)
    install_openapi(app)
    # The edge runs before the routes: an oversized body or a write over the caller's limit is
    # refused before anything reads it.
    app.add_middleware(
        Edge,
        max_body_bytes=settings.max_body_bytes,
        write_rate_limit=settings.write_rate_limit,
        replay_budget=settings.replay_budget,
    )
    # Added last, so it runs first: a browser may read every answer, the edge's 413 and 429
    # included.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"],
            # Response headers a browser app may read: cache validators, back-off, retries
            # replayed, the reason for a 401, and the id to quote when reporting a problem.
            expose_headers=[
                "ETag",
                "Retry-After",
                "Idempotent-Replayed",
                "WWW-Authenticate",
                "X-Request-ID",
            ],
        )
    # Outermost: every answer gets its request id, and every request its observation and log
    # line, the CORS and edge refusals included.
    app.add_middleware(RequestLog, metrics=settings.metrics, log_requests=settings.access_log)
    api_errors = problem_responses(500, 503)
    # Requests are matched against routes in the order they are added: the most asked first.
    # Added flat to the app's router (app/core/routes.py): one match per request.
    add_routes(app, catalogue_router, prefix="/v1", responses=api_errors)
    add_routes(app, progression_router, prefix="/v1", responses=api_errors)
    add_routes(app, tracking_router, prefix="/v1", responses=api_errors)
    add_routes(app, accounts_router, prefix="/v1", responses=api_errors)
    add_routes(app, webhooks_router, prefix="/v1", responses=api_errors)
    add_routes(app, clinical_router, prefix="/v1", responses=api_errors)
    add_routes(app, health_router, responses=api_errors)
    install_docs(app)  # after the API: requests are matched in this order
    match_first(app, HOT_ROUTES)
    if settings.metrics:
        hooks = [app.state.database.scrape_hook(), outbox_scrape_hook(app.state.database)]
        app.add_route("/metrics", metrics_endpoint(hooks), ["GET"], include_in_schema=False)
    # Spans only when an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT): nothing otherwise.
    install_tracing(app, app.state.database)
    return app


app = create_app()
