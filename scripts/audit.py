"""Dependency audit: pip-audit on requirements-dev.lock, telling "nothing found" from "not asked".

`make audit` (and so `make test`) runs this. pip-audit alone cannot be trusted to fail when
it audited nothing: when its vulnerability service answers 404 for every pinned version (as
a PyPI mirror without the per-version JSON API does) it skips every package and still says
"No known vulnerabilities found" with exit status 0. So it runs with `--format json`, where
each package is either audited (`vulns`, possibly empty) or skipped (`skip_reason`), and:

- any vulnerability in an audited package: it lists them and fails (exit 1);
- no service audited a single package (every package skipped, the service unreachable, or
  no answer within the time limit): it prints "could not audit: no vulnerability service
  reachable" with each service's reason, and exits 0 — a network outside our control must
  not block a landing, and the message says plainly that nothing was checked;
- some packages audited, none vulnerable: it says how many, names the skipped ones, exit 0;
- anything else (a pip-audit error that is not a connection failure, output it cannot
  read): it fails, so a broken lock file or tool is never mistaken for an outage.

The services are tried in order, PyPI's JSON API then OSV, until one audits something.

    .venv/bin/python scripts/audit.py [lock file, default requirements-dev.lock]

AUDIT_TIMEOUT (seconds, default 180) bounds each pip-audit run.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
SERVICES = ("pypi", "osv")
# What pip-audit prints when it could not reach a service (its own ConnectionError, or the
# requests / urllib3 exception it lets through for DNS failures and refused connections).
UNREACHABLE = (
    "Connection error",
    "requests.exceptions.ConnectionError",
    "requests.exceptions.ConnectTimeout",
    "requests.exceptions.ReadTimeout",
    "NameResolutionError",
    "Max retries exceeded",
)


class UnreachableError(Exception):
    """The service gave no usable answer for any package; the message says why."""


def audit(lock: str, service: str, timeout: int) -> list[dict]:
    """pip-audit's per-package results from one service."""
    command = [
        *(BIN / "pip-audit", "--requirement", lock, "--disable-pip", "--require-hashes"),
        *("--vulnerability-service", service, "--format", "json"),
        *("--progress-spinner", "off", "--timeout", "20"),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UnreachableError(f"no answer within {timeout} s") from None
    try:
        dependencies = json.loads(done.stdout)["dependencies"]
    except (ValueError, KeyError, TypeError):
        errors = done.stderr.strip().splitlines()
        if any(marker in done.stderr for marker in UNREACHABLE):
            raise UnreachableError(errors[-1] if errors else "connection failed") from None
        sys.stderr.write(done.stderr)
        raise SystemExit(f"audit: pip-audit failed (exit {done.returncode}), see above") from None
    if not dependencies:
        raise SystemExit(f"audit: pip-audit found no packages in {lock}")
    if all("skip_reason" in dep for dep in dependencies):
        first = dependencies[0]["skip_reason"]
        raise UnreachableError(f"all {len(dependencies)} packages skipped, e.g. {first}")
    return dependencies


def report(service: str, dependencies: list[dict]) -> int:
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    skipped = [dep["name"] for dep in dependencies if "skip_reason" in dep]
    found = [(dep, vuln) for dep in audited for vuln in dep.get("vulns", [])]
    print(f"audit ({service}): {len(audited)} of {len(dependencies)} packages audited")
    if skipped:
        print(f"audit: could not audit {len(skipped)}: {', '.join(skipped)}")
    for dep, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
        print(f"audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    if found:
        print(f"audit: {len(found)} known vulnerabilities", file=sys.stderr)
        return 1
    print("audit: no known vulnerabilities in the audited packages")
    return 0


def main(args: list[str]) -> int:
    lock = args[0] if args else "requirements-dev.lock"
    timeout = int(os.environ.get("AUDIT_TIMEOUT", "180"))
    reasons = []
    for service in SERVICES:
        try:
            return report(service, audit(lock, service, timeout))
        except UnreachableError as reason:
            reasons.append(f"{service}: {reason}")
    print("audit: could not audit: no vulnerability service reachable (nothing was checked)")
    for reason in reasons:
        print(f"audit:   {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
