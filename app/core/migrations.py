"""Alembic, driven from code: upgrade to head, and tell whether a database is at head."""

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from app.core.config import get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(PROJECT_ROOT / "alembic.ini")
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def database_url_of(config: Config) -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def upgrade_to_head(database_url: str | None = None) -> int:
    """Apply the migrations the database lacks: how many were applied."""
    applied: list[object] = []
    config = alembic_config(database_url)
    # Alembic calls this for each step it runs (`on_version_apply`, see migrations/env.py).
    config.attributes["on_version_apply"] = applied.append
    command.upgrade(config, "head")
    return len(applied)


@lru_cache
def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())
