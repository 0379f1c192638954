"""The shape docs/architecture.md describes, checked on the source: one unit of work per
request (only it commits or rolls back), routes that never open sessions or wait on the
event loop, a pure engine, and `core/` that knows no feature package."""

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant

from app.main import create_app
from tests.routes import api_routes

APP = Path(__file__).resolve().parents[1] / "app"
FEATURES = ("accounts", "catalogue", "tracking", "progression", "health", "clinical", "webhooks")
# The unit of work owns the transaction. The content loader is the `hipfix load-content`
# command's (run by `make run` before serving), not a request's.
MAY_COMMIT = {APP / "core" / "db" / "unit_of_work.py", APP / "content" / "loader.py"}


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_unit_of_work_commits_or_rolls_back():
    found = [
        f"{path.relative_to(APP)}:{node.lineno} .{node.func.attr}()"
        for path, tree in _modules()
        if path not in MAY_COMMIT
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"commit", "rollback", "begin", "begin_nested"}
    ]
    assert found == []


def test_routers_never_open_sessions_or_reach_the_engine():
    forbidden = {"sqlmodel.Session", "sqlalchemy.orm.Session", "app.core.db.get_engine"}
    forbidden |= {"app.core.db.engine", "app.core.db.unit_of_work.Database.session"}
    for path, tree in _modules():
        if path.name != "router.py":
            continue
        assert not _imports(tree) & forbidden, path
        calls = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & {"session", "connect", "execute", "exec"}, path


def _is_async(call: Callable[..., Any]) -> bool:
    # A dependency may be an instance whose __call__ is the coroutine (a security scheme).
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def test_every_route_and_dependency_is_async():
    """A sync route or dependency runs on FastAPI's own thread pool, beside the units of
    work and unbounded by them. Every one here is async, and does its database work through
    `db.read` / `db.write`."""
    routes = api_routes(create_app())
    assert len(routes) > 50  # included routers' routes too
    sync = [route.path for route in routes if not _is_async(route.endpoint)]
    sync += [
        f"{route.path}: {dependency.call}"
        for route in routes
        for dependency in _dependencies(route.dependant)
        if dependency.call is not None and not _is_async(dependency.call)
    ]
    assert sync == []


@pytest.mark.parametrize("package", ["core", "models"])
def test_lower_layers_import_no_feature_package(package: str):
    for path, tree in _modules():
        if path.is_relative_to(APP / package):
            features = {
                name
                for name in _imports(tree)
                if name.split(".")[:2] in (["app", feature] for feature in FEATURES)
            }
            assert features == set(), path


def test_the_engine_stays_pure():
    pure = (
        "engine.py",
        "model.py",
        "rules.py",
        "params.py",
        "session_rule.py",
        "codec.py",
        "notes.py",
        "adherence.py",
    )
    for name in pure:
        tree = ast.parse((APP / "progression" / name).read_text(encoding="utf-8"))
        imported = {module.split(".")[0] for module in _imports(tree)}
        assert not imported & {"fastapi", "sqlmodel", "sqlalchemy", "starlette"}, name
        assert "app.core.db" not in _imports(tree), name
