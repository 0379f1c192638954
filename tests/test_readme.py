"""The README's shell walk-throughs run as written: every variable they use is set before it
is used (or has a default), and every curl says why it failed instead of printing nothing."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [line for block in blocks for line in block.splitlines()]


def _code(line: str) -> str:
    """The line without its comment (what the shell runs)."""
    return "" if line.lstrip().startswith("#") else re.sub(r"\s#\s.*$", "", line)


def test_every_variable_is_set_before_it_is_used():
    assigned: set[str] = set()
    unset: list[str] = []
    for line in map(_code, _shell_lines()):
        for used in re.finditer(r"\$\{?([A-Z_][A-Z0-9_]*)(:-)?", line):
            if used.group(1) not in assigned and not used.group(2):
                unset.append(used.group(1))
        assigned.update(re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", line))
    assert unset == []


def test_every_curl_shows_its_errors():
    silent = [
        line for line in map(_code, _shell_lines()) if re.search(r"curl -s(?![A-Za-z]*S)", line)
    ]
    assert silent == []
