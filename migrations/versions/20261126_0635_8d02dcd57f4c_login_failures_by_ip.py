"""login failures by ip

Revision ID: 8d02dcd57f4c
Revises: 1f748152aea1
Created: 2026-11-26 06:35:14.214370+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "8d02dcd57f4c"
down_revision: str | None = "1f748152aea1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Failures are now counted per e-mail and address. Those recorded before have no address
    # and are at most one window old: forgetting them lets the new column be NOT NULL.
    op.execute("DELETE FROM login_failure")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        )
        batch_op.drop_index(batch_op.f("ix_login_failure_email_at"))
        batch_op.create_index(
            batch_op.f("ix_login_failure_email_ip_at"), ["email", "ip", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failure_email_ip_at"))
        batch_op.create_index(
            batch_op.f("ix_login_failure_email_at"), ["email", "at"], unique=False
        )
        batch_op.drop_column("ip")
