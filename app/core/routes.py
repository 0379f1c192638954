"""A feature's routes added to the app's own router, one by one.

This FastAPI keeps each `include_router` as a sub-router matched lazily on every request:
a request walks the app's routers and then the chosen one's routes, matched twice, before
its route runs (28% of `GET /v1/me` in-process, bench/RESULTS.md). Added to the app's
router with the include's prefix and responses, as earlier FastAPI did, each route is
matched once in a flat list, and OpenAPI describes it exactly as before
(tests/test_openapi.py compares the committed contract).
"""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def add_routes(
    app: FastAPI,
    router: APIRouter,
    *,
    prefix: str = "",
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> None:
    """Every route of `router` on `app`, under `prefix`, with `responses` beneath each
    route's own (a route's entry wins, as `include_router` has it)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):  # none today; refuse rather than drop one
            raise TypeError(f"only API routes can be added flat, not {route!r}")
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=list(route.dependencies),
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses={**(responses or {}), **route.responses},
            deprecated=route.deprecated,
            methods=set(route.methods or ()),
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
        )


def match_first(app: FastAPI, names: Sequence[str]) -> None:
    """Move the routes named (in that order) to the front of the app's list. A request is
    matched against each route in turn, a regular expression each: `GET /v1/me` came 29th,
    a tenth of its time in-process. The order changes no answer, as long as no other route
    matches a request these do (tests/api/test_quick_reads.py checks), and not the
    contract: OpenAPI is rendered with sorted keys."""
    routes = app.router.routes
    by_name = {getattr(route, "name", None): route for route in routes}
    chosen = [by_name[name] for name in names]
    routes[:] = chosen + [route for route in routes if route not in chosen]
