"""Integrations a clinic can trust (issue 22): lifecycle events in the feed. An entry may be
`client_left` (for one coach: `coach_id`), `enrollment_ended` or `params_changed`, with no
decision behind it (`event_id` is its own id, `detail` what it says); a `client_left` outlives
the erased client, so `client_id` and `event_id` no longer name rows.

Revision ID: c22e1a7f4b90
Revises: da2406391926
Created: 2026-12-08 03:07:32.390826+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c22e1a7f4b90"
down_revision: str | None = "da2406391926"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coach_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_feed_entry_coach_id_seq"), ["coach_id", "seq"], unique=False
        )
        batch_op.drop_constraint(
            batch_op.f("fk_feed_entry_event_id_engine_event"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_feed_entry_client_id_client"), type_="foreignkey")


def downgrade() -> None:
    # Lifecycle entries name no decision (nor, after an erasure, a client): they go first.
    op.execute("DELETE FROM feed_entry WHERE detail IS NOT NULL")
    with op.batch_alter_table("feed_entry", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_feed_entry_client_id_client"), "client", ["client_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_feed_entry_event_id_engine_event"), "engine_event", ["event_id"], ["id"]
        )
        batch_op.drop_index(batch_op.f("ix_feed_entry_coach_id_seq"))
        batch_op.drop_column("detail")
        batch_op.drop_column("coach_id")
