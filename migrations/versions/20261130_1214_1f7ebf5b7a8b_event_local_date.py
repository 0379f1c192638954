"""Decision events carry the client's local date beside `at` (rules v1.1): a flare's
`hold_until` is a local date, and a UTC `at` alone often named another day.

Stored events get the date of `at` in their client's time zone. Decisions themselves are
re-evaluated by `hipfix reevaluate` (run by `hipfix migrate` after the content is loaded),
not here: that needs the engine as it is now, which a migration must not depend on.

Revision ID: 1f7ebf5b7a8b
Revises: f7ee5e9fb179
Created: 2026-11-30 12:14:00+00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "1f7ebf5b7a8b"
down_revision: str | None = "f7ee5e9fb179"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_events = sa.table(
    "engine_event",
    sa.column("id", sa.Uuid()),
    sa.column("client_id", sa.Uuid()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("local_date", sa.Date()),
)
_clients = sa.table("client", sa.column("id", sa.Uuid()), sa.column("timezone", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("engine_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("local_date", sa.Date(), nullable=True))

    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_events.c.id, _events.c.at, _clients.c.timezone).join(
            _clients, _clients.c.id == _events.c.client_id
        )
    ).all()
    for ident, at, timezone in rows:
        moment: datetime = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite
        connection.execute(
            sa.update(_events)
            .where(_events.c.id == ident)
            .values(local_date=moment.astimezone(ZoneInfo(timezone)).date())
        )

    with op.batch_alter_table("engine_event", schema=None) as batch_op:
        batch_op.alter_column("local_date", existing_type=sa.Date(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("engine_event", schema=None) as batch_op:
        batch_op.drop_column("local_date")
