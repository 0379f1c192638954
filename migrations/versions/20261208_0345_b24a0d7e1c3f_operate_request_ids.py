"""Operations (issue #24): a webhook delivery keeps the request id of the request whose unit of
work wrote it, and sends it with each attempt (`X-Request-ID`), so a receiver's report can be
traced to HipFix's log. Older deliveries have none.

Revision ID: b24a0d7e1c3f
Revises: e25a7c3d9f01
Created: 2026-12-08 03:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b24a0d7e1c3f"
down_revision: str | None = "e25a7c3d9f01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_delivery") as batch:
        batch.add_column(
            sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery") as batch:
        batch.drop_column("request_id")
