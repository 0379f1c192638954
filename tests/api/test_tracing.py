"""Traces: spans for requests, units of work and SQL, seen in an in-memory exporter; none of
OpenTelemetry is installed when no OTLP endpoint is set."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Connection, Engine, create_engine

from app.core.config import get_settings
from app.core.tracing import ENDPOINT_VARIABLES, install_tracing
from app.main import create_app
from tests.conftest import enrol, pain_body, signup


@pytest.fixture
def own_engine(engine: Engine) -> Iterator[Engine]:
    """An engine of its own (the SQL instrumentation's listeners stay on it), on the same
    database as the suite's."""
    separate = create_engine(engine.url)
    yield separate
    separate.dispose()


def test_requests_units_and_sql_are_spans(own_engine: Engine):
    exporter = InMemorySpanExporter()
    settings = get_settings().model_copy(update={"cpu_processes": 0})
    with own_engine.connect() as connection:
        outer = connection.begin()
        app = create_app(settings, bind=connection)
        assert install_tracing(app, app.state.database, SimpleSpanProcessor(exporter))
        with TestClient(app) as client:
            me = signup(client)
            enrol(client, me)
            exporter.clear()
            posted = client.post("/v1/clients/me/pain-logs", json=pain_body(2), headers=me.headers)
            assert posted.status_code == 201
        outer.rollback()
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    request = by_name["POST /v1/clients/{client_id}/pain-logs"]
    unit = next(s for s in spans if s.name.startswith("unit write"))
    sql = [s for s in spans if (s.attributes or {}).get("db.system") in ("sqlite", "postgresql")]
    assert sql, [s.name for s in spans]
    trace = request.context.trace_id
    # The unit ran on a lane's thread, inside the request's trace; SQL inside the unit.
    assert unit.context.trace_id == trace
    assert any(s.parent is not None and s.parent.span_id == unit.context.span_id for s in sql)
    assert all(s.context.trace_id == trace for s in sql)


def test_without_an_endpoint_nothing_is_installed(connection: Connection, monkeypatch):
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    app = create_app(get_settings().model_copy(update={"cpu_processes": 0}), bind=connection)
    assert app.state.database.tracer is None
    assert not hasattr(app.state, "tracer_provider")
    assert not install_tracing(app, app.state.database)
