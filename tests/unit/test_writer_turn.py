"""Worker processes take turns writing to one SQLite file (app.core.db.WriterTurn)."""

import subprocess
import sys
from pathlib import Path

from app.core.db.writers import WriterTurn

# Another process asks for the turn without waiting: exit 0 if it got it, 1 if not.
_TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
"""


def _other_process_gets_the_turn(lock: Path) -> bool:
    return subprocess.run([sys.executable, "-c", _TRY, str(lock)], check=False).returncode == 0


def test_a_process_holding_the_turn_keeps_others_waiting_until_it_lets_go(tmp_path: Path):
    database = tmp_path / "hipfix.db"
    turn = WriterTurn(str(database))
    lock = tmp_path / "hipfix.db.writer-lock"
    with turn():
        assert lock.exists()
        assert not _other_process_gets_the_turn(lock)
    assert _other_process_gets_the_turn(lock)
    with turn():  # taken again after the other process let go
        assert not _other_process_gets_the_turn(lock)
