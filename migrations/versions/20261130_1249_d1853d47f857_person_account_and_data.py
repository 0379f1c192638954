"""A person's own account and data (issue #15): the client's timezone changes (none for
histories stored before: their one zone applies throughout), enrolments that end (when, the
outcome, why), deleted sessions and assessments (kept, marked, like pain logs), and
forgotten-password tokens with the requests throttled per e-mail and address.

Revision ID: d1853d47f857
Revises: dcf956977e2a
Created: 2026-11-30 12:49:40.532824+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d1853d47f857"
down_revision: str | None = "dcf956977e2a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "password_reset_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_request")),
    )
    with op.batch_alter_table("password_reset_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_password_reset_request_email_at"), ["email", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_password_reset_request_ip_at"), ["ip", "at"], unique=False
        )

    op.create_table(
        "password_reset",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_password_reset_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_token_hash")),
    )
    with op.batch_alter_table("password_reset", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_password_reset_account_id"), ["account_id"], unique=False
        )

    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone_changes", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True)
        )
        batch_op.add_column(
            sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
        batch_op.add_column(sa.Column("ended_by", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("param_changes", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )

    with op.batch_alter_table("exercise_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exercise_session", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_column("param_changes")
        batch_op.drop_column("ended_by")
        batch_op.drop_column("end_reason")
        batch_op.drop_column("outcome")
        batch_op.drop_column("ended_at")

    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("timezone_changes")

    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")

    with op.batch_alter_table("password_reset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_reset_account_id"))

    op.drop_table("password_reset")
    with op.batch_alter_table("password_reset_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_reset_request_ip_at"))
        batch_op.drop_index(batch_op.f("ix_password_reset_request_email_at"))

    op.drop_table("password_reset_request")
