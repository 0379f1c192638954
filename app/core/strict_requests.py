"""What every route refuses before FastAPI reads the request, checked in one place.

- A body in another media type than the route takes: 415, naming the one it takes. Without
  this, a JSON body sent as curl's default form (or a form sent as JSON to the token
  endpoint) got a 422 about fields that were sent.
- Query parameters the route does not declare: 422, naming them, as unknown body fields
  are (`extra="forbid"`). Silently ignored, a misspelt filter returned everything.

`StrictRoute` is the route class of every router, so a route added to any of them has the
check without an edit. It checks against what the route declares: its dependant's query
parameters and `openapi_extra` ones (a `LeanQuery`), read once per route. A request without
a query string or body pays two comparisons.
"""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.types import Scope

from app.core.problems import ProblemError
from app.core.quick import quick_read_of

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_ACCEPT_HEADER = {"POST": "Accept-Post", "PATCH": "Accept-Patch"}


@dataclass(frozen=True, slots=True)
class Expects:
    """What a route reads from a request besides its path and headers."""

    query: frozenset[str]
    body: str | None  # the media type of its body: JSON, FORM, or None for no body


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters of a dependant and its dependencies, a model's fields included."""
    names: set[str] = set()
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names |= {f.alias or name for name, f in model.model_fields.items()}
        else:
            names.add(param.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def expects(route: APIRoute) -> Expects:
    names = _query_names(route.dependant)
    extra = (route.openapi_extra or {}).get("parameters", [])
    names |= {param["name"] for param in extra if param.get("in") == "query"}
    body = None
    if route.body_field is not None:
        body = FORM if isinstance(route.body_field.field_info, Form) else JSON
    return Expects(frozenset(names), body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() != "0"
    return _header(scope, b"transfer-encoding") is not None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _body_problem(scope: Scope, body: str) -> ProblemError | None:
    sent = _media_type(_header(scope, b"content-type"))
    if body == JSON and _is_json(sent):
        return None
    if body == FORM and sent in (FORM, _MULTIPART):
        return None
    as_sent = f"`{sent}`" if sent else "no Content-Type"
    if body == JSON:
        detail = (
            f"This operation takes a JSON body, sent with `Content-Type: {JSON}`; "
            f"this one came with {as_sent}."
        )
    else:
        detail = (
            f"This operation takes a form (the OAuth2 password form when signing in: "
            f"username=…&password=…), sent with `Content-Type: {FORM}`, not JSON; "
            f"this one came with {as_sent}."
        )
    accept = _ACCEPT_HEADER.get(scope["method"])
    headers = {accept: body} if accept else None
    return ProblemError(415, "unsupported-media-type", detail, headers=headers)


def _unknown_query(scope: Scope, known: frozenset[str]) -> RequestValidationError | None:
    sent = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    unknown = {name: value for name, value in sent if name not in known}
    if not unknown:
        return None
    takes = (
        "this operation takes " + ", ".join(sorted(known))
        if known
        else "this operation takes no query parameters"
    )
    return RequestValidationError(
        [
            {
                "type": "extra_forbidden",
                "loc": ("query", name),
                "msg": f"Unknown query parameter: {takes}",
                "input": value,
            }
            for name, value in sorted(unknown.items())
        ]
    )


def check(scope: Scope, route_expects: Expects) -> None:
    """Raise the 415 or 422 problem for a request its route would misread."""
    if route_expects.body is not None and _has_body(scope):
        problem = _body_problem(scope, route_expects.body)
        if problem is not None:
            raise problem
    if scope["query_string"]:
        unknown = _unknown_query(scope, route_expects.query)
        if unknown is not None:
            raise unknown


class StrictRoute(APIRoute):
    """Every router's route class (`APIRouter(route_class=StrictRoute)`; a test checks that
    every documented route is one). The check runs in the route's own handler, before
    FastAPI reads the request: as an app-wide dependency it cost each request a second level
    of dependency solving, about a sixth of a cached catalogue read (bench/RESULTS.md)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        # Only the documented API: Swagger's own pages (its OAuth2 redirect) take what they take.
        if not self.include_in_schema:
            return handle
        known: list[Expects] = []  # worked out on the first request, when the route is complete
        read = quick_read_of(self.endpoint)

        async def strict_handle(request: Request) -> Response:
            if not known:
                known.append(expects(self))
            check(request.scope, known[0])
            if read is not None:  # a plain request of a hot read (app/core/quick.py)
                answer = await read(request)
                if answer is not None:
                    return answer
            return await handle(request)

        return strict_handle
