"""The OpenAPI document: stable operationIds, the shared Problem schema, sorted output."""

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.core.problems import Problem
from app.core.security import api_key_scheme, bearer_secret
from app.progression import rules

DESCRIPTION = """\
HipFix walks a person with hip impingement (femoroacetabular impingement, FAI) through a
self-help protocol, one stage at a time: release the hip flexors with a ball, stretch them,
then, if pain persists, work the feet and ankles, with the hamstrings as a last resort. A
progression engine opens the later stages from the pain the client logs, holds progress on
flares, refers on red flags, and explains every decision. Coaches follow their clients
through the same API.

Every error is an RFC 9457 `application/problem+json` document.

**Not medical advice.** HipFix offers educational self-help exercises. It does not diagnose
or treat any condition and does not replace a clinician. Stop and seek care on any red flag.
"""

TAGS = [
    {"name": "catalogue", "description": "Exercises and protocols: public and cacheable."},
    {"name": "accounts", "description": "Sign up, sign in (OAuth2 password flow), sign out."},
    {"name": "api keys", "description": "Coaches' keys for server-to-server use."},
    {
        "name": "clients",
        "description": "Client profiles: a client's own, or those a coach manages.",
    },
    {"name": "enrolments", "description": "A client's enrolment in a protocol version."},
    {"name": "pain logs", "description": "0–10 pain scores with their context."},
    {"name": "sessions", "description": "Exercise sessions, with pain during and after."},
    {"name": "assessments", "description": "The squat knee-tracking self-test."},
    {
        "name": "progression",
        "description": "The engine's view: progress, today's routine, decisions, overrides, "
        "simulations. The rules (v1), their parameters (defaults in each protocol version, "
        "overridable per enrolment by a coach) and their basis:\n\n" + rules.describe(),
    },
    {"name": "operations", "description": "Liveness and readiness probes."},
]


def operation_id(route: APIRoute) -> str:
    """`list_exercises` → `listExercises`: stable ids that generated clients can rely on."""
    head, *rest = route.name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        license_info=app.license_info,
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for component in schemas.values():
        # An enum's example is one of its values; pydantic gives enums none of their own.
        if "enum" in component and "examples" not in component:
            component["examples"] = component["enum"][:1]
    _offer_api_keys(schema)
    return schema


def _offer_api_keys(schema: dict[str, Any]) -> None:
    """Wherever a login token is accepted, so is a coach's API key: one dependency reads the
    header for both (app/core/security.py), and Swagger offers a box for each."""
    token: dict[str, list[str]] = {bearer_secret.scheme_name: []}
    key = api_key_scheme.scheme_name
    schema["components"].setdefault("securitySchemes", {})[key] = api_key_scheme.model.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    for path in schema["paths"].values():
        for operation in path.values():
            if token in operation.get("security", []):
                operation["security"].append({key: []})


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    # FastAPI's documented way to customise the document: replace the app's method.
    app.openapi = openapi  # type: ignore[method-assign]  # assigning to a method on purpose


def render_openapi(app: FastAPI) -> str:
    """The document as committed in `openapi/openapi.json`: sorted keys, stable output."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
