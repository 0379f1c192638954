"""Migrations build the schema the models describe, and take it down again."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from app.core.db import build_engine
from app.core.migrations import alembic_config, current_revisions, head_revisions
from app.models import metadata
from tests.databases import KINDS, fresh_database, require


@pytest.fixture(params=KINDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    require(request.param)
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _revisions(engine) -> set[str]:
    with engine.connect() as connection:
        return current_revisions(connection)


def test_upgrade_check_and_downgrade_on_a_fresh_database(fresh_url: str):
    url = fresh_url
    config = alembic_config(url)
    engine = build_engine(url)
    try:
        command.upgrade(config, "head")
        assert _revisions(engine) == set(head_revisions())
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())

        # Raises if autogenerate would find any difference between models and migrations.
        command.check(config)

        command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert _revisions(engine) == set()

        command.upgrade(config, "head")  # and back up again
        assert _revisions(engine) == set(head_revisions())
    finally:
        engine.dispose()


def test_migration_files_have_dated_names():
    versions = Path(__file__).parents[1] / "migrations" / "versions"
    names = sorted(p.name for p in versions.glob("*.py"))
    assert names
    for name in names:
        assert re.match(r"^\d{8}_\d{4}_[0-9a-f]+_\w+\.py$", name), name


def test_sqlite_connections_get_our_pragmas(tmp_path: Path):
    engine = build_engine(f"sqlite:///{tmp_path / 'sub' / 'p.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() >= 1000
        assert (tmp_path / "sub" / "p.db").exists()  # the folder was created
    finally:
        engine.dispose()
