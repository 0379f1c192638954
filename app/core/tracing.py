"""OpenTelemetry traces: a span per request, per unit of work and per SQL statement, exported
over OTLP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and nothing at all when it
is not: no OpenTelemetry module is even imported then, and a unit of work pays one `is None`
test (bench/RESULTS.md, issue #24).

The packages are the `otel` extra (`pip install 'hipfix[otel]'`): most installations never
export a span, so the runtime lock stays without them. With the endpoint set and the extra
missing, the service says so in its log and serves untraced.

The rest of the standard `OTEL_*` variables apply as the SDK reads them (service name,
headers, sampler). A unit of work's span is a child of its request's: the lanes run each
unit in a copy of the request's context (`app/core/db/lanes.py`), where the current span is.
"""

import logging
import os
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

if TYPE_CHECKING:
    from app.core.db import Database

log = logging.getLogger("hipfix.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def wanted() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def install_tracing(app: FastAPI, database: "Database", processor: Any = None) -> bool:
    """Trace `app`'s requests, `database`'s units of work and their SQL. `processor`: a span
    processor to use instead of OTLP's (the tests' in-memory exporter). True when installed."""
    if processor is None and not wanted():
        return False
    try:
        from opentelemetry import metrics
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'hipfix[otel]'): serving without traces"
        )
        return False
    if processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
    service = os.environ.get("OTEL_SERVICE_NAME") or "hipfix"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    # /metrics and the probes are scraped every few seconds: spans of them are noise.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="metrics,healthz,readyz"
    )
    # The instrumentation's engine tracer on this engine alone: its instrumentor would also
    # patch `create_engine` for the whole process, once, with the first provider it is given
    # (and its declared range stops below SQLAlchemy 2.1, whose cursor events are unchanged:
    # tests/api/test_tracing.py checks the spans come).
    usage = metrics.get_meter("hipfix.db").create_up_down_counter("db.client.connections.usage")
    EngineTracer(provider.get_tracer("hipfix.sql"), database.engine, usage)  # type: ignore[no-untyped-call]  # untyped lib
    database.tracer = provider.get_tracer("hipfix.db")
    app.state.tracer_provider = provider  # flushed and shut down with the app
    return True
