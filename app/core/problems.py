"""RFC 9457 problem details: one shape for every error the API returns."""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.core.request_context import current_request_id

PROBLEM_BASE = "https://hipfix.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("hipfix.errors")


class FieldError(BaseModel):
    loc: list[str | int] = Field(
        description="Where the error is: body, query, path or header, then the field."
    )
    msg: str
    type: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "loc": ["query", "limit"],
                    "msg": "Input should be less than or equal to 200",
                    "type": "less_than_equal",
                }
            ]
        }
    )


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong this time.")
    instance: str | None = Field(default=None, description="The path of the request.")
    errors: list[FieldError] | None = Field(
        default=None, description="One entry per invalid field, on validation problems."
    )
    request_id: str | None = Field(
        default=None,
        description="The request's id, as in its `X-Request-ID` header and the service's "
        "logs: quote it when reporting a problem.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No exercise with slug 'hip-flexor-ball'.",
                    "instance": "/v1/exercises/hip-flexor-ball",
                    "request_id": "5f0c3a1e9b7d4c2a8e6f1b3d5a7c9e0f",
                }
            ]
        }
    )


class ProblemError(Exception):
    """Raise from services to answer with a problem; `kind` becomes the type's last segment."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or kind)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.title = title or status_title(status)
        self.errors = errors
        self.headers = headers

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process (app/core/cpu_pool.py), it comes back whole.
        return _restore, (type(self), self.args, self.__dict__)


def _restore(
    kind: type[ProblemError], args: tuple[Any, ...], state: dict[str, Any]
) -> ProblemError:
    problem = kind.__new__(kind)
    Exception.__init__(problem, *args)
    problem.__dict__.update(state)
    return problem


class NotFoundError(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(404, "not-found", detail)


def problem_response(
    request: Request,
    status: int,
    kind: str,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": title or status_title(status),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = errors
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


# Fixed titles: HTTPStatus phrases differ between Python versions (413, 422).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def status_title(status: int) -> str:
    return _TITLES.get(status) or HTTPStatus(status).phrase


_KIND_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "content-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    503: "unavailable",
}


# Plain words for the patterns that fields are checked against, registered where each pattern
# is defined: pydantic's own message quotes the regular expression.
_PATTERN_WORDS: dict[str, str] = {}
_PREFIXES = ("Value error, ", "Assertion failed, ")


def describe_pattern(pattern: str, words: str) -> str:
    """Say `words` ("Input should be …") instead of quoting `pattern`; returns the pattern."""
    _PATTERN_WORDS[pattern] = words
    return pattern


def plain_message(error: Mapping[str, Any]) -> str:
    """A validation message in plain words: no validator prefix, no regular expression."""
    msg = str(error["msg"])
    if error["type"] == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        return _PATTERN_WORDS.get(pattern, "Input is not in the expected form")
    for prefix in _PREFIXES:
        if msg.startswith(prefix):
            msg = msg.removeprefix(prefix)
            # Our validators' messages follow the field's name ("is in the future").
            return f"Input {msg}" if msg[:1].islower() else msg
    return msg


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in e["loc"]],
            "msg": plain_message(e),
            "type": e["type"],
        }
        for e in exc.errors()
    ]


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        exc.status,
        exc.kind,
        exc.detail,
        title=exc.title,
        errors=exc.errors,
        headers=exc.headers,
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    kind = _KIND_BY_STATUS.get(status, "error")
    detail = (
        exc.detail
        if isinstance(exc.detail, str) and exc.detail != HTTPStatus(status).phrase
        else None
    )
    if status == 404 and detail is None:
        detail = f"Nothing is served at {request.url.path}."
    headers = getattr(exc, "headers", None)
    if status == 405:
        if detail is None:
            detail = f"{request.method} is not allowed on {request.url.path}."
        # The router names only the first route whose path matched; RFC 9110 wants them all.
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return problem_response(request, status, kind, detail, headers=headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at this request's path."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            request, 400, "malformed-json", "The request body is not valid JSON.", errors=errors
        )
    where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
    return problem_response(
        request,
        422,
        "validation-error",
        f"Invalid input: {where}.",
        title="Invalid input",
        errors=errors,
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request, 500, "internal-error", "Something went wrong on our side; it has been logged."
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem+json errors (schema added in openapi.py)."""
    return {
        status: {
            "description": status_title(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
