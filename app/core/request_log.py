"""The outermost layer: each request's id, its metrics observation, and its one log line.

`X-Request-ID` is the caller's when well-formed (`app/core/request_context.py`), else a new
one; it is set for everything the request runs (problem bodies and log lines read it), and
returned on every answer. When the answer is sent, the request is observed once in the
latency histogram, by its route template (the route the router matched: never the path, which
may hold a secret or an id) and logged as one line on `hipfix.access`: method, route, status,
duration and the caller's kind (`bearer` with a short digest of the credential, which names
no one and is no secret, or `anonymous`). Nothing of the request's body, query or path
values is written.
"""

import hashlib
import logging
import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import observe_request
from app.core.request_context import REQUEST_ID, request_id_from

log = logging.getLogger("hipfix.access")
UNMATCHED = "unmatched"


# What each route's template is, found on its first request: (the route, its template) by id.
_TEMPLATES: dict[int, tuple[object, str]] = {}


def route_template(scope: Scope) -> str:
    """The matched route's path template, its router's prefix included (`/v1/...`): never the
    request's own path, which may hold a secret or an id. `unmatched` when no route matched."""
    route = scope.get("route")
    # A plain Starlette route (/metrics) leaves only its endpoint in the scope.
    key = route if route is not None else scope.get("endpoint")
    if key is None:
        return UNMATCHED
    known = _TEMPLATES.get(id(key))
    if known is not None and known[0] is key:
        return known[1]
    template = _template(scope, route, key)
    _TEMPLATES[id(key)] = (key, template)
    return template


def _template(scope: Scope, route: object, endpoint: object) -> str:
    if route is None:
        app = scope.get("app")
        routes = getattr(getattr(app, "router", None), "routes", ())
        route = next((r for r in routes if getattr(r, "endpoint", None) is endpoint), None)
    path = getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    if not isinstance(path, str):
        return UNMATCHED
    if isinstance(route, Mount):
        return path + "/{path}"
    # An included router's prefix is not in its routes' paths: it is what comes before the
    # part of the request's path that the route's own pattern matches.
    full: str = scope["path"]
    if regex is not None:
        for at in (i for i, c in enumerate(full) if c == "/"):
            if regex.match(full[at:]):
                return full[:at] + path
    return path


def caller(scope: Scope) -> tuple[str, str | None]:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, secret = value.partition(b" ")
            secret = secret.strip()
            if scheme.lower() == b"bearer" and secret:
                return "bearer", hashlib.sha256(secret).hexdigest()[:12]
            return "other", None
    return "anonymous", None


class RequestLog:
    def __init__(self, app: ASGIApp, *, metrics: bool, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        header = (b"x-request-id", request_id.encode("ascii"))
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what the server answers when the app sends nothing

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message["headers"], header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            if self.metrics:
                observe_request(route, scope["method"], status, seconds)
            if self.log_requests and log.isEnabledFor(logging.INFO):
                kind, ident = caller(scope)
                log.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    route,
                    status,
                    seconds * 1000,
                    extra={
                        "route": route,
                        "method": scope["method"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "caller_kind": kind,
                        "caller_id": ident,
                    },
                )
            REQUEST_ID.reset(token)
