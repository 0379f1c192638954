"""Coaches' tools (issue #13): invitations and the guesses throttled, who acted on every log,
override and decision, API keys' last use, the engine's standing on the enrolment for the
coach's list, and the event feed with its sequence.

Existing logs, overrides and enrolments are credited to the account that wrote them, with
its role (no API key: which one was used was not recorded). Decisions stored before this
keep no actor (null). The enrolment's standing columns start empty and are filled by
`hipfix reevaluate` (run by `hipfix migrate`), which replays each history once with the
engine as it is now: a migration must not depend on it. The feed starts empty.

Revision ID: dcf956977e2a
Revises: a3c5e7f90b12
Created: 2026-11-30 12:29:36+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "dcf956977e2a"
down_revision: str | None = "a3c5e7f90b12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WRITTEN_BY_ACCOUNT = ("assessment", "enrollment", "exercise_session", "override", "pain_log")


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "feed_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_clock")),
    )
    op.bulk_insert(
        sa.table("feed_clock", sa.column("id", sa.Integer()), sa.column("seq", sa.BigInteger())),
        [{"id": 1, "seq": 0}],
    )
    op.create_table(
        "invitation_guess",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ip", _string(64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_invitation_guess_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_guess")),
    )
    with op.batch_alter_table("invitation_guess", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invitation_guess_account_id_at"), ["account_id", "at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_invitation_guess_ip_at"), ["ip", "at"], unique=False)

    op.create_table(
        "invitation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("coach_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", _string(64), nullable=False),
        sa.Column("prefix", _string(12), nullable=False),
        sa.Column("email", _string(254), nullable=True),
        sa.Column("display_name", _string(100), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("body_hash", _string(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_client_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_client_id"],
            ["client.id"],
            name=op.f("fk_invitation_accepted_client_id_client"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_invitation_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["coach_id"], ["account.id"], name=op.f("fk_invitation_coach_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invitation_code_hash")),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invitation_coach_id_created_at"),
            ["coach_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "feed_entry",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", _string(20), nullable=False),
        sa.Column("actor_role", _string(10), nullable=False),
        sa.Column("actor_account_id", sa.Uuid(), nullable=True),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_account_id"],
            ["account.id"],
            name=op.f("fk_feed_entry_actor_account_id_account"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_feed_entry_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["engine_event.id"], name=op.f("fk_feed_entry_event_id_engine_event")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_feed_entry")),
    )
    with op.batch_alter_table("feed_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feed_entry_client_id_seq"), ["client_id", "seq"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_feed_entry_event_id"), ["event_id"], unique=False)

    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("engine_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_role", _string(10), nullable=True))
        batch_op.add_column(sa.Column("actor_account_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("actor_key_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_engine_event_actor_account_id_account"),
            "account",
            ["actor_account_id"],
            ["id"],
        )

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("referred", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("resolved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("hold_ends_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("top_stage", _string(80), nullable=True))
        batch_op.add_column(sa.Column("last_logged_at", sa.DateTime(timezone=True), nullable=True))

    # Who wrote each stored log, override and enrolment: its account, with that account's role.
    for table in _WRITTEN_BY_ACCOUNT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("actor_role", _string(10), nullable=True))
            batch_op.add_column(sa.Column("actor_key_id", sa.Uuid(), nullable=True))
        op.execute(
            f"UPDATE {table} SET actor_role = "
            f"(SELECT account.role FROM account WHERE account.id = {table}.created_by)"
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("actor_role", existing_type=_string(10), nullable=False)

    # The defaults were for the rows already there; the model gives new rows their values.
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.alter_column("referred", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("resolved", existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    for table in _WRITTEN_BY_ACCOUNT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("actor_key_id")
            batch_op.drop_column("actor_role")

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_column("last_logged_at")
        batch_op.drop_column("top_stage")
        batch_op.drop_column("hold_ends_at")
        batch_op.drop_column("resolved")
        batch_op.drop_column("referred")

    with op.batch_alter_table("engine_event", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_engine_event_actor_account_id_account"), type_="foreignkey"
        )
        batch_op.drop_column("actor_key_id")
        batch_op.drop_column("actor_account_id")
        batch_op.drop_column("actor_role")

    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")

    with op.batch_alter_table("feed_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_entry_event_id"))
        batch_op.drop_index(batch_op.f("ix_feed_entry_client_id_seq"))
    op.drop_table("feed_entry")

    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_coach_id_created_at"))
    op.drop_table("invitation")

    with op.batch_alter_table("invitation_guess", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_guess_ip_at"))
        batch_op.drop_index(batch_op.f("ix_invitation_guess_account_id_at"))
    op.drop_table("invitation_guess")
    op.drop_table("feed_clock")
