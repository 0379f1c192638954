"""Generated clients are part of the contract (`make clients`): both generators take
openapi/openapi.json as committed (the Python one given its package's name only); the
TypeScript types pass `tsc --strict`, and the Python client, installable with its
dependencies listed, walks through the API against a served instance, its usage notes'
example included."""

import importlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.server import serving

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "openapi" / "openapi.json"
CLIENTS = ROOT / "clients"
BIN = Path(sys.executable).parent
PACKAGE = "hipfix_api_client"
PASSWORD = "correct horse battery"

# Uses the types a browser app would: a dose read as numbers must be typed as numbers.
USAGE_TS = """
import type { components, paths } from "./hipfix";

type Today = components["schemas"]["Today"];
type Exercise = components["schemas"]["Exercise"];

export function firstSets(today: Today): number | null | undefined {
  return today.routine[0]?.dose.sets;
}

export function sameShape(today: Today, exercise: Exercise): boolean {
  const dose: Exercise["dose"] = today.routine[0].dose;
  return dose.per_side === exercise.dose.per_side;
}

export const zone: components["schemas"]["AccountCreate"]["timezone"] = "Europe/London";

type ClientsPage =
  paths["/v1/clients"]["get"]["responses"][200]["content"]["application/json"];
export const names = (page: ClientsPage): string[] => page.items.map((c) => c.display_name);
"""


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def python_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    # As `make clients` makes it: an installable project, the package inside.
    folder = tmp_path_factory.mktemp("python-client") / "python"
    done = _run(
        [
            BIN / "openapi-python-client",
            *("generate", "--path", CONTRACT, "--meta", "uv"),
            *("--config", CLIENTS / "python" / "config.yaml", "--output-path", folder),
        ],
        cwd=folder.parent,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # A clean run: the generator prints warnings for parts it had to leave out.
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        package = importlib.import_module(PACKAGE)
        importlib.import_module(f"{PACKAGE}.models")
        yield package
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _node_tools() -> Path:
    """clients/node_modules/.bin, installed from the package-lock when missing."""
    tools = CLIENTS / "node_modules" / ".bin"
    if (tools / "tsc").exists() and (tools / "openapi-typescript").exists():
        return tools
    if shutil.which("npm") is None:
        pytest.skip("TypeScript check skipped: npm is not installed")
    done = _run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=CLIENTS)
    if done.returncode != 0:
        pytest.skip(f"TypeScript check skipped: npm ci failed in clients/: {done.stderr[-500:]}")
    return tools


def test_typescript_types_pass_tsc_strict(tmp_path: Path) -> None:
    tools = _node_tools()
    generated = _run(
        [tools / "openapi-typescript", CONTRACT, "--output", tmp_path / "hipfix.d.ts"],
        cwd=tmp_path,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    (tmp_path / "usage.ts").write_text(USAGE_TS)
    checked = _run(
        [
            tools / "tsc",
            *("--strict", "--noEmit", "--target", "es2022", "--module", "es2022"),
            *("--moduleResolution", "bundler", "usage.ts", "hipfix.d.ts"),
        ],
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _call(module: ModuleType, operation: str, expected: int, **kwargs: Any) -> Any:
    """`api.<tag>.<operation>.sync_detailed(**kwargs)`: the parsed body of `expected`."""
    tag, name = operation.split(".")
    endpoint = importlib.import_module(f"{module.__name__}.api.{tag}.{name}")
    response = endpoint.sync_detailed(**kwargs)
    assert response.status_code == expected, (operation, response.status_code, response.content)
    return response.parsed


def _sign_up(api: ModuleType, http: Any, role: str, name: str) -> Any:
    models = api.models
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    account = models.AccountCreate.from_dict(
        {
            "email": email,
            "password": PASSWORD,
            "display_name": name,
            "role": role,
            "timezone": "Europe/London",
        }
    )
    created = _call(api, "accounts.create_account", 201, client=http, body=account)
    assert isinstance(created, models.AccountPublic)
    form = models.TokenRequest.from_dict({"username": email, "password": PASSWORD})
    token = _call(api, "accounts.create_token", 200, client=http, body=form)
    assert isinstance(token, models.Token)
    return api.AuthenticatedClient(base_url=http._base_url, token=token.access_token)


def test_python_client_walkthrough(python_client: ModuleType, tmp_path: Path) -> None:
    api, models = python_client, python_client.models
    started = datetime.now(UTC) - timedelta(days=3)
    with serving(f"sqlite:///{tmp_path / 'hipfix.db'}", tmp_path / "server.log") as server:
        http = api.Client(base_url=server.base)
        sam = _sign_up(api, http, "client", "Sam")

        enrolment = models.EnrollmentCreate.from_dict(
            {"protocol": "hip-impingement", "baseline_pain": 6, "started_at": started.isoformat()}
        )
        enrolled = _call(
            api, "enrolments.create_enrollment", 201, client_id="me", client=sam, body=enrolment
        )
        assert isinstance(enrolled, models.EnrollmentPublic)

        log_id = str(uuid.uuid4())
        pain = models.PainLogCreate.from_dict(
            {
                "id": log_id,
                "score": 4,
                "context": "rest",
                "recorded_at": (started + timedelta(days=1)).isoformat(),
                "side": "right",
            }
        )
        logged = _call(api, "pain_logs.create_pain_log", 201, client_id="me", client=sam, body=pain)
        assert isinstance(logged, models.PainLogPublic)
        assert str(logged.id) == log_id
        # The same id and body again: the stored item (safe to retry).
        again = _call(api, "pain_logs.create_pain_log", 200, client_id="me", client=sam, body=pain)
        assert again is not None

        session = models.SessionCreate.from_dict(
            {
                "id": str(uuid.uuid4()),
                "performed_at": (started + timedelta(days=1, hours=8)).isoformat(),
                "pain_during": 3,
                "exercises": [{"exercise": "hip-flexor-stretch", "sets": 3, "hold_seconds": 30}],
            }
        )
        done = _call(api, "sessions.create_session", 201, client_id="me", client=sam, body=session)
        assert isinstance(done, models.SessionPublic)

        progress = _call(api, "progression.get_progress", 200, client_id="me", client=sam)
        assert isinstance(progress, models.Progress)
        assert [s.slug for s in progress.stages][:2] == [
            "release-hip-flexors",
            "stretch-hip-flexors",
        ]

        today = _call(api, "progression.get_today", 200, client_id="me", client=sam)
        assert isinstance(today, models.Today)
        doses = {entry.exercise: entry.dose for entry in today.routine}
        assert isinstance(doses["hip-flexor-stretch"], models.Dose)
        assert doses["hip-flexor-stretch"].sets == 3
        assert doses["hip-flexor-stretch"].hold_seconds == 30

        coach = _sign_up(api, http, "coach", "Cory")
        managed = models.ClientCreate.from_dict(
            {"id": str(uuid.uuid4()), "display_name": "Robin", "timezone": "America/New_York"}
        )
        robin = _call(api, "clients.create_client", 201, client=coach, body=managed)
        assert isinstance(robin, models.ClientPublic)
        _call(
            api,
            "enrolments.create_enrollment",
            201,
            client_id=str(robin.id),
            client=coach,
            body=enrolment,
        )
        page = _call(api, "clients.list_clients", 200, client=coach)
        assert isinstance(page, models.ClientSummaryPage)
        assert [str(c.id) for c in page.items] == [str(robin.id)]
        # Another coach's client is not there for Sam: the problem comes back typed.
        hidden = _call(api, "progression.get_progress", 404, client_id=str(robin.id), client=sam)
        assert isinstance(hidden, models.Problem)
        assert hidden.status == 404


def test_the_python_client_is_a_project_that_lists_its_dependencies(python_client: ModuleType):
    project = Path(python_client.__file__).parents[1] / "pyproject.toml"
    text = project.read_text(encoding="utf-8")
    assert 'name = "hipfix-api-client"' in text
    for needed in ("httpx", "attrs"):
        assert f'"{needed}' in text, text


def test_the_usage_notes_example_runs(
    python_client: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = (CLIENTS / "python" / "USAGE.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", notes, flags=re.S)
    with serving(f"sqlite:///{tmp_path / 'hipfix.db'}", tmp_path / "server.log") as server:
        os.environ["HIPFIX_API"] = server.base
        try:
            exec(example, {"__name__": "usage_example"})
        finally:
            del os.environ["HIPFIX_API"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("201 ")
    assert printed[1] == "progressing"
