"""Backups of a SQLite database while it serves, and putting one back (`hipfix backup`,
`hipfix restore`; docs/operations.md, and what to run on PostgreSQL instead).

A backup is SQLite's online backup API copying every page in one step: the step reads in
one transaction, so the copy is the database as of one commit, and in WAL mode the serving
processes' writers go on meanwhile (a reader never blocks them). It is written beside the
destination and renamed into place once complete and checked, so a backup cut short leaves no
half file under the name asked for.

A restore refuses while any process serves the database: each serving process holds a shared
lock on a file beside it for its lifetime (`ServingLock`), and a restore needs that lock
alone. The backup is checked (SQLite's integrity check, and a migrated schema) before
anything of the database is touched, then copied in with the same API, which writes the
database through SQLite (its WAL included) rather than replacing the file under it.
"""

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url


class BackupError(Exception):
    """Something the operator must act on; the message says what."""


def sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            "backup and restore are for SQLite files; on PostgreSQL use pg_dump and "
            "pg_restore (docs/operations.md says how)"
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("this database lives in memory: there is no file to back up")
    return Path(parsed.database)


def _lock_path(database: Path) -> str:
    return f"{database}.serving-lock"


class ServingLock:
    """Held (shared) by every process serving a SQLite file, for as long as it serves."""

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database
        self._path = (
            _lock_path(Path(database))
            if engine.dialect.name == "sqlite" and database and database != ":memory:"
            else None
        )
        self._fd: int | None = None

    def hold(self) -> None:
        if self._path is None:
            return
        try:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return  # a read-only folder: nothing could restore into it either
        fcntl.flock(self._fd, fcntl.LOCK_SH)  # waits for a restore under way

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # drops the lock
            self._fd = None


@contextlib.contextmanager
def _nobody_serving(database: Path) -> Iterator[None]:
    fd = os.open(_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"{database} is being served: stop every HipFix process using it, then restore"
            ) from None
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Copied:
    pages: int
    bytes: int


def _check(connection: sqlite3.Connection, what: str) -> None:
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a SQLite database ({exc})") from None
    if problems != ["ok"]:
        raise BackupError(f"{what} failed SQLite's integrity check: {'; '.join(problems[:5])}")
    migrated = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    if not migrated or migrated[0] != 1:
        raise BackupError(f"{what} holds no HipFix database (no migrations applied)")


def backup(url: str, destination: Path) -> Copied:
    """A consistent copy of the database at `url`, written to `destination` (which must not
    exist)."""
    database = sqlite_path(url)
    if not database.exists():
        raise BackupError(f"{database} does not exist")
    if destination.exists():
        raise BackupError(f"{destination} exists already: name a new file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # every page in one step: one snapshot
            # A self-contained file: no WAL beside it to lose when it is copied elsewhere.
            target.execute("PRAGMA journal_mode=DELETE")
            _check(target, "the copy")
            pages = target.execute("PRAGMA page_count").fetchone()[0]
        finally:
            target.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, destination)
    return Copied(pages, destination.stat().st_size)


def restore(url: str, source: Path) -> Copied:
    """Put the backup at `source` in place of the database at `url` (created if missing),
    refusing while any process serves it."""
    database = sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _check(backup_db, str(source))
        database.parent.mkdir(parents=True, exist_ok=True)
        with _nobody_serving(database):
            target = sqlite3.connect(database)
            try:
                backup_db.backup(target)
                target.execute("PRAGMA journal_mode=WAL")  # as the service runs it
                _check(target, "the restored database")
                pages = target.execute("PRAGMA page_count").fetchone()[0]
            finally:
                target.close()
    finally:
        backup_db.close()
    return Copied(pages, database.stat().st_size)
