"""The OpenAPI document: stable operationIds, the shared Problem schema, sorted output."""

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.core.problems import PROBLEM_MEDIA_TYPE, Problem, status_title
from app.core.rate_limit import MUTATING, UNLIMITED_POSTS
from app.core.security import api_key_scheme, bearer_secret


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
    _declare_write_limit(schema)
    _declare_strict_requests(schema)
    _type_retries(schema)
    return schema


def _type_retries(schema: dict[str, Any]) -> None:
    """A create's 200 (a retry with the same id and body) answers the stored item, in the
    201's shape: declared here once, so generated clients parse it as the 201 rather than as
    an untyped body."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            retry, created = responses.get("200"), responses.get("201")
            if retry and created and "content" not in retry and "content" in created:
                retry["content"] = created["content"]


def _declare_strict_requests(schema: dict[str, Any]) -> None:
    """What app/core/strict_requests.py refuses on every route: an unknown query parameter
    (422) anywhere, a body in another media type (415) where there is a body."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            responses.setdefault("422", _problem(422))
            if "requestBody" in operation:
                responses.setdefault("415", _problem(415))


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": status_title(status),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _declare_write_limit(schema: dict[str, Any]) -> None:
    """Every write the edge counts (app/core/rate_limit.py) may be refused with 429: declared
    here, from the same rule, rather than on each route."""
    too_many = {
        "description": status_title(429),
        "headers": {
            "Retry-After": {
                "description": "Seconds until this caller may write again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method.upper() in MUTATING and not (method == "post" and path in UNLIMITED_POSTS):
                operation["responses"].setdefault("429", too_many)


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
