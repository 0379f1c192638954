"""The data path: engines (`engine`), units of work (`unit_of_work`), writers' turns
(`writers`) and one-statement reads (`prepared`). Routes use `DatabaseDep` and nothing else;
see docs/architecture.md."""

from app.core.db.engine import build_engine, get_engine
from app.core.db.unit_of_work import Database, DatabaseDep, caches_of, database_of

__all__ = ["Database", "DatabaseDep", "build_engine", "caches_of", "database_of", "get_engine"]
