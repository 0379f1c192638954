"""SQLModel tables. Importing this package registers every table on the metadata."""

from app.models.base import metadata
from app.models.content import ExerciseRow, ProtocolRow

__all__ = ["ExerciseRow", "ProtocolRow", "metadata"]
