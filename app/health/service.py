"""What the readiness probe asks the database."""

from sqlalchemy import text
from sqlmodel import Session

from app.core.migrations import current_revisions


def schema_revisions(session: Session) -> set[str]:
    """The migrations the database is at (after a round trip that proves it answers)."""
    connection = session.connection()
    connection.execute(text("SELECT 1"))
    return current_revisions(connection)
