"""Alembic environment: our models' metadata, our engine (with its SQLite pragmas)."""

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from app.core.db import build_engine
from app.core.migrations import database_url_of
from app.models import metadata
from app.models.base import UTCDateTime

config = context.config


def _render_item(type_: str, obj: Any, _context: Any) -> str | Literal[False]:
    # Migrations must not import app code: our UTC type is a plain aware DateTime in the DB.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _counted(step: Any, **_: Any) -> None:
    # `hipfix migrate` says how many steps it applied (app/core/migrations.py).
    config.attributes["on_version_apply"](step)


def _configure(connection: Connection) -> None:
    counting = "on_version_apply" in config.attributes
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place: copy-and-move tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        on_version_apply=[_counted] if counting else [],
    )


def run_offline() -> None:
    context.configure(
        url=database_url_of(config),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = build_engine(database_url_of(config))
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
