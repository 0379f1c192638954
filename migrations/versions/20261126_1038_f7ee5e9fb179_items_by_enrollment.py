"""Index pain logs, sessions and assessments by enrolment and time: the engine's replay
reads what followed a moment for one enrolment, and scanned every client's rows for it.

Revision ID: f7ee5e9fb179
Revises: 8d02dcd57f4c
Created: 2026-11-26 10:38:55.369640+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f7ee5e9fb179"
down_revision: str | None = "8d02dcd57f4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assessment_enrollment_id_performed_at"),
            ["enrollment_id", "performed_at"],
            unique=False,
        )

    with op.batch_alter_table("exercise_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exercise_session_enrollment_id_performed_at"),
            ["enrollment_id", "performed_at"],
            unique=False,
        )

    with op.batch_alter_table("pain_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pain_log_enrollment_id_recorded_at"),
            ["enrollment_id", "recorded_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("pain_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pain_log_enrollment_id_recorded_at"))

    with op.batch_alter_table("exercise_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exercise_session_enrollment_id_performed_at"))

    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessment_enrollment_id_performed_at"))
