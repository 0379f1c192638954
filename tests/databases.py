"""Fresh databases for tests: a SQLite file always, PostgreSQL when a server is given.

PostgreSQL runs need `HIPFIX_TEST_POSTGRES_URL` (for example
postgresql+psycopg://postgres@127.0.0.1:5432/test); each run creates its own database on
that server and drops it afterwards, so runs never see each other's rows.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("HIPFIX_TEST_POSTGRES_URL")
KINDS = ["sqlite", "postgresql"]
SKIP_POSTGRES = (
    "PostgreSQL run skipped: set HIPFIX_TEST_POSTGRES_URL "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run it"
)


def require(kind: str) -> None:
    if kind == "postgresql" and not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database of this kind, removed afterwards."""
    name = f"hipfix_test_{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        yield f"sqlite:///{folder / name}.db"
        return
    assert POSTGRES_URL is not None
    server = make_url(POSTGRES_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
