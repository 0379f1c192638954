"""The dependency audit's verdicts (scripts/audit.py), from pip-audit's JSON per package:
a known vulnerability fails CI, "nothing asked" is never reported as "nothing found"."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "audit", Path(__file__).resolve().parents[2] / "scripts" / "audit.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
audit = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(audit)

CLEAN = {"name": "fastapi", "version": "0.165.0", "vulns": []}
SKIPPED = {"name": "httpx", "version": "0.28.1", "skip_reason": "Dependency not found on PyPI"}
VULNERABLE = {
    "name": "oldlib",
    "version": "1.0",
    "vulns": [{"id": "PYSEC-2026-1", "fix_versions": ["1.1"]}],
}


def test_a_known_vulnerability_fails(capsys):
    assert audit.report("pypi", [CLEAN, VULNERABLE, SKIPPED]) == 1
    out = capsys.readouterr().out
    assert "oldlib 1.0: PYSEC-2026-1 (fixed in: 1.1)" in out
    assert "could not audit 1: httpx" in out


def test_audited_packages_without_vulnerabilities_pass_and_say_what_was_skipped(capsys):
    assert audit.report("pypi", [CLEAN, SKIPPED]) == 0
    assert "1 of 2 packages audited" in capsys.readouterr().out


def _pip_audit_printing(monkeypatch, stdout: str, stderr: str = "", code: int = 0) -> None:
    def run(*_args, **_kwargs):
        return subprocess.CompletedProcess([], code, stdout=stdout, stderr=stderr)

    monkeypatch.setattr(audit.subprocess, "run", run)


def test_every_package_skipped_is_no_service_not_a_clean_bill(monkeypatch, capsys):
    _pip_audit_printing(monkeypatch, json.dumps({"dependencies": [SKIPPED, SKIPPED]}))
    assert audit.main(["requirements-dev.lock"]) == 0
    out = capsys.readouterr().out
    assert "could not audit: no vulnerability service reachable (nothing was checked)" in out
    assert "no known vulnerabilities" not in out


def test_an_unreachable_service_is_said_and_a_broken_tool_fails(monkeypatch, capsys):
    _pip_audit_printing(monkeypatch, "", "requests.exceptions.ConnectionError: refused", 1)
    assert audit.main(["requirements-dev.lock"]) == 0
    assert "nothing was checked" in capsys.readouterr().out

    _pip_audit_printing(monkeypatch, "", "ERROR: invalid requirement in lock file", 1)
    with pytest.raises(SystemExit, match="pip-audit failed"):
        audit.main(["requirements-dev.lock"])
