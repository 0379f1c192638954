"""The feed numbered by the transaction that wrote each entry, not under a counter row
(issue #20): writers that decide something no longer take turns on `feed_clock`.

Entries already stored keep their numbers: they were handed out in commit order, one
transaction at a time, so they are all below the first number a transaction can take now
(its id times 2**20), and cursors kept by pollers still mean the same place.

Revision ID: 29e15f544236
Revises: d1853d47f857
Created: 2026-12-07 23:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "29e15f544236"
down_revision: str | None = "d1853d47f857"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BLOCK = 1 << 20  # app.progression.feed.BLOCK


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Each of those transactions had an id below this one's and took fewer than BLOCK
        # numbers, so this holds; checked, since a poller would skip entries if it did not.
        highest, first_new = bind.execute(
            sa.text(
                "SELECT coalesce(max(seq), 0), pg_current_xact_id()::text::bigint * :block "
                "FROM feed_entry"
            ),
            {"block": BLOCK},
        ).one()
        if highest >= first_new:
            raise RuntimeError(
                f"feed_entry.seq reaches {highest}, not below {first_new}: renumber first"
            )
    op.drop_table("feed_clock")


def downgrade() -> None:
    op.create_table(
        "feed_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_clock")),
    )
    op.execute("INSERT INTO feed_clock (id, seq) SELECT 1, coalesce(max(seq), 0) FROM feed_entry")
