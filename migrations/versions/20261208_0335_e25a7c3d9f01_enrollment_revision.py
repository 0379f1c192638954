"""An enrolment's revision (issue 25): moved on by every replay stored, and written on each
checkpoint, so that a coach's whole-history replay, computed outside the writer, can tell
whether what it read is still what is stored, and if not from which day on it changed.

Revision ID: e25a7c3d9f01
Revises: c22e1a7f4b90
Created: 2026-12-08 03:35:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e25a7c3d9f01"
down_revision: str | None = "c22e1a7f4b90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("engine_checkpoint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("engine_checkpoint", schema=None) as batch_op:
        batch_op.drop_column("revision")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_column("revision")
